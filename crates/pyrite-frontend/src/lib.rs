//! The query frontend: Pyrite's Prometheus query API in front of the queriers. It
//! splits range queries by time, answers what it already computed from its results
//! cache, rewrites shardable aggregations into shard-local queries, and queues all the
//! resulting requests per tenant for queriers to pull, round-robin across tenants.
//! It evaluates only the combining step of sharded queries itself and keeps no data:
//! every sample it answers with came from a querier. The invariant a change must keep:
//! an answer through the frontend is the answer the queriers give to the whole query
//! (split parts, cached extents and shards are exact partitions of it).

mod api;
pub mod cache;
mod config;
pub mod downstream;
pub mod exec;
mod frontend;
pub mod grpc;
pub mod matrix;
pub mod metrics;
pub mod query_shard;
pub mod queue;
pub mod split;

pub use api::routes;
pub use cache::{CacheBackend, LruCache};
pub use config::{FrontendConfig, ResultsCacheBackend};
pub use downstream::{Downstream, Reply, Request};
pub use frontend::{Frontend, QueryStats};
pub use grpc::{workers, FrontendService, RouterExecutor, WorkerMetrics};
pub use metrics::FrontendMetrics;
pub use queue::{Queue, Queued};

/// Why the frontend could not get an answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum FrontendError {
    #[error("too many outstanding requests for tenant {0:?}")]
    TooManyOutstanding(String),
    #[error("no querier answered in time")]
    Timeout,
    #[error("querier lost: {0}")]
    QuerierLost(String),
    #[error("unreadable querier answer: {0}")]
    BadAnswer(String),
}

impl FrontendError {
    /// The HTTP status and Prometheus `errorType` this error answers with.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            FrontendError::TooManyOutstanding(_) => (429, "too_many_requests"),
            FrontendError::Timeout => (503, "timeout"),
            FrontendError::QuerierLost(_) => (503, "unavailable"),
            FrontendError::BadAnswer(_) => (500, "internal"),
        }
    }

    pub fn reply(&self) -> Reply {
        let (status, kind) = self.status();
        error_reply(status, kind, &self.to_string())
    }
}

/// An answer in the Prometheus API's error shape.
pub fn error_reply(status: u16, kind: &str, msg: &str) -> Reply {
    let body = serde_json::json!({"status": "error", "errorType": kind, "error": msg});
    Reply {
        status,
        body: bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    }
}
