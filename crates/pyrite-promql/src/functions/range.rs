//! Functions over range vectors: `rate`/`increase`/`delta` with Prometheus's
//! extrapolation, `irate`/`idelta`, `deriv`/`predict_linear`, `changes`/`resets`, the
//! `*_over_time` family and `double_exponential_smoothing`.

use std::collections::HashSet;

use promql_parser::parser::Expr;

use super::absent_labels;
use super::range_hist::{self, HistCtx};
use crate::annotations::{fmt_g, Annotations};
use crate::eval::selectors::{Out, Window};
use crate::eval::{strip_parens, Evaluator};
use crate::kahan::{inc, quantile};
use crate::value::{Matrix, Series};
use crate::QueryError;

/// Evaluates `name` if one of its arguments is a range vector; `None` otherwise.
pub(super) fn try_eval(ev: &mut Evaluator<'_>, name: &str, args: &[&Expr]) -> Result<Option<Matrix>, QueryError> {
    let Some(mi) = args
        .iter()
        .position(|a| matches!(strip_parens(a), Expr::MatrixSelector(_) | Expr::Subquery(_)))
    else {
        return Ok(None);
    };
    let kernel =
        kernel(name).ok_or_else(|| QueryError::BadData(format!("function {name:?} does not take a range vector")))?;
    let mut params: Vec<Vec<f64>> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i != mi {
            params.push(ev.eval_scalar_steps(a)?);
        }
    }
    let arg = match strip_parens(args[mi]) {
        Expr::MatrixSelector(ms) => ev.range_arg_from_selector(ms)?,
        Expr::Subquery(sq) => ev.range_arg_from_subquery(sq)?,
        _ => unreachable!("checked above"),
    };
    let arg_pos = ev.pos(args[mi]);
    if name == "quantile_over_time" {
        let pos = ev.pos(args[0]);
        for q in params.first().map(Vec::as_slice).unwrap_or(&[]) {
            if q.is_nan() || *q < 0.0 || *q > 1.0 {
                ev.annos.warn(
                    format!("quantile value should be between 0 and 1, got {}", fmt_g(*q)),
                    &pos,
                );
            }
        }
    }
    if name == "double_exponential_smoothing" {
        for (i, what) in [(0usize, "smoothing"), (1, "trend")] {
            if let Some(bad) = params.get(i).and_then(|p| p.iter().find(|v| !(**v > 0.0 && **v < 1.0))) {
                let short = if i == 0 { "sf" } else { "tf" };
                return Err(QueryError::Execution(format!(
                    "invalid {what} factor. Expected: 0 < {short} < 1, got: {bad:.6}"
                )));
            }
        }
    }
    let drop_name = !matches!(name, "last_over_time" | "first_over_time");
    let check_counter = matches!(name, "rate" | "increase");
    let f = |metric: &pyrite_model::Labels, w: &Window<'_>, annos: &mut Annotations| -> Option<Out> {
        let p = |i: usize| params.get(i).map_or(f64::NAN, |v| v[w.step]);
        if !w.hists.is_empty() {
            let cx = HistCtx {
                metric_name: metric.metric_name(),
                pos: &arg_pos,
            };
            if let Ok(out) = range_hist::eval(name, w, &cx, annos) {
                return out;
            }
        }
        if w.points.is_empty() {
            return None;
        }
        kernel(w, &p).map(Out::F)
    };
    let per_series = |metric: &pyrite_model::Labels, s: &Series, annos: &mut Annotations| {
        let n = metric.metric_name();
        if check_counter
            && !s.points.is_empty()
            && !n.is_empty()
            && !n.ends_with("_total")
            && !n.ends_with("_sum")
            && !n.ends_with("_count")
            && !n.ends_with("_bucket")
        {
            annos.info(
                format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"),
                &arg_pos,
            );
        }
    };
    let m = ev.for_each_window(&arg, f, per_series, drop_name)?;
    if name == "absent_over_time" {
        return Ok(Some(absent_over_time(ev, m, args[mi])));
    }
    Ok(Some(m))
}

fn absent_over_time(ev: &Evaluator<'_>, m: Matrix, arg: &Expr) -> Matrix {
    let steps = ev.num_steps();
    if m.iter().any(|s| s.points.len() == steps) {
        return Vec::new();
    }
    let found: HashSet<i64> = m.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
    debug_assert!(
        m.iter().all(|s| s.hists.is_empty()),
        "absent_over_time's kernel yields floats"
    );
    let points: Vec<(i64, f64)> = ev.steps().filter(|t| !found.contains(t)).map(|t| (t, 1.0)).collect();
    if points.is_empty() {
        return Vec::new();
    }
    let metric = match strip_parens(arg) {
        Expr::MatrixSelector(_) => absent_labels(arg),
        _ => pyrite_model::Labels::empty(),
    };
    vec![Series::floats(metric, points, true)]
}

