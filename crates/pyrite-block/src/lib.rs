//! Pyrite's blocks: everything one shard held for one tenant over one time range, as a
//! Parquet file (`series.parquet`: one row per chunk, label columns, sorted by metric
//! name and labels) and a `meta.json`, under `<tenant>/<ulid>/` in a bucket. This crate
//! owns the format ([`write`], [`read`], [`meta`]), cutting a block from series
//! ([`cut`]), and putting blocks into and finding them in an `object_store` bucket
//! ([`bucket`]), and the configuration of both ([`BlocksConfig`]). `docs/block-format.md`
//! describes the layout and why.

pub mod bucket;
mod config;
pub mod cut;
pub mod meta;
pub mod read;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod write;

pub use config::{BlocksBackend, BlocksConfig, S3Config};
pub use meta::{cut_block_id, BlockMeta, BlockStats, Compaction};
pub use read::BlockReader;
pub use write::{encode, WriteOptions};

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("invalid block: {0}")]
    Invalid(String),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("object storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("block meta: {0}")]
    Meta(#[from] serde_json::Error),
}

impl BlockError {
    /// Whether the bucket failed (unreachable, refused, timed out) rather than the block:
    /// worth retrying, and no sign that the block is bad. The Parquet reader hands on
    /// the bucket's errors inside its own.
    pub fn is_storage(&self) -> bool {
        match self {
            BlockError::Store(_) => true,
            BlockError::Parquet(parquet::errors::ParquetError::External(e)) => e.is::<object_store::Error>(),
            _ => false,
        }
    }
}
