//! Changing the cluster while it takes writes: a fourth ingester joins, replicas of
//! both shards move onto it, a third shard is added, and then every process restarts
//! at once. Every acknowledged sample stays readable throughout, the replicas that
//! moved away are deleted only after their shard settled, and the restarted cluster
//! resumes from the changed ring. Logs are purged behind frequent snapshots, so the new
//! replicas catch up from snapshots of the heads.

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

fn change(url: &str, change: Value) -> anyhow::Result<Value> {
    let r = reqwest::blocking::Client::new().post(url).json(&change).send()?;
    let status = r.status();
    let body = r.text()?;
    anyhow::ensure!(status == 200, "{change}: {status} {body}");
    Ok(serde_json::from_str(&body)?)
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
        &["--cluster.raft-snapshot-entries=10"],
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

    // Move a replica of each shard onto it (from ingesters 1 and 2), and add a shard.
    let moved = change(
        &changes,
        json!({"op": "set_replicas", "shard": 0, "replicas": [2, 3, 4]}),
    )?;
    assert_eq!(moved["shards"][0]["leaving"], json!([1]), "{moved}");
    change(
        &changes,
        json!({"op": "set_replicas", "shard": 1, "replicas": [3, 1, 4]}),
    )?;
    change(&changes, json!({"op": "add_shard", "replicas": [4, 1, 2]}))?;
    // Bad changes are refused and change nothing.
    let r = reqwest::blocking::Client::new()
        .post(&changes)
        .json(&json!({"op": "set_replicas", "shard": 1, "replicas": [1, 9]}))
        .send()?;
    assert_eq!(r.status(), 400, "an unknown ingester is refused");
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
