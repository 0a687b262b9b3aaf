//! Range functions over windows that hold native histograms: `rate`/`increase`/`delta`
//! and `irate`/`idelta` yield histograms, `sum`/`avg_over_time` add them up, the
//! counting and picking functions treat them as samples, and the float-only functions
//! ignore them (saying so when floats and histograms share a window).

use std::sync::Arc;

use pyrite_model::histogram::CounterResetHint;
use pyrite_model::FloatHistogram;

use crate::annotations::Annotations;
use crate::eval::selectors::{Out, Window};
use crate::kahan::HistogramAcc;
use crate::value::H;

/// Where a histogram-related annotation points and which metric it names.
pub(crate) struct HistCtx<'a> {
    pub metric_name: &'a str,
    pub pos: &'a str,
}

impl HistCtx<'_> {
    pub fn mixed_floats(&self, annos: &mut Annotations) {
        annos.warn(
            format!(
                "encountered a mix of histograms and floats for metric name {:?}",
                self.metric_name
            ),
            self.pos,
        );
    }

    pub fn mixed_schemas(&self, annos: &mut Annotations) {
        annos.warn(
            format!(
                "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {:?}",
                self.metric_name
            ),
            self.pos,
        );
    }

    fn not_counter(&self, annos: &mut Annotations) {
        annos.warn(
            format!("this native histogram metric is not a counter: {:?}", self.metric_name),
            self.pos,
        );
    }

    fn not_gauge(&self, annos: &mut Annotations) {
        annos.warn(
            format!("this native histogram metric is not a gauge: {:?}", self.metric_name),
            self.pos,
        );
    }

    fn ignored_in_mixed_range(&self, annos: &mut Annotations) {
        annos.info(
            format!(
                "ignored histograms in a range containing both floats and histograms for metric name {:?}",
                self.metric_name
            ),
            self.pos,
        );
    }
}

pub(crate) fn reconciled(op: &str, pos: &str, annos: &mut Annotations) {
    annos.info(format!("mismatched custom buckets were reconciled during {op}"), pos);
}

/// Evaluates `name` over a window holding at least one histogram. `Err(())` means the
/// function only reads floats and the window has some: the float kernel runs on them.
pub(crate) fn eval(name: &str, w: &Window<'_>, cx: &HistCtx<'_>, annos: &mut Annotations) -> Result<Option<Out>, ()> {
    let (floats, hists) = (w.points, w.hists);
    Ok(match name {
        "rate" | "increase" | "delta" => {
            if !floats.is_empty() {
                cx.mixed_floats(annos);
                return Ok(None);
            }
            extrapolated_histogram_rate(w, name != "delta", name == "rate", cx, annos).map(Out::H)
        }
        "irate" | "idelta" => instant_value(w, name == "irate", cx, annos),
        "changes" | "resets" => Some(Out::F(count_changes(w, name == "resets"))),
        "count_over_time" => Some(Out::F((floats.len() + hists.len()) as f64)),
        "present_over_time" | "absent_over_time" => Some(Out::F(1.0)),
        "last_over_time" => Some(match (floats.last(), hists.last()) {
            (Some(f), Some(h)) if f.0 > h.0 => Out::F(f.1),
            (_, Some(h)) => Out::H(h.1.clone()),
            (Some(f), None) => Out::F(f.1),
            (None, None) => return Ok(None),
        }),
        "first_over_time" => Some(match (floats.first(), hists.first()) {
            (Some(f), Some(h)) if f.0 < h.0 => Out::F(f.1),
            (_, Some(h)) => Out::H(h.1.clone()),
            (Some(f), None) => Out::F(f.1),
            (None, None) => return Ok(None),
        }),
        "ts_of_first_over_time" => {
            let t = floats.first().map_or(i64::MAX, |p| p.0).min(hists[0].0);
            Some(Out::F(t as f64 / 1000.0))
        }
        "ts_of_last_over_time" => {
            let t = floats.last().map_or(i64::MIN, |p| p.0).max(hists[hists.len() - 1].0);
            Some(Out::F(t as f64 / 1000.0))
        }
        "sum_over_time" | "avg_over_time" => {
            if !floats.is_empty() {
                cx.mixed_floats(annos);
                return Ok(None);
            }
            sum_over_time(hists, name == "avg_over_time", cx, annos).map(Out::H)
        }
        "deriv" | "predict_linear" | "double_exponential_smoothing" if floats.len() < 2 => {
            if floats.len() == 1 {
                cx.ignored_in_mixed_range(annos);
            }
            None
        }
        _ => {
            // Float-only functions: histograms alone give nothing; beside floats they
            // are ignored, with an info.
            if floats.is_empty() {
                return Ok(None);
            }
            cx.ignored_in_mixed_range(annos);
            return Err(());
        }
    })
}

