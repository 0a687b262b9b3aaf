//! Scrape targets shared out among distributors, through the metadata group's scrape
//! pool: two distributors scrape twelve real node_exporters, a third joins, one is
//! killed with SIGKILL and another stopped with SIGTERM. From the stored samples alone the test checks, target by
//! target and instant by instant, that every scheduled instant of the whole run was
//! written exactly once, and — from each node_exporter's own count of the requests it
//! served, scraped with every sample — that no target was fetched twice for one
//! instant, except for the one instant a killed distributor may have fetched without
//! writing it (its scrape was in flight when it died; the new owner fetched it again).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use pyrite_cluster_tests::cluster::{Cluster, Topology};
use pyrite_cluster_tests::exporter::node_exporter;
use pyrite_cluster_tests::http::{active_targets, api_get, samples_before};
use pyrite_cluster_tests::{require, wait_until};

const INTERVAL_S: i64 = 2;
const TARGETS: usize = 12;

fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Each target's stored samples of `series` in the last `range_s` before `at_ms`:
/// instance → [(timestamp ms, value)].
fn samples(base: &str, series: &str, range_s: i64, at_ms: i64) -> anyhow::Result<BTreeMap<String, Vec<(i64, f64)>>> {
    let mut out = BTreeMap::new();
    for (metric, points) in samples_before(base, series, range_s, at_ms)? {
        let instance = metric["instance"].as_str().context("instance")?.to_string();
        out.insert(instance, points);
    }
    Ok(out)
}

