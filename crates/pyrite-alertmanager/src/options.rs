//! The alertmanager's options, as the configuration file's `alertmanager:` section and
//! the `--alertmanager.*` flags give them.

use pyrite_config::Duration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerOptions {
    /// An Alertmanager configuration file (`alertmanager.yml`, unchanged) every tenant's
    /// alertmanager runs; empty: one that routes every alert to a receiver that sends
    /// nothing.
    pub config_file: String,
    /// The URL users reach the alertmanager at, as notifications link to it; empty:
    /// `http://` and this process's HTTP address, with `/alertmanager`.
    pub external_url: String,
    /// How often a replica tells the metadata group it is alive (replicas are members
    /// of its `alertmanager` pool, whose owner of the state notifies).
    pub heartbeat_period: Duration,
    /// How long a replica may go unheard before another takes the state over.
    pub heartbeat_timeout: Duration,
    /// This replica's name in the pool; empty: its HTTP address.
    pub instance_id: String,
    /// Cut off from the metadata group this long, a replica notifies without it, each
    /// replica on its own (duplicates rather than silence); 0s: never.
    pub fail_open_after: Duration,
}

impl Default for AlertmanagerOptions {
    fn default() -> Self {
        AlertmanagerOptions {
            config_file: String::new(),
            external_url: String::new(),
            heartbeat_period: Duration::from_millis(1_000),
            heartbeat_timeout: Duration::from_millis(5_000),
            instance_id: String::new(),
            fail_open_after: Duration::from_millis(0),
        }
    }
}

impl AlertmanagerOptions {
    pub fn timing(&self) -> pyrite_members::Timing {
        pyrite_members::Timing {
            period: self.heartbeat_period.0,
            timeout: self.heartbeat_timeout.0,
        }
    }
}

/// What runs when no configuration file is given: every alert kept, grouped by name,
/// and told to no one.
pub const FALLBACK_CONFIG: &str = "route:\n  receiver: empty\n  group_by: [alertname]\nreceivers:\n  - name: empty\n";
