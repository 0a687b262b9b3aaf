//! Cutting blocks, tenant by tenant. The leader of each shard watches each tenant's
//! part of its head; once a block range (2h by default) lies half a range behind that
//! tenant's newest sample, it
//!
//! 1. commits `seal(tenant, end)`: from that point in the log every replica refuses the
//!    tenant's samples older than `end`, so its data before it is final and the same on
//!    every replica;
//! 2. cuts one block per range before `end` that holds any of the tenant's data (leaping
//!    over empty ranges, so one sample from 1970 costs one block, not a walk over every
//!    range since) and uploads it (data, then meta) under an id derived from tenant,
//!    shard and range, so a leader that takes over mid-way cuts and uploads the very
//!    same block again;
//! 3. refreshes the tenant's bucket index, waits `flush_delay` so readers have found the
//!    blocks, and commits `flushed(tenant, end)`: every replica drops that data.
//!
//! Each tenant follows its own clock: one catching up after an outage is neither held
//! back by nor refused because of another. Nothing leaves a head before it is in the
//! bucket; a failed step is counted (`pyrite_ingester_block_cut_failures_total{tenant}`)
//! and retried at the next check, by whichever replica leads then. One tenant's failure
//! never stops the others' cutting, and costs them at most one upload attempt's wait per
//! check (the object store client's own quick retries included), never a backoff.

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
    align_down(newest.saturating_sub(range / 2), range)
}

/// The range boundary at or before `t` (the oldest representable time if none is).
fn align_down(t: i64, range: i64) -> i64 {
    t.checked_sub(t.rem_euclid(range)).unwrap_or(i64::MIN)
}

