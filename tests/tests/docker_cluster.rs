//! The compose cluster (docker-compose.yml: 2 distributors, 3 ingesters with 6 shards of
//! 3 replicas, 2 queriers, 2 store gateways, a compactor, a ruler, 3 alertmanagers, an S3
//! server, node-exporter and a Prometheus agent) built from the `pyrite` binary under test, broken the ways
//! production breaks. A known data set goes in through both distributors and is read
//! back through the query frontend; then, under a steady write load, an ingester leading a shard is
//! `docker kill`ed, another shard's leader is `docker pause`d, a third is cut off the
//! network (`docker network disconnect`), and every service is restarted in turn. After
//! each, writes have resumed and every acknowledged sample reads back exactly. The
//! Prometheus agent's own remote-written series are readable too.
//!
//! The cluster comes up with the README's command, `deploy/up.sh`, and goes down with its
//! `docker-compose down --remove-orphans`.
//!
//! Without a Docker engine the test says it is skipped, and why, and passes.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};
use pyrite_cluster_tests::docker::{self, Compose};
use pyrite_cluster_tests::http::{api_get, enc, matrix_samples};
use pyrite_cluster_tests::load::Load;
use pyrite_cluster_tests::remote_write::{encode, push, series};
use pyrite_cluster_tests::wait_until;

const TEST: &str =
    "docker_cluster::compose_cluster_keeps_acknowledged_writes_through_kill_pause_partition_and_restarts";

/// The known data set: `docker_known{series="i"}` = `i * 1000 + j + 0.25` at
/// `KNOWN_BASE + j` seconds, 60 samples each.
const KNOWN_SERIES: usize = 8;
const KNOWN_SAMPLES: i64 = 60;

/// The write load: batch `k` writes `k * 100 + i` to `docker_load{series="i"}` at
/// `LOAD_BASE + k * LOAD_STEP_MS`.
const LOAD_SERIES: usize = 12;
const LOAD_STEP_MS: i64 = 10;

/// Base times, set once from the clock: recent enough that no block range is complete
/// during the test (the heads keep everything), and far enough in the past that the
/// load never reaches the present.
static KNOWN_BASE: OnceLock<i64> = OnceLock::new();
static LOAD_BASE: OnceLock<i64> = OnceLock::new();

fn load_batch(k: i64) -> Vec<u8> {
    let t = LOAD_BASE.get().expect("load base set") + k * LOAD_STEP_MS;
    encode(
        (0..LOAD_SERIES)
            .map(|i| {
                series(
                    &[("__name__", "docker_load"), ("series", &i.to_string())],
                    &[(t, (k * 100 + i as i64) as f64)],
                )
            })
            .collect(),
    )
}

fn known_value(i: usize, j: i64) -> f64 {
    (i * 1000) as f64 + j as f64 + 0.25
}

/// Pushes the known data set, alternating series between the distributors.
fn push_known(push_urls: &[String]) -> anyhow::Result<()> {
    let base = *KNOWN_BASE.get().expect("known base set");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    for i in 0..KNOWN_SERIES {
        let samples: Vec<(i64, f64)> = (0..KNOWN_SAMPLES)
            .map(|j| (base + j * 1000, known_value(i, j)))
            .collect();
        let body = encode(vec![series(
            &[("__name__", "docker_known"), ("series", &i.to_string())],
            &samples,
        )]);
        let (status, text) = push(&client, &push_urls[i % push_urls.len()], None, body)?;
        if status != 204 {
            bail!("pushing known series {i}: {status} {text}");
        }
    }
    Ok(())
}

/// Reads the known data set back with a range query at its own step: every series,
/// every sample, exactly.
fn check_known(read: &str) -> anyhow::Result<()> {
    let base = *KNOWN_BASE.get().expect("known base set") / 1000;
    let url = format!(
        "{read}/api/v1/query_range?query={}&start={base}&end={}&step=1",
        enc("docker_known"),
        base + KNOWN_SAMPLES - 1
    );
    let found = matrix_samples(&api_get(&url)?)?;
    if found.len() != KNOWN_SERIES {
        bail!("known data set: expected {KNOWN_SERIES} series, found {}", found.len());
    }
    for (metric, points) in found {
        let m: serde_json::Value = serde_json::from_str(&metric)?;
        let i: usize = m["series"].as_str().unwrap_or_default().parse()?;
        let want: Vec<(i64, String)> = (0..KNOWN_SAMPLES)
            .map(|j| (base + j, known_value(i, j).to_string()))
            .collect();
        let got: Vec<(i64, String)> = points.into_iter().map(|(t, v)| (t.round() as i64, v)).collect();
        if got != want {
            bail!("known series {i}: expected {want:?}, found {got:?}");
        }
    }
    Ok(())
}

