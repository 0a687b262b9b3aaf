//! The compactor: keeps each tenant's blocks few and large, and old data gone.
//!
//! One pass over a tenant ([`Compactor::run_once`]):
//! 1. blocks whose data a higher-level block already holds (its `sources` include theirs)
//!    get a deletion mark, as do blocks older than the tenant's retention (its own, or
//!    the default);
//! 2. for each compaction range after the first (12h, then 24h by default), the live blocks
//!    that fit one aligned window are merged into one block — once the window is complete,
//!    that is, once the tenant has data beyond it — and the sources are marked;
//! 3. blocks marked longer ago than the deletion delay are deleted.
//!
//! Marks live in the tenant's bucket index, where readers look; a block is deleted only
//! after the delay, so a query that started before the mark never finds it gone. A merged
//! block's id is derived from its sources, so two compactors running at once write the
//! same block under the same name; the rest of a pass is idempotent too.
//!
//! Failures stay where they happen: a window that cannot be merged (a corrupt or
//! unreadable block) is skipped, a tenant whose pass fails is left for the next pass,
//! and either is logged and counted (`pyrite_compactor_failures_total{tenant}`) while
//! every other window and tenant goes on.

mod config;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use config::CompactorConfig;
use object_store::ObjectStore;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use pyrite_block::bucket::{self, BucketIndex};
use pyrite_block::cut::trim;
use pyrite_block::meta::FORMAT_VERSION;
use pyrite_block::{BlockError, BlockMeta, BlockReader, BlockStats, Compaction, WriteOptions};
use pyrite_model::{MatchOp, Matcher};
use pyrite_storage::merge_series;
use ulid::Ulid;

#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("compaction task failed: {0}")]
    Task(String),
}

#[derive(Debug, Clone)]
pub struct CompactorOptions {
    /// Block ranges, shortest first: the first is what ingesters cut; each later one is
    /// a level blocks are merged into.
    pub ranges: Vec<Duration>,
    /// Each tenant's retention (`compactor_retention`): blocks wholly older are deleted;
    /// zero keeps everything.
    pub limits: std::sync::Arc<pyrite_limits::Limits>,
    /// How long a marked block stays readable before it is deleted.
    pub deletion_delay: Duration,
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub compacted: usize,
    pub marked: usize,
    pub deleted: usize,
    /// Windows, deletions and tenants that failed and are left for a later pass.
    pub failed: usize,
}

pub struct Compactor {
    bucket: Arc<dyn ObjectStore>,
    opts: CompactorOptions,
    /// Failures by tenant.
    failures: Family<Vec<(String, String)>, Counter>,
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// The id of the block merged from `sources`: the window's start as time, a hash of the
/// sources as the rest.
pub fn merged_block_id(window_start: i64, sources: &[Ulid]) -> Ulid {
    let mut key = Vec::with_capacity(sources.len() * 16);
    for s in sources {
        key.extend_from_slice(&s.to_bytes());
    }
    let random = xxhash_rust::xxh3::xxh3_128(&key) & ((1u128 << 80) - 1);
    Ulid::from_parts(window_start.max(0) as u64, random)
}

/// Whether `b`'s data is all in `by` (a higher level holding every one of its sources).
fn covered(b: &BlockMeta, by: &BlockMeta) -> bool {
    by.ulid != b.ulid
        && by.compaction.level > b.compaction.level
        && b.compaction.sources.iter().all(|s| by.compaction.sources.contains(s))
}

impl Compactor {
    pub fn new(bucket: Arc<dyn ObjectStore>, opts: CompactorOptions) -> Self {
        Self {
            bucket,
            opts,
            failures: Family::default(),
        }
    }

