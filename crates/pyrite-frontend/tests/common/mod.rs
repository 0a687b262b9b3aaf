//! An in-process querier for the frontend's tests: the real Prometheus API over an
//! in-memory store that understands query shards, reached without a queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use pyrite_api::{ApiState, BuildInfo};
use pyrite_frontend::grpc::Executor;
use pyrite_frontend::{Downstream, FrontendError, Reply, Request, RouterExecutor};
use pyrite_promql::{Engine, EngineOptions};
use pyrite_storage::{MemQueryable, QueryShards};

pub struct Local {
    exec: RouterExecutor,
    pub requests: AtomicUsize,
}

impl Local {
    pub fn new(store: Arc<MemQueryable>, opts: EngineOptions) -> Self {
        let state = ApiState {
            store: Arc::new(QueryShards::new(store)),
            metadata: Arc::new(pyrite_storage::metadata::NoMetadata),
            engine: Engine::new(opts),
            build_info: BuildInfo {
                version: String::new(),
                revision: String::new(),
                branch: String::new(),
                build_user: String::new(),
                build_date: String::new(),
                go_version: String::new(),
            },
        };
        Self {
            exec: RouterExecutor(pyrite_api::routes(Arc::new(state))),
            requests: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Downstream for Local {
    async fn run(&self, req: Request) -> Result<Reply, FrontendError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(self.exec.execute(req).await)
    }
}
