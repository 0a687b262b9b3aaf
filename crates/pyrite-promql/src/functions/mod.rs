//! PromQL functions. Functions over range vectors live in [`range`], classic-histogram
//! functions in [`histogram`]; everything else — element-wise maths, label functions,
//! sorting, dates, `absent`, `scalar`, `vector`, `time` — is here.

mod histogram;
mod info;
mod range;
mod range_hist;

pub(crate) use range_hist::reconciled;

use chrono::{DateTime, Datelike, Timelike};
use promql_parser::parser::{Call, Expr};
use pyrite_model::{Labels, METRIC_NAME};

use crate::eval::{merge_same_labels, strip_parens, Evaluator};
use crate::value::{Matrix, Sample, Val, Vector};
use crate::QueryError;

pub(crate) fn eval_call(ev: &mut Evaluator<'_>, c: &Call) -> Result<Val, QueryError> {
    let name = c.func.name;
    if c.func.experimental && !ev.q.opts.enable_experimental_functions {
        return Err(QueryError::BadData(format!("function {name:?} is not enabled")));
    }
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    if let Some(m) = range::try_eval(ev, name, &args)? {
        return Ok(Val::Steps(m));
    }
    let m = match name {
        "timestamp" => match strip_parens(args[0]) {
            Expr::VectorSelector(vs) => ev.eval_selector_timestamps(vs)?,
            _ => ev.range_eval(&args, None, |s, _| {
                Ok(map_floats(std::mem::take(&mut s.vectors[0]), |_| s.ts as f64 / 1000.0))
            })?,
        },
        "label_replace" => label_replace(ev, &args)?,
        "label_join" => label_join(ev, &args)?,
        "time" => ev.range_eval(&[], None, |s, _| Ok(vec![Sample::scalar(s.ts, s.ts as f64 / 1000.0)]))?,
        "step" | "range" | "start" | "end" => {
            // Constants of the whole query, wherever they appear.
            let q = ev.q;
            let v = match name {
                "step" => q.query_step,
                "range" => q.query_end - q.query_start,
                "start" => q.query_start,
                _ => q.query_end,
            } as f64
                / 1000.0;
            ev.range_eval(&[], None, |s, _| Ok(vec![Sample::scalar(s.ts, v)]))?
        }
        "min_of" | "max_of" => ev.range_eval(&args, None, |s, _| {
            let (a, b) = (s.vectors[0][0].f, s.vectors[1][0].f);
            let v = if name == "min_of" { go_min(a, b) } else { go_max(a, b) };
            Ok(vec![Sample::scalar(s.ts, v)])
        })?,
        "pi" => ev.range_eval(&[], None, |s, _| Ok(vec![Sample::scalar(s.ts, std::f64::consts::PI)]))?,
        "vector" => ev.range_eval(&args, None, |s, _| Ok(vec![Sample::scalar(s.ts, s.vectors[0][0].f)]))?,
        "scalar" => ev.range_eval(&args, None, |s, _| {
            // Histograms are not numbers here: only a single float converts.
            let mut floats = s.vectors[0].iter().filter(|x| x.h.is_none());
            let v = match (floats.next(), floats.next()) {
                (Some(one), None) => one.f,
                _ => f64::NAN,
            };
            Ok(vec![Sample::scalar(s.ts, v)])
        })?,
        "absent" => {
            let labels = absent_labels(args[0]);
            ev.range_eval(&args, None, |s, _| {
                Ok(if s.vectors[0].is_empty() {
                    vec![Sample::float(labels.clone(), s.ts, 1.0, false)]
                } else {
                    Vec::new()
                })
            })?
        }
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            if !ev.is_instant() {
                let pos = crate::annotations::position(&ev.q.query, &Expr::Call(c.clone()));
                ev.annos.warn(
                    "sort is ineffective for range queries since results are always ordered by labels",
                    &pos,
                );
            }
            let label_args: Vec<String> = args[1..].iter().filter_map(|a| string_arg(a)).collect();
            ev.range_eval(&args[..1], None, |s, _| {
                let mut v = std::mem::take(&mut s.vectors[0]);
                sort_vector(name, &mut v, &label_args);
                Ok(v)
            })?
        }
        "round" => {
            let has_to = args.len() > 1;
            ev.range_eval(&args, None, |s, _| {
                let to_nearest = if has_to { s.vectors[1][0].f } else { 1.0 };
                let inv = 1.0 / to_nearest;
                Ok(map_floats(std::mem::take(&mut s.vectors[0]), |f| {
                    (f * inv + 0.5).floor() / inv
                }))
            })?
        }
        "clamp" | "clamp_min" | "clamp_max" => ev.range_eval(&args, None, |s, _| {
            let (lo, hi) = match name {
                "clamp" => (s.vectors[1][0].f, s.vectors[2][0].f),
                "clamp_min" => (s.vectors[1][0].f, f64::INFINITY),
                _ => (f64::NEG_INFINITY, s.vectors[1][0].f),
            };
            if hi < lo {
                return Ok(Vec::new());
            }
            Ok(map_floats(std::mem::take(&mut s.vectors[0]), |f| {
                go_max(lo, go_min(hi, f))
            }))
        })?,
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute" | "month" | "year" => {
            let f = date_fn(name);
            if args.is_empty() {
                ev.range_eval(&[], None, |s, _| Ok(vec![Sample::scalar(s.ts, f(s.ts / 1000))]))?
            } else {
                ev.range_eval(&args, None, |s, _| {
                    Ok(map_floats(std::mem::take(&mut s.vectors[0]), |v| {
                        if v.is_nan() || v.is_infinite() {
                            return f64::NAN;
                        }
                        f(v as i64)
                    }))
                })?
            }
        }
        "histogram_quantile" | "histogram_fraction" | "histogram_quantiles" => histogram::eval(ev, name, &args)?,
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            // Only native histograms carry these; float samples yield nothing.
            let f: fn(&pyrite_model::FloatHistogram) -> f64 = match name {
                "histogram_count" => |h| h.count,
                "histogram_sum" => |h| h.sum,
                "histogram_avg" => |h| h.sum / h.count,
                "histogram_stddev" => |h| h.variance().sqrt(),
                _ => |h| h.variance(),
            };
            ev.range_eval(&args, None, |s, _| {
                Ok(std::mem::take(&mut s.vectors[0])
                    .into_iter()
                    .filter_map(|x| x.h.as_deref().map(|h| Sample::float(x.metric.clone(), x.t, f(h), true)))
                    .collect())
            })?
        }
        "info" => info::eval(ev, &args)?,
        _ => {
            let Some(f) = math_fn(name) else {
                return Err(QueryError::BadData(format!("unknown function with name {name:?}")));
            };
            ev.range_eval(&args, None, |s, _| Ok(map_floats(std::mem::take(&mut s.vectors[0]), f)))?
        }
    };
    Ok(Val::Steps(m))
}

