//! Blocks from a replicated cluster: three ingesters hold one shard with three replicas,
//! and upload to a real S3 server (`s3s-fs`) that queriers read too. The shard's leader
//! seals a range and starts uploading while the bucket is paused, and is killed there;
//! the next leader finishes the cut under the same block ids and flushes. The bucket then
//! holds exactly one block per tenant and range, every replica has let go of the flushed
//! data, and the querier reads every acknowledged sample exactly once. Store gateways
//! serve the blocks to the querier, each block on two of them, and losing one loses no
//! reads.

use std::net::Ipv4Addr;
use std::time::Duration;

use pyrite_cluster_tests::blocks::{
    check_all, late_push, push_all, wait_cut_and_flushed, BASE, BLOCK_ARGS, SECONDS, STEP, TENANTS,
};
use pyrite_cluster_tests::cluster::{Cluster, Topology};
use pyrite_cluster_tests::s3::S3Server;
use pyrite_cluster_tests::{free_port, wait_until, Pyrite};

#[test]
fn a_leader_lost_mid_upload_leaves_one_block_per_range() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let s3 = S3Server::start(Ipv4Addr::new(127, 0, 0, 41), tmp.path(), "pyrite-blocks")?;
    let mut args: Vec<String> = BLOCK_ARGS.iter().map(|a| a.to_string()).collect();
    args.extend(s3.pyrite_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start(
        tmp.path(),
        42,
        Topology {
            ingesters: 3,
            shards: 1,
            rf: 3,
            distributors: 1,
            queriers: 1,
        },
        &args,
    )?;
    let push_url = cluster.distributors[0].url("/api/v1/push");

    // The bucket hangs: every upload attempt waits on it.
    s3.peer.pause()?;
    push_all(&push_url)?;
    // A sample before the cut being refused shows the seal is committed: the leader is
    // now cutting and uploading.
    wait_until("the range to be sealed", Duration::from_secs(60), || {
        let (status, body) = late_push(&push_url)?;
        Ok((status == 400 && body.contains("out of bounds")).then_some(()))
    })?;
    let leader = wait_until("the shard's leader", Duration::from_secs(30), || {
        let ring: serde_json::Value = reqwest::blocking::get(cluster.ingesters[0].url("/ring"))?.json()?;
        Ok(ring["local_leaders"][0]["leader"].as_u64())
    })?;
    let leader = (leader - 1) as usize;
    cluster.ingesters[leader].peer.kill9()?;
    s3.peer.resume()?;

    // Another replica leads, finds the seal without its flush, cuts the same blocks and
    // flushes; the old leader comes back and follows.
    let survivors: Vec<_> = (0..3).filter(|i| *i != leader).map(|i| &cluster.ingesters[i]).collect();
    wait_cut_and_flushed(&survivors, &s3.bucket_dir)?;
    let took_over = survivors.iter().any(|p| {
        let log = p.peer.log_text();
        log.contains("uploaded a block") && log.contains("flushing the head")
    });
    assert!(took_over, "another replica cut, uploaded and flushed");
    cluster.ingesters[leader].kill9_and_restart()?;
    let heads: Vec<_> = cluster.ingesters.iter().collect();
    wait_cut_and_flushed(&heads, &s3.bucket_dir)?;
    check_all(&cluster.queriers[0].url(""))?;
    Ok(())
}

#[test]
fn store_gateways_serve_blocks_and_survive_losing_one() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let s3 = S3Server::start(Ipv4Addr::new(127, 0, 0, 51), tmp.path(), "pyrite-blocks")?;
    let gateway_ips = [Ipv4Addr::new(127, 0, 0, 58), Ipv4Addr::new(127, 0, 0, 59)];
    let gateway_ports: Vec<u16> = gateway_ips.iter().map(|ip| free_port(*ip)).collect();
    let addresses: Vec<String> = gateway_ips
        .iter()
        .zip(&gateway_ports)
        .map(|(ip, port)| format!("{ip}:{port}"))
        .collect();
    let mut args: Vec<String> = BLOCK_ARGS.iter().map(|a| a.to_string()).collect();
    args.extend(s3.pyrite_args());
    args.push(format!("--store-gateway.addresses={}", addresses.join(",")));
    let common: Vec<&str> = args.iter().map(String::as_str).collect();
    let cluster = Cluster::start(
        tmp.path(),
        52,
        Topology {
            ingesters: 1,
            shards: 1,
            rf: 1,
            distributors: 1,
            queriers: 1,
        },
        &common,
    )?;
    let mut gateways = Vec::new();
    for (i, (ip, port)) in gateway_ips.iter().zip(&gateway_ports).enumerate() {
        let mut a = common.clone();
        let (listen, grpc) = (
            format!("--server.grpc-listen-address={ip}"),
            format!("--server.grpc-listen-port={port}"),
        );
        a.extend(["--target=store-gateway", listen.as_str(), grpc.as_str()]);
        gateways.push(Pyrite::start(*ip, &tmp.path().join(format!("gateway-{i}")), &a)?);
    }

    push_all(&cluster.distributors[0].url("/api/v1/push"))?;
    let heads: Vec<_> = cluster.ingesters.iter().collect();
    wait_cut_and_flushed(&heads, &s3.bucket_dir)?;
    let querier = cluster.queriers[0].url("");
    check_all(&querier).map_err(|e| {
        e.context(format!(
            "{}\n---\n{}",
            gateways[0].peer.log_text(),
            gateways[1].peer.log_text()
        ))
    })?;

    // Every block is on both gateways (replication factor 2): losing one loses no reads.
    gateways[0].peer.kill9()?;
    check_all(&querier).map_err(|e| {
        e.context(format!(
            "{}\n---\n{}",
            gateways[1].peer.log_text(),
            cluster.queriers[0].peer.log_text()
        ))
    })?;
    // With both gone the blocks cannot be read: the querier does read through them. The
    // heads' part still answers, with a warning that the blocks' part is missing.
    gateways[1].peer.kill9()?;
    check_all(&querier).expect_err("reads of flushed ranges need a store gateway");
    let t = (BASE + (SECONDS - STEP) * 1000) as f64 / 1000.0;
    let resp: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{querier}/api/v1/query?query=blk&time={t}"))
        .header("X-Scope-OrgID", TENANTS[0])
        .send()?
        .json()?;
    assert_eq!(resp["status"], "success", "{resp}");
    let warnings = resp["warnings"].to_string();
    assert!(
        warnings.contains("object storage unreachable") && warnings.contains("store gateway"),
        "{resp}"
    );
    Ok(())
}
