use axum::body::Body;
use axum::http::{Request, StatusCode};
use pyrite_storage::MemQueryable;
use serde_json::Value as Json;
use tower::ServiceExt;

use super::*;

fn data() -> MemQueryable {
    let store = MemQueryable::new();
    let up = |job: &str, inst: &str| Labels::from_pairs(&[("__name__", "up"), ("job", job), ("instance", inst)]);
    store.add("anonymous", up("node", "a:9100"), &[(1_000_000, 1.0), (1_015_000, 1.0)]);
    store.add("anonymous", up("api", "b:80"), &[(1_000_000, 0.0)]);
    store.add("team-b", up("secret", "c:1"), &[(1_000_000, 1.0)]);
    store
}

fn app() -> Router {
    app_over(Arc::new(data()))
}

/// Metric metadata of two tenants, as a store would answer it.
struct Described;

#[async_trait::async_trait]
impl MetadataReader for Described {
    async fn metadata(
        &self,
        tenant: &str,
        query: &MetadataQuery,
    ) -> Result<Vec<pyrite_storage::MetricMetadata>, pyrite_storage::StorageError> {
        use pyrite_storage::{MetricMetadata, MetricType};
        let md = |metric: &str, kind, help: &str| MetricMetadata {
            metric: metric.into(),
            kind,
            help: help.into(),
            unit: String::new(),
        };
        let all = match tenant {
            "anonymous" => vec![
                md("up", MetricType::Gauge, "Whether the target answered."),
                md("http_requests_total", MetricType::Counter, "Requests."),
                md("http_requests_total", MetricType::Counter, "Requests served."),
                md("http_requests_total", MetricType::Counter, "Requests."),
            ],
            _ => vec![md("secret_total", MetricType::Counter, "Not yours.")],
        };
        Ok(all
            .into_iter()
            .filter(|m| query.metric.as_ref().is_none_or(|want| *want == m.metric))
            .collect())
    }
}

fn app_over(store: Arc<dyn Queryable>) -> Router {
    let state = ApiState {
        store,
        metadata: Arc::new(Described),
        engine: Engine::default(),
        build_info: BuildInfo {
            version: "0.1.0".into(),
            revision: "test".into(),
            branch: "main".into(),
            build_user: "".into(),
            build_date: "".into(),
            go_version: "".into(),
        },
    };
    routes(Arc::new(state))
}

async fn call(req: Request<Body>) -> (StatusCode, Json) {
    call_app(app(), req).await
}