/// Which distributor owns each target now, by the targets API of `base`.
fn owners(base: &str) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(active_targets(base)?
        .iter()
        .map(|t| {
            (
                t["labels"]["instance"].as_str().unwrap_or_default().to_string(),
                t["scrapedBy"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// node_exporter's collectors the targets run.
const COLLECTORS: &[&str] = &["loadavg"];

#[test]
fn every_instant_of_every_target_is_scraped_once_while_distributors_join_and_die() -> anyhow::Result<()> {
    require("prometheus-node-exporter")?;
    let dir = tempfile::tempdir()?;
    let mut exporters = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..TARGETS {
        let (peer, addr) = node_exporter(Ipv4Addr::new(127, 0, 70, 1 + i as u8), dir.path(), COLLECTORS)?;
        exporters.push(peer);
        addrs.push(addr);
    }
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: {INTERVAL_S}s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [{}]\n",
            addrs.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ")
        ),
    )?;
    let scrape_flags = [
        format!("--scrape.config-file={}", config.display()),
        "--scrape.heartbeat-period=200ms".to_string(),
        "--scrape.heartbeat-timeout=1s".to_string(),
    ];
    let flags: Vec<&str> = scrape_flags.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start(
        dir.path(),
        60,
        Topology {
            ingesters: 3,
            shards: 2,
            rf: 3,
            distributors: 2,
            queriers: 1,
        },
        &flags,
    )?;
    let query = cluster.queriers[0].url("");
    let started = now_s();
    let interval_ms = INTERVAL_S * 1000;

    // Two distributors share the targets: each target is owned by one, and both own some.
    let first = cluster.distributors[0].url("");
    wait_until("both distributors to own targets", Duration::from_secs(30), || {
        let o = owners(&first)?;
        let distinct: std::collections::BTreeSet<&String> = o.values().collect();
        Ok((o.len() == TARGETS && distinct.len() == 2).then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(3 * INTERVAL_S as u64));

    // Either distributor's targets API shows every target as the node scraping it knows
    // it: up, scraped within the last two intervals, with the target's metadata.
    let active = active_targets(&first)?;
    assert_eq!(active.len(), TARGETS);
    let now = (now_s() * 1000.0) as i64;
    for t in &active {
        assert_eq!(t["health"], "up", "{t}");
        let last = t["lastScrape"].as_str().context("lastScrape")?;
        let age = now - chrono::DateTime::parse_from_rfc3339(last)?.timestamp_millis();
        assert!(age < 2 * interval_ms, "last scraped {age} ms ago: {t}");
    }
    let metadata = api_get(&format!("{first}/api/v1/targets/metadata?metric=node_load1"))?;
    assert_eq!(metadata.as_array().context("metadata")?.len(), TARGETS, "{metadata}");
    // The querier lists the families the scrapes described, kept by the shards.
    let families = api_get(&format!("{query}/api/v1/metadata?metric=node_load1"))?;
    assert_eq!(
        families["node_load1"],
        serde_json::json!([{"type": "gauge", "help": "1m load average.", "unit": ""}]),
        "{families}"
    );

    // A third joins: once it and the first agree on every owner, the join is in force.
    let before_join = owners(&first)?;
    let third = cluster.add_distributor(&flags)?.url("");
    wait_until(
        "the third distributor's share to be in force",
        Duration::from_secs(30),
        || {
            let (a, b) = (owners(&first)?, owners(&third)?);
            Ok((a == b && a != before_join && a.values().all(|o| !o.is_empty())).then_some(()))
        },
    )?;
    std::thread::sleep(Duration::from_secs(3 * INTERVAL_S as u64));

    // One dies without a word; the other two take its targets over.
    // The victim: a distributor other than the first (whose API the test reads) that
    // owns targets.
    let before = owners(&first)?;
    let first_addr = format!("{}:{}", cluster.distributors[0].ip, cluster.distributors[0].http_port);
    let (victim_index, victim) = (1..cluster.distributors.len())
        .map(|i| {
            (
                i,
                format!("{}:{}", cluster.distributors[i].ip, cluster.distributors[i].http_port),
            )
        })
        .find(|(_, addr)| *addr != first_addr && before.values().any(|o| o == addr))
        .context("a distributor besides the first owns targets")?;
    let orphans: Vec<String> = before
        .iter()
        .filter(|(_, o)| **o == victim)
        .map(|(t, _)| t.clone())
        .collect();
    let killed_at = (now_s() * 1000.0) as i64;
    cluster.distributors[victim_index].peer.kill9()?;
    wait_until("the victim's targets to move", Duration::from_secs(30), || {
        let o = owners(&first)?;
        Ok((o.len() == TARGETS && o.values().all(|v| *v != victim)).then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(3 * INTERVAL_S as u64));

    // One more is stopped (SIGTERM): it leaves the pool and scrapes on until the last
    // one takes over, so its targets see neither a gap nor a second fetch.
    let leaver_index = (1..cluster.distributors.len())
        .find(|i| *i != victim_index)
        .context("a distributor to stop")?;
    let leaver = format!(
        "{}:{}",
        cluster.distributors[leaver_index].ip, cluster.distributors[leaver_index].http_port
    );
    let status = cluster.distributors[leaver_index]
        .peer
        .terminate(Duration::from_secs(30))?;
    ensure!(status.success(), "the stopped distributor exited with {status}");
    let o = owners(&first)?;
    ensure!(
        o.len() == TARGETS && o.values().all(|v| *v == first_addr),
        "once {leaver} has stopped, the last distributor owns every target: {o:?}"
    );
    std::thread::sleep(Duration::from_secs(3 * INTERVAL_S as u64));

    // Everything the run wrote, up to an instant every live owner has had time to write.
    // Whole milliseconds, so the instant the test compares against is the one the
    // query reads.
    let end_ms = ((now_s() - 1.0) * 1000.0) as i64;
    let range = (end_ms as f64 / 1000.0 - started).ceil() as i64 + INTERVAL_S;
    let up = samples(&query, "up{job=\"node\"}", range, end_ms)?;
    let served = samples(
        &query,
        "promhttp_metric_handler_requests_total{job=\"node\",code=\"200\"}",
        range,
        end_ms,
    )?;
    ensure!(up.len() == TARGETS, "up of every target: {up:?}");
    for (instance, points) in &up {
        let first = points.first().context("no samples")?.0;
        // Every instant from the first to the last one before the end, each once.
        let expected: Vec<i64> = (0..)
            .map(|k| first + k * interval_ms)
            .take_while(|t| *t <= end_ms)
            .collect();
        let got: Vec<i64> = points.iter().map(|p| p.0).collect();
        ensure!(
            got == expected,
            "{instance}: instants written {got:?}, expected every instant {expected:?}"
        );
        ensure!(
            points.iter().all(|p| p.1 == 1.0),
            "{instance}: up was not 1 throughout: {points:?}"
        );
        ensure!(
            (first as f64) / 1000.0 < started + 2.0 * INTERVAL_S as f64,
            "{instance}: first scraped at {first}, the run began at {started}"
        );
        // One request served per instant: the count the target reports moves by one
        // from each instant to the next.
        let counts = served.get(instance).context("request counts")?;
        let mut refetched = Vec::new();
        for w in counts.windows(2) {
            let ((_, a), (t, b)) = (w[0], w[1]);
            let d = b - a;
            let near_the_kill = orphans.contains(instance) && (t - killed_at).abs() <= 2 * interval_ms;
            if d == 2.0 && near_the_kill {
                refetched.push(t);
            } else if d != 1.0 {
                anyhow::bail!("{instance}: {d} requests served between two instants (at {t}): {counts:?}");
            }
        }
        ensure!(
            refetched.len() <= 1,
            "{instance}: fetched twice at more than one instant: {refetched:?}"
        );
        eprintln!(
            "{instance}: {} instants, each written once; fetched again after the kill: {refetched:?}; owned by the killed distributor: {}",
            got.len(),
            orphans.contains(instance)
        );
    }
    drop(exporters);
    Ok(())
}
