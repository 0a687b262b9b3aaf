//! Runs Prometheus's PromQL test scripts (`testdata/promqltest/*.test`) against the
//! engine over an in-memory store.
//!
//! Every eval case is either run or listed with the reason it was not. As in
//! Prometheus's own runner (`promql/promqltest/test.go`), an instant `eval` is also run
//! with `@ <its time>` on every selector and subquery at other times (`-10t, 0, t/5, t,
//! 10t`; `-1s, 0, 1s` when `t` is 0) unless it calls a function whose answer depends on
//! the evaluation time; each of those runs is also checked as a range query over
//! `[t-1m, t+1m]` at a 1m step, whose middle step must be the instant answer, unless
//! it reads the query's range (`start()`, `end()`, `range()`, `step()`); and every
//! matrix must come back sorted by labels. Cases whose
//! data or expectations involve native histograms are counted in their own columns,
//! and files behind Prometheus's experimental flags are reported but not required.
//! The test fails if any case of a stable file fails. Run with `--nocapture` to see
//! the table.

#[path = "promqltest/nhcb.rs"]
mod nhcb;
#[path = "promqltest/script.rs"]
mod script;

use std::collections::BTreeMap;
use std::sync::Arc;

use promql_parser::parser::{self, Expr};
use pyrite_model::{matches_all, FloatHistogram, Labels, STALE_NAN_BITS};
use pyrite_promql::{Engine, EngineOptions, QueryResult, Value};
use pyrite_storage::MemQueryable;
use script::{Command, Eval, ExpectKind, Expected, Point};

const TENANT: &str = "test";
const EPSILON: f64 = 0.000001;

const STABLE: &[&str] = &[
    "aggregators",
    "at_modifier",
    "collision",
    "functions",
    "histograms",
    "literals",
    "name_label_dropping",
    "native_histograms",
    "operators",
    "range_queries",
    "selectors",
    "staleness",
    "subquery",
    "trig_functions",
];

#[derive(Default)]
struct FileReport {
    passed: usize,
    failed: Vec<String>,
    /// Cases involving native histograms, counted apart.
    hist_passed: usize,
    hist_failed: Vec<String>,
    skipped: Vec<String>,
}

struct Env {
    store: Arc<MemQueryable>,
    histogram_series: Vec<Labels>,
    engine: Engine,
}

fn almost_equal(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPSILON * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn load(env: &mut Env, interval: i64, series: &[script::SeriesDesc], with_nhcb: bool) {
    for s in series {
        let mut floats = Vec::new();
        let mut hists = Vec::new();
        for (i, p) in s.points.iter().enumerate() {
            let t = i as i64 * interval;
            match p {
                Point::Omitted => {}
                Point::Float(v) => floats.push((t, *v)),
                Point::Histogram(h, _) => hists.push((t, (**h).clone())),
            }
        }
        if !hists.is_empty() {
            env.histogram_series.push(s.labels.clone());
            env.store.add_histograms(TENANT, s.labels.clone(), &hists);
        }
        if !floats.is_empty() {
            env.store.add(TENANT, s.labels.clone(), &floats);
        }
    }
    if with_nhcb {
        for (labels, samples) in nhcb::convert(series, interval) {
            env.histogram_series.push(labels.clone());
            env.store.add_histograms(TENANT, labels, &samples);
        }
    }
}

/// Selectors of a query, for deciding whether it reads histogram series.
fn selectors(e: &Expr, out: &mut Vec<parser::VectorSelector>) {
    match e {
        Expr::VectorSelector(vs) => out.push(vs.clone()),
        Expr::MatrixSelector(ms) => out.push(ms.vs.clone()),
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        _ => {}
    }
}

fn reads_histograms(env: &Env, query: &str) -> bool {
    let Ok(expr) = parser::parse(query) else {
        // Unparseable here: judge by the histogram series' names appearing in the text.
        return env
            .histogram_series
            .iter()
            .any(|l| !l.metric_name().is_empty() && query.contains(l.metric_name()));
    };
    let mut sels = Vec::new();
    selectors(&expr, &mut sels);
    sels.iter().any(|vs| {
        pyrite_promql::selector_matchers(vs).is_ok_and(|groups| {
            groups
                .iter()
                .any(|g| env.histogram_series.iter().any(|l| matches_all(g, l)))
        })
    })
}

fn run_query(
    env: &Env,
    rt: &tokio::runtime::Runtime,
    query: &str,
    (start, end, step): (i64, i64, i64),
) -> Result<QueryResult, pyrite_promql::QueryError> {
    let store: Arc<dyn pyrite_storage::Queryable> = env.store.clone();
    rt.block_on(async {
        if step == 0 {
            env.engine.instant_query(store, TENANT, query, start).await
        } else {
            env.engine.range_query(store, TENANT, query, start, end, step).await
        }
    })
}

/// Functions whose answer can change with the evaluation time although their
/// arguments do not (Prometheus's `AtModifierUnsafeFunctions`).
const AT_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
    // Constants of the query, folded before evaluation in Prometheus 3.
    "start",
    "end",
    "range",
    "step",
];

