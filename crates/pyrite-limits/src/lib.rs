//! Per-tenant limits: every value that may differ by tenant, with its default, in one
//! place. [`TenantLimits`] holds one tenant's typed values; [`Limits`] holds the defaults
//! and each overridden tenant's values, built once at start-up, and is read through one
//! narrow getter per limit (`limits.max_label_names_per_series(tenant)`) — no consumer
//! sees a configuration string or parses one. [`PerTenant`] is the configuration form of
//! an override (`team-a=30d,team-b=0s`), parsed when the configuration is read.
//!
//! [`Limits::replace`] swaps every tenant's values at once, so a runtime overrides file
//! can be reloaded without a restart. The invariant: each getter, and [`Limits::tenant`]
//! for several values read together, sees either the old or the new values of a tenant,
//! never a mix, and never waits for a parse.

mod per_tenant;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use pyrite_config::Duration;

pub use per_tenant::PerTenant;

/// One tenant's limits. 0 disables a count limit, and a zero duration its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantLimits {
    /// Most series in one write request.
    pub max_series_per_request: usize,
    /// Most samples in one write request.
    pub max_samples_per_request: usize,
    /// Most labels (metric name included) on one series.
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    /// Longest metric name, help or unit in a metric's metadata, in bytes.
    pub max_metadata_length: usize,
    /// How far ahead of the receiver's clock a sample may be (Mimir's creation grace
    /// period); zero accepts any future timestamp.
    pub creation_grace_period: Duration,
    /// How far behind the receiver's clock a sample may be; zero leaves the past to each
    /// head's appendable window.
    pub past_grace_period: Duration,
    /// Blocks wholly older than this are deleted; zero keeps everything.
    pub compactor_retention: Duration,
    /// Most parts (splits × shards) of one query in flight at once (at least 1).
    pub max_query_parallelism: usize,
    /// Longest range a query may cover; zero: unlimited.
    pub max_total_query_length: Duration,
    /// Most rules in one rule group the rule configuration API stores; 0: no limit.
    pub ruler_max_rules_per_rule_group: usize,
    /// Most rule groups a tenant may keep through the rule configuration API; 0: no
    /// limit.
    pub ruler_max_rule_groups_per_tenant: usize,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            max_series_per_request: 0,
            max_samples_per_request: 0,
            max_label_names_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_metadata_length: 1024,
            creation_grace_period: Duration::from_secs(600),
            past_grace_period: Duration::ZERO,
            compactor_retention: Duration::ZERO,
            max_query_parallelism: 14,
            max_total_query_length: Duration::ZERO,
            ruler_max_rules_per_rule_group: 20,
            ruler_max_rule_groups_per_tenant: 70,
        }
    }
}

/// The defaults and each overridden tenant's full set of values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    defaults: TenantLimits,
    tenants: HashMap<String, TenantLimits>,
}

impl Overrides {
    /// Every tenant gets `defaults`, until [`Overrides::set`] says otherwise.
    pub fn new(defaults: TenantLimits) -> Self {
        Self {
            defaults,
            tenants: HashMap::new(),
        }
    }

    /// Overrides one limit for the tenants `values` names.
    pub fn set<T: Copy>(mut self, values: &PerTenant<T>, apply: impl Fn(&mut TenantLimits, T)) -> Self {
        for (tenant, v) in values.iter() {
            let limits = self.tenants.entry(tenant.to_string()).or_insert(self.defaults);
            apply(limits, *v);
        }
        self
    }

    fn of(&self, tenant: &str) -> &TenantLimits {
        self.tenants.get(tenant).unwrap_or(&self.defaults)
    }
}

/// Every tenant's limits, shared by the components of a process.
#[derive(Debug, Default)]
pub struct Limits {
    current: RwLock<Arc<Overrides>>,
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(&self, tenant: &str) -> $ty {
                self.current.read().of(tenant).$name
            }
        )*
    };
}

impl Limits {
    pub fn new(overrides: Overrides) -> Self {
        Self {
            current: RwLock::new(Arc::new(overrides)),
        }
    }

    /// The same limits for every tenant.
    pub fn uniform(defaults: TenantLimits) -> Self {
        Self::new(Overrides::new(defaults))
    }

    /// All of `tenant`'s values from one version of the overrides: for a caller that
    /// reads several limits and must not see a reload between them.
    pub fn tenant(&self, tenant: &str) -> TenantLimits {
        *self.current.read().of(tenant)
    }

    /// Swaps in new values for every tenant at once (a reloaded overrides file).
    pub fn replace(&self, overrides: Overrides) {
        *self.current.write() = Arc::new(overrides);
    }

    getters! {
        max_series_per_request: usize,
        max_samples_per_request: usize,
        max_label_names_per_series: usize,
        max_label_name_length: usize,
        max_label_value_length: usize,
        max_metadata_length: usize,
        creation_grace_period: Duration,
        past_grace_period: Duration,
        compactor_retention: Duration,
        max_total_query_length: Duration,
        ruler_max_rules_per_rule_group: usize,
        ruler_max_rule_groups_per_tenant: usize,
    }

    pub fn max_query_parallelism(&self, tenant: &str) -> usize {
        self.current.read().of(tenant).max_query_parallelism.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_to_their_tenants_only() {
        let retention: PerTenant<Duration> = "team-a=30d, team-b=0s".parse().unwrap();
        let parallelism: PerTenant<usize> = "team-a=2".parse().unwrap();
        let defaults = TenantLimits {
            compactor_retention: Duration::from_secs(3600),
            ..TenantLimits::default()
        };
        let limits = Limits::new(
            Overrides::new(defaults)
                .set(&retention, |l, v| l.compactor_retention = v)
                .set(&parallelism, |l, v| l.max_query_parallelism = v),
        );
        assert_eq!(limits.compactor_retention("team-a"), Duration::from_secs(30 * 86_400));
        assert_eq!(limits.compactor_retention("team-b"), Duration::ZERO);
        assert_eq!(limits.compactor_retention("other"), Duration::from_secs(3600));
        assert_eq!(limits.max_query_parallelism("team-a"), 2);
        assert_eq!(limits.max_query_parallelism("team-b"), 14, "the default, not team-a's");
        assert_eq!(limits.max_label_names_per_series("team-a"), 30);
    }

    #[test]
    fn replace_swaps_every_tenant_at_once() {
        let limits = Limits::uniform(TenantLimits::default());
        assert_eq!(limits.max_label_value_length("t"), 2048);
        let tight: PerTenant<usize> = "t=10".parse().unwrap();
        limits.replace(Overrides::new(TenantLimits::default()).set(&tight, |l, v| l.max_label_value_length = v));
        assert_eq!(limits.max_label_value_length("t"), 10);
        assert_eq!(limits.max_label_value_length("u"), 2048);
    }

    #[test]
    fn parallelism_is_at_least_one() {
        let zero: PerTenant<usize> = "t=0".parse().unwrap();
        let limits = Limits::new(Overrides::default().set(&zero, |l, v| l.max_query_parallelism = v));
        assert_eq!(limits.max_query_parallelism("t"), 1);
    }
}
