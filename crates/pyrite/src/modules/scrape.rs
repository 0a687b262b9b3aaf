//! Scraping, part of the distributor: the scrape service reads `--scrape.config-file`
//! at init (a broken file stops the process from starting), starts its jobs once the
//! write path is up, writes every scrape through the distributor's one write path, and
//! reloads on `POST /-/reload` and SIGHUP.

use std::sync::Arc;

use pyrite_distributor::{Distributor, Source};
use pyrite_scrape::{Service, SoleOwner};
use pyrite_storage::KnownWrite;

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
}

pub fn init(ctx: &mut Context, dist: Arc<Distributor>) -> anyhow::Result<()> {
    let opts = ctx.cfg.scrape.clone();
    if opts.config_file.is_empty() {
        return Ok(());
    }
    let node = ctx.cfg.server.http_listen_address.clone() + ":" + &ctx.cfg.server.http_listen_port.to_string();
    let service = Arc::new(Service::new(
        &opts,
        Arc::new(WritePath(dist)),
        Arc::new(SoleOwner::new(node)),
    )?);
    ctx.serve_http(pyrite_scrape::api::router(service.manager().clone()));
    let reloader = service.clone();
    ctx.reloaders.push(Arc::new(move || {
        let s = reloader.clone();
        Box::pin(async move { s.reload().await.map_err(|e| e.to_string()) })
    }));
    let tasks = ctx.tasks.clone();
    ctx.on_start(Module::Distributor, async move {
        service.run()?;
        tracing::info!(file = %opts.config_file, "scraping");
        // At shutdown the loops stop without staleness markers: the targets are not gone,
        // this node is.
        tasks.spawn(async move {
            struct StopOnDrop(Arc<Service>);
            impl Drop for StopOnDrop {
                fn drop(&mut self) {
                    self.0.manager().stop(true);
                }
            }
            let _stop = StopOnDrop(service);
            std::future::pending::<()>().await
        });
        Ok(())
    });
    Ok(())
}
