//! The `pyrite` binary: parses flags and configuration, starts the components its
//! `--target` names, serves HTTP, and shuts down gracefully on SIGTERM or SIGINT;
//! `pyrite test rules FILE...` runs rule unit tests instead.

mod admin;
mod blocks;
mod config;
mod expand;
mod help;
mod metrics;
mod modules;
mod ring_http;
mod server;
mod test_rules;

use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, Invocation, LogFormat};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match config::from_args(&args)? {
        Invocation::Run(cfg) => *cfg,
        Invocation::Help(text) => {
            print!("{text}");
            return Ok(());
        }
        Invocation::Version => {
            println!("pyrite {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Invocation::TestRules(files) => std::process::exit(test_rules::run(&files)?),
    };
    init_logging(&cfg)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pyrite")
        .build()
        .context("starting the async runtime")?
        .block_on(run(cfg))
}

fn init_logging(cfg: &Config) -> anyhow::Result<()> {
    // openraft narrates every election and membership step at info; Pyrite logs what
    // matters of those itself, so a plain level keeps openraft to warnings.
    let directive = match cfg.log.level.as_str() {
        level @ ("info" | "warn" | "error") => format!("{level},openraft=warn"),
        other => other.to_string(),
    };
    let filter = EnvFilter::try_new(&directive).with_context(|| format!("invalid --log.level {:?}", cfg.log.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Logfmt => builder.init(),
    }
    Ok(())
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    let modules = modules::resolve(&cfg.target, cfg.cluster.enabled())?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(metrics::ProcessCollector::new()));
    let http_metrics = metrics::HttpMetrics::register(&mut registry);
    let shared = Arc::new(server::Shared {
        ready: AtomicBool::new(false),
        registry,
        component_registry: OnceLock::new(),
        config_yaml: serde_yaml::to_string(&cfg).context("printing the effective config")?,
        components: OnceLock::new(),
    });

    let s = &cfg.server;
    let (listener, addr) = modules::context::listen(&s.http_listen_address, s.http_listen_port, "HTTP").await?;
    tracing::info!(%addr, target = %cfg.target, data_dir = %cfg.data.dir.display(), "Pyrite starting");

    let app = server::router(shared.clone(), http_metrics.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shutdown_signal(stop.clone()));
    let mut server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );

    // Modules start while /ready already answers (503 until they are up).
    let mut started = modules::start(&cfg, modules.clone()).await?;
    let _ = shared.component_registry.set(std::mem::take(&mut started.registry));
    let _ = shared
        .components
        .set(server::instrument(std::mem::take(&mut started.router), http_metrics));
    shared.ready.store(true, Ordering::Release);
    tracing::info!(modules = ?modules, "Pyrite is ready");

    // After a signal, shutdown as a whole gets the grace period: requests under way
    // first, then the modules, each step within what is left of it.
    let grace = cfg.server.graceful_shutdown_timeout.0;
    let signalled = tokio::spawn({
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            tokio::time::Instant::now()
        }
    });
    let served = tokio::select! {
        served = &mut server => served.context("HTTP server task failed")?,
        _ = async { stop.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(?grace, "HTTP requests still running after the grace period; closing them");
            server.abort();
            Ok(())
        }
    };
    stop.cancel();
    let deadline = signalled.await.context("shutdown signal task failed")? + grace;
    tracing::info!("HTTP server stopped; shutting down modules");
    shared.ready.store(false, Ordering::Release);
    started.shutdown(deadline).await;
    served.context("HTTP server failed")
}

/// Cancels `stop` on SIGTERM or SIGINT.
async fn shutdown_signal(stop: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
    }
    stop.cancel();
}
