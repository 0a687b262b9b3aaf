//! Aggregation operators over groups chosen with `by`/`without`: `sum avg min max count
//! group stddev stdvar quantile topk bottomk limitk count_values`, with Prometheus's
//! compensated sums, incremental means, NaN rules and result order.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use pyrite_model::histogram::CounterResetHint;
use pyrite_model::{FloatHistogram, Labels, METRIC_NAME};

use crate::annotations::{fmt_g, Annotations};
use crate::eval::Evaluator;
use crate::kahan::{inc, quantile, HistogramAcc};
use crate::value::{Matrix, Sample, Series, StepCursors, H};
use crate::QueryError;

struct Grouping {
    without: bool,
    labels: Vec<String>,
}

impl Grouping {
    fn of(a: &AggregateExpr) -> Self {
        match &a.modifier {
            Some(LabelModifier::Include(l)) => Grouping {
                without: false,
                labels: l.labels.clone(),
            },
            Some(LabelModifier::Exclude(l)) => Grouping {
                without: true,
                labels: l.labels.clone(),
            },
            None => Grouping {
                without: false,
                labels: Vec::new(),
            },
        }
    }

    fn group_labels(&self, l: &Labels) -> Labels {
        if self.without {
            let mut names: Vec<&str> = self.labels.iter().map(String::as_str).collect();
            names.push(METRIC_NAME);
            l.without(&names)
        } else if self.labels.is_empty() {
            Labels::empty()
        } else {
            l.keep_only(&self.labels)
        }
    }
}

/// Each input series' group index, and each group's labels, in order of first appearance.
fn assign_groups(grouping: &Grouping, input: &Matrix) -> (Vec<Labels>, Vec<usize>) {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups = Vec::new();
    let series_group = input
        .iter()
        .map(|s| {
            let gl = grouping.group_labels(&s.metric);
            *index.entry(gl.clone()).or_insert_with(|| {
                groups.push(gl);
                groups.len() - 1
            })
        })
        .collect();
    (groups, series_group)
}

/// The aggregations that fold a group into one value, resolved once per node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fold {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Quantile,
}

impl Fold {
    fn parse(op: &str) -> Result<Fold, QueryError> {
        Ok(match op {
            "sum" => Fold::Sum,
            "avg" => Fold::Avg,
            "min" => Fold::Min,
            "max" => Fold::Max,
            "count" => Fold::Count,
            "group" => Fold::Group,
            "stddev" => Fold::Stddev,
            "stdvar" => Fold::Stdvar,
            "quantile" => Fold::Quantile,
            other => return Err(QueryError::BadData(format!("unknown aggregation {other}"))),
        })
    }
}

#[derive(Default, Clone)]
struct Group {
    seen: bool,
    value: f64,
    mean: f64,
    c: f64,
    count: f64,
    incremental: bool,
    values: Vec<f64>,
    drop_name: bool,
    /// `sum`/`avg` of native histograms.
    hist: Option<HistogramAcc>,
    has_float: bool,
    has_hist: bool,
    /// Histograms whose bucket schemas cannot be added: the group yields nothing.
    incompatible: bool,
    reset_seen: bool,
    not_reset_seen: bool,
}

impl Group {
    fn track_hint(&mut self, h: &FloatHistogram) {
        match h.counter_reset_hint {
            CounterResetHint::Reset => self.reset_seen = true,
            CounterResetHint::NotReset => self.not_reset_seen = true,
            _ => {}
        }
    }
}

/// The value of series `si` at step `ts`: a float, or a histogram.
fn take(cursors: &mut StepCursors, si: usize, s: &Series, ts: i64) -> Option<(f64, Option<H>)> {
    match cursors.take(si, s, ts) {
        Some(f) => Some((f, None)),
        None => cursors.take_h(si, s, ts).map(|h| (0.0, Some(h))),
    }
}

