//! `info(v, {filter})`: enriches each series with the data labels of the info series
//! (`target_info` by default) that share its identifying labels (`instance`, `job`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use promql_parser::parser::Expr;
use pyrite_model::{Labels, MatchOp, Matcher, METRIC_NAME};

use crate::eval::selectors::Read;
use crate::eval::{offset_ms, strip_parens, Evaluator, DUPLICATE_LABELSET};
use crate::selector::matcher_groups;
use crate::value::{Matrix, Series, StepCursors};
use crate::QueryError;

const TARGET_INFO: &str = "target_info";
const IDENTIFYING: [&str; 2] = ["instance", "job"];

fn regex(name: &str, pattern: &str) -> Matcher {
    Matcher::new(MatchOp::Regex, name, pattern).expect("a constant or escaped pattern compiles")
}

/// Which info metrics to read: the filter's name matchers if any selects positively,
/// else `.+_info` narrowed by them, else `target_info`.
fn effective_name_matchers(ms: &[Matcher]) -> Vec<Matcher> {
    if ms.iter().any(|m| matches!(m.op, MatchOp::Equal | MatchOp::Regex)) {
        return ms.to_vec();
    }
    if !ms.is_empty() {
        let mut out = vec![regex(METRIC_NAME, ".+_info")];
        out.extend(ms.iter().cloned());
        return out;
    }
    vec![Matcher::equal(METRIC_NAME, TARGET_INFO)]
}

/// The `@` and offset of the first selector in the base expression (info series are
/// read at the same times).
fn first_selector_time(ev: &Evaluator<'_>, e: &Expr) -> Option<(Option<i64>, i64)> {
    match strip_parens(e) {
        Expr::VectorSelector(vs) => Some((ev.at_time(&vs.at), offset_ms(&vs.offset))),
        Expr::MatrixSelector(ms) => Some((ev.at_time(&ms.vs.at), offset_ms(&ms.vs.offset))),
        Expr::Subquery(sq) => first_selector_time(ev, &sq.expr).map(|(at, off)| match at {
            Some(t) => (Some(t), off),
            None => (ev.at_time(&sq.at), off + offset_ms(&sq.offset)),
        }),
        Expr::Aggregate(a) => first_selector_time(ev, &a.expr),
        Expr::Unary(u) => first_selector_time(ev, &u.expr),
        Expr::Binary(b) => first_selector_time(ev, &b.lhs).or_else(|| first_selector_time(ev, &b.rhs)),
        Expr::Call(c) => c.args.args.iter().find_map(|a| first_selector_time(ev, a)),
        _ => None,
    }
}

pub(super) fn eval(ev: &mut Evaluator<'_>, args: &[&Expr]) -> Result<Matrix, QueryError> {
    let (at, offset) = first_selector_time(ev, args[0]).unwrap_or((None, 0));
    let base = ev.eval_steps(args[0])?;
    // Data-label filters by label name; the name filters choose the info metrics.
    let mut data: BTreeMap<String, Vec<Matcher>> = BTreeMap::new();
    let mut name_matchers = Vec::new();
    match args.get(1).map(|a| strip_parens(a)) {
        Some(Expr::VectorSelector(vs)) => {
            for m in matcher_groups(vs)?.into_iter().next().unwrap_or_default() {
                if m.name == METRIC_NAME {
                    name_matchers.push(m.clone());
                }
                data.entry(m.name.clone()).or_default().push(m);
            }
        }
        Some(_) => {
            return Err(QueryError::BadData(
                "info() takes a label selector as its second argument".into(),
            ))
        }
        None => name_matchers.push(Matcher::equal(METRIC_NAME, TARGET_INFO)),
    }
    // Info series themselves are passed through untouched.
    let effective = effective_name_matchers(&name_matchers);
    let ignore: HashSet<usize> = base
        .iter()
        .enumerate()
        .filter(|(_, s)| effective.iter().all(|m| m.matches(s.metric.metric_name())))
        .map(|(i, _)| i)
        .collect();

    let mut id_values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (i, s) in base.iter().enumerate() {
        if ignore.contains(&i) {
            continue;
        }
        for l in IDENTIFYING {
            let v = s.metric.get(l);
            if !v.is_empty() {
                id_values.entry(l).or_default().insert(v.to_string());
            }
        }
    }
    let info_names: Vec<Matcher> = data.get(METRIC_NAME).cloned().unwrap_or_default();
    data.remove(METRIC_NAME);
    let info = if id_values.is_empty() {
        Vec::new()
    } else {
        let mut ms: Vec<Matcher> = id_values
            .iter()
            .map(|(name, vals)| {
                let alts: Vec<String> = vals.iter().map(|v| regex::escape(v)).collect();
                regex(name, &alts.join("|"))
            })
            .collect();
        ms.extend(data.values().flatten().cloned());
        ms.extend(effective_name_matchers(&info_names));
        // Each step sees the newest info sample; its value is that sample's time.
        ev.eval_instant(&[ms], at, offset, Read::FloatTimestamps)?
    };
    combine(ev, base, info, &ignore, &data)
}

