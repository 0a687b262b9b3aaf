//! The query frontend: a 7-day dashboard query repeated through a frontend in front of
//! one querier, cold (nothing cached: `Cache-Control: no-store`) and warm (the cache
//! filled by one run), with sharding on and off, beside the querier alone.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::query::{enc, push_all};
use crate::systems::{self, System};
use crate::{data, now_ms};

const QUERY: &str = r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn timed(client: &reqwest::blocking::Client, url: &str, no_store: bool) -> anyhow::Result<(f64, String)> {
    let t = Instant::now();
    let mut req = client.get(url);
    if no_store {
        req = req.header("Cache-Control", "no-store");
    }
    let resp = req.send()?;
    let status = resp.status();
    let body = resp.text()?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() {
        bail!("{url}: {status} {body}");
    }
    Ok((ms, body))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn runs(client: &reqwest::blocking::Client, url: &str, no_store: bool, n: usize) -> anyhow::Result<(f64, String)> {
    let mut times = Vec::new();
    let mut body = String::new();
    for _ in 0..n {
        let (ms, b) = timed(client, url, no_store)?;
        times.push(ms);
        body = b;
    }
    Ok((median(times), body))
}

fn workers(sys: &System) -> anyhow::Result<f64> {
    let text = reqwest::blocking::get(format!("{}/metrics", sys.base))?.text()?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("pyrite_query_frontend_connected_workers"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0))
}

fn start_frontend(dir: &std::path::Path, grpc: u16, shards: u32) -> anyhow::Result<System> {
    let fe = systems::start_pyrite_with(
        &dir.join(format!("frontend-{shards}")),
        &[
            "--target=query-frontend",
            &format!("--server.grpc-listen-port={grpc}"),
            &format!("--query-frontend.query-shards={shards}"),
        ],
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while workers(&fe)? < 4.0 {
        if Instant::now() > deadline {
            bail!("the querier's workers did not connect to the frontend");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(fe)
}

pub fn run(hosts: usize, days: u64, step: u64, repeats: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let grpc = free_port()?;
    let querier = systems::start_pyrite_with(
        &dir.path().join("querier"),
        &[&format!("--querier.frontend-address=127.0.0.1:{grpc}")],
    )?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let series = data::series(hosts);
    let interval_ms = 60_000;
    let n = days * 86_400_000 / interval_ms as u64;
    let end = now_ms() / interval_ms * interval_ms;
    let start = end - (n as i64 - 1) * interval_ms;
    eprintln!("loading {} series x {n} samples...", series.len());
    let bodies = data::requests(&series, start, interval_ms, n, 20_000);
    let took = push_all(&client, &querier, &bodies).context("loading")?;
    eprintln!("loaded in {:.1} s", took.as_secs_f64());

    let step_ms = (step * 1000) as i64;
    let q_end = end / step_ms * step_ms;
    let q_start = q_end - days as i64 * 86_400_000;
    let path_to = |end: i64| {
        format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={step}",
            enc(QUERY),
            q_start / 1000,
            end / 1000
        )
    };
    let path = path_to(q_end);
    // The same dashboard an hour earlier: every step older than the freshness cutoff.
    let past = path_to(q_end - 3_600_000);
    let (alone, want) = runs(&client, &format!("{}{path}", querier.base), false, repeats)?;
    println!(
        "\n## Query frontend: a {days}-day dashboard query ({} series, step {step}s)\n",
        series.len()
    );
    let answered = serde_json::from_str::<serde_json::Value>(&want)?["data"]["result"]
        .as_array()
        .map_or(0, Vec::len);
    if answered == 0 {
        bail!("the querier answered no series");
    }
    println!("`{QUERY}` ({answered} series answered), median of {repeats} runs\n");
    println!("| path | ms | vs querier alone |");
    println!("|---|---|---|");
    println!("| querier alone | {alone:.1} | 1.00 |");
    for shards in [1, 4] {
        let fe = start_frontend(dir.path(), grpc, shards)?;
        let url = format!("{}{path}", fe.base);
        let (cold, body) = runs(&client, &url, true, repeats)?;
        same(&want, &body)?;
        timed(&client, &url, false)?;
        let (warm, body) = runs(&client, &url, false, repeats)?;
        same(&want, &body)?;
        let (past_warm, _) = runs(&client, &format!("{}{past}", fe.base), false, repeats)?;
        let label = if shards > 1 {
            format!("{shards} shards")
        } else {
            "no sharding".into()
        };
        println!("| frontend, {label}, cold | {cold:.1} | {:.2} |", cold / alone);
        println!(
            "| frontend, {label}, warm | {warm:.1} | {:.2} (cold/warm {:.1}×) |",
            warm / alone,
            cold / warm
        );
        println!(
            "| frontend, {label}, warm, ending 1 h ago | {past_warm:.1} | {:.2} (cold/warm {:.1}×) |",
            past_warm / alone,
            cold / past_warm
        );
        drop(fe);
    }
    Ok(())
}

/// The frontend's answer must be the querier's (series and points; sums may differ in
/// the last bits when sharded).
fn same(want: &str, got: &str) -> anyhow::Result<()> {
    let w: serde_json::Value = serde_json::from_str(want)?;
    let g: serde_json::Value = serde_json::from_str(got)?;
    let (wr, gr) = (&w["data"]["result"], &g["data"]["result"]);
    let len = |v: &serde_json::Value| v.as_array().map_or(0, Vec::len);
    if len(wr) != len(gr) {
        bail!("the frontend answered {} series, the querier {}", len(gr), len(wr));
    }
    for (a, b) in wr
        .as_array()
        .into_iter()
        .flatten()
        .zip(gr.as_array().into_iter().flatten())
    {
        if a["metric"] != b["metric"] || len(&a["values"]) != len(&b["values"]) {
            bail!("series differ: {} vs {}", a["metric"], b["metric"]);
        }
        for (x, y) in a["values"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(b["values"].as_array().into_iter().flatten())
        {
            let (x, y): (f64, f64) = (
                x[1].as_str().unwrap_or("").parse()?,
                y[1].as_str().unwrap_or("").parse()?,
            );
            if (x - y).abs() > 1e-9 * x.abs().max(y.abs()) {
                bail!("values differ: {x} vs {y}");
            }
        }
    }
    Ok(())
}
