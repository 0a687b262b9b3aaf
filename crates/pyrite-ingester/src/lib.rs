//! Pyrite's ingester: the head made durable. Writes go to a write-ahead log first and
//! are applied to the head in log order by one writer thread; on start the log is
//! replayed. The log sits behind [`WriteLog`] so a shard's Raft log can replace the
//! local file log without the head noticing.
//!
//! The ingester implements [`pyrite_storage::Appendable`] for writes and
//! [`pyrite_storage::Queryable`] for reads. It owns no HTTP.
//!
//! In a cluster the same head sits behind Raft instead: a [`ShardHost`] holds this
//! node's replica of each shard it is given (the Raft log is then the write-ahead log)
//! and [`IngesterService`] serves pushes and reads over gRPC. Which shards a node
//! holds follows the ring, kept by the metadata group ([`membership`]).

mod codec;
mod ingester;
pub mod membership;
mod service;
mod shards;
mod wal;

pub use codec::{decode as decode_record, encode as encode_record, CodecError, WriteRecord};
pub use ingester::{Ingester, IngesterError, IngesterOptions};
pub use service::IngesterService;
pub use shards::{HostSettings, RaftOptions, ShardError, ShardHost};
pub use wal::{FileLog, FsyncPolicy, LogError, WalOptions, WriteLog};
