//! Sharding equivalence on Prometheus's PromQL test scripts: every eval case of the
//! stable scripts is answered once by a querier alone and once through the frontend's
//! sharding (three shards, no splitting, no cache), and the two answers must agree —
//! same status, same series, same values (floats to the scripts' own tolerance,
//! since sharded sums add in another order), same annotations.

#[allow(dead_code)]
#[path = "../../pyrite-promql/tests/promqltest/nhcb.rs"]
mod nhcb;
#[allow(dead_code)]
#[path = "../../pyrite-promql/tests/promqltest/script.rs"]
mod script;

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pyrite_api::Params;
use pyrite_frontend::{Downstream, Frontend, FrontendConfig, FrontendMetrics, QueryStats, Request};
use pyrite_promql::EngineOptions;
use pyrite_storage::MemQueryable;
use script::{Command, Point};
use serde_json::Value;

const TENANT: &str = "test";

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

fn almost_equal(a: f64, b: f64) -> bool {
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let diff = (a - b).abs();
    let sum = a.abs() + b.abs();
    if a == 0.0 || b == 0.0 || sum < f64::MIN_POSITIVE {
        return diff < 1e-6 * f64::MIN_POSITIVE;
    }
    diff / sum.min(f64::MAX) < 1e-6
}

fn float_of(v: &Value) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

/// Compares two JSON answers, floats (as the API's strings) approximately and the
/// elements of a vector in any order.
fn same(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::String(x), Value::String(y)) if x != y => match (float_of(a), float_of(b)) {
            (Some(x), Some(y)) if almost_equal(x, y) => Ok(()),
            _ => Err(format!("{path}: {x} ≠ {y}")),
        },
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!("{path}: {} elements ≠ {}", x.len(), y.len()));
            }
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                same(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (xv, yv) = (
                    x.get(k.as_str()).unwrap_or(&Value::Null),
                    y.get(k.as_str()).unwrap_or(&Value::Null),
                );
                same(xv, yv, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {a} ≠ {b}")),
    }
}

/// An answer with its vector sorted by labels and annotations as sets.
fn normalized(body: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if v["data"]["resultType"] == "vector" {
        if let Some(r) = v["data"]["result"].as_array_mut() {
            r.sort_by_key(|s| s["metric"].to_string());
        }
    }
    for k in ["warnings", "infos"] {
        if let Some(a) = v.get_mut(k).and_then(Value::as_array_mut) {
            a.sort_by_key(|s| s.to_string());
            a.dedup();
        }
    }
    v
}

#[test]
fn sharded_answers_equal_unsharded_on_the_promql_scripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pyrite-promql/testdata/promqltest");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let opts = EngineOptions {
        enable_experimental_functions: true,
        ..EngineOptions::default()
    };
    let cfg = FrontendConfig {
        split_interval: pyrite_config::Duration::ZERO,
        cache_results: false,
        query_shards: 3,
        ..FrontendConfig::default()
    };
    let (mut cases, mut sharded, mut failures) = (0, 0, Vec::new());
    for name in STABLE {
        let text = std::fs::read_to_string(dir.join(format!("{name}.test"))).unwrap();
        let store = Arc::new(MemQueryable::new());
        let local = Arc::new(common::Local::new(store.clone(), opts.clone()));
        let frontend = Frontend::new(
            cfg.clone(),
            opts.clone(),
            local.clone(),
            None,
            FrontendMetrics::default(),
        );
        let mut start_times = false;
        for cmd in script::parse_script(&text).unwrap() {
            match cmd {
                Command::Clear => {
                    store.clear();
                    start_times = false;
                }
                Command::Load {
                    interval,
                    series,
                    with_nhcb,
                    has_start_times,
                } => {
                    start_times |= has_start_times;
                    for s in &series {
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
                            store.add_histograms(TENANT, s.labels.clone(), &hists);
                        }
                        if !floats.is_empty() {
                            store.add(TENANT, s.labels.clone(), &floats);
                        }
                    }
                    if with_nhcb {
                        for (labels, samples) in nhcb::convert(&series, interval) {
                            store.add_histograms(TENANT, labels, &samples);
                        }
                    }
                }
                Command::Eval(e) => {
                    if start_times {
                        continue;
                    }
                    cases += 1;
                    let req = if e.step == 0 {
                        Request::instant(TENANT, &e.query, e.start)
                    } else {
                        Request::range(TENANT, &e.query, e.start, e.end, e.step)
                    };
                    let p = Params::parse(Some(&req.params), None);
                    let stats = QueryStats::default();
                    let (alone, through) = rt.block_on(async {
                        let alone = local.run(req.clone()).await.unwrap();
                        let through = if e.step == 0 {
                            frontend.instant(TENANT, &p, req.clone(), &stats).await
                        } else {
                            frontend.range(TENANT, &p, req.clone(), false, &stats).await
                        };
                        (alone, through)
                    });
                    if stats.sharded_queries.load(Ordering::Relaxed) > 0 {
                        sharded += 1;
                    }
                    let id = format!("{name}.test:{} `{}`", e.line, e.query);
                    if alone.status != through.status {
                        failures.push(format!(
                            "{id}: status {} alone, {} sharded: {}",
                            alone.status,
                            through.status,
                            String::from_utf8_lossy(&through.body)
                        ));
                    } else if alone.ok() {
                        if let Err(why) = same(&normalized(&alone.body), &normalized(&through.body), "") {
                            failures.push(format!("{id}: {why}"));
                        }
                    }
                }
            }
        }
    }
    for f in &failures {
        println!("DIFFERS {f}");
    }
    println!("{cases} cases, {sharded} of them sharded, {} differ", failures.len());
    assert!(failures.is_empty(), "sharded answers differ; see above");
    assert!(sharded >= 100, "only {sharded} cases were sharded");
}
