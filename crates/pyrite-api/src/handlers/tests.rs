use axum::body::Body;
use axum::http::{Request, StatusCode};
use pyrite_storage::MemQueryable;
use serde_json::Value as Json;
use tower::ServiceExt;

use super::*;

fn app() -> Router {
    let store = MemQueryable::new();
    let up = |job: &str, inst: &str| Labels::from_pairs(&[("__name__", "up"), ("job", job), ("instance", inst)]);
    store.add("anonymous", up("node", "a:9100"), &[(1_000_000, 1.0), (1_015_000, 1.0)]);
    store.add("anonymous", up("api", "b:80"), &[(1_000_000, 0.0)]);
    store.add("team-b", up("secret", "c:1"), &[(1_000_000, 1.0)]);
    let state = ApiState {
        store: Arc::new(store),
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
    let resp = app().oneshot(req).await.unwrap();
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
    let (_, body) = get("/api/v1/metadata").await;
    assert_eq!(body["data"], serde_json::json!({}));
}

#[test]
fn escaped_label_names() {
    assert_eq!(unescape_label_name("job"), "job");
    assert_eq!(unescape_label_name("U__a_2e_b"), "a.b");
    assert_eq!(unescape_label_name("U__a__b"), "a_b");
}