/// Every acknowledged load batch, sample by sample, through `read`.
fn check_acknowledged(read: &str, acked: &[i64]) -> anyhow::Result<()> {
    let base = *LOAD_BASE.get().expect("load base set");
    let Some(last) = acked.iter().max() else {
        bail!("no write was acknowledged")
    };
    let at = base + last * LOAD_STEP_MS;
    let range_s = last * LOAD_STEP_MS / 1000 + 5;
    let url = format!(
        "{read}/api/v1/query?query={}&time={}.{:03}",
        enc(&format!("docker_load[{range_s}s]")),
        at / 1000,
        at % 1000
    );
    let mut by_series: BTreeMap<usize, BTreeMap<i64, String>> = BTreeMap::new();
    for (metric, points) in matrix_samples(&api_get(&url)?)? {
        let m: serde_json::Value = serde_json::from_str(&metric)?;
        let i: usize = m["series"].as_str().unwrap_or_default().parse()?;
        let s = by_series.entry(i).or_default();
        for (t, v) in points {
            s.insert((t * 1000.0).round() as i64, v);
        }
    }
    for k in acked {
        let t = base + k * LOAD_STEP_MS;
        for i in 0..LOAD_SERIES {
            let want = (k * 100 + i as i64).to_string();
            let got = by_series.get(&i).and_then(|s| s.get(&t));
            if got != Some(&want) {
                bail!("acknowledged batch {k}, series {i} at {t}: expected {want}, found {got:?}");
            }
        }
    }
    Ok(())
}

