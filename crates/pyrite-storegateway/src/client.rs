//! Queriers' view of the store gateways. Each block is placed on `replication_factor`
//! gateways by rendezvous hashing of its id (so adding or losing a gateway moves only
//! that gateway's share); a read asks, for each block, the first of its gateways and,
//! when that one fails, the next, so one gateway's loss loses no reads. Which blocks
//! exist the querier learns itself from the bucket (index and listing), as the
//! gateways do.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pyrite_client::errors::storage_error;
use pyrite_client::{collect_series, Channels};
use pyrite_model::{Labels, Matcher};
use pyrite_proto::ingester as pb;
use pyrite_proto::ingester::store_gateway_client::StoreGatewayClient;
use pyrite_storage::wire::{labels_from_answers, matchers_to_proto, merged_from_proto, query_shard_to_proto};
use pyrite_storage::{sorted_union, Queryable, SelectHints, Series, StorageError};
use tonic::transport::Channel;
use tonic::Status;
use ulid::Ulid;

use crate::BucketStore;

/// The gateways a block is placed on, best first.
pub fn placement(block: Ulid, gateways: &[String], replication_factor: usize) -> Vec<String> {
    let mut scored: Vec<(u64, &String)> = gateways
        .iter()
        .map(|g| {
            let mut key = block.to_bytes().to_vec();
            key.extend_from_slice(g.as_bytes());
            (xxhash_rust::xxh3::xxh3_64(&key), g)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(replication_factor.max(1))
        .map(|(_, g)| g.clone())
        .collect()
}

pub struct GatewayQueryable {
    /// Finds the tenant's blocks (metas only; it never opens one).
    blocks: Arc<BucketStore>,
    gateways: Vec<String>,
    replication_factor: usize,
    channels: Channels,
    /// How long one gateway gets before its blocks go to the next.
    pub attempt_timeout: Duration,
}

impl GatewayQueryable {
    pub fn new(blocks: Arc<BucketStore>, gateways: Vec<String>, replication_factor: usize, channels: Channels) -> Self {
        Self {
            blocks,
            gateways,
            replication_factor,
            channels,
            attempt_timeout: Duration::from_secs(30),
        }
    }

    /// Runs `call` for every overlapping block of the tenant, blocks grouped by gateway;
    /// the blocks of a gateway that fails are asked of their next gateway.
    async fn each_gateway<T, F, Fut>(&self, tenant: &str, start: i64, end: i64, call: F) -> Result<Vec<T>, StorageError>
    where
        F: Fn(StoreGatewayClient<Channel>, Vec<String>) -> Fut + Clone,
        Fut: Future<Output = Result<T, Status>>,
    {
        let metas = self
            .blocks
            .blocks(tenant)
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let mut pending: Vec<(Ulid, Vec<String>)> = metas
            .iter()
            .filter(|m| m.overlaps(start, end))
            .map(|m| (m.ulid, placement(m.ulid, &self.gateways, self.replication_factor)))
            .collect();
        let mut out = Vec::new();
        let mut last = Status::unavailable("no store gateway configured");
        while !pending.is_empty() {
            let mut by_gateway: BTreeMap<String, Vec<(Ulid, Vec<String>)>> = BTreeMap::new();
            for (id, mut owners) in pending.drain(..) {
                if owners.is_empty() {
                    return Err(storage_error(Status::unavailable(format!(
                        "no store gateway could serve block {id}: {}",
                        last.message()
                    ))));
                }
                let first = owners.remove(0);
                by_gateway.entry(first).or_default().push((id, owners));
            }
            let calls = by_gateway.into_iter().map(|(addr, blocks)| {
                let call = call.clone();
                async move {
                    let ids: Vec<String> = blocks.iter().map(|(id, _)| id.to_string()).collect();
                    let answer = match self.channels.get(&addr) {
                        Ok(ch) => {
                            let client = StoreGatewayClient::new(ch).max_decoding_message_size(usize::MAX);
                            match tokio::time::timeout(self.attempt_timeout, call(client, ids)).await {
                                Ok(r) => r,
                                Err(_) => Err(Status::deadline_exceeded(format!("{addr} did not answer"))),
                            }
                        }
                        Err(s) => Err(s),
                    };
                    (addr, blocks, answer)
                }
            });
            for (addr, blocks, answer) in futures::future::join_all(calls).await {
                match answer {
                    Ok(v) => out.push(v),
                    Err(s) if matches!(s.code(), tonic::Code::InvalidArgument) => return Err(storage_error(s)),
                    Err(s) => {
                        tracing::warn!(gateway = %addr, error = %s.message(), "store gateway failed; asking the next");
                        last = s;
                        pending.extend(blocks);
                    }
                }
            }
        }
        Ok(out)
    }

    fn request(tenant: &str, blocks: Vec<String>, start: i64, end: i64, matchers: &[pb::Matcher]) -> pb::BlocksRequest {
        pb::BlocksRequest {
            tenant: tenant.to_string(),
            blocks,
            start,
            end,
            matchers: matchers.to_vec(),
            name: String::new(),
            query_shard: None,
            labels_only: false,
        }
    }
}

#[async_trait]
impl Queryable for GatewayQueryable {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        let m = matchers_to_proto(matchers);
        let parts = self
            .each_gateway(tenant, hints.start, hints.end, |mut c, ids| {
                let mut req = Self::request(tenant, ids, hints.start, hints.end, &m);
                req.query_shard = query_shard_to_proto(hints.shard);
                async move { collect_series(c.select(req).await?.into_inner()).await }
            })
            .await?;
        merged_from_proto(parts)
    }

    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        let m = matchers_to_proto(matchers);
        let parts = self
            .each_gateway(tenant, start, end, |mut c, ids| {
                let mut req = Self::request(tenant, ids, start, end, &m);
                req.labels_only = true;
                async move { collect_series(c.select(req).await?.into_inner()).await }
            })
            .await?;
        labels_from_answers(parts)
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let m = matchers_to_proto(matchers);
        let lists = self
            .each_gateway(tenant, start, end, |mut c, ids| {
                let req = Self::request(tenant, ids, start, end, &m);
                async move { Ok(c.label_names(req).await?.into_inner().names) }
            })
            .await?;
        Ok(sorted_union(lists))
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let m = matchers_to_proto(matchers);
        let lists = self
            .each_gateway(tenant, start, end, |mut c, ids| {
                let mut req = Self::request(tenant, ids, start, end, &m);
                req.name = name.to_string();
                async move { Ok(c.label_values(req).await?.into_inner().values) }
            })
            .await?;
        Ok(sorted_union(lists))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_spread_over_gateways_and_losing_one_moves_only_its_share() {
        let gateways: Vec<String> = (1..=4).map(|i| format!("g{i}:9095")).collect();
        let ids: Vec<Ulid> = (0..400u64).map(|i| Ulid::from_parts(i, i as u128 * 7919)).collect();
        let mut first = BTreeMap::<String, usize>::new();
        for id in &ids {
            let p = placement(*id, &gateways, 2);
            assert_eq!(p.len(), 2);
            assert_ne!(p[0], p[1]);
            *first.entry(p[0].clone()).or_default() += 1;
        }
        assert!(first.values().all(|n| (60..=140).contains(n)), "{first:?}");
        let fewer: Vec<String> = gateways[..3].to_vec();
        for id in &ids {
            let before = placement(*id, &gateways, 1);
            if before[0] != gateways[3] {
                assert_eq!(placement(*id, &fewer, 1), before);
            }
        }
    }
}
