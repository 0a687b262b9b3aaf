//! `histogram_quantile`, `histogram_quantiles` and `histogram_fraction`, over native
//! histograms and over classic `le`-labelled cumulative bucket series.

use std::collections::HashMap;

use promql_parser::parser::Expr;
use pyrite_model::histogram::NanObservations;
use pyrite_model::{FloatHistogram, Labels, LabelsBuilder};

use super::string_arg;
use crate::annotations::{fmt_g, Annotations};
use crate::eval::Evaluator;
use crate::kahan::almost_equal;
use crate::value::{Matrix, Sample, Vector, H};
use crate::QueryError;

const BUCKET_LABEL: &str = "le";
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

struct Grouped {
    metric: Labels,
    buckets: Vec<(f64, f64)>,
}

/// An annotation text naming the metric when there is one.
fn with_metric(msg: &str, metric: &Labels) -> String {
    match metric.metric_name() {
        "" => msg.to_string(),
        name => format!("{msg} for metric name {name:?}"),
    }
}

/// Native-histogram samples of `v` and its classic bucket groups. A native histogram
/// whose labels equal a classic group's is ambiguous: both are dropped, with a warning.
fn split<'v>(v: &'v Vector, annos: &mut Annotations, pos: &str) -> (Vec<(&'v Labels, &'v H)>, Vec<Grouped>) {
    let mut groups = group_buckets(v, annos, pos);
    let mut natives = Vec::new();
    for s in v {
        let Some(h) = &s.h else { continue };
        if let Some(i) = groups.iter().position(|g| g.metric == s.metric) {
            annos.warn(
                with_metric("vector contains a mix of classic and native histograms", &s.metric),
                pos,
            );
            groups.remove(i);
            continue;
        }
        natives.push((&s.metric, h));
    }
    (natives, groups)
}

/// A native histogram's quantile, with the infos NaN observations call for.
fn native_quantile(q: f64, h: &FloatHistogram, metric: &Labels, annos: &mut Annotations, pos: &str) -> f64 {
    let r = h.quantile(q);
    match r.nan_observations {
        NanObservations::None => {}
        NanObservations::ResultIsNan => annos.info(
            with_metric(
                "input to histogram_quantile has NaN observations, result is NaN",
                metric,
            ),
            pos,
        ),
        NanObservations::SkewedHigher => annos.info(
            with_metric(
                "input to histogram_quantile has NaN observations, result is skewed higher",
                metric,
            ),
            pos,
        ),
    }
    r.value
}

/// Groups classic bucket samples by their labels without `le`, in order of appearance.
fn group_buckets(v: &Vector, annos: &mut Annotations, pos: &str) -> Vec<Grouped> {
    let mut out: Vec<Grouped> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in v.iter().filter(|s| s.h.is_none()) {
        let le = s.metric.get(BUCKET_LABEL);
        let Some(ub) = parse_go_float(le) else {
            annos.warn(
                format!(
                    "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {:?}",
                    s.metric.metric_name()
                ),
                pos,
            );
            continue;
        };
        let key = s.metric.without(&[BUCKET_LABEL]);
        match index.get(&key) {
            Some(&i) => out[i].buckets.push((ub, s.f)),
            None => {
                index.insert(key.clone(), out.len());
                out.push(Grouped {
                    metric: key,
                    buckets: vec![(ub, s.f)],
                });
            }
        }
    }
    out
}

fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let t = s.strip_prefix('+').unwrap_or(s);
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    s.parse::<f64>().ok()
}

