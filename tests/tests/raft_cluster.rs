//! A three-ingester cluster (four shards, three replicas each) behind two distributors
//! and a querier, all real processes: writes keep flowing while a shard leader is
//! killed and while a replica is paused, every acknowledged sample is readable
//! afterwards, and a read issued after a successful push sees it.

use std::time::Duration;

use pyrite_cluster_tests::cluster::{Cluster, Topology};
use pyrite_cluster_tests::http::{api_get, assert_all_acknowledged, enc, matrix_samples};
use pyrite_cluster_tests::load::{numbered_batch, Load};
use pyrite_cluster_tests::remote_write::push;
use pyrite_cluster_tests::wait_until;

const SERIES: usize = 24;
const BASE: i64 = 1_700_000_000_000;

fn batch(k: i64) -> Vec<u8> {
    numbered_batch("raft_test", SERIES, BASE, k)
}

#[test]
fn acknowledged_writes_survive_leader_loss_and_a_paused_replica() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut cluster = Cluster::start(
        tmp.path(),
        21,
        Topology {
            ingesters: 3,
            shards: 4,
            rf: 3,
            distributors: 2,
            queriers: 1,
        },
        &[],
    )?;
    let push_urls: Vec<String> = cluster.distributors.iter().map(|d| d.url("/api/v1/push")).collect();
    let querier = cluster.queriers[0].url("");

    // Read your writes: a query right after an acknowledged push sees all of it.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let (status, body) = push(&client, &push_urls[0], None, batch(0))?;
    assert_eq!(status, 204, "first push: {body}");
    let at = BASE as f64 / 1000.0;
    let url = format!("{querier}/api/v1/query?query={}&time={at}", enc("count(raft_test)"));
    let v = api_get(&url)?;
    assert_eq!(v["result"][0]["value"][1], serde_json::json!(SERIES.to_string()), "{v}");

    // Writers alternate between the distributors; acknowledged batches are recorded.
    let load = Load::start(push_urls.clone(), batch, vec![0]);
    load.wait_more(100, "100 acknowledged writes")?;
    // Ingester 1 founded shards 0 and 3 and leads at least one shard: kill it
    // mid-stream.
    let ring_url = cluster.ingesters[0].url("/ring");
    wait_until("ingester 1 to lead a shard", Duration::from_secs(30), || {
        let ring: serde_json::Value = reqwest::blocking::get(&ring_url)?.json()?;
        let leads = ring["local_leaders"]
            .as_array()
            .map_or(0, |l| l.iter().filter(|s| s["leader"] == serde_json::json!(1)).count());
        Ok((leads > 0).then_some(()))
    })?;
    cluster.ingesters[0].peer.kill9()?;
    load.wait_more(100, "writes to resume under new leaders")?;
    cluster.ingesters[0].kill9_and_restart()?;
    load.wait_more(50, "writes with the restarted ingester back")?;

    // A paused replica (as if cut off) neither blocks writes nor loses them.
    cluster.ingesters[1].peer.pause()?;
    load.wait_more(100, "writes while a replica is paused")?;
    cluster.ingesters[1].peer.resume()?;
    load.wait_more(50, "writes after the replica resumed")?;
    let acked = load.stop();

    // Every acknowledged sample is there.
    let last = *acked.iter().max().expect("acknowledged writes");
    let at = (BASE + last * 1000) as f64 / 1000.0;
    let url = format!(
        "{querier}/api/v1/query?query={}&time={at}",
        enc(&format!("raft_test[{}s]", last + 10))
    );
    let found = matrix_samples(&api_get(&url)?)?;
    assert_all_acknowledged(found, &acked, BASE, SERIES)?;
    // Every ingester holds a replica of every shard here, so each has every series.
    let metrics = reqwest::blocking::get(cluster.ingesters[2].url("/metrics"))?.text()?;
    let series: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pyrite_ingester_memory_series "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert_eq!(series, SERIES as f64, "ingester 3's heads hold every series");
    // The ring page names every shard.
    let ring: serde_json::Value = reqwest::blocking::get(cluster.ingesters[2].url("/ring"))?.json()?;
    assert_eq!(ring["ring"]["shards"].as_array().map(Vec::len), Some(4), "{ring}");
    Ok(())
}
