//! The rule configuration API, per tenant, over the [`RuleStore`]:
//!
//! - `GET /prometheus/config/v1/rules`: every namespace's groups, as YAML
//!   (`namespace: [group, …]`; `{}` when there are none).
//! - `GET /prometheus/config/v1/rules/{namespace}`: that namespace's, the same way.
//! - `GET /prometheus/config/v1/rules/{namespace}/{group}`: one group's YAML; 404 when
//!   there is none.
//! - `POST /prometheus/config/v1/rules/{namespace}`: the body is one group's YAML
//!   (`name:`, `interval:`, `rules:`), checked as `promtool check rules` checks a group
//!   (400 with its messages, joined by `, `); it replaces the namespace's group of the
//!   same name. 202 once stored.
//! - `DELETE /prometheus/config/v1/rules/{namespace}/{group}` and
//!   `DELETE /prometheus/config/v1/rules/{namespace}`: 202, or 404 when there was
//!   nothing to delete.
//!
//! Answers: YAML as `application/yaml`; a change accepted as
//! `{"status":"success","data":null,"errorType":"","error":""}` with 202; refusals of
//! the request (a bad group, a limit, nothing found) as one line of `text/plain`; a
//! refused tenant header as `{"status":"error","errorType":"bad_data",…}` (400), and a
//! failing bucket as the same shape with `server_error` (500).
//!
//! Limits, per tenant: `ruler_max_rules_per_rule_group` and
//! `ruler_max_rule_groups_per_tenant` (0: none), refused with 400.
//!
//! The invariant: a change is stored before it is acknowledged, and every accepted
//! change wakes [`ConfigApi::changed`] so that the ruler of this process reads the
//! store again at once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use pyrite_limits::Limits;
use pyrite_rules::RuleGroup;
use pyrite_tenant::{Access, Rejection, Tenant, TenantLayer};
use serde_json::json;
use tokio::sync::Notify;

use crate::store::{Namespaces, RuleStore, StoreError};

/// Where the API's routes are.
pub const PATH: &str = "/prometheus/config/v1/rules";

/// The API's state: the store, the limits, and whom to wake after a change.
pub struct ConfigApi {
    pub store: RuleStore,
    pub limits: Arc<Limits>,
    /// Woken after every accepted change.
    pub changed: Arc<Notify>,
}

/// The API's routes (see the module's documentation).
pub fn routes(api: Arc<ConfigApi>) -> Router {
    let read = TenantLayer::new(Access::Read, reject_tenant);
    let write = TenantLayer::new(Access::Write, reject_tenant);
    Router::new()
        .route(PATH, get(list_all).layer(read))
        .route(
            &format!("{PATH}/{{namespace}}"),
            get(list_namespace)
                .layer(read)
                .merge(post(create).layer(write))
                .merge(delete(delete_namespace).layer(write)),
        )
        .route(
            &format!("{PATH}/{{namespace}}/{{group}}"),
            get(get_group).layer(read).merge(delete(delete_group).layer(write)),
        )
        .with_state(api)
}

/// An error in the API's JSON shape.
fn json_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({"status": "error", "data": null, "errorType": error_type, "error": message});
    (status, axum::Json(body)).into_response()
}

fn reject_tenant(_: &HeaderMap, why: Rejection) -> Response {
    json_error(StatusCode::BAD_REQUEST, "bad_data", &why.to_string())
}

/// A refusal as one line of plain text.
fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

fn yaml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], body).into_response()
}

/// A change accepted: stored, and applied by the ruler shortly.
fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"success","data":null,"errorType":"","error":""}"#,
    )
        .into_response()
}

impl IntoResponse for StoreError {
    fn into_response(self) -> Response {
        tracing::warn!(error = %self, "rule configuration API");
        json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &self.to_string())
    }
}

/// Namespaces as the API writes them: `namespace: [group, …]`.
fn namespaces_yaml(namespaces: &Namespaces) -> String {
    let mut map = serde_yaml::Mapping::new();
    for (ns, groups) in namespaces {
        let groups = groups
            .iter()
            .map(|g| serde_yaml::from_str(&g.to_yaml()).unwrap_or(serde_yaml::Value::Null))
            .collect();
        map.insert(ns.clone().into(), serde_yaml::Value::Sequence(groups));
    }
    serde_yaml::to_string(&map).unwrap_or_default()
}

async fn list_all(State(api): State<Arc<ConfigApi>>, tenant: Tenant) -> Result<Response, StoreError> {
    Ok(yaml(namespaces_yaml(&api.store.list(&tenant, None).await?)))
}

async fn list_namespace(
    State(api): State<Arc<ConfigApi>>,
    tenant: Tenant,
    Path(namespace): Path<String>,
) -> Result<Response, StoreError> {
    Ok(yaml(namespaces_yaml(&api.store.list(&tenant, Some(&namespace)).await?)))
}

async fn get_group(
    State(api): State<Arc<ConfigApi>>,
    tenant: Tenant,
    Path((namespace, group)): Path<(String, String)>,
) -> Result<Response, StoreError> {
    Ok(match api.store.get(&tenant, &namespace, &group).await? {
        Some(g) => yaml(g.to_yaml()),
        None => text(StatusCode::NOT_FOUND, "group does not exist"),
    })
}

async fn create(
    State(api): State<Arc<ConfigApi>>,
    tenant: Tenant,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Result<Response, StoreError> {
    let group = match RuleGroup::parse(&body, &crate::template::check) {
        Ok(g) => g,
        Err(e) => return Ok(text(StatusCode::BAD_REQUEST, &e.0.join(", "))),
    };
    let limits = api.limits.tenant(&tenant);
    let max_rules = limits.ruler_max_rules_per_rule_group;
    if max_rules > 0 && group.rules.len() > max_rules {
        let why = format!(
            "per-user rules per rule group limit (limit: {max_rules} actual: {}) exceeded",
            group.rules.len()
        );
        return Ok(text(StatusCode::BAD_REQUEST, &why));
    }
    let max_groups = limits.ruler_max_rule_groups_per_tenant;
    if max_groups > 0 && !api.store.exists(&tenant, &namespace, &group.name).await? {
        let after = api.store.count(&tenant).await? + 1;
        if after > max_groups {
            let why = format!("per-user rule groups limit (limit: {max_groups} actual: {after}) exceeded");
            return Ok(text(StatusCode::BAD_REQUEST, &why));
        }
    }
    api.store.put(&tenant, &namespace, &group).await?;
    api.changed.notify_one();
    Ok(accepted())
}

async fn delete_group(
    State(api): State<Arc<ConfigApi>>,
    tenant: Tenant,
    Path((namespace, group)): Path<(String, String)>,
) -> Result<Response, StoreError> {
    if !api.store.delete(&tenant, &namespace, &group).await? {
        return Ok(text(StatusCode::NOT_FOUND, "group does not exist"));
    }
    api.changed.notify_one();
    Ok(accepted())
}

async fn delete_namespace(
    State(api): State<Arc<ConfigApi>>,
    tenant: Tenant,
    Path(namespace): Path<String>,
) -> Result<Response, StoreError> {
    if !api.store.delete_namespace(&tenant, &namespace).await? {
        return Ok(text(StatusCode::NOT_FOUND, "group namespace does not exist"));
    }
    api.changed.notify_one();
    Ok(accepted())
}

#[cfg(test)]
mod tests;
