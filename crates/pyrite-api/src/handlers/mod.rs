//! Route table and handlers.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pyrite_model::Labels;
use pyrite_promql::{Engine, QueryOptions, QueryResult};
use pyrite_storage::metadata::by_family;
use pyrite_storage::warnings::Collecting;
use pyrite_storage::{MetadataQuery, MetadataReader, Queryable};
use pyrite_tenant::{Access, Rejection, Tenant, TenantLayer};
use serde::Serialize;
use serde_json::json;

use crate::params::{Params, MAX_TIME, MIN_TIME};
use crate::response::{success, ApiError, QueryData};
use crate::selector::parse_selector;

/// What `/api/v1/status/buildinfo` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    pub go_version: String,
}

/// Shared state of the API handlers.
pub struct ApiState {
    pub store: Arc<dyn Queryable>,
    /// Metric metadata, for `/metadata`.
    pub metadata: Arc<dyn MetadataReader>,
    pub engine: Engine,
    pub build_info: BuildInfo,
}

/// The API under both `/api/v1` and `/prometheus/api/v1`.
pub fn routes(state: Arc<ApiState>) -> Router {
    // Every read is a tenant's; the answers that hold no data need none.
    let api = Router::new()
        .route("/query", get(query).post(query))
        .route("/query_range", get(query_range).post(query_range))
        .route("/series", get(series).post(series))
        .route("/labels", get(labels).post(labels))
        .route("/label/{name}/values", get(label_values))
        .route("/metadata", get(metadata))
        .route_layer(TenantLayer::new(Access::Read, reject_tenant))
        .route("/query_exemplars", get(empty_list).post(empty_list))
        .route("/status/buildinfo", get(buildinfo))
        .with_state(state);
    Router::new()
        .nest("/api/v1", api.clone())
        .nest("/prometheus/api/v1", api)
}

/// A refused tenant header, in the API's error shape. Every query API (querier and
/// frontend) answers it this way.
pub fn reject_tenant(_: &HeaderMap, why: Rejection) -> Response {
    ApiError::bad_data(why.to_string()).into_response()
}

/// The body of a request when it carries form parameters (a form-encoded POST).
pub fn form_body<'a>(method: &Method, headers: &HeaderMap, body: &'a Bytes) -> Option<&'a [u8]> {
    let is_form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    (method == Method::POST && is_form).then_some(body.as_ref())
}

fn params(method: &Method, headers: &HeaderMap, query: &Option<String>, body: &Bytes) -> Params {
    Params::parse(query.as_deref(), form_body(method, headers, body))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn query(
    State(st): State<Arc<ApiState>>,
    tenant: Tenant,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(&method, &headers, &raw, &body);
    let q = p.required("query")?;
    let t = p.time_or("time", now_ms())?;
    let opts = query_options(&p)?;
    let store = Arc::new(Collecting::new(st.store.clone()));
    let mut result = st.engine.instant_query_with(store.clone(), &tenant, q, t, opts).await?;
    add_store_warnings(&mut result.warnings, &store);
    Ok(query_answer(&p, &result))
}

/// Adds what the stores warned of while answering (object storage unreachable, …) to
/// an answer's warnings, each once.
fn add_store_warnings(warnings: &mut Vec<String>, store: &Collecting) {
    for w in store.warnings().take() {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
}

/// A query's own `timeout` and `lookback_delta`, read as Prometheus reads them.
fn query_options(p: &Params) -> Result<QueryOptions, ApiError> {
    let timeout = p
        .duration("timeout")?
        .map(|ms| std::time::Duration::from_millis(ms.max(0) as u64));
    let lookback_delta = match p.get("lookback_delta") {
        None => None,
        Some(s) => {
            let ms = crate::parse_duration(s)
                .map_err(|e| ApiError::bad_data(format!("error parsing lookback delta duration: {e}")))?;
            // Zero or negative: the engine's, as in Prometheus.
            (ms > 0).then(|| std::time::Duration::from_millis(ms as u64))
        }
    };
    Ok(QueryOptions {
        timeout,
        lookback_delta,
    })
}

/// A query's answer, with `data.stats` when the request has a `stats` parameter (any
/// value, as Prometheus; values other than `true` and `all` get its deprecation warning).
fn query_answer(p: &Params, result: &QueryResult) -> Response {
    let stats = p.get("stats");
    let data = QueryData {
        result,
        with_stats: stats.is_some(),
    };
    match stats.filter(|s| !matches!(*s, "true" | "all")) {
        Some(s) => {
            let mut warnings = result.warnings.clone();
            warnings.push(format!(
                "value {s:?} for parameter \"stats\" is deprecated and will be rejected in the next major release, use \"true\" or \"all\""
            ));
            success(data, &warnings, &result.infos)
        }
        None => success(data, &result.warnings, &result.infos),
    }
}

async fn query_range(
    State(st): State<Arc<ApiState>>,
    tenant: Tenant,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(&method, &headers, &raw, &body);
    let q = p.required("query")?;
    let start = p.required_time("start")?;
    let end = p.required_time("end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = p
        .duration("step")?
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"step\": parameter is missing"))?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Prometheus refuses more than 11,000 steps after the first: (end - start) / step
    // equal to the limit is still answered.
    let max_points = st.engine.options().max_points_per_series as i64;
    if (end - start) / step > max_points {
        return Err(ApiError::bad_data(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            group_thousands(max_points)
        )));
    }
    let opts = query_options(&p)?;
    let store = Arc::new(Collecting::new(st.store.clone()));
    let mut result = st
        .engine
        .range_query_with(store.clone(), &tenant, q, start, end, step, opts)
        .await?;
    add_store_warnings(&mut result.warnings, &store);
    Ok(query_answer(&p, &result))
}

