//! Block size: the same samples, cut into a two-hour block by Pyrite (Parquet) and by
//! Prometheus (its TSDB block), bytes per sample side by side.
//!
//! Both are fed three and a quarter hours of node_exporter-like samples starting on a
//! two-hour boundary, in time order, over remote write. That is enough for each to cut
//! its first two-hour block on its own: Pyrite once a range lies half a range behind the
//! newest sample, Prometheus once its head spans one and a half ranges.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::systems::{self, dir_bytes};
use crate::{data, now_ms, query};

const RANGE_MS: i64 = 2 * 3600 * 1000;

/// One cut block: where, its bytes, and the samples it holds.
struct Block {
    bytes: u64,
    samples: u64,
    series: u64,
}

/// The first block directory under `root` (any depth up to two) whose `meta.json`
/// `samples_at` reads a sample count.
fn find_block(root: &Path, samples_at: &[&str], series_at: &[&str]) -> Option<Block> {
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    for _ in 0..2 {
        let mut next = Vec::new();
        for d in &dirs {
            let Ok(rd) = std::fs::read_dir(d) else { continue };
            for e in rd.filter_map(Result::ok) {
                let path = e.path();
                if !path.is_dir() {
                    continue;
                }
                if let Ok(meta) = std::fs::read(path.join("meta.json")) {
                    let meta: serde_json::Value = serde_json::from_slice(&meta).ok()?;
                    let at = |keys: &[&str]| keys.iter().fold(&meta, |v, k| &v[*k]).as_u64();
                    return Some(Block {
                        bytes: dir_bytes(&path),
                        samples: at(samples_at)?,
                        series: at(series_at)?,
                    });
                }
                next.push(path);
            }
        }
        dirs = next;
    }
    None
}

fn wait_block(what: &str, root: &Path, samples_at: &[&str], series_at: &[&str]) -> anyhow::Result<Block> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(b) = find_block(root, samples_at, series_at) {
            return Ok(b);
        }
        if Instant::now() > deadline {
            bail!("{what} cut no block within 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn run(hosts: usize, interval: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pyrite = systems::start_pyrite_with(
        dir.path(),
        &[
            "--blocks.range=2h",
            "--blocks.check-interval=1s",
            "--blocks.flush-delay=15s",
        ],
    )?;
    let prometheus = systems::start_prometheus(dir.path())?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;

    let series = data::series(hosts);
    let interval_ms = (interval * 1000) as i64;
    let n = (3 * 3600 + 900) as u64 / interval;
    let span = (n as i64 - 1) * interval_ms;
    let start = (now_ms() - span).div_euclid(RANGE_MS) * RANGE_MS;
    eprintln!("generating {} series x {n} samples...", series.len());
    let bodies = data::requests(&series, start, interval_ms, n, 20_000);
    for sys in [&pyrite, &prometheus] {
        let took = query::push_all(&client, sys, &bodies).context("loading")?;
        eprintln!("loaded {} in {:.1} s", sys.name, took.as_secs_f64());
    }
    let p = wait_block(
        "pyrite",
        &dir.path().join("pyrite/blocks"),
        &["stats", "samples"],
        &["stats", "series"],
    )?;
    eprintln!("pyrite cut its block; waiting for prometheus's compaction (up to a minute)...");
    let m = wait_block(
        "prometheus",
        &dir.path().join("prometheus"),
        &["stats", "numSamples"],
        &["stats", "numSeries"],
    )?;
    // Pyrite drops the range from its head after the flush delay; from then on both
    // answer it from their blocks only.
    wait_flushed(&client, &pyrite.base, (series.len() as u64 * n) as f64)?;
    let (qs, qe) = (start + 600_000, start + RANGE_MS - 60_000);
    let urls = |base: &str, q: &query::Q| {
        format!(
            "{base}/api/v1/query_range?query={}&start={}&end={}&step=15",
            query::enc(q.expr),
            qs / 1000,
            qe / 1000
        )
    };
    let first = &query::QUERIES[0];
    let cold_p = query::time_query(&client, &urls(&pyrite.base, first))?.0;
    let cold_m = query::time_query(&client, &urls(&prometheus.base, first))?.0;
    let mut warm = Vec::new();
    for q in query::QUERIES.iter().filter(|q| q.range) {
        let ((pm, pn), (mm, mn)) = query::compare(&client, &urls(&pyrite.base, q), &urls(&prometheus.base, q), 9)?;
        if pn != mn {
            bail!("{}: Pyrite returned {pn} series, Prometheus {mn}", q.name);
        }
        warm.push((q.name, pm, mm));
    }

    let (pb, mb) = (p.bytes as f64 / p.samples as f64, m.bytes as f64 / m.samples as f64);
    println!(
        "\nblock size, {} series, first two-hour block of {interval} s samples\n",
        series.len()
    );
    println!("| figure | Pyrite | Prometheus | ratio |");
    println!("|---|---|---|---|");
    println!("| series in the block | {} | {} | |", p.series, m.series);
    println!("| samples in the block | {} | {} | |", p.samples, m.samples);
    println!(
        "| block bytes | {} | {} | {:.2} |",
        p.bytes,
        m.bytes,
        p.bytes as f64 / m.bytes as f64
    );
    println!("| bytes per sample | {pb:.3} | {mb:.3} | {:.2} |", pb / mb);
    println!(
        "\nquery latency over that block only (range queries over its 1 h 49 m, step 15 s): the first query after the cut (cold: Pyrite opens the block), then medians of 9 runs\n"
    );
    println!("| query | Pyrite ms | Prometheus ms | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| cold: {} | {cold_p:.2} | {cold_m:.2} | {:.2} |",
        first.name,
        cold_p / cold_m
    );
    for (name, pm, mm) in warm {
        println!("| {name} | {pm:.2} | {mm:.2} | {:.2} |", pm / mm);
    }
    Ok(())
}

/// Waits until Pyrite's heads hold fewer samples than were written: the cut range left.
fn wait_flushed(client: &reqwest::blocking::Client, base: &str, written: f64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = client.get(format!("{base}/metrics")).send()?.text()?;
        let held = text
            .lines()
            .find_map(|l| l.strip_prefix("pyrite_ingester_head_samples "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        if held.is_some_and(|h| h < written) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("pyrite did not flush its head within 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
