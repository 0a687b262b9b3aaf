//! The query frontend in front of a real querier: answers equal the querier's alone
//! (split, sharded and cached), the results cache stays correct as new data arrives,
//! two tenants share one slow querier fairly, and a client that goes away cancels
//! its query on the querier.
//!
//! Layout: a frontend (`--target=query-frontend`) and a single process
//! (`--target=all`) whose querier pulls the frontend's work over gRPC.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use pyrite_cluster_tests::http::enc;
use pyrite_cluster_tests::remote_write::{encode, push, series};
use pyrite_cluster_tests::{free_port, wait_until, Pyrite};
use serde_json::Value;

const STEP: i64 = 60_000;
const JOBS: [&str; 2] = ["api", "db"];
const PER_JOB: usize = 3;

struct Setup {
    _tmp: tempfile::TempDir,
    frontend: Pyrite,
    querier: Pyrite,
    /// The newest sample written so far, in ms (a multiple of 30 s).
    now: i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The value of series `i` of `job` at `t`: a counter, integer so sums are exact.
fn value(job: usize, i: usize, t: i64) -> f64 {
    ((t / 30_000) % 100_000 * (job * PER_JOB + i + 1) as i64) as f64
}

fn push_range(p: &Pyrite, tenant: Option<&str>, from: i64, to: i64) -> anyhow::Result<()> {
    let client = reqwest::blocking::Client::new();
    let mut all = Vec::new();
    for (j, job) in JOBS.iter().enumerate() {
        for i in 0..PER_JOB {
            let samples: Vec<(i64, f64)> = (from / 30_000..=to / 30_000)
                .map(|k| (k * 30_000, value(j, i, k * 30_000)))
                .collect();
            let i = i.to_string();
            all.push(series(&[("__name__", "req_total"), ("job", job), ("i", &i)], &samples));
        }
    }
    let (status, body) = push(&client, &p.url("/api/v1/push"), tenant, encode(all))?;
    if status != 204 {
        bail!("push answered {status}: {body}");
    }
    Ok(())
}

fn metric(p: &Pyrite, name: &str) -> anyhow::Result<f64> {
    let text = reqwest::blocking::get(p.url("/metrics"))?.text()?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn start(dir_name: &str, ip: u8, frontend_args: &[&str], querier_args: &[&str]) -> anyhow::Result<Setup> {
    let tmp = tempfile::tempdir()?;
    let fe_ip = Ipv4Addr::new(127, 0, 0, ip);
    let fe_grpc = free_port(fe_ip);
    let mut fa = vec![
        "--target=query-frontend".to_string(),
        format!("--server.grpc-listen-address={fe_ip}"),
        format!("--server.grpc-listen-port={fe_grpc}"),
        "--query-frontend.split-interval=1h".to_string(),
    ];
    fa.extend(frontend_args.iter().map(|s| s.to_string()));
    let fa: Vec<&str> = fa.iter().map(String::as_str).collect();
    let frontend = Pyrite::start(fe_ip, &tmp.path().join(format!("{dir_name}-frontend")), &fa)?;
    let mut qa = vec![format!("--querier.frontend-address={fe_ip}:{fe_grpc}")];
    qa.extend(querier_args.iter().map(|s| s.to_string()));
    let qa: Vec<&str> = qa.iter().map(String::as_str).collect();
    let querier = Pyrite::start(
        Ipv4Addr::new(127, 0, 0, ip + 1),
        &tmp.path().join(format!("{dir_name}-all")),
        &qa,
    )?;
    let workers: f64 = querier_args
        .iter()
        .find_map(|a| a.strip_prefix("--querier.max-concurrent="))
        .map_or(4.0, |n| n.parse().unwrap_or(4.0));
    wait_until("the querier's workers to connect", Duration::from_secs(30), || {
        Ok((metric(&frontend, "pyrite_query_frontend_connected_workers")? >= workers).then_some(()))
    })?;
    let now = now_ms() / 30_000 * 30_000;
    Ok(Setup {
        _tmp: tmp,
        frontend,
        querier,
        now,
    })
}

/// GETs an API path as `tenant`: the status and the whole body.
fn get(p: &Pyrite, path: &str, tenant: &str) -> anyhow::Result<(u16, Value)> {
    let resp = reqwest::blocking::Client::new()
        .get(p.url(path))
        .header("X-Scope-OrgID", tenant)
        .send()
        .with_context(|| format!("GET {path}"))?;
    let status = resp.status().as_u16();
    Ok((status, resp.json()?))
}

fn approx(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            x == y
                || match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| approx(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| approx(v, w)))
        }
        _ => a == b,
    }
}

/// The answer's data with a vector's elements in label order (its order is not part
/// of the API) and the frontend's statistics left out.
fn data(mut body: Value) -> Value {
    if let Some(d) = body.get_mut("data").and_then(Value::as_object_mut) {
        d.remove("stats");
    }
    if body["data"]["resultType"] == "vector" {
        if let Some(r) = body["data"]["result"].as_array_mut() {
            r.sort_by_key(|s| s["metric"].to_string());
        }
    }
    body
}

