//! Serving blocks. A [`BucketStore`] is the [`Queryable`] over a bucket's blocks: it
//! learns a tenant's blocks from the bucket index, plus a listing for blocks newer than
//! the index (at most once per sync interval, never per query), opens each block once
//! (its footer and label columns kept in memory) and fetches chunk pages by byte range;
//! listings of label sets ([`Queryable::series`]) are answered from memory, no chunk read.
//! The single process puts it beside its head; a store gateway serves it over gRPC
//! ([`service`]), and queriers reach gateways through [`GatewayQueryable`], which places
//! each block on `replication_factor` gateways and fails over between them.
//!
//! When a sync fails (object storage unreachable), the store keeps answering from the
//! tenant's last known block list, with a warning ([`pyrite_storage::warnings`]) that it
//! may be out of date, and tries again after the sync interval; with no list known yet,
//! or when a block cannot be read, it is unavailable, and the querier answers from the
//! heads alone (see [`pyrite_storage::Fanout::or_partial`]).

pub mod client;
mod config;
pub mod service;

pub use client::GatewayQueryable;
pub use config::StoreGatewayConfig;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::try_join_all;
use object_store::path::Path;
use object_store::ObjectStore;
use parking_lot::Mutex;
use pyrite_block::bucket;
use pyrite_block::{BlockError, BlockMeta, BlockReader};
use pyrite_model::{Labels, Matcher};
use pyrite_storage::{merge_series, sorted_labels, sorted_union, Queryable, SelectHints, Series, StorageError};
use ulid::Ulid;

struct TenantView {
    synced: Instant,
    blocks: Vec<BlockMeta>,
    /// Why the last sync failed, when `blocks` are from an earlier one.
    stale: Option<String>,
}

/// The blocks of every tenant in one bucket.
pub struct BucketStore {
    bucket: Arc<dyn ObjectStore>,
    sync_interval: Duration,
    tenants: Mutex<HashMap<String, Arc<TenantView>>>,
    readers: Mutex<HashMap<Ulid, Arc<BlockReader>>>,
}

fn stale_warning(tenant: &str, why: &str) {
    pyrite_storage::warnings::warn(format!(
        "object storage unreachable: listing the blocks of tenant {tenant:?} failed ({why}); answered from the last known block list, results may be incomplete"
    ));
}

fn unavailable(e: BlockError) -> StorageError {
    match e {
        BlockError::Store(e) => StorageError::Unavailable(format!("object storage: {e}")),
        e if e.is_storage() => StorageError::Unavailable(e.to_string()),
        other => StorageError::Internal(other.to_string()),
    }
}

impl BucketStore {
    pub fn new(bucket: Arc<dyn ObjectStore>, sync_interval: Duration) -> Self {
        Self {
            bucket,
            sync_interval,
            tenants: Mutex::default(),
            readers: Mutex::default(),
        }
    }

    /// The tenant's live blocks as of the last sync (syncing first when that is older
    /// than the sync interval). When a sync fails, the blocks of the last one that did
    /// not, with a warning; an error only when there are none.
    pub async fn blocks(&self, tenant: &str) -> Result<Vec<BlockMeta>, BlockError> {
        let known = self.tenants.lock().get(tenant).cloned();
        if let Some(v) = &known {
            if v.synced.elapsed() < self.sync_interval {
                if let Some(why) = &v.stale {
                    stale_warning(tenant, why);
                }
                return Ok(v.blocks.clone());
            }
        }
        let (blocks, stale) = match self.sync(tenant, known.as_deref()).await {
            Ok(blocks) => (blocks, None),
            Err(e) => {
                let Some(known) = known else {
                    return Err(e);
                };
                tracing::warn!(tenant, error = %e, "syncing the bucket failed; answering from the last known blocks");
                let why = e.to_string();
                stale_warning(tenant, &why);
                (known.blocks.clone(), Some(why))
            }
        };
        self.tenants.lock().insert(
            tenant.to_string(),
            Arc::new(TenantView {
                synced: Instant::now(),
                blocks: blocks.clone(),
                stale,
            }),
        );
        Ok(blocks)
    }

