//! The frontend's settings, with their defaults (the binary prints and parses them as
//! `query_frontend:` in YAML and `--query-frontend.*` flags).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Everything the query frontend can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendConfig {
    /// Range queries are split into parts of this length, aligned to its multiples
    /// (UTC), run in parallel and merged; 0s does not split.
    pub split_interval: Millis,
    /// Moves a range query's start and end down to multiples of its step (as Grafana
    /// does), so refreshed dashboards reuse cached parts. Off: answers carry exactly the
    /// requested timestamps.
    pub align_queries_with_step: bool,
    /// Caches the results of range queries' parts.
    pub cache_results: bool,
    /// `inmemory` (an LRU within this process) or `none`.
    pub results_cache_backend: String,
    /// Byte budget of the in-memory results cache.
    pub results_cache_max_size_bytes: u64,
    /// Steps younger than this are never cached (their data may still arrive).
    pub max_cache_freshness: Millis,
    /// Query shards a shardable aggregation is split into; 0 or 1 turns sharding off.
    pub query_shards: u32,
    /// Most requests a tenant may have waiting in the queue; more are refused with 429.
    pub max_outstanding_requests_per_tenant: usize,
    /// Most parts (splits × shards) of one query in flight at once, per tenant query.
    pub max_query_parallelism: usize,
    /// Per-tenant overrides of `max_query_parallelism`: `tenant=n` pairs, comma-separated.
    pub tenant_max_query_parallelism: String,
    /// Longest range a query may cover (end − start); 0s: unlimited.
    pub max_total_query_length: Millis,
    /// Per-tenant overrides of `max_total_query_length`: `tenant=duration` pairs,
    /// comma-separated (`team-a=7d,team-b=0s`).
    pub tenant_max_total_query_length: String,
    /// How often a failed part is retried (on a querier error or lost querier).
    pub max_retries: u32,
    /// Longest a request to a querier may take, waiting in the queue included (then 503).
    pub queue_timeout: Millis,
}

impl Default for FrontendConfig {
    fn default() -> Self {
        Self {
            split_interval: Millis(24 * 3_600_000),
            align_queries_with_step: false,
            cache_results: true,
            results_cache_backend: "inmemory".into(),
            results_cache_max_size_bytes: 256 << 20,
            max_cache_freshness: Millis(10 * 60_000),
            query_shards: 4,
            max_outstanding_requests_per_tenant: 100,
            max_query_parallelism: 14,
            tenant_max_query_parallelism: String::new(),
            max_total_query_length: Millis(0),
            tenant_max_total_query_length: String::new(),
            max_retries: 5,
            queue_timeout: Millis(120_000),
        }
    }
}

/// The limits one tenant's queries run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantLimits {
    pub max_query_parallelism: usize,
    /// Milliseconds; 0: unlimited.
    pub max_total_query_length: i64,
}

fn pairs(s: &str, what: &str) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(t, v)| (t.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("--query-frontend.{what}: {p:?} is not tenant=value"))
        })
        .collect()
}

impl FrontendConfig {
    /// Checks the per-tenant overrides parse.
    pub fn validate(&self) -> Result<(), String> {
        self.limits_checked("")?;
        Ok(())
    }

    /// The limits of `tenant`: its overrides, else the defaults.
    pub fn limits(&self, tenant: &str) -> TenantLimits {
        self.limits_checked(tenant).unwrap_or(TenantLimits {
            max_query_parallelism: self.max_query_parallelism,
            max_total_query_length: self.max_total_query_length.0,
        })
    }

    fn limits_checked(&self, tenant: &str) -> Result<TenantLimits, String> {
        let mut l = TenantLimits {
            max_query_parallelism: self.max_query_parallelism,
            max_total_query_length: self.max_total_query_length.0,
        };
        for (t, v) in pairs(&self.tenant_max_query_parallelism, "tenant-max-query-parallelism")? {
            let n = v
                .parse()
                .map_err(|_| format!("--query-frontend.tenant-max-query-parallelism: {v:?} is not a number"))?;
            if t == tenant {
                l.max_query_parallelism = n;
            }
        }
        for (t, v) in pairs(&self.tenant_max_total_query_length, "tenant-max-total-query-length")? {
            let ms = pyrite_api::parse_duration(&v)
                .map_err(|e| format!("--query-frontend.tenant-max-total-query-length: {v:?}: {e}"))?;
            if t == tenant {
                l.max_total_query_length = ms.max(0);
            }
        }
        l.max_query_parallelism = l.max_query_parallelism.max(1);
        Ok(l)
    }
}

/// A duration in milliseconds, written the PromQL way (`24h`, `10m`, `0s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub i64);

impl Millis {
    pub fn duration(self) -> Duration {
        Duration::from_millis(self.0.max(0) as u64)
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ms = pyrite_api::parse_duration(&s).map_err(serde::de::Error::custom)?;
        if ms < 0 {
            return Err(serde::de::Error::custom(format!("duration {s:?} is negative")));
        }
        Ok(Millis(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_overrides_apply_to_their_tenant_only() {
        let c = FrontendConfig {
            tenant_max_query_parallelism: "team-a=2".into(),
            tenant_max_total_query_length: "team-b=7d".into(),
            ..FrontendConfig::default()
        };
        c.validate().unwrap();
        assert_eq!(c.limits("team-a").max_query_parallelism, 2);
        assert_eq!(c.limits("team-b").max_query_parallelism, 14);
        assert_eq!(c.limits("team-b").max_total_query_length, 7 * 86_400_000);
        assert_eq!(c.limits("other").max_total_query_length, 0);
        let bad = FrontendConfig {
            tenant_max_query_parallelism: "team-a".into(),
            ..FrontendConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