/// The signature joining a series to an info metric: the info metric's name and the
/// identifying labels.
fn signature(info_name: &str, l: &Labels) -> Labels {
    let mut b = l.keep_only(&IDENTIFYING).to_builder();
    b.set(METRIC_NAME, info_name);
    b.build()
}

fn combine(
    ev: &mut Evaluator<'_>,
    base: Matrix,
    info: Matrix,
    ignore: &HashSet<usize>,
    data: &BTreeMap<String, Vec<Matcher>>,
) -> Result<Matrix, QueryError> {
    let info_names: BTreeSet<String> = info.iter().map(|s| s.metric.metric_name().to_string()).collect();
    let info_sigs: Vec<Labels> = info
        .iter()
        .map(|s| signature(s.metric.metric_name(), &s.metric))
        .collect();
    // Each base series' join signature per info metric, computed once, not per step.
    let base_sigs: Vec<Vec<(&String, Labels)>> = base
        .iter()
        .map(|s| {
            info_names
                .iter()
                .map(|name| (name, signature(name, &s.metric)))
                .collect()
        })
        .collect();
    let all_match_empty = data.values().flatten().all(|m| m.matches(""));
    let mut out: Matrix = Vec::new();
    let mut index: HashMap<Labels, (usize, i64)> = HashMap::new();
    let (mut bc, mut ic) = (StepCursors::new(base.len()), StepCursors::new(info.len()));
    let steps: Vec<i64> = ev.steps().collect();
    for ts in steps {
        ev.q.check()?;
        // The newest info sample per signature at this step.
        let mut by_sig: HashMap<&Labels, (usize, f64)> = HashMap::new();
        for (ii, s) in info.iter().enumerate() {
            let Some(orig) = ic.take(ii, s, ts) else { continue };
            match by_sig.get(&info_sigs[ii]) {
                Some(&(_, existing)) if existing > orig => {}
                Some(&(ej, existing)) if existing == orig => {
                    return Err(QueryError::Execution(format!(
                        "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                        info[ej].metric, existing as i64, s.metric, orig as i64
                    )));
                }
                _ => {
                    by_sig.insert(&info_sigs[ii], (ii, orig));
                }
            }
        }
        for (bi, s) in base.iter().enumerate() {
            let (v, h) = match bc.take(bi, s, ts) {
                Some(v) => (v, None),
                None => match bc.take_h(bi, s, ts) {
                    Some(h) => (0.0, Some(h)),
                    None => continue,
                },
            };
            let metric = if ignore.contains(&bi) {
                s.metric.clone()
            } else {
                let mut added: BTreeMap<String, String> = BTreeMap::new();
                let mut seen = 0;
                for (_, sig) in &base_sigs[bi] {
                    let Some(&(ii, _)) = by_sig.get(sig) else {
                        continue;
                    };
                    seen += 1;
                    for l in info[ii].metric.iter() {
                        if &*l.name == METRIC_NAME || (!data.is_empty() && !data.contains_key(&*l.name)) {
                            continue;
                        }
                        if let Some(prev) = added.get(&*l.name) {
                            if **prev != *l.value {
                                return Err(QueryError::Execution(format!("conflicting label: {}", l.name)));
                            }
                        }
                        if s.metric.has(&l.name) {
                            continue;
                        }
                        added.insert(l.name.to_string(), l.value.to_string());
                    }
                }
                if seen == 0 && !all_match_empty {
                    continue;
                }
                let mut b = s.metric.to_builder();
                for (n, v) in &added {
                    b.set(n, v);
                }
                b.build()
            };
            match index.get_mut(&metric) {
                Some((idx, last)) => {
                    if *last == ts {
                        return Err(QueryError::Execution(DUPLICATE_LABELSET.into()));
                    }
                    *last = ts;
                    out[*idx].push(ts, v, h);
                }
                None => {
                    index.insert(metric.clone(), (out.len(), ts));
                    let mut series = Series::floats(metric, Vec::new(), s.drop_name);
                    series.push(ts, v, h);
                    out.push(series);
                }
            }
        }
    }
    let n = out.iter().map(Series::len).sum();
    ev.account(n)?;
    Ok(out)
}
