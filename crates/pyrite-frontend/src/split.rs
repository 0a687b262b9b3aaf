//! Splitting a range query by time. A range query's steps are evaluated independently
//! of each other, so a query over `[start, end]` equals the concatenation of the same
//! query over consecutive step ranges — unless it refers to the query's own range
//! (`@ start()`, `@ end()`, or the functions `start()`, `end()` and `range()`, which
//! are constants of the whole query: each part would see its own range). Parts are cut at multiples of the split interval (UTC), so
//! a dashboard's parts repeat from one refresh to the next and their results can be
//! cached.

use promql_parser::parser::{AtModifier, Expr, Offset};

/// What the frontend may do with a query, from its syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    /// Refers to the query's range (`@ start()`/`@ end()`, `start()`, `end()`,
    /// `range()`): never split, never cached per part.
    pub uses_range_bounds: bool,
    /// Reads a fixed time (`@ t`) or the future (negative offset): a step's answer can
    /// change after the step has passed, so its results are not cached.
    pub time_dependent: bool,
}

/// Looks through a parsed query.
pub fn traits(e: &Expr) -> Traits {
    let mut t = Traits {
        uses_range_bounds: false,
        time_dependent: false,
    };
    walk(e, &mut t);
    t
}

fn at_and_offset(at: &Option<AtModifier>, offset: &Option<Offset>, t: &mut Traits) {
    match at {
        Some(AtModifier::Start | AtModifier::End) => t.uses_range_bounds = true,
        Some(AtModifier::At(_)) => t.time_dependent = true,
        None => {}
    }
    if matches!(offset, Some(Offset::Neg(_))) {
        t.time_dependent = true;
    }
}

fn walk(e: &Expr, t: &mut Traits) {
    match e {
        Expr::VectorSelector(vs) => at_and_offset(&vs.at, &vs.offset, t),
        Expr::MatrixSelector(ms) => at_and_offset(&ms.vs.at, &ms.vs.offset, t),
        Expr::Subquery(s) => {
            at_and_offset(&s.at, &s.offset, t);
            walk(&s.expr, t);
        }
        Expr::Aggregate(a) => {
            walk(&a.expr, t);
            if let Some(p) = &a.param {
                walk(p, t);
            }
        }
        Expr::Unary(u) => walk(&u.expr, t),
        Expr::Binary(b) => {
            walk(&b.lhs, t);
            walk(&b.rhs, t);
        }
        Expr::Paren(p) => walk(&p.expr, t),
        Expr::Call(c) => {
            // `step()` is the same in every part; the range's bounds are not.
            if matches!(c.func.name, "start" | "end" | "range") {
                t.uses_range_bounds = true;
            }
            c.args.args.iter().for_each(|a| walk(a, t))
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The step ranges `[start, end]` of the parts of a range query: each holds the steps
/// that fall in one interval `[k·interval, (k+1)·interval)`. Interval 0: one part.
pub fn split(start: i64, end: i64, step: i64, interval: i64) -> Vec<(i64, i64)> {
    if interval <= 0 || step <= 0 {
        return vec![(start, end)];
    }
    let mut parts = Vec::new();
    let mut s = start;
    while s <= end {
        let boundary = (s.div_euclid(interval) + 1) * interval;
        // The last step before the boundary, and not past the end.
        let last = s + (boundary - 1 - s) / step * step;
        let e = last.min(end - (end - s) % step);
        parts.push((s, e));
        s = e + step;
    }
    parts
}

/// Start and end moved down to multiples of the step.
pub fn align(start: i64, end: i64, step: i64) -> (i64, i64) {
    (start - start.rem_euclid(step), end - end.rem_euclid(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_step_once_and_cut_at_the_interval() {
        let day = 86_400_000;
        // Two and a half days at a 7-minute step starting mid-day.
        let (start, step) = (day / 2 + 13_000, 420_000);
        let end = start + 5 * day / 2;
        let parts = split(start, end, step, day);
        assert_eq!(parts.len(), 3, "the last step falls on the third day");
        let mut steps = Vec::new();
        for (s, e) in &parts {
            assert_eq!(s.div_euclid(day), e.div_euclid(day), "a part stays within a day");
            assert_eq!((s - start) % step, 0);
            let mut t = *s;
            while t <= *e {
                steps.push(t);
                t += step;
            }
        }
        let want: Vec<i64> = (0..).map(|k| start + k * step).take_while(|t| *t <= end).collect();
        assert_eq!(steps, want);
        assert_eq!(split(0, 100, 10, 0), [(0, 100)]);
        assert_eq!(split(5, 5, 10, 1000), [(5, 5)]);
    }

    #[test]
    fn alignment_and_traits() {
        assert_eq!(align(1005, 2999, 1000), (1000, 2000));
        let q = |s: &str| traits(&promql_parser::parser::parse(s).unwrap());
        assert!(q("rate(x[5m] @ start())").uses_range_bounds);
        assert!(q("sum(x @ end())").uses_range_bounds);
        for f in [
            "start()",
            "end()",
            "range()",
            "time() - start()",
            "abs(x - end())",
            "x * range()",
        ] {
            assert!(q(f).uses_range_bounds, "{f}");
        }
        assert!(!q("x * step()").uses_range_bounds, "step() is the same in every part");
        assert!(q("x @ 100").time_dependent);
        assert!(q("sum(x offset -5m)").time_dependent);
        assert_eq!(
            q("sum(rate(x[5m] offset 1h))"),
            Traits {
                uses_range_bounds: false,
                time_dependent: false
            }
        );
    }
}
