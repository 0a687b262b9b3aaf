//! A three-ingester cluster (four shards, three replicas each) behind two distributors
//! and a querier, all real processes: writes keep flowing while a shard leader is
//! killed and while a replica is paused, every acknowledged sample is readable
//! afterwards, and a read issued after a successful push sees it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyrite_cluster_tests::cluster::Cluster;
use pyrite_cluster_tests::http::{api_get, assert_all_acknowledged, enc, matrix_samples};
use pyrite_cluster_tests::remote_write::{encode, push, series};
use pyrite_cluster_tests::wait_until;

const SERIES: usize = 24;
const BASE: i64 = 1_700_000_000_000;

fn batch(k: i64) -> Vec<u8> {
    let t = BASE + k * 1000;
    encode(
        (0..SERIES)
            .map(|i| {
                series(
                    &[("__name__", "raft_test"), ("series", &i.to_string())],
                    &[(t, (k * 100 + i as i64) as f64)],
                )
            })
            .collect(),
    )
}

#[test]
fn acknowledged_writes_survive_leader_loss_and_a_paused_replica() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut cluster = Cluster::start(tmp.path(), 21, 3, 4, 3, 2, 1)?;
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
    let acked: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(vec![0]));
    let acked_count = Arc::new(AtomicUsize::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, acked_count, stop, urls) = (acked.clone(), acked_count.clone(), stop.clone(), push_urls.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap();
            let mut k = 1i64;
            while !stop.load(Ordering::Relaxed) {
                let url = &urls[k as usize % urls.len()];
                if let Ok((204, _)) = push(&client, url, None, batch(k)) {
                    acked.lock().unwrap().push(k);
                    acked_count.fetch_add(1, Ordering::Relaxed);
                }
                k += 1;
            }
        })
    };
    let more = |n: usize, what: &str| -> anyhow::Result<()> {
        let before = acked_count.load(Ordering::Relaxed);
        wait_until(what, Duration::from_secs(60), || {
            Ok((acked_count.load(Ordering::Relaxed) >= before + n).then_some(()))
        })
    };

    more(100, "100 acknowledged writes")?;
    // Ingester 1 initialised every shard and leads them: kill it mid-stream.
    cluster.ingesters[0].peer.kill9()?;
    more(100, "writes to resume under new leaders")?;
    cluster.ingesters[0].kill9_and_restart()?;
    more(50, "writes with the restarted ingester back")?;

    // A paused replica (as if cut off) neither blocks writes nor loses them.
    cluster.ingesters[1].peer.pause()?;
    more(100, "writes while a replica is paused")?;
    cluster.ingesters[1].peer.resume()?;
    more(50, "writes after the replica resumed")?;
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");

    // Every acknowledged sample is there.
    let acked = acked.lock().unwrap().clone();
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
    assert_eq!(ring["ring"]["shards"].as_object().map(|o| o.len()), Some(4), "{ring}");
    Ok(())
}
