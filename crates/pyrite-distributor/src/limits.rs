//! Per-request and per-series limits of the write path, with their defaults.

use serde::{Deserialize, Serialize};

/// Limits applied to every remote-write request. 0 disables a count limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest compressed request body accepted, in bytes.
    pub max_request_body_bytes: usize,
    /// Largest decompressed request, in bytes (checked before decompressing).
    pub max_decompressed_body_bytes: usize,
    /// Most series in one request.
    pub max_series_per_request: usize,
    /// Most samples in one request.
    pub max_samples_per_request: usize,
    /// Most labels (metric name included) on one series.
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    /// How far ahead of the receiver's clock a sample may be, in seconds (clock skew
    /// allowance, Mimir's creation grace period); 0 accepts any future timestamp.
    pub creation_grace_period_seconds: u64,
    /// How far behind the receiver's clock a sample may be, in seconds (Mimir's past
    /// grace period); 0 leaves the past to each head's appendable window.
    pub past_grace_period_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 10 << 20,
            max_decompressed_body_bytes: 100 << 20,
            max_series_per_request: 0,
            max_samples_per_request: 0,
            max_label_names_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            creation_grace_period_seconds: 600,
            past_grace_period_seconds: 0,
        }
    }
}
