//! The store a query reads, assembled once for every component that runs PromQL (the
//! querier's API, and the ruler's evaluations): recent data from the ingesters' heads,
//! older data from the blocks in object storage (through the store gateways when there
//! are any), merged; selectors naming a query shard read only that shard's series.
//!
//! Object storage being unreachable leaves the blocks out of an answer, with a warning,
//! instead of failing what the heads hold.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use pyrite_client::Channels;
use pyrite_storage::{Fanout, QueryShards, Queryable};
use pyrite_storegateway::{BucketStore, GatewayQueryable};

/// Where the blocks are read from.
pub struct Blocks {
    pub bucket: Arc<dyn ObjectStore>,
    /// How often the bucket's block list is refreshed.
    pub sync_interval: Duration,
    /// Store gateways serving the bucket; none: read it here.
    pub gateways: Vec<String>,
    /// How many gateways hold each block.
    pub replication_factor: usize,
    pub channels: Channels,
}

/// `heads` merged with `blocks`, if any, with query-shard selection on top.
pub fn read_path(heads: Arc<dyn Queryable>, blocks: Option<Blocks>) -> Arc<dyn Queryable> {
    let store: Arc<dyn Queryable> = match blocks {
        None => heads,
        Some(b) => {
            let bucket = Arc::new(BucketStore::new(b.bucket, b.sync_interval));
            let blocks: Arc<dyn Queryable> = if b.gateways.is_empty() {
                bucket
            } else {
                Arc::new(GatewayQueryable::new(
                    bucket,
                    b.gateways,
                    b.replication_factor,
                    b.channels,
                ))
            };
            Arc::new(Fanout::new(vec![heads]).or_partial(blocks, "object storage"))
        }
    };
    Arc::new(QueryShards::new(store))
}
