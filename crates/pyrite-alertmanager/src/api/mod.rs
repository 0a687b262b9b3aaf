//! Alertmanager's API v2, per tenant, at `/api/v2/…` and `/alertmanager/api/v2/…`:
//! alerts (list, post, groups), silences (list, get, post, expire), receivers and
//! status, in the shapes of Alertmanager's OpenAPI spec, so `amtool` and Prometheus
//! work against it unchanged; and Mimir's per-tenant configuration API at
//! `/api/v1/alerts` ([`config`]).
//!
//! The invariant: every handler works on the requesting tenant's [`Instance`] only,
//! answers bad input with a 400 and Alertmanager's message, and takes a write only on
//! the replica owning the state (the others pass it on, once). Only a write (`POST`,
//! `DELETE`) makes a tenant's alertmanager: a read for a tenant without one answers as
//! a fresh one would, under the configuration file's settings.

use std::sync::Arc;

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use pyrite_tenant::{Access, Rejection, Tenant, TenantLayer};

use crate::instance::Instance;
use crate::matchers::{Matcher, Matchers};
use crate::tenants::Alertmanagers;

mod alerts;
mod config;
mod silences;
mod status;

type Shared = Arc<Alertmanagers>;

/// The API under both prefixes, and the readiness and health endpoints Alertmanager
/// serves (`/-/ready`, `/-/healthy`) under `/alertmanager`.
pub fn routes(ams: Shared) -> Router {
    // Reads and writes each name one tenant; the access they are served with words
    // their refusals now, and is what an authorization layer will check.
    let read = TenantLayer::new(Access::Read, reject);
    let write = TenantLayer::new(Access::Write, reject);
    let v2 = Router::new()
        .route(
            "/alerts",
            get(alerts::list).layer(read).merge(post(alerts::post).layer(write)),
        )
        .route("/alerts/groups", get(alerts::groups).layer(read))
        .route(
            "/silences",
            get(silences::list).layer(read).merge(post(silences::post).layer(write)),
        )
        .route(
            "/silence/{id}",
            get(silences::get_one)
                .layer(read)
                .merge(delete(silences::delete).layer(write)),
        )
        .route("/receivers", get(status::receivers).layer(read))
        .route("/status", get(status::status).layer(read))
        .with_state(ams.clone());
    let config = Router::new()
        .route(
            "/api/v1/alerts",
            get(config::get)
                .layer(read)
                .merge(post(config::post).layer(write))
                .merge(delete(config::delete).layer(write)),
        )
        .with_state(ams.clone());
    Router::new()
        .merge(config)
        .nest("/api/v2", v2.clone())
        .nest("/alertmanager/api/v2", v2)
        .route("/alertmanager/-/ready", get(|| async { "OK" }))
        .route("/alertmanager/-/healthy", get(|| async { "OK" }))
}

fn reject(_: &HeaderMap, r: Rejection) -> Response {
    error(StatusCode::BAD_REQUEST, r.to_string()).into_response()
}

/// An error as Alertmanager's API answers one: the message as a JSON string.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.message)).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

type ApiResult = Result<Response, ApiError>;

/// Marks a write one replica passed to the owner, so it is never passed on again.
const FORWARDED: &str = "x-pyrite-forwarded";

/// Writes (alerts, silences) are taken by the replica owning the state: another one
/// passes the request on to it and answers with its answer, then reads the state
/// again so its own API shows the change. None: this replica takes it itself.
async fn forward(
    ams: &Alertmanagers,
    headers: &HeaderMap,
    tenant: &Tenant,
    method: Method,
    path: &str,
    body: Bytes,
) -> Option<ApiResult> {
    if headers.contains_key(FORWARDED) {
        return None;
    }
    let owner = ams.owner_elsewhere()?;
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    let client = CLIENT.get_or_init(reqwest::Client::new);
    let sent = client
        .request(method, format!("http://{owner}{path}"))
        .header(FORWARDED, "1")
        .header(pyrite_model::TENANT_HEADER, tenant.as_str())
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let answer = match sent {
        Ok(r) => {
            let status = r.status();
            let kind = r.headers().get("content-type").cloned();
            match r.bytes().await {
                Ok(b) => {
                    let mut resp = (status, b).into_response();
                    if let Some(kind) = kind {
                        resp.headers_mut().insert("content-type", kind);
                    }
                    Ok(resp)
                }
                Err(e) => Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("forwarding to {owner}: {e}"),
                )),
            }
        }
        Err(e) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("forwarding to {owner}: {e}"),
        )),
    };
    ams.refresh().await;
    Some(answer)
}

/// The tenant's alertmanager for a write, made if it has none yet.
fn instance(ams: &Alertmanagers, tenant: &Tenant) -> Result<Arc<Instance>, ApiError> {
    ams.instance(tenant.as_str())
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// The tenant's alertmanager for a read, if it has one; none reads as a fresh one (no
/// alerts, no silences, the configuration file's settings), and no read makes one.
fn existing(ams: &Alertmanagers, tenant: &Tenant) -> Option<Arc<Instance>> {
    ams.existing(tenant.as_str())
}

/// Times as go-openapi prints them: RFC 3339 with milliseconds.
fn api_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Query parameters, repeated ones kept (`filter=a&filter=b`).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        Query(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn one<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }

    /// A boolean parameter, `default` when absent.
    fn flag(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.one(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("{name} in query must be of type bool: {v:?}"),
                )
            }),
        }
    }

    /// Every `filter` parameter's matchers, together.
    fn filter(&self) -> Result<Vec<Matcher>, ApiError> {
        let mut out = Vec::new();
        for f in self.all("filter") {
            let m =
                Matchers::parse(f).map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad matcher format: {e}")))?;
            out.extend(m.0);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
