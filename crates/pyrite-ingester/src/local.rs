//! The shards of a single-process Pyrite, reached without the network: writes are split
//! by the ring and committed to each shard's Raft group on this node; reads go to every
//! local shard's head after a read index, and are merged. This is what `--target=all`
//! puts behind its distributor and querier, with one replica per shard.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::{join_all, try_join_all};
use pyrite_client::errors::{self, storage_error};
use pyrite_model::{Labels, Matcher, TimeSeries};
use pyrite_ring::ShardId;
use pyrite_storage::{
    AppendError, AppendOutcome, Appendable, Fanout, KnownWrite, MetadataQuery, MetadataReader, MetricMetadata,
    Queryable, SelectHints, Series, StorageError,
};

use crate::shards::{Applied, ShardHost};

/// Every shard of the ring, hosted by this process.
#[derive(Clone)]
pub struct LocalShards {
    host: Arc<ShardHost>,
}

impl LocalShards {
    pub fn new(host: Arc<ShardHost>) -> Self {
        Self { host }
    }

    /// Every shard's head, each confirmed current by its leader, as one store.
    async fn heads(&self) -> Result<Fanout, StorageError> {
        let shards = self.host.ring().read().shard_ids();
        let reads = shards.into_iter().map(|s| self.host.head(s, true));
        let heads = try_join_all(reads).await.map_err(storage_error)?;
        Ok(Fanout::new(
            heads.into_iter().map(|h| h as Arc<dyn Queryable>).collect(),
        ))
    }
}

/// What the shards' answers to the parts of one write come to.
fn gather(results: Vec<Result<Applied, tonic::Status>>) -> Result<AppendOutcome, AppendError> {
    errors::gather(results, |applied| AppendOutcome {
        samples_written: applied.samples,
        histograms_written: applied.histograms,
        samples_rejected: applied.rejected,
        rejections: applied.rejections,
    })
}

#[async_trait]
impl Appendable for LocalShards {
    async fn append(&self, tenant: &str, series: Vec<TimeSeries>) -> Result<AppendOutcome, AppendError> {
        let parts = self.host.ring().read().split(tenant, series);
        let pushes = parts
            .into_iter()
            .map(|(shard, part): (ShardId, Vec<TimeSeries>)| self.host.push_write(shard, tenant, part));
        gather(join_all(pushes).await)
    }

    async fn append_known(&self, tenant: &str, write: KnownWrite) -> Result<AppendOutcome, AppendError> {
        let parts = self
            .host
            .ring()
            .read()
            .split_by(tenant, write.samples, |s| s.series.labels());
        let pushes = parts
            .into_iter()
            .map(|(shard, samples)| self.host.push_known_write(shard, tenant, KnownWrite { samples }));
        gather(join_all(pushes).await)
    }

    async fn append_metadata(&self, tenant: &str, metadata: Vec<MetricMetadata>) -> Result<(), AppendError> {
        let parts = self.host.ring().read().split_by_metric(tenant, metadata, |m| &m.metric);
        let pushes = parts
            .into_iter()
            .map(|(shard, part)| self.host.push_metadata(shard, tenant, part));
        gather(join_all(pushes).await).map(drop)
    }
}

#[async_trait]
impl MetadataReader for LocalShards {
    async fn metadata(&self, tenant: &str, query: &MetadataQuery) -> Result<Vec<MetricMetadata>, StorageError> {
        let shards = self.host.ring().read().shard_ids();
        let reads = shards
            .into_iter()
            .map(|s| self.host.metric_metadata(s, tenant, query, true));
        let parts = try_join_all(reads).await.map_err(storage_error)?;
        Ok(parts.into_iter().flatten().collect())
    }
}

#[async_trait]
impl Queryable for LocalShards {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        self.heads().await?.select(tenant, hints, matchers).await
    }

    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        self.heads().await?.series(tenant, start, end, matchers).await
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        self.heads().await?.label_names(tenant, start, end, matchers).await
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        self.heads()
            .await?
            .label_values(tenant, name, start, end, matchers)
            .await
    }
}

