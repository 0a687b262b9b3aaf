//! Changing the cluster while it takes writes: a fourth ingester joins, replicas of
//! both shards move onto it, a third shard is added, and then every process restarts
//! at once. Every acknowledged sample stays readable throughout, the replicas that
//! moved away are deleted only after their shard settled, and the restarted cluster
//! resumes from the changed ring. Logs are purged behind frequent snapshots, so the new
//! replicas catch up from snapshots of the heads. Ring changes need the admin token.
//!
//! Then the metadata group itself moves: two new ingesters join, the group's voters and
//! a shard's replicas move off two of the three founders, those two are killed, and the
//! ring still takes changes (it forgets them) while writes go on.

use std::time::Duration;

use pyrite_cluster_tests::cluster::{Cluster, Topology};
use pyrite_cluster_tests::http::{api_get, assert_all_acknowledged, enc, matrix_samples};
use pyrite_cluster_tests::load::{numbered_batch, Load};
use pyrite_cluster_tests::wait_until;
use serde_json::{json, Value};

const SERIES: usize = 30;
const BASE: i64 = 1_700_000_000_000;

fn batch(k: i64) -> Vec<u8> {
    numbered_batch("membership_test", SERIES, BASE, k)
}

fn ring(url: &str) -> anyhow::Result<Value> {
    Ok(reqwest::blocking::get(url)?.error_for_status()?.json()?)
}

const TOKEN: &str = "membership-test-admin-token";

/// Writes the admin token to a file under `dir`; returns the flag that points at it.
fn token_flag(dir: &std::path::Path) -> anyhow::Result<String> {
    let file = dir.join("admin.token");
    std::fs::write(&file, format!("{TOKEN}\n"))?;
    Ok(format!("--cluster.admin-token-file={}", file.display()))
}

/// Sends a ring change with `auth` as the `Authorization` header; the status and body.
fn send(url: &str, auth: Option<&str>, change: &Value) -> anyhow::Result<(u16, String)> {
    let mut req = reqwest::blocking::Client::new().post(url).json(change);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let r = req.send()?;
    Ok((r.status().as_u16(), r.text()?))
}

fn change(url: &str, change: Value) -> anyhow::Result<Value> {
    let (status, body) = send(url, Some(&format!("Bearer {TOKEN}")), &change)?;
    anyhow::ensure!(status == 200, "{change}: {status} {body}");
    Ok(serde_json::from_str(&body)?)
}

/// A change the ring refuses: 400, and the ring unchanged.
fn refused(url: &str, change: Value) -> anyhow::Result<String> {
    let (status, body) = send(url, Some(&format!("Bearer {TOKEN}")), &change)?;
    anyhow::ensure!(status == 400, "{change} should be refused: {status} {body}");
    Ok(body)
}

/// Every acknowledged batch, read back through the querier.
fn check_all(querier: &str, acked: &[i64]) -> anyhow::Result<()> {
    let last = *acked.iter().max().expect("acknowledged writes");
    let at = (BASE + last * 1000) as f64 / 1000.0;
    let url = format!(
        "{querier}/api/v1/query?query={}&time={at}",
        enc(&format!("membership_test[{}s]", last + 10))
    );
    assert_all_acknowledged(matrix_samples(&api_get(&url)?)?, acked, BASE, SERIES)
}