pub(super) fn eval(ev: &mut Evaluator<'_>, name: &str, args: &[&Expr]) -> Result<Matrix, QueryError> {
    match name {
        "histogram_quantile" => {
            let qs = ev.eval_scalar_steps(args[0])?;
            let qpos = ev.pos(args[0]);
            warn_quantiles(ev, &qs, &qpos);
            let pos = ev.pos(args[1]);
            ev.range_eval(args, None, |s, annos| {
                let q = s.vectors[0].first().map_or(f64::NAN, |x| x.f);
                let mut out = Vec::new();
                let (natives, groups) = split(&s.vectors[1], annos, &pos);
                for (metric, h) in natives {
                    let v = native_quantile(q, h, metric, annos, &pos);
                    out.push(Sample::float(metric.clone(), s.ts, v, true));
                }
                for g in groups {
                    let v = quantile_of(q, g.buckets, &g.metric, annos, &pos);
                    out.push(Sample::float(g.metric, s.ts, v, true));
                }
                Ok(out)
            })
        }
        "histogram_quantiles" => {
            let label = string_arg(args[1]).unwrap_or_default();
            let mut q_steps = Vec::new();
            for a in &args[2..] {
                let qs = ev.eval_scalar_steps(a)?;
                let qpos = ev.pos(a);
                warn_quantiles(ev, &qs, &qpos);
                q_steps.push(qs);
            }
            let pos = ev.pos(args[0]);
            let start = ev.start;
            let interval = ev.interval;
            ev.range_eval(&args[..1], None, |s, annos| {
                let step = ((s.ts - start) / interval) as usize;
                let (natives, groups) = split(&s.vectors[0], annos, &pos);
                let mut out = Vec::new();
                for qs in &q_steps {
                    let q = qs[step];
                    let with_q = |metric: &Labels| {
                        let mut b: LabelsBuilder = metric.to_builder();
                        b.set(&label, &format_openmetrics_float(q));
                        b.build()
                    };
                    for (metric, h) in &natives {
                        let v = native_quantile(q, h, metric, annos, &pos);
                        out.push(Sample::float(with_q(metric), s.ts, v, true));
                    }
                    for g in &groups {
                        let v = quantile_of(q, g.buckets.clone(), &g.metric, annos, &pos);
                        out.push(Sample::float(with_q(&g.metric), s.ts, v, true));
                    }
                }
                Ok(out)
            })
        }
        _ => {
            let pos = ev.pos(args[2]);
            ev.range_eval(args, None, |s, annos| {
                let lower = s.vectors[0].first().map_or(f64::NAN, |x| x.f);
                let upper = s.vectors[1].first().map_or(f64::NAN, |x| x.f);
                let mut out = Vec::new();
                let (natives, groups) = split(&s.vectors[2], annos, &pos);
                for (metric, h) in natives {
                    let (v, nans) = h.fraction(lower, upper);
                    if nans {
                        annos.info(
                            with_metric(
                                "input to histogram_fraction has NaN observations, which are excluded from all fractions",
                                metric,
                            ),
                            &pos,
                        );
                    }
                    out.push(Sample::float(metric.clone(), s.ts, v, true));
                }
                for g in groups {
                    let v = bucket_fraction(lower, upper, g.buckets);
                    out.push(Sample::float(g.metric, s.ts, v, true));
                }
                Ok(out)
            })
        }
    }
}

fn warn_quantiles(ev: &mut Evaluator<'_>, qs: &[f64], pos: &str) {
    for q in qs {
        if q.is_nan() || *q < 0.0 || *q > 1.0 {
            ev.annos.warn(
                format!("quantile value should be between 0 and 1, got {}", fmt_g(*q)),
                pos,
            );
        }
    }
}

fn format_openmetrics_float(q: f64) -> String {
    if q.is_infinite() {
        return if q > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if q.is_nan() {
        return "NaN".into();
    }
    let s = format!("{q}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Buckets sorted by upper bound with equal bounds merged, or `None` when the highest
/// bound is not `+Inf` (no answer can be given then).
fn prepare(mut b: Vec<(f64, f64)>) -> Option<Vec<(f64, f64)>> {
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    if !(b[b.len() - 1].0.is_infinite() && b[b.len() - 1].0 > 0.0) {
        return None;
    }
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for (ub, c) in b {
        match out.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => out.push((ub, c)),
        }
    }
    Some(out)
}

fn quantile_of(q: f64, buckets: Vec<(f64, f64)>, metric: &Labels, annos: &mut Annotations, pos: &str) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let Some(mut b) = prepare(buckets) else { return f64::NAN };
    if ensure_monotonic(&mut b) {
        annos.info(format!(
            "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}",
            metric.metric_name()
        ), pos);
    }
    if b.len() < 2 {
        return f64::NAN;
    }
    let observations = b[b.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let idx = b[..b.len() - 1].partition_point(|x| x.1 < rank);
    if idx == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (mut start, end, mut count) = (0.0, b[idx].0, b[idx].1);
    if idx > 0 {
        start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Makes cumulative counts monotonic; true if a real (not rounding) decrease was fixed.
fn ensure_monotonic(b: &mut [(f64, f64)]) -> bool {
    let mut forced = false;
    let mut prev = b[0].1;
    for x in b.iter_mut().skip(1) {
        let curr = x.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            x.1 = prev;
            continue;
        }
        if curr < prev {
            x.1 = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

fn bucket_fraction(lower: f64, upper: f64, buckets: Vec<(f64, f64)>) -> f64 {
    let Some(b) = prepare(buckets) else { return f64::NAN };
    let count = b[b.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if b[0].0 <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for (i, &(ub, c)) in b.iter().enumerate() {
        if i > 0 {
            lower_bound = b[i - 1].0;
        }
        let interp = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                c
            } else {
                rank + (c - rank) * (v - lower_bound) / (ub - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && ub > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && ub > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = c;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}
