//! Runs Prometheus's PromQL test scripts (`testdata/promqltest/*.test`) against the
//! engine over an in-memory store.
//!
//! Every eval case is either run or listed with the reason it was not: cases whose
//! data or expectations involve native histograms, and files behind Prometheus's
//! experimental flags, are counted separately as the next targets. The test fails if
//! any stable, float-only case fails. Run with `--nocapture` to see the table.

#[path = "promqltest/script.rs"]
mod script;

use std::collections::BTreeMap;
use std::sync::Arc;

use promql_parser::parser::{self, Expr};
use pyrite_model::{matches_all, Labels, STALE_NAN_BITS};
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
    histogram: usize,
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
        let mut has_hist = false;
        for (i, p) in s.points.iter().enumerate() {
            let t = i as i64 * interval;
            match p {
                Point::Omitted => {}
                Point::Float(v) => floats.push((t, *v)),
                Point::Histogram(_) => has_hist = true,
            }
        }
        if has_hist {
            env.histogram_series.push(s.labels.clone());
        }
        if !floats.is_empty() {
            env.store.add(TENANT, s.labels.clone(), &floats);
        }
        if with_nhcb {
            // The converted native histogram series: name without `_bucket`, no `le`.
            let name = s.labels.metric_name();
            let base = name.strip_suffix("_bucket").unwrap_or(name);
            let mut b = s.labels.without(&["le"]).to_builder();
            b.set("__name__", base);
            env.histogram_series.push(b.build());
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
                        .map(|s| format!("{} {}", s.labels, fmt_f(s.v)))
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
                let want_v = match w.points.first() {
                    Some(Point::Float(v)) => *v,
                    other => return Err(format!("unexpected expected point {other:?}")),
                };
                if !almost_equal(want_v, got[pos].v) {
                    return Err(format!(
                        "{}: expected {}, got {}",
                        w.labels,
                        fmt_f(want_v),
                        fmt_f(got[pos].v)
                    ));
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
                let want_pts: Vec<(i64, f64)> = w
                    .points
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| match p {
                        Point::Float(v) => Some((start + i as i64 * step, *v)),
                        _ => None,
                    })
                    .collect();
                if want_pts.len() != g.samples.len()
                    || want_pts
                        .iter()
                        .zip(&g.samples)
                        .any(|(a, b)| a.0 != b.0 || !almost_equal(a.1, b.1))
                {
                    return Err(format!("{}: expected {want_pts:?}, got {:?}", w.labels, g.samples));
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
                    if e.text_has_histogram || reads_histograms(&env, &e.query) {
                        report.histogram += 1;
                        continue;
                    }
                    if start_times {
                        report.skipped.push(format!("{id}: needs start timestamps (@st lines)"));
                        continue;
                    }
                    match run_case(&env, &rt, &e) {
                        Ok(()) => report.passed += 1,
                        Err(why) => report.failed.push(format!("{id}: {why}")),
                    }
                }
            }
        }
    }
    let mut stable_failures = 0;
    println!(
        "{:<24} {:>7} {:>7} {:>10} {:>8}  kind",
        "file", "passed", "failed", "histogram", "skipped"
    );
    for (name, r) in &reports {
        let stable = STABLE.contains(&name.as_str());
        if stable {
            stable_failures += r.failed.len() + r.skipped.len();
        }
        println!(
            "{:<24} {:>7} {:>7} {:>10} {:>8}  {}",
            name,
            r.passed,
            r.failed.len(),
            r.histogram,
            r.skipped.len(),
            if stable { "stable" } else { "experimental" }
        );
    }
    for (name, r) in &reports {
        for f in &r.failed {
            println!("FAILED {f}");
        }
        for s in &r.skipped {
            println!("NOT RUN {s}");
        }
        let _ = name;
    }
    assert_eq!(
        stable_failures, 0,
        "stable float-only PromQL cases failed; see the list above"
    );
}
