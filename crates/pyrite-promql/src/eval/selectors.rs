//! Reading the store: instant selectors with lookback and staleness, range selectors
//! as top-level values, and the sliding windows range functions consume.

use promql_parser::parser::{MatrixSelector, VectorSelector};
use pyrite_model::histogram::CounterResetHint;
use pyrite_model::{is_stale_nan, Labels, Matcher};
use pyrite_storage::SelectHints;

use super::{histogram_weight, millis, offset_ms, Evaluator};
use crate::selector::{instant_values, selector_matchers};
use crate::value::{Matrix, Series, H};
use crate::QueryError;

/// Where a range function's windows come from.
pub(crate) enum RangeSource {
    /// Series straight from the store, decoded one at a time.
    Store(Vec<pyrite_storage::Series>),
    /// The points a subquery computed.
    Computed(Matrix),
}

/// A range argument ready to be windowed: its source, the window length, and how
/// each evaluation step maps to the window's right edge.
pub(crate) struct RangeArg {
    pub source: RangeSource,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
    /// For a subquery, the samples its inner evaluation looked at (see
    /// [`Evaluator::range_arg_from_subquery`]).
    pub inner_samples: i64,
}

/// What an instant selector yields per step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// The sample's value.
    Values,
    /// The sample's timestamp in seconds (`timestamp()`).
    Timestamps,
    /// The timestamp, where a histogram sample is an error (`info()`'s info series).
    FloatTimestamps,
}

/// What a range function makes of one window.
pub(crate) enum Out {
    F(f64),
    H(H),
}

/// One window handed to a range function.
pub(crate) struct Window<'a> {
    /// Evaluation step time.
    pub ts: i64,
    /// Index of the step.
    pub step: usize,
    /// The window is `(start, end]`.
    pub start: i64,
    pub end: i64,
    pub range: i64,
    /// Float samples in the window.
    pub points: &'a [(i64, f64)],
    /// Native-histogram samples in the window.
    pub hists: &'a [(i64, H)],
}

