//! The query-frontend module, and the querier's side of it: the queue, cache and routes
//! of a `query-frontend` target, and the workers a querier runs to pull work from a
//! frontend (`--querier.frontend-address`, or this process's own frontend).

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use axum::Router;
use prometheus_client::registry::Registry;
use pyrite_frontend::{
    CacheBackend, Frontend, FrontendMetrics, FrontendService, LruCache, Queue, Queued, ResultsCacheBackend,
    RouterExecutor, WorkerMetrics,
};
use pyrite_proto::frontend::frontend_server::FrontendServer;

use super::context::{local_grpc_addr, Context};
use super::Module;
use crate::config::Config;

/// A frontend's pieces, made before any component starts.
pub struct Parts {
    queue: Arc<Queue>,
    frontend: Arc<Frontend>,
    metrics: FrontendMetrics,
}

impl Parts {
    pub fn new(cfg: &Config, limits: Arc<pyrite_limits::Limits>, registry: &mut Registry) -> anyhow::Result<Self> {
        let fc = &cfg.query_frontend;
        let metrics = FrontendMetrics::register(registry);
        let queue = Queue::new(fc.max_outstanding_requests_per_tenant, metrics.clone());
        let down = Arc::new(Queued {
            queue: queue.clone(),
            max_retries: fc.max_retries,
            timeout: fc.queue_timeout.get().max(Duration::from_secs(1)),
            metrics: metrics.clone(),
        });
        let cache: Option<Arc<dyn CacheBackend>> = match fc.results_cache_backend {
            ResultsCacheBackend::Inmemory => Some(Arc::new(LruCache::new(fc.results_cache_max_size_bytes as usize))),
            ResultsCacheBackend::None => None,
        };
        let frontend =
            Frontend::new(fc.clone(), cfg.querier.engine_options(), down, cache, metrics.clone()).with_limits(limits);
        Ok(Self {
            queue,
            frontend: Arc::new(frontend),
            metrics,
        })
    }

    pub fn routes(&self) -> Router {
        pyrite_frontend::routes(self.frontend.clone())
    }

    pub fn grpc_service(&self) -> FrontendServer<FrontendService> {
        FrontendServer::new(FrontendService::new(self.queue.clone(), self.metrics.clone()))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }
}

/// Serves the frontend's API and the gRPC stream queriers pull work over.
pub fn init(ctx: &mut Context) -> anyhow::Result<()> {
    let Some(f) = &ctx.frontend else {
        bail!("the frontend's parts were not set up");
    };
    let (routes, service) = (f.routes(), f.grpc_service());
    ctx.serve_http(routes);
    ctx.serve_grpc(service);
    Ok(())
}

/// Starts the querier's workers when there is a frontend to work for.
pub fn start_querier_workers(ctx: &mut Context, api: Router) {
    let cfg = &ctx.cfg;
    let address = match cfg.querier.frontend_address.as_str() {
        "" if ctx.runs(Module::QueryFrontend) => local_grpc_addr(cfg),
        "" => return,
        a => a.to_string(),
    };
    let id = format!("{}:{}", cfg.server.http_listen_address, cfg.server.http_listen_port);
    let metrics = WorkerMetrics::register(&mut ctx.registry);
    tracing::info!(frontend = %address, workers = cfg.querier.max_concurrent, "pulling work from the query frontend");
    ctx.tasks.spawn(pyrite_frontend::workers(
        &address,
        cfg.querier.max_concurrent,
        &id,
        Arc::new(RouterExecutor(api)),
        metrics,
    ));
}
