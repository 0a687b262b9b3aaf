//! The `StoreGateway` gRPC service: reads of named blocks from a [`BucketStore`].

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use pyrite_model::Matcher;
use pyrite_proto::ingester as pb;
use pyrite_proto::ingester::store_gateway_server::StoreGateway;
use pyrite_storage::wire::{matchers_from_proto, query_shard_from_proto, series_to_proto};
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
        let series = self
            .store
            .select_blocks(&req.tenant, &ids, hints, &matchers)
            .await
            .map_err(status)?;
        let batches: Vec<Result<pb::SelectResponse, Status>> = series
            .chunks(SERIES_PER_MESSAGE)
            .map(|part| {
                Ok(pb::SelectResponse {
                    series: part.iter().map(series_to_proto).collect(),
                })
            })
            .collect();
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