fn same_through_both(s: &Setup, path: &str, tenant: &str) -> anyhow::Result<Value> {
    let (qs, alone) = get(&s.querier, path, tenant)?;
    let (fs, through) = get(&s.frontend, path, tenant)?;
    let (alone, through) = (data(alone), data(through));
    if qs != fs || !approx(&alone, &through) {
        bail!("{path}: querier alone answered {qs} {alone}\nthrough the frontend {fs} {through}");
    }
    if qs == 200 && alone["status"] != "success" {
        bail!("{path}: {alone}");
    }
    Ok(through)
}

fn range(q: &str, start: i64, end: i64) -> String {
    format!(
        "/api/v1/query_range?query={}&start={}&end={}&step={}",
        enc(q),
        start as f64 / 1000.0,
        end as f64 / 1000.0,
        STEP / 1000
    )
}

#[test]
fn frontend_answers_like_the_querier_alone() -> anyhow::Result<()> {
    let s = start("equal", 161, &[], &[])?;
    push_range(&s.querier, None, s.now - 5 * 3_600_000, s.now)?;
    let (start, end) = (s.now - 5 * 3_600_000 + 7_000, s.now);
    for q in [
        "req_total",
        "sum(req_total)",
        "sum by (job) (rate(req_total[5m]))",
        "count by (job) (req_total)",
        "avg without (i) (req_total)",
        "max(req_total) - min(req_total)",
        "topk(2, req_total)",
        "quantile(0.5, req_total)",
        "sum(rate(req_total[5m])) / count(req_total)",
        "histogram_quantile(0.9, req_total)",
        "rate(req_total{job=\"api\"}[10m] @ end())",
        "sum by (job) (req_total) + end() - start()",
        "time() - start() + range()",
        "nonsense(",
    ] {
        same_through_both(&s, &range(q, start, end), "anonymous")?;
        let at = (s.now - 90_000) as f64 / 1000.0;
        same_through_both(&s, &format!("/api/v1/query?query={}&time={at}", enc(q)), "anonymous")?;
    }
    same_through_both(&s, "/api/v1/series?match[]=req_total%7Bjob%3D%22db%22%7D", "anonymous")?;
    same_through_both(&s, "/api/v1/labels", "anonymous")?;
    same_through_both(&s, "/prometheus/api/v1/label/job/values", "anonymous")?;
    same_through_both(&s, "/api/v1/query_range?query=x&start=10&end=1&step=1", "anonymous")?;

    // The frontend split and sharded, and says so when asked.
    let q = range("sum by (job) (req_total)", start, end) + "&stats=all";
    let (_, body) = get(&s.frontend, &q, "anonymous")?;
    let st = &body["data"]["stats"]["frontend"];
    // One part per hour the query's steps fall in (five or six, by the clock).
    let mut hours: Vec<i64> = (0..)
        .map(|k| start + k * STEP)
        .take_while(|t| *t <= end)
        .map(|t| t.div_euclid(3_600_000))
        .collect();
    hours.dedup();
    assert_eq!(st["splitQueries"], hours.len(), "{st}");
    assert!(st["shardedQueries"].as_u64() >= Some(1), "{st}");
    assert!(metric(&s.frontend, "pyrite_query_frontend_split_queries_total")? >= hours.len() as f64);
    assert!(metric(&s.frontend, "pyrite_query_frontend_shard_queries_total")? >= 4.0);
    assert!(metric(&s.frontend, "pyrite_query_frontend_query_duration_seconds_count")? >= 1.0);
    Ok(())
}

#[test]
fn cached_results_stay_correct_as_new_data_arrives() -> anyhow::Result<()> {
    let s = start("cache", 163, &["--query-frontend.max-cache-freshness=5m"], &[])?;
    let t0 = s.now - 4 * 3_600_000;
    // Data up to two minutes ago; the last minutes arrive later.
    push_range(&s.querier, None, t0, s.now - 120_000)?;
    let q = "sum by (job) (rate(req_total[5m]))";
    let path = range(q, t0, s.now);
    let stats = |p: &str| -> anyhow::Result<Value> {
        let (_, b) = get(&s.frontend, &format!("{p}&stats=all"), "anonymous")?;
        Ok(b["data"]["stats"]["frontend"].clone())
    };
    same_through_both(&s, &path, "anonymous")?;
    let first = stats(&path)?;
    assert!(
        first["resultsCacheHits"].as_u64() >= Some(3),
        "old parts come from the cache: {first}"
    );
    assert!(
        first["resultsCacheMisses"].as_u64() >= Some(1),
        "the recent part is computed: {first}"
    );

    push_range(&s.querier, None, s.now - 90_000, s.now)?;
    same_through_both(&s, &path, "anonymous")?;
    // A dashboard sliding forward reuses what is cached and computes the rest.
    let slid = range(q, t0 + 2 * STEP, s.now + 2 * STEP);
    push_range(&s.querier, None, s.now + 30_000, s.now + 2 * STEP)?;
    same_through_both(&s, &slid, "anonymous")?;
    let after = stats(&slid)?;
    assert!(after["resultsCacheHits"].as_u64() >= Some(3), "{after}");
    // Without the cache, the same answer.
    let (_, fresh) = {
        let resp = reqwest::blocking::Client::new()
            .get(s.frontend.url(&slid))
            .header("Cache-Control", "no-store")
            .send()?;
        (resp.status(), resp.json::<Value>()?)
    };
    let (_, cached) = get(&s.frontend, &slid, "anonymous")?;
    assert!(approx(&data(fresh), &data(cached)));
    assert!(metric(&s.frontend, "pyrite_query_frontend_results_cache_hits_total")? >= 3.0);
    Ok(())
}

