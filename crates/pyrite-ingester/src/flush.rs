//! Cutting blocks. The leader of each shard watches its head; once a block range (2h by
//! default) lies half a range behind the newest sample, it
//!
//! 1. commits `seal(end)`: from that point in the log every replica refuses samples
//!    older than `end`, so the data before it is final and the same on every replica;
//! 2. cuts one block per tenant and range before `end` from its head and uploads it
//!    (data, then meta) under an id derived from tenant, shard and range, so a leader
//!    that takes over mid-way cuts and uploads the very same block again;
//! 3. refreshes the tenants' bucket indexes, waits `flush_delay` so readers have found
//!    the blocks, and commits `flushed(end)`: every replica drops that data.
//!
//! Nothing leaves a head before it is in the bucket; a failed step is retried at the
//! next check, by whichever replica leads then.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use pyrite_block::bucket;
use pyrite_block::cut::trim;
use pyrite_block::meta::FORMAT_VERSION;
use pyrite_block::{cut_block_id, BlockMeta, BlockStats, Compaction, WriteOptions};
use pyrite_ring::ShardId;
use pyrite_storage::SelectHints;
use pyrite_tsdb::Head;

use crate::command;
use crate::shards::ShardHost;

/// Where blocks go and when they are cut.
#[derive(Clone)]
pub struct BlockSettings {
    pub bucket: Arc<dyn ObjectStore>,
    /// Length of a block's time range (aligned to multiples of it since the epoch).
    pub range: Duration,
    /// How often a leader looks for a range to cut.
    pub check_every: Duration,
    /// How long uploaded blocks are kept in the head too, so readers have found them
    /// before the head lets go (at least the readers' bucket sync interval).
    pub flush_delay: Duration,
}

impl std::fmt::Debug for BlockSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockSettings")
            .field("bucket", &self.bucket.to_string())
            .field("range", &self.range)
            .field("check_every", &self.check_every)
            .field("flush_delay", &self.flush_delay)
            .finish()
    }
}

/// The end of the newest range a head is done with: the last range boundary at least
/// half a range older than the newest sample.
fn cut_point(newest: i64, range: i64) -> i64 {
    (newest - range / 2).div_euclid(range) * range
}

impl ShardHost {
    /// Cuts blocks of the shards this node leads, until the process ends.
    pub async fn cut_blocks(self: Arc<Self>) {
        let Some(blocks) = self.settings.blocks.clone() else {
            return;
        };
        loop {
            tokio::time::sleep(blocks.check_every).await;
            let replicas: Vec<(ShardId, Arc<crate::shards::Replica>)> =
                self.replicas.read().iter().map(|(s, r)| (*s, r.clone())).collect();
            for (shard, r) in replicas {
                if r.raft.current_leader().await != Some(self.node_id) {
                    continue;
                }
                if let Err(e) = self.cut_shard(shard, &r.head, &blocks).await {
                    tracing::warn!(shard, error = %e, "cutting blocks failed; retrying at the next check");
                }
            }
        }
    }

    async fn cut_shard(&self, shard: ShardId, head: &Arc<Head>, b: &BlockSettings) -> Result<(), String> {
        let range = (b.range.as_millis() as i64).max(1);
        let Some((oldest, newest)) = head.time_bounds() else {
            return Ok(());
        };
        let (sealed, truncated) = (head.min_valid_time(), head.truncated_before());
        // A seal not yet followed by its flush (a leader stopped mid-way) is finished
        // first; otherwise cut up to the newest completed range.
        let end = if sealed > truncated {
            sealed
        } else {
            cut_point(newest, range)
        };
        if end <= truncated || oldest >= end {
            return Ok(());
        }
        if sealed < end {
            self.commit(shard, command::encode_seal(end)).await?;
        }
        let first = match truncated {
            i64::MIN => oldest.div_euclid(range) * range,
            t => t,
        };
        let mut uploaded = 0;
        let mut tenants = Vec::new();
        for tenant in head.tenant_names() {
            let mut start = first;
            while start < end {
                let stop = (start + range).min(end);
                if self.cut_one(shard, head, b, &tenant, start, stop).await? {
                    uploaded += 1;
                    if !tenants.contains(&tenant) {
                        tenants.push(tenant.clone());
                    }
                }
                start = stop;
            }
        }
        let now = now_ms();
        for tenant in &tenants {
            // Best effort: readers also list the bucket for blocks the index lacks.
            if let Err(e) = bucket::refresh_index(b.bucket.as_ref(), tenant, now).await {
                tracing::warn!(tenant, error = %e, "refreshing the bucket index");
            }
        }
        tracing::info!(
            shard,
            end,
            blocks = uploaded,
            "uploaded blocks; flushing the head after the delay"
        );
        tokio::time::sleep(b.flush_delay).await;
        self.commit(shard, command::encode_flushed(end)).await?;
        Ok(())
    }

    /// Cuts and uploads one tenant's block for `[start, stop)`; false when it is empty.
    async fn cut_one(
        &self,
        shard: ShardId,
        head: &Arc<Head>,
        b: &BlockSettings,
        tenant: &str,
        start: i64,
        stop: i64,
    ) -> Result<bool, String> {
        let head = head.clone();
        let owned = tenant.to_string();
        let encoded = tokio::task::spawn_blocking(move || {
            let series: Vec<_> = head
                .select_series(&owned, SelectHints::new(start, stop - 1), &[])
                .iter()
                .filter_map(|s| trim(s, start, stop))
                .collect();
            if series.is_empty() {
                return Ok(None);
            }
            pyrite_block::encode(series, &WriteOptions::default()).map(Some)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let Some(encoded) = encoded else {
            return Ok(false);
        };
        let ulid = cut_block_id(tenant, shard, start, stop);
        let meta = BlockMeta {
            ulid,
            version: FORMAT_VERSION,
            tenant: tenant.to_string(),
            min_time: start,
            max_time: stop,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![ulid],
            },
            shards: vec![shard],
            files: Vec::new(),
        };
        let mut backoff = Duration::from_millis(200);
        loop {
            match bucket::upload(b.bucket.as_ref(), meta.clone(), encoded.clone()).await {
                Ok(m) => {
                    tracing::info!(shard, tenant, block = %m.ulid, series = m.stats.series, samples = m.stats.samples, bytes = m.data_size(), "uploaded a block");
                    return Ok(true);
                }
                Err(e) if backoff < Duration::from_secs(10) => {
                    tracing::warn!(shard, tenant, error = %e, "uploading a block; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(e) => return Err(format!("uploading block {ulid}: {e}")),
            }
        }
    }

    async fn commit(&self, shard: ShardId, cmd: Vec<u8>) -> Result<(), String> {
        self.push(shard, cmd)
            .await
            .map(|_| ())
            .map_err(|s| s.message().to_string())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_cut_once_half_a_range_lies_behind_it() {
        let h = 3_600_000;
        assert_eq!(cut_point(2 * h + h / 2, 2 * h), 0);
        assert_eq!(cut_point(3 * h - 1, 2 * h), 0);
        assert_eq!(cut_point(3 * h, 2 * h), 2 * h);
        assert_eq!(cut_point(-1, 2 * h), -2 * h);
    }
}
