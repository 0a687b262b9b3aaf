//! The frontend's own metrics, by tenant: queue length, results-cache use, how many
//! parts splitting and sharding made, and how long queries took.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub type TenantLabels = Vec<(String, String)>;

pub fn tenant(t: &str) -> TenantLabels {
    vec![("tenant".to_string(), t.to_string())]
}

/// Histograms by label set, each with the frontend's buckets.
pub type Histograms = Family<Vec<(String, String)>, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

#[derive(Clone)]
pub struct FrontendMetrics {
    pub queue_length: Family<TenantLabels, Gauge>,
    pub discarded_requests: Family<TenantLabels, Counter>,
    pub cache_requests: Family<TenantLabels, Counter>,
    pub cache_hits: Family<TenantLabels, Counter>,
    pub split_queries: Family<TenantLabels, Counter>,
    pub sharded_queries: Family<TenantLabels, Counter>,
    pub shard_queries: Family<TenantLabels, Counter>,
    pub retries: Family<TenantLabels, Counter>,
    pub query_duration: Histograms,
    pub queue_duration: Histograms,
    pub connected_workers: Gauge,
}

impl Default for FrontendMetrics {
    fn default() -> Self {
        Self {
            queue_length: Family::default(),
            discarded_requests: Family::default(),
            cache_requests: Family::default(),
            cache_hits: Family::default(),
            split_queries: Family::default(),
            sharded_queries: Family::default(),
            shard_queries: Family::default(),
            retries: Family::default(),
            query_duration: Family::new_with_constructor(duration_histogram),
            queue_duration: Family::new_with_constructor(duration_histogram),
            connected_workers: Gauge::default(),
        }
    }
}

impl FrontendMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("pyrite_query_frontend");
        r.register(
            "queue_length",
            "Requests waiting for a querier, by tenant.",
            m.queue_length.clone(),
        );
        r.register(
            "discarded_requests",
            "Requests refused because the tenant's queue was full (429), by tenant.",
            m.discarded_requests.clone(),
        );
        r.register(
            "results_cache_requests",
            "Range-query parts looked up in the results cache, by tenant.",
            m.cache_requests.clone(),
        );
        r.register(
            "results_cache_hits",
            "Range-query parts answered wholly from the results cache, by tenant.",
            m.cache_hits.clone(),
        );
        r.register(
            "split_queries",
            "Parts range queries were split into, by tenant.",
            m.split_queries.clone(),
        );
        r.register(
            "sharded_queries",
            "Queries (or parts) run sharded, by tenant.",
            m.sharded_queries.clone(),
        );
        r.register(
            "shard_queries",
            "Shard-local queries sent to queriers, by tenant.",
            m.shard_queries.clone(),
        );
        r.register(
            "retries",
            "Requests sent again after a querier failed or went away, by tenant.",
            m.retries.clone(),
        );
        r.register(
            "query_duration_seconds",
            "Time to answer a query through the frontend, by tenant and endpoint.",
            m.query_duration.clone(),
        );
        r.register(
            "queue_duration_seconds",
            "Time requests waited for a querier, by tenant.",
            m.queue_duration.clone(),
        );
        r.register(
            "connected_workers",
            "Querier workers connected and ready for work.",
            m.connected_workers.clone(),
        );
        m
    }
}
