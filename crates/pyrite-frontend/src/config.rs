//! The frontend's settings, with their defaults (the binary prints and parses them as
//! `query_frontend:` in YAML and `--query-frontend.*` flags).

use pyrite_config::Duration;
use pyrite_limits::{Overrides, PerTenant, TenantLimits};
use serde::{Deserialize, Serialize};

/// Everything the query frontend can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendConfig {
    /// Range queries are split into parts of this length, aligned to its multiples
    /// (UTC), run in parallel and merged; 0s does not split.
    pub split_interval: Duration,
    /// Moves a range query's start and end down to multiples of its step (as Grafana
    /// does), so refreshed dashboards reuse cached parts. Off: answers carry exactly the
    /// requested timestamps.
    pub align_queries_with_step: bool,
    /// Caches the results of range queries' parts.
    pub cache_results: bool,
    /// `inmemory` (an LRU within this process) or `none`.
    pub results_cache_backend: ResultsCacheBackend,
    /// Byte budget of the in-memory results cache.
    pub results_cache_max_size_bytes: u64,
    /// Steps younger than this are never cached (their data may still arrive).
    pub max_cache_freshness: Duration,
    /// Query shards a shardable aggregation is split into; 0 or 1 turns sharding off.
    pub query_shards: u32,
    /// Most requests a tenant may have waiting in the queue; more are refused with 429.
    pub max_outstanding_requests_per_tenant: usize,
    /// Most parts (splits × shards) of one query in flight at once, per tenant query.
    pub max_query_parallelism: usize,
    /// Per-tenant overrides of `max_query_parallelism`: `tenant=n` pairs, comma-separated.
    pub tenant_max_query_parallelism: PerTenant<usize>,
    /// Longest range a query may cover (end − start); 0s: unlimited.
    pub max_total_query_length: Duration,
    /// Per-tenant overrides of `max_total_query_length`: `tenant=duration` pairs,
    /// comma-separated (`team-a=7d,team-b=0s`).
    pub tenant_max_total_query_length: PerTenant<Duration>,
    /// How often a failed part is retried (on a querier error or lost querier).
    pub max_retries: u32,
    /// Longest a request to a querier may take, waiting in the queue included (then 503).
    pub queue_timeout: Duration,
}

impl Default for FrontendConfig {
    fn default() -> Self {
        let t = TenantLimits::default();
        Self {
            split_interval: Duration::from_secs(24 * 3600),
            align_queries_with_step: false,
            cache_results: true,
            results_cache_backend: ResultsCacheBackend::Inmemory,
            results_cache_max_size_bytes: 256 << 20,
            max_cache_freshness: Duration::from_secs(10 * 60),
            query_shards: 4,
            max_outstanding_requests_per_tenant: 100,
            max_query_parallelism: t.max_query_parallelism,
            tenant_max_query_parallelism: PerTenant::default(),
            max_total_query_length: t.max_total_query_length,
            tenant_max_total_query_length: PerTenant::default(),
            max_retries: 5,
            queue_timeout: Duration::from_secs(120),
        }
    }
}

/// Where the results cache lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultsCacheBackend {
    /// An LRU within this process.
    Inmemory,
    /// No results cache.
    #[serde(alias = "")]
    None,
}

impl FrontendConfig {
    /// Checks what reading the configuration could not: nothing yet, since durations
    /// and per-tenant overrides are parsed as they are read.
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// Sets the query limits' defaults every tenant starts from.
    pub fn tenant_defaults(&self, l: &mut TenantLimits) {
        l.max_query_parallelism = self.max_query_parallelism;
        l.max_total_query_length = self.max_total_query_length;
    }

    /// Adds the tenants' own query limits.
    pub fn tenant_overrides(&self, o: Overrides) -> Overrides {
        o.set(&self.tenant_max_query_parallelism, |l, v| l.max_query_parallelism = v)
            .set(&self.tenant_max_total_query_length, |l, v| l.max_total_query_length = v)
    }

    /// The limits of this configuration alone (a frontend that shares no limits).
    pub fn limits(&self) -> pyrite_limits::Limits {
        let mut defaults = TenantLimits::default();
        self.tenant_defaults(&mut defaults);
        pyrite_limits::Limits::new(self.tenant_overrides(Overrides::new(defaults)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_overrides_apply_to_their_tenant_only() {
        let c = FrontendConfig {
            tenant_max_query_parallelism: "team-a=2".parse().unwrap(),
            tenant_max_total_query_length: "team-b=7d".parse().unwrap(),
            ..FrontendConfig::default()
        };
        c.validate().unwrap();
        let limits = c.limits();
        assert_eq!(limits.max_query_parallelism("team-a"), 2);
        assert_eq!(limits.max_query_parallelism("team-b"), 14);
        assert_eq!(limits.max_total_query_length("team-b"), Duration::from_secs(7 * 86_400));
        assert_eq!(limits.max_total_query_length("other"), Duration::ZERO);
        let bad: Result<FrontendConfig, _> = serde_yaml::from_str("tenant_max_query_parallelism: team-a");
        assert!(bad.unwrap_err().to_string().contains("\"team-a\" is not tenant=value"));
    }

    #[test]
    fn the_cache_backend_is_a_choice() {
        let c: FrontendConfig = serde_yaml::from_str("results_cache_backend: none").unwrap();
        assert_eq!(c.results_cache_backend, ResultsCacheBackend::None);
        let c: FrontendConfig = serde_yaml::from_str("results_cache_backend: ''").unwrap();
        assert_eq!(c.results_cache_backend, ResultsCacheBackend::None);
        let e = serde_yaml::from_str::<FrontendConfig>("results_cache_backend: redis").unwrap_err();
        assert!(e.to_string().contains("unknown variant `redis`"), "{e}");
    }
}