/// A one-node host leading `shards` one-replica groups under `dir`, for tests.
#[cfg(test)]
pub(crate) async fn single_node_host(
    dir: &std::path::Path,
    shards: u32,
    blocks: Option<crate::flush::BlockSettings>,
) -> Arc<ShardHost> {
    use parking_lot::RwLock;
    use pyrite_client::{Channels, ShardClient};
    use pyrite_ring::{Ingester, Ring, RingDesc};

    use crate::shards::HostSettings;
    use pyrite_raft::RaftOptions;

    let me = Ingester {
        id: 1,
        addr: "127.0.0.1:1".into(),
    };
    let ring = Ring::new(RingDesc::even(vec![me], shards, 1)).unwrap();
    let client = ShardClient::new(Arc::new(RwLock::new(ring)), Channels::default());
    let settings = HostSettings {
        dir: dir.to_path_buf(),
        head: Default::default(),
        raft: RaftOptions::default(),
        blocks,
    };
    let host = ShardHost::new(1, client, settings);
    host.open_shards().await.unwrap();
    host.wait_to_lead_all(std::time::Duration::from_secs(10)).await.unwrap();
    host
}

#[cfg(test)]
mod tests {
    use pyrite_model::Sample;

    use super::*;

    /// A single-process host: `shards` one-replica groups under `dir`.
    async fn open(dir: &std::path::Path, shards: u32) -> (Arc<ShardHost>, LocalShards) {
        let host = single_node_host(dir, shards, None).await;
        (host.clone(), LocalShards::new(host))
    }

    fn write(name: &str, samples: &[(i64, f64)]) -> Vec<TimeSeries> {
        vec![TimeSeries::floats(
            Labels::from_pairs(&[("__name__", name)]),
            samples.iter().map(|(t, v)| Sample::new(*t, *v)).collect(),
        )]
    }

