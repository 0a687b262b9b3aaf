//! Pyrite's PromQL engine: parses with `promql-parser`, reads series through
//! [`pyrite_storage::Queryable`], and evaluates instant and range queries with
//! Prometheus 3.x semantics. It knows nothing about HTTP or about which store answers.
//! [`series_notation`] reads Prometheus's series notation (`up{job="a"} 1+1x10`), which
//! test scripts and rule unit tests load data with.

mod aggregate;
mod annotations;
mod binary;
mod eval;
mod functions;
mod kahan;
mod rawbytes;
mod selector;
mod trim;
mod value;

pub mod series_notation;

pub use selector::selector_matchers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use promql_parser::parser::value::ValueType;
use pyrite_model::{FloatHistogram, Labels};
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
    /// Step of subqueries written without one (`x[1h:]`).
    pub default_subquery_step: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_points_per_series: 11_000,
            enable_experimental_functions: false,
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

/// One series' value at one instant: a float, or with `h` a native histogram (then
/// `v` is meaningless).
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
    pub h: Option<FloatHistogram>,
}

/// One series' values over a range: float points and native-histogram points, each in
/// time order, never at the same timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
    pub histograms: Vec<(i64, FloatHistogram)>,
}

/// The value of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, s: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

/// A query's answer with its annotations and what computing it took.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub stats: QueryStats,
}

/// What one query may ask for beyond the engine's settings: Prometheus's `timeout` and
/// `lookback_delta` request parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// A deadline for this query; the engine's own timeout still holds if it is shorter.
    pub timeout: Option<Duration>,
    /// How far back this query's instant selectors look; `None` or zero: the engine's.
    pub lookback_delta: Option<Duration>,
}

