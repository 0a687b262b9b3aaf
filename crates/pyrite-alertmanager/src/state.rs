//! The alertmanager's state as the metadata group keeps it, so that it outlives the
//! process: every tenant's alerts, silences, notification log, group timers and the
//! notifications being delivered, in one record of the `alertmanager` pool, written by
//! the replica that owns it.
//!
//! The invariant: a notification is recorded as pending before it is sent and as
//! logged after, each write committed before the next step; so whoever holds the
//! state after a crash knows every notification that may have gone out, and sends a
//! pending one again under the same idempotency key rather than forgetting it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dispatch::GroupId;
use crate::model::{Alert, LabelSet};
use crate::nflog::{Entry, NflogKey};
use crate::silence::Silence;

/// The pool alertmanager replicas join; its record holds the state.
pub const POOL: &str = "alertmanager";
/// The record's key.
pub const KEY: &str = "alertmanager/state";

/// Every tenant's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub tenants: BTreeMap<String, TenantState>,
}

/// One tenant's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TenantState {
    pub alerts: Vec<Alert>,
    pub silences: Vec<Silence>,
    pub nflog: Vec<(NflogKey, Entry)>,
    pub timers: Vec<(GroupId, DateTime<Utc>, bool)>,
    pub pending: Vec<Pending>,
    /// The tenant's own configuration, set through the configuration API; none: the
    /// configuration file's.
    #[serde(default)]
    pub config: Option<TenantConfig>,
}

/// A tenant's own configuration, in the configuration API's shape: an unchanged
/// `alertmanager.yml` as text, and the template files its `templates` name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    #[serde(default)]
    pub template_files: BTreeMap<String, String>,
    pub alertmanager_config: String,
}

/// A notification on its way: what was sent, to whom, and what to log once it is
/// delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub key: NflogKey,
    pub entry: Entry,
    pub group_labels: LabelSet,
    pub idempotency_key: String,
    pub at: DateTime<Utc>,
    pub alerts: Vec<Alert>,
}

/// Why the state could not be written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SaveError {
    /// Another replica owns the state now: this one must not notify.
    #[error("not the owner of the alertmanager state: {0}")]
    NotOwner(String),
    #[error("the alertmanager state could not be saved: {0}")]
    Unavailable(String),
}

/// Where an instance's changes are committed.
#[async_trait::async_trait]
pub trait Saver: Send + Sync {
    /// Commits the state of every tenant as it is now.
    async fn save(&self) -> Result<(), SaveError>;
    /// Whether this replica owns the state, and so notifies.
    fn owns(&self) -> bool;
    /// Whether this replica has been cut off from the state longer than it was told to
    /// bear, and notifies without it (duplicates rather than silence).
    fn failing_open(&self) -> bool {
        false
    }
}

/// No replication: a process on its own, whose state dies with it.
pub struct Volatile;

#[async_trait::async_trait]
impl Saver for Volatile {
    async fn save(&self) -> Result<(), SaveError> {
        Ok(())
    }

    fn owns(&self) -> bool {
        true
    }
}
