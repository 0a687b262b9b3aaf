//! Data flows head → bucket → reads in one process: with one-minute blocks, the shard
//! cuts and uploads a block per tenant and range, drops the flushed data from its head,
//! refuses samples older than what it keeps, and every acknowledged sample is read back
//! exactly once (from the blocks, the head, or both merged), before and after `kill -9`;
//! on a filesystem bucket and on a real S3 server (`s3s-fs`), also while it is paused;
//! and the compactor merges blocks in S3 without a sample lost or doubled, and deletes a
//! tenant's blocks past its own retention. Without a bucket (`--blocks.backend=none`)
//! one process starts and keeps everything in its head.

use std::net::Ipv4Addr;
use std::time::Duration;

use pyrite_cluster_tests::blocks::{
    blocks_of, check_all, check_refuse_restart_check, check_tenant, head_samples, push_all, tail, wait_cut_and_flushed,
    BLOCK_ARGS, KEPT, SECONDS, SERIES, STEP, TENANTS,
};
use pyrite_cluster_tests::http::api_get;
use pyrite_cluster_tests::remote_write;
use pyrite_cluster_tests::s3::S3Server;
use pyrite_cluster_tests::{wait_until, Pyrite};

#[test]
fn one_process_without_a_bucket_keeps_its_data_in_the_head() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let p = Pyrite::start(Ipv4Addr::new(127, 0, 0, 38), &data, &["--blocks.backend=none"])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let body = remote_write::encode(vec![remote_write::series(
        &[("__name__", "up"), ("job", "x")],
        &[(now, 7.0)],
    )]);
    let (status, text) = remote_write::push(&reqwest::blocking::Client::new(), &p.url("/api/v1/push"), None, body)?;
    assert_eq!(status, 204, "{text}");
    let answer = api_get(&p.url(&format!("/api/v1/query?query=up&time={}", now as f64 / 1000.0)))?;
    assert_eq!(answer["result"][0]["value"][1], "7", "{answer}");
    assert!(!data.join("blocks").exists(), "no bucket was made");
    Ok(())
}

#[test]
fn blocks_are_cut_flushed_and_read_back() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let mut p = Pyrite::start(Ipv4Addr::new(127, 0, 0, 31), &data, &BLOCK_ARGS)?;
    push_all(&p.url("/api/v1/push"))?;
    wait_cut_and_flushed(&[&p], &data.join("blocks"))?;
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
    push_all(&p.url("/api/v1/push"))?;
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
    wait_cut_and_flushed(&[&p], &s3.bucket_dir)?;
    check_refuse_restart_check(&mut p)
}

#[test]
fn the_compactor_merges_blocks_in_s3_and_reads_stay_whole() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let s3 = S3Server::start(Ipv4Addr::new(127, 0, 0, 35), tmp.path(), "pyrite-blocks")?;
    let mut args: Vec<String> = BLOCK_ARGS.iter().map(|a| a.to_string()).collect();
    args.extend(s3.pyrite_args());
    args.extend([
        "--compactor.ranges=3m".to_string(),
        "--compactor.interval=200ms".to_string(),
        "--compactor.deletion-delay=1s".to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = Pyrite::start(Ipv4Addr::new(127, 0, 0, 34), &tmp.path().join("data"), &args)?;
    push_all(&p.url("/api/v1/push"))?;
    // Nine one-minute blocks per tenant: the windows [0, 3m) and [3m, 6m) are complete
    // (data goes on past them) and are merged; [6m, 9m) is not, its three blocks stay.
    // The merged sources are deleted after the delay.
    let bucket = s3.bucket_dir.clone();
    let levels = |tenant: &str| {
        let mut l: Vec<u64> = blocks_of(&bucket, tenant)
            .iter()
            .filter_map(|b| b["compaction"]["level"].as_u64())
            .collect();
        l.sort();
        l
    };
    // Block directories still holding an object (the S3 server leaves deleted blocks'
    // directories behind, empty).
    let dirs = |tenant: &str| {
        let holds_objects = |dir: &std::path::Path| std::fs::read_dir(dir).is_ok_and(|mut d| d.any(|_| true));
        std::fs::read_dir(bucket.join(tenant)).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_dir() && holds_objects(&e.path()))
                .count()
        })
    };
    wait_until(
        "two merged blocks and three cut ones per tenant, sources deleted",
        Duration::from_secs(90),
        || {
            Ok(TENANTS
                .iter()
                .all(|t| levels(t) == [1, 1, 1, 2, 2] && dirs(t) == 5)
                .then_some(()))
        },
    )
    .map_err(|e| {
        let (l, d) = (levels(TENANTS[0]), dirs(TENANTS[0]));
        e.context(format!(
            "levels {l:?}, directories {d}\n{}",
            tail(&p.peer.log_text(), 15)
        ))
    })?;
    for tenant in TENANTS {
        for b in blocks_of(&bucket, tenant)
            .iter()
            .filter(|b| b["compaction"]["level"] == 2)
        {
            assert_eq!(
                b["stats"]["samples"],
                SERIES * 90,
                "{tenant}: three minutes of every series"
            );
            assert_eq!(b["compaction"]["sources"].as_array().map(Vec::len), Some(3));
        }
    }
    check_all(&p.url(""))?;
    p.kill9_and_restart()?;
    check_all(&p.url(""))?;
    Ok(())
}

#[test]
fn blocks_past_a_tenants_retention_leave_s3() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let s3 = S3Server::start(Ipv4Addr::new(127, 0, 0, 37), tmp.path(), "pyrite-blocks")?;
    let mut args: Vec<String> = BLOCK_ARGS.iter().map(|a| a.to_string()).collect();
    args.extend(s3.pyrite_args());
    // The data set is from 2023: a day of retention for team-b puts every block of its
    // past it, while team-a keeps everything.
    args.extend([
        format!("--compactor.tenant-retention={}=1d", TENANTS[1]),
        "--compactor.interval=200ms".to_string(),
        "--compactor.deletion-delay=1s".to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = Pyrite::start(Ipv4Addr::new(127, 0, 0, 36), &tmp.path().join("data"), &args)?;
    push_all(&p.url("/api/v1/push"))?;
    let bucket = s3.bucket_dir.clone();
    wait_until(
        "team-a's nine blocks kept, every block of team-b deleted",
        Duration::from_secs(90),
        || {
            let kept = blocks_of(&bucket, TENANTS[0]).len() == 9;
            let deleted = blocks_of(&bucket, TENANTS[1]).is_empty();
            Ok((kept && deleted && head_samples(&p)? == KEPT).then_some(()))
        },
    )
    .map_err(|e| e.context(tail(&p.peer.log_text(), 15)))?;
    // team-b still has what its head keeps (its last chunk, from 480 s on); nothing
    // older comes back from anywhere.
    check_tenant(&p.url(""), 0, 0)?;
    check_tenant(&p.url(""), 1, 480)?;
    p.kill9_and_restart()?;
    check_tenant(&p.url(""), 0, 0)?;
    check_tenant(&p.url(""), 1, 480)?;
    Ok(())
}
