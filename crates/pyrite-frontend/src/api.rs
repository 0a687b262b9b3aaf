//! The frontend's HTTP face: the Prometheus query API under `/api/v1` and
//! `/prometheus/api/v1`, as the querier serves it, so Grafana points here instead.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pyrite_api::Params;
use pyrite_tenant::{Access, Rejection, Tenant, TenantLayer};

use crate::downstream::{Reply, Request};
use crate::error_reply;
use crate::frontend::{Frontend, QueryStats};

/// The API routes, answered through `frontend`.
pub fn routes(frontend: Arc<Frontend>) -> Router {
    let api = Router::new()
        .route("/query", get(query).post(query))
        .route("/query_range", get(query_range).post(query_range))
        .route("/series", get(series).post(series))
        .route("/labels", get(labels).post(labels))
        .route("/label/{name}/values", get(label_values))
        .route("/metadata", get(metadata))
        .route("/query_exemplars", get(exemplars).post(exemplars))
        .route("/status/buildinfo", get(buildinfo))
        .route_layer(TenantLayer::new(Access::Read, reject_tenant))
        .with_state(frontend);
    Router::new()
        .nest("/api/v1", api.clone())
        .nest("/prometheus/api/v1", api)
}

fn respond(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], r.body).into_response()
}

/// A refused tenant header, answered as the querier's API would.
fn reject_tenant(_: &HeaderMap, why: Rejection) -> Response {
    respond(error_reply(400, "bad_data", &why.to_string()))
}

/// The request's parameters (query string and, for a form POST, the body), parsed and
/// as the URL-encoded text a querier gets.
fn params(method: &Method, headers: &HeaderMap, raw: &Option<String>, body: &Bytes) -> (Params, String) {
    let form = pyrite_api::form_body(method, headers, body);
    let mut text = raw.clone().unwrap_or_default();
    if let Some(f) = form.and_then(|f| std::str::from_utf8(f).ok()) {
        if !text.is_empty() && !f.is_empty() {
            text.push('&');
        }
        text.push_str(f);
    }
    (Params::parse(raw.as_deref(), form), text)
}

fn no_store(headers: &HeaderMap) -> bool {
    headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("no-store"))
}

/// Adds the frontend's statistics to a successful answer's `data.stats` when the
/// client asked (`stats=all`, as Prometheus takes it).
fn with_stats(r: Reply, p: &Params, stats: &QueryStats, started: Instant) -> Reply {
    if p.get("stats").is_none() || !r.ok() {
        return r;
    }
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&r.body) else {
        return r;
    };
    if let Some(data) = v.get_mut("data").and_then(|d| d.as_object_mut()) {
        let mut s = data.remove("stats").unwrap_or_else(|| serde_json::json!({}));
        if let Some(o) = s.as_object_mut() {
            o.insert("frontend".into(), stats.json(started.elapsed().as_secs_f64()));
        }
        data.insert("stats".into(), s);
    }
    Reply {
        status: r.status,
        body: serde_json::to_vec(&v).unwrap_or_default().into(),
    }
}

async fn query(
    State(f): State<Arc<Frontend>>,
    tenant: Tenant,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    evaluate(&f, &tenant, Endpoint::Instant, &method, &headers, &raw, &body).await
}

async fn query_range(
    State(f): State<Arc<Frontend>>,
    tenant: Tenant,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    evaluate(&f, &tenant, Endpoint::Range, &method, &headers, &raw, &body).await
}

#[derive(Clone, Copy)]
enum Endpoint {
    Instant,
    Range,
}

/// A PromQL query, instant or range, through the frontend, with its stats when asked.
async fn evaluate(
    f: &Frontend,
    tenant: &Tenant,
    endpoint: Endpoint,
    method: &Method,
    headers: &HeaderMap,
    raw: &Option<String>,
    body: &Bytes,
) -> Response {
    let started = Instant::now();
    let tenant = tenant.to_string();
    let (p, text) = params(method, headers, raw, body);
    let stats = QueryStats::default();
    let (path, name) = match endpoint {
        Endpoint::Instant => ("/api/v1/query", "query"),
        Endpoint::Range => ("/api/v1/query_range", "query_range"),
    };
    let req = Request {
        tenant: tenant.clone(),
        path: path.into(),
        params: text,
    };
    let reply = match endpoint {
        Endpoint::Instant => f.instant(&tenant, &p, req, &stats).await,
        Endpoint::Range => f.range(&tenant, &p, req, !no_store(headers), &stats).await,
    };
    f.observe(&tenant, name, started);
    respond(with_stats(reply, &p, &stats, started))
}

/// Requests the frontend does not change: passed to a querier as they are.
async fn pass(f: &Frontend, tenant: &Tenant, path: &str, endpoint: &str, params: String) -> Response {
    let started = Instant::now();
    let tenant = tenant.to_string();
    let req = Request {
        tenant: tenant.clone(),
        path: path.to_string(),
        params,
    };
    let reply = f.pass(req, &QueryStats::default()).await;
    f.observe(&tenant, endpoint, started);
    respond(reply)
}

async fn series(
    State(f): State<Arc<Frontend>>,
    tenant: Tenant,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (_, text) = params(&method, &headers, &raw, &body);
    pass(&f, &tenant, "/api/v1/series", "series", text).await
}

async fn labels(
    State(f): State<Arc<Frontend>>,
    tenant: Tenant,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (_, text) = params(&method, &headers, &raw, &body);
    pass(&f, &tenant, "/api/v1/labels", "labels", text).await
}

async fn label_values(
    State(f): State<Arc<Frontend>>,
    tenant: Tenant,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let path = format!("/api/v1/label/{encoded}/values");
    pass(&f, &tenant, &path, "label_values", raw.unwrap_or_default()).await
}

async fn metadata(State(f): State<Arc<Frontend>>, tenant: Tenant, RawQuery(raw): RawQuery) -> Response {
    pass(&f, &tenant, "/api/v1/metadata", "metadata", raw.unwrap_or_default()).await
}

async fn exemplars(
    State(f): State<Arc<Frontend>>,
    tenant: Tenant,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (_, text) = params(&method, &headers, &raw, &body);
    pass(&f, &tenant, "/api/v1/query_exemplars", "query_exemplars", text).await
}

async fn buildinfo(State(f): State<Arc<Frontend>>, tenant: Tenant) -> Response {
    pass(&f, &tenant, "/api/v1/status/buildinfo", "buildinfo", String::new()).await
}
