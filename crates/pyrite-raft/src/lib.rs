//! Replicated state on Raft (openraft): the one mechanism behind every piece of Pyrite
//! that must survive the loss of a minority of its replicas — an ingester shard's head,
//! the ring's metadata group, and next scrape assignment, ruler state and alertmanager
//! state.
//!
//! A component writes a [`StateMachine`]: its command and response types, how a
//! committed command changes its state, and how that state is snapshotted and restored.
//! This crate runs it as a [`Group`]: the on-disk log ([`log_store`], the write-ahead log
//! with its fsync policy), the snapshotting store around the state machine
//! ([`state_store`]), Raft between replicas over gRPC ([`network`], package
//! `pyrite.raft.v1`), proposals folded into shared log entries (group commit),
//! read-index reads and membership changes. Groups are named by a typed [`GroupId`].
//!
//! It knows nothing of samples or rings. The invariant a reader must not break: a state
//! machine's `apply` is deterministic in the state and the command's bytes, so every
//! replica, and every replay of the log, ends in the same state.

mod group;
pub mod log_store;
pub mod network;
pub mod state_store;

#[cfg(test)]
mod tests;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use group::{Group, GroupError, RaftOptions};

/// A replica's id: unique per process holding replicas, across the cluster.
pub type NodeId = u64;

/// What kind of state a group replicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GroupKind {
    /// An ingester shard: its head.
    Shard,
    /// The metadata group: the ring.
    Meta,
}

/// A Raft group's name: its kind and its id among groups of that kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupId {
    pub kind: GroupKind,
    pub id: u32,
}

impl GroupId {
    /// The metadata group (there is one).
    pub const META: GroupId = GroupId {
        kind: GroupKind::Meta,
        id: 0,
    };

    pub fn shard(id: u32) -> GroupId {
        GroupId {
            kind: GroupKind::Shard,
            id,
        }
    }
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            GroupKind::Shard => write!(f, "shard {}", self.id),
            GroupKind::Meta => write!(f, "the metadata group"),
        }
    }
}

/// What one log entry carries: one or more encoded commands. Commands proposed while the
/// previous entry is being committed travel together, so a busy group pays one entry,
/// one replication round and one fsync for many.
///
/// Commands are shared buffers: the entry Raft keeps in memory, the one the state
/// machine applies and the proposer's own copy are one allocation, so passing an entry
/// along never copies its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command(pub Vec<bytes::Bytes>);

impl Command {
    pub fn one(command: impl Into<bytes::Bytes>) -> Command {
        Command(vec![command.into()])
    }
}

openraft::declare_raft_types!(
    /// Raft types of every group. Responses are the state machine's, encoded: they go
    /// only from the state machine to the proposer on the same node, and [`Group`]
    /// decodes them back into the state machine's own type.
    pub TypeConfig:
        D = Command,
        // One encoded response per command of the entry.
        R = Vec<bytes::Bytes>,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        // Snapshots live in files, built into them and sent from them.
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Encodes a captured state into a snapshot's bytes, written to the given writer (see
/// [`StateMachine::snapshot`]).
pub type SnapshotEncoder = Box<dyn FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send>;

/// Runs an encoder into memory: a snapshot's bytes, for tests and small states.
pub fn snapshot_to_vec(encode: SnapshotEncoder) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&mut out).expect("writing to memory cannot fail");
    out
}

/// The state a [`Group`] replicates. Every method is deterministic in its inputs, so
/// all replicas end in the same state.
pub trait StateMachine: Send + Sync + 'static {
    /// What a proposer asks for.
    type Command: Send + Sync;
    /// What applying a command answers the proposer.
    type Response: Serialize + DeserializeOwned + Send + 'static;

    /// A command as the log stores it: exactly what [`StateMachine::apply`] reads.
    fn encode(command: &Self::Command) -> bytes::Bytes;
    /// Applies one committed command, given as the log's bytes. On the leader that
    /// proposed it, until it restarts, they are the very buffer the proposal carried
    /// (so a state machine may keep what it decoded beside that buffer); on replay and
    /// on every other replica, a buffer of the same bytes.
    fn apply(&self, command: &bytes::Bytes) -> Self::Response;
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