    /// Registers the compactor's metrics.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "pyrite_compactor_failures",
            "Compaction steps (a window's merge, a deletion, a tenant's pass) that failed and were left for a later pass, by tenant.",
            self.failures.clone(),
        );
    }

    fn failed(&self, tenant: &str, report: &mut Report) {
        self.failures
            .get_or_create(&vec![("tenant".to_string(), tenant.to_string())])
            .inc();
        report.failed += 1;
    }

    /// Runs passes every `every` until the process ends.
    pub async fn run(self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let now = now_ms();
            match self.run_once(now).await {
                Ok(r) if r != Report::default() => tracing::info!(?r, "compaction pass"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "compaction pass failed; retrying at the next"),
            }
        }
    }

    /// One pass over every tenant at time `now` (ms). A tenant whose pass fails is
    /// logged, counted and left for the next pass; only failing to list the tenants
    /// fails the pass.
    pub async fn run_once(&self, now: i64) -> Result<Report, CompactorError> {
        let mut report = Report::default();
        for tenant in bucket::tenants(self.bucket.as_ref()).await? {
            if let Err(e) = self.tenant_pass(&tenant, now, &mut report).await {
                tracing::warn!(tenant, error = %e, "compacting a tenant failed; retrying at the next pass");
                self.failed(&tenant, &mut report);
            }
        }
        Ok(report)
    }

    async fn tenant_pass(&self, tenant: &str, now: i64, report: &mut Report) -> Result<(), CompactorError> {
        let store = self.bucket.as_ref();
        let mut index = bucket::refresh_index(store, tenant, now).await?;
        let retention = ms(self.opts.limits.compactor_retention(tenant).get());
        self.mark(&mut index, now, retention, report);
        let newest = index.blocks.iter().map(|b| b.max_time).max().unwrap_or(i64::MIN);
        for range in self.opts.ranges.iter().skip(1).map(|r| ms(*r).max(1)) {
            let mut windows: BTreeMap<i64, Vec<BlockMeta>> = BTreeMap::new();
            for b in index.live_blocks() {
                let start = b.min_time.div_euclid(range) * range;
                if b.max_time <= start + range && b.max_time - b.min_time < range {
                    windows.entry(start).or_default().push(b.clone());
                }
            }
            for (start, blocks) in windows {
                if blocks.len() < 2 || start + range >= newest {
                    continue;
                }
                let merged = match self.merge(tenant, start, &blocks).await {
                    Ok(m) => m,
                    Err(e) => {
                        let ids: Vec<String> = blocks.iter().map(|b| b.ulid.to_string()).collect();
                        tracing::warn!(tenant, window_start = start, blocks = ?ids, error = %e, "merging a window failed; skipping it until the next pass");
                        self.failed(tenant, report);
                        continue;
                    }
                };
                tracing::info!(tenant, block = %merged.ulid, sources = blocks.len(), level = merged.compaction.level, "compacted blocks");
                report.compacted += 1;
                index.blocks.push(merged);
                self.mark(&mut index, now, retention, report);
            }
        }
        let delay = ms(self.opts.deletion_delay);
        let due: Vec<Ulid> = index
            .deletion_marks
            .iter()
            .filter(|(_, at)| now - **at >= delay)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Err(e) = bucket::delete_block(store, tenant, id).await {
                tracing::warn!(tenant, block = %id, error = %e, "deleting a block failed; retrying at the next pass");
                self.failed(tenant, report);
                continue;
            }
            index.deletion_marks.remove(&id);
            index.blocks.retain(|b| b.ulid != id);
            report.deleted += 1;
        }
        index.updated_at = now;
        bucket::write_index(store, tenant, &index).await?;
        Ok(())
    }

    /// Marks blocks a higher level holds, and blocks past retention.
    fn mark(&self, index: &mut BucketIndex, now: i64, retention: i64, report: &mut Report) {
        let mut newly = Vec::new();
        for b in index.live_blocks() {
            let expired = retention > 0 && b.max_time <= now - retention;
            if expired || index.blocks.iter().any(|by| covered(b, by)) {
                newly.push(b.ulid);
            }
        }
        for id in newly {
            index.deletion_marks.insert(id, now);
            report.marked += 1;
        }
    }

    /// Merges `blocks` of one window into a block one level above the highest of them.
    async fn merge(&self, tenant: &str, start: i64, blocks: &[BlockMeta]) -> Result<BlockMeta, CompactorError> {
        let everything = [Matcher::new(MatchOp::NotEqual, "__name__", "").expect("a plain matcher")];
        let mut series = Vec::new();
        for b in blocks {
            let reader = BlockReader::open(self.bucket.clone(), b.clone()).await?;
            series.extend(reader.select(pyrite_storage::SelectHints::all(), &everything).await?);
        }
        let min_time = blocks.iter().map(|b| b.min_time).min().unwrap_or(start);
        let max_time = blocks.iter().map(|b| b.max_time).max().unwrap_or(start);
        let encoded = tokio::task::spawn_blocking(move || {
            let merged: Vec<_> = merge_series(series)
                .iter()
                .filter_map(|s| trim(s, min_time, max_time))
                .collect();
            pyrite_block::encode(merged, &WriteOptions::default())
        })
        .await
        .map_err(|e| CompactorError::Task(e.to_string()))??;
        let mut sources: Vec<Ulid> = blocks
            .iter()
            .flat_map(|b| b.compaction.sources.iter().copied())
            .collect();
        sources.sort();
        sources.dedup();
        let mut shards: Vec<u32> = blocks.iter().flat_map(|b| b.shards.iter().copied()).collect();
        shards.sort_unstable();
        shards.dedup();
        let meta = BlockMeta {
            ulid: merged_block_id(start, &sources),
            version: FORMAT_VERSION,
            tenant: tenant.to_string(),
            min_time,
            max_time,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: blocks.iter().map(|b| b.compaction.level).max().unwrap_or(1) + 1,
                sources,
            },
            shards,
            files: Vec::new(),
        };
        Ok(bucket::upload(self.bucket.as_ref(), meta, encoded).await?)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use pyrite_block::cut_block_id;
    use pyrite_chunk::Chunk;
    use pyrite_model::Labels;
    use pyrite_storage::Series;

    use super::*;

    const H: i64 = 3_600_000;

    /// A level-1 block of shard `shard` for `[start, start + 2h)`: series `m` with a
    /// sample every minute.
    async fn cut(bucket: &dyn ObjectStore, shard: u32, start: i64) -> BlockMeta {
        cut_for(bucket, "t", shard, start).await
    }

    async fn cut_for(bucket: &dyn ObjectStore, tenant: &str, shard: u32, start: i64) -> BlockMeta {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| (start + i * 60_000, (start / 60_000 + i) as f64))
            .collect();
        let s = Series::new(
            Labels::from_pairs(&[("__name__", "m")]),
            Chunk::encode_all(&samples, 120),
        );
        let ulid = cut_block_id(tenant, shard, start, start + 2 * H);
        let meta = BlockMeta {
            ulid,
            version: FORMAT_VERSION,
            tenant: tenant.into(),
            min_time: start,
            max_time: start + 2 * H,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![ulid],
            },
            shards: vec![shard],
            files: vec![],
        };
        let encoded = pyrite_block::encode(vec![s], &WriteOptions::default()).unwrap();
        bucket::upload(bucket, meta, encoded).await.unwrap()
    }

    fn opts(retention: Duration) -> CompactorOptions {
        opts_with(retention, "")
    }

    /// Options with `retention` for every tenant but those `overrides` names.
    fn opts_with(retention: Duration, overrides: &str) -> CompactorOptions {
        use pyrite_limits::{Limits, Overrides, PerTenant, TenantLimits};
        let defaults = TenantLimits {
            compactor_retention: retention.into(),
            ..TenantLimits::default()
        };
        let overrides: PerTenant<pyrite_config::Duration> = overrides.parse().unwrap();
        let limits = Limits::new(Overrides::new(defaults).set(&overrides, |l, v| l.compactor_retention = v));
        CompactorOptions {
            ranges: vec![Duration::from_secs(2 * 3600), Duration::from_secs(12 * 3600)],
            limits: std::sync::Arc::new(limits),
            deletion_delay: Duration::from_secs(3600),
        }
    }

    async fn samples(bucket: &Arc<dyn ObjectStore>, meta: &BlockMeta) -> Vec<(i64, f64)> {
        let r = BlockReader::open(bucket.clone(), meta.clone()).await.unwrap();
        let got = r
            .select(pyrite_storage::SelectHints::all(), &[Matcher::equal("__name__", "m")])
            .await
            .unwrap();
        got.iter().flat_map(|s| s.iter().collect::<Vec<_>>()).collect()
    }

    #[tokio::test]
    async fn a_complete_window_is_merged_then_its_sources_deleted_after_the_delay() {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let mut want = Vec::new();
        for k in 0..6 {
            let b = cut(bucket.as_ref(), 0, k * 2 * H).await;
            want.extend(samples(&bucket, &b).await);
        }
        // Only once the tenant has data past the 12h window is it complete.
        let c = Compactor::new(bucket.clone(), opts(Duration::ZERO));
        assert_eq!(c.run_once(13 * H).await.unwrap().compacted, 0);
        cut(bucket.as_ref(), 1, 12 * H).await;

        // Two compactors at once write the same block and the same marks.
        let other = Compactor::new(bucket.clone(), opts(Duration::ZERO));
        let (a, b) = tokio::join!(c.run_once(15 * H), other.run_once(15 * H));
        assert_eq!((a.unwrap().compacted, b.unwrap().compacted), (1, 1));
        let index = bucket::read_index(bucket.as_ref(), "t").await.unwrap();
        let live: Vec<&BlockMeta> = index.live_blocks().collect();
        assert_eq!(live.len(), 2, "the merged block and the block after the window");
        let merged = live.iter().find(|m| m.compaction.level == 2).unwrap();
        assert_eq!((merged.min_time, merged.max_time), (0, 12 * H));
        assert_eq!(merged.compaction.sources.len(), 6);
        assert_eq!(samples(&bucket, merged).await, want);
        assert_eq!(index.deletion_marks.len(), 6);
        assert_eq!(
            bucket::list_blocks(bucket.as_ref(), "t").await.unwrap().len(),
            8,
            "marked, not yet deleted"
        );

        // After the deletion delay the sources are gone from the bucket and the index.
        let r = c.run_once(15 * H + H).await.unwrap();
        assert_eq!((r.compacted, r.deleted), (0, 6));
        assert_eq!(bucket::list_blocks(bucket.as_ref(), "t").await.unwrap().len(), 2);
        let index = bucket::read_index(bucket.as_ref(), "t").await.unwrap();
        assert!(index.deletion_marks.is_empty());
        assert_eq!(index.blocks.len(), 2);
    }

    #[tokio::test]
    async fn blocks_past_retention_are_marked_then_deleted() {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        cut(bucket.as_ref(), 0, 0).await;
        let young = cut(bucket.as_ref(), 0, 48 * H).await;
        let c = Compactor::new(bucket.clone(), opts(Duration::from_secs(24 * 3600)));
        let r = c.run_once(50 * H).await.unwrap();
        assert_eq!((r.marked, r.deleted), (1, 0));
        let r = c.run_once(52 * H).await.unwrap();
        assert_eq!(r.deleted, 1);
        assert_eq!(bucket::list_blocks(bucket.as_ref(), "t").await.unwrap(), [young]);

        // A tenant of its own retention: a shorter one deletes the young block too; the
        // global one would have kept it.
        let o = opts_with(Duration::from_secs(24 * 3600), "t=1h");
        let short = Compactor::new(bucket.clone(), o);
        assert_eq!(short.run_once(52 * H).await.unwrap().marked, 1);
        assert_eq!(short.run_once(54 * H).await.unwrap().deleted, 1);
        assert!(bucket::list_blocks(bucket.as_ref(), "t").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_corrupt_block_stops_neither_its_other_windows_nor_other_tenants() {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        // Tenant "a": two complete 12h windows, one block of the first corrupted.
        // Tenant "b": one complete window.
        let mut bad = None;
        for k in 0..12 {
            let b = cut_for(bucket.as_ref(), "a", 0, k * 2 * H).await;
            bad.get_or_insert(b);
        }
        cut_for(bucket.as_ref(), "a", 0, 24 * H).await;
        for k in 0..7 {
            cut_for(bucket.as_ref(), "b", 0, k * 2 * H).await;
        }
        let bad = bad.unwrap();
        let data = object_store::path::Path::from(format!("a/{}/series.parquet", bad.ulid));
        object_store::ObjectStoreExt::put(bucket.as_ref(), &data, b"not parquet"[..].into())
            .await
            .unwrap();

        let c = Compactor::new(bucket.clone(), opts(Duration::ZERO));
        let mut registry = Registry::default();
        c.register_metrics(&mut registry);
        let r = c.run_once(30 * H).await.unwrap();
        assert_eq!((r.compacted, r.failed), (2, 1), "{r:?}");
        for (tenant, windows) in [("a", vec![(12 * H, 24 * H)]), ("b", vec![(0, 12 * H)])] {
            let index = bucket::read_index(bucket.as_ref(), tenant).await.unwrap();
            let merged: Vec<(i64, i64)> = index
                .live_blocks()
                .filter(|b| b.compaction.level == 2)
                .map(|b| (b.min_time, b.max_time))
                .collect();
            assert_eq!(merged, windows, "tenant {tenant}");
        }
        // The bad window's blocks stay as they are, to be tried again.
        let index = bucket::read_index(bucket.as_ref(), "a").await.unwrap();
        assert!(index.live_blocks().any(|b| b.ulid == bad.ulid));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("pyrite_compactor_failures_total{tenant=\"a\"} 1"),
            "{text}"
        );
    }
}