/// Applies `f` to each float sample (histogram samples are dropped); the result loses
/// its metric name.
fn map_floats(v: Vector, f: impl Fn(f64) -> f64) -> Vector {
    v.into_iter()
        .filter(|s| s.h.is_none())
        .map(|mut s| {
            s.f = f(s.f);
            s.drop_name = true;
            s
        })
        .collect()
}

/// Go's `math.Max`/`math.Min` NaN and signed-zero rules.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_infinite() && a > 0.0 || b.is_infinite() && b > 0.0 {
        return f64::INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && a == b {
        return if a.is_sign_negative() { b } else { a };
    }
    if a > b {
        a
    } else {
        b
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_infinite() && a < 0.0 || b.is_infinite() && b < 0.0 {
        return f64::NEG_INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && a == b {
        return if a.is_sign_negative() { a } else { b };
    }
    if a < b {
        a
    } else {
        b
    }
}

fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

fn date_fn(name: &str) -> fn(i64) -> f64 {
    fn at(secs: i64) -> Option<DateTime<chrono::Utc>> {
        DateTime::from_timestamp(secs, 0)
    }
    match name {
        "days_in_month" => |s| {
            at(s).map_or(f64::NAN, |t| {
                let (y, m) = (t.year(), t.month());
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                let first_next = chrono::NaiveDate::from_ymd_opt(ny, nm, 1);
                let first = chrono::NaiveDate::from_ymd_opt(y, m, 1);
                match (first, first_next) {
                    (Some(a), Some(b)) => (b - a).num_days() as f64,
                    _ => f64::NAN,
                }
            })
        },
        "day_of_month" => |s| at(s).map_or(f64::NAN, |t| t.day() as f64),
        "day_of_week" => |s| at(s).map_or(f64::NAN, |t| t.weekday().num_days_from_sunday() as f64),
        "day_of_year" => |s| at(s).map_or(f64::NAN, |t| t.ordinal() as f64),
        "hour" => |s| at(s).map_or(f64::NAN, |t| t.hour() as f64),
        "minute" => |s| at(s).map_or(f64::NAN, |t| t.minute() as f64),
        "month" => |s| at(s).map_or(f64::NAN, |t| t.month() as f64),
        _ => |s| at(s).map_or(f64::NAN, |t| t.year() as f64),
    }
}

pub(crate) fn string_arg(e: &Expr) -> Option<String> {
    match strip_parens(e) {
        Expr::StringLiteral(s) => Some(s.val.clone()),
        _ => None,
    }
}

/// Labels `absent()` gives its answer: the selector's equality matchers, except
/// names matched more than once.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match strip_parens(e) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        let seen = pairs.iter().any(|(n, _)| *n == m.name) || dropped.contains(&m.name);
        if matches!(m.op, promql_parser::label::MatchOp::Equal) && !seen {
            pairs.push((m.name.clone(), m.value.clone()));
        } else {
            pairs.retain(|(n, _)| *n != m.name);
            dropped.push(m.name.clone());
        }
    }
    Labels::from_pairs(&pairs)
}

