//! Query latency: the same data loaded into both systems, a fixed set of dashboard
//! queries timed over HTTP on both.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::systems::{self, System};
use crate::{data, now_ms};

pub fn push_all(client: &reqwest::blocking::Client, sys: &System, bodies: &[Vec<u8>]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for (i, body) in bodies.iter().enumerate() {
        let resp = client
            .post(&sys.write_url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body.clone())
            .send()
            .with_context(|| format!("push to {}", sys.name))?;
        if !resp.status().is_success() {
            bail!(
                "{} refused request {i}: {} {}",
                sys.name,
                resp.status(),
                resp.text().unwrap_or_default()
            );
        }
    }
    Ok(started.elapsed())
}

fn get(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<Value> {
    let resp = client.get(url).send()?;
    let status = resp.status();
    let body: Value = resp.json()?;
    if !status.is_success() || body["status"] != "success" {
        bail!("{url}: {status} {body}");
    }
    Ok(body["data"].clone())
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub struct Q {
    pub name: &'static str,
    pub expr: &'static str,
    pub range: bool,
}

pub const QUERIES: &[Q] = &[
    Q {
        name: "cpu by host (range)",
        expr: r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#,
        range: true,
    },
    Q {
        name: "one host memory (range)",
        expr: r#"node_memory_MemAvailable_bytes{instance="host-1:9100"}"#,
        range: true,
    },
    Q {
        name: "p99 latency (range)",
        expr: "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        range: true,
    },
    Q {
        name: "top 5 network (range)",
        expr: "topk(5, sum by (instance) (rate(node_network_receive_bytes_total[5m])))",
        range: true,
    },
    Q {
        name: "error ratio (range)",
        expr: r#"sum(rate(http_requests_total{code="500"}[5m])) / sum(rate(http_requests_total[5m]))"#,
        range: true,
    },
    Q {
        name: "load avg 10m (range)",
        expr: "avg_over_time(node_load1[10m])",
        range: true,
    },
    Q {
        name: "cpu modes (instant)",
        expr: "count by (mode) (node_cpu_seconds_total)",
        range: false,
    },
    Q {
        name: "memory used % (instant)",
        expr: "100 * (1 - node_memory_MemAvailable_bytes / ignoring(__name__) node_memory_Cached_bytes)",
        range: false,
    },
    Q {
        name: "requests 1h (instant)",
        expr: "sum by (handler) (increase(http_requests_total[1h]))",
        range: false,
    },
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median latency (ms) and result size of the same query on two systems: two warm-up
/// runs each, then `runs` timed runs alternating which system goes first.
pub fn compare(
    client: &reqwest::blocking::Client,
    pu: &str,
    mu: &str,
    runs: usize,
) -> anyhow::Result<((f64, usize), (f64, usize))> {
    for _ in 0..2 {
        time_query(client, pu)?;
        time_query(client, mu)?;
    }
    let (mut p, mut m) = (Vec::new(), Vec::new());
    let (mut pn, mut mn) = (0, 0);
    for r in 0..runs {
        // Alternate who goes first so neither always runs on a warmer machine.
        let (x, y) = if r % 2 == 0 {
            let x = time_query(client, pu)?;
            (x, time_query(client, mu)?)
        } else {
            let y = time_query(client, mu)?;
            (time_query(client, pu)?, y)
        };
        (pn, mn) = (x.1, y.1);
        p.push(x.0);
        m.push(y.0);
    }
    Ok(((median(p), pn), (median(m), mn)))
}

pub fn time_query(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<(f64, usize)> {
    let t = Instant::now();
    let data = get(client, url)?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    Ok((ms, data["result"].as_array().map_or(0, |r| r.len())))
}

/// Loads `hours` of data, then times the query set with range queries over each of
/// `windows` (hours, each at most `hours`).
pub fn run(hosts: usize, hours: u64, interval: u64, runs: usize, windows: &[u64]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pyrite = systems::start_pyrite(dir.path())?;
    let prometheus = systems::start_prometheus(dir.path())?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;

    let series = data::series(hosts);
    let interval_ms = (interval * 1000) as i64;
    let n = hours * 3600 / interval;
    let end = now_ms() / interval_ms * interval_ms;
    let start = end - (n as i64 - 1) * interval_ms;
    eprintln!(
        "generating {} series x {n} samples ({} samples)...",
        series.len(),
        series.len() as u64 * n
    );
    let bodies = data::requests(&series, start, interval_ms, n, 20_000);
    for sys in [&pyrite, &prometheus] {
        let took = push_all(&client, sys, &bodies)?;
        eprintln!("loaded {} in {:.1} s", sys.name, took.as_secs_f64());
    }
    // Both must hold every series before timing starts.
    for sys in [&pyrite, &prometheus] {
        let url = format!(
            "{}/api/v1/query?query={}&time={}",
            sys.base,
            enc("count({__name__=~\".+\"})"),
            end / 1000
        );
        let got = get(&client, &url)?;
        let count = got["result"][0]["value"][1]
            .as_str()
            .unwrap_or("0")
            .parse::<usize>()
            .unwrap_or(0);
        if count != series.len() {
            bail!("{} holds {count} series, expected {}", sys.name, series.len());
        }
    }

    let mut summary = Vec::new();
    for (wi, &window) in windows.iter().enumerate() {
        let (qs, qe) = (end - window as i64 * 3_600_000, end);
        println!(
        "\nquery latency, {} series, {hours} h of {interval} s samples loaded, median of {runs} runs (range queries: last {window} h, step 15 s)\n",
        series.len()
    );
        println!("| query | Pyrite ms | Prometheus ms | ratio | series (P/Prom) |");
        println!("|---|---|---|---|---|");
        let mut ratios = Vec::new();
        let (mut ptotal, mut mtotal) = (0.0, 0.0);
        for q in QUERIES.iter().filter(|q| q.range || wi == 0) {
            let url = |sys: &System| {
                if q.range {
                    format!(
                        "{}/api/v1/query_range?query={}&start={}&end={}&step=15",
                        sys.base,
                        enc(q.expr),
                        qs / 1000,
                        qe / 1000
                    )
                } else {
                    format!("{}/api/v1/query?query={}&time={}", sys.base, enc(q.expr), qe / 1000)
                }
            };
            let (pu, mu) = (url(&pyrite), url(&prometheus));
            let ((pm, pn), (mm, mn)) = compare(&client, &pu, &mu, runs)?;
            ratios.push(pm / mm);
            if q.range {
                ptotal += pm;
                mtotal += mm;
            }
            println!("| {} | {pm:.2} | {mm:.2} | {:.2} | {pn}/{mn} |", q.name, pm / mm);
        }
        println!("\nmedian ratio (Pyrite / Prometheus): {:.2}", median(ratios.clone()));
        summary.push((window, ptotal, mtotal, median(ratios)));
    }
    if windows.len() > 1 {
        println!("\nhow range queries grow with the range (sum of the range queries' medians)\n");
        println!("| range | Pyrite ms | Prometheus ms | ratio |");
        println!("|---|---|---|---|");
        for (w, p, m, _) in summary {
            println!("| {w} h | {p:.1} | {m:.1} | {:.2} |", p / m);
        }
    }
    Ok(())
}