/// The ranges `[start, stop)` before `end` that hold data, oldest first: from `first`,
/// each found by asking `next_data` for the oldest sample at or after a time.
fn ranges_with_data(
    first: i64,
    end: i64,
    range: i64,
    mut next_data: impl FnMut(i64) -> Option<i64>,
) -> impl Iterator<Item = (i64, i64)> {
    let mut from = Some(first);
    std::iter::from_fn(move || {
        let t = next_data(from?).filter(|&t| t < end)?;
        let start = align_down(t, range).max(first);
        let stop = start.saturating_add(range).min(end);
        from = (stop < end).then_some(stop);
        Some((start, stop))
    })
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
                if !r.group.is_leader() {
                    continue;
                }
                self.cut_shard(shard, &r.head, &blocks).await;
            }
        }
    }

    /// Seals and cuts every tenant that has a range to cut, then flushes them after one
    /// shared delay. A tenant's failed step is logged, counted and left for the next
    /// check; it neither holds up nor stops the others.
    async fn cut_shard(&self, shard: ShardId, head: &Arc<Head>, b: &BlockSettings) {
        let mut cut = Vec::new();
        for tenant in head.tenant_names() {
            match self.cut_tenant(shard, head, b, &tenant).await {
                Ok(Some(end)) => cut.push((tenant, end)),
                Ok(None) => {}
                Err(e) => self.cut_failed(shard, &tenant, &e),
            }
        }
        if cut.is_empty() {
            return;
        }
        tokio::time::sleep(b.flush_delay).await;
        for (tenant, end) in cut {
            if let Err(e) = self.commit(shard, command::encode_flushed(&tenant, end)).await {
                self.cut_failed(shard, &tenant, &format!("committing flushed: {e}"));
            }
        }
    }

    fn cut_failed(&self, shard: ShardId, tenant: &str, error: &str) {
        tracing::warn!(
            shard,
            tenant,
            error,
            "cutting a tenant's blocks failed; retrying at the next check"
        );
        self.cut_failures
            .get_or_create(&vec![("tenant".to_string(), tenant.to_string())])
            .inc();
    }

    /// Seals one tenant and uploads its blocks up to the end of its newest completed
    /// range (or of a seal a stopped leader did not flush); the end to flush, if any.
    async fn cut_tenant(
        &self,
        shard: ShardId,
        head: &Arc<Head>,
        b: &BlockSettings,
        tenant: &str,
    ) -> Result<Option<i64>, String> {
        let range = (b.range.as_millis() as i64).max(1);
        let Some((oldest, newest)) = head.time_bounds(tenant) else {
            return Ok(None);
        };
        let bounds = head.tenant_bounds(tenant);
        let (sealed, truncated) = (bounds.min_valid_time, bounds.truncated_before);
        let end = if sealed > truncated {
            sealed
        } else {
            cut_point(newest, range)
        };
        if end <= truncated || oldest >= end {
            return Ok(None);
        }
        if sealed < end {
            self.commit(shard, command::encode_seal(tenant, end)).await?;
        }
        let first = match truncated {
            i64::MIN => align_down(oldest, range),
            t => t,
        };
        let mut uploaded = 0;
        for (start, stop) in ranges_with_data(first, end, range, |t| head.first_time_from(tenant, t)) {
            if self.cut_one(shard, head, b, tenant, start, stop).await? {
                uploaded += 1;
            }
        }
        if uploaded > 0 {
            // Best effort: readers also list the bucket for blocks the index lacks.
            if let Err(e) = bucket::refresh_index(b.bucket.as_ref(), tenant, now_ms()).await {
                tracing::warn!(tenant, error = %e, "refreshing the bucket index");
            }
        }
        tracing::info!(
            shard,
            tenant,
            end,
            blocks = uploaded,
            "uploaded blocks; flushing the head after the delay"
        );
        Ok(Some(end))
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
        // One attempt (the object store client retries briefly inside it): a failure
        // waits for the next check rather than holding up the shard's other tenants.
        let m = bucket::upload(b.bucket.as_ref(), meta, encoded)
            .await
            .map_err(|e| format!("uploading a block ({ulid}): {e}"))?;
        tracing::info!(shard, tenant, block = %m.ulid, series = m.stats.series, samples = m.stats.samples, bytes = m.data_size(), "uploaded a block");
        Ok(true)
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
    use pyrite_block::testing::FaultyBucket;
    use pyrite_model::{Labels, Sample, TimeSeries};
    use pyrite_storage::Appendable;

    use super::*;
    use crate::local::{single_node_host, LocalShards};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_whose_uploads_fail_neither_stops_nor_delays_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Arc::new(FaultyBucket::new());
        bucket.refuse_writes_under(Some("bad/"));
        let blocks = BlockSettings {
            bucket: bucket.clone(),
            range: Duration::from_secs(60),
            check_every: Duration::from_secs(3600),
            flush_delay: Duration::ZERO,
        };
        let host = single_node_host(dir.path(), 1, Some(blocks.clone())).await;
        let mut registry = prometheus_client::registry::Registry::default();
        host.register_metrics(&mut registry);
        let store = LocalShards::new(host.clone());
        // Three one-minute ranges for each tenant: the first two are ready to cut.
        for tenant in ["bad", "good"] {
            let samples = [(0, 1.0), (60_000, 2.0), (150_000, 3.0)].map(|(t, v)| Sample::new(t, v));
            let series = TimeSeries::floats(Labels::from_pairs(&[("__name__", "m")]), samples.to_vec());
            store.append(tenant, vec![series]).await.unwrap();
        }
        let head = host.head(0, true).await.unwrap();

        host.cut_shard(0, &head, &blocks).await;
        assert_eq!(
            head.tenant_bounds("good").truncated_before,
            120_000,
            "good is cut and flushed"
        );
        assert_eq!(
            head.tenant_bounds("bad").truncated_before,
            i64::MIN,
            "bad keeps its data"
        );
        assert_eq!(blocks_of(&bucket, "bad").await, 0);
        assert_eq!(
            bucket.refused(),
            1,
            "one attempt per check: nothing waits on bad's retries"
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("pyrite_ingester_block_cut_failures_total{tenant=\"bad\"} 1"),
            "{text}"
        );

        // The bucket takes bad's blocks again: the next check cuts and flushes them.
        bucket.refuse_writes_under(None);
        host.cut_shard(0, &head, &blocks).await;
        assert_eq!(head.tenant_bounds("bad").truncated_before, 120_000);
        assert_eq!(blocks_of(&bucket, "bad").await, 2);
        assert_eq!(blocks_of(&bucket, "good").await, 2);
    }

    async fn blocks_of(bucket: &FaultyBucket, tenant: &str) -> usize {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let files: Vec<_> = bucket.list(Some(&tenant.into())).try_collect().await.unwrap();
        files
            .iter()
            .filter(|f| f.location.as_ref().ends_with("meta.json"))
            .count()
    }

    #[test]
    fn a_range_is_cut_once_half_a_range_lies_behind_it() {
        let h = 3_600_000;
        assert_eq!(cut_point(2 * h + h / 2, 2 * h), 0);
        assert_eq!(cut_point(3 * h - 1, 2 * h), 0);
        assert_eq!(cut_point(3 * h, 2 * h), 2 * h);
        assert_eq!(cut_point(-1, 2 * h), -2 * h);
        assert_eq!(cut_point(i64::MIN, 2 * h), i64::MIN, "no overflow");
        assert_eq!(align_down(i64::MIN + 5, 2 * h), i64::MIN);
    }

    #[test]
    fn only_ranges_that_hold_data_are_cut() {
        let h = 3_600_000;
        let now = 1_800_000_000_000 / (2 * h) * (2 * h);
        // One sample at the epoch, one at the oldest time there is, and two recent ranges.
        let data = [i64::MIN, 0, now - 4 * h + 5, now - 3 * h, now - 2 * h + 1];
        let next = |t: i64| data.iter().copied().find(|&d| d >= t);
        let mut asked = 0;
        let got: Vec<(i64, i64)> = ranges_with_data(align_down(i64::MIN, 2 * h), now, 2 * h, |t| {
            asked += 1;
            next(t)
        })
        .collect();
        assert_eq!(
            got,
            [
                (i64::MIN, i64::MIN + 2 * h),
                (0, 2 * h),
                (now - 4 * h, now - 2 * h),
                (now - 2 * h, now)
            ]
        );
        assert!(asked <= 5, "one look-up per range cut, not per range walked: {asked}");
        // A seal's end that is not a range boundary ends the last range early.
        let got: Vec<_> = ranges_with_data(0, now - h, 2 * h, next).collect();
        assert_eq!(got.last(), Some(&(now - 2 * h, now - h)));
        assert_eq!(ranges_with_data(0, 0, 2 * h, next).count(), 0);
    }
}
