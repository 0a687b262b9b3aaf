//! Query sharding: rewriting shardable aggregations into shard-local queries and
//! combining their answers.
//!
//! `sum by (job) (rate(x[5m]))` becomes, for each shard `i` of `n`,
//! `sum by (job) (rate(x{__query_shard__="i_of_n"}[5m]))` run on the queriers, while the
//! frontend evaluates the rest of the query itself over those answers: the aggregation
//! is replaced by `sum by (job) (__pyrite_embedded__{__pyrite_embedded_id__="0"})`, a
//! selector that reads back every shard's series. `count` is combined by `sum`, `avg`
//! by `sum / count`, `min`, `max`, `group`, `topk` and `bottomk` by themselves.
//!
//! Invariant: an aggregation is only rewritten when every series it reads contributes
//! to exactly one output group through a computation that looks at that series alone
//! (selectors under per-series functions, literals and subqueries), so each series'
//! contribution lands in exactly one shard and the combination is exact. Anything else
//! is left for the queriers to run whole.

use std::collections::BTreeMap;

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{self, Expr, LabelModifier};

use pyrite_storage::query_shard::{query_shard_value, QUERY_SHARD_LABEL};

/// The metric name of the selector that reads shard answers back.
pub const EMBEDDED_NAME: &str = "__pyrite_embedded__";
/// Which embedded aggregation a selector reads.
pub const EMBEDDED_ID: &str = "__pyrite_embedded_id__";
/// Set on shard answers of grouping aggregations, so two shards' partial groups stay
/// two series until the frontend combines them.
pub const SHARD_TAG: &str = "__pyrite_shard__";

/// One rewritten aggregation: the query each shard runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub id: usize,
    pub shard_queries: Vec<String>,
    /// Whether each shard's series get [`SHARD_TAG`] when read back.
    pub tag_shard: bool,
}

/// A sharded query: what the frontend evaluates and the shard queries it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub outer: String,
    pub embedded: Vec<Embedded>,
}

impl Plan {
    pub fn shard_queries(&self) -> usize {
        self.embedded.iter().map(|e| e.shard_queries.len()).sum()
    }
}

/// Rewrites every shardable aggregation of `expr` into `shards` shard queries;
/// `None` when there is none (or sharding is off).
pub fn plan(expr: &Expr, shards: u32) -> Option<Plan> {
    if shards < 2 {
        return None;
    }
    let mut embedded = Vec::new();
    let outer = rewrite(expr, shards, &mut embedded)?;
    // The frontend holds no data: what it evaluates must read shard answers only.
    if embedded.is_empty() || reads_series(&outer) {
        return None;
    }
    Some(Plan {
        outer: outer.to_string(),
        embedded,
    })
}

/// Functions whose answer for a series depends on that series alone and which keep
/// its labels (bar the metric name).
const PER_SERIES: &[&str] = &[
    "abs",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "hour",
    "idelta",
    "increase",
    "irate",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "mad_over_time",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "sgn",
    "sin",
    "sinh",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "timestamp",
    "year",
];

/// A scalar that reads no series: the same on every shard.
fn constant(e: &Expr) -> bool {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::Paren(p) => constant(&p.expr),
        Expr::Unary(u) => constant(&u.expr),
        Expr::Binary(b) => constant(&b.lhs) && constant(&b.rhs),
        _ => false,
    }
}

/// Whether every output series of `e` comes from one input series alone.
fn series_local(e: &Expr) -> bool {
    match e {
        Expr::VectorSelector(vs) => vs.name.as_deref() != Some(EMBEDDED_NAME),
        Expr::MatrixSelector(ms) => ms.vs.name.as_deref() != Some(EMBEDDED_NAME),
        Expr::Paren(p) => series_local(&p.expr),
        Expr::Unary(u) => series_local(&u.expr),
        Expr::Subquery(s) => series_local(&s.expr),
        Expr::Binary(b) => (series_local(&b.lhs) && constant(&b.rhs)) || (constant(&b.lhs) && series_local(&b.rhs)),
        Expr::Call(c) => {
            PER_SERIES.contains(&c.func.name)
                && !c.args.args.is_empty()
                && c.args.args.iter().filter(|a| !constant(a)).count() == 1
                && c.args.args.iter().all(|a| constant(a) || series_local(a))
        }
        _ => false,
    }
}