pub(crate) fn eval_aggregate(ev: &mut Evaluator<'_>, a: &AggregateExpr) -> Result<Matrix, QueryError> {
    let op = a.op.to_string();
    let grouping = Grouping::of(a);
    if op == "count_values" {
        return count_values(ev, a, &grouping);
    }
    let params = match &a.param {
        Some(p) => Some(ev.eval_scalar_steps(p)?),
        None => None,
    };
    let input = ev.eval_steps(&a.expr)?;
    let steps: Vec<i64> = ev.steps().collect();
    match op.as_str() {
        "topk" | "bottomk" | "limitk" => {
            let ks = params.unwrap_or_default();
            let pos = ev.pos(&Expr::Aggregate(a.clone()));
            return select_k(ev, &op, &grouping, &input, &steps, &ks, &pos);
        }
        "limit_ratio" => {
            let rs = params.unwrap_or_default();
            let pos = a.param.as_deref().map(|p| ev.pos(p)).unwrap_or_default();
            return limit_ratio(ev, &grouping, &input, &steps, &rs, &pos);
        }
        "quantile" => {
            let pos = a.param.as_deref().map(|p| ev.pos(p)).unwrap_or_default();
            let qs = params.as_deref().unwrap_or(&[]);
            if qs.iter().any(|q| q.is_nan()) {
                ev.annos.warn("quantile value should be between 0 and 1, got NaN", &pos);
            }
            let max = qs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let min = qs.iter().copied().fold(f64::INFINITY, f64::min);
            if max > 1.0 {
                ev.annos.warn(
                    format!("quantile value should be between 0 and 1, got {}", fmt_g(max)),
                    &pos,
                );
            }
            if min < 0.0 {
                ev.annos.warn(
                    format!("quantile value should be between 0 and 1, got {}", fmt_g(min)),
                    &pos,
                );
            }
        }
        _ => {}
    }

    let fold = Fold::parse(&op)?;
    let expr_pos = ev.pos(&a.expr);
    let mut annos = std::mem::take(&mut ev.annos);
    let ignored = |annos: &mut Annotations| annos.info(format!("ignored histogram in {op} aggregation"), &expr_pos);
    let (labels, series_group) = assign_groups(&grouping, &input);
    let mut result: Matrix = labels
        .into_iter()
        .map(|metric| Series::floats(metric, Vec::new(), false))
        .collect();
    let mut groups = vec![Group::default(); result.len()];
    let mut cursors = StepCursors::new(input.len());
    for (step, &ts) in steps.iter().enumerate() {
        ev.q.check()?;
        let q = params.as_ref().map_or(f64::NAN, |p| p[step]);
        for g in &mut groups {
            g.seen = false;
        }
        for (si, s) in input.iter().enumerate() {
            let Some((f, h)) = take(&mut cursors, si, s, ts) else {
                continue;
            };
            let g = &mut groups[series_group[si]];
            if !g.seen {
                *g = Group {
                    seen: true,
                    value: f,
                    mean: f,
                    count: 1.0,
                    drop_name: s.drop_name,
                    ..Group::default()
                };
                match fold {
                    Fold::Sum | Fold::Avg => match &h {
                        None => g.has_float = true,
                        Some(h) => {
                            g.track_hint(h);
                            g.hist = Some(HistogramAcc::new(h));
                            g.has_hist = true;
                        }
                    },
                    Fold::Stddev | Fold::Stdvar | Fold::Quantile | Fold::Min | Fold::Max if h.is_some() => {
                        g.seen = false;
                        ignored(&mut annos);
                    }
                    Fold::Stddev | Fold::Stdvar => g.value = if f.is_nan() || f.is_infinite() { f64::NAN } else { 0.0 },
                    Fold::Quantile => g.values = vec![f],
                    Fold::Group => g.value = 1.0,
                    _ => {}
                }
                continue;
            }
            if g.incompatible {
                continue;
            }
            g.drop_name |= s.drop_name;
            if let Some(h) = h {
                match fold {
                    Fold::Sum | Fold::Avg => {
                        g.count += 1.0;
                        g.has_hist = true;
                        g.track_hint(&h);
                        if let Some(acc) = &mut g.hist {
                            let added = if fold == Fold::Avg {
                                acc.add_to_mean(&h)
                            } else {
                                acc.add(&h)
                            };
                            match added {
                                Err(_) => {
                                    annos.warn(
                                        format!(
                                            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {:?}",
                                            s.metric.metric_name()
                                        ),
                                        &expr_pos,
                                    );
                                    g.incompatible = true;
                                }
                                Ok(c) if c.reconciled => {
                                    crate::functions::reconciled("aggregation", &expr_pos, &mut annos);
                                }
                                Ok(_) => {}
                            }
                        }
                    }
                    Fold::Count => g.count += 1.0,
                    Fold::Group => {}
                    _ => ignored(&mut annos),
                }
                continue;
            }
            match fold {
                Fold::Sum => {
                    g.has_float = true;
                    (g.value, g.c) = inc(f, g.value, g.c);
                }
                Fold::Avg => {
                    g.has_float = true;
                    g.count += 1.0;
                    if !g.incremental {
                        let (nv, nc) = inc(f, g.value, g.c);
                        if !nv.is_infinite() {
                            (g.value, g.c) = (nv, nc);
                            continue;
                        }
                        g.incremental = true;
                        g.mean = g.value / (g.count - 1.0);
                        g.c /= g.count - 1.0;
                    }
                    let q = (g.count - 1.0) / g.count;
                    (g.mean, g.c) = inc(f / g.count, q * g.mean, q * g.c);
                }
                Fold::Max => {
                    if g.value < f || g.value.is_nan() {
                        g.value = f;
                    }
                }
                Fold::Min => {
                    if g.value > f || g.value.is_nan() {
                        g.value = f;
                    }
                }
                Fold::Count => g.count += 1.0,
                Fold::Stddev | Fold::Stdvar => {
                    g.count += 1.0;
                    let delta = f - g.mean;
                    g.mean += delta / g.count;
                    g.value += delta * (f - g.mean);
                }
                Fold::Quantile => g.values.push(f),
                Fold::Group => {}
            }
        }
        for (gi, g) in groups.iter_mut().enumerate() {
            if !g.seen {
                continue;
            }
            if matches!(fold, Fold::Sum | Fold::Avg) && (g.has_hist || g.incompatible) {
                if g.has_float {
                    annos.warn("encountered a mix of histograms and floats for aggregation", &expr_pos);
                    continue;
                }
                if g.incompatible {
                    continue;
                }
                if g.reset_seen && g.not_reset_seen {
                    annos.warn("conflicting counter resets during histogram aggregation", &expr_pos);
                }
                let Some(acc) = g.hist.take() else { continue };
                let mut h = if fold == Fold::Avg { acc.mean() } else { acc.sum() };
                h.compact();
                result[gi].hists.push((ts, std::sync::Arc::new(h)));
                result[gi].drop_name = g.drop_name;
                continue;
            }
            let v = match fold {
                Fold::Avg if g.incremental => g.mean + g.c,
                Fold::Avg => g.value / g.count + g.c / g.count,
                Fold::Count => g.count,
                Fold::Stdvar => g.value / g.count,
                Fold::Stddev => (g.value / g.count).sqrt(),
                Fold::Quantile => quantile(q, &mut g.values),
                Fold::Sum => g.value + g.c,
                Fold::Min | Fold::Max | Fold::Group => g.value,
            };
            result[gi].points.push((ts, v));
            result[gi].drop_name = g.drop_name;
        }
    }
    ev.annos = annos;
    let n: usize = result.iter().map(Series::len).sum();
    ev.account(n)?;
    result.retain(|s| !s.is_empty());
    Ok(result)
}