    /// The index, then one listing of the tenant's directory: metas are fetched only
    /// for blocks neither the index nor the last sync knew; blocks gone from the bucket
    /// or marked for deletion are left out.
    async fn sync(&self, tenant: &str, last: Option<&TenantView>) -> Result<Vec<BlockMeta>, BlockError> {
        let index = bucket::read_index(self.bucket.as_ref(), tenant).await?;
        let mut known: HashMap<Ulid, BlockMeta> = index.blocks.iter().map(|m| (m.ulid, m.clone())).collect();
        if let Some(last) = last {
            known.extend(last.blocks.iter().map(|m| (m.ulid, m.clone())));
        }
        let listed = self.bucket.list_with_delimiter(Some(&Path::from(tenant))).await?;
        let mut blocks = Vec::new();
        for dir in &listed.common_prefixes {
            let Some(ulid) = dir.filename().and_then(|n| n.parse::<Ulid>().ok()) else {
                continue;
            };
            if index.deletion_marks.contains_key(&ulid) {
                continue;
            }
            match known.remove(&ulid) {
                Some(meta) => blocks.push(meta),
                None => {
                    if let Some(meta) = bucket::read_meta(self.bucket.as_ref(), tenant, ulid).await? {
                        blocks.push(meta);
                    }
                }
            }
        }
        blocks.sort_by_key(|m| (m.min_time, m.ulid));
        let live: Vec<Ulid> = blocks.iter().map(|b| b.ulid).collect();
        self.readers
            .lock()
            .retain(|id, r| r.meta().tenant != tenant || live.contains(id));
        Ok(blocks)
    }

    async fn reader(&self, meta: &BlockMeta) -> Result<Arc<BlockReader>, BlockError> {
        if let Some(r) = self.readers.lock().get(&meta.ulid) {
            return Ok(r.clone());
        }
        let opened = Arc::new(BlockReader::open(self.bucket.clone(), meta.clone()).await?);
        tracing::debug!(block = %meta.ulid, index_bytes = opened.index_bytes(), "opened a block");
        Ok(self.readers.lock().entry(meta.ulid).or_insert(opened).clone())
    }

    /// Open readers of the tenant's blocks overlapping `[start, end]` (of those named in
    /// `only`, when given; a named block this store has not synced yet is looked up).
    async fn readers_for(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        only: Option<&[Ulid]>,
    ) -> Result<Vec<Arc<BlockReader>>, StorageError> {
        let mut blocks = self.blocks(tenant).await.map_err(unavailable)?;
        if let Some(ids) = only {
            blocks.retain(|b| ids.contains(&b.ulid));
            for id in ids {
                if !blocks.iter().any(|b| b.ulid == *id) {
                    // Newer than this store's view; a block deleted since is skipped.
                    let meta = bucket::read_meta(self.bucket.as_ref(), tenant, *id).await;
                    blocks.extend(meta.map_err(unavailable)?);
                }
            }
        }
        let wanted = blocks.iter().filter(|b| b.overlaps(start, end));
        try_join_all(wanted.map(|b| self.reader(b))).await.map_err(unavailable)
    }

    /// Series of the named blocks (what a store gateway is asked).
    pub async fn select_blocks(
        &self,
        tenant: &str,
        ids: &[Ulid],
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        let readers = self.readers_for(tenant, hints.start, hints.end, Some(ids)).await?;
        select_from(&readers, hints, matchers).await
    }

    /// Label sets of the series of the named blocks, from the blocks' indexes alone.
    pub async fn series_blocks(
        &self,
        tenant: &str,
        ids: &[Ulid],
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        let readers = self.readers_for(tenant, hints.start, hints.end, Some(ids)).await?;
        Ok(series_from(&readers, hints, matchers))
    }

    pub async fn label_names_blocks(
        &self,
        tenant: &str,
        ids: &[Ulid],
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let readers = self.readers_for(tenant, start, end, Some(ids)).await?;
        Ok(sorted_union(readers.iter().map(|r| r.label_names(matchers)).collect()))
    }

    pub async fn label_values_blocks(
        &self,
        tenant: &str,
        ids: &[Ulid],
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let readers = self.readers_for(tenant, start, end, Some(ids)).await?;
        Ok(sorted_union(
            readers.iter().map(|r| r.label_values(name, matchers)).collect(),
        ))
    }
}

async fn select_from(
    readers: &[Arc<BlockReader>],
    hints: SelectHints,
    matchers: &[Matcher],
) -> Result<Vec<Series>, StorageError> {
    let answers = try_join_all(readers.iter().map(|r| r.select(hints, matchers)))
        .await
        .map_err(unavailable)?;
    Ok(merge_series(answers.into_iter().flatten().collect()))
}

fn series_from(readers: &[Arc<BlockReader>], hints: SelectHints, matchers: &[Matcher]) -> Vec<Labels> {
    sorted_labels(readers.iter().flat_map(|r| r.series(hints, matchers)).collect())
}