/// The service of an ingester that leads a shard and is not in `spared` (so each
/// failure hits another ingester), as ingester-1's ring page shows the leaders; if
/// leadership has gathered on the spared ones, any other ingester.
fn a_leader(c: &Compose, spared: &[String]) -> anyhow::Result<String> {
    let url = c.url("ingester-1", "/ring");
    let leader = wait_until("a shard leader to break", Duration::from_secs(15), || {
        let ring: serde_json::Value = reqwest::blocking::get(&url)?.json()?;
        let mut leaders: Vec<u64> = ring["local_leaders"]
            .as_array()
            .map(|l| l.iter().filter_map(|s| s["leader"].as_u64()).collect())
            .unwrap_or_default();
        leaders.sort_unstable();
        Ok(leaders
            .into_iter()
            .map(|id| format!("ingester-{id}"))
            .find(|s| !spared.contains(s)))
    });
    match leader {
        Ok(l) => Ok(l),
        Err(e) => {
            let other = (1..=3)
                .map(|i| format!("ingester-{i}"))
                .find(|s| !spared.contains(s))
                .context("an ingester not broken yet")?;
            eprintln!("no shard leader outside {spared:?} ({e:#}); breaking {other}, a follower");
            Ok(other)
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A phase of the test: the load runs while `break_it` and `mend_it` run; writes must
/// go on while it is broken and after it is mended, and afterwards every acknowledged
/// sample (and the known data set) must read back.
///
/// With `rejoined = Some((compose, victim))`, the mended ingester must also be a working
/// replica again, not merely healthy: another ingester is paused, so every shard's
/// quorum needs the victim, and writes must still go on.
fn phase(
    what: &str,
    push_urls: &[String],
    read: &str,
    acked: Vec<i64>,
    break_it: impl FnOnce() -> anyhow::Result<()>,
    mend_it: impl FnOnce() -> anyhow::Result<()>,
    rejoined: Option<(&Compose, &str)>,
) -> anyhow::Result<Vec<i64>> {
    let started = std::time::Instant::now();
    let load = Load::start(push_urls.to_vec(), load_batch, acked);
    load.wait_more(10, &format!("writes before {what}"))?;
    break_it().with_context(|| format!("breaking: {what}"))?;
    load.wait_more(30, &format!("writes to go on during {what}"))?;
    mend_it().with_context(|| format!("mending: {what}"))?;
    load.wait_more(30, &format!("writes to go on after {what}"))?;
    if let Some((c, victim)) = rejoined {
        let other = ["ingester-1", "ingester-2", "ingester-3"]
            .into_iter()
            .find(|i| *i != victim)
            .expect("three ingesters");
        c.on(&["pause"], other)?;
        let quorum = load.wait_more(
            30,
            &format!("writes with {other} paused after {what} (quorums need {victim})"),
        );
        c.on(&["unpause"], other)?;
        quorum?;
        c.wait_healthy(other, Duration::from_secs(120))?;
    }
    let acked = load.stop();
    check_acknowledged(read, &acked).with_context(|| format!("reading every acknowledged write after {what}"))?;
    check_known(read).with_context(|| format!("reading the known data set after {what}"))?;
    eprintln!(
        "{what}: ok ({} batches acknowledged so far, {:.1}s)",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(acked)
}

#[test]
fn compose_cluster_keeps_acknowledged_writes_through_kill_pause_partition_and_restarts() -> anyhow::Result<()> {
    if let Some(why) = docker::unavailable() {
        eprintln!("SKIPPED {TEST}: {why}");
        return Ok(());
    }
    let started = std::time::Instant::now();
    let now = now_ms();
    KNOWN_BASE.get_or_init(|| (now - 20 * 60 * 1000) / 60_000 * 60_000);
    LOAD_BASE.get_or_init(|| (now - 15 * 60 * 1000) / 1000 * 1000);

    Compose::reap_stale("pyrite-dt-");
    let mut c = Compose::new(&format!("pyrite-dt-{}", std::process::id()));
    // The README's command, which builds the images too.
    let printed = c.up_script()?;
    ensure!(printed.contains("Pyrite is up."), "deploy/up.sh says so:\n{printed}");
    eprintln!("cluster up and healthy after {:.1}s", started.elapsed().as_secs_f64());
    let read = c.url("query-frontend", "");
    let push_urls = vec![
        c.url("distributor-1", "/api/v1/push"),
        c.url("distributor-2", "/api/v1/push"),
    ];

    // The known data set, through both distributors, read back through both queriers.
    push_known(&push_urls)?;
    check_known(&read)?;
    check_known(&c.url("querier-2", ""))?;

    // The Prometheus agent scrapes the cluster and writes through the distributors.
    let up = format!("{read}/api/v1/query?query={}", enc("count(up{job=\"pyrite\"} == 1)"));
    wait_until(
        "the Prometheus agent's samples to be readable",
        Duration::from_secs(90),
        || {
            let v = api_get(&up)?;
            Ok(v["result"][0]["value"][1]
                .as_str()
                .is_some_and(|n| n != "0")
                .then_some(()))
        },
    )?;

    let mut acked = phase(
        "a first load",
        &push_urls,
        &read,
        Vec::new(),
        || Ok(()),
        || Ok(()),
        None,
    )?;

    // docker kill (SIGKILL) of an ingester leading a shard, then started again.
    let mut victims = Vec::new();
    let victim = a_leader(&c, &victims)?;
    acked = phase(
        &format!("docker kill {victim}"),
        &push_urls,
        &read,
        acked,
        || c.on(&["kill"], &victim).map(drop),
        || {
            c.on(&["start"], &victim)?;
            c.wait_healthy(&victim, Duration::from_secs(120))
        },
        Some((&c, &victim)),
    )?;

    // docker pause (the process freezes, its sockets stay open) of another shard leader.
    victims.push(victim);
    let victim = a_leader(&c, &victims)?;
    acked = phase(
        &format!("docker pause {victim}"),
        &push_urls,
        &read,
        acked,
        || c.on(&["pause"], &victim).map(drop),
        || {
            c.on(&["unpause"], &victim)?;
            c.wait_healthy(&victim, Duration::from_secs(120))
        },
        Some((&c, &victim)),
    )?;

    // A partition: the third ingester, leading a shard, is cut off the network, then
    // joined again under its service name.
    victims.push(victim);
    let victim = a_leader(&c, &victims)?;
    let network = c.network();
    acked = phase(
        &format!("docker network disconnect {victim}"),
        &push_urls,
        &read,
        acked,
        || c.on(&["network", "disconnect", &network], &victim).map(drop),
        || {
            c.on(&["network", "connect", "--alias", &victim, &network], &victim)?;
            c.wait_healthy(&victim, Duration::from_secs(120))
        },
        Some((&c, &victim)),
    )?;

    // A rolling restart of every service (SIGTERM, then start), each back healthy before
    // the next.
    let running = c.services()?;
    let order = [
        "s3",
        "ingester-1",
        "ingester-2",
        "ingester-3",
        "store-gateway-1",
        "store-gateway-2",
        "compactor",
        "distributor-1",
        "distributor-2",
        "querier-1",
        "querier-2",
        "query-frontend",
        "ruler",
        "alertmanager-1",
        "alertmanager-2",
        "alertmanager-3",
        "node-exporter",
        "prometheus",
    ];
    for s in order.iter().filter(|s| running.iter().any(|r| r == *s)) {
        acked = phase(
            &format!("restarting {s}"),
            &push_urls,
            &read,
            acked,
            || c.on(&["restart", "-t", "15"], s).map(drop),
            || c.wait_healthy(s, Duration::from_secs(120)),
            s.starts_with("ingester-").then_some((&c, *s)),
        )?;
    }
    if let Some(missing) = running.iter().find(|r| !order.contains(&r.as_str())) {
        bail!("service {missing} was not restarted: add it to the rolling restart");
    }

    // Both queriers read everything; the agent's writes go on after its restart.
    check_acknowledged(&c.url("querier-2", ""), &acked)?;
    let node_up = format!("{read}/api/v1/query?query={}", enc("timestamp(up{job=\"node\"} == 1)"));
    let since = now_ms() as f64 / 1000.0;
    wait_until(
        "a node-exporter scrape after the restarts to be readable",
        Duration::from_secs(90),
        || {
            let v = api_get(&node_up)?;
            let scraped_at = v["result"][0]["value"][1].as_str().and_then(|s| s.parse::<f64>().ok());
            Ok(scraped_at.is_some_and(|t| t >= since).then_some(()))
        },
    )?;
    eprintln!(
        "{TEST}: {} acknowledged batches all read back; {:.1}s in all",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
    // The README's command to stop it.
    c.run(&["down", "--remove-orphans"])?;
    ensure!(c.services()?.is_empty(), "docker-compose down stops every service");
    drop(c);
    Ok(())
}
