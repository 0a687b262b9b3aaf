//! A block's `meta.json`: what the block holds and where it came from. The meta is
//! uploaded last, so a block whose meta is missing is incomplete and ignored.

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// Version of the block layout this crate writes; it reads every version up to it.
/// 1: float chunks XOR only. 2: float chunks whose values are all integers may be
/// integer-delta chunks (`__kind__` 2). The columns are the same in both.
pub const FORMAT_VERSION: u32 = 2;

/// The file holding a block's series and chunks.
pub const DATA_FILE: &str = "series.parquet";
/// The file describing a block.
pub const META_FILE: &str = "meta.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    pub ulid: Ulid,
    pub version: u32,
    pub tenant: String,
    /// Inclusive lower and exclusive upper bound of the samples' timestamps (ms).
    pub min_time: i64,
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: Compaction,
    /// The ingester shards whose data the block holds.
    pub shards: Vec<u32>,
    pub files: Vec<BlockFile>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockStats {
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block cut from a head; one more than its sources' highest when merged.
    pub level: u32,
    /// The level-1 blocks whose data this block holds (itself, at level 1).
    pub sources: Vec<Ulid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockFile {
    pub name: String,
    pub size: u64,
}

impl BlockMeta {
    /// The block's directory in the bucket: `<tenant>/<ulid>`.
    pub fn dir(&self) -> String {
        block_dir(&self.tenant, self.ulid)
    }

    pub fn data_size(&self) -> u64 {
        self.files.iter().find(|f| f.name == DATA_FILE).map_or(0, |f| f.size)
    }

    /// Whether the block holds samples in the inclusive range `[start, end]`.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        self.min_time <= end && start < self.max_time
    }
}

pub fn block_dir(tenant: &str, ulid: Ulid) -> String {
    format!("{tenant}/{ulid}")
}

/// The id of the block a shard cuts for a tenant and range. It is derived, not drawn, so
/// whichever replica leads when the block is cut (or cut again after a leader change)
/// writes the same block under the same name: the time part is the range's start, the
/// rest a hash of what the block is.
pub fn cut_block_id(tenant: &str, shard: u32, min_time: i64, max_time: i64) -> Ulid {
    let key = format!("{tenant}\u{0}{shard}\u{0}{min_time}\u{0}{max_time}");
    let random = xxhash_rust::xxh3::xxh3_128(key.as_bytes()) & ((1u128 << 80) - 1);
    Ulid::from_parts(min_time.max(0) as u64, random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_ids_are_deterministic_and_ordered_by_time() {
        let a = cut_block_id("t", 0, 7_200_000, 14_400_000);
        assert_eq!(a, cut_block_id("t", 0, 7_200_000, 14_400_000));
        assert_ne!(a, cut_block_id("t", 1, 7_200_000, 14_400_000));
        assert_ne!(a, cut_block_id("u", 0, 7_200_000, 14_400_000));
        assert!(a < cut_block_id("t", 0, 14_400_000, 21_600_000));
        assert_eq!(a.timestamp_ms(), 7_200_000);
    }

    #[test]
    fn meta_round_trips_as_json() {
        let m = BlockMeta {
            ulid: cut_block_id("t", 3, 0, 10),
            version: FORMAT_VERSION,
            tenant: "t".into(),
            min_time: 0,
            max_time: 10,
            stats: BlockStats {
                series: 1,
                samples: 2,
                chunks: 1,
            },
            compaction: Compaction {
                level: 1,
                sources: vec![],
            },
            shards: vec![3],
            files: vec![BlockFile {
                name: DATA_FILE.into(),
                size: 42,
            }],
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<BlockMeta>(&json).unwrap(), m);
        assert!(m.overlaps(9, 20) && m.overlaps(-5, 0) && !m.overlaps(10, 20));
        assert_eq!(m.dir(), format!("t/{}", m.ulid));
    }
}