/// Puts `@ t` on every selector and subquery without one, outside subqueries (whose
/// insides keep their own times); sets `skip` when the query cannot be
/// shifted (a time-dependent function, or an `@` time the parser crate cannot print).
fn pin_at(e: &mut Expr, at: &parser::AtModifier, skip: &mut bool) {
    match e {
        Expr::VectorSelector(vs) => pin(&mut vs.at, at, skip),
        Expr::MatrixSelector(ms) => pin(&mut ms.vs.at, at, skip),
        Expr::Subquery(sq) => pin(&mut sq.at, at, skip),
        Expr::Aggregate(a) => {
            pin_at(&mut a.expr, at, skip);
            if let Some(p) = &mut a.param {
                pin_at(p, at, skip);
            }
        }
        Expr::Unary(u) => pin_at(&mut u.expr, at, skip),
        Expr::Binary(b) => {
            pin_at(&mut b.lhs, at, skip);
            pin_at(&mut b.rhs, at, skip);
        }
        Expr::Paren(p) => pin_at(&mut p.expr, at, skip),
        Expr::Call(c) => {
            *skip |= AT_UNSAFE.contains(&c.func.name);
            c.args.args.iter_mut().for_each(|a| pin_at(a, at, skip));
        }
        _ => {}
    }
}

fn pin(slot: &mut Option<parser::AtModifier>, at: &parser::AtModifier, skip: &mut bool) {
    match slot {
        None => *slot = Some(at.clone()),
        // The parser crate prints `@` times before 1970 as `@ 0.000`.
        Some(parser::AtModifier::At(t)) if *t < std::time::UNIX_EPOCH => *skip = true,
        Some(_) => {}
    }
}

/// The instant queries Prometheus's runner makes of an instant `eval` at `t`: the query
/// itself, then (when no time-dependent function is called) the query with `@ t` at
/// shifted times. `Err` when the query with `@ t` does not print back to itself.
fn instant_variants(query: &str, t: i64) -> Result<Vec<(String, i64)>, String> {
    let mut out = vec![(query.to_string(), t)];
    let Ok(mut expr) = parser::parse(query) else {
        return Ok(out);
    };
    let Some(at) = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(t.max(0) as u64)) else {
        return Ok(out);
    };
    let mut skip = false;
    pin_at(&mut expr, &parser::AtModifier::At(at), &mut skip);
    // Byte escapes beyond ASCII are not valid UTF-8: the parser crate's strings cannot
    // hold them, so the query could not be printed back with them.
    let raw_bytes = query
        .match_indices("\\x")
        .any(|(i, _)| query[i + 2..].starts_with(|c: char| "89abcdefABCDEF".contains(c)));
    if skip || t < 0 || raw_bytes {
        return Ok(out);
    }
    let text = expr.to_string();
    if parser::parse(&text).ok().map(|e| e.to_string()) != Some(text.clone()) {
        return Err(format!("`{text}` does not read back as the query with `@ {t}ms`"));
    }
    let times = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    out.extend(times.into_iter().map(|at| (text.clone(), at)));
    Ok(out)
}