fn sort_vector(name: &str, v: &mut Vector, labels: &[String]) {
    if name == "sort" || name == "sort_desc" {
        // Only floats have an order by value.
        v.retain(|s| s.h.is_none());
    }
    match name {
        "sort" => go_insertion_sort(v, |a, b| b.f.is_nan() || a.f < b.f),
        "sort_desc" => go_insertion_sort(v, |a, b| b.f.is_nan() || a.f > b.f),
        "sort_by_label" => v.sort_by(|a, b| cmp_by_labels(a, b, labels)),
        _ => v.sort_by(|a, b| cmp_by_labels(b, a, labels)),
    }
}

/// The stable insertion sort Prometheus's sort helpers reduce to on small inputs,
/// with their NaN ordering.
fn go_insertion_sort(v: &mut [Sample], less: impl Fn(&Sample, &Sample) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn cmp_by_labels(a: &Sample, b: &Sample, labels: &[String]) -> std::cmp::Ordering {
    for l in labels {
        let (x, y) = (a.metric.get(l), b.metric.get(l));
        if x != y {
            return natural_cmp(x, y);
        }
    }
    a.metric.cmp(&b.metric)
}

/// Natural order: digit runs compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let x = std::str::from_utf8(&a[si..i]).unwrap_or("").trim_start_matches('0');
            let y = std::str::from_utf8(&b[sj..j]).unwrap_or("").trim_start_matches('0');
            let ord = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn label_replace(ev: &mut Evaluator<'_>, args: &[&Expr]) -> Result<Matrix, QueryError> {
    let s = |i: usize| string_arg(args[i]).unwrap_or_default();
    let (dst, repl, src, re) = (s(1), s(2), s(3), s(4));
    let regex = regex::Regex::new(&format!("^(?s:{re})$"))
        .map_err(|_| QueryError::Execution(format!("invalid regular expression in label_replace(): {re}")))?;
    if !crate::rawbytes::is_valid_label_name(&dst) {
        return Err(QueryError::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut m = ev.eval_steps(args[0])?;
    for series in &mut m {
        let value = series.metric.get(&src).to_string();
        if let Some(caps) = regex.captures(&value) {
            let mut out = String::new();
            caps.expand(&repl, &mut out);
            let mut b = series.metric.to_builder();
            b.set(&dst, &out);
            series.metric = b.build();
            if dst == METRIC_NAME {
                series.drop_name = false;
            }
        }
    }
    merge_same_labels(m)
}

fn label_join(ev: &mut Evaluator<'_>, args: &[&Expr]) -> Result<Matrix, QueryError> {
    let dst = string_arg(args[1]).unwrap_or_default();
    let sep = string_arg(args[2]).unwrap_or_default();
    let srcs: Vec<String> = args[3..].iter().filter_map(|a| string_arg(a)).collect();
    if !crate::rawbytes::is_valid_label_name(&dst) {
        return Err(QueryError::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    if let Some(bad) = srcs.iter().find(|s| !crate::rawbytes::is_valid_label_name(s)) {
        return Err(QueryError::Execution(format!(
            "invalid source label name in label_join(): {bad}"
        )));
    }
    let mut m = ev.eval_steps(args[0])?;
    for series in &mut m {
        let joined: Vec<&str> = srcs.iter().map(|s| series.metric.get(s)).collect();
        let value = joined.join(&sep);
        let mut b = series.metric.to_builder();
        b.set(&dst, &value);
        series.metric = b.build();
        if dst == METRIC_NAME {
            series.drop_name = false;
        }
    }
    merge_same_labels(m)
}
