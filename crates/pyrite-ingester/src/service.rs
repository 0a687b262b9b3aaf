//! The `Ingester` gRPC service: pushes go to the shard's Raft group, reads to its head
//! (a labels-only select lists label sets without building a chunk).

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use pyrite_proto::ingester as pb;
use pyrite_proto::ingester::ingester_server::Ingester as IngesterRpc;
use pyrite_storage::wire::{
    labels_only_to_proto, matchers_from_proto, metadata_to_proto, query_shard_from_proto, series_to_proto,
};
use pyrite_storage::{MetadataQuery, SelectHints, StorageError};
use tonic::{Request, Response, Status};

use crate::shards::ShardHost;

/// Series per streamed `SelectResponse` message.
const SERIES_PER_MESSAGE: usize = 256;

#[derive(Clone)]
pub struct IngesterService {
    host: Arc<ShardHost>,
}

impl IngesterService {
    pub fn new(host: Arc<ShardHost>) -> Self {
        Self { host }
    }
}

fn bad(e: StorageError) -> Status {
    match e {
        StorageError::BadRequest(m) => Status::invalid_argument(m),
        other => Status::internal(other.to_string()),
    }
}

fn linearizable(c: i32) -> bool {
    c != pb::Consistency::Follower as i32
}

type SelectStream = Pin<Box<dyn Stream<Item = Result<pb::SelectResponse, Status>> + Send>>;

#[tonic::async_trait]
impl IngesterRpc for IngesterService {
    async fn push(&self, req: Request<pb::PushRequest>) -> Result<Response<pb::PushResponse>, Status> {
        let req = req.into_inner();
        let applied = match req.patient {
            true => self.host.push_patiently(req.shard, req.command).await?,
            false => self.host.push(req.shard, req.command).await?,
        };
        Ok(Response::new(pb::PushResponse {
            samples: applied.samples,
            histograms: applied.histograms,
            rejected: applied.rejected,
            rejections: applied.rejections,
        }))
    }

    type SelectStream = SelectStream;

    async fn select(&self, req: Request<pb::SelectRequest>) -> Result<Response<SelectStream>, Status> {
        let req = req.into_inner();
        let matchers = matchers_from_proto(&req.matchers).map_err(bad)?;
        let shard = query_shard_from_proto(req.query_shard).map_err(bad)?;
        let head = self.host.head(req.shard, linearizable(req.consistency)).await?;
        let hints = SelectHints::new(req.start, req.end).with_shard(shard);
        let series: Vec<pb::Series> = if req.labels_only {
            let labels = head.series_labels(&req.tenant, req.start, req.end, &matchers);
            labels
                .iter()
                .filter(|l| hints.wants(l))
                .map(labels_only_to_proto)
                .collect()
        } else {
            let series = head.select_series(&req.tenant, hints, &matchers);
            series.iter().map(series_to_proto).collect()
        };
        let mut series = series.into_iter().peekable();
        let mut batches: Vec<Result<pb::SelectResponse, Status>> = Vec::new();
        while series.peek().is_some() {
            batches.push(Ok(pb::SelectResponse {
                series: series.by_ref().take(SERIES_PER_MESSAGE).collect(),
            }));
        }
        Ok(Response::new(Box::pin(futures::stream::iter(batches))))
    }

    async fn label_names(
        &self,
        req: Request<pb::LabelNamesRequest>,
    ) -> Result<Response<pb::LabelNamesResponse>, Status> {
        let req = req.into_inner();
        let matchers = matchers_from_proto(&req.matchers).map_err(bad)?;
        let head = self.host.head(req.shard, linearizable(req.consistency)).await?;
        Ok(Response::new(pb::LabelNamesResponse {
            names: head.label_names(&req.tenant, req.start, req.end, &matchers),
        }))
    }

    async fn label_values(
        &self,
        req: Request<pb::LabelValuesRequest>,
    ) -> Result<Response<pb::LabelValuesResponse>, Status> {
        let req = req.into_inner();
        let matchers = matchers_from_proto(&req.matchers).map_err(bad)?;
        let head = self.host.head(req.shard, linearizable(req.consistency)).await?;
        Ok(Response::new(pb::LabelValuesResponse {
            values: head.label_values(&req.tenant, &req.name, req.start, req.end, &matchers),
        }))
    }

    async fn metric_metadata(
        &self,
        req: Request<pb::MetricMetadataRequest>,
    ) -> Result<Response<pb::MetricMetadataResponse>, Status> {
        let req = req.into_inner();
        let query = MetadataQuery {
            metric: Some(req.metric).filter(|m| !m.is_empty()),
            limit: None,
            limit_per_metric: Some(req.limit_per_metric as usize).filter(|n| *n > 0),
        };
        let found = self
            .host
            .metric_metadata(req.shard, &req.tenant, &query, linearizable(req.consistency))
            .await?;
        Ok(Response::new(pb::MetricMetadataResponse {
            metadata: found.into_iter().map(metadata_to_proto).collect(),
        }))
    }

    async fn get_ring(&self, _req: Request<pb::GetRingRequest>) -> Result<Response<pb::RingReply>, Status> {
        Ok(Response::new(pb::RingReply {
            ring: self.host.ring_json(),
        }))
    }

    async fn change_ring(&self, req: Request<pb::ChangeRingRequest>) -> Result<Response<pb::RingReply>, Status> {
        let ring = self.host.change_ring(&req.into_inner().change).await?;
        Ok(Response::new(pb::RingReply { ring }))
    }

    async fn heartbeat(&self, req: Request<pb::HeartbeatRequest>) -> Result<Response<pb::PoolReply>, Status> {
        let r = req.into_inner();
        let hb = pyrite_members::Heartbeat {
            pool: r.pool,
            id: r.id,
            addr: r.addr,
            timeout_ms: r.timeout_ms,
            handoff_ms: r.handoff_ms,
            leave: r.leave,
        };
        if hb.pool.is_empty() || hb.id.is_empty() || hb.timeout_ms <= 0 || hb.handoff_ms < 0 {
            return Err(Status::invalid_argument(
                "a heartbeat needs a pool, a member id, a positive timeout and a handoff",
            ));
        }
        let (pool, as_of_ms) = self.host.heartbeat(&hb).await?;
        Ok(Response::new(pb::PoolReply { pool, as_of_ms }))
    }

    async fn put_record(&self, req: Request<pb::PutRecordRequest>) -> Result<Response<pb::PutRecordReply>, Status> {
        let r = req.into_inner();
        if r.pool.is_empty() || r.key.is_empty() || r.member.is_empty() {
            return Err(Status::invalid_argument("a record needs a pool, a key and a member"));
        }
        let command = match r.forget {
            true => pyrite_members::Command::Forget {
                pool: r.pool,
                key: r.key,
                member: r.member,
                at_ms: 0,
            },
            false => pyrite_members::Command::Record {
                pool: r.pool,
                key: r.key,
                member: r.member,
                instant_ms: r.instant_ms,
                at_ms: 0,
                value: r.value,
            },
        };
        self.host.put_record(command).await?;
        Ok(Response::new(pb::PutRecordReply {}))
    }

    async fn get_record(&self, req: Request<pb::GetRecordRequest>) -> Result<Response<pb::RecordReply>, Status> {
        let r = req.into_inner();
        let record = self.host.get_record(&r.pool, &r.key).await?;
        Ok(Response::new(pb::RecordReply { record }))
    }
}
