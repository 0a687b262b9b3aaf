//! Pyrite's own metrics on `/metrics`: process figures, the head's size and counters,
//! and HTTP request durations. Components register their own metrics on the same
//! registry.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use pyrite_tsdb::Head;

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

/// CPU, memory and start time of this process, read from `/proc` at scrape time.
#[derive(Debug)]
pub struct ProcessCollector {
    start_time: f64,
}

impl ProcessCollector {
    pub fn new() -> Self {
        let start_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self { start_time }
    }
}

/// (cpu seconds, resident bytes) from /proc/self/stat, where available.
fn proc_self() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on every Linux platform Pyrite targets
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let rss_pages: f64 = fields.get(21)?.parse().ok()?;
    Some(((utime + stime) / ticks, rss_pages * 4096.0))
}

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        gauge(
            &mut enc,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            self.start_time,
        )?;
        if let Some((cpu, rss)) = proc_self() {
            let c = ConstCounter::new(cpu);
            c.encode(enc.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                c.metric_type(),
            )?)?;
            gauge(
                &mut enc,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                rss,
            )?;
        }
        Ok(())
    }
}

/// The heads' size and what they took or refused, read at scrape time: every shard
/// replica's head of this process, summed.
pub struct HeadCollector(pub Box<dyn Fn() -> Vec<Arc<Head>> + Send + Sync>);

impl std::fmt::Debug for HeadCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadCollector")
    }
}

impl prometheus_client::collector::Collector for HeadCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let heads = (self.0)();
        let mut st = pyrite_tsdb::HeadStats::default();
        for h in &heads {
            let s = h.stats();
            st.series += s.series;
            // A tenant has series in most shards: count it once.
            st.tenants = st.tenants.max(s.tenants);
            st.samples += s.samples;
            st.chunk_bytes += s.chunk_bytes;
        }
        gauge(
            &mut enc,
            "pyrite_ingester_memory_series",
            "Series in the head.",
            st.series as f64,
        )?;
        gauge(
            &mut enc,
            "pyrite_ingester_memory_tenants",
            "Tenants with series in the head.",
            st.tenants as f64,
        )?;
        gauge(
            &mut enc,
            "pyrite_ingester_head_samples",
            "Samples held in the head.",
            st.samples as f64,
        )?;
        gauge(
            &mut enc,
            "pyrite_ingester_head_chunk_bytes",
            "Encoded bytes of the head's chunks.",
            st.chunk_bytes as f64,
        )?;
        let sum = |f: fn(&pyrite_tsdb::HeadCounters) -> &std::sync::atomic::AtomicU64| -> u64 {
            heads.iter().map(|h| f(h.counters()).load(Ordering::Relaxed)).sum()
        };
        counter(
            &mut enc,
            "pyrite_ingester_ingested_samples",
            "Samples appended to the head.",
            sum(|c| &c.samples_appended),
        )?;
        counter(
            &mut enc,
            "pyrite_ingester_series_created",
            "Series created in the head.",
            sum(|c| &c.series_created),
        )?;
        let refused = [
            ("sample_out_of_order", sum(|c| &c.samples_out_of_order)),
            ("sample_too_old", sum(|c| &c.samples_too_old)),
            ("sample_out_of_bounds", sum(|c| &c.samples_out_of_bounds)),
            ("sample_duplicate_timestamp", sum(|c| &c.samples_duplicate_timestamp)),
            ("per_tenant_series_limit", sum(|c| &c.series_limited)),
        ];
        let mut fam = enc.encode_descriptor(
            "pyrite_ingester_refused_samples",
            "Samples the head refused, by reason.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (reason, v) in refused {
            let labels = [("reason", reason)];
            ConstCounter::new(v).encode(fam.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status_code: u16,
}

/// Time taken by HTTP requests, by route and status.
#[derive(Clone)]
pub struct HttpMetrics {
    durations: Family<RequestLabels, Histogram>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let durations = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 4.0, 9))
        });
        registry.register(
            "pyrite_request_duration_seconds",
            "Time taken to answer HTTP requests.",
            durations.clone(),
        );
        Self { durations }
    }
}

/// Middleware observing every request's duration.
pub async fn observe(State(m): State<HttpMetrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    m.durations
        .get_or_create(&RequestLabels {
            method,
            route,
            status_code: resp.status().as_u16(),
        })
        .observe(start.elapsed().as_secs_f64());
    resp
}