/// Go's `container/heap` order for topk (`less` = smaller, NaN smallest) and bottomk.
fn heap_less(op: &str, a: f64, b: f64) -> bool {
    if a.is_nan() {
        return true;
    }
    if op == "bottomk" {
        a > b
    } else {
        a < b
    }
}

fn heap_up(h: &mut [(usize, f64)], op: &str, mut j: usize) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !heap_less(op, h[j].1, h[i].1) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [(usize, f64)], op: &str, i0: usize) -> bool {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && heap_less(op, h[j1 + 1].1, h[j1].1) {
            j = j1 + 1;
        }
        if !heap_less(op, h[j].1, h[i].1) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

/// Sorts the heap's elements best first, the way Prometheus's small-input sort does.
fn sort_selected(h: &mut [(usize, f64)], op: &str) {
    for i in 1..h.len() {
        let mut j = i;
        while j > 0 && heap_less(op, h[j - 1].1, h[j].1) {
            h.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn select_k(
    ev: &mut Evaluator<'_>,
    op: &str,
    grouping: &Grouping,
    input: &Matrix,
    steps: &[i64],
    ks: &[f64],
    pos: &str,
) -> Result<Matrix, QueryError> {
    if ks.iter().any(|k| k.is_nan()) {
        return Err(QueryError::Execution("Parameter value is NaN".into()));
    }
    let max_k = ks.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max_k < 1.0 {
        return Ok(Vec::new());
    }
    let min_k = ks.iter().copied().fold(f64::INFINITY, f64::min);
    if min_k <= i64::MIN as f64 {
        return Err(QueryError::Execution(format!(
            "Scalar value {} underflows int64",
            fmt_g(min_k)
        )));
    }
    if max_k >= i64::MAX as f64 {
        return Err(QueryError::Execution(format!(
            "Scalar value {} overflows int64",
            fmt_g(max_k)
        )));
    }
    let (labels, series_group) = assign_groups(grouping, input);
    let ngroups = labels.len();
    let mut out: Matrix = Vec::new();
    let mut out_index: HashMap<usize, usize> = HashMap::new();
    let mut cursors = StepCursors::new(input.len());
    for (step, &ts) in steps.iter().enumerate() {
        ev.q.check()?;
        let k = (ks[step] as i64).min(input.len() as i64);
        let mut heaps: Vec<Option<Vec<(usize, f64)>>> = vec![None; ngroups];
        let mut hists: HashMap<usize, H> = HashMap::new();
        for (si, s) in input.iter().enumerate() {
            let Some((f, h)) = take(&mut cursors, si, s, ts) else {
                continue;
            };
            if k < 1 {
                continue;
            }
            if let Some(h) = h {
                if op != "limitk" {
                    ev.annos.info(format!("ignored histogram in {op} aggregation"), pos);
                    continue;
                }
                hists.insert(si, h);
            }
            let gi = series_group[si];
            let h = heaps[gi].get_or_insert_with(Vec::new);
            match op {
                "limitk" => {
                    if (h.len() as i64) < k {
                        h.push((si, f));
                    }
                }
                _ => {
                    if (h.len() as i64) < k {
                        h.push((si, f));
                        let last = h.len() - 1;
                        heap_up(h, op, last);
                    } else {
                        let top = h[0].1;
                        let better = if op == "bottomk" { top > f } else { top < f };
                        if better || (top.is_nan() && !f.is_nan()) {
                            h[0] = (si, f);
                            if k > 1 && !heap_down(h, op, 0) {
                                heap_up(h, op, 0);
                            }
                        }
                    }
                }
            }
        }
        if k < 1 {
            continue;
        }
        for h in heaps.iter_mut() {
            let Some(mut h) = h.take() else { continue };
            if op != "limitk" {
                sort_selected(&mut h, op);
            }
            for (si, f) in h {
                let idx = *out_index.entry(si).or_insert_with(|| {
                    out.push(Series::floats(
                        input[si].metric.clone(),
                        Vec::new(),
                        input[si].drop_name,
                    ));
                    out.len() - 1
                });
                out[idx].push(ts, f, hists.remove(&si));
            }
        }
    }
    let n: usize = out.iter().map(Series::len).sum();
    ev.account(n)?;
    Ok(out)
}

fn count_values(ev: &mut Evaluator<'_>, a: &AggregateExpr, grouping: &Grouping) -> Result<Matrix, QueryError> {
    let label = match a.param.as_deref().map(crate::eval::strip_parens) {
        Some(Expr::StringLiteral(s)) => s.val.clone(),
        _ => return Err(QueryError::BadData("count_values needs a string parameter".into())),
    };
    if !crate::rawbytes::is_valid_label_name(&label) {
        return Err(QueryError::Execution(format!(
            "invalid label name {}",
            crate::rawbytes::quote(&label)
        )));
    }
    let mut names = grouping.labels.clone();
    if !grouping.without {
        names.push(label.clone());
    }
    let g = Grouping {
        without: grouping.without,
        labels: names,
    };
    ev.range_eval(&[&a.expr], None, |s, _annos: &mut Annotations| {
        let mut counts: Vec<(Labels, f64)> = Vec::new();
        let mut idx: HashMap<Labels, usize> = HashMap::new();
        for x in &s.vectors[0] {
            let mut b = x.metric.to_builder();
            let value = match &x.h {
                Some(h) => h.to_string(),
                None => format_value_label(x.f),
            };
            b.set(&label, &value);
            let gl = g.group_labels(&b.build());
            match idx.get(&gl) {
                Some(&i) => counts[i].1 += 1.0,
                None => {
                    idx.insert(gl.clone(), counts.len());
                    counts.push((gl, 1.0));
                }
            }
        }
        Ok(counts
            .into_iter()
            .map(|(metric, f)| Sample::float(metric, s.ts, f, false))
            .collect())
    })
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_value_label(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    format!("{f}")
}

/// Where a series falls in `[0, 1]`, from the hash of its labels: the same series is
/// always sampled the same way.
fn sample_offset(l: &Labels) -> f64 {
    let mut buf = Vec::with_capacity(64);
    for x in l.iter() {
        buf.extend_from_slice(x.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(x.value.as_bytes());
        buf.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&buf, 0) as f64 / u64::MAX as f64
}

fn limit_ratio(
    ev: &mut Evaluator<'_>,
    grouping: &Grouping,
    input: &Matrix,
    steps: &[i64],
    rs: &[f64],
    pos: &str,
) -> Result<Matrix, QueryError> {
    let max = rs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = rs.iter().copied().fold(f64::INFINITY, f64::min);
    if rs.iter().all(|r| *r == 0.0) {
        return Ok(Vec::new());
    }
    if rs.iter().any(|r| r.is_nan()) {
        return Err(QueryError::Execution("Ratio value is NaN".into()));
    }
    if max > 1.0 {
        ev.annos.warn(
            format!(
                "ratio value should be between -1 and 1, got {}, capping to 1",
                fmt_g(max)
            ),
            pos,
        );
    }
    if min < -1.0 {
        ev.annos.warn(
            format!(
                "ratio value should be between -1 and 1, got {}, capping to -1",
                fmt_g(min)
            ),
            pos,
        );
    }
    let (_, series_group) = assign_groups(grouping, input);
    let offsets: Vec<f64> = input.iter().map(|s| sample_offset(&s.metric)).collect();
    let mut out: Matrix = input
        .iter()
        .map(|s| Series::floats(s.metric.clone(), Vec::new(), s.drop_name))
        .collect();
    let mut order: Vec<usize> = (0..input.len()).collect();
    order.sort_by_key(|&si| series_group[si]);
    let mut cursors = StepCursors::new(input.len());
    for (step, &ts) in steps.iter().enumerate() {
        let r = rs[step].clamp(-1.0, 1.0);
        for &si in &order {
            let Some((f, h)) = take(&mut cursors, si, &input[si], ts) else {
                continue;
            };
            let o = offsets[si];
            if r != 0.0 && ((o >= 0.0 && o < r) || (o >= 1.0 + r && o <= 1.0)) {
                out[si].push(ts, f, h);
            }
        }
    }
    let mut result: Matrix = order.into_iter().map(|si| std::mem::take(&mut out[si])).collect();
    result.retain(|s| !s.is_empty());
    let n: usize = result.iter().map(Series::len).sum();
    ev.account(n)?;
    Ok(result)
}