    async fn read(store: &LocalShards, tenant: &str, name: &str) -> Vec<(i64, f64)> {
        let got = store
            .select(tenant, SelectHints::all(), &[Matcher::equal("__name__", name)])
            .await
            .unwrap();
        got.iter().flat_map(|s| s.iter().collect::<Vec<_>>()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_writes_survive_reopen_and_tenants_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (host, store) = open(dir.path(), 3).await;
            let out = store.append("t", write("m", &[(1, 1.0), (2, 2.0)])).await.unwrap();
            assert_eq!(out.samples_written, 2);
            let out = store.append("t", write("m", &[(1, 5.0), (3, 3.0)])).await.unwrap();
            assert_eq!((out.samples_written, out.samples_rejected), (1, 1));
            store.append("other", write("m", &[(9, 9.0)])).await.unwrap();
            // Applied from the writes as given (nothing of them is kept once applied)…
            assert_eq!(read(&store, "t", "m").await, [(1, 1.0), (2, 2.0), (3, 3.0)]);
            assert_eq!(host.prepared_writes(), 0);
            host.shutdown().await;
        }
        // …and from the log's bytes on replay: the same heads.
        let (_host, store) = open(dir.path(), 3).await;
        assert_eq!(read(&store, "t", "m").await, [(1, 1.0), (2, 2.0), (3, 3.0)]);
        assert_eq!(read(&store, "other", "m").await, [(9, 9.0)]);
        assert_eq!(
            store
                .label_values("t", "__name__", i64::MIN, i64::MAX, &[])
                .await
                .unwrap(),
            ["m"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn known_writes_land_as_their_labeled_series_and_replay_from_the_log() {
        use pyrite_storage::KnownSeries;
        let dir = tempfile::tempdir().unwrap();
        let series: Vec<_> = (0..8)
            .map(|i| KnownSeries::new(Labels::from_pairs(&[("__name__", "k"), ("i", &i.to_string())])))
            .collect();
        let write = |t: i64, v: f64| {
            let mut w = KnownWrite::new();
            for s in &series {
                w.push_float(s, t, v);
            }
            w
        };
        let expected: Vec<(i64, f64)> = vec![(1, 1.0), (2, 2.0)];
        {
            let (host, store) = open(dir.path(), 3).await;
            let out = store.append_known("t", write(1, 1.0)).await.unwrap();
            assert_eq!(out.samples_written, 8);
            let out = store.append_known("t", write(2, 2.0)).await.unwrap();
            assert_eq!(out.samples_written, 8);
            // A different value at a timestamp already written is refused, as ever.
            let out = store.append_known("t", write(2, 5.0)).await.unwrap();
            assert_eq!((out.samples_written, out.samples_rejected), (0, 8));
            assert_eq!(read(&store, "t", "k").await.len(), 16);
            let heads = host.heads();
            assert!(heads.iter().filter(|(_, h)| h.stats().series > 0).count() > 1);
            assert_eq!(host.prepared_writes(), 0);
            host.shutdown().await;
        }
        // Nothing of a known series is in the log but its labels: replay builds the
        // same heads.
        let (_host, store) = open(dir.path(), 3).await;
        for s in &series {
            let got = store
                .select("t", SelectHints::all(), &[Matcher::equal("i", s.labels().get("i"))])
                .await
                .unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].iter().collect::<Vec<_>>(), expected);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metric_metadata_is_kept_per_tenant_across_shards_and_replays() {
        use pyrite_storage::MetricType;
        let md = |metric: &str, help: &str| MetricMetadata {
            metric: metric.into(),
            kind: MetricType::Counter,
            help: help.into(),
            unit: String::new(),
        };
        let mut families: Vec<_> = (0..12).map(|i| md(&format!("m{i}_total"), "Counts.")).collect();
        families.sort();
        let all = MetadataQuery::default();
        let dir = tempfile::tempdir().unwrap();
        {
            let (host, store) = open(dir.path(), 3).await;
            store.append_metadata("t", families.clone()).await.unwrap();
            store
                .append_metadata("other", vec![md("m0_total", "Else.")])
                .await
                .unwrap();
            let mut got = store.metadata("t", &all).await.unwrap();
            got.sort();
            assert_eq!(got, families);
            let mut holding = 0;
            let shards = host.ring().read().shard_ids();
            for shard in shards {
                let part = host.metric_metadata(shard, "t", &all, true).await.unwrap();
                holding += usize::from(!part.is_empty());
            }
            assert!(holding > 1, "families are spread over the shards");
            host.shutdown().await;
        }
        let (_host, store) = open(dir.path(), 3).await;
        let mut got = store.metadata("t", &all).await.unwrap();
        got.sort();
        assert_eq!(got, families, "replayed from the log");
        let one = MetadataQuery {
            metric: Some("m0_total".into()),
            ..MetadataQuery::default()
        };
        assert_eq!(
            store.metadata("other", &one).await.unwrap(),
            vec![md("m0_total", "Else.")]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_across_shards_are_all_applied() {
        let dir = tempfile::tempdir().unwrap();
        let (host, store) = open(dir.path(), 4).await;
        let mut tasks = Vec::new();
        for w in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    store
                        .append("t", write(&format!("m{w}"), &[(i, i as f64)]))
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for w in 0..8 {
            assert_eq!(read(&store, "t", &format!("m{w}")).await.len(), 50);
        }
        // The series landed on more than one shard, and every head together holds all.
        let heads = host.heads();
        assert!(heads.iter().filter(|(_, h)| h.stats().samples > 0).count() > 1);
        assert_eq!(heads.iter().map(|(_, h)| h.stats().samples).sum::<usize>(), 400);
        let names = store.label_names("t", i64::MIN, i64::MAX, &[]).await.unwrap();
        assert_eq!(names, ["__name__"]);
    }
}
