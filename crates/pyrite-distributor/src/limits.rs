//! The distributor's configuration (`distributor:` in YAML, `--distributor.*` flags):
//! the request-size limits it applies before decoding, and the defaults of the write
//! limits every tenant gets unless overridden (`pyrite-limits` holds and serves those).

use pyrite_config::Duration;
use pyrite_limits::TenantLimits;
use serde::{Deserialize, Serialize};

/// Limits applied to every remote-write request. 0 disables a count limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributorConfig {
    /// Largest compressed request body accepted, in bytes.
    pub max_request_body_bytes: usize,
    /// Largest decompressed request, in bytes (checked before decompressing).
    pub max_decompressed_body_bytes: usize,
    /// Most series in one request (per-tenant default).
    pub max_series_per_request: usize,
    /// Most samples in one request (per-tenant default).
    pub max_samples_per_request: usize,
    /// Most labels (metric name included) on one series (per-tenant default).
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    /// Longest metric name, help or unit of a metric's metadata (per-tenant default).
    pub max_metadata_length: usize,
    /// How far ahead of the receiver's clock a sample may be, in seconds (clock skew
    /// allowance, Mimir's creation grace period); 0 accepts any future timestamp.
    pub creation_grace_period_seconds: u64,
    /// How far behind the receiver's clock a sample may be, in seconds (Mimir's past
    /// grace period); 0 leaves the past to each head's appendable window.
    pub past_grace_period_seconds: u64,
}

impl Default for DistributorConfig {
    fn default() -> Self {
        let t = TenantLimits::default();
        Self {
            max_request_body_bytes: 10 << 20,
            max_decompressed_body_bytes: 100 << 20,
            max_series_per_request: t.max_series_per_request,
            max_samples_per_request: t.max_samples_per_request,
            max_label_names_per_series: t.max_label_names_per_series,
            max_label_name_length: t.max_label_name_length,
            max_label_value_length: t.max_label_value_length,
            max_metadata_length: t.max_metadata_length,
            creation_grace_period_seconds: t.creation_grace_period.get().as_secs(),
            past_grace_period_seconds: t.past_grace_period.get().as_secs(),
        }
    }
}

impl DistributorConfig {
    /// Sets the write limits' defaults every tenant starts from.
    pub fn tenant_defaults(&self, l: &mut TenantLimits) {
        l.max_series_per_request = self.max_series_per_request;
        l.max_samples_per_request = self.max_samples_per_request;
        l.max_label_names_per_series = self.max_label_names_per_series;
        l.max_label_name_length = self.max_label_name_length;
        l.max_label_value_length = self.max_label_value_length;
        l.max_metadata_length = self.max_metadata_length;
        l.creation_grace_period = Duration::from_secs(self.creation_grace_period_seconds);
        l.past_grace_period = Duration::from_secs(self.past_grace_period_seconds);
    }
}
