//! Evaluation. This first engine answers what dashboards and the remote-write tests
//! need most — number and string literals, instant vector selectors and range vector
//! selectors, with `offset` and `@` — and refuses every other expression with an
//! `execution` error naming it, never a wrong answer. The full engine grows here.
//!
//! Invariant: every selector reads the store once, for the whole time span the query
//! needs, with matchers pushed down; evaluation then works on owned samples.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::parser::{self, AtModifier, Expr, Offset, VectorSelector};
use pyrite_model::Labels;
use pyrite_storage::{Queryable, SelectHints};

use crate::selector::{instant_values, range_values, selector_matchers};
use crate::{EngineOptions, InstantSample, QueryError, QueryResult, RangeSeries, Value};

/// The evaluation times of a query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub start: i64,
    pub end: i64,
    /// 0 for an instant query.
    pub step: i64,
}

impl Span {
    fn times(&self) -> Vec<i64> {
        if self.step <= 0 {
            return vec![self.start];
        }
        let n = ((self.end - self.start) / self.step + 1) as usize;
        (0..n).map(|i| self.start + i as i64 * self.step).collect()
    }

    fn is_range(&self) -> bool {
        self.step > 0
    }
}

fn millis(d: &Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => -millis(&e.duration()),
    }
}

/// Maps an evaluation time to the time a selector reads at (`@`, then `offset`).
fn selector_time(vs: &VectorSelector, span: &Span, t: i64) -> i64 {
    let base = match &vs.at {
        None => t,
        Some(AtModifier::Start) => span.start,
        Some(AtModifier::End) => span.end,
        Some(AtModifier::At(at)) => system_time_ms(at),
    };
    match &vs.offset {
        None => base,
        Some(Offset::Pos(d)) => base - millis(d),
        Some(Offset::Neg(d)) => base + millis(d),
    }
}

fn unsupported(expr: &Expr) -> QueryError {
    QueryError::Execution(format!("this version of Pyrite's engine cannot evaluate {expr} yet"))
}

fn strip_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

pub(crate) fn parse(query: &str) -> Result<Expr, QueryError> {
    parser::parse(query).map_err(QueryError::BadData)
}