/// Slow on purpose: a subquery at a fine resolution over every step, not shardable.
/// The range covers three whole hours, so each of its three parts holds sixty steps
/// and keeps the querier busy far longer than a request takes to reach the frontend's
/// queue; the count of requests run while one waits is not a race against the clock.
/// (A range ending just past an hour would add a part of one step, quick enough to
/// slip through while light's request is on its way.)
fn slow_query(now: i64) -> String {
    const HOUR: i64 = 3_600_000;
    let hour = now - now.rem_euclid(HOUR);
    range(
        "quantile_over_time(0.5, req_total[1h:10ms])",
        hour - 3 * HOUR,
        hour - STEP,
    )
}

/// Queries heavy sends at once, three parts each.
const HEAVY_QUERIES: usize = 5;

#[test]
fn two_tenants_share_a_slow_querier_fairly() -> anyhow::Result<()> {
    let s = start(
        "fair",
        165,
        &["--query-frontend.cache-results=false"],
        &["--querier.max-concurrent=1"],
    )?;
    for t in ["heavy", "light"] {
        push_range(&s.querier, Some(t), s.now - 4 * 3_600_000, s.now)?;
    }
    let heavy_done = Arc::new(AtomicUsize::new(0));
    let url = s.frontend.url(&slow_query(s.now));
    let mut threads = Vec::new();
    for _ in 0..HEAVY_QUERIES {
        let (url, done) = (url.clone(), heavy_done.clone());
        threads.push(std::thread::spawn(move || {
            let r = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()
                .and_then(|c| c.get(&url).header("X-Scope-OrgID", "heavy").send());
            done.fetch_add(1, Ordering::SeqCst);
            r.map(|r| r.status().as_u16())
        }));
    }
    wait_until("heavy's requests to queue up", Duration::from_secs(60), || {
        Ok((metric(&s.frontend, "pyrite_query_frontend_queue_length")? >= 10.0).then_some(()))
    })?;
    let ran_before = metric(&s.querier, "pyrite_querier_worker_requests_total")?;
    let light = format!("/api/v1/query?query=req_total&time={}", s.now / 1000);
    let (status, body) = get(&s.frontend, &light, "light")?;
    let ran_meanwhile = metric(&s.querier, "pyrite_querier_worker_requests_total")? - ran_before;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"].as_array().map(Vec::len), Some(6), "{body}");
    // At least ten heavy parts were queued ahead of light's one request; light got the
    // next turn: besides its own, only the heavy part running already (or one more).
    assert!(
        ran_meanwhile <= 3.0,
        "the querier ran {ran_meanwhile} requests while light's one waited"
    );
    assert!(heavy_done.load(Ordering::SeqCst) < HEAVY_QUERIES);
    for t in threads {
        assert_eq!(t.join().expect("thread").ok(), Some(200));
    }
    Ok(())
}

#[test]
fn a_client_that_goes_away_cancels_its_query_on_the_querier() -> anyhow::Result<()> {
    let s = start(
        "cancel",
        167,
        &["--query-frontend.split-interval=0s"],
        &["--querier.max-concurrent=1"],
    )?;
    push_range(&s.querier, None, s.now - 4 * 3_600_000, s.now)?;
    // Seconds of work for the querier even on a fast machine, in one request (no
    // splitting, not shardable): a quantile over three hours of 10 ms points for each
    // of 120 steps, against a client that waits 300 ms.
    let q = range(
        "quantile_over_time(0.5, req_total[3h:10ms])",
        s.now - 2 * 3_600_000,
        s.now,
    );
    let gone = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()?
        .get(s.frontend.url(&q))
        .send();
    if let Ok(r) = gone {
        panic!(
            "the query must outlast the client's patience; it was answered: {} {}",
            r.status(),
            r.text().unwrap_or_default()
        );
    }
    wait_until(
        "the querier to drop the canceled query",
        Duration::from_secs(30),
        || {
            let canceled = metric(&s.querier, "pyrite_querier_worker_canceled_total")?;
            let running = metric(&s.querier, "pyrite_querier_worker_in_flight")?;
            Ok((canceled >= 1.0 && running == 0.0).then_some(()))
        },
    )?;
    // The querier is free again: the next query is answered.
    same_through_both(&s, &range("sum(req_total)", s.now - 3_600_000, s.now), "anonymous")?;
    Ok(())
}
