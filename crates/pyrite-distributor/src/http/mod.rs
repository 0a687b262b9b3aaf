//! `POST /api/v1/push` and `/api/v1/write`.
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
use pyrite_model::{validate_tenant, DEFAULT_TENANT, TENANT_HEADER};
use pyrite_storage::AppendError;

use crate::decode::{decode_write_request, negotiate, Protocol};
use crate::validate::{check_timestamps, validate_series};
use crate::{Distributor, PushError};

/// The remote-write routes.
pub fn routes(dist: Arc<Distributor>) -> Router {
    Router::new()
        .route("/api/v1/push", post(push))
        .route("/api/v1/write", post(push))
        // The body size limit is ours (a 400 with a clear message), not the framework's.
        .layer(DefaultBodyLimit::disable())
        .with_state(dist)
}

fn tenant(headers: &HeaderMap) -> Result<String, PushError> {
    let Some(v) = headers.get(TENANT_HEADER) else {
        return Ok(DEFAULT_TENANT.to_string());
    };
    let v = v
        .to_str()
        .map_err(|_| PushError::bad(format!("{TENANT_HEADER} header is not valid text")))?;
    if v.contains('|') {
        return Err(PushError::bad("multi-tenant writes are not supported"));
    }
    validate_tenant(v).map_err(|e| PushError::bad(e.to_string()))?;
    Ok(v.to_string())
}

/// What a push wrote, for the remote-write 2.0 response headers.
#[derive(Default)]
struct Written {
    /// Float samples.
    samples: u64,
    /// Native histograms.
    histograms: u64,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn push(State(d): State<Arc<Distributor>>, headers: HeaderMap, body: Body) -> Response {
    let protocol = negotiate(
        header(&headers, "content-type").as_deref(),
        header(&headers, "content-encoding").as_deref(),
    );
    let mut written = Written::default();
    let result = match &protocol {
        Ok(p) => handle(&d, &headers, *p, body, &mut written).await,
        Err(e) => Err(e.clone()),
    };
    let mut resp = match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!(error = %e, "remote write failed");
            } else {
                tracing::debug!(error = %e, "remote write refused");
            }
            (e.status(), format!("{e}\n")).into_response()
        }
    };
    if matches!(protocol, Ok(Protocol::V2)) {
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

async fn handle(
    d: &Distributor,
    headers: &HeaderMap,
    protocol: Protocol,
    body: Body,
    written: &mut Written,
) -> Result<(), PushError> {
    let tenant = tenant(headers)?;
    let limit = d.limits.max_request_body_bytes;
    let body = axum::body::to_bytes(body, limit.saturating_add(1)).await.map_err(|_| {
        PushError::bad(format!(
            "request body exceeds the limit of {limit} bytes (max_request_body_bytes)"
        ))
    })?;
    let decoded = decode_write_request(protocol, &body, &d.limits)?;
    let tl = vec![("tenant".to_string(), tenant.clone())];
    d.metrics.received_requests.get_or_create(&tl).inc();

    let n_series = decoded.series.len();
    let n_samples: usize = decoded
        .series
        .iter()
        .map(|s| s.samples.len() + s.histograms.len())
        .sum();
    if d.limits.max_series_per_request > 0 && n_series > d.limits.max_series_per_request {
        return Err(PushError::bad(format!(
            "request has {n_series} series, more than the limit of {} (max_series_per_request)",
            d.limits.max_series_per_request
        )));
    }
    if d.limits.max_samples_per_request > 0 && n_samples > d.limits.max_samples_per_request {
        return Err(PushError::bad(format!(
            "request has {n_samples} samples, more than the limit of {} (max_samples_per_request)",
            d.limits.max_samples_per_request
        )));
    }

    let mut valid = Vec::with_capacity(n_series);
    let mut first_invalid: Option<String> = None;
    let mut invalid_series = 0usize;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    for raw in decoded.series {
        let samples = raw.samples.len() as u64 + raw.histograms.len() as u64;
        let checked = check_timestamps(&raw, &d.limits, now_ms).and_then(|()| validate_series(raw, &d.limits));
        match checked {
            Ok(ts) => valid.push(ts),
            Err(inv) => {
                invalid_series += 1;
                let labels = vec![
                    ("tenant".to_string(), tenant.clone()),
                    ("reason".to_string(), inv.reason.to_string()),
                ];
                d.metrics.discarded_samples.get_or_create(&labels).inc_by(samples);
                first_invalid.get_or_insert(inv.message);
            }
        }
    }
    let valid_samples: usize = valid.iter().map(|s| s.num_samples()).sum();
    d.metrics
        .received_samples
        .get_or_create(&tl)
        .inc_by(valid_samples as u64);

    if !valid.is_empty() {
        let outcome = d.store.append(&tenant, valid).await.map_err(|e| match e {
            AppendError::Limit(m) => PushError::TooManyRequests(m),
            AppendError::Unavailable(m) => PushError::Unavailable(m),
            AppendError::Internal(m) => PushError::Internal(m),
        })?;
        written.histograms = outcome.histograms_written;
        written.samples = outcome.samples_written.saturating_sub(outcome.histograms_written);
        if outcome.samples_rejected > 0 {
            let labels = vec![
                ("tenant".to_string(), tenant.clone()),
                ("reason".to_string(), "refused_by_store".to_string()),
            ];
            d.metrics
                .discarded_samples
                .get_or_create(&labels)
                .inc_by(outcome.samples_rejected);
            let mut msg = format!(
                "{} of {valid_samples} samples were refused: {}",
                outcome.samples_rejected,
                outcome.rejections.join("; ")
            );
            if let Some(inv) = first_invalid {
                msg.push_str(&format!("; also {invalid_series} invalid series, first: {inv}"));
            }
            return Err(PushError::BadRequest(msg));
        }
    }
    match first_invalid {
        Some(inv) if invalid_series == 1 => Err(PushError::BadRequest(inv)),
        Some(inv) => Err(PushError::BadRequest(format!(
            "{invalid_series} invalid series refused; first: {inv}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