fn copy(h: &H) -> FloatHistogram {
    FloatHistogram::clone(h)
}

/// `rate`/`increase`/`delta` of histogram samples, extrapolated to the window's
/// edges as for floats, with counter resets handled bucket by bucket.
fn extrapolated_histogram_rate(
    w: &Window<'_>,
    is_counter: bool,
    is_rate: bool,
    cx: &HistCtx<'_>,
    annos: &mut Annotations,
) -> Option<H> {
    let pts = w.hists;
    if pts.len() < 2 {
        return None;
    }
    let result = histogram_rate(pts, is_counter, cx, annos)?;
    let (first_t, last_t) = (pts[0].0, pts[pts.len() - 1].0);
    let mut to_start = (first_t - w.start) as f64 / 1000.0;
    let mut to_end = (w.end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_step = sampled / (pts.len() - 1) as f64;
    let threshold = avg_step * 1.1;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    if is_counter && result.count > 0.0 && pts[0].1.count >= 0.0 {
        let to_zero = sampled * (pts[0].1.count / result.count);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_step / 2.0;
    }
    let mut factor = if sampled != 0.0 {
        (sampled + to_start + to_end) / sampled
    } else {
        1.0
    };
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    let mut result = result;
    result.mul(factor);
    Some(Arc::new(result))
}

/// The increase from the first to the last histogram, adding back what each counter
/// reset lost; `None` (with a warning) when the layouts cannot be combined.
fn histogram_rate(
    pts: &[(i64, H)],
    is_counter: bool,
    cx: &HistCtx<'_>,
    annos: &mut Annotations,
) -> Option<FloatHistogram> {
    let first = &pts[0].1;
    let last = &pts[pts.len() - 1].1;
    let gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
    if is_counter && (gauge(first) || gauge(last)) {
        cx.not_counter(annos);
    }
    let mut prev: FloatHistogram = copy(first);
    let mut custom = prev.uses_custom_buckets();
    if is_counter && pts[1].1.detect_reset(first) {
        // The first sample does not count: its layout need not fit the rest.
        prev = FloatHistogram {
            schema: pts[1].1.schema,
            custom_values: pts[1].1.custom_values.clone(),
            ..FloatHistogram::default()
        };
        custom = pts[1].1.uses_custom_buckets();
    }
    if last.uses_custom_buckets() != custom {
        cx.mixed_schemas(annos);
        return None;
    }
    let mut min_schema = last.schema.min(prev.schema);
    for (_, h) in &pts[1..pts.len() - 1] {
        if !is_counter {
            continue;
        }
        if gauge(h) {
            cx.not_counter(annos);
        }
        min_schema = min_schema.min(h.schema);
        if h.uses_custom_buckets() != custom {
            cx.mixed_schemas(annos);
            return None;
        }
    }
    let mut result = copy(last);
    result.reduce_resolution(min_schema);
    match result.sub(&prev) {
        Err(_) => {
            cx.mixed_schemas(annos);
            return None;
        }
        Ok(c) if c.reconciled => reconciled("subtraction", cx.pos, annos),
        Ok(_) => {}
    }
    if is_counter {
        let mut prev: &FloatHistogram = &prev;
        for (_, h) in &pts[1..] {
            if h.detect_reset(prev) {
                match result.add(prev) {
                    Err(_) => {
                        cx.mixed_schemas(annos);
                        return None;
                    }
                    Ok(c) if c.reconciled => reconciled("addition", cx.pos, annos),
                    Ok(_) => {}
                }
            }
            prev = h;
        }
    } else if !gauge(first) || !gauge(last) {
        cx.not_gauge(annos);
    }
    result.counter_reset_hint = CounterResetHint::Gauge;
    result.compact();
    Some(result)
}

/// `irate`/`idelta` over the last two samples, whichever kind they are.
fn instant_value(w: &Window<'_>, is_rate: bool, cx: &HistCtx<'_>, annos: &mut Annotations) -> Option<Out> {
    enum P<'a> {
        F(f64),
        H(&'a H),
    }
    let mut last: Vec<(i64, P<'_>)> = Vec::with_capacity(4);
    last.extend(w.points.iter().rev().take(2).map(|&(t, f)| (t, P::F(f))));
    last.extend(w.hists.iter().rev().take(2).map(|(t, h)| (*t, P::H(h))));
    if last.len() < 2 {
        return None;
    }
    // Stable: at equal timestamps the histogram (pushed later) counts as newer.
    last.sort_by_key(|p| p.0);
    let (t0, p0) = &last[last.len() - 2];
    let (t1, p1) = &last[last.len() - 1];
    let dt = t1 - t0;
    if dt == 0 {
        return None;
    }
    let secs = dt as f64 / 1000.0;
    match (p0, p1) {
        (P::F(v0), P::F(v1)) => {
            let mut v = *v1;
            if !is_rate || v1.partial_cmp(v0) != Some(std::cmp::Ordering::Less) {
                v = v1 - v0;
            }
            Some(Out::F(if is_rate { v / secs } else { v }))
        }
        (P::H(h0), P::H(h1)) => {
            let gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
            if is_rate && (gauge(h1) || gauge(h0)) {
                cx.not_counter(annos);
            }
            if !is_rate && (!gauge(h1) || !gauge(h0)) {
                cx.not_gauge(annos);
            }
            let mut out = copy(h1);
            if !is_rate || !h1.detect_reset(h0) {
                match out.sub(h0) {
                    Err(_) => {
                        cx.mixed_schemas(annos);
                        return None;
                    }
                    Ok(c) if c.reconciled => reconciled("subtraction", cx.pos, annos),
                    Ok(_) => {}
                }
            }
            out.counter_reset_hint = CounterResetHint::Gauge;
            out.compact();
            if is_rate {
                out.div(secs);
            }
            Some(Out::H(Arc::new(out)))
        }
        _ => {
            cx.mixed_floats(annos);
            None
        }
    }
}

/// `changes` or `resets` over floats and histograms in time order; a switch between
/// the kinds counts as both.
fn count_changes(w: &Window<'_>, resets: bool) -> f64 {
    enum P<'a> {
        F(f64),
        H(&'a H),
    }
    let mut all: Vec<(i64, P<'_>)> = Vec::with_capacity(w.points.len() + w.hists.len());
    all.extend(w.points.iter().map(|&(t, f)| (t, P::F(f))));
    all.extend(w.hists.iter().map(|(t, h)| (*t, P::H(h))));
    all.sort_by_key(|p| p.0);
    let mut n = 0;
    for pair in all.windows(2) {
        let hit = match (&pair[0].1, &pair[1].1) {
            (P::F(a), P::F(b)) => {
                if resets {
                    b < a
                } else {
                    a != b && !(a.is_nan() && b.is_nan())
                }
            }
            (P::H(a), P::H(b)) => {
                if resets {
                    b.detect_reset(a)
                } else {
                    !b.equals(a)
                }
            }
            _ => true,
        };
        n += usize::from(hit);
    }
    n as f64
}

/// `sum_over_time` (or with `avg` the mean) of histogram samples.
fn sum_over_time(hists: &[(i64, H)], avg: bool, cx: &HistCtx<'_>, annos: &mut Annotations) -> Option<H> {
    let mut acc = HistogramAcc::new(&hists[0].1);
    let (mut reset, mut not_reset) = (false, false);
    let mut track = |h: &FloatHistogram| match h.counter_reset_hint {
        CounterResetHint::Reset => reset = true,
        CounterResetHint::NotReset => not_reset = true,
        _ => {}
    };
    track(&hists[0].1);
    let mut reconciled_any = false;
    for (_, h) in &hists[1..] {
        track(h);
        let added = if avg { acc.add_to_mean(h) } else { acc.add(h) };
        match added {
            Err(_) => {
                cx.mixed_schemas(annos);
                return None;
            }
            Ok(c) => reconciled_any |= c.reconciled,
        }
    }
    if reset && not_reset {
        annos.warn("conflicting counter resets during histogram aggregation", cx.pos);
    }
    if reconciled_any {
        reconciled("aggregation", cx.pos, annos);
    }
    Some(Arc::new(if avg { acc.mean() } else { acc.sum() }))
}
