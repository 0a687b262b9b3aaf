//! Writes to a cluster: [`ShardRouter`] splits each validated write by the shard that
//! owns each series on the ring, sends the parts to the shards' leaders in parallel
//! (following leader changes within the client's deadline), and acknowledges only when
//! every part is committed. Part failures map to what senders expect: refused samples
//! are the sender's (400), an unreachable shard is ours and retried (5xx).

use async_trait::async_trait;
use futures::future::join_all;
use pyrite_client::errors::{append_error, worst};
use pyrite_client::ShardClient;
use pyrite_model::TimeSeries;
use pyrite_proto::ingester::PushRequest;
use pyrite_storage::{AppendError, AppendOutcome, Appendable};

/// Encodes one shard's part of a write as the command its Raft log stores.
pub type CommandEncoder = fn(&str, &[TimeSeries]) -> Vec<u8>;

pub struct ShardRouter {
    client: ShardClient,
    encode: CommandEncoder,
}

impl ShardRouter {
    pub fn new(client: ShardClient, encode: CommandEncoder) -> Self {
        Self { client, encode }
    }
}

#[async_trait]
impl Appendable for ShardRouter {
    async fn append(&self, tenant: &str, series: Vec<TimeSeries>) -> Result<AppendOutcome, AppendError> {
        let parts = self.client.ring().read().split(tenant, series);
        let calls = parts.into_iter().map(|(shard, part)| {
            let command: bytes::Bytes = (self.encode)(tenant, &part).into();
            async move {
                self.client
                    .call_leader(shard, |mut c| {
                        let req = PushRequest {
                            shard,
                            tenant: tenant.to_string(),
                            command: command.clone(),
                        };
                        async move { c.push(req).await.map(|r| r.into_inner()) }
                    })
                    .await
            }
        });
        let mut outcome = AppendOutcome::default();
        let mut failure: Option<AppendError> = None;
        for r in join_all(calls).await {
            match r {
                Ok(resp) => outcome.merge(AppendOutcome {
                    samples_written: resp.samples,
                    histograms_written: resp.histograms,
                    samples_rejected: resp.rejected,
                    rejections: resp.rejections,
                }),
                Err(s) => failure = worst(failure, append_error(s)),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    }
}
