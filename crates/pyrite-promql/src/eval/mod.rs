//! The evaluator. Every node is evaluated over the whole step range at once (an instant
//! query is a range of one step) into a [`Matrix`] of step-aligned points; operators
//! and functions then combine their arguments step by step, as Prometheus's engine
//! does, so both query kinds share one code path and one set of semantics.
//!
//! Selectors read the store on demand, with their matchers and exact time range pushed
//! down; samples are decoded one series at a time from the store's compressed chunks.

pub(crate) mod selectors;
mod subquery;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, Expr, Offset};
use pyrite_model::Labels;
use pyrite_storage::Queryable;

use crate::annotations::Annotations;
use crate::value::{drop_metadata, Matrix, Sample, Series, StepCursors, Val, Vector};
use crate::{EngineOptions, QueryError};

pub(crate) const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// What every evaluator of one query shares.
pub(crate) struct QueryCtx {
    pub opts: EngineOptions,
    pub store: Arc<dyn Queryable>,
    pub tenant: String,
    pub runtime: tokio::runtime::Handle,
    /// The top-level query's start and end, which `start()` and `end()` in `@` mean.
    pub query_start: i64,
    pub query_end: i64,
    /// The top-level step (0 for an instant query), which `step()` means.
    pub query_step: i64,
    /// The query text, for annotation positions.
    pub query: String,
    pub deadline: Instant,
    pub canceled: Arc<AtomicBool>,
    /// The comparison nodes that stand for the trim operators `</` and `>/`.
    pub trims: crate::trim::TrimOps,
    /// The query's statistics as evaluation goes.
    pub counters: Counters,
}

/// What a query's evaluators have counted so far (see [`crate::QueryStats`]).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub total_samples: AtomicI64,
    pub samples_read: AtomicI64,
    pub peak_samples: AtomicUsize,
    /// Time spent selecting series from the store.
    pub select_nanos: AtomicU64,
}

impl Counters {
    /// Samples looked at (`total`) and read from the store (`read`).
    pub fn add(&self, total: i64, read: i64) {
        self.total_samples.fetch_add(total, Ordering::Relaxed);
        self.samples_read.fetch_add(read, Ordering::Relaxed);
    }
}

/// A native histogram's weight in the sample counts, as Prometheus's engine reckons it:
/// its size in memory (a fixed part plus 8 bytes per span, bucket and custom bound)
/// over 16, rounded.
pub(crate) fn histogram_weight(h: &pyrite_model::FloatHistogram) -> i64 {
    let parts = h.positive_spans.len()
        + h.negative_spans.len()
        + h.positive_buckets.len()
        + h.negative_buckets.len()
        + h.custom_values.len();
    ((168 + 8 * parts + 8) / 16) as i64
}

impl QueryCtx {
    pub fn check(&self) -> Result<(), QueryError> {
        if self.canceled.load(Ordering::Relaxed) {
            return Err(QueryError::Canceled("expression evaluation"));
        }
        if Instant::now() >= self.deadline {
            return Err(QueryError::Timeout("expression evaluation"));
        }
        Ok(())
    }
}

/// Evaluates expressions over the steps `start, start+interval, …, end`.
pub(crate) struct Evaluator<'q> {
    pub q: &'q QueryCtx,
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub lookback: i64,
    /// Samples currently held by this query, checked against `max_samples`.
    pub samples: usize,
    pub annos: Annotations,
    /// Histograms read below here only feed `histogram_count`/`_sum`/`_avg`: their
    /// buckets are not needed (see `selectors::decode_hists`).
    pub stats_only: bool,
}

pub(crate) fn millis(d: &Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

pub(crate) fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => -millis(&e.duration()),
    }
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => -millis(d),
    }
}

pub(crate) fn strip_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// Per-step input of a step function: the argument vectors, and for matched binary
/// operations each sample's join-signature ordinal.
pub(crate) struct StepArgs {
    pub ts: i64,
    pub vectors: Vec<Vector>,
    pub sigs: Vec<Vec<usize>>,
}

impl<'q> Evaluator<'q> {
    pub fn new(q: &'q QueryCtx, start: i64, end: i64, interval: i64) -> Self {
        Self {
            q,
            start,
            end,
            interval: interval.max(1),
            lookback: millis(&q.opts.lookback_delta),
            samples: 0,
            annos: Annotations::default(),
            stats_only: false,
        }
    }

