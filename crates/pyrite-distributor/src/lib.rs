//! The write path: one pipeline, [`Distributor::push`], that every door into Pyrite calls
//! with a tenant's decoded series — limits, validation and metrics as stages (HA dedup
//! and relabeling have their places reserved), then the shard split and append through
//! an [`Appendable`]: `LocalShards` in one process, [`ShardRouter`] (the ring of Raft
//! shards, over gRPC) in a cluster. A writer of known series (scraping) goes through the
//! same stages with [`Distributor::push_known`], which checks a series' labels once per
//! set of label limits rather than on every write. Metric metadata has its own short
//! path, [`Distributor::push_metadata`]. Remote write (1.0 and 2.0) is the door built here:
//! decoding and the HTTP answer (`http`), with the tenant taken from `pyrite-tenant`'s
//! layer.
//!
//! It stores nothing. Its invariant: bad data is answered with 400 and never reaches the
//! store; a 5xx only ever means the store could not take valid data, so senders retry.

mod decode;
mod decode_v1;
mod histogram;
mod http;
mod limits;
mod pipeline;
mod router;
#[cfg(test)]
mod testing;
mod validate;

use std::sync::Arc;

use axum::http::StatusCode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use pyrite_limits::{Limits, TenantLimits};
use pyrite_storage::Appendable;

pub use decode::{decode_write_request, negotiate, DecodedWrite, Protocol, RawSeries};
pub use histogram::WireHistogram;
pub use http::routes;
pub use limits::DistributorConfig;
pub use pipeline::{PushOutcome, Source, Written};
pub use router::{CommandEncoders, ShardRouter};
pub use validate::{check_timestamps, validate_series, Invalid, SeriesLimits};

/// Why a push failed, with the HTTP status the sender sees.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum PushError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl PushError {
    pub fn bad(msg: impl Into<String>) -> Self {
        PushError::BadRequest(msg.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            PushError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PushError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PushError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            PushError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PushError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

type TenantLabels = Vec<(String, String)>;

/// Counters of what the distributor received and refused.
#[derive(Clone, Default)]
pub struct DistributorMetrics {
    pub received_samples: Family<TenantLabels, Counter>,
    pub received_requests: Family<TenantLabels, Counter>,
    pub discarded_samples: Family<TenantLabels, Counter>,
    pub received_metadata: Family<TenantLabels, Counter>,
    pub discarded_metadata: Family<TenantLabels, Counter>,
}

impl DistributorMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "pyrite_distributor_received_samples",
            "Samples received in valid series, by tenant.",
            m.received_samples.clone(),
        );
        registry.register(
            "pyrite_distributor_received_requests",
            "Remote-write requests received, by tenant.",
            m.received_requests.clone(),
        );
        registry.register(
            "pyrite_distributor_discarded_samples",
            "Samples refused by validation or the store, by tenant and reason.",
            m.discarded_samples.clone(),
        );
        registry.register(
            "pyrite_distributor_received_metadata",
            "Metric metadata descriptions received, by tenant.",
            m.received_metadata.clone(),
        );
        registry.register(
            "pyrite_distributor_discarded_metadata",
            "Metric metadata descriptions refused by validation, by tenant and reason.",
            m.discarded_metadata.clone(),
        );
        m
    }
}

/// Receives writes for one [`Appendable`].
pub struct Distributor {
    config: DistributorConfig,
    limits: Arc<Limits>,
    store: Arc<dyn Appendable>,
    metrics: DistributorMetrics,
}

impl Distributor {
    /// A distributor whose every tenant gets the configuration's limits.
    pub fn new(config: DistributorConfig, store: Arc<dyn Appendable>, registry: &mut Registry) -> Self {
        let mut defaults = TenantLimits::default();
        config.tenant_defaults(&mut defaults);
        Self::with_limits(config, Arc::new(Limits::uniform(defaults)), store, registry)
    }

    /// A distributor reading each tenant's limits from `limits`.
    pub fn with_limits(
        config: DistributorConfig,
        limits: Arc<Limits>,
        store: Arc<dyn Appendable>,
        registry: &mut Registry,
    ) -> Self {
        Self {
            config,
            limits,
            store,
            metrics: DistributorMetrics::register(registry),
        }
    }

    pub fn config(&self) -> &DistributorConfig {
        &self.config
    }
}