#[test]
fn replicas_move_to_a_new_ingester_and_a_full_restart_loses_nothing() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let token = token_flag(tmp.path())?;
    let mut cluster = Cluster::start(
        tmp.path(),
        41,
        Topology {
            ingesters: 3,
            shards: 2,
            rf: 3,
            distributors: 1,
            queriers: 1,
        },
        // Snapshots and log purges every few entries: the new replicas catch up from a
        // snapshot, not from the log.
        &["--cluster.raft-snapshot-entries=10", &token],
    )?;
    let push_urls = vec![cluster.distributors[0].url("/api/v1/push")];
    let querier = cluster.queriers[0].url("");
    let load = Load::start(push_urls.clone(), batch, Vec::new());

    // A fourth ingester joins as soon as the cluster is up (maybe before the founding
    // ring is committed: it retries); the ring lists it but gives it nothing yet.
    let four = cluster.add_ingester(4)?;
    let four_dir = four.data_dir.clone();
    load.wait_more(50, "writes before the change")?;
    let r = ring(&cluster.queriers[0].url("/ring"))?;
    let v0 = r["ring"]["version"].as_u64().unwrap_or(0);
    let changes = cluster.distributors[0].url("/ring/changes");
    let joined = ring(&cluster.ingesters[0].url("/ring"))?;
    assert!(
        joined["ring"]["ingesters"][3]["id"] == json!(4),
        "ingester 4 joined: {joined}"
    );

    // Without the admin token nothing changes.
    let move0 = json!({"op": "set_replicas", "shard": 0, "replicas": [2, 3, 4]});
    let (status, body) = send(&changes, None, &move0)?;
    assert_eq!(status, 401, "no credential: {body}");
    let (status, body) = send(&changes, Some("Bearer not-the-token"), &move0)?;
    assert_eq!(status, 403, "a wrong credential: {body}");

    // Move a replica of each shard onto it (from ingesters 1 and 2), and add a shard.
    let moved = change(&changes, move0)?;
    assert_eq!(moved["shards"][0]["leaving"], json!([1]), "{moved}");
    change(
        &changes,
        json!({"op": "set_replicas", "shard": 1, "replicas": [3, 1, 4]}),
    )?;
    change(&changes, json!({"op": "add_shard", "replicas": [4, 1, 2]}))?;
    // Bad changes are refused and change nothing.
    refused(
        &changes,
        json!({"op": "set_replicas", "shard": 1, "replicas": [1, 3, 9]}),
    )?;
    let shrink = refused(&changes, json!({"op": "set_replicas", "shard": 1, "replicas": [4]}))?;
    assert!(shrink.contains("replication factor"), "{shrink}");
    refused(&changes, json!({"op": "remove_ingester", "id": 4}))?;
    load.wait_more(50, "writes while replicas move")?;

    // Each shard's leader settles its move; then the old replicas go.
    let ring_url = cluster.ingesters[0].url("/ring");
    let settled = wait_until("every move to settle", Duration::from_secs(90), || {
        let r = ring(&ring_url)?;
        let shards = r["ring"]["shards"].as_array().cloned().unwrap_or_default();
        let done = shards.len() == 3 && shards.iter().all(|s| s.get("leaving").is_none());
        Ok(done.then_some(r))
    })?;
    assert!(settled["ring"]["version"].as_u64().unwrap_or(0) >= v0 + 5, "{settled}");
    let one_dir = cluster.ingesters[0].data_dir.join("shards");
    wait_until(
        "ingester 1 to delete its replica of shard 0",
        Duration::from_secs(30),
        || Ok((!one_dir.join("shard-0").exists()).then_some(())),
    )?;
    assert!(one_dir.join("shard-1").exists(), "ingester 1 keeps shard 1");
    for s in ["shard-0", "shard-1", "shard-2"] {
        assert!(four_dir.join("shards").join(s).exists(), "ingester 4 holds {s}");
    }
    // Shards 0 and 1 had purged their logs before ingester 4 joined them.
    let installed = cluster.ingesters[3]
        .peer
        .log_text()
        .matches("installed a snapshot")
        .count();
    assert!(installed >= 2, "ingester 4 caught up from snapshots ({installed})");
    load.wait_more(50, "writes after the moves")?;

    // Ingester 4 leads or follows every shard now, and its heads hold series.
    let metrics = reqwest::blocking::get(cluster.ingesters[3].url("/metrics"))?.text()?;
    let held: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pyrite_ingester_memory_series "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(held >= SERIES as f64, "ingester 4 holds every series: {held}");

    let acked = load.stop();
    check_all(&querier, &acked)?;

    // Every process at once: the cluster comes back on the changed ring.
    cluster.restart_all()?;
    check_all(&querier, &acked)?;
    let after = ring(&cluster.ingesters[3].url("/ring"))?;
    assert_eq!(after["ring"], settled["ring"], "the ring survives the restart");
    let load = Load::start(push_urls, batch, acked);
    load.wait_more(30, "writes after the restart")?;
    let acked = load.stop();
    check_all(&querier, &acked)?;
    Ok(())
}

