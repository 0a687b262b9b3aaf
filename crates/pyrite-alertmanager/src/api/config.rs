//! The per-tenant configuration API, in Mimir's shape, at `/api/v1/alerts`: `GET` the
//! tenant's own configuration (404 when it has none and runs the file's, with Mimir's
//! message for a configuration not stored), `POST` one
//! (YAML: `alertmanager_config` as text and `template_files`; 201, or 400 with why),
//! `DELETE` it (200; the tenant goes back to the file's).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pyrite_tenant::Tenant;

use super::{forward, Shared};
use crate::state::TenantConfig;
use crate::tenants::TenantConfigError;

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (status, [("content-type", "text/plain; charset=utf-8")], message.into()).into_response()
}

fn answer(r: Result<(), TenantConfigError>, ok: StatusCode) -> Response {
    match r {
        Ok(()) => ok.into_response(),
        Err(TenantConfigError::Invalid(e)) => text(StatusCode::BAD_REQUEST, e),
        Err(TenantConfigError::Save(e)) => text(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// What Mimir answers when a tenant has no configuration stored.
const NOT_FOUND: &str = "alertmanager storage object not found";

pub(super) async fn get(State(ams): State<Shared>, tenant: Tenant) -> Response {
    match ams.tenant_config(tenant.as_str()) {
        Some(tc) => match serde_yaml::to_string(&tc) {
            Ok(yaml) => ([("content-type", "application/yaml")], yaml).into_response(),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        None => text(StatusCode::NOT_FOUND, format!("{NOT_FOUND}\n")),
    }
}

pub(super) async fn post(State(ams): State<Shared>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(answer) = forward(&ams, &headers, &tenant, Method::POST, "/api/v1/alerts", body.clone()).await {
        return answer.unwrap_or_else(IntoResponse::into_response);
    }
    let tc: TenantConfig = match serde_yaml::from_slice(&body) {
        Ok(tc) => tc,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("error marshalling YAML Alertmanager config: {e}"),
            )
        }
    };
    answer(
        ams.set_tenant_config(tenant.as_str(), Some(tc)).await,
        StatusCode::CREATED,
    )
}

pub(super) async fn delete(State(ams): State<Shared>, tenant: Tenant, headers: HeaderMap) -> Response {
    if let Some(answer) = forward(&ams, &headers, &tenant, Method::DELETE, "/api/v1/alerts", Bytes::new()).await {
        return answer.unwrap_or_else(IntoResponse::into_response);
    }
    answer(ams.set_tenant_config(tenant.as_str(), None).await, StatusCode::OK)
}
