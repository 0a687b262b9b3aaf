//! Pyrite's PromQL engine: parses with `promql-parser`, reads series through
//! [`pyrite_storage::Queryable`], and evaluates instant and range queries with
//! Prometheus 3.x semantics. It knows nothing about HTTP or about which store answers.

mod eval;
mod selector;

pub use selector::selector_matchers;

use std::time::Duration;

use pyrite_model::Labels;
use pyrite_storage::{Queryable, StorageError};

/// Engine limits and defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample.
    pub lookback_delta: Duration,
    /// Most samples a query may hold in memory at once.
    pub max_samples: usize,
    /// Per-query deadline.
    pub timeout: Duration,
    /// Most points per series in a range query's answer.
    pub max_points_per_series: usize,
    /// Enables experimental functions (`double_exponential_smoothing`, `limitk`, …).
    pub enable_experimental_functions: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_points_per_series: 11_000,
            enable_experimental_functions: false,
        }
    }
}

/// One series' value at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// One series' values over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// The value of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, s: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

/// A query's answer with its annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// Why a query failed; [`QueryError::error_type`] names it as the Prometheus API does.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    BadData(String),
    #[error("{0}")]
    Execution(String),
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl QueryError {
    /// The Prometheus API's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) | QueryError::TooManySamples(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Canceled(_) => "canceled",
            QueryError::Storage(StorageError::BadRequest(_)) => "bad_data",
            QueryError::Storage(StorageError::LimitExceeded(_)) => "execution",
            QueryError::Storage(StorageError::Canceled) => "canceled",
            QueryError::Storage(StorageError::Unavailable(_)) => "unavailable",
            QueryError::Storage(StorageError::Internal(_)) => "internal",
        }
    }

    /// The HTTP status Prometheus answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self.error_type() {
            "bad_data" => 400,
            "execution" => 422,
            "timeout" | "unavailable" => 503,
            "canceled" => 499,
            _ => 500,
        }
    }
}

/// Evaluates PromQL queries against any [`Queryable`].
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Self { opts }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at `time_ms`.
    pub async fn instant_query(
        &self,
        store: &dyn Queryable,
        tenant: &str,
        query: &str,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let span = eval::Span {
            start: time_ms,
            end: time_ms,
            step: 0,
        };
        self.run(store, tenant, query, span).await
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms` inclusive.
    pub async fn range_query(
        &self,
        store: &dyn Queryable,
        tenant: &str,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        if step_ms <= 0 || end_ms < start_ms {
            return Err(QueryError::BadData(
                "range query needs end >= start and a positive step".into(),
            ));
        }
        if (end_ms - start_ms) / step_ms >= self.opts.max_points_per_series as i64 {
            return Err(QueryError::BadData(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                self.opts.max_points_per_series
            )));
        }
        let span = eval::Span {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        self.run(store, tenant, query, span).await
    }

    /// Evaluates under the query timeout. Dropping the returned future (a client that
    /// went away) stops the evaluation at its next await point.
    async fn run(
        &self,
        store: &dyn Queryable,
        tenant: &str,
        query: &str,
        span: eval::Span,
    ) -> Result<QueryResult, QueryError> {
        tokio::time::timeout(
            self.opts.timeout,
            eval::evaluate(&self.opts, store, tenant, query, span),
        )
        .await
        .map_err(|_| QueryError::Timeout("query execution"))?
    }
}
