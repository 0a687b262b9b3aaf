//! Ingester shards as Raft groups (openraft). A shard's replicas agree on one log of
//! write commands; that log, kept on disk with a configurable fsync policy, *is* the
//! write-ahead log, and the state machine applying it is the shard's in-memory head.
//!
//! This crate owns the pieces every replica shares and knows nothing of samples: the
//! Raft type configuration ([`TypeConfig`]), the opaque [`Command`] a log entry carries,
//! the on-disk log store ([`log_store`]), and the state machine ([`state_machine`]) that
//! hands each committed command to an [`App`] (the ingester's head) and snapshots it so
//! the log can be purged and a new or lagging replica can catch up.

pub mod log_store;
pub mod network;
pub mod state_machine;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

/// A replica's id: unique per ingester process across the cluster.
pub type NodeId = u64;

/// What one log entry carries: one or more write commands, each opaque to Raft (the
/// application encodes and decodes them). Writes that arrive while the previous entry
/// is being committed travel together, so a busy shard pays one entry, one replication
/// round and one fsync for many writes.
///
/// Commands are shared buffers: the entry Raft keeps in memory, the one the state
/// machine applies and the writer's own copy are one allocation, so passing an entry
/// along never copies its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command(pub Vec<bytes::Bytes>);

impl Command {
    pub fn one(command: impl Into<bytes::Bytes>) -> Command {
        Command(vec![command.into()])
    }
}

/// What applying a command reports back to the writer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Samples the command stored, float samples and native histograms together.
    pub samples: u64,
    /// Of `samples`, the native histograms. (Absent from what older versions sent.)
    #[serde(default)]
    pub histograms: u64,
    /// Samples the application refused (duplicates, out-of-order…), and the first few
    /// reasons, for the writer to report. Refusals are deterministic, so every replica
    /// refuses the same.
    pub rejected: u64,
    pub rejections: Vec<String>,
}

openraft::declare_raft_types!(
    /// Raft types of an ingester shard.
    pub TypeConfig:
        D = Command,
        // One result per command of the entry.
        R = Vec<Applied>,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        // Snapshots live in files, built into them and sent from them.
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The application a shard's state machine drives: Pyrite's head for one shard.
/// Every method is deterministic in its inputs, so all replicas end in the same state.
/// Encodes a captured state into a snapshot's bytes, written to the given writer (see
/// [`App::snapshot`]).
pub type SnapshotEncoder = Box<dyn FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send>;

/// Runs an encoder into memory: a snapshot's bytes, for tests and small states.
pub fn snapshot_to_vec(encode: SnapshotEncoder) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&mut out).expect("writing to memory cannot fail");
    out
}

pub trait App: Send + Sync + 'static {
    /// Applies one committed command.
    fn apply(&self, command: &[u8]) -> Applied;
    /// The whole state, for a snapshot, in two steps: what is returned is captured now,
    /// while applies wait (so it must be cheap: share what is immutable, copy little),
    /// and the closure encodes it afterwards on a blocking thread while applies go on,
    /// writing straight into the snapshot's file.
    fn snapshot(&self) -> SnapshotEncoder;
    /// Replaces the whole state with a snapshot's.
    fn restore(&self, snapshot: &[u8]) -> Result<(), String>;
}

/// Serializes a value for the log and the wire (MessagePack: compact, and commands
/// stay raw bytes).
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    rmp_serde::to_vec(v)
}

pub fn decode<'a, T: Deserialize<'a>>(b: &'a [u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(b)
}