/// Whether `e` has a selector other than the embedded ones.
fn reads_series(e: &Expr) -> bool {
    match e {
        Expr::VectorSelector(vs) => vs.name.as_deref() != Some(EMBEDDED_NAME),
        Expr::MatrixSelector(_) => true,
        Expr::Paren(p) => reads_series(&p.expr),
        Expr::Unary(u) => reads_series(&u.expr),
        Expr::Subquery(s) => reads_series(&s.expr),
        Expr::Binary(b) => reads_series(&b.lhs) || reads_series(&b.rhs),
        Expr::Call(c) => c.args.args.iter().any(|a| reads_series(a)),
        Expr::Aggregate(a) => reads_series(&a.expr) || a.param.as_ref().is_some_and(|p| reads_series(p)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}

/// Only selectors (and parentheses): the series keep their metric names as they are.
fn selectors_only(e: &Expr) -> bool {
    match e {
        Expr::VectorSelector(_) => true,
        Expr::Paren(p) => selectors_only(&p.expr),
        _ => false,
    }
}

fn legacy_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Adds the shard matcher to every selector of `e`.
fn with_shard(e: &Expr, value: &str) -> Expr {
    fn add(ms: &mut Matchers, value: &str) {
        let m = Matcher::new(MatchOp::Equal, QUERY_SHARD_LABEL, value);
        ms.matchers.push(m.clone());
        for group in &mut ms.or_matchers {
            group.push(m.clone());
        }
    }
    let mut e = e.clone();
    fn walk(e: &mut Expr, value: &str) {
        match e {
            Expr::VectorSelector(vs) => add(&mut vs.matchers, value),
            Expr::MatrixSelector(ms) => add(&mut ms.vs.matchers, value),
            Expr::Paren(p) => walk(&mut p.expr, value),
            Expr::Unary(u) => walk(&mut u.expr, value),
            Expr::Subquery(s) => walk(&mut s.expr, value),
            Expr::Binary(b) => {
                walk(&mut b.lhs, value);
                walk(&mut b.rhs, value);
            }
            Expr::Call(c) => c.args.args.iter_mut().for_each(|a| walk(a, value)),
            Expr::Aggregate(a) => walk(&mut a.expr, value),
            _ => {}
        }
    }
    walk(&mut e, value);
    e
}

/// `by (a, b) ` / `without (a, b) ` / nothing, with `extra` added to a `without`.
fn grouping(m: &Option<LabelModifier>, extra: Option<&str>) -> String {
    match m {
        None => match extra {
            Some(x) => format!("without ({x}) "),
            None => String::new(),
        },
        Some(LabelModifier::Include(ls)) => format!("by ({}) ", ls.labels.join(", ")),
        Some(LabelModifier::Exclude(ls)) => {
            let mut names = ls.labels.clone();
            names.extend(extra.map(str::to_string));
            format!("without ({}) ", names.join(", "))
        }
    }
}

fn rewrite(e: &Expr, shards: u32, out: &mut Vec<Embedded>) -> Option<Expr> {
    Some(match e {
        Expr::Aggregate(a) => {
            if let Some(replacement) = shard_aggregate(a, shards, out) {
                return Some(replacement);
            }
            let mut a = a.clone();
            a.expr = Box::new(rewrite(&a.expr, shards, out)?);
            Expr::Aggregate(a)
        }
        Expr::Paren(p) => {
            let mut p = p.clone();
            p.expr = Box::new(rewrite(&p.expr, shards, out)?);
            Expr::Paren(p)
        }
        Expr::Unary(u) => {
            let mut u = u.clone();
            u.expr = Box::new(rewrite(&u.expr, shards, out)?);
            Expr::Unary(u)
        }
        Expr::Binary(b) => {
            let mut b = b.clone();
            b.lhs = Box::new(rewrite(&b.lhs, shards, out)?);
            b.rhs = Box::new(rewrite(&b.rhs, shards, out)?);
            Expr::Binary(b)
        }
        Expr::Call(c) => {
            let mut c = c.clone();
            for a in &mut c.args.args {
                **a = rewrite(a, shards, out)?;
            }
            Expr::Call(c)
        }
        // Inside a subquery an aggregation is evaluated at the subquery's steps, not the
        // query's: left whole.
        other => other.clone(),
    })
}

fn shard_aggregate(a: &parser::AggregateExpr, shards: u32, out: &mut Vec<Embedded>) -> Option<Expr> {
    let op = a.op.to_string().to_lowercase();
    if !series_local(&a.expr) {
        return None;
    }
    let labels: &[String] = match &a.modifier {
        Some(m) => &m.labels().labels,
        None => &[],
    };
    if !labels.iter().all(|l| legacy_name(l)) {
        return None;
    }
    // Grouping by the metric name sees names that the shard queries' answers would
    // already have dropped (Prometheus 3 drops them only at the end of a query).
    if labels.iter().any(|l| l == "__name__") && matches!(a.modifier, Some(LabelModifier::Include(_))) {
        return None;
    }
    let by = grouping(&a.modifier, None);
    let outer_by = grouping(&a.modifier, Some(SHARD_TAG));
    let param = match &a.param {
        Some(p) if constant(p) => Some(p.to_string()),
        Some(_) => return None,
        None => None,
    };
    let mut embed = |inner_op: &str, tag_shard: bool| -> String {
        let id = out.len();
        let shard_queries = (0..shards)
            .map(|i| {
                let inner = with_shard(&a.expr, &query_shard_value(i, shards));
                match &param {
                    Some(p) => format!("{inner_op} {by}({p}, {inner})"),
                    None => format!("{inner_op} {by}({inner})"),
                }
            })
            .collect();
        out.push(Embedded {
            id,
            shard_queries,
            tag_shard,
        });
        format!("{EMBEDDED_NAME}{{{EMBEDDED_ID}=\"{id}\"}}")
    };
    let text = match op.as_str() {
        "sum" | "min" | "max" | "group" => {
            let sel = embed(&op, true);
            format!("{op} {outer_by}({sel})")
        }
        "count" => {
            let sel = embed("count", true);
            format!("sum {outer_by}({sel})")
        }
        "avg" => {
            // The sum over the count, as the engine's avg; where that sum overflows
            // (the engine then averages incrementally), the shards' averages weighted
            // by their share of the count.
            let sum = embed("sum", true);
            let count = embed("count", true);
            let avg = embed("avg", true);
            format!(
                "(((sum {outer_by}({sum}) / sum {outer_by}({count})) < +Inf > -Inf) or \
                 sum {outer_by}({avg} * ({count} / ignoring ({SHARD_TAG}) group_left () sum {outer_by}({count}))))"
            )
        }
        // Their answers keep the series' labels, metric name included, which the
        // shard queries would drop at their end after a function or operator.
        "topk" | "bottomk" if selectors_only(&a.expr) => {
            let sel = embed(&op, false);
            format!("{op} {by}({}, {sel})", param.as_deref()?)
        }
        _ => return None,
    };
    // Parsed back as one node (parenthesised where it is an operation), so printing
    // the tree around it keeps operator precedence.
    parser::parse(&text).ok()
}

/// Shard answers read back as series: every series of embedded aggregation `id`.
pub type EmbeddedSeries = BTreeMap<usize, Vec<pyrite_storage::Series>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Option<Plan> {
        plan(&parser::parse(q).unwrap(), 2)
    }

    #[test]
    fn shardable_aggregations_are_rewritten() {
        let plan = p("sum by (job) (rate(x{a=\"1\"}[5m]))").unwrap();
        assert_eq!(plan.embedded.len(), 1);
        let q = &plan.embedded[0].shard_queries[1];
        assert!(q.contains("__query_shard__=\"2_of_2\""), "{q}");
        assert!(q.starts_with("sum by (job) ("), "{q}");
        assert!(plan.outer.contains(EMBEDDED_NAME), "{}", plan.outer);
        parser::parse(&plan.outer).unwrap();
        parser::parse(q).unwrap();

        let avg = p("avg without (i) (x) + count(y)").unwrap();
        assert_eq!(avg.embedded.len(), 4);
        assert!(avg.outer.contains(SHARD_TAG), "{}", avg.outer);
        let topk = p("topk(3, x)").unwrap();
        assert!(!topk.embedded[0].tag_shard);
        // The inner sum under a non-shardable quantile.
        assert_eq!(p("quantile(0.5, sum by (a) (x))").unwrap().embedded.len(), 1);
    }

    #[test]
    fn the_rest_runs_whole() {
        for q in [
            "x",
            "rate(x[5m])",
            "sum(x / y)",
            "sum(label_replace(x, \"a\", \"b\", \"c\", \"d\"))",
            "quantile(0.9, x)",
            "sum(histogram_quantile(0.9, x))",
            "max_over_time(sum(x)[5m:1m])",
            "topk(scalar(y), x)",
            "sum(sum by (a) (x))",
            "avg by (__name__) (x)",
            "sum by (__name__) (rate(x[5m]))",
            "topk(3, rate(x[5m]))",
            "x / on () group_left sum(x)",
            "sum(clamp_max(x, scalar(y)))",
        ] {
            let got = p(q);
            let nested_ok = q == "sum(sum by (a) (x))";
            assert!(got.is_none() || nested_ok, "{q} must not shard: {got:?}");
        }
        assert!(plan(&parser::parse("sum(x)").unwrap(), 1).is_none(), "one shard is off");
    }
}
