//! Pyrite's ingester: the head made durable and replicated. A [`ShardHost`] holds this
//! node's replica of each shard the ring gives it, each a [`pyrite_raft::Group`] whose
//! log is the write-ahead log and whose state machine is a head of its own; [`IngesterService`]
//! serves pushes and reads over gRPC, and [`LocalShards`] reaches the same shards
//! in-process (the single-process Pyrite, where every shard is a one-replica group),
//! where a write to known series is logged with its labels like any other write and
//! applied by its leader to the head as given.
//! Each shard also keeps the metric metadata (`TYPE`, `HELP`, `UNIT`) of the families
//! the ring places on it, through the same log (`metric_metadata`).
//! Which shards a node holds follows the ring, kept by the metadata group
//! ([`membership`]), which also keeps the pools of live members that share out work
//! such as scrape targets (`meta`). The ingester owns no HTTP.

mod codec;
mod command;
mod flush;
mod local;
pub mod membership;
mod meta;
mod metric_metadata;
mod service;
mod shards;

use pyrite_tsdb::HeadOptions;
use serde::{Deserialize, Serialize};

pub use codec::{CodecError, WriteRecord};
pub use command::{
    decode as decode_command, encode_known_write as encode_known_record, encode_metadata as encode_metadata_record,
    encode_write as encode_record, MetadataRecord, ShardCommand,
};
pub use flush::BlockSettings;
pub use local::LocalShards;
pub use pyrite_raft::RaftOptions;
pub use service::IngesterService;
pub use shards::{Applied, HostSettings, ShardError, ShardHost};

/// Ingester settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterOptions {
    pub head: HeadOptions,
}