/// Series of a selector with their samples in `[mint, maxt]`, decoded, sorted by labels.
async fn fetch(
    store: &dyn Queryable,
    tenant: &str,
    vs: &VectorSelector,
    mint: i64,
    maxt: i64,
    budget: &mut usize,
) -> Result<Vec<(Labels, Vec<(i64, f64)>)>, QueryError> {
    let mut out: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
    for group in selector_matchers(vs)? {
        for s in store.select(tenant, SelectHints::new(mint, maxt), &group).await? {
            let mut it = s.iter();
            it.seek(mint);
            let samples: Vec<(i64, f64)> = it.take_while(|(t, _)| *t <= maxt).collect();
            *budget = budget
                .checked_sub(samples.len())
                .ok_or(QueryError::TooManySamples("query execution"))?;
            out.push((s.labels, samples));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

pub(crate) async fn evaluate(
    opts: &EngineOptions,
    store: &dyn Queryable,
    tenant: &str,
    query: &str,
    span: Span,
) -> Result<QueryResult, QueryError> {
    let expr = parse(query)?;
    let e = strip_parens(&expr);
    let times = span.times();
    let mut budget = opts.max_samples;
    let value = match e {
        Expr::NumberLiteral(n) => scalar_value(&span, &times, n.val),
        Expr::Unary(u) => match strip_parens(&u.expr) {
            Expr::NumberLiteral(n) => scalar_value(&span, &times, -n.val),
            _ => return Err(unsupported(e)),
        },
        Expr::StringLiteral(s) => {
            if span.is_range() {
                return Err(QueryError::BadData(
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
            Value::String {
                t: span.start,
                s: s.val.clone(),
            }
        }
        Expr::VectorSelector(vs) => {
            let lookback = millis(&opts.lookback_delta);
            let read_times: Vec<i64> = times.iter().map(|t| selector_time(vs, &span, *t)).collect();
            let mint = read_times.iter().min().copied().unwrap_or(span.start) - lookback + 1;
            let maxt = read_times.iter().max().copied().unwrap_or(span.end);
            let series = fetch(store, tenant, vs, mint, maxt, &mut budget).await?;
            vector_value(&span, &times, &read_times, series, lookback, opts)?
        }
        Expr::MatrixSelector(ms) => {
            if span.is_range() {
                return Err(QueryError::BadData(
                    "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
            let range = millis(&ms.range);
            let at = selector_time(&ms.vs, &span, span.start);
            let series = fetch(store, tenant, &ms.vs, at - range + 1, at, &mut budget).await?;
            Value::Matrix(
                series
                    .into_iter()
                    .filter_map(|(labels, s)| {
                        let samples = range_values(&s, at, range);
                        (!samples.is_empty()).then_some(RangeSeries { labels, samples })
                    })
                    .collect(),
            )
        }
        _ => return Err(unsupported(e)),
    };
    Ok(QueryResult {
        value,
        warnings: Vec::new(),
        infos: Vec::new(),
    })
}

fn scalar_value(span: &Span, times: &[i64], v: f64) -> Value {
    if span.is_range() {
        Value::Matrix(vec![RangeSeries {
            labels: Labels::empty(),
            samples: times.iter().map(|t| (*t, v)).collect(),
        }])
    } else {
        Value::Scalar { t: span.start, v }
    }
}

fn vector_value(
    span: &Span,
    times: &[i64],
    read_times: &[i64],
    series: Vec<(Labels, Vec<(i64, f64)>)>,
    lookback: i64,
    opts: &EngineOptions,
) -> Result<Value, QueryError> {
    // Read times are not ascending when `@` pins them; evaluate each on its own then.
    let ascending = read_times.windows(2).all(|w| w[0] <= w[1]);
    let mut points_total = 0usize;
    let mut vector = Vec::new();
    let mut matrix = Vec::new();
    for (labels, samples) in series {
        let values = if ascending {
            instant_values(&samples, read_times, lookback)
        } else {
            read_times
                .iter()
                .map(|t| instant_values(&samples, &[*t], lookback)[0])
                .collect()
        };
        if span.is_range() {
            let points: Vec<(i64, f64)> = times
                .iter()
                .zip(values)
                .filter_map(|(t, v)| v.map(|(_, v)| (*t, v)))
                .collect();
            points_total += points.len();
            if points_total > opts.max_samples {
                return Err(QueryError::TooManySamples("query execution"));
            }
            if !points.is_empty() {
                matrix.push(RangeSeries {
                    labels,
                    samples: points,
                });
            }
        } else if let Some((_, v)) = values[0] {
            vector.push(InstantSample {
                labels,
                t: span.start,
                v,
            });
        }
    }
    Ok(if span.is_range() {
        Value::Matrix(matrix)
    } else {
        Value::Vector(vector)
    })
}

#[cfg(test)]
mod tests {
    use pyrite_storage::MemQueryable;

    use super::*;

    fn store() -> MemQueryable {
        let s = MemQueryable::new();
        let l = |i: &str| Labels::from_pairs(&[("__name__", "m"), ("i", i)]);
        s.add(
            "t",
            l("a"),
            &[
                (10_000, 1.0),
                (20_000, 2.0),
                (30_000, pyrite_model::STALE_NAN),
                (40_000, 4.0),
            ],
        );
        s.add("t", l("b"), &[(10_000, 10.0)]);
        s.add("other", l("a"), &[(10_000, 99.0)]);
        s
    }

    async fn run(q: &str, span: Span) -> Result<Value, QueryError> {
        let opts = EngineOptions {
            lookback_delta: Duration::from_secs(15),
            ..Default::default()
        };
        evaluate(&opts, &store(), "t", q, span).await.map(|r| r.value)
    }

    fn at(t: i64) -> Span {
        Span {
            start: t,
            end: t,
            step: 0,
        }
    }

    #[tokio::test]
    async fn instant_selector_with_lookback_and_staleness() {
        let Value::Vector(v) = run("m", at(20_000)).await.unwrap() else {
            panic!()
        };
        assert_eq!(
            v.iter().map(|s| (s.labels.get("i"), s.v)).collect::<Vec<_>>(),
            [("a", 2.0), ("b", 10.0)]
        );
        let Value::Vector(v) = run("m", at(35_000)).await.unwrap() else {
            panic!()
        };
        assert!(v.is_empty(), "stale marker hides a; b is beyond lookback");
        let Value::Vector(v) = run(r#"m{i="a"} offset 20s"#, at(40_000)).await.unwrap() else {
            panic!()
        };
        assert_eq!(v[0].v, 2.0);
        let Value::Vector(v) = run(r#"m{i="a"} @ 40"#, at(1_000_000)).await.unwrap() else {
            panic!()
        };
        assert_eq!((v[0].t, v[0].v), (1_000_000, 4.0));
    }

    #[tokio::test]
    async fn range_selector_and_range_query() {
        let Value::Matrix(m) = run(r#"m{i="a"}[30s]"#, at(40_000)).await.unwrap() else {
            panic!()
        };
        assert_eq!(m[0].samples, [(20_000, 2.0), (40_000, 4.0)]);
        let Value::Matrix(m) = run(
            "m",
            Span {
                start: 0,
                end: 40_000,
                step: 10_000,
            },
        )
        .await
        .unwrap() else {
            panic!()
        };
        assert_eq!(m[0].samples, [(10_000, 1.0), (20_000, 2.0), (40_000, 4.0)]);
        assert_eq!(m[1].samples, [(10_000, 10.0), (20_000, 10.0)]);
        assert!(matches!(
            run(
                "m[1m]",
                Span {
                    start: 0,
                    end: 10,
                    step: 1
                }
            )
            .await,
            Err(QueryError::BadData(_))
        ));
    }

    #[tokio::test]
    async fn literals_errors_and_limits() {
        assert_eq!(run("1.5", at(7)).await.unwrap(), Value::Scalar { t: 7, v: 1.5 });
        assert_eq!(run("-(2)", at(7)).await.unwrap(), Value::Scalar { t: 7, v: -2.0 });
        assert_eq!(
            run(r#""x""#, at(7)).await.unwrap(),
            Value::String { t: 7, s: "x".into() }
        );
        assert!(matches!(run("m{", at(0)).await, Err(QueryError::BadData(_))));
        assert!(matches!(run(r#"{i=~".*"}"#, at(0)).await, Err(QueryError::BadData(_))));
        assert!(matches!(run("sum(m)", at(0)).await, Err(QueryError::Execution(_))));
        let opts = EngineOptions {
            max_samples: 2,
            ..Default::default()
        };
        let r = evaluate(&opts, &store(), "t", "m[1h]", at(40_000)).await;
        assert!(matches!(r, Err(QueryError::TooManySamples(_))));
    }
}
