//! Reloading: modules that read a file of their own (the scrape configuration now; rule
//! files and alertmanager.yml next) register a [`Reloader`]; `POST /-/reload` and SIGHUP
//! run every one of them, as Prometheus's do.
//!
//! The invariant: a reloader that fails leaves its module running as before, and the
//! others are still run; the answer names every failure.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use futures::future::BoxFuture;

/// Reads a module's file again and applies it.
pub type Reloader = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Runs every reloader; the failures, joined, if any.
pub async fn reload_all(reloaders: &[Reloader]) -> Result<(), String> {
    let mut failures = Vec::new();
    for r in reloaders {
        if let Err(e) = r().await {
            failures.push(e);
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(failures.join("; ")),
    }
}

/// `POST /-/reload` (and `PUT`, as Prometheus takes both): 200 when everything
/// reloaded, 500 with the reasons otherwise.
pub fn routes(reloaders: Arc<Vec<Reloader>>) -> Router {
    let handler = move || {
        let reloaders = reloaders.clone();
        async move {
            match reload_all(&reloaders).await {
                Ok(()) => (StatusCode::OK, String::new()),
                Err(e) => {
                    tracing::error!(error = %e, "reload failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("failed to reload config: {e}\n"),
                    )
                }
            }
        }
    };
    Router::new().route("/-/reload", post(handler.clone()).put(handler))
}

/// Reloads on every SIGHUP until the process stops.
pub async fn on_sighup(reloaders: Arc<Vec<Reloader>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match reload_all(&reloaders).await {
            Ok(()) => tracing::info!("reloaded on SIGHUP"),
            Err(e) => tracing::error!(error = %e, "reload on SIGHUP failed; the running configuration stays"),
        }
    }
}
