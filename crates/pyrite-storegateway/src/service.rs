//! The `StoreGateway` gRPC service: reads of named blocks from a [`BucketStore`].

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use pyrite_model::Matcher;
use pyrite_proto::ingester as pb;
use pyrite_proto::ingester::store_gateway_server::StoreGateway;
use pyrite_storage::wire::{labels_only_to_proto, matchers_from_proto, query_shard_from_proto, series_to_proto};
use pyrite_storage::{SelectHints, StorageError};
use tonic::{Request, Response, Status};
use ulid::Ulid;

use crate::BucketStore;

/// Series per streamed message.
const SERIES_PER_MESSAGE: usize = 256;

pub struct GatewayService {
    store: Arc<BucketStore>,
}

impl GatewayService {
    pub fn new(store: Arc<BucketStore>) -> Self {
        Self { store }
    }
}

fn status(e: StorageError) -> Status {
    match e {
        StorageError::BadRequest(m) => Status::invalid_argument(m),
        StorageError::LimitExceeded(m) => Status::resource_exhausted(m),
        StorageError::Unavailable(m) => Status::unavailable(m),
        StorageError::Canceled => Status::cancelled("canceled"),
        StorageError::Internal(m) => Status::internal(m),
    }
}

/// The request's blocks and matchers, checked.
fn parse(req: &pb::BlocksRequest) -> Result<(Vec<Ulid>, Vec<Matcher>), Status> {
    let ids = req
        .blocks
        .iter()
        .map(|b| {
            b.parse::<Ulid>()
                .map_err(|e| Status::invalid_argument(format!("block {b:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let matchers = matchers_from_proto(&req.matchers).map_err(status)?;
    Ok((ids, matchers))
}

type SelectStream = Pin<Box<dyn Stream<Item = Result<pb::SelectResponse, Status>> + Send>>;

#[tonic::async_trait]
impl StoreGateway for GatewayService {
    type SelectStream = SelectStream;

    async fn select(&self, req: Request<pb::BlocksRequest>) -> Result<Response<SelectStream>, Status> {
        let req = req.into_inner();
        let (ids, matchers) = parse(&req)?;
        let shard = query_shard_from_proto(req.query_shard).map_err(status)?;
        let hints = SelectHints::new(req.start, req.end).with_shard(shard);
        let series: Vec<pb::Series> = if req.labels_only {
            let labels = self.store.series_blocks(&req.tenant, &ids, hints, &matchers).await;
            labels.map_err(status)?.iter().map(labels_only_to_proto).collect()
        } else {
            let series = self.store.select_blocks(&req.tenant, &ids, hints, &matchers).await;
            series.map_err(status)?.iter().map(series_to_proto).collect()
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

    async fn label_names(&self, req: Request<pb::BlocksRequest>) -> Result<Response<pb::LabelNamesResponse>, Status> {
        let req = req.into_inner();
        let (ids, matchers) = parse(&req)?;
        let names = self
            .store
            .label_names_blocks(&req.tenant, &ids, req.start, req.end, &matchers)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::LabelNamesResponse { names }))
    }

    async fn label_values(&self, req: Request<pb::BlocksRequest>) -> Result<Response<pb::LabelValuesResponse>, Status> {
        let req = req.into_inner();
        let (ids, matchers) = parse(&req)?;
        let values = self
            .store
            .label_values_blocks(&req.tenant, &ids, &req.name, req.start, req.end, &matchers)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::LabelValuesResponse { values }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStore, ObjectStoreExt};
    use pyrite_block::meta::FORMAT_VERSION;
    use pyrite_block::{bucket, cut_block_id, encode, BlockMeta, BlockStats, Compaction, WriteOptions};
    use pyrite_chunk::Chunk;
    use pyrite_model::Labels;
    use pyrite_storage::wire::{labels_from_proto, matchers_to_proto};
    use pyrite_storage::Series;

    use super::*;

    #[tokio::test]
    async fn a_labels_only_select_answers_labels_without_reading_chunks() {
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let l = |i: &str| Labels::from_pairs(&[("__name__", "m"), ("i", i)]);
        let series: Vec<Series> = ["2", "1"]
            .iter()
            .map(|i| Series::new(l(i), Chunk::encode_all(&[(10, 1.0), (20, 2.0)], 120)))
            .collect();
        let ulid = cut_block_id("t", 0, 0, 1000);
        let meta = BlockMeta {
            ulid,
            version: FORMAT_VERSION,
            tenant: "t".into(),
            min_time: 0,
            max_time: 1000,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![ulid],
            },
            shards: vec![0],
            files: vec![],
        };
        let meta = bucket::upload(bucket.as_ref(), meta, encode(series, &WriteOptions::default()).unwrap())
            .await
            .unwrap();
        let store = Arc::new(BucketStore::new(bucket.clone(), Duration::from_secs(3600)));
        let svc = GatewayService::new(store.clone());
        let request = |labels_only| pb::BlocksRequest {
            tenant: "t".into(),
            blocks: vec![ulid.to_string()],
            start: 0,
            end: 100,
            matchers: matchers_to_proto(&[Matcher::equal("__name__", "m")]),
            name: String::new(),
            query_shard: None,
            labels_only,
        };
        let answer = |labels_only| {
            let svc = &svc;
            async move {
                let stream = svc.select(Request::new(request(labels_only))).await?.into_inner();
                let batches: Vec<_> = stream.collect().await;
                batches
                    .into_iter()
                    .map(|b| b.map(|b| b.series))
                    .collect::<Result<Vec<_>, Status>>()
                    .map(|v| v.concat())
            }
        };
        let full = answer(false).await.unwrap();
        assert_eq!(full.len(), 2);
        assert!(full.iter().all(|s| !s.float_chunks.is_empty()));
        // The block's data file is gone (its index stays open): chunks can no longer
        // be read, labels still can.
        bucket
            .delete(&Path::from(format!("{}/{}", meta.dir(), pyrite_block::meta::DATA_FILE)))
            .await
            .unwrap();
        assert!(answer(false).await.is_err());
        let labels = answer(true).await.unwrap();
        assert!(labels
            .iter()
            .all(|s| s.float_chunks.is_empty() && s.histogram_chunks.is_empty()));
        let got: Vec<Labels> = labels
            .into_iter()
            .map(|s| labels_from_proto(s.labels).unwrap())
            .collect();
        assert_eq!(got, [l("1"), l("2")]);
        let mut outside = request(true);
        outside.start = 30;
        let none = svc.select(Request::new(outside)).await.unwrap().into_inner();
        assert_eq!(none.collect::<Vec<_>>().await.len(), 0);
    }
}
