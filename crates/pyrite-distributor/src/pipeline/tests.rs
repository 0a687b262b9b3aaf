use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use pyrite_model::{Label, Sample};

use super::*;
use crate::testing::Store;
use crate::{DistributorConfig, WireHistogram};

fn series(pairs: &[(&str, &str)], times: &[i64]) -> RawSeries {
    RawSeries {
        labels: pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
        samples: times.iter().map(|t| Sample::new(*t, 1.0)).collect(),
        histograms: Vec::new(),
        exemplars: 0,
    }
}

fn distributor(store: Arc<Store>, limits: DistributorConfig) -> (Distributor, Registry) {
    let mut registry = Registry::default();
    let d = Distributor::new(limits, store, &mut registry);
    (d, registry)
}

fn metrics(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).unwrap();
    out
}

#[tokio::test]
async fn a_valid_write_lands_whole_and_is_counted() {
    let store = Arc::new(Store::default());
    let (d, registry) = distributor(store.clone(), DistributorConfig::default());
    let mut h = series(&[("__name__", "h")], &[]);
    h.histograms = vec![WireHistogram {
        count_int: Some(1),
        positive_spans: vec![pyrite_model::histogram::Span { offset: 0, length: 1 }],
        positive_deltas: vec![1],
        timestamp: 3,
        ..Default::default()
    }];
    let write = vec![series(&[("__name__", "up")], &[1, 2]), h];
    let outcome = d.push("team-a", write, Source::Scrape).await.unwrap();
    assert_eq!(
        outcome,
        PushOutcome {
            written: Written {
                samples: 2,
                histograms: 1
            },
            refused: None
        }
    );
    let writes = store.writes.lock().unwrap();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].0, "team-a");
    assert_eq!(writes[0].1.len(), 2);
    let m = metrics(&registry);
    assert!(
        m.contains(r#"pyrite_distributor_received_requests_total{tenant="team-a"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"pyrite_distributor_received_samples_total{tenant="team-a"} 3"#),
        "{m}"
    );
}

#[tokio::test]
async fn request_limits_refuse_the_whole_write_before_the_store() {
    let store = Arc::new(Store::default());
    let limits = DistributorConfig {
        max_samples_per_request: 2,
        ..Default::default()
    };
    let (d, _) = distributor(store.clone(), limits);
    let err = d
        .push("t", vec![series(&[("__name__", "up")], &[1, 2, 3])], Source::Otlp)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_samples_per_request"), "{err}");
    assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    assert!(store.writes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn invalid_series_are_dropped_counted_and_reported_while_the_rest_lands() {
    let store = Arc::new(Store::default());
    let (d, registry) = distributor(store.clone(), DistributorConfig::default());
    let write = vec![
        series(&[("__name__", "up")], &[1]),
        series(&[("job", "x")], &[1, 2]),
        series(&[("__name__", "up"), ("b", "1"), ("a", "1")], &[1]),
    ];
    let outcome = d.push("t", write, Source::RemoteWrite).await.unwrap();
    assert_eq!(outcome.written.samples, 1);
    let refused = outcome.refused.unwrap().to_string();
    assert!(
        refused.starts_with("2 invalid series refused; first: sample without metric name"),
        "{refused}"
    );
    assert_eq!(store.writes.lock().unwrap()[0].1.len(), 1);
    let m = metrics(&registry);
    assert!(
        m.contains(r#"pyrite_distributor_discarded_samples_total{tenant="t",reason="missing_metric_name"} 2"#),
        "{m}"
    );
    assert!(m.contains(r#"reason="labels_not_sorted"} 1"#), "{m}");
}

#[tokio::test]
async fn an_all_invalid_write_never_reaches_the_store() {
    let store = Arc::new(Store::default());
    let (d, _) = distributor(store.clone(), DistributorConfig::default());
    let outcome = d
        .push("t", vec![series(&[("job", "x")], &[1])], Source::Ruler)
        .await
        .unwrap();
    assert_eq!(outcome.written, Written::default());
    assert!(matches!(outcome.refused, Some(PushError::BadRequest(m)) if m.contains("metric name")));
    assert!(store.writes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn store_refusals_keep_what_was_written_and_failures_write_nothing() {
    let store = Arc::new(Store::default());
    let (d, registry) = distributor(store, DistributorConfig::default());
    let write = vec![series(&[("__name__", "up")], &[-1, 5]), series(&[("job", "x")], &[1])];
    let outcome = d.push("t", write, Source::Pushgateway).await.unwrap();
    assert_eq!(outcome.written.samples, 1);
    let refused = outcome.refused.unwrap().to_string();
    assert_eq!(
        refused,
        "1 of 2 samples were refused: out of order sample; also 1 invalid series, first: \
         sample without metric name for series {job=\"x\"}"
    );
    assert!(metrics(&registry).contains(r#"reason="refused_by_store"} 1"#));

    let failing = Arc::new(Store {
        fail: Some(AppendError::Unavailable("shard 3 has no leader".into())),
        ..Default::default()
    });
    let (d, _) = distributor(failing, DistributorConfig::default());
    let err = d
        .push("t", vec![series(&[("__name__", "up")], &[1])], Source::RemoteWrite)
        .await
        .unwrap_err();
    assert_eq!(err, PushError::Unavailable("shard 3 has no leader".into()));
}

#[tokio::test]
async fn each_tenant_is_validated_under_its_own_limits() {
    use pyrite_limits::{Limits, Overrides, PerTenant, TenantLimits};
    let tight: PerTenant<usize> = "team-a=1".parse().unwrap();
    let limits =
        Limits::new(Overrides::new(TenantLimits::default()).set(&tight, |l, v| l.max_label_names_per_series = v));
    let store = Arc::new(Store::default());
    let mut registry = Registry::default();
    let d = Distributor::with_limits(
        DistributorConfig::default(),
        Arc::new(limits),
        store.clone(),
        &mut registry,
    );
    let write = || vec![series(&[("__name__", "up"), ("job", "x")], &[1])];
    let outcome = d.push("team-a", write(), Source::RemoteWrite).await.unwrap();
    let refused = outcome.refused.unwrap().to_string();
    assert!(
        refused.contains("more than the limit of 1 (max_label_names_per_series)"),
        "{refused}"
    );
    let outcome = d.push("team-b", write(), Source::RemoteWrite).await.unwrap();
    assert_eq!(outcome.refused, None);
    assert_eq!(store.writes.lock().unwrap().len(), 1);
}