/// Whether the query reads its own range (those answer differently as range queries).
fn reads_query_range(query: &str) -> bool {
    ["start()", "end()", "range()", "step()"].iter().any(|f| {
        query.match_indices(f).any(|(i, _)| {
            // A whole name: `start()`, not `mystart()`.
            query[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'))
        })
    })
}

fn matches_text(matcher: &Option<(bool, String)>, text: &str) -> bool {
    match matcher {
        None => true,
        Some((false, m)) => m == text,
        Some((true, r)) => regex::Regex::new(r).is_ok_and(|re| re.is_match(text)),
    }
}

/// An annotation without its trailing `(line:column)`.
fn without_position(text: &str) -> &str {
    match text.rsplit_once(" (") {
        Some((head, tail))
            if tail.ends_with(')') && tail[..tail.len() - 1].split(':').all(|n| n.parse::<u32>().is_ok()) =>
        {
            head
        }
        _ => text,
    }
}

/// The case's annotations against a result. `reprinted`: the query ran as the parser
/// crate printed it, whose columns can differ from the script's text (`+Inf` prints as
/// `Inf`), so exact expectations are compared without their positions.
fn check_annotations(e: &Eval, res: &QueryResult, reprinted: bool) -> Result<(), String> {
    let matches_text = |m: &Option<(bool, String)>, text: &str| match m {
        Some((false, want)) if reprinted => without_position(want) == without_position(text),
        _ => matches_text(m, text),
    };
    for (kind, no_kind, got) in [
        (ExpectKind::Warn, ExpectKind::NoWarn, &res.warnings),
        (ExpectKind::Info, ExpectKind::NoInfo, &res.infos),
    ] {
        let expects: Vec<_> = e.expects.iter().filter(|x| x.kind == kind).collect();
        if e.expects.iter().any(|x| x.kind == no_kind) && !got.is_empty() {
            return Err(format!("expected no {kind:?} annotations, got {got:?}"));
        }
        for x in &expects {
            if !got.iter().any(|g| matches_text(&x.matcher, g)) {
                return Err(format!("expected {kind:?} annotation {:?}, got {got:?}", x.matcher));
            }
        }
        if !expects.is_empty() {
            for g in got.iter() {
                if !expects.iter().any(|x| matches_text(&x.matcher, g)) {
                    return Err(format!("unexpected {kind:?} annotation {g:?}"));
                }
            }
        }
    }
    Ok(())
}

/// Prometheus's comparison of native histograms (after compaction): same schema, zero
/// threshold and custom bounds, counts and buckets equal within the tolerance, and the
/// counter-reset hint only when the expectation names one.
fn histograms_match(want: &FloatHistogram, got: &FloatHistogram, hint_set: bool) -> bool {
    let (mut want, mut got) = (want.clone(), got.clone());
    want.compact();
    got.compact();
    let buckets_match = |a: Vec<pyrite_model::histogram::Bucket>, b: Vec<pyrite_model::histogram::Bucket>| {
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| x.index == y.index && almost_equal(x.count, y.count))
    };
    want.schema == got.schema
        && almost_equal(want.count, got.count)
        && almost_equal(want.sum, got.sum)
        && (!want.uses_custom_buckets() || want.custom_values == got.custom_values)
        && want.zero_threshold == got.zero_threshold
        && almost_equal(want.zero_count, got.zero_count)
        && buckets_match(want.positive(), got.positive())
        && buckets_match(want.negative(), got.negative())
        && (!hint_set || want.counter_reset_hint == got.counter_reset_hint)
}

/// A float or histogram value against the expected point.
fn value_matches(want: &Point, f: f64, h: Option<&FloatHistogram>) -> bool {
    match (want, h) {
        (Point::Float(w), None) => almost_equal(*w, f),
        (Point::Histogram(w, hint_set), Some(h)) => histograms_match(w, h, *hint_set),
        _ => false,
    }
}