fn group_thousands(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `start`/`end`/`limit` of the metadata endpoints.
struct Window {
    start: i64,
    end: i64,
    limit: usize,
}

fn window(p: &Params) -> Result<Window, ApiError> {
    let start = p.time_or("start", MIN_TIME)?;
    let end = p.time_or("end", MAX_TIME)?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let limit = match p.get("limit") {
        None => 0,
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"limit\": cannot parse {s:?} to a valid limit"
            ))
        })?,
    };
    Ok(Window { start, end, limit })
}

/// Truncates to `limit` (0 = no limit), with Prometheus's warning when it bites.
fn apply_limit<T>(mut items: Vec<T>, limit: usize) -> (Vec<T>, Vec<String>) {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        return (items, vec!["results truncated due to limit".to_string()]);
    }
    (items, Vec::new())
}

async fn series(
    State(st): State<Arc<ApiState>>,
    tenant: Tenant,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(&method, &headers, &raw, &body);
    let w = window(&p)?;
    let selectors = p.all("match[]");
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    // Labels only: the store lists label sets without reading a chunk.
    let store = Collecting::new(st.store.clone());
    let mut found: BTreeSet<Labels> = BTreeSet::new();
    for sel in selectors {
        for group in parse_selector(sel)? {
            found.extend(store.series(&tenant, w.start, w.end, &group).await?);
        }
    }
    let (list, mut warnings) = apply_limit(found.into_iter().collect::<Vec<_>>(), w.limit);
    add_store_warnings(&mut warnings, &store);
    Ok(success(list, &warnings, &[]))
}

/// Runs a label query per matcher group (or once with none) and merges the answers.
async fn merged_label_query<F, Fut>(p: &Params, mut run: F) -> Result<Vec<String>, ApiError>
where
    F: FnMut(Vec<pyrite_model::Matcher>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, pyrite_storage::StorageError>>,
{
    let selectors = p.all("match[]");
    if selectors.is_empty() {
        return Ok(run(Vec::new()).await?);
    }
    let mut all = std::collections::BTreeSet::new();
    for sel in selectors {
        for group in parse_selector(sel)? {
            all.extend(run(group).await?);
        }
    }
    Ok(all.into_iter().collect())
}

async fn labels(
    State(st): State<Arc<ApiState>>,
    tenant: Tenant,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = params(&method, &headers, &raw, &body);
    let w = window(&p)?;
    let store = Arc::new(Collecting::new(st.store.clone()));
    let names = merged_label_query(&p, |ms| {
        let store = store.clone();
        let tenant = tenant.clone();
        async move { store.label_names(&tenant, w.start, w.end, &ms).await }
    })
    .await?;
    let (names, mut warnings) = apply_limit(names, w.limit);
    add_store_warnings(&mut warnings, &store);
    Ok(success(names, &warnings, &[]))
}

async fn label_values(
    State(st): State<Arc<ApiState>>,
    tenant: Tenant,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw.as_deref(), None);
    let w = window(&p)?;
    // Prometheus 3 accepts UTF-8 names escaped as `U__…`; plain names pass through.
    let name = unescape_label_name(&name);
    let store = Arc::new(Collecting::new(st.store.clone()));
    let values = merged_label_query(&p, |ms| {
        let store = store.clone();
        let tenant = tenant.clone();
        let name = name.clone();
        async move { store.label_values(&tenant, &name, w.start, w.end, &ms).await }
    })
    .await?;
    let (values, mut warnings) = apply_limit(values, w.limit);
    add_store_warnings(&mut warnings, &store);
    Ok(success(values, &warnings, &[]))
}

/// Decodes Prometheus's `U__` escaping of label names in URL paths (`U__a_2e_b` is `a.b`).
fn unescape_label_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let hex: String = chars.by_ref().take_while(|c| *c != '_').collect();
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            None => return name.to_string(),
        }
    }
    out
}

/// `/metadata`: the tenant's metric metadata by family, as Prometheus answers it: a
/// negative `limit` (the default) lists every family and `0` none; `limit_per_metric`
/// bites only when positive.
async fn metadata(
    State(st): State<Arc<ApiState>>,
    tenant: Tenant,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw.as_deref(), None);
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        p.get(name)
            .map(|s| {
                s.parse::<i64>()
                    .map_err(|_| ApiError::bad_data(format!("{name} must be a number")))
            })
            .transpose()
    };
    let query = MetadataQuery {
        metric: p.get("metric").filter(|m| !m.is_empty()).map(str::to_string),
        limit: number("limit")?.and_then(|n| usize::try_from(n).ok()),
        limit_per_metric: number("limit_per_metric")?
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0),
    };
    let found = st.metadata.metadata(&tenant, &query).await?;
    let families: serde_json::Map<String, serde_json::Value> = by_family(found, &query)
        .into_iter()
        .map(|(name, descriptions)| {
            let list = descriptions
                .into_iter()
                .map(|d| json!({"type": d.kind.as_str(), "help": d.help, "unit": d.unit}))
                .collect();
            (name, serde_json::Value::Array(list))
        })
        .collect();
    Ok(success(families, &[], &[]))
}

async fn empty_list() -> Response {
    success(json!([]), &[], &[])
}

async fn buildinfo(State(st): State<Arc<ApiState>>) -> Response {
    success(&st.build_info, &[], &[])
}

#[cfg(test)]
mod tests;