    pub fn is_instant(&self) -> bool {
        self.start == self.end
    }

    pub fn num_steps(&self) -> usize {
        ((self.end - self.start) / self.interval + 1) as usize
    }

    pub fn steps(&self) -> impl Iterator<Item = i64> {
        let (start, interval) = (self.start, self.interval);
        (0..self.num_steps()).map(move |i| start + i as i64 * interval)
    }

    /// The time `@` pins a selector or subquery to, if any.
    pub fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.q.query_start),
            Some(AtModifier::End) => Some(self.q.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    /// `line:column` of `e` in the query, for annotations.
    pub fn pos(&self, e: &Expr) -> String {
        crate::annotations::position(&self.q.query, e)
    }

    pub fn account(&mut self, n: usize) -> Result<(), QueryError> {
        self.samples += n;
        self.q.counters.peak_samples.fetch_max(self.samples, Ordering::Relaxed);
        if self.samples > self.q.opts.max_samples {
            return Err(QueryError::TooManySamples("query execution"));
        }
        Ok(())
    }

    pub fn eval(&mut self, e: &Expr) -> Result<Val, QueryError> {
        self.q.check()?;
        match e {
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::NumberLiteral(n) => {
                let v = n.val;
                Ok(Val::Steps(vec![Series::floats(
                    Labels::empty(),
                    self.steps().map(|t| (t, v)).collect(),
                    false,
                )]))
            }
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::VectorSelector(vs) => Ok(Val::Steps(self.eval_vector_selector(vs)?)),
            Expr::MatrixSelector(ms) => Ok(Val::Range(self.eval_matrix_selector(ms)?)),
            Expr::Subquery(sq) => Ok(Val::Range(self.eval_subquery_range(sq)?)),
            Expr::Unary(u) => {
                let mut m = self.eval_steps(&u.expr)?;
                for s in &mut m {
                    s.drop_name = true;
                    for p in &mut s.points {
                        p.1 = -p.1;
                    }
                    for (_, h) in &mut s.hists {
                        Arc::make_mut(h).mul(-1.0);
                    }
                }
                Ok(Val::Steps(m))
            }
            Expr::Binary(b) => {
                // A trim needs whole histograms below it.
                let outer = self.stats_only;
                if self.q.trims.contains_key(&crate::trim::key(b)) {
                    self.stats_only = false;
                }
                let m = crate::binary::eval_binary(self, b);
                self.stats_only = outer;
                Ok(Val::Steps(m?))
            }
            Expr::Aggregate(a) => Ok(Val::Steps(crate::aggregate::eval_aggregate(self, a)?)),
            Expr::Call(c) => {
                let outer = self.stats_only;
                match c.func.name {
                    "histogram_count" | "histogram_sum" | "histogram_avg" => self.stats_only = true,
                    "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => self.stats_only = false,
                    _ => {}
                }
                let v = crate::functions::eval_call(self, c);
                self.stats_only = outer;
                v
            }
            Expr::Extension(_) => Err(QueryError::BadData("extension expressions are not supported".into())),
        }
    }

    /// Evaluates a node that yields an instant vector or a scalar.
    pub fn eval_steps(&mut self, e: &Expr) -> Result<Matrix, QueryError> {
        match self.eval(e)? {
            Val::Steps(m) => Ok(m),
            Val::Range(_) => Err(QueryError::BadData(format!(
                "expected instant vector or scalar, got range vector: {e}"
            ))),
            Val::String(_) => Err(QueryError::BadData(format!(
                "expected instant vector or scalar, got string: {e}"
            ))),
        }
    }

    /// Evaluates a scalar argument to its value at every step.
    pub fn eval_scalar_steps(&mut self, e: &Expr) -> Result<Vec<f64>, QueryError> {
        let m = self.eval_steps(e)?;
        let mut out = vec![f64::NAN; self.num_steps()];
        if let Some(s) = m.first() {
            for &(t, v) in &s.points {
                out[((t - self.start) / self.interval) as usize] = v;
            }
        }
        Ok(out)
    }

    /// Evaluates `args`, then calls `f` once per step with each argument's vector at
    /// that step, and assembles the outputs into series. With `signature`, each input
    /// series gets the ordinal of its join signature (for vector matching).
    pub fn range_eval(
        &mut self,
        args: &[&Expr],
        signature: Option<&dyn Fn(&Labels) -> Labels>,
        mut f: impl FnMut(&mut StepArgs, &mut Annotations) -> Result<Vector, QueryError>,
    ) -> Result<Matrix, QueryError> {
        let mut mats: Vec<Matrix> = Vec::with_capacity(args.len());
        for a in args {
            if a.value_type() == ValueType::String {
                mats.push(Vec::new());
            } else {
                mats.push(self.eval_steps(a)?);
            }
        }
        let mut series_sigs: Vec<Vec<usize>> = Vec::new();
        if let Some(sigf) = signature {
            let mut ordinals: HashMap<Labels, usize> = HashMap::new();
            for m in &mats {
                let sigs = m
                    .iter()
                    .map(|s| {
                        let sig = sigf(&s.metric);
                        let n = ordinals.len();
                        *ordinals.entry(sig).or_insert(n)
                    })
                    .collect();
                series_sigs.push(sigs);
            }
        }
        let mut cursors: Vec<StepCursors> = mats.iter().map(|m| StepCursors::new(m.len())).collect();
        let mut out: Matrix = Vec::new();
        let mut index: HashMap<Labels, (usize, i64)> = HashMap::new();
        let mut annos = Annotations::default();
        let instant = self.is_instant();
        let steps: Vec<i64> = self.steps().collect();
        for ts in steps {
            self.q.check()?;
            let mut step = StepArgs {
                ts,
                vectors: Vec::with_capacity(mats.len()),
                sigs: Vec::new(),
            };
            for (i, m) in mats.iter().enumerate() {
                let mut v = Vector::new();
                let mut sigs = Vec::new();
                for (si, s) in m.iter().enumerate() {
                    let (f, h) = match cursors[i].take(si, s, ts) {
                        Some(f) => (f, None),
                        None => match cursors[i].take_h(si, s, ts) {
                            Some(h) => (0.0, Some(h)),
                            None => continue,
                        },
                    };
                    v.push(Sample {
                        metric: s.metric.clone(),
                        t: ts,
                        f,
                        h,
                        drop_name: s.drop_name,
                    });
                    if signature.is_some() {
                        sigs.push(series_sigs[i][si]);
                    }
                }
                step.vectors.push(v);
                step.sigs.push(sigs);
            }
            let result = f(&mut step, &mut annos)?;
            self.account(result.len())?;
            if instant {
                self.annos.merge(annos);
                return Ok(result
                    .into_iter()
                    .map(|s| {
                        let mut out = Series::floats(s.metric, Vec::new(), s.drop_name);
                        out.push(ts, s.f, s.h);
                        out
                    })
                    .collect());
            }
            for s in result {
                match index.get_mut(&s.metric) {
                    Some((idx, last)) => {
                        if *last == ts {
                            return Err(QueryError::Execution(DUPLICATE_LABELSET.into()));
                        }
                        *last = ts;
                        out[*idx].push(ts, s.f, s.h);
                        out[*idx].drop_name = s.drop_name;
                    }
                    None => {
                        index.insert(s.metric.clone(), (out.len(), ts));
                        let mut series = Series::floats(s.metric, Vec::new(), s.drop_name);
                        series.push(ts, s.f, s.h);
                        out.push(series);
                    }
                }
            }
        }
        self.annos.merge(annos);
        Ok(out)
    }
}

