//! The write contract: whatever accepts validated series (the head in one process, a
//! shard's Raft leader across the network) implements [`Appendable`].

use async_trait::async_trait;
use pyrite_model::TimeSeries;

use crate::known::KnownWrite;
use crate::metadata::MetricMetadata;

/// What a write did. Samples a store refuses one by one (too old, out of order, a
/// different value at a timestamp already written) are counted and described, while the
/// rest of the write still lands, as Prometheus and Mimir do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOutcome {
    /// Samples stored, float samples and native histograms together.
    pub samples_written: u64,
    /// Of `samples_written`, the native histograms.
    pub histograms_written: u64,
    pub samples_rejected: u64,
    /// The first few refusals, in words a sender can act on.
    pub rejections: Vec<String>,
}

impl AppendOutcome {
    /// Keeps at most this many refusal messages per write.
    pub const MAX_REJECTION_MESSAGES: usize = 10;

    pub fn reject(&mut self, msg: impl FnOnce() -> String) {
        self.samples_rejected += 1;
        if self.rejections.len() < Self::MAX_REJECTION_MESSAGES {
            self.rejections.push(msg());
        }
    }

    pub fn merge(&mut self, other: AppendOutcome) {
        self.samples_written += other.samples_written;
        self.histograms_written += other.histograms_written;
        self.samples_rejected += other.samples_rejected;
        let room = Self::MAX_REJECTION_MESSAGES.saturating_sub(self.rejections.len());
        self.rejections.extend(other.rejections.into_iter().take(room));
    }
}

/// Why a whole write failed. Nothing of a failed write is acknowledged; a sender may
/// retry it (the store then sees duplicates, which it treats as no-ops).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AppendError {
    /// A tenant or global limit (series, ingestion rate): 429.
    #[error("limit reached: {0}")]
    Limit(String),
    /// The store cannot take writes now (shutting down, no leader, disk trouble): 5xx.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A fault of ours: 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Accepts validated series for a tenant. A successful return means the written
/// samples are durable (on disk, or on a quorum's disk).
#[async_trait]
pub trait Appendable: Send + Sync {
    async fn append(&self, tenant: &str, series: Vec<TimeSeries>) -> Result<AppendOutcome, AppendError>;

    /// Appends a write to known series: the same as appending
    /// [`KnownWrite::to_series`], which the default does; a store may take the known
    /// series as they are.
    async fn append_known(&self, tenant: &str, write: KnownWrite) -> Result<AppendOutcome, AppendError> {
        self.append(tenant, write.to_series()).await
    }

    /// Keeps a tenant's metric metadata (durably, like samples, once it returns). A
    /// store that keeps none takes it and drops it, which the default does.
    async fn append_metadata(&self, tenant: &str, metadata: Vec<MetricMetadata>) -> Result<(), AppendError> {
        let _ = (tenant, metadata);
        Ok(())
    }
}
