//! Scraping, part of the distributor: the scrape service reads `--scrape.config-file`
//! at init (a broken file stops the process from starting), starts its jobs once the
//! write path is up, writes every scrape through the distributor's one write path, and
//! reloads on `POST /-/reload` and SIGHUP. In a cluster the scraping distributors form
//! the metadata group's `scrape` pool: each heartbeats to it and scrapes the instants
//! its epochs give it, and one shutting down leaves the pool and scrapes on until the
//! others take over.

use std::sync::Arc;

use pyrite_distributor::{Distributor, Source};
use pyrite_members::Registry;
use pyrite_scrape::{Ownership, Service, SoleOwner};
use pyrite_storage::{KnownWrite, MetricMetadata};

use super::context::Context;
use super::{pool, Module};

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
    let addr = pool::http_addr(ctx);
    // In one process this node is the only scraper; in a cluster the distributors
    // share the targets out through the metadata group's scrape pool.
    let member = (!ctx.standalone).then(|| {
        pool::Member::new(
            POOL,
            pool::member_id(ctx, &opts.instance_id),
            addr.clone(),
            opts.timing(),
        )
    });
    let ownership: Arc<dyn Ownership> = match &member {
        None => Arc::new(SoleOwner::new(addr)),
        Some(m) => m.ownership.clone(),
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
        let leaver = member.map(|m| m.start(&tasks, registry));
        service.run()?;
        tracing::info!(file = %opts.config_file, "scraping");
        tasks.spawn_graceful(move |stopping| async move {
            stopping.cancelled().await;
            if let Some(leaver) = leaver {
                leaver.hand_over().await;
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
