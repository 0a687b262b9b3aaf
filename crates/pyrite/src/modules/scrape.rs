//! Scraping, part of the distributor: the scrape service reads `--scrape.config-file`
//! at init (a broken file stops the process from starting), starts its jobs once the
//! write path is up, writes every scrape through the distributor's one write path, and
//! reloads on `POST /-/reload` and SIGHUP. In a cluster the scraping distributors form
//! the metadata group's `scrape` pool: each heartbeats to it and scrapes the instants
//! its epochs give it, and one shutting down leaves the pool and scrapes on until the
//! others take over.

use std::sync::Arc;
use std::time::Duration;

use pyrite_distributor::{Distributor, Source};
use pyrite_members::{run_heartbeats, Heartbeat, Registry};
use pyrite_scrape::{Ownership, PoolOwnership, Service, SoleOwner};
use pyrite_storage::{KnownWrite, MetricMetadata};
use tokio::sync::watch;

use super::context::Context;
use super::Module;

/// Scraped series into the write path, as a remote write of `tenant` would go.
struct WritePath(Arc<Distributor>);

#[async_trait::async_trait]
impl pyrite_scrape::Sink for WritePath {
    async fn write(&self, tenant: &str, series: KnownWrite) -> Result<(), String> {
        let outcome = self
            .0
            .push_known(tenant, series, Source::Scrape)
            .await
            .map_err(|e| e.to_string())?;
        match outcome.refused {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        }
    }

    async fn metadata(&self, tenant: &str, metadata: Vec<MetricMetadata>) -> Result<(), String> {
        self.0
            .push_metadata(tenant, metadata, Source::Scrape)
            .await
            .map_err(|e| e.to_string())
    }
}

pub fn init(ctx: &mut Context, dist: Arc<Distributor>) -> anyhow::Result<()> {
    let opts = ctx.cfg.scrape.clone();
    if opts.config_file.is_empty() {
        return Ok(());
    }
    let id = instance_id(ctx);
    let addr = format!("{}:{}", advertised_host(ctx), ctx.cfg.server.http_listen_port);
    // In one process this node is the only scraper; in a cluster the distributors
    // share the targets out through the metadata group's scrape pool.
    let pool = (!ctx.standalone).then(|| {
        let timing = opts.timing();
        let hb = Heartbeat {
            pool: POOL.to_string(),
            id: id.clone(),
            addr: addr.clone(),
            timeout_ms: timing.timeout.as_millis() as i64,
            handoff_ms: timing.handoff().as_millis() as i64,
            leave: false,
        };
        (hb, timing, watch::channel(None))
    });
    let ownership: Arc<dyn Ownership> = match &pool {
        None => Arc::new(SoleOwner::new(addr)),
        Some((_, _, (_, view))) => PoolOwnership::new(id, view.clone()),
    };
    let service = Arc::new(Service::new(&opts, Arc::new(WritePath(dist)), ownership)?);
    ctx.serve_http(pyrite_scrape::api::router(service.manager().clone()));
    let reloader = service.clone();
    ctx.reloaders.push(Arc::new(move || {
        let s = reloader.clone();
        Box::pin(async move { s.reload().await.map_err(|e| e.to_string()) })
    }));
    let tasks = ctx.tasks.clone();
    let registry: Arc<dyn Registry> = Arc::new(ctx.client.clone());
    ctx.on_start(Module::Distributor, async move {
        let leave = match pool {
            Some((hb, timing, (view_tx, _))) => {
                tasks.spawn(run_heartbeats(registry.clone(), hb.clone(), timing, view_tx));
                Some((registry, hb))
            }
            None => None,
        };
        service.run()?;
        tracing::info!(file = %opts.config_file, "scraping");
        tasks.spawn_graceful(move |stopping| async move {
            stopping.cancelled().await;
            if let Some((registry, hb)) = leave {
                hand_over(&*registry, &hb).await;
            }
            // The loops stop without staleness markers: the targets are not gone, this
            // node is.
            service.manager().stop(true);
        });
        Ok(())
    });
    Ok(())
}

/// The pool the scraping distributors form.
const POOL: &str = "scrape";

/// Leaves the scrape pool and keeps scraping until the others take over (the leave's
/// epoch takes effect), so no instant goes unscraped.
async fn hand_over(registry: &dyn Registry, hb: &Heartbeat) {
    let pool = match tokio::time::timeout(Duration::from_secs(2), pyrite_members::leave(registry, hb)).await {
        Ok(Ok(pool)) => pool,
        Ok(Err(e)) => {
            return tracing::warn!(error = %e, "leaving the scrape pool; the others take over once this node expires")
        }
        Err(_) => {
            return tracing::warn!("leaving the scrape pool timed out; the others take over once this node expires")
        }
    };
    let until = pool.epochs.last().map_or(0, |e| e.effective_ms);
    let wait = (until - pyrite_members::now_ms()).clamp(0, hb.handoff_ms);
    tracing::info!(
        wait_ms = wait,
        "left the scrape pool; scraping until the others take over"
    );
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
}

/// This distributor's name in the scrape pool.
fn instance_id(ctx: &Context) -> String {
    match ctx.cfg.scrape.instance_id.as_str() {
        "" => format!("{}:{}", advertised_host(ctx), ctx.cfg.server.http_listen_port),
        id => id.to_string(),
    }
}

/// The host others reach this process's HTTP at: its listen address, or the host's
/// name when it listens on every interface.
fn advertised_host(ctx: &Context) -> String {
    match ctx.cfg.server.http_listen_address.as_str() {
        "" | "0.0.0.0" | "::" => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string()),
        h => h.to_string(),
    }
}
