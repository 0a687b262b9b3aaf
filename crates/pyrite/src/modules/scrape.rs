//! Scraping, part of the distributor: the scrape service reads `--scrape.config-file`
//! at init (a broken file stops the process from starting), starts its jobs once the
//! write path is up, writes every scrape through the distributor's one write path, and
//! reloads on `POST /-/reload` and SIGHUP.

use std::sync::Arc;

use pyrite_distributor::{Distributor, RawSeries, Source, WireHistogram};
use pyrite_model::histogram::CounterResetHint;
use pyrite_model::{FloatHistogram, TimeSeries};
use pyrite_scrape::{Service, SoleOwner};

use super::context::Context;
use super::Module;

/// Scraped series into the write path, as a remote write of `tenant` would go.
struct WritePath(Arc<Distributor>);

#[async_trait::async_trait]
impl pyrite_scrape::Sink for WritePath {
    async fn write(&self, tenant: &str, series: Vec<TimeSeries>) -> Result<(), String> {
        let raw = series
            .into_iter()
            .map(|s| RawSeries {
                labels: s.labels.into_vec(),
                samples: s.samples,
                histograms: s.histograms.into_iter().map(|(t, h)| wire(t, h)).collect(),
                exemplars: 0,
            })
            .collect();
        let outcome = self
            .0
            .push(tenant, raw, Source::Scrape)
            .await
            .map_err(|e| e.to_string())?;
        match outcome.refused {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        }
    }
}

/// A scraped native histogram as the write path takes one: float counts, absolute.
fn wire(timestamp: i64, h: FloatHistogram) -> WireHistogram {
    WireHistogram {
        count_int: None,
        count_float: Some(h.count),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count_int: None,
        zero_count_float: Some(h.zero_count),
        negative_spans: h.negative_spans,
        negative_deltas: Vec::new(),
        negative_counts: h.negative_buckets,
        positive_spans: h.positive_spans,
        positive_deltas: Vec::new(),
        positive_counts: h.positive_buckets,
        reset_hint: match h.counter_reset_hint {
            CounterResetHint::Unknown => 0,
            CounterResetHint::Reset => 1,
            CounterResetHint::NotReset => 2,
            CounterResetHint::Gauge => 3,
        },
        timestamp,
        custom_values: h.custom_values,
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
