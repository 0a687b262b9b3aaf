//! Data flows head → bucket → reads in one process: with one-minute blocks, the shard
//! cuts and uploads a block per tenant and range, drops the flushed data from its head,
//! refuses samples older than what it keeps, and every acknowledged sample is read back
//! exactly once (from the blocks, the head, or both merged), before and after `kill -9`;
//! on a filesystem bucket and on a real S3 server (`s3s-fs`), also while it is paused.

use std::net::Ipv4Addr;
use std::time::Duration;

use pyrite_cluster_tests::blocks::{
    check_refuse_restart_check, head_samples, push_all, wait_cut_and_flushed, BLOCK_ARGS, SECONDS, SERIES, STEP,
    TENANTS,
};
use pyrite_cluster_tests::s3::S3Server;
use pyrite_cluster_tests::{wait_until, Pyrite};

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
