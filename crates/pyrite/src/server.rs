//! The HTTP server every target shares: `/ready`, `/metrics`, `/config`, and the
//! components' routes once they have started. Until then (log replay can take a while)
//! `/ready` and every component route answer 503, so load balancers and senders wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tower::ServiceExt;

use crate::metrics::{observe, HttpMetrics};

/// State the always-on endpoints share with start-up.
pub struct Shared {
    pub ready: AtomicBool,
    /// Metrics of the process itself, scrapeable from the first moment.
    pub registry: Registry,
    /// Metrics the components registered while starting.
    pub component_registry: OnceLock<Registry>,
    pub config_yaml: String,
    /// Component routes, set once start-up finished.
    pub components: OnceLock<Router>,
}

/// Wraps component routes so their requests are timed under their own route names.
pub fn instrument(components: Router, http_metrics: HttpMetrics) -> Router {
    components.route_layer(axum::middleware::from_fn_with_state(http_metrics, observe))
}

pub fn router(shared: Arc<Shared>, http_metrics: HttpMetrics) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .route_layer(axum::middleware::from_fn_with_state(http_metrics, observe))
        .fallback(components)
        .with_state(shared)
}

async fn ready(State(s): State<Arc<Shared>>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: starting\n").into_response()
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let mut body = String::new();
    let registries = std::iter::once(&s.registry).chain(s.component_registry.get());
    for r in registries {
        if let Err(e) = prometheus_client::encoding::text::encode_registry(&mut body, r) {
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {e}\n")).into_response();
        }
    }
    if let Err(e) = prometheus_client::encoding::text::encode_eof(&mut body) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {e}\n")).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn config(State(s): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/yaml; charset=utf-8")],
        s.config_yaml.clone(),
    )
        .into_response()
}

async fn components(State(s): State<Arc<Shared>>, req: Request<Body>) -> Response {
    match s.components.get() {
        Some(r) => match r.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        },
        None => (StatusCode::SERVICE_UNAVAILABLE, "Pyrite is starting; retry shortly\n").into_response(),
    }
}