#[async_trait]
impl Queryable for BucketStore {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        let readers = self.readers_for(tenant, hints.start, hints.end, None).await?;
        select_from(&readers, hints, matchers).await
    }

    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        let readers = self.readers_for(tenant, start, end, None).await?;
        Ok(series_from(&readers, SelectHints::new(start, end), matchers))
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let readers = self.readers_for(tenant, start, end, None).await?;
        Ok(sorted_union(readers.iter().map(|r| r.label_names(matchers)).collect()))
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let readers = self.readers_for(tenant, start, end, None).await?;
        Ok(sorted_union(
            readers.iter().map(|r| r.label_values(name, matchers)).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use pyrite_block::meta::FORMAT_VERSION;
    use pyrite_block::{cut_block_id, encode, BlockStats, Compaction, WriteOptions};
    use pyrite_chunk::Chunk;

    use super::*;

    async fn put_block(bucket: &dyn ObjectStore, tenant: &str, shard: u32, samples: &[(i64, f64)]) -> BlockMeta {
        let s = Series::new(
            Labels::from_pairs(&[("__name__", "m")]),
            Chunk::encode_all(samples, 120),
        );
        let ulid = cut_block_id(tenant, shard, 0, 1000);
        let meta = BlockMeta {
            ulid,
            version: FORMAT_VERSION,
            tenant: tenant.into(),
            min_time: 0,
            max_time: 1000,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![ulid],
            },
            shards: vec![shard],
            files: vec![],
        };
        bucket::upload(bucket, meta, encode(vec![s], &WriteOptions::default()).unwrap())
            .await
            .unwrap()
    }

    fn samples(got: &[Series]) -> Vec<(i64, f64)> {
        got.iter().flat_map(|s| s.iter().collect::<Vec<_>>()).collect()
    }

    #[tokio::test]
    async fn blocks_are_found_by_index_and_listing_merged_and_kept_per_tenant() {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        // Shard 0's block is indexed; shard 1's arrived after the index was written.
        let first = put_block(bucket.as_ref(), "t", 0, &[(10, 1.0), (20, 2.0)]).await;
        bucket::refresh_index(bucket.as_ref(), "t", 1).await.unwrap();
        put_block(bucket.as_ref(), "t", 1, &[(20, 2.0), (30, 3.0)]).await;
        put_block(bucket.as_ref(), "other", 0, &[(10, 9.0)]).await;

        let store = BucketStore::new(bucket.clone(), Duration::ZERO);
        let m = [Matcher::equal("__name__", "m")];
        let got = store.select("t", SelectHints::new(0, 100), &m).await.unwrap();
        assert_eq!(
            samples(&got),
            [(10, 1.0), (20, 2.0), (30, 3.0)],
            "merged, each timestamp once"
        );
        assert_eq!(
            samples(&store.select("other", SelectHints::new(0, 100), &m).await.unwrap()),
            [(10, 9.0)]
        );
        assert!(store
            .select("t", SelectHints::new(5000, 6000), &m)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.label_values("t", "__name__", 0, 100, &[]).await.unwrap(), ["m"]);

        // A block marked for deletion is no longer read.
        let mut index = bucket::read_index(bucket.as_ref(), "t").await.unwrap();
        index.deletion_marks.insert(first.ulid, 1);
        bucket::write_index(bucket.as_ref(), "t", &index).await.unwrap();
        let got = store.select("t", SelectHints::new(0, 100), &m).await.unwrap();
        assert_eq!(samples(&got), [(20, 2.0), (30, 3.0)]);
    }

    #[tokio::test]
    async fn an_unreachable_bucket_answers_from_the_last_known_blocks_with_a_warning() {
        use pyrite_storage::warnings::Warnings;
        let flaky = Arc::new(pyrite_block::testing::FaultyBucket::new());
        let bucket: Arc<dyn ObjectStore> = flaky.clone();
        put_block(bucket.as_ref(), "t", 0, &[(10, 1.0), (20, 2.0)]).await;
        let store = BucketStore::new(bucket.clone(), Duration::ZERO);
        let m = [Matcher::equal("__name__", "m")];
        // Opened while the bucket was up: its label columns are in memory.
        assert_eq!(store.label_values("t", "__name__", 0, 100, &[]).await.unwrap(), ["m"]);

        flaky.set_down(true);
        let w = Warnings::new();
        let names = w.scope(store.label_values("t", "__name__", 0, 100, &[])).await;
        assert_eq!(
            names.unwrap(),
            ["m"],
            "the last known blocks still answer what they hold in memory"
        );
        let got = w.take();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("object storage unreachable: listing the blocks of tenant \"t\" failed"),
            "{got:?}"
        );
        assert!(got[0].ends_with("results may be incomplete"), "{got:?}");
        // Chunks cannot be fetched: unavailable, which the querier's fan-out turns into
        // an answer from the heads.
        let err = w
            .scope(store.select("t", SelectHints::new(0, 100), &m))
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Unavailable(_)), "{err:?}");
        assert_eq!(w.take().len(), 1, "the stale list was warned of");
        // A store that never saw the bucket has no list to fall back on.
        let fresh = BucketStore::new(bucket.clone(), Duration::ZERO);
        assert!(matches!(
            fresh.select("t", SelectHints::new(0, 100), &m).await,
            Err(StorageError::Unavailable(_))
        ));

        // Back up: answers are whole again, with no warning.
        flaky.set_down(false);
        let got = w.scope(store.select("t", SelectHints::new(0, 100), &m)).await.unwrap();
        assert_eq!(samples(&got), [(10, 1.0), (20, 2.0)]);
        assert!(w.take().is_empty());
    }
}
