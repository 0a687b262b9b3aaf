//! Runs Prometheus's PromQL test scripts (`testdata/promqltest/*.test`) against the
//! engine over an in-memory store.
//!
//! Every eval case is either run or listed with the reason it was not. Cases whose
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

fn run_query(env: &Env, rt: &tokio::runtime::Runtime, e: &Eval) -> Result<QueryResult, pyrite_promql::QueryError> {
    let store: Arc<dyn pyrite_storage::Queryable> = env.store.clone();
    rt.block_on(async {
        if e.step == 0 {
            env.engine.instant_query(store, TENANT, &e.query, e.start).await
        } else {
            env.engine
                .range_query(store, TENANT, &e.query, e.start, e.end, e.step)
                .await
        }
    })
}

fn matches_text(matcher: &Option<(bool, String)>, text: &str) -> bool {
    match matcher {
        None => true,
        Some((false, m)) => m == text,
        Some((true, r)) => regex::Regex::new(r).is_ok_and(|re| re.is_match(text)),
    }
}

fn check_annotations(e: &Eval, res: &QueryResult) -> Result<(), String> {
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

fn compare(e: &Eval, res: &QueryResult) -> Result<(), String> {
    let ordered = e.expects.iter().any(|x| x.kind == ExpectKind::Ordered);
    match (&e.expected, &res.value) {
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

fn run_case(env: &Env, rt: &tokio::runtime::Runtime, e: &Eval) -> Result<(), String> {
    let result = run_query(env, rt, e);
    let fail = e.expects.iter().find(|x| x.kind == ExpectKind::Fail);
    match (result, fail) {
        (Err(err), Some(f)) => {
            if matches_text(&f.matcher, &err.to_string()) {
                Ok(())
            } else {
                Err(format!("error {:?} does not match {:?}", err.to_string(), f.matcher))
            }
        }
        (Err(err), None) => Err(format!("unexpected error: {err}")),
        (Ok(r), Some(_)) => Err(format!("expected an error, got {:?}", r.value)),
        (Ok(r), None) => {
            check_annotations(e, &r)?;
            compare(e, &r)
        }
    }
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
