//! The ruler's options, as the configuration file's `ruler:` section and the
//! `--ruler.*` flags give them.

use pyrite_config::Duration;
use pyrite_limits::{Overrides, PerTenant, TenantLimits};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulerConfig {
    /// Rule files: those at the top are the tenant `anonymous`'s, those in a
    /// sub-directory the tenant's it is named after; empty: no rule files.
    pub rules_dir: String,
    /// How often a group without an `interval` of its own is evaluated.
    pub evaluation_interval: Duration,
    /// How far behind its evaluation instant a group without a `query_offset` of its own
    /// queries.
    pub query_offset: Duration,
    /// How long a firing alert goes before it is sent again.
    pub resend_delay: Duration,
    /// The URL of this Pyrite as users reach it: templates' `$externalURL` and alerts'
    /// `generatorURL`.
    pub external_url: String,
    /// Alertmanagers to send alerts to, comma-separated base URLs (their API v2 is under
    /// `/api/v2`); empty: the alertmanager in the same process, if it runs one and no
    /// alerting file is given.
    pub alertmanager_url: String,
    /// A Prometheus configuration file (a whole `prometheus.yml` will do) whose
    /// `alerting` section and `global.external_labels` the ruler's alert sending follows;
    /// empty: none.
    pub alerting_config_file: String,
    /// Alerts waiting to be sent, at most; the oldest are dropped beyond it.
    pub notification_queue_capacity: usize,
    /// How often a ruler tells the metadata group it is alive (rulers share the groups
    /// out as members of its `ruler` pool).
    pub heartbeat_period: Duration,
    /// How long a ruler may go unheard before its groups move to the others.
    pub heartbeat_timeout: Duration,
    /// This ruler's name in the `ruler` pool; empty: its HTTP address.
    pub instance_id: String,
    /// How often the rule store is read again for groups other processes changed (a
    /// change through this process's API is applied at once).
    pub poll_interval: Duration,
    /// Most rules in a group the rule configuration API stores; 0: no limit.
    pub max_rules_per_rule_group: usize,
    /// Per-tenant overrides of `max_rules_per_rule_group`: `tenant=n` pairs.
    pub tenant_max_rules_per_rule_group: PerTenant<usize>,
    /// Most groups a tenant may keep through the rule configuration API; 0: no limit.
    pub max_rule_groups_per_tenant: usize,
    /// Per-tenant overrides of `max_rule_groups_per_tenant`: `tenant=n` pairs.
    pub tenant_max_rule_groups_per_tenant: PerTenant<usize>,
}

impl Default for RulerConfig {
    fn default() -> Self {
        RulerConfig {
            rules_dir: String::new(),
            evaluation_interval: Duration::from_millis(60_000),
            query_offset: Duration::from_millis(0),
            resend_delay: Duration::from_millis(60_000),
            external_url: String::new(),
            alertmanager_url: String::new(),
            alerting_config_file: String::new(),
            notification_queue_capacity: 10_000,
            heartbeat_period: Duration::from_millis(1_000),
            heartbeat_timeout: Duration::from_millis(5_000),
            instance_id: String::new(),
            poll_interval: Duration::from_millis(60_000),
            max_rules_per_rule_group: TenantLimits::default().ruler_max_rules_per_rule_group,
            tenant_max_rules_per_rule_group: PerTenant::default(),
            max_rule_groups_per_tenant: TenantLimits::default().ruler_max_rule_groups_per_tenant,
            tenant_max_rule_groups_per_tenant: PerTenant::default(),
        }
    }
}

impl RulerConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.evaluation_interval.as_millis() == 0 {
            return Err("ruler.evaluation-interval must be positive".into());
        }
        if self.poll_interval.as_millis() == 0 {
            return Err("ruler.poll-interval must be positive".into());
        }
        self.timing().validate().map_err(|e| format!("ruler: {e}"))
    }

    /// The heartbeat timing of a ruler in the `ruler` pool.
    pub fn timing(&self) -> pyrite_members::Timing {
        pyrite_members::Timing {
            period: self.heartbeat_period.0,
            timeout: self.heartbeat_timeout.0,
        }
    }

    /// Sets the rule limits' defaults every tenant starts from.
    pub fn tenant_defaults(&self, l: &mut TenantLimits) {
        l.ruler_max_rules_per_rule_group = self.max_rules_per_rule_group;
        l.ruler_max_rule_groups_per_tenant = self.max_rule_groups_per_tenant;
    }

    /// Adds the tenants' own rule limits.
    pub fn tenant_overrides(&self, o: Overrides) -> Overrides {
        o.set(&self.tenant_max_rules_per_rule_group, |l, v| {
            l.ruler_max_rules_per_rule_group = v
        })
        .set(&self.tenant_max_rule_groups_per_tenant, |l, v| {
            l.ruler_max_rule_groups_per_tenant = v
        })
    }

    /// The Alertmanagers' base URLs.
    pub fn alertmanagers(&self) -> Vec<String> {
        self.alertmanager_url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn manager_options(&self) -> crate::manager::ManagerOptions {
        crate::manager::ManagerOptions {
            evaluation_interval_ms: self.evaluation_interval.as_millis(),
            query_offset_ms: self.query_offset.as_millis(),
            resend_delay_ms: self.resend_delay.as_millis(),
            external_url: self.external_url.clone(),
        }
    }
}
