//! The data set and checks the block tests share: two tenants, five series each, ten
//! minutes of samples every two seconds, cut into one-minute blocks.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::http::{api_get_as, enc, matrix_samples, MatrixSeries};
use crate::remote_write::{encode, push, series};
use crate::{wait_until, Pyrite};

/// A multiple of the block range (1m) and of the compaction range the tests use (3m),
/// so blocks and merged blocks line up with the pushed minutes.
pub const BASE: i64 = 1_699_999_920_000;
/// Ten minutes of samples, one every two seconds.
pub const SECONDS: i64 = 600;
pub const STEP: i64 = 2;
pub const SERIES: usize = 5;
pub const TENANTS: [&str; 2] = ["team-a", "team-b"];

pub fn value(tenant: usize, series: usize, second: i64) -> f64 {
    (tenant * 1_000_000 + series * 1000) as f64 + second as f64
}

/// Finished blocks (those with a meta) of a tenant in the filesystem bucket.
pub fn blocks_of(bucket: &Path, tenant: &str) -> Vec<serde_json::Value> {
    let Ok(dirs) = std::fs::read_dir(bucket.join(tenant)) else {
        return Vec::new();
    };
    dirs.filter_map(|d| std::fs::read(d.ok()?.path().join("meta.json")).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

pub fn head_samples(p: &Pyrite) -> anyhow::Result<f64> {
    head_samples_at(&p.url(""))
}

/// The head samples an ingester at `base` (`http://host:port`) reports holding.
pub fn head_samples_at(base: &str) -> anyhow::Result<f64> {
    let text = reqwest::blocking::get(format!("{base}/metrics"))?.text()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("pyrite_ingester_head_samples "))
        .context("no head samples gauge")?;
    Ok(line.rsplit(' ').next().unwrap_or_default().parse()?)
}

/// Every raw sample of the tenant's series over the whole pushed range.
pub fn read_all(query_base: &str, tenant: &str) -> anyhow::Result<Vec<MatrixSeries>> {
    let q = enc(&format!("blk[{}s]", SECONDS + 5));
    let t = (BASE + (SECONDS - STEP) * 1000) as f64 / 1000.0;
    let data = api_get_as(&format!("{query_base}/api/v1/query?query={q}&time={t}"), Some(tenant))?;
    matrix_samples(&data)
}

/// Every sample of every series of both tenants, read through `query_base`, exactly
/// once and nothing else.
pub fn check_all(query_base: &str) -> anyhow::Result<()> {
    for ti in 0..TENANTS.len() {
        check_tenant(query_base, ti, 0)?;
    }
    Ok(())
}

/// Every sample of tenant `ti`'s series from second `from` on, read through
/// `query_base`, exactly once and nothing else.
pub fn check_tenant(query_base: &str, ti: usize, from: i64) -> anyhow::Result<()> {
    let tenant = TENANTS[ti];
    let found = read_all(query_base, tenant)?;
    if found.len() != SERIES {
        bail!("{tenant}: expected {SERIES} series, found {}", found.len());
    }
    for (metric, points) in found {
        let m: serde_json::Value = serde_json::from_str(&metric)?;
        let i: usize = m["series"].as_str().unwrap_or_default().parse()?;
        let want: Vec<(f64, String)> = (from..SECONDS)
            .step_by(STEP as usize)
            .map(|s| ((BASE + s * 1000) as f64 / 1000.0, value(ti, i, s).to_string()))
            .collect();
        if points != want {
            bail!(
                "{tenant} series {i}: {} samples read, {} expected; first differences: {:?}",
                points.len(),
                want.len(),
                points.iter().zip(&want).find(|(a, b)| a != b)
            );
        }
    }
    Ok(())
}

pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub const BLOCK_ARGS: [&str; 4] = [
    "--blocks.range=1m",
    "--blocks.check-interval=200ms",
    "--blocks.flush-delay=1s",
    "--blocks.sync-interval=500ms",
];

/// Head samples left once everything before 540 s is flushed: the chunk of every series
/// that reaches past 540 s (samples 480 s to 598 s) stays whole.
pub const KEPT: f64 = (60 * SERIES * TENANTS.len()) as f64;

/// Pushes twenty seconds of every series at a time, in time order; all must be taken.
/// Pushes to `push_url`.
pub fn push_all(push_url: &str) -> anyhow::Result<()> {
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
            let (status, body) = push(&client, push_url, Some(tenant), encode(batch))?;
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
/// Every ingester in `heads` must have flushed. Exactly nine block directories per
/// tenant: no duplicates, no leftovers of unfinished uploads.
pub fn wait_cut_and_flushed(heads: &[&Pyrite], bucket: &Path) -> anyhow::Result<()> {
    wait_until(
        "nine blocks per tenant and flushed heads",
        Duration::from_secs(90),
        || {
            let cut = TENANTS.iter().all(|t| blocks_of(bucket, t).len() == 9);
            let mut flushed = true;
            for p in heads {
                flushed &= head_samples(p)? == KEPT;
            }
            Ok((cut && flushed).then_some(()))
        },
    )
    .map_err(|e| {
        let logs: Vec<String> = heads.iter().map(|p| tail(&p.peer.log_text(), 20)).collect();
        e.context(logs.join("\n---\n"))
    })?;
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
        let dirs = std::fs::read_dir(bucket.join(tenant))?.filter(|d| d.as_ref().is_ok_and(|d| d.path().is_dir()));
        assert_eq!(dirs.count(), 9, "{tenant}: one directory per block");
    }
    Ok(())
}

/// A sample older than what the heads keep; refused once the range is sealed.
pub fn late_push(push_url: &str) -> anyhow::Result<(u16, String)> {
    let client = reqwest::blocking::Client::new();
    let late = vec![series(&[("__name__", "blk"), ("series", "0")], &[(BASE + 5_000, 1.0)])];
    push(&client, push_url, Some(TENANTS[0]), encode(late))
}

/// Everything read back, the late sample refused, then `kill -9` and read back again.
pub fn check_refuse_restart_check(p: &mut Pyrite) -> anyhow::Result<()> {
    check_all(&p.url(""))?;
    let (status, body) = late_push(&p.url("/api/v1/push"))?;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("out of bounds"), "{body}");
    p.kill9_and_restart()?;
    check_all(&p.url(""))?;
    assert_eq!(head_samples(p)?, KEPT, "the flush survived the restart");
    Ok(())
}