fn fmt_f(v: f64) -> String {
    if v.to_bits() == STALE_NAN_BITS {
        "stale".into()
    } else {
        format!("{v}")
    }
}

/// Prometheus's `assertMatrixSorted`: a matrix's series in label order.
fn matrix_sorted(m: &[pyrite_promql::RangeSeries]) -> Result<(), String> {
    match m.windows(2).position(|w| w[0].labels > w[1].labels) {
        Some(i) => Err(format!(
            "matrix results should always be sorted by labels, but series {} at index {} sorts after series {} at index {}",
            m[i].labels,
            i,
            m[i + 1].labels,
            i + 1
        )),
        None => Ok(()),
    }
}

fn compare(e: &Eval, value: &Value) -> Result<(), String> {
    let ordered = e.expects.iter().any(|x| x.kind == ExpectKind::Ordered);
    match (&e.expected, value) {
        (Expected::Scalar(want), Value::Scalar { v, .. }) => {
            if almost_equal(*want, *v) {
                Ok(())
            } else {
                Err(format!("expected scalar {want}, got {v}"))
            }
        }
        (Expected::String(want), Value::String { s, .. }) => {
            if want == s {
                Ok(())
            } else {
                Err(format!("expected string {want:?}, got {s:?}"))
            }
        }
        (Expected::Series(want), Value::Vector(got)) => {
            if want.len() != got.len() {
                return Err(format!(
                    "expected {} samples, got {}: {:?}",
                    want.len(),
                    got.len(),
                    got.iter()
                        .map(|s| match &s.h {
                            Some(h) => format!("{} {h:?}", s.labels),
                            None => format!("{} {}", s.labels, fmt_f(s.v)),
                        })
                        .collect::<Vec<_>>()
                ));
            }
            for (i, w) in want.iter().enumerate() {
                let Some(pos) = got.iter().position(|g| g.labels == w.labels) else {
                    return Err(format!("missing series {}", w.labels));
                };
                if ordered && pos != i {
                    return Err(format!("series {} at position {pos}, expected {i}", w.labels));
                }
                let Some(want_p) = w.points.first() else {
                    return Err(format!("{}: no expected value", w.labels));
                };
                if !value_matches(want_p, got[pos].v, got[pos].h.as_ref()) {
                    let got_s = match &got[pos].h {
                        Some(h) => format!("{h:?}"),
                        None => fmt_f(got[pos].v),
                    };
                    return Err(format!("{}: expected {want_p:?}, got {got_s}", w.labels));
                }
            }
            Ok(())
        }
        (Expected::Series(want), Value::Matrix(got)) => {
            if ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            matrix_sorted(got)?;
            let (start, step) = match e.range_vector {
                Some((s, _, st)) => (s, st),
                None => (e.start, e.step.max(1)),
            };
            if want.len() != got.len() {
                return Err(format!(
                    "expected {} series, got {}: {:?}",
                    want.len(),
                    got.len(),
                    got.iter()
                        .map(|s| format!("{} {:?}", s.labels, s.samples))
                        .collect::<Vec<_>>()
                ));
            }
            for w in want {
                let Some(g) = got.iter().find(|g| g.labels == w.labels) else {
                    return Err(format!("missing series {}", w.labels));
                };
                let want_pts: Vec<(i64, &Point)> = w
                    .points
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| !matches!(p, Point::Omitted))
                    .map(|(i, p)| (start + i as i64 * step, p))
                    .collect();
                let mut got_pts: Vec<(i64, f64, Option<&FloatHistogram>)> =
                    g.samples.iter().map(|&(t, f)| (t, f, None)).collect();
                got_pts.extend(g.histograms.iter().map(|(t, h)| (*t, 0.0, Some(h))));
                got_pts.sort_by_key(|p| p.0);
                if want_pts.len() != got_pts.len()
                    || want_pts
                        .iter()
                        .zip(&got_pts)
                        .any(|(a, b)| a.0 != b.0 || !value_matches(a.1, b.1, b.2))
                {
                    return Err(format!("{}: expected {want_pts:?}, got {got_pts:?}", w.labels));
                }
            }
            Ok(())
        }
        (Expected::Series(want), Value::Scalar { v, .. }) if want.is_empty() => {
            Err(format!("expected empty vector, got scalar {v}"))
        }
        (want, got) => Err(format!("expected {want:?}, got {got:?}")),
    }
}