/// A range function's computation over one window; `p(i)` is its `i`-th scalar argument
/// at the window's step. `None` means no output for that step.
type Kernel = fn(&Window<'_>, &dyn Fn(usize) -> f64) -> Option<f64>;

fn last(w: &Window<'_>) -> (i64, f64) {
    w.points[w.points.len() - 1]
}

/// The kernel of a range function, looked up once per call rather than per window.
fn kernel(name: &str) -> Option<Kernel> {
    Some(match name {
        "rate" => |w, _| extrapolated_rate(w, true, true),
        "increase" => |w, _| extrapolated_rate(w, true, false),
        "delta" => |w, _| extrapolated_rate(w, false, false),
        "irate" => |w, _| instant_value(w.points, true),
        "idelta" => |w, _| instant_value(w.points, false),
        "deriv" => |w, _| (w.points.len() >= 2).then(|| linear_regression(w.points, w.points[0].0).0),
        "predict_linear" => |w, p| {
            (w.points.len() >= 2).then(|| {
                let (slope, intercept) = linear_regression(w.points, w.ts);
                slope * p(0) + intercept
            })
        },
        "changes" => |w, _| {
            let changed = |x: &[(i64, f64)]| x[0].1 != x[1].1 && !(x[0].1.is_nan() && x[1].1.is_nan());
            Some(w.points.windows(2).filter(|x| changed(x)).count() as f64)
        },
        "resets" => |w, _| Some(w.points.windows(2).filter(|x| x[1].1 < x[0].1).count() as f64),
        "avg_over_time" => |w, _| Some(avg(w.points)),
        "sum_over_time" => |w, _| {
            let (mut sum, mut c) = (0.0, 0.0);
            for &(_, v) in w.points {
                (sum, c) = inc(v, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        },
        "count_over_time" => |w, _| Some(w.points.len() as f64),
        "min_over_time" => |w, _| Some(compare(w.points, |cur, best| cur < best || best.is_nan()).1),
        "max_over_time" => |w, _| Some(compare(w.points, |cur, best| cur > best || best.is_nan()).1),
        "ts_of_min_over_time" => {
            |w, _| Some(compare(w.points, |cur, best| cur <= best || best.is_nan()).0 as f64 / 1000.0)
        }
        "ts_of_max_over_time" => {
            |w, _| Some(compare(w.points, |cur, best| cur >= best || best.is_nan()).0 as f64 / 1000.0)
        }
        "ts_of_first_over_time" => |w, _| Some(w.points[0].0 as f64 / 1000.0),
        "ts_of_last_over_time" => |w, _| Some(last(w).0 as f64 / 1000.0),
        "last_over_time" => |w, _| Some(last(w).1),
        "first_over_time" => |w, _| Some(w.points[0].1),
        "present_over_time" | "absent_over_time" => |_, _| Some(1.0),
        "quantile_over_time" => |w, p| {
            let mut vals: Vec<f64> = w.points.iter().map(|x| x.1).collect();
            Some(quantile(p(0), &mut vals))
        },
        "stddev_over_time" => |w, _| Some(variance(w.points).sqrt()),
        "stdvar_over_time" => |w, _| Some(variance(w.points)),
        "mad_over_time" => |w, _| {
            if w.points.iter().any(|x| x.1.is_nan()) {
                return Some(f64::NAN);
            }
            let mut vals: Vec<f64> = w.points.iter().map(|x| x.1).collect();
            let median = quantile(0.5, &mut vals);
            for v in &mut vals {
                *v = (*v - median).abs();
            }
            Some(quantile(0.5, &mut vals))
        },
        "double_exponential_smoothing" => |w, p| (w.points.len() >= 2).then(|| smooth(w.points, p(0), p(1))),
        _ => return None,
    })
}

fn compare(pts: &[(i64, f64)], better: impl Fn(f64, f64) -> bool) -> (i64, f64) {
    let (mut t, mut best) = pts[0];
    for &(pt, v) in pts {
        if better(v, best) {
            best = v;
            t = pt;
        }
    }
    (t, best)
}

fn avg(pts: &[(i64, f64)]) -> f64 {
    let (mut sum, mut count) = (pts[0].1, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, &(_, v)) in pts.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (ns, nc) = inc(v, sum, c);
            if !ns.is_infinite() {
                (sum, c) = (ns, nc);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = inc(v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

fn variance(pts: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in pts {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = inc(delta / count, mean, c_mean);
        (aux, c_aux) = inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn extrapolated_rate(w: &Window<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let pts = w.points;
    if pts.len() < 2 {
        return None;
    }
    let (first_t, first_v) = pts[0];
    let (last_t, last_v) = pts[pts.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        for x in pts.windows(2) {
            if x[1].1 < x[0].1 {
                result += x[0].1;
            }
        }
    }
    let mut to_start = (first_t - w.start) as f64 / 1000.0;
    let mut to_end = (w.end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_step = sampled / (pts.len() - 1) as f64;
    let threshold = avg_step * 1.1;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    if is_counter {
        let mut to_zero = to_start;
        if result > 0.0 && first_v >= 0.0 {
            to_zero = sampled * (first_v / result);
        }
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
    Some(result * factor)
}

fn instant_value(pts: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let (t0, v0) = pts[pts.len() - 2];
    let (t1, v1) = pts[pts.len() - 1];
    let dt = t1 - t0;
    if dt == 0 {
        return None;
    }
    let mut v = v1;
    // Not `v1 >= v0`: a NaN neighbour must give NaN, as a plain difference does.
    if !is_rate || v1.partial_cmp(&v0) != Some(std::cmp::Ordering::Less) {
        v = v1 - v0;
    }
    if is_rate {
        v /= dt as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares slope and intercept at `intercept_time`, with compensated sums.
fn linear_regression(pts: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = pts[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in pts.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sx, cx) = inc(x, sx, cx);
        (sy, cy) = inc(v, sy, cy);
        (sxy, cxy) = inc(x * v, sxy, cxy);
        (sx2, cx2) = inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn smooth(pts: &[(i64, f64)], sf: f64, tf: f64) -> f64 {
    let trend = |i: usize, s0: f64, s1: f64, b: f64| if i == 0 { b } else { tf * (s1 - s0) + (1.0 - tf) * b };
    let (mut s0, mut s1) = (0.0, pts[0].1);
    let mut b = pts[1].1 - pts[0].1;
    for (i, &(_, v)) in pts.iter().enumerate().skip(1) {
        let x = sf * v;
        b = trend(i - 1, s0, s1, b);
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    s1
}