/// What evaluating a query took, in the terms of Prometheus's query statistics
/// (`stats` on the query API). Times are in seconds.
///
/// The sample counts follow Prometheus's engine: `total_queryable_samples` counts every
/// sample each step looks at (a range function's window counts in full at every step),
/// `samples_read` counts each sample once per read (a window counts only the points the
/// previous step's window did not cover), and a native histogram counts as its size in
/// bytes over 16. `peak_samples` is the count checked against `max_samples`; Pyrite's
/// engine never gives back what it held during a query, so it can exceed Prometheus's.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryStats {
    /// From the request reaching the engine to the answer.
    pub exec_total_time: f64,
    /// Waiting for an evaluation thread.
    pub exec_queue_time: f64,
    /// Evaluating, preparing and sorting together.
    pub eval_total_time: f64,
    /// Selecting series from the store.
    pub query_preparation_time: f64,
    /// Evaluating, without selecting series.
    pub inner_eval_time: f64,
    /// Shaping and sorting the result.
    pub result_sort_time: f64,
    pub total_queryable_samples: i64,
    pub samples_read: i64,
    pub peak_samples: usize,
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
    #[error("internal error: {0}")]
    Internal(String),
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
            QueryError::Storage(StorageError::Internal(_)) | QueryError::Internal(_) => "internal",
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
        store: Arc<dyn Queryable>,
        tenant: &str,
        query: &str,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.instant_query_with(store, tenant, query, time_ms, QueryOptions::default())
            .await
    }

    /// [`Engine::instant_query`] with this query's own options.
    pub async fn instant_query_with(
        &self,
        store: Arc<dyn Queryable>,
        tenant: &str,
        query: &str,
        time_ms: i64,
        opts: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        self.run(store, tenant, query, time_ms, time_ms, 0, opts).await
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms` inclusive.
    pub async fn range_query(
        &self,
        store: Arc<dyn Queryable>,
        tenant: &str,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.range_query_with(store, tenant, query, start_ms, end_ms, step_ms, QueryOptions::default())
            .await
    }

    /// [`Engine::range_query`] with this query's own options.
    #[allow(clippy::too_many_arguments)]
    pub async fn range_query_with(
        &self,
        store: Arc<dyn Queryable>,
        tenant: &str,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        if step_ms <= 0 || end_ms < start_ms {
            return Err(QueryError::BadData(
                "range query needs end >= start and a positive step".into(),
            ));
        }
        // As Prometheus: (end - start) / step steps after the first, so the limit allows
        // one point more than it names.
        if (end_ms - start_ms) / step_ms > self.opts.max_points_per_series as i64 {
            return Err(QueryError::BadData(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                self.opts.max_points_per_series
            )));
        }
        self.run(store, tenant, query, start_ms, end_ms, step_ms, opts).await
    }

    /// Parses, then evaluates on a blocking thread under the query timeout (the
    /// engine's, or the query's own if shorter). Dropping the returned future (a client
    /// that went away) cancels the evaluation, which checks for it between steps and
    /// series.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        store: Arc<dyn Queryable>,
        tenant: &str,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        query_opts: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let started = std::time::Instant::now();
        let timeout = query_opts
            .timeout
            .map_or(self.opts.timeout, |t| t.min(self.opts.timeout));
        let mut opts = self.opts.clone();
        if let Some(lookback) = query_opts.lookback_delta.filter(|d| !d.is_zero()) {
            opts.lookback_delta = lookback;
        }
        struct CancelOnDrop(Arc<AtomicBool>);
        impl Drop for CancelOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let canceled = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(canceled.clone());
        let ctx = eval::QueryCtx {
            opts,
            store,
            tenant: tenant.to_string(),
            runtime: tokio::runtime::Handle::current(),
            query_start: start,
            query_end: end,
            query_step: step,
            query: query.to_string(),
            deadline: started + timeout,
            canceled: canceled.clone(),
            trims: trim::TrimOps::new(),
            counters: eval::Counters::default(),
        };
        // Parsing happens on the blocking thread too: whatever goes wrong in there, even a
        // panic, becomes this query's error and never takes the server's runtime with it.
        let task = tokio::task::spawn_blocking(move || {
            let queued = started.elapsed();
            let (expr, trims) = parse(&ctx.query, step)?;
            // The tree stays where it is from here on: trim operators are known by the
            // addresses of their nodes.
            let trims = trim::mark(&expr, &trims)?;
            let ctx = eval::QueryCtx { trims, ..ctx };
            let mut result = eval::evaluate(&ctx, &expr, start, end, step)?;
            result.stats.exec_queue_time = queued.as_secs_f64();
            Ok(result)
        });
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result.map(|mut r: QueryResult| {
                r.stats.exec_total_time = started.elapsed().as_secs_f64();
                r
            }),
            Ok(Err(e)) => Err(QueryError::Internal(format!("evaluation failed: {e}"))),
            Err(_) => {
                canceled.store(true, Ordering::Relaxed);
                Err(QueryError::Timeout("query execution"))
            }
        }
    }
}

/// Whether `query` parses as the engine parses it: `Err` with the parser's message (a
/// rule file's expressions are checked with this).
pub fn check_query(query: &str) -> Result<(), String> {
    parse(query, 0).map(drop).map_err(|e| e.to_string())
}

fn parse(query: &str, step: i64) -> Result<(promql_parser::parser::Expr, Vec<Option<trim::Trim>>), QueryError> {
    let (encoded, trims) = trim::rewrite(&rawbytes::encode(query));
    // The parser crate panics on some malformed input (a duration too large for a
    // `Duration`, found by fuzzing); that is still the query's fault, not ours.
    let parsed = std::panic::catch_unwind(|| promql_parser::parser::parse(&encoded)).map_err(|p| {
        let why = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("unparseable query");
        QueryError::BadData(format!("invalid query: {why}"))
    })?;
    let expr = parsed.map_err(|e| QueryError::BadData(prometheus_wording(e)))?;
    if step > 0 {
        let t = expr.value_type();
        if t != ValueType::Vector && t != ValueType::Scalar {
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_name(t)
            )));
        }
    }
    Ok((expr, trims))
}

/// The parser's messages in Prometheus's words where the parser words them otherwise.
fn prometheus_wording(message: String) -> String {
    const WORDINGS: &[(&str, &str)] = &[(
        "must be preceded by an vector selector or matrix selector",
        "must be preceded by an instant vector selector or range vector selector",
    )];
    WORDINGS
        .iter()
        .fold(message, |m, (theirs, ours)| m.replace(theirs, ours))
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Vector => "vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}
