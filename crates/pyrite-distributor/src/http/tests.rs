use axum::http::Request;
use prometheus_client::registry::Registry;
use prost::Message;
use pyrite_proto::{prometheus as v1, write_v2 as v2};
use pyrite_storage::AppendError;
use tower::ServiceExt;

use super::*;
use crate::testing::Store;

fn app(store: Arc<Store>, limits: crate::DistributorConfig) -> Router {
    routes(Arc::new(Distributor::new(limits, store, &mut Registry::default())))
}

fn v1_body(series: &[(&[(&str, &str)], i64)]) -> Vec<u8> {
    let req = v1::WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, t)| v1::TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| v1::Label {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                samples: vec![v1::Sample {
                    value: 1.0,
                    timestamp: *t,
                }],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap()
}

async fn send(app: Router, content_type: &str, tenant: Option<&str>, body: Vec<u8>) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::post("/api/v1/push")
        .header("content-type", content_type)
        .header("content-encoding", "snappy");
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = app.oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    (status, headers, text)
}

const V1: &str = "application/x-protobuf";

#[tokio::test]
async fn valid_v1_write_is_stored_under_its_tenant() {
    let store = Arc::new(Store::default());
    let (status, _, _) = send(
        app(store.clone(), Default::default()),
        V1,
        Some("team-a"),
        v1_body(&[(&[("__name__", "up")], 5)]),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let writes = store.writes.lock().unwrap();
    assert_eq!(writes[0].0, "team-a");
    assert_eq!(writes[0].1[0].labels.metric_name(), "up");
}

#[tokio::test]
async fn default_tenant_and_bad_tenants() {
    let store = Arc::new(Store::default());
    send(
        app(store.clone(), Default::default()),
        V1,
        None,
        v1_body(&[(&[("__name__", "up")], 5)]),
    )
    .await;
    assert_eq!(store.writes.lock().unwrap()[0].0, "anonymous");
    for t in ["a|b", "../x", ""] {
        let (status, _, _) = send(
            app(store.clone(), Default::default()),
            V1,
            Some(t),
            v1_body(&[(&[("__name__", "up")], 5)]),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "tenant {t:?}");
    }
}

#[tokio::test]
async fn invalid_series_is_400_and_valid_ones_still_land() {
    let store = Arc::new(Store::default());
    let body = v1_body(&[
        (&[("__name__", "up")], 5),
        (&[("__name__", "up"), ("b", "1"), ("a", "1")], 5),
    ]);
    let (status, _, text) = send(app(store.clone(), Default::default()), V1, None, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("not sorted"), "{text}");
    assert_eq!(store.writes.lock().unwrap()[0].1.len(), 1);
}

#[tokio::test]
async fn reserved_label_names_are_400_and_the_rest_lands() {
    for name in pyrite_model::RESERVED_LABEL_NAMES {
        let store = Arc::new(Store::default());
        let body = v1_body(&[(&[("__name__", "up")], 5), (&[("__name__", "up"), (name, "1")], 5)]);
        let (status, _, text) = send(app(store.clone(), Default::default()), V1, None, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert!(text.contains(&format!("label name \"{name}\" is reserved")), "{text}");
        let writes = store.writes.lock().unwrap();
        assert_eq!(writes[0].1.len(), 1, "the valid series still lands");
        assert!(writes[0].1[0].labels.get(name).is_empty());
    }
}

#[tokio::test]
async fn samples_far_in_the_future_are_400_and_the_rest_lands() {
    let store = Arc::new(Store::default());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let body = v1_body(&[
        (&[("__name__", "up")], now),
        (&[("__name__", "skewed")], now + 3_600_000),
    ]);
    let (status, _, text) = send(app(store.clone(), Default::default()), V1, None, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("ahead of the receiver's clock"), "{text}");
    let writes = store.writes.lock().unwrap();
    assert_eq!(writes[0].1.len(), 1);
    assert_eq!(writes[0].1[0].labels.metric_name(), "up");
}

#[tokio::test]
async fn store_refusals_and_failures_map_to_statuses() {
    let store = Arc::new(Store::default());
    let (status, _, text) = send(
        app(store, Default::default()),
        V1,
        None,
        v1_body(&[(&[("__name__", "up")], -5)]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("out of order"), "{text}");
    for (err, want) in [
        (AppendError::Limit("x".into()), StatusCode::TOO_MANY_REQUESTS),
        (AppendError::Unavailable("x".into()), StatusCode::SERVICE_UNAVAILABLE),
        (AppendError::Internal("x".into()), StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        let store = Arc::new(Store {
            fail: Some(err),
            ..Default::default()
        });
        let (status, _, _) = send(
            app(store, Default::default()),
            V1,
            None,
            v1_body(&[(&[("__name__", "up")], 5)]),
        )
        .await;
        assert_eq!(status, want);
    }
}

#[tokio::test]
async fn request_limits_are_400() {
    let limits = crate::DistributorConfig {
        max_series_per_request: 1,
        ..Default::default()
    };
    let body = v1_body(&[(&[("__name__", "a")], 5), (&[("__name__", "b")], 5)]);
    let (status, _, text) = send(app(Arc::new(Store::default()), limits), V1, None, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("max_series_per_request"));
    let limits = crate::DistributorConfig {
        max_request_body_bytes: 8,
        ..Default::default()
    };
    let (status, _, text) = send(app(Arc::new(Store::default()), limits), V1, None, vec![0; 64]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("max_request_body_bytes"), "{text}");
}

#[tokio::test]
async fn v2_answers_with_written_headers() {
    let req = v2::Request {
        symbols: vec!["".into(), "__name__".into(), "up".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![
                v2::Sample {
                    value: 1.0,
                    timestamp: 1,
                },
                v2::Sample {
                    value: 2.0,
                    timestamp: 2,
                },
            ],
            ..Default::default()
        }],
    };
    let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
    let ct = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let (status, headers, _) = send(app(Arc::new(Store::default()), Default::default()), ct, None, body).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["X-Prometheus-Remote-Write-Samples-Written"], "2");
    assert_eq!(headers["X-Prometheus-Remote-Write-Histograms-Written"], "0");
}

/// A v2 request of one series with floats, histograms and exemplars at these times.
fn v2_body(floats: &[i64], histograms: &[i64], exemplars: usize) -> Vec<u8> {
    let histogram = |timestamp: i64| v2::Histogram {
        count: Some(v2::histogram::Count::CountInt(1)),
        sum: 1.0,
        zero_count: Some(v2::histogram::ZeroCount::ZeroCountInt(0)),
        positive_spans: vec![v2::BucketSpan { offset: 0, length: 1 }],
        positive_deltas: vec![1],
        timestamp,
        ..Default::default()
    };
    let req = v2::Request {
        symbols: vec!["".into(), "__name__".into(), "m".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: floats
                .iter()
                .map(|&timestamp| v2::Sample { value: 1.0, timestamp })
                .collect(),
            histograms: histograms.iter().map(|&t| histogram(t)).collect(),
            exemplars: (0..exemplars)
                .map(|i| v2::Exemplar {
                    labels_refs: vec![],
                    value: 1.0,
                    timestamp: i as i64 + 1,
                })
                .collect(),
            ..Default::default()
        }],
    };
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap()
}

#[tokio::test]
async fn v2_headers_count_floats_histograms_and_exemplars_apart() {
    let ct = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let store = Arc::new(Store::default());
    let (status, headers, text) = send(
        app(store.clone(), Default::default()),
        ct,
        None,
        v2_body(&[1, 2], &[3, 4, 5], 2),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert_eq!(store.writes.lock().unwrap()[0].1[0].histograms.len(), 3);
    assert_eq!(headers["X-Prometheus-Remote-Write-Samples-Written"], "2");
    assert_eq!(headers["X-Prometheus-Remote-Write-Histograms-Written"], "3");
    // Exemplars are not stored, and the header says so.
    assert_eq!(headers["X-Prometheus-Remote-Write-Exemplars-Written"], "0");

    // A refused histogram is a 400 whose headers count only what was written.
    let (status, headers, _) = send(
        app(Arc::new(Store::default()), Default::default()),
        ct,
        None,
        v2_body(&[1], &[-1, 4], 0),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["X-Prometheus-Remote-Write-Samples-Written"], "1");
    assert_eq!(headers["X-Prometheus-Remote-Write-Histograms-Written"], "1");
}

#[tokio::test]
async fn unsupported_media_is_415_and_garbage_is_400() {
    let (status, _, _) = send(
        app(Arc::new(Store::default()), Default::default()),
        "application/json",
        None,
        vec![1, 2],
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _, _) = send(
        app(Arc::new(Store::default()), Default::default()),
        V1,
        None,
        b"garbage".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_refused_tenant_answers_as_the_protocol_would() {
    let v2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let store = Arc::new(Store::default());
    let (status, headers, text) = send(app(store.clone(), Default::default()), v2, Some("a|b"), vec![]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(text, "multi-tenant writes are not supported\n");
    assert_eq!(headers["X-Prometheus-Remote-Write-Samples-Written"], "0");
    let (status, _, _) = send(
        app(store.clone(), Default::default()),
        "text/plain",
        Some("a|b"),
        vec![],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "the media type is named first"
    );
    assert!(store.writes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn metadata_of_either_protocol_reaches_the_store() {
    use pyrite_storage::{MetricMetadata, MetricType};
    let store = Arc::new(Store::default());
    let v1_req = v1::WriteRequest {
        metadata: vec![v1::MetricMetadata {
            r#type: v1::metric_metadata::MetricType::Counter as i32,
            metric_family_name: "http_requests".into(),
            help: "Requests served.".into(),
            unit: String::new(),
        }],
        ..Default::default()
    };
    let body = snap::raw::Encoder::new().compress_vec(&v1_req.encode_to_vec()).unwrap();
    let (status, _, text) = send(app(store.clone(), Default::default()), V1, Some("a"), body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");

    let v2_req = v2::Request {
        symbols: vec![
            "".into(),
            "__name__".into(),
            "queue_bytes".into(),
            "Bytes queued.".into(),
            "bytes".into(),
        ],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![v2::Sample {
                value: 1.0,
                timestamp: 1,
            }],
            metadata: Some(v2::Metadata {
                r#type: v2::metadata::MetricType::Gauge as i32,
                help_ref: 3,
                unit_ref: 4,
            }),
            ..Default::default()
        }],
    };
    let body = snap::raw::Encoder::new().compress_vec(&v2_req.encode_to_vec()).unwrap();
    let ct = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let (status, _, text) = send(app(store.clone(), Default::default()), ct, Some("b"), body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");

    let md = |metric: &str, kind, help: &str, unit: &str| MetricMetadata {
        metric: metric.into(),
        kind,
        help: help.into(),
        unit: unit.into(),
    };
    assert_eq!(
        *store.metadata.lock().unwrap(),
        vec![
            (
                "a".to_string(),
                vec![md("http_requests", MetricType::Counter, "Requests served.", "")]
            ),
            (
                "b".to_string(),
                vec![md("queue_bytes", MetricType::Gauge, "Bytes queued.", "bytes")]
            ),
        ]
    );
}
