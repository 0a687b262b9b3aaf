//! The querier's store: [`ShardedQueryable`] implements [`Queryable`] over the ingester
//! shards. Every read goes to every shard (so data written before a ring change is
//! never hidden), in parallel, and the answers are merged into one sorted list. A
//! listing of label sets asks the ingesters for labels only, never chunks.
//!
//! Reads are linearizable by default: each shard's leader confirms its leadership
//! with a quorum before answering (a read index), so a query issued after a successful
//! push sees it. [`Consistency::Follower`] lets any replica answer from what it has
//! applied, trading that guarantee for latency.
//!
//! [`read_path`] assembles the whole store a query reads: these heads merged with the
//! blocks, for the querier and the ruler alike. Metric metadata is read the same way,
//! from every shard ([`MetadataReader`]).

mod config;
mod read_path;

use async_trait::async_trait;
use futures::future::try_join_all;
use pyrite_client::errors::storage_error;
use pyrite_client::{collect_series, ShardClient};
use pyrite_model::{Labels, Matcher};
use pyrite_proto::ingester as pb;
use pyrite_storage::wire::{
    labels_from_answers, matchers_to_proto, merged_from_proto, metadata_from_proto, query_shard_to_proto,
};
use pyrite_storage::{
    sorted_union, MetadataQuery, MetadataReader, MetricMetadata, Queryable, SelectHints, Series, StorageError,
};
use tonic::Status;

pub use config::QuerierConfig;
pub use read_path::{read_path, Blocks};

/// How shard reads are served (`cluster.read_consistency`: `linearizable` or `follower`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// By the leader, after a read index: sees every acknowledged write.
    #[default]
    Linearizable,
    /// By any replica, from what it has applied.
    Follower,
}

impl Consistency {
    fn to_proto(self) -> i32 {
        match self {
            Consistency::Linearizable => pb::Consistency::Linearizable as i32,
            Consistency::Follower => pb::Consistency::Follower as i32,
        }
    }
}

/// Reads every ingester shard.
#[derive(Clone)]
pub struct ShardedQueryable {
    client: ShardClient,
    consistency: Consistency,
}

impl ShardedQueryable {
    pub fn new(client: ShardClient, consistency: Consistency) -> Self {
        Self { client, consistency }
    }

    /// Runs `f` against every shard at once, as the consistency asks.
    async fn each_shard<T, F, Fut>(&self, f: F) -> Result<Vec<T>, StorageError>
    where
        F: Fn(u32, pb::ingester_client::IngesterClient<tonic::transport::Channel>) -> Fut + Clone,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        let shards = self.client.ring().read().shard_ids();
        let calls = shards.into_iter().map(|shard| {
            let f = f.clone();
            async move {
                let call = |c| f(shard, c);
                match self.consistency {
                    Consistency::Linearizable => self.client.call_leader(shard, call).await,
                    Consistency::Follower => self.client.call_any(shard, call).await,
                }
            }
        });
        try_join_all(calls).await.map_err(storage_error)
    }
}

#[async_trait]
impl Queryable for ShardedQueryable {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        let matchers = matchers_to_proto(matchers);
        let consistency = self.consistency.to_proto();
        let per_shard = self
            .each_shard(|shard, mut c| {
                let req = pb::SelectRequest {
                    shard,
                    tenant: tenant.to_string(),
                    start: hints.start,
                    end: hints.end,
                    matchers: matchers.clone(),
                    consistency,
                    query_shard: query_shard_to_proto(hints.shard),
                    labels_only: false,
                };
                async move { collect_series(c.select(req).await?.into_inner()).await }
            })
            .await?;
        merged_from_proto(per_shard)
    }

    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        let matchers = matchers_to_proto(matchers);
        let consistency = self.consistency.to_proto();
        let per_shard = self
            .each_shard(|shard, mut c| {
                let req = pb::SelectRequest {
                    shard,
                    tenant: tenant.to_string(),
                    start,
                    end,
                    matchers: matchers.clone(),
                    consistency,
                    query_shard: None,
                    labels_only: true,
                };
                async move { collect_series(c.select(req).await?.into_inner()).await }
            })
            .await?;
        labels_from_answers(per_shard)
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let matchers = matchers_to_proto(matchers);
        let consistency = self.consistency.to_proto();
        let per_shard = self
            .each_shard(|shard, mut c| {
                let req = pb::LabelNamesRequest {
                    shard,
                    tenant: tenant.to_string(),
                    start,
                    end,
                    matchers: matchers.clone(),
                    consistency,
                };
                async move { Ok(c.label_names(req).await?.into_inner().names) }
            })
            .await?;
        Ok(sorted_union(per_shard))
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let matchers = matchers_to_proto(matchers);
        let consistency = self.consistency.to_proto();
        let per_shard = self
            .each_shard(|shard, mut c| {
                let req = pb::LabelValuesRequest {
                    shard,
                    tenant: tenant.to_string(),
                    name: name.to_string(),
                    start,
                    end,
                    matchers: matchers.clone(),
                    consistency,
                };
                async move { Ok(c.label_values(req).await?.into_inner().values) }
            })
            .await?;
        Ok(sorted_union(per_shard))
    }
}

#[async_trait]
impl MetadataReader for ShardedQueryable {
    async fn metadata(&self, tenant: &str, query: &MetadataQuery) -> Result<Vec<MetricMetadata>, StorageError> {
        let consistency = self.consistency.to_proto();
        let per_shard = self
            .each_shard(|shard, mut c| {
                let req = pb::MetricMetadataRequest {
                    shard,
                    tenant: tenant.to_string(),
                    metric: query.metric.clone().unwrap_or_default(),
                    limit_per_metric: query.limit_per_metric.map_or(0, |n| n.min(u32::MAX as usize) as u32),
                    consistency,
                };
                async move { Ok(c.metric_metadata(req).await?.into_inner().metadata) }
            })
            .await?;
        Ok(per_shard.into_iter().flatten().map(metadata_from_proto).collect())
    }
}
