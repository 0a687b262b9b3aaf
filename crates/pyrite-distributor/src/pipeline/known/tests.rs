use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use pyrite_model::{FloatHistogram, Labels};
use pyrite_storage::KnownSeries;

use super::*;
use crate::testing::Store;
use crate::{DistributorConfig, RawSeries};

fn distributor(config: DistributorConfig) -> (Distributor, Arc<Store>, Registry) {
    let store = Arc::new(Store::default());
    let mut registry = Registry::default();
    let d = Distributor::new(config, store.clone(), &mut registry);
    (d, store, registry)
}

fn known(pairs: &[(&str, &str)]) -> Arc<KnownSeries> {
    KnownSeries::new(Labels::from_pairs(pairs))
}

fn raw(w: &KnownWrite) -> Vec<RawSeries> {
    w.to_series()
        .into_iter()
        .map(|s| RawSeries {
            labels: s.labels.into_vec(),
            samples: s.samples,
            histograms: s
                .histograms
                .into_iter()
                .map(|(t, h)| WireHistogram::from_float(t, h))
                .collect(),
            exemplars: 0,
        })
        .collect()
}

fn metrics(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).unwrap();
    out
}

#[tokio::test]
async fn a_known_write_goes_where_its_labeled_series_would_with_the_same_answer() {
    let up = known(&[("__name__", "up"), ("job", "a")]);
    let bad = known(&[("__name__", "a-b")]);
    let reserved = known(&[("__chunk__", "x"), ("__name__", "c")]);
    let h = known(&[("__name__", "h")]);
    let mut w = KnownWrite::new();
    w.push_float(&up, 1, 1.0);
    w.push_float(&bad, 1, 2.0);
    w.push_float(&up, -1, 3.0);
    w.push_float(&reserved, 1, 4.0);
    let histogram = FloatHistogram {
        count: 3.0,
        positive_spans: vec![pyrite_model::histogram::Span { offset: 0, length: 1 }],
        positive_buckets: vec![3.0],
        ..FloatHistogram::default()
    };
    w.push_histogram(&h, 2, histogram.clone());
    // Spans that do not account for the buckets.
    w.push_histogram(
        &h,
        3,
        FloatHistogram {
            positive_buckets: vec![1.0, 2.0],
            ..histogram
        },
    );

    let (labeled, labeled_store, labeled_metrics) = distributor(DistributorConfig::default());
    let expected = labeled.push("t", raw(&w), Source::Scrape).await.unwrap();
    let (d, store, registry) = distributor(DistributorConfig::default());
    for _ in 0..2 {
        // Twice: the second time the labels that passed are not checked again, and
        // the answer is the same.
        let outcome = d.push_known("t", w.clone(), Source::Scrape).await.unwrap();
        assert_eq!(outcome, expected);
    }
    let writes = store.writes.lock().unwrap();
    let labeled_writes = labeled_store.writes.lock().unwrap();
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[0], labeled_writes[0]);
    assert_eq!(writes[1], labeled_writes[0]);
    let m = metrics(&registry);
    for line in metrics(&labeled_metrics).lines().filter(|l| l.contains("discarded")) {
        // Every refusal is counted on each write.
        if let Some((name, n)) = line.rsplit_once(' ') {
            if let Ok(n) = n.parse::<u64>() {
                assert!(m.contains(&format!("{name} {}", 2 * n)), "{line} in\n{m}");
            }
        }
    }
    assert!(up.checked_under(SeriesLimits::default().label_stamp()));
    assert!(!bad.checked_under(SeriesLimits::default().label_stamp()));
}

#[tokio::test]
async fn labels_are_checked_again_under_other_limits_and_times_every_time() {
    let long = known(&[("__name__", "up"), ("path", "/a/long/path")]);
    let mut w = KnownWrite::new();
    w.push_float(&long, 1, 1.0);
    let (loose, _, _) = distributor(DistributorConfig::default());
    assert_eq!(
        loose.push_known("t", w.clone(), Source::Scrape).await.unwrap().refused,
        None
    );
    let (tight, store, _) = distributor(DistributorConfig {
        max_label_value_length: 5,
        ..Default::default()
    });
    let refused = tight.push_known("t", w.clone(), Source::Scrape).await.unwrap().refused;
    assert!(
        refused.unwrap().to_string().contains("max_label_value_length"),
        "a series that passed under looser limits is refused under tighter ones"
    );
    assert!(store.writes.lock().unwrap().is_empty());

    let (d, _, _) = distributor(DistributorConfig::default());
    let mut future = KnownWrite::new();
    future.push_float(&long, i64::MAX, 1.0);
    let refused = d.push_known("t", future, Source::Scrape).await.unwrap().refused;
    assert!(refused.unwrap().to_string().contains("creation_grace_period_seconds"));
}

#[tokio::test]
async fn request_limits_count_each_sample_as_a_series() {
    let up = known(&[("__name__", "up")]);
    let mut w = KnownWrite::new();
    w.push_float(&up, 1, 1.0);
    w.push_float(&up, 2, 1.0);
    let (d, store, _) = distributor(DistributorConfig {
        max_series_per_request: 1,
        ..Default::default()
    });
    let err = d.push_known("t", w, Source::Scrape).await.unwrap_err();
    assert!(err.to_string().contains("max_series_per_request"), "{err}");
    assert!(store.writes.lock().unwrap().is_empty());
}
