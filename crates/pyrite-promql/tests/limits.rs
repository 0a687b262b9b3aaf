//! The engine's limits and error classes: timeouts, sample budgets, resolution limits,
//! gated experimental functions, and bad queries that must fail cleanly.

use std::sync::Arc;
use std::time::Duration;

use pyrite_model::Labels;
use pyrite_promql::{Engine, EngineOptions, QueryError, Value};
use pyrite_storage::{MemQueryable, Queryable};

fn store(series: usize, samples: i64) -> Arc<dyn Queryable> {
    let s = MemQueryable::new();
    for i in 0..series {
        let pts: Vec<(i64, f64)> = (0..samples).map(|k| (k * 15_000, k as f64)).collect();
        s.add(
            "t",
            Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]),
            &pts,
        );
    }
    Arc::new(s)
}

#[tokio::test]
async fn too_many_samples_is_an_execution_error() {
    let e = Engine::new(EngineOptions {
        max_samples: 100,
        ..EngineOptions::default()
    });
    let err = e
        .range_query(store(10, 100), "t", "m", 0, 1_485_000, 15_000)
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::TooManySamples(_)), "{err}");
    assert_eq!(err.http_status(), 422);
    // The same query within budget works.
    let e = Engine::new(EngineOptions {
        max_samples: 10_000,
        ..EngineOptions::default()
    });
    let ok = e
        .range_query(store(10, 100), "t", "m", 0, 1_485_000, 15_000)
        .await
        .unwrap();
    assert!(matches!(ok.value, Value::Matrix(m) if m.len() == 10));
}

#[tokio::test]
async fn a_query_past_its_deadline_times_out() {
    let e = Engine::new(EngineOptions {
        timeout: Duration::from_millis(1),
        ..EngineOptions::default()
    });
    let q = "count_over_time(sum by (i) (rate(m[5m]))[1h:1s])";
    let err = e
        .range_query(store(200, 400), "t", q, 0, 6_000_000, 15_000)
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Timeout(_)), "{err}");
    assert_eq!(err.error_type(), "timeout");
    assert_eq!(err.http_status(), 503);
}

#[tokio::test]
async fn resolution_is_limited_like_prometheus() {
    let e = Engine::default();
    let err = e
        .range_query(store(1, 1), "t", "m", 0, 11_001_000, 1_000)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("exceeded maximum resolution of 11000 points"),
        "{err}"
    );
    assert_eq!(err.http_status(), 400);
    // (end - start) / step of exactly the limit is allowed, as in Prometheus.
    let ok = e.range_query(store(1, 1), "t", "m", 0, 11_000_000, 1_000).await;
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[tokio::test]
async fn experimental_functions_need_the_flag() {
    let q = "double_exponential_smoothing(m[5m], 0.5, 0.5)";
    let err = Engine::default()
        .instant_query(store(1, 30), "t", q, 300_000)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "bad_data", "{err}");
    let on = Engine::new(EngineOptions {
        enable_experimental_functions: true,
        ..EngineOptions::default()
    });
    assert!(on.instant_query(store(1, 30), "t", q, 300_000).await.is_ok());
}

#[tokio::test]
async fn malformed_queries_fail_as_bad_data() {
    let e = Engine::default();
    for q in [
        "",
        "sum(",
        "m[5m",
        "rate(m)",
        "{}",
        "m offset",
        "1 +",
        "label_replace(m, \"a\")",
    ] {
        let err = e.instant_query(store(1, 1), "t", q, 0).await.unwrap_err();
        assert_eq!(err.error_type(), "bad_data", "{q:?}: {err}");
    }
    let err = e
        .range_query(store(1, 1), "t", "m[5m]", 0, 60_000, 15_000)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid expression type \"range vector\" for range query"),
        "{err}"
    );
}

#[tokio::test]
async fn tenants_see_only_their_own_series() {
    let s = MemQueryable::new();
    s.add("a", Labels::from_pairs(&[("__name__", "m"), ("who", "a")]), &[(0, 1.0)]);
    s.add("b", Labels::from_pairs(&[("__name__", "m"), ("who", "b")]), &[(0, 2.0)]);
    let s: Arc<dyn Queryable> = Arc::new(s);
    let r = Engine::default().instant_query(s, "a", "m", 0).await.unwrap();
    match r.value {
        Value::Vector(v) => {
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].labels.get("who"), "a");
        }
        other => panic!("{other:?}"),
    }
}
