//! The store-gateway module: serves the bucket's blocks to queriers over gRPC.

use std::sync::Arc;

use anyhow::bail;
use pyrite_proto::ingester::store_gateway_server::StoreGatewayServer;
use pyrite_storegateway::service::GatewayService;
use pyrite_storegateway::BucketStore;

use super::context::Context;
use super::Module;

pub fn init(ctx: &mut Context) -> anyhow::Result<()> {
    // Beside an ingester (one process, or `all` in a cluster) the querier reads the
    // bucket itself; gateways serve from processes of their own.
    if ctx.runs(Module::Ingester) {
        tracing::info!("no separate store gateway here: this process's querier reads the bucket itself");
        return Ok(());
    }
    let Some(bucket) = &ctx.bucket else {
        bail!("the store gateway needs a bucket (--blocks.backend)");
    };
    let store = Arc::new(BucketStore::new(bucket.clone(), ctx.cfg.blocks.sync_interval.0));
    ctx.serve_grpc(
        StoreGatewayServer::new(GatewayService::new(store))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX),
    );
    Ok(())
}