#[test]
fn the_metadata_group_moves_off_two_founders_and_the_ring_still_changes() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let token = token_flag(tmp.path())?;
    let mut cluster = Cluster::start(
        tmp.path(),
        71,
        Topology {
            ingesters: 3,
            shards: 1,
            rf: 3,
            distributors: 1,
            queriers: 1,
        },
        &[&token],
    )?;
    let push_urls = vec![cluster.distributors[0].url("/api/v1/push")];
    let querier = cluster.queriers[0].url("");
    let changes = cluster.distributors[0].url("/ring/changes");
    let load = Load::start(push_urls, batch, Vec::new());
    cluster.add_ingester(4)?;
    cluster.add_ingester(5)?;
    let ring_url = cluster.ingesters[2].url("/ring");
    wait_until("ingesters 4 and 5 to join", Duration::from_secs(60), || {
        let r = ring(&ring_url)?;
        let n = r["ring"]["ingesters"].as_array().map_or(0, Vec::len);
        Ok((n == 5).then_some(()))
    })?;
    load.wait_more(20, "writes before the moves")?;

    // The group keeps three voters, all of them known.
    let two = refused(&changes, json!({"op": "set_metadata_voters", "ingesters": [4, 5]}))?;
    assert!(two.contains("2 voters"), "{two}");
    refused(&changes, json!({"op": "set_metadata_voters", "ingesters": [4, 5, 9]}))?;

    // Voters and shard 0's replicas leave ingesters 1 and 2 (the group's leader
    // among them, most likely: the founder leads first).
    let moved = change(&changes, json!({"op": "set_metadata_voters", "ingesters": [3, 4, 5]}))?;
    assert_eq!(moved["meta_leaving"], json!([1, 2]), "{moved}");
    change(
        &changes,
        json!({"op": "set_replicas", "shard": 0, "replicas": [3, 4, 5]}),
    )?;
    let settled = wait_until("the moves to settle", Duration::from_secs(90), || {
        let r = ring(&ring_url)?;
        let done = r["ring"].get("meta_leaving").is_none()
            && r["ring"]["shards"][0].get("leaving").is_none()
            && r["ring"]["meta"] == json!([3, 4, 5]);
        Ok(done.then_some(r))
    })?;
    for i in [0, 1] {
        let dir = cluster.ingesters[i].data_dir.join("shards");
        wait_until(
            &format!("ingester {} to delete its metadata and shard replicas", i + 1),
            Duration::from_secs(30),
            || Ok((!dir.join("meta").exists() && !dir.join("shard-0").exists()).then_some(())),
        )?;
    }
    assert!(cluster.ingesters[3].data_dir.join("shards/meta").exists());
    load.wait_more(20, "writes after the moves")?;

    // Two of the three founders go for good: the ring still changes.
    cluster.ingesters[0].peer.kill9()?;
    cluster.ingesters[1].peer.kill9()?;
    let v = settled["ring"]["version"].as_u64().unwrap_or(0);
    let after = change(&changes, json!({"op": "remove_ingester", "id": 1}))?;
    assert!(after["version"].as_u64().unwrap_or(0) > v, "{after}");
    let after = change(&changes, json!({"op": "remove_ingester", "id": 2}))?;
    let ids: Vec<u64> = after["ingesters"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["id"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ids, [3, 4, 5], "{after}");
    load.wait_more(20, "writes after losing two founders")?;
    let acked = load.stop();
    check_all(&querier, &acked)?;
    Ok(())
}
