//! Data flows head → bucket → reads in one process: with one-minute blocks, the shard
//! cuts and uploads a block per tenant and range, drops the flushed data from its head,
//! refuses samples older than what it keeps, and every acknowledged sample is read back
//! exactly once (from the blocks, the head, or both merged), before and after `kill -9`;
//! on a filesystem bucket and on a real S3 server (`s3s-fs`), also while it is paused.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use pyrite_cluster_tests::http::{api_get_as, enc, matrix_samples, MatrixSeries};
use pyrite_cluster_tests::remote_write::{encode, push, series};
use pyrite_cluster_tests::s3::S3Server;
use pyrite_cluster_tests::{wait_until, Pyrite};

/// A multiple of the block range, so blocks line up with the pushed minutes.
const BASE: i64 = 1_699_999_980_000;
/// Ten minutes of samples, one every two seconds.
const SECONDS: i64 = 600;
const STEP: i64 = 2;
const SERIES: usize = 5;
const TENANTS: [&str; 2] = ["team-a", "team-b"];

fn value(tenant: usize, series: usize, second: i64) -> f64 {
    (tenant * 1_000_000 + series * 1000) as f64 + second as f64
}

/// Finished blocks (those with a meta) of a tenant in the filesystem bucket.
fn blocks_of(bucket: &Path, tenant: &str) -> Vec<serde_json::Value> {
    let Ok(dirs) = std::fs::read_dir(bucket.join(tenant)) else {
        return Vec::new();
    };
    dirs.filter_map(|d| std::fs::read(d.ok()?.path().join("meta.json")).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

fn head_samples(p: &Pyrite) -> anyhow::Result<f64> {
    let text = reqwest::blocking::get(p.url("/metrics"))?.text()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("pyrite_ingester_head_samples "))
        .context("no head samples gauge")?;
    Ok(line.rsplit(' ').next().unwrap_or_default().parse()?)
}

/// Every raw sample of the tenant's series over the whole pushed range.
fn read_all(p: &Pyrite, tenant: &str) -> anyhow::Result<Vec<MatrixSeries>> {
    let q = enc(&format!("blk[{}s]", SECONDS + 5));
    let t = (BASE + (SECONDS - STEP) * 1000) as f64 / 1000.0;
    let data = api_get_as(&p.url(&format!("/api/v1/query?query={q}&time={t}")), Some(tenant))?;
    matrix_samples(&data)
}

fn check_all(p: &Pyrite) -> anyhow::Result<()> {
    for (ti, tenant) in TENANTS.iter().enumerate() {
        let found = read_all(p, tenant)?;
        if found.len() != SERIES {
            bail!("{tenant}: expected {SERIES} series, found {}", found.len());
        }
        for (metric, points) in found {
            let m: serde_json::Value = serde_json::from_str(&metric)?;
            let i: usize = m["series"].as_str().unwrap_or_default().parse()?;
            let want: Vec<(f64, String)> = (0..SECONDS)
                .step_by(STEP as usize)
                .map(|s| ((BASE + s * 1000) as f64 / 1000.0, value(ti, i, s).to_string()))
                .collect();
            if points != want {
                bail!(
                    "{tenant} series {i}: {} samples read, {} written; first differences: {:?}",
                    points.len(),
                    want.len(),
                    points.iter().zip(&want).find(|(a, b)| a != b)
                );
            }
        }
    }
    Ok(())
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

const BLOCK_ARGS: [&str; 4] = [
    "--blocks.range=1m",
    "--blocks.check-interval=200ms",
    "--blocks.flush-delay=1s",
    "--blocks.sync-interval=500ms",
];

/// Head samples left once everything before 540 s is flushed: the chunk of every series
/// that reaches past 540 s (samples 480 s to 598 s) stays whole.
const KEPT: f64 = (60 * SERIES * TENANTS.len()) as f64;

/// Pushes twenty seconds of every series at a time, in time order; all must be taken.
fn push_all(p: &Pyrite) -> anyhow::Result<()> {
    let client = reqwest::blocking::Client::new();
    for chunk in 0..SECONDS / 20 {
        for (ti, tenant) in TENANTS.iter().enumerate() {
            let batch = (0..SERIES)
                .map(|i| {
                    let samples: Vec<(i64, f64)> = (chunk * 20..chunk * 20 + 20)
                        .step_by(STEP as usize)
                        .map(|s| (BASE + s * 1000, value(ti, i, s)))
                        .collect();
                    series(&[("__name__", "blk"), ("series", &i.to_string())], &samples)
                })
                .collect();
            let (status, body) = push(&client, &p.url("/api/v1/push"), Some(tenant), encode(batch))?;
            if status != 204 {
                bail!("push {chunk} for {tenant}: {status} {body}");
            }
        }
    }
    Ok(())
}

/// The newest sample is at 598 s: ranges up to 540 s are cut (half a range of grace),
/// nine blocks per tenant, and after the flush delay the head lets go of its chunks that
/// end before 540 s.
fn wait_cut_and_flushed(p: &Pyrite, bucket: &Path) -> anyhow::Result<()> {
    wait_until(
        "nine blocks per tenant and a flushed head",
        Duration::from_secs(60),
        || {
            let cut = TENANTS.iter().all(|t| blocks_of(bucket, t).len() == 9);
            Ok((cut && head_samples(p)? == KEPT).then_some(()))
        },
    )
    .map_err(|e| e.context(tail(&p.peer.log_text(), 30)))?;
    for tenant in TENANTS {
        let mut blocks = blocks_of(bucket, tenant);
        blocks.sort_by_key(|b| b["min_time"].as_i64());
        for (k, b) in blocks.iter().enumerate() {
            assert_eq!(b["min_time"].as_i64(), Some(BASE + k as i64 * 60_000));
            assert_eq!(b["max_time"].as_i64(), Some(BASE + (k as i64 + 1) * 60_000));
            assert_eq!(b["stats"]["series"], SERIES);
            assert_eq!(b["stats"]["samples"], SERIES * 30);
            assert_eq!(b["tenant"], tenant);
        }
        assert!(bucket.join(tenant).join("bucket-index.json").exists());
    }
    Ok(())
}

/// Everything read back, the late sample refused, then `kill -9` and read back again.
fn check_refuse_restart_check(p: &mut Pyrite) -> anyhow::Result<()> {
    check_all(p)?;
    let client = reqwest::blocking::Client::new();
    let late = vec![series(&[("__name__", "blk"), ("series", "0")], &[(BASE + 5_000, 1.0)])];
    let (status, body) = push(&client, &p.url("/api/v1/push"), Some(TENANTS[0]), encode(late))?;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("out of bounds"), "{body}");
    p.kill9_and_restart()?;
    check_all(p)?;
    assert_eq!(head_samples(p)?, KEPT, "the flush survived the restart");
    Ok(())
}

#[test]
fn blocks_are_cut_flushed_and_read_back() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let mut p = Pyrite::start(Ipv4Addr::new(127, 0, 0, 31), &data, &BLOCK_ARGS)?;
    push_all(&p)?;
    wait_cut_and_flushed(&p, &data.join("blocks"))?;
    check_refuse_restart_check(&mut p)
}

#[test]
fn blocks_go_to_a_real_s3_server_and_wait_out_its_absence() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let s3 = S3Server::start(Ipv4Addr::new(127, 0, 0, 32), tmp.path(), "pyrite-blocks")?;
    let mut args: Vec<String> = BLOCK_ARGS.iter().map(|a| a.to_string()).collect();
    args.extend(s3.pyrite_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = Pyrite::start(Ipv4Addr::new(127, 0, 0, 33), &tmp.path().join("data"), &args)?;

    // The bucket goes away before anything is cut: writes are still acknowledged, the
    // cut fails and is retried, and nothing leaves the head.
    s3.peer.pause()?;
    push_all(&p)?;
    wait_until("a failed upload", Duration::from_secs(120), || {
        Ok(p.peer.log_text().contains("uploading a block").then_some(()))
    })?;
    let written = ((SECONDS / STEP) as usize * SERIES * TENANTS.len()) as f64;
    assert_eq!(
        head_samples(&p)?,
        written,
        "nothing was flushed while the bucket was away"
    );

    // It comes back: the uploads catch up and the head is flushed.
    s3.peer.resume()?;
    wait_cut_and_flushed(&p, &s3.bucket_dir)?;
    check_refuse_restart_check(&mut p)
}