async fn call_app(app: Router, req: Request<Body>) -> (StatusCode, Json) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn get(uri: &str) -> (StatusCode, Json) {
    call(Request::get(uri).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn series_answers_prometheus_shape_under_both_prefixes() {
    for prefix in ["/api/v1", "/prometheus/api/v1"] {
        let (status, body) = get(&format!("{prefix}/series?match[]=up{{job=%22node%22}}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "success");
        assert_eq!(
            body["data"],
            serde_json::json!([{"__name__": "up", "instance": "a:9100", "job": "node"}])
        );
    }
}

#[tokio::test]
async fn series_post_form_and_limit() {
    let req = Request::post("/api/v1/series")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("match[]=up&limit=1"))
        .unwrap();
    let (status, body) = call(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["warnings"][0], "results truncated due to limit");
}

#[tokio::test]
async fn labels_and_values_are_tenant_scoped() {
    let (_, body) = get("/api/v1/labels").await;
    assert_eq!(body["data"], serde_json::json!(["__name__", "instance", "job"]));
    let (_, body) = get("/api/v1/label/job/values").await;
    assert_eq!(body["data"], serde_json::json!(["api", "node"]));
    let req = Request::get("/api/v1/label/job/values")
        .header("X-Scope-OrgID", "team-b")
        .body(Body::empty())
        .unwrap();
    let (_, body) = call(req).await;
    assert_eq!(body["data"], serde_json::json!(["secret"]));
    let (_, body) = get("/api/v1/label/job/values?match[]=up{instance=%22b:80%22}").await;
    assert_eq!(body["data"], serde_json::json!(["api"]));
}

#[tokio::test]
async fn bad_requests_get_bad_data() {
    for uri in [
        "/api/v1/series",
        "/api/v1/series?match[]=up{",
        "/api/v1/series?match[]=up&start=yesterday",
        "/api/v1/query",
        "/api/v1/query_range?query=up&start=10&end=5&step=1",
        "/api/v1/query_range?query=up&start=0&end=100000&step=1",
        "/api/v1/query_range?query=up&start=0&end=10&step=0",
        "/api/v1/labels?limit=-1",
    ] {
        let (status, body) = get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["errorType"], "bad_data", "{uri}");
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    let req = Request::get("/api/v1/labels")
        .header("X-Scope-OrgID", "../etc")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(req).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn too_many_points_message_matches_prometheus() {
    let (_, body) = get("/api/v1/query_range?query=up&start=0&end=100000&step=1").await;
    assert_eq!(
        body["error"],
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
}

#[tokio::test]
async fn the_resolution_limit_refuses_only_past_11000_steps() {
    // (end - start) / step = 11000: answered, as Prometheus does.
    let (status, body) = get("/api/v1/query_range?query=up&start=1000000&end=1011000&step=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    // 11001: refused.
    let (status, body) = get("/api/v1/query_range?query=up&start=1000000&end=1011001&step=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorType"], "bad_data");
    assert_eq!(
        body["error"],
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    // The same boundary with a step that does not divide the range: 22001 / 2 = 11000.
    let (status, _) = get("/api/v1/query_range?query=up&start=1000000&end=1022001&step=2").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn buildinfo_and_metadata() {
    let (status, body) = get("/api/v1/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["version"], "0.1.0");
    assert_eq!(body["data"]["goVersion"], "");
}

#[tokio::test]
async fn metadata_lists_the_tenants_families_under_prometheus_limits() {
    let (status, body) = get("/api/v1/metadata").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        serde_json::json!({
            "http_requests_total": [
                {"type": "counter", "help": "Requests.", "unit": ""},
                {"type": "counter", "help": "Requests served.", "unit": ""},
            ],
            "up": [{"type": "gauge", "help": "Whether the target answered.", "unit": ""}],
        })
    );
    let (_, body) = get("/prometheus/api/v1/metadata?metric=up").await;
    assert_eq!(body["data"].as_object().unwrap().len(), 1);
    let (_, body) = get("/api/v1/metadata?limit=1&limit_per_metric=1").await;
    assert_eq!(
        body["data"],
        serde_json::json!({"http_requests_total": [{"type": "counter", "help": "Requests.", "unit": ""}]})
    );
    for (q, n) in [("limit=0", 0), ("limit=-1", 2), ("limit_per_metric=0", 2)] {
        let (_, body) = get(&format!("/api/v1/metadata?{q}")).await;
        assert_eq!(body["data"].as_object().unwrap().len(), n, "{q}");
    }
    let (status, body) = get("/api/v1/metadata?limit=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "limit must be a number");
    let req = Request::get("/api/v1/metadata")
        .header("X-Scope-OrgID", "team-b")
        .body(Body::empty())
        .unwrap();
    let (_, body) = call(req).await;
    assert_eq!(
        body["data"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["secret_total"]
    );
}

#[tokio::test]
async fn timeout_caps_the_query_and_answers_503_timeout() {
    let (status, body) = get("/api/v1/query?query=up&time=1010&timeout=0s").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errorType"], "timeout");
    assert!(
        body["error"].as_str().unwrap().starts_with("query timed out in "),
        "{body}"
    );
    let (status, body) = get("/api/v1/query_range?query=up&start=1000&end=1015&step=5&timeout=0").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errorType"], "timeout");
    let (status, _) = get("/api/v1/query?query=up&time=1010&timeout=1m").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get("/api/v1/query?query=up&time=1010&timeout=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorType"], "bad_data");
    assert_eq!(
        body["error"],
        "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"
    );
}

#[tokio::test]
async fn lookback_delta_overrides_the_engines() {
    // The newest samples are at 1000s and 1015s: 385s and 400s before 1400s, out of
    // the default 5m lookback.
    let (_, body) = get("/api/v1/query?query=up&time=1400").await;
    assert_eq!(body["data"]["result"], serde_json::json!([]));
    let (status, body) = get("/api/v1/query?query=up&time=1400&lookback_delta=10m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["result"].as_array().unwrap().len(), 2, "{body}");
    let (_, body) = get("/api/v1/query_range?query=up&start=1400&end=1400&step=1&lookback_delta=390").await;
    assert_eq!(body["data"]["result"].as_array().unwrap().len(), 1, "{body}");
    // Zero means the engine's.
    let (_, body) = get("/api/v1/query?query=up&time=1400&lookback_delta=0s").await;
    assert_eq!(body["data"]["result"], serde_json::json!([]));
    let (status, body) = get("/api/v1/query?query=up&time=1400&lookback_delta=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorType"], "bad_data");
    assert_eq!(
        body["error"],
        "error parsing lookback delta duration: cannot parse \"x\" to a valid duration"
    );
}

#[tokio::test]
async fn stats_are_given_in_prometheus_shape_when_asked() {
    let (_, body) = get("/api/v1/query?query=up&time=1010").await;
    assert!(body["data"].get("stats").is_none(), "{body}");

    let (status, body) = get("/api/v1/query?query=up&time=1010&stats=all").await;
    assert_eq!(status, StatusCode::OK);
    let stats = &body["data"]["stats"];
    let timings = stats["timings"].as_object().unwrap();
    // (In Prometheus's order; see the response tests. The parsed map sorts them.)
    let names: Vec<&str> = timings.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "evalTotalTime",
            "execQueueTime",
            "execTotalTime",
            "innerEvalTime",
            "queryPreparationTime",
            "resultSortTime"
        ]
    );
    assert!(
        timings.values().all(|v| v.as_f64().is_some_and(|t| t >= 0.0)),
        "{stats}"
    );
    // Two series, one sample each.
    assert_eq!(
        stats["samples"],
        serde_json::json!({"totalQueryableSamples": 2, "samplesRead": 2, "peakSamples": 2})
    );
    assert!(body.get("warnings").is_none());

    // A range function counts its whole window at every step, but reads each sample
    // once: node has samples at 1000 and 1015, api at 1000; four steps of 20s windows.
    let (_, body) =
        get("/api/v1/query_range?query=count_over_time(up[20s])&start=1000&end=1015&step=5&stats=true").await;
    let samples = &body["data"]["stats"]["samples"];
    assert_eq!(samples["totalQueryableSamples"], 9, "{body}");
    assert_eq!(samples["samplesRead"], 3, "{body}");
    assert!(samples["peakSamples"].as_u64().unwrap() > 0);

    // Any other value still gives them, with Prometheus's deprecation warning.
    let (_, body) = get("/api/v1/query?query=up&time=1010&stats=1").await;
    assert!(body["data"]["stats"]["samples"].is_object());
    assert_eq!(
        body["warnings"][0],
        "value \"1\" for parameter \"stats\" is deprecated and will be rejected in the next major release, use \"true\" or \"all\""
    );
}

#[test]
fn escaped_label_names() {
    assert_eq!(unescape_label_name("job"), "job");
    assert_eq!(unescape_label_name("U__a_2e_b"), "a.b");
    assert_eq!(unescape_label_name("U__a__b"), "a_b");
}

/// A store whose chunks cannot be read: selections fail, label listings answer.
struct NoChunks(MemQueryable);

#[async_trait::async_trait]
impl Queryable for NoChunks {
    async fn select(
        &self,
        _: &str,
        _: pyrite_storage::SelectHints,
        _: &[pyrite_model::Matcher],
    ) -> Result<Vec<pyrite_storage::Series>, pyrite_storage::StorageError> {
        Err(pyrite_storage::StorageError::Internal("a chunk was read".into()))
    }
    async fn series(
        &self,
        t: &str,
        s: i64,
        e: i64,
        m: &[pyrite_model::Matcher],
    ) -> Result<Vec<Labels>, pyrite_storage::StorageError> {
        self.0.series(t, s, e, m).await
    }
    async fn label_names(
        &self,
        t: &str,
        s: i64,
        e: i64,
        m: &[pyrite_model::Matcher],
    ) -> Result<Vec<String>, pyrite_storage::StorageError> {
        self.0.label_names(t, s, e, m).await
    }
    async fn label_values(
        &self,
        t: &str,
        n: &str,
        s: i64,
        e: i64,
        m: &[pyrite_model::Matcher],
    ) -> Result<Vec<String>, pyrite_storage::StorageError> {
        self.0.label_values(t, n, s, e, m).await
    }
}

/// A bucket that cannot be reached.
struct Unreachable;

#[async_trait::async_trait]
impl Queryable for Unreachable {
    async fn select(
        &self,
        _: &str,
        _: pyrite_storage::SelectHints,
        _: &[pyrite_model::Matcher],
    ) -> Result<Vec<pyrite_storage::Series>, pyrite_storage::StorageError> {
        Err(pyrite_storage::StorageError::Unavailable(
            "object storage: connection refused".into(),
        ))
    }
    async fn label_names(
        &self,
        _: &str,
        _: i64,
        _: i64,
        _: &[pyrite_model::Matcher],
    ) -> Result<Vec<String>, pyrite_storage::StorageError> {
        Err(pyrite_storage::StorageError::Unavailable(
            "object storage: connection refused".into(),
        ))
    }
    async fn label_values(
        &self,
        _: &str,
        _: &str,
        _: i64,
        _: i64,
        _: &[pyrite_model::Matcher],
    ) -> Result<Vec<String>, pyrite_storage::StorageError> {
        Err(pyrite_storage::StorageError::Unavailable(
            "object storage: connection refused".into(),
        ))
    }
}

#[tokio::test]
async fn series_and_label_apis_with_matchers_read_no_chunk() {
    let app = || app_over(Arc::new(NoChunks(data())));
    let uri = |u: &str| Request::get(u).body(Body::empty()).unwrap();
    let (status, body) = call_app(
        app(),
        uri("/api/v1/series?match[]=up&match[]=up{job=%22api%22}&end=1000"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        serde_json::json!([
            {"__name__": "up", "instance": "a:9100", "job": "node"},
            {"__name__": "up", "instance": "b:80", "job": "api"},
        ])
    );
    let (status, body) = call_app(app(), uri("/api/v1/series?match[]=up&start=1010")).await;
    assert_eq!(
        (status, body["data"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let (status, body) = call_app(app(), uri("/api/v1/labels?match[]=up{job=%22api%22}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], serde_json::json!(["__name__", "instance", "job"]));
    let (status, body) = call_app(app(), uri("/api/v1/label/instance/values?match[]=up{job=%22node%22}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], serde_json::json!(["a:9100"]));
}

#[tokio::test]
async fn with_the_bucket_unreachable_the_heads_still_answer_with_a_warning() {
    let heads: Arc<dyn Queryable> = Arc::new(data());
    let app = app_over(Arc::new(
        pyrite_storage::Fanout::new(vec![heads]).or_partial(Arc::new(Unreachable), "object storage"),
    ));
    let want = "object storage unreachable: object storage: connection refused; results may be incomplete";
    for uri in [
        "/api/v1/query?query=up{job=%22node%22}&time=1015",
        "/api/v1/query_range?query=up{job=%22node%22}&start=1000&end=1015&step=15",
        "/api/v1/series?match[]=up{job=%22node%22}",
        "/api/v1/labels",
        "/api/v1/label/job/values",
    ] {
        let resp = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let body: Json = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["status"], "success", "{uri}");
        assert_eq!(body["warnings"], serde_json::json!([want]), "{uri}: {body}");
        assert!(!body["data"].to_string().contains("secret"), "{uri}");
    }
    let resp = app
        .oneshot(
            Request::get("/api/v1/query?query=up{job=%22node%22}&time=1015")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let body: Json = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["data"]["result"][0]["value"], serde_json::json!([1015, "1"]));
}