/// Drops the names marked for removal and merges series that end up with the same
/// labels, failing if they overlap in time.
pub(crate) fn finish_matrix(mut m: Matrix) -> Result<Matrix, QueryError> {
    for s in &mut m {
        if s.drop_name {
            s.metric = drop_metadata(&s.metric);
            s.drop_name = false;
        }
    }
    merge_same_labels(m)
}

/// The same for an instant vector: names dropped, duplicates an error.
pub(crate) fn finish_vector(mut v: Vector) -> Result<Vector, QueryError> {
    for s in &mut v {
        if s.drop_name {
            s.metric = drop_metadata(&s.metric);
            s.drop_name = false;
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    for s in &v {
        if !seen.insert(&s.metric) {
            return Err(QueryError::Execution(DUPLICATE_LABELSET.into()));
        }
    }
    Ok(v)
}

/// Merges series that share a label set (after names were dropped or a label function
/// rewrote them), failing if they overlap in time.
pub(crate) fn merge_same_labels(m: Matrix) -> Result<Matrix, QueryError> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Matrix = Vec::with_capacity(m.len());
    let mut merged = false;
    for s in m {
        match index.get(&s.metric) {
            Some(&i) => {
                out[i].points.extend(s.points);
                out[i].hists.extend(s.hists);
                out[i].drop_name &= s.drop_name;
                merged = true;
            }
            None => {
                index.insert(s.metric.clone(), out.len());
                out.push(s);
            }
        }
    }
    if merged {
        for s in &mut out {
            s.points.sort_by_key(|p| p.0);
            s.hists.sort_by_key(|p| p.0);
            let clash = s.points.windows(2).any(|w| w[0].0 == w[1].0)
                || s.hists.windows(2).any(|w| w[0].0 == w[1].0)
                || (!s.hists.is_empty()
                    && s.points
                        .iter()
                        .any(|p| s.hists.binary_search_by_key(&p.0, |h| h.0).is_ok()));
            if clash {
                return Err(QueryError::Execution(DUPLICATE_LABELSET.into()));
            }
        }
    }
    Ok(out)
}

/// Evaluates a parsed query over `[start, end]` (`step` 0 for an instant query) and
/// shapes the answer as the API returns it.
pub(crate) fn evaluate(
    q: &QueryCtx,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
) -> Result<crate::QueryResult, QueryError> {
    use crate::{InstantSample, RangeSeries, Value};
    let mut ev = Evaluator::new(q, start, end, if step == 0 { 1 } else { step });
    let eval_started = Instant::now();
    let val = ev.eval(expr)?;
    let evaluated = eval_started.elapsed();
    let to_range = |m: Matrix| -> Result<Value, QueryError> {
        let mut m = finish_matrix(m)?;
        m.sort_by(|a, b| a.metric.cmp(&b.metric));
        Ok(Value::Matrix(
            m.into_iter()
                .map(|s| RangeSeries {
                    labels: s.metric,
                    samples: s.points,
                    histograms: s.hists.into_iter().map(|(t, h)| (t, Arc::unwrap_or_clone(h))).collect(),
                })
                .collect(),
        ))
    };
    let value = match val {
        Val::String(s) => Value::String { t: start, s },
        Val::Range(m) => to_range(m)?,
        Val::Steps(m) if step > 0 => to_range(m)?,
        Val::Steps(m) => match expr.value_type() {
            ValueType::Scalar => Value::Scalar {
                t: start,
                v: m.first().and_then(|s| s.points.first()).map_or(f64::NAN, |p| p.1),
            },
            _ => {
                let v: Vector = m
                    .into_iter()
                    .filter_map(|s| {
                        let (f, h) = match (s.points.first(), s.hists.first()) {
                            (Some(p), _) => (p.1, None),
                            (None, Some(h)) => (0.0, Some(h.1.clone())),
                            (None, None) => return None,
                        };
                        Some(Sample {
                            metric: s.metric,
                            t: start,
                            f,
                            h,
                            drop_name: s.drop_name,
                        })
                    })
                    .collect();
                let v = finish_vector(v)?;
                Value::Vector(
                    v.into_iter()
                        .map(|s| InstantSample {
                            labels: s.metric,
                            t: s.t,
                            v: s.f,
                            h: s.h.map(Arc::unwrap_or_clone),
                        })
                        .collect(),
                )
            }
        },
    };
    let total = eval_started.elapsed();
    let c = &q.counters;
    let selecting = Duration::from_nanos(c.select_nanos.load(Ordering::Relaxed));
    let stats = crate::QueryStats {
        eval_total_time: total.as_secs_f64(),
        query_preparation_time: selecting.as_secs_f64(),
        inner_eval_time: evaluated.saturating_sub(selecting).as_secs_f64(),
        result_sort_time: total.saturating_sub(evaluated).as_secs_f64(),
        total_queryable_samples: c.total_samples.load(Ordering::Relaxed),
        samples_read: c.samples_read.load(Ordering::Relaxed),
        peak_samples: c.peak_samples.load(Ordering::Relaxed),
        ..crate::QueryStats::default()
    };
    Ok(crate::QueryResult {
        value,
        warnings: ev.annos.warnings,
        infos: ev.annos.infos,
        stats,
    })
}
