//! `POST /api/v1/push` and `/api/v1/write`: remote write's door to the write pipeline.
//! The handler reads the body within its limit, negotiates and decodes the protocol,
//! calls [`Distributor::push`] (then [`Distributor::push_metadata`] with the request's
//! metric metadata), and turns the outcome into the HTTP answer; the tenant comes from
//! the tenant layer.
//!
//! A remote-write 2.0 answer carries what the store took, as the 2.0 spec asks:
//! `X-Prometheus-Remote-Write-Samples-Written` counts float samples,
//! `…-Histograms-Written` native histograms, and `…-Exemplars-Written` exemplars. Pyrite
//! keeps no exemplars (they are decoded and dropped), so that last one is always 0 — the
//! truth, where Prometheus without exemplar storage counts them as written anyway. A
//! sender that reads the headers then knows its exemplars were not kept.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use pyrite_tenant::{Access, Rejection, Tenant, TenantLayer};

use crate::decode::{decode_write_request, negotiate, Protocol};
use crate::pipeline::{Source, Written};
use crate::{Distributor, PushError};

/// The remote-write routes.
pub fn routes(dist: Arc<Distributor>) -> Router {
    Router::new()
        .route("/api/v1/push", post(push))
        .route("/api/v1/write", post(push))
        .route_layer(TenantLayer::new(Access::Write, reject_tenant))
        // The body size limit is ours (a 400 with a clear message), not the framework's.
        .layer(DefaultBodyLimit::disable())
        .with_state(dist)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn protocol(headers: &HeaderMap) -> Result<Protocol, PushError> {
    negotiate(
        header(headers, "content-type").as_deref(),
        header(headers, "content-encoding").as_deref(),
    )
}

/// A refused tenant header: an unsupported media type is still named first, and a 2.0
/// sender still gets its (zero) written counts.
fn reject_tenant(headers: &HeaderMap, why: Rejection) -> Response {
    let protocol = protocol(headers);
    let err = match &protocol {
        Ok(_) => PushError::bad(why.to_string()),
        Err(e) => e.clone(),
    };
    answer(protocol.ok(), Written::default(), Some(err))
}

async fn push(State(d): State<Arc<Distributor>>, tenant: Tenant, headers: HeaderMap, body: Body) -> Response {
    let protocol = match protocol(&headers) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(tenant = %tenant, error = %e, "remote write refused");
            return answer(None, Written::default(), Some(e));
        }
    };
    let (written, refused) = match receive(&d, &tenant, protocol, body).await {
        Ok(outcome) => (outcome.written, outcome.refused),
        Err(e) => (Written::default(), Some(e)),
    };
    answer(Some(protocol), written, refused)
}

/// Reads and decodes the body, then pushes it (the pipeline logs its own refusals).
async fn receive(
    d: &Distributor,
    tenant: &Tenant,
    protocol: Protocol,
    body: Body,
) -> Result<crate::PushOutcome, PushError> {
    let decoded = decode(d, protocol, body).await.inspect_err(|e| {
        tracing::debug!(tenant = %tenant, error = %e, "remote write refused");
    })?;
    let outcome = d.push(tenant, decoded.series, Source::RemoteWrite).await?;
    d.push_metadata(tenant, decoded.metadata, Source::RemoteWrite).await?;
    Ok(outcome)
}

/// The body, read within `max_request_body_bytes` and decoded.
async fn decode(d: &Distributor, protocol: Protocol, body: Body) -> Result<crate::DecodedWrite, PushError> {
    let config = d.config();
    let limit = config.max_request_body_bytes;
    let body = axum::body::to_bytes(body, limit.saturating_add(1)).await.map_err(|_| {
        PushError::bad(format!(
            "request body exceeds the limit of {limit} bytes (max_request_body_bytes)"
        ))
    })?;
    decode_write_request(protocol, &body, config)
}

/// 204, or the refusal's status and message; a 2.0 answer carries the written counts.
fn answer(protocol: Option<Protocol>, written: Written, refused: Option<PushError>) -> Response {
    let mut resp = match refused {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(e) => (e.status(), format!("{e}\n")).into_response(),
    };
    if protocol == Some(Protocol::V2) {
        let h = resp.headers_mut();
        h.insert(
            "X-Prometheus-Remote-Write-Samples-Written",
            HeaderValue::from(written.samples),
        );
        h.insert(
            "X-Prometheus-Remote-Write-Histograms-Written",
            HeaderValue::from(written.histograms),
        );
        // Exemplars are not stored (see the module's comment).
        h.insert("X-Prometheus-Remote-Write-Exemplars-Written", HeaderValue::from(0u64));
    }
    resp
}

#[cfg(test)]
mod tests;
