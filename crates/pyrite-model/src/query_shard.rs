//! Series-hash shards for query sharding: shard `index` of `count` holds the series whose
//! [`Labels::stable_hash`] is `index` modulo `count`. Every series is in exactly one shard
//! of any count, and every component computes the same hash, so shard-local answers add
//! up to the whole.

use crate::Labels;

/// Shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryShard {
    pub index: u32,
    pub count: u32,
}

impl QueryShard {
    /// Whether the series with these labels is in this shard.
    pub fn contains(&self, labels: &Labels) -> bool {
        self.count <= 1 || labels.stable_hash() % u64::from(self.count) == u64::from(self.index)
    }
}