/// One query's outcome against the case: `Ok(None)` when it failed as expected,
/// `Ok(Some(result))` when it answered and its annotations and value are as expected.
fn check_outcome(
    e: &Eval,
    outcome: Result<QueryResult, pyrite_promql::QueryError>,
    reprinted: bool,
) -> Result<Option<QueryResult>, String> {
    let fail = e.expects.iter().find(|x| x.kind == ExpectKind::Fail);
    match (outcome, fail) {
        (Err(err), Some(f)) => {
            if matches_text(&f.matcher, &err.to_string()) {
                Ok(None)
            } else {
                Err(format!("error {:?} does not match {:?}", err.to_string(), f.matcher))
            }
        }
        (Err(err), None) => Err(format!("unexpected error: {err}")),
        (Ok(r), Some(_)) => Err(format!("expected an error, got {:?}", r.value)),
        (Ok(r), None) => {
            check_annotations(e, &r, reprinted)?;
            compare(e, &r.value)?;
            Ok(Some(r))
        }
    }
}

fn run_case(env: &Env, rt: &tokio::runtime::Runtime, e: &Eval) -> Result<(), String> {
    if e.step != 0 {
        return check_outcome(e, run_query(env, rt, &e.query, (e.start, e.end, e.step)), false).map(|_| ());
    }
    let ordered = e.expects.iter().any(|x| x.kind == ExpectKind::Ordered);
    for (q, t) in instant_variants(&e.query, e.start)? {
        let shifted = |why: String| format!("{why} (as `{q}` at {t}ms)");
        let Some(r) = check_outcome(e, run_query(env, rt, &q, (t, t, 0)), q != e.query).map_err(shifted)? else {
            continue;
        };
        // The same answer as a range query's middle step.
        if e.range_vector.is_some() || matches!(e.expected, Expected::String(_)) || reads_query_range(&q) {
            continue;
        }
        let in_range = |why: String| shifted(format!("in range mode: {why}"));
        let range =
            run_query(env, rt, &q, (t - 60_000, t + 60_000, 60_000)).map_err(|err| in_range(err.to_string()))?;
        if ordered {
            continue;
        }
        let Value::Matrix(m) = &range.value else {
            return Err(in_range(format!("a range query answered {:?}", range.value)));
        };
        matrix_sorted(m).map_err(in_range)?;
        let mut vector = Vec::new();
        for s in m {
            let float = s.samples.iter().find(|p| p.0 == t).map(|p| (p.1, None));
            let hist = s.histograms.iter().find(|p| p.0 == t).map(|p| (0.0, Some(p.1.clone())));
            for (v, h) in float.into_iter().chain(hist) {
                vector.push(pyrite_promql::InstantSample {
                    labels: s.labels.clone(),
                    t,
                    v,
                    h,
                });
            }
        }
        let value = match (&r.value, vector.first()) {
            (Value::Scalar { .. }, Some(first)) => Value::Scalar { t, v: first.v },
            (Value::Scalar { .. }, None) => return Err(in_range("no point at the instant".into())),
            _ => Value::Vector(vector),
        };
        compare(e, &value).map_err(in_range)?;
    }
    Ok(())
}