impl Evaluator<'_> {
    /// The time a selector reads at for evaluation time `ts`.
    pub fn read_time(&self, at: Option<i64>, offset: i64, ts: i64) -> i64 {
        at.unwrap_or(ts) - offset
    }

    /// Fetches the series of a selector with samples in `[mint, maxt]`, sorted by labels.
    pub fn fetch(&self, vs: &VectorSelector, mint: i64, maxt: i64) -> Result<Vec<pyrite_storage::Series>, QueryError> {
        self.fetch_groups(&selector_matchers(vs)?, mint, maxt)
    }

    /// Series matching any of the matcher groups, sorted by labels, each once.
    pub fn fetch_groups(
        &self,
        groups: &[Vec<Matcher>],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<pyrite_storage::Series>, QueryError> {
        let mut out: Vec<pyrite_storage::Series> = Vec::new();
        for group in groups {
            let q = self.q;
            let started = std::time::Instant::now();
            let found = q
                .runtime
                .block_on(q.store.select(&q.tenant, SelectHints::new(mint, maxt), group));
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            q.counters
                .select_nanos
                .fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
            out.extend(found?);
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out.dedup_by(|a, b| a.labels == b.labels);
        Ok(out)
    }

    pub fn eval_vector_selector(&mut self, vs: &VectorSelector) -> Result<Matrix, QueryError> {
        let groups = selector_matchers(vs)?;
        self.eval_instant(&groups, self.at_time(&vs.at), offset_ms(&vs.offset), Read::Values)
    }

    /// The per-step sample timestamps of a selector (for `timestamp()`).
    pub fn eval_selector_timestamps(&mut self, vs: &VectorSelector) -> Result<Matrix, QueryError> {
        let groups = selector_matchers(vs)?;
        self.eval_instant(&groups, self.at_time(&vs.at), offset_ms(&vs.offset), Read::Timestamps)
    }

    /// Evaluates matcher groups as an instant selector at every step: each series' newest
    /// sample within the lookback, or with `timestamps` that sample's time in seconds.
    pub fn eval_instant(
        &mut self,
        groups: &[Vec<Matcher>],
        at: Option<i64>,
        offset: i64,
        mode: Read,
    ) -> Result<Matrix, QueryError> {
        let timestamps = mode != Read::Values;
        let steps: Vec<i64> = self.steps().collect();
        let reads: Vec<i64> = steps.iter().map(|&t| self.read_time(at, offset, t)).collect();
        let (lo, hi) = (reads[0], reads[reads.len() - 1]);
        let mint = lo - self.lookback + 1;
        let series = self.fetch_groups(groups, mint, hi)?;
        let mut out = Vec::with_capacity(series.len());
        for s in &series {
            self.q.check()?;
            let samples = decode(s, mint, hi);
            let mut series = Series::floats(s.labels.clone(), Vec::new(), timestamps);
            if s.histograms.is_empty() {
                let values = instant_values(&samples, &reads, self.lookback);
                series.points = steps
                    .iter()
                    .zip(values)
                    .filter_map(|(&t, v)| v.map(|(st, f)| (t, if timestamps { st as f64 / 1000.0 } else { f })))
                    .collect();
            } else {
                let hists = decode_hists(s, mint, hi, self.stats_only);
                let (mut fi, mut hj) = (0usize, 0usize);
                for (&t, &read) in steps.iter().zip(&reads) {
                    while fi < samples.len() && samples[fi].0 <= read {
                        fi += 1;
                    }
                    while hj < hists.len() && hists[hj].0 <= read {
                        hj += 1;
                    }
                    let f = fi.checked_sub(1).map(|j| samples[j]);
                    let h = hj.checked_sub(1).map(|j| &hists[j]);
                    let fresh = |st: i64| st > read - self.lookback;
                    match (f, h) {
                        // The newer kind wins; an older float is never fresher.
                        (f, Some((ht, hv))) if f.is_none_or(|f| f.0 < *ht) && fresh(*ht) => {
                            if mode == Read::FloatTimestamps {
                                return Err(QueryError::Execution("info sample should be float".into()));
                            }
                            if timestamps {
                                series.points.push((t, *ht as f64 / 1000.0));
                            } else {
                                series.hists.push((t, hv.clone()));
                            }
                        }
                        (Some((ft, fv)), _) if fresh(ft) && !is_stale_nan(fv) => {
                            series
                                .points
                                .push((t, if timestamps { ft as f64 / 1000.0 } else { fv }));
                        }
                        _ => {}
                    }
                }
            }
            if series.is_empty() {
                continue;
            }
            let n = series.points.len() as i64 + series.hists.iter().map(|(_, h)| histogram_weight(h)).sum::<i64>();
            self.q.counters.add(n, n);
            self.account(series.len())?;
            out.push(series);
        }
        Ok(out)
    }

    /// A range selector as a value: each series' samples in the window at the
    /// (single) evaluation time.
    pub fn eval_matrix_selector(&mut self, ms: &MatrixSelector) -> Result<Matrix, QueryError> {
        if !self.is_instant() {
            return Err(QueryError::BadData(
                "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
            ));
        }
        let arg = self.range_arg_from_selector(ms)?;
        self.windows_as_matrix(arg)
    }

    /// Reads what a range selector needs for every step of this evaluator.
    pub fn range_arg_from_selector(&mut self, ms: &MatrixSelector) -> Result<RangeArg, QueryError> {
        let at = self.at_time(&ms.vs.at);
        let offset = offset_ms(&ms.vs.offset);
        let range = millis(&ms.range);
        let lo = self.read_time(at, offset, self.start);
        let hi = self.read_time(at, offset, self.end);
        let series = self.fetch(&ms.vs, lo - range + 1, hi)?;
        Ok(RangeArg {
            source: RangeSource::Store(series),
            range,
            offset,
            at,
            inner_samples: 0,
        })
    }

    /// The window contents at the evaluator's single step, as a range-vector value.
    pub fn windows_as_matrix(&mut self, arg: RangeArg) -> Result<Matrix, QueryError> {
        let mut out = Vec::new();
        let ts = self.start;
        let end = self.read_time(arg.at, arg.offset, ts);
        let start = end - arg.range;
        let mut handle = |metric: &Labels, drop_name: bool, pts: &[(i64, f64)], hists: &[(i64, H)]| {
            let from = pts.partition_point(|p| p.0 <= start);
            let to = pts.partition_point(|p| p.0 <= end);
            let points: Vec<(i64, f64)> = pts[from..to].iter().copied().filter(|p| !is_stale_nan(p.1)).collect();
            let from = hists.partition_point(|p| p.0 <= start);
            let to = hists.partition_point(|p| p.0 <= end);
            let series = Series {
                metric: metric.clone(),
                points,
                hists: hists[from..to].to_vec(),
                drop_name,
            };
            if !series.is_empty() {
                out.push(series);
            }
        };
        match &arg.source {
            RangeSource::Store(series) => {
                for s in series {
                    handle(
                        &s.labels,
                        false,
                        &decode(s, start + 1, end),
                        &decode_hists(s, start + 1, end, self.stats_only),
                    );
                }
                let n = out
                    .iter()
                    .map(|s| s.points.len() as i64 + s.hists.iter().map(|(_, h)| histogram_weight(h)).sum::<i64>())
                    .sum();
                self.q.counters.add(n, n);
            }
            RangeSource::Computed(m) => {
                for s in m {
                    handle(&s.metric, s.drop_name, &s.points, &s.hists);
                }
                // As Prometheus: a subquery's value counts what its inner evaluation
                // looked at; what it read was counted when it read it.
                self.q.counters.add(arg.inner_samples, 0);
            }
        }
        let n = out.iter().map(Series::len).sum();
        self.account(n)?;
        Ok(out)
    }

    /// Calls `f` for every series and every step with the window's samples (stale
    /// markers removed); `f`'s result becomes that step's point of the series.
    pub fn for_each_window(
        &mut self,
        arg: &RangeArg,
        mut f: impl FnMut(&Labels, &Window<'_>, &mut crate::annotations::Annotations) -> Option<Out>,
        mut per_series: impl FnMut(&Labels, &Series, &mut crate::annotations::Annotations),
        drop_name: bool,
    ) -> Result<Matrix, QueryError> {
        let steps: Vec<i64> = self.steps().collect();
        let stats_only = self.stats_only;
        let first_end = self.read_time(arg.at, arg.offset, steps[0]);
        let last_end = self.read_time(arg.at, arg.offset, steps[steps.len() - 1]);
        let mut out = Vec::new();
        let mut annos = std::mem::take(&mut self.annos);
        let q = self.q;
        let counters = &q.counters;
        // `from_store`: the samples are read here (not computed by a subquery, whose
        // reads were counted as it made them).
        let mut one = |metric: &Labels,
                       input_drop: bool,
                       from_store: bool,
                       pts: &[(i64, f64)],
                       hists: &[(i64, H)],
                       annos: &mut crate::annotations::Annotations| {
            let pts: Vec<(i64, f64)> = pts.iter().copied().filter(|p| !is_stale_nan(p.1)).collect();
            let mut series = Series::floats(metric.clone(), Vec::new(), drop_name || input_drop);
            let (mut from, mut to) = (0usize, 0usize);
            let (mut hfrom, mut hto) = (0usize, 0usize);
            let (mut looked_at, mut read) = (0i64, 0i64);
            let mut prev_end: Option<i64> = None;
            for (i, &ts) in steps.iter().enumerate() {
                let end = self.read_time(arg.at, arg.offset, ts);
                let start = end - arg.range;
                let covered = prev_end.replace(end);
                while from < pts.len() && pts[from].0 <= start {
                    from += 1;
                }
                to = to.max(from);
                while to < pts.len() && pts[to].0 <= end {
                    to += 1;
                }
                while hfrom < hists.len() && hists[hfrom].0 <= start {
                    hfrom += 1;
                }
                hto = hto.max(hfrom);
                while hto < hists.len() && hists[hto].0 <= end {
                    hto += 1;
                }
                if from == to && hfrom == hto {
                    continue;
                }
                let hist_weight = |hs: &[(i64, H)]| hs.iter().map(|(_, h)| histogram_weight(h)).sum::<i64>();
                looked_at += (to - from) as i64 + hist_weight(&hists[hfrom..hto]);
                if from_store {
                    // Only what the previous step's window did not already cover.
                    let newer = |t: i64| covered.is_none_or(|c| t > c);
                    let f_new = pts[from..to].iter().filter(|p| newer(p.0)).count() as i64;
                    let h_new: i64 = hists[hfrom..hto]
                        .iter()
                        .filter(|p| newer(p.0))
                        .map(|(_, h)| histogram_weight(h))
                        .sum();
                    read += f_new + h_new;
                }
                let w = Window {
                    ts,
                    step: i,
                    start,
                    end,
                    range: arg.range,
                    points: &pts[from..to],
                    hists: &hists[hfrom..hto],
                };
                if let Some(v) = f(metric, &w, annos) {
                    match v {
                        Out::F(v) => series.points.push((ts, v)),
                        Out::H(h) => series.hists.push((ts, h)),
                    }
                }
            }
            counters.add(looked_at, read);
            if !series.is_empty() {
                per_series(metric, &series, annos);
                out.push(series);
            }
        };
        match &arg.source {
            RangeSource::Store(series) => {
                for s in series {
                    self.q.check()?;
                    let (mint, maxt) = (first_end - arg.range + 1, last_end);
                    one(
                        &s.labels,
                        false,
                        true,
                        &decode(s, mint, maxt),
                        &decode_hists(s, mint, maxt, stats_only),
                        &mut annos,
                    );
                }
            }
            RangeSource::Computed(m) => {
                for s in m {
                    one(&s.metric, s.drop_name, false, &s.points, &s.hists, &mut annos);
                }
            }
        }
        self.annos = annos;
        let n = out.iter().map(Series::len).sum();
        self.account(n)?;
        Ok(out)
    }
}

/// Decodes a stored series' histogram samples in `[mint, maxt]`. With `stats_only`
/// (the values only feed `histogram_count`/`_sum`/`_avg`) each keeps just its count,
/// sum and schema, and an unknown counter-reset hint is settled against the sample
/// decoded before it, as Prometheus's statistics-only decoding does.
pub(crate) fn decode_hists(s: &pyrite_storage::Series, mint: i64, maxt: i64, stats_only: bool) -> Vec<(i64, H)> {
    if s.histograms.is_empty() {
        return Vec::new();
    }
    let hists = s.histograms_in(mint, maxt);
    if !stats_only {
        return hists.into_iter().map(|(t, h)| (t, std::sync::Arc::new(h))).collect();
    }
    let mut out = Vec::with_capacity(hists.len());
    let mut prev: Option<&pyrite_model::FloatHistogram> = None;
    for (t, h) in &hists {
        let mut hint = h.counter_reset_hint;
        if hint == CounterResetHint::Unknown {
            if let Some(p) = prev {
                hint = if h.detect_reset(p) {
                    CounterResetHint::Reset
                } else {
                    CounterResetHint::NotReset
                };
            }
        }
        out.push((
            *t,
            std::sync::Arc::new(pyrite_model::FloatHistogram {
                counter_reset_hint: hint,
                schema: h.schema,
                count: h.count,
                sum: h.sum,
                ..Default::default()
            }),
        ));
        prev = Some(h);
    }
    out
}

/// Decodes a stored series' float samples in `[mint, maxt]`.
pub(crate) fn decode(s: &pyrite_storage::Series, mint: i64, maxt: i64) -> Vec<(i64, f64)> {
    let mut it = s.iter();
    it.seek(mint);
    it.take_while(|(t, _)| *t <= maxt).collect()
}
