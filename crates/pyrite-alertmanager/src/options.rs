//! The alertmanager's options, as the configuration file's `alertmanager:` section and
//! the `--alertmanager.*` flags give them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerOptions {
    /// An Alertmanager configuration file (`alertmanager.yml`, unchanged) every tenant's
    /// alertmanager runs; empty: one that routes every alert to a receiver that sends
    /// nothing.
    pub config_file: String,
    /// The URL users reach the alertmanager at, as notifications link to it; empty:
    /// `http://` and this process's HTTP address, with `/alertmanager`.
    pub external_url: String,
}

/// What runs when no configuration file is given: every alert kept, grouped by name,
/// and told to no one.
pub const FALLBACK_CONFIG: &str = "route:\n  receiver: empty\n  group_by: [alertname]\nreceivers:\n  - name: empty\n";