#[test]
fn prometheus_promql_test_scripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/promqltest");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/promqltest exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut reports: BTreeMap<String, FileReport> = BTreeMap::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let report = reports.entry(name.clone()).or_default();
        let cmds = match script::parse_script(&text) {
            Ok(c) => c,
            Err(e) => panic!("{name}.test does not parse: {e}"),
        };
        let opts = EngineOptions {
            enable_experimental_functions: true,
            ..EngineOptions::default()
        };
        let mut env = Env {
            store: Arc::new(MemQueryable::new()),
            histogram_series: Vec::new(),
            engine: Engine::new(opts),
        };
        let mut start_times = false;
        for cmd in cmds {
            match cmd {
                Command::Clear => {
                    env.store.clear();
                    env.histogram_series.clear();
                    start_times = false;
                }
                Command::Load {
                    interval,
                    series,
                    with_nhcb,
                    has_start_times,
                } => {
                    load(&mut env, interval, &series, with_nhcb);
                    start_times |= has_start_times;
                }
                Command::Eval(e) => {
                    let id = format!("{name}.test:{} `{}`", e.line, e.query);
                    if start_times {
                        report.skipped.push(format!("{id}: needs start timestamps (@st lines)"));
                        continue;
                    }
                    let histogram = e.text_has_histogram || reads_histograms(&env, &e.query);
                    match (run_case(&env, &rt, &e), histogram) {
                        (Ok(()), false) => report.passed += 1,
                        (Ok(()), true) => report.hist_passed += 1,
                        (Err(why), false) => report.failed.push(format!("{id}: {why}")),
                        (Err(why), true) => report.hist_failed.push(format!("{id}: {why}")),
                    }
                }
            }
        }
    }
    let mut stable_failures = 0;
    println!(
        "{:<24} {:>7} {:>7} {:>12} {:>12} {:>8}  kind",
        "file", "passed", "failed", "hist passed", "hist failed", "skipped"
    );
    for (name, r) in &reports {
        let stable = STABLE.contains(&name.as_str());
        if stable {
            stable_failures += r.failed.len() + r.hist_failed.len() + r.skipped.len();
        }
        println!(
            "{:<24} {:>7} {:>7} {:>12} {:>12} {:>8}  {}",
            name,
            r.passed,
            r.failed.len(),
            r.hist_passed,
            r.hist_failed.len(),
            r.skipped.len(),
            if stable { "stable" } else { "experimental" }
        );
    }
    for r in reports.values() {
        for f in &r.failed {
            println!("FAILED {f}");
        }
        for f in &r.hist_failed {
            println!("FAILED (native histograms) {f}");
        }
        for s in &r.skipped {
            println!("NOT RUN {s}");
        }
    }
    assert_eq!(stable_failures, 0, "stable PromQL cases failed; see the list above");
}

#[test]
fn instant_evals_are_shifted_as_prometheus_shifts_them() {
    let v = instant_variants("sum(rate(x[5m])) + max_over_time(y[1m:10s])", 100_000).unwrap();
    let texts: Vec<(&str, i64)> = v.iter().map(|(q, t)| (q.as_str(), *t)).collect();
    let pinned = "sum(rate(x[5m] @ 100.000)) + max_over_time(y[1m:10s] @ 100.000)";
    assert_eq!(
        texts,
        [
            ("sum(rate(x[5m])) + max_over_time(y[1m:10s])", 100_000),
            (pinned, -1_000_000),
            (pinned, 0),
            (pinned, 20_000),
            (pinned, 100_000),
            (pinned, 1_000_000),
        ]
    );
    let at_zero: Vec<i64> = instant_variants("x", 0).unwrap().iter().map(|v| v.1).collect();
    assert_eq!(at_zero, [0, -1000, 0, 1000]);
    for unshifted in [
        "time()",
        "x - start()",
        "timestamp(x)",
        "x @ -10",
        "label_replace(x, \"\\xff\", \"\", \"a\", \"\")",
    ] {
        assert_eq!(instant_variants(unshifted, 5000).unwrap().len(), 1, "{unshifted}");
    }
    assert!(reads_query_range("x * step()") && !reads_query_range("mystep()"));
    let s = |l: &str| pyrite_promql::RangeSeries {
        labels: Labels::from_pairs(&[("a", l)]),
        samples: vec![],
        histograms: vec![],
    };
    assert!(matrix_sorted(&[s("1"), s("2")]).is_ok());
    assert!(matrix_sorted(&[s("2"), s("1")]).is_err());
}
