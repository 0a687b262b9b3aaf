//! Generated queries — well-formed, nearly well-formed and garbage — over a store with
//! NaNs, staleness markers and bucket series: evaluation may fail, never panic (a panic
//! surfaces as an `internal` error). The `fuzz/` target explores the same property
//! coverage-guided; this runs in every test run.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use pyrite_model::{Labels, STALE_NAN};
use pyrite_promql::{Engine, EngineOptions};
use pyrite_storage::{MemQueryable, Queryable};

fn fixture() -> &'static (tokio::runtime::Runtime, Arc<dyn Queryable>, Engine) {
    static F: OnceLock<(tokio::runtime::Runtime, Arc<dyn Queryable>, Engine)> = OnceLock::new();
    F.get_or_init(|| {
        let s = MemQueryable::new();
        for (i, name) in ["a", "b_total", "c_bucket"].iter().enumerate() {
            for j in 0..3 {
                let mut pts: Vec<(i64, f64)> = (0..40i64)
                    .map(|k| (k * 15_000, (k * (i + j + 1) as i64) as f64))
                    .collect();
                pts[20].1 = STALE_NAN;
                pts[7].1 = f64::NAN;
                pts[30].1 = -1.0;
                let le = ["0.1", "1", "+Inf"][j];
                s.add(
                    "t",
                    Labels::from_pairs(&[("__name__", *name), ("j", &j.to_string()), ("le", le)]),
                    &pts,
                );
            }
        }
        let opts = EngineOptions {
            enable_experimental_functions: true,
            max_samples: 500_000,
            timeout: std::time::Duration::from_secs(5),
            ..EngineOptions::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        (rt, Arc::new(s) as Arc<dyn Queryable>, Engine::new(opts))
    })
}

fn selector() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "a",
            "b_total",
            "c_bucket",
            r#"a{j=~"1|2"}"#,
            r#"{__name__=~"a|b_total", j!="0"}"#,
            "a offset -1m",
            "b_total @ 300",
            "a @ end()",
        ][..],
    )
    .prop_map(str::to_string)
}

fn number() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "NaN",
            "Inf",
            "-Inf",
            "0",
            "-0",
            "1e308",
            "0.5",
            "3",
            "time()",
            "scalar(a)",
        ][..],
    )
    .prop_map(str::to_string)
}

fn leaf() -> impl Strategy<Value = String> {
    selector()
}

fn range_of(inner: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop_oneof![
        (selector(), prop::sample::select(&["[1m]", "[5m]", "[1ms]"][..])).prop_map(|(l, r)| format!("{l}{r}")),
        (
            inner,
            prop::sample::select(&["[5m:30s]", "[10m:]", "[2m:1m] offset 1m"][..])
        )
            .prop_map(|(l, r)| format!("({l}){r}")),
    ]
}

const RANGE_FNS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "changes",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "absent_over_time",
    "mad_over_time",
    "ts_of_max_over_time",
];
const VEC_FNS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "ln",
    "log2",
    "sqrt",
    "sgn",
    "sort",
    "sort_desc",
    "timestamp",
    "absent",
    "-",
    "year",
    "hour",
    "day_of_week",
    "days_in_month",
    "histogram_count",
    "acosh",
    "deg",
];
const AGGS: &[&str] = &["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"];
const OPS: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "==", "!=", "> bool", "<", ">=", "and", "or", "unless", "atan2",
];

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            (prop::sample::select(RANGE_FNS), range_of(inner.clone())).prop_map(|(f, r)| format!("{f}({r})")),
            (prop::sample::select(VEC_FNS), inner.clone()).prop_map(|(f, e)| format!("{f}({e})")),
            (
                prop::sample::select(AGGS),
                inner.clone(),
                prop_oneof![Just(""), Just(" by (j)"), Just(" without (le)")]
            )
                .prop_map(|(a, e, g)| format!("{a}{g} ({e})")),
            (
                prop::sample::select(&["topk", "bottomk", "limitk", "quantile", "limit_ratio"][..]),
                number(),
                inner.clone()
            )
                .prop_map(|(a, p, e)| format!("{a}({p}, {e})")),
            (
                inner.clone(),
                prop::sample::select(OPS),
                prop_oneof![Just(""), Just(" on (j)"), Just(" ignoring (le) group_left")],
                inner.clone()
            )
                .prop_map(|(l, o, m, r)| format!("({l}) {o}{m} ({r})")),
            (inner.clone(), prop::sample::select(OPS), number()).prop_map(|(l, o, n)| format!("({l}) {o} {n}")),
            (number(), inner.clone()).prop_map(|(q, e)| format!("histogram_quantile({q}, {e})")),
            (inner.clone(), number()).prop_map(|(e, t)| format!("predict_linear(({e})[5m:1m], {t})")),
            inner
                .clone()
                .prop_map(|e| format!(r#"label_replace({e}, "x", "$1", "j", "(.*)")"#)),
            inner.clone().prop_map(|e| format!(r#"count_values("v", {e})"#)),
            inner.prop_map(|e| format!("vector(scalar({e}))")),
        ]
    })
}

/// Evaluates `q` both ways; returns how many evaluations succeeded.
fn check(q: &str) -> usize {
    let (rt, store, engine) = fixture();
    rt.block_on(async {
        let mut ok = 0;
        for r in [
            engine.instant_query(store.clone(), "t", q, 300_000).await,
            engine.range_query(store.clone(), "t", q, 0, 600_000, 30_000).await,
        ] {
            match r {
                Ok(_) => ok += 1,
                Err(e) => assert_ne!(e.error_type(), "internal", "{q:?}: {e}"),
            }
        }
        ok
    })
}

/// Inputs the fuzz target found; each once crashed the parse or the engine.
#[test]
fn fuzz_regressions_fail_cleanly() {
    let (rt, store, engine) = fixture();
    for q in [
        "ӆ\"\\ͅ",
        "0[]*9+0*9+0[80000000000000003333333333300][]0",
        "x[99999999999999999999999y:1s]",
    ] {
        for r in [
            rt.block_on(engine.instant_query(store.clone(), "t", q, 300_000)),
            rt.block_on(engine.range_query(store.clone(), "t", q, 0, 600_000, 30_000)),
        ] {
            let e = r.expect_err(q);
            assert_eq!(e.error_type(), "bad_data", "{q:?}: {e}");
        }
    }
}

/// The generator is only useful if most of what it writes is valid PromQL.
#[test]
fn generated_queries_mostly_evaluate() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut ok, mut total) = (0, 0);
    for _ in 0..200 {
        let q = expr().new_tree(&mut runner).unwrap().current();
        ok += check(&q);
        total += 2;
    }
    assert!(ok * 2 > total, "only {ok} of {total} generated evaluations succeeded");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn generated_queries_never_panic(q in expr()) {
        check(&q);
    }


    #[test]
    fn mangled_queries_never_panic(q in expr(), cut in 0usize..64, junk in "[(){}\\[\\]\",=~!@:a-z0-9 +*/^-]{0,6}") {
        let mut s = q.clone();
        let at = s.char_indices().map(|(i, _)| i).nth(cut % s.chars().count().max(1)).unwrap_or(0);
        s.insert_str(at, &junk);
        check(&s);
    }
}
