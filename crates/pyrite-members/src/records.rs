//! Records: the state of a key's work, kept beside the pool that shares the work out,
//! and written only by the key's owner.
//!
//! A member working a key (a ruler evaluating a rule group) records, after each step,
//! the state the next step starts from and the instant it is as of. The record is
//! committed only when the member owns the key in its pool — by the leader's clock as
//! the command carries it, or at the instant recorded (a step begun before a handoff
//! may land after it) — and nothing as recent is recorded. So a member that lost the
//! key — expired while it was cut off, or past a handoff — cannot overwrite what its
//! successor does, and an instant is recorded once: whoever takes a key over reads its
//! record and goes on from the instant after it.

use serde::{Deserialize, Serialize};

use crate::{fnv1a, mix, Pool};

/// A key's recorded state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The instant the state is as of (Unix ms); a later record must be of a later one.
    pub instant_ms: i64,
    /// The member that wrote it.
    pub member: String,
    /// The work's state, as the work encodes it.
    pub value: String,
}

/// The hash ownership is decided by for a record's key: the same on every node and in
/// every release.
pub fn key_hash(key: &str) -> u64 {
    mix(fnv1a(key.as_bytes()))
}

/// Why a record was not written, as every replica decides it.
pub(crate) fn refusal(pool: Option<&Pool>, key: &str, member: &str, at_ms: i64) -> Option<String> {
    let owner = pool.and_then(|p| p.owner(key_hash(key), at_ms));
    (owner != Some(member)).then(|| match owner {
        Some(o) => format!("{key} belongs to {o}, not {member}"),
        None => format!("{key} has no owner"),
    })
}

/// Why a record could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The writer does not own the key now, or a record as recent exists: it must
    /// read the record again before working the key.
    #[error("record refused: {0}")]
    Refused(String),
    /// The metadata group could not be reached or did not answer; try again.
    #[error("records unavailable: {0}")]
    Unavailable(String),
}

/// Where records are kept: the group holding the pools.
#[async_trait::async_trait]
pub trait Records: Send + Sync + 'static {
    /// Records `value` as `key`'s state as of `instant_ms`, written by `member`.
    async fn put(&self, pool: &str, key: &str, member: &str, instant_ms: i64, value: String)
        -> Result<(), RecordError>;
    /// Drops `key`'s record (its work is gone), if `member` owns the key.
    async fn forget(&self, pool: &str, key: &str, member: &str) -> Result<(), RecordError>;
    /// `key`'s record as committed when the call was made.
    async fn get(&self, pool: &str, key: &str) -> Result<Option<Record>, RecordError>;
}
