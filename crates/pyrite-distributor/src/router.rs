//! Writes to a cluster: [`ShardRouter`] splits each validated write by the shard that
//! owns each series on the ring, sends the parts to the shards' leaders in parallel
//! (following leader changes within the client's deadline), and acknowledges only when
//! every part is committed. Writes to known series (scrapes) are encoded from the
//! series' ready-made label bytes and sent as patient: a shard's leader may hold them
//! back a little to share a log entry. Metric metadata goes to the shard of each
//! family's name. Part failures map to what senders expect: refused samples are the
//! sender's (400), an unreachable shard is ours and retried (5xx).

use async_trait::async_trait;
use futures::future::join_all;
use pyrite_client::errors;
use pyrite_client::ShardClient;
use pyrite_model::TimeSeries;
use pyrite_proto::ingester::{PushRequest, PushResponse};
use pyrite_storage::{AppendError, AppendOutcome, Appendable, KnownWrite, MetricMetadata};

/// How a shard's log encodes each kind of write (the ingester's command format).
#[derive(Clone, Copy)]
pub struct CommandEncoders {
    /// One shard's part of a write.
    pub write: fn(&str, &[TimeSeries]) -> Vec<u8>,
    /// One shard's part of a write to known series: the same command as `write` of
    /// their labeled series.
    pub known: fn(&str, &KnownWrite) -> Vec<u8>,
    /// One shard's part of a tenant's metric metadata.
    pub metadata: fn(&str, Vec<MetricMetadata>) -> Vec<u8>,
}

pub struct ShardRouter {
    client: ShardClient,
    encode: CommandEncoders,
}

impl ShardRouter {
    pub fn new(client: ShardClient, encode: CommandEncoders) -> Self {
        Self { client, encode }
    }

    /// Commits one shard's command through its leader.
    async fn push(
        &self,
        shard: u32,
        tenant: &str,
        command: Vec<u8>,
        patient: bool,
    ) -> Result<PushResponse, tonic::Status> {
        let command = bytes::Bytes::from(command);
        self.client
            .call_leader(shard, |mut c| {
                let req = PushRequest {
                    shard,
                    tenant: tenant.to_string(),
                    command: command.clone(),
                    patient,
                };
                async move { c.push(req).await.map(|r| r.into_inner()) }
            })
            .await
    }
}

/// What the shards' answers to the parts of one write come to.
fn gather(results: Vec<Result<PushResponse, tonic::Status>>) -> Result<AppendOutcome, AppendError> {
    errors::gather(results, |resp| AppendOutcome {
        samples_written: resp.samples,
        histograms_written: resp.histograms,
        samples_rejected: resp.rejected,
        rejections: resp.rejections,
    })
}

#[async_trait]
impl Appendable for ShardRouter {
    async fn append(&self, tenant: &str, series: Vec<TimeSeries>) -> Result<AppendOutcome, AppendError> {
        let parts = self.client.ring().read().split(tenant, series);
        let calls = parts
            .into_iter()
            .map(|(shard, part)| self.push(shard, tenant, (self.encode.write)(tenant, &part), false));
        gather(join_all(calls).await)
    }

    async fn append_known(&self, tenant: &str, write: KnownWrite) -> Result<AppendOutcome, AppendError> {
        let parts = self
            .client
            .ring()
            .read()
            .split_by(tenant, write.samples, |s| s.series.labels());
        let calls = parts.into_iter().map(|(shard, samples)| {
            let command = (self.encode.known)(tenant, &KnownWrite { samples });
            self.push(shard, tenant, command, true)
        });
        gather(join_all(calls).await)
    }

    async fn append_metadata(&self, tenant: &str, metadata: Vec<MetricMetadata>) -> Result<(), AppendError> {
        let parts = self
            .client
            .ring()
            .read()
            .split_by_metric(tenant, metadata, |m| &m.metric);
        let calls = parts
            .into_iter()
            .map(|(shard, part)| self.push(shard, tenant, (self.encode.metadata)(tenant, part), false));
        gather(join_all(calls).await).map(drop)
    }
}
