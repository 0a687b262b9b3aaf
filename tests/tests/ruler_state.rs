//! Rule groups shared out among rulers, through the metadata group's `ruler` pool, with
//! each group's state in its record there. In one process, killed while its alerts are
//! pending and started again, every alert fires when it would have. In a cluster, two
//! rulers evaluate eight groups; while
//! every alert is still pending, the ruler owning some of them is killed with SIGKILL
//! (its groups move to the other), started again (they move back once it has rejoined),
//! and then the other is stopped with SIGTERM (it hands its groups over). From the
//! stored samples alone the test checks, group by group and instant by instant, that
//! every scheduled instant from the group's first evaluation to the end was evaluated,
//! in order, none skipped — a counter rule reading its own group's output counts one
//! more at each instant — and that every alert kept the instant it became active and
//! fired at exactly the instant `for` gives it, as if nothing had happened.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use pyrite_cluster_tests::cluster::{Cluster, Topology};
use pyrite_cluster_tests::http::{api_get, samples_before};
use pyrite_cluster_tests::{wait_until, Pyrite};

const GROUPS: usize = 8;
const INTERVAL_MS: i64 = 1_000;
const FOR_S: i64 = 12;
const RULERS: [&str; 2] = ["ruler-a", "ruler-b"];
const TENANT: &str = "anonymous";
const FILE: &str = "cluster.yml";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn group_name(i: usize) -> String {
    format!("group-{i}")
}

/// Each group: a tick at every instant, a counter of its ticks reading the tick written
/// in the same evaluation, and an alert pending for `FOR_S` before it fires.
fn rules(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let mut yaml = String::from("groups:\n");
    for i in 0..GROUPS {
        yaml.push_str(&format!(
            "  - name: {name}\n    interval: 1s\n    rules:\n      - record: g{i}:tick\n        expr: vector(1)\n      - record: g{i}:ticks\n        expr: count_over_time(g{i}:tick[1h])\n      - alert: Always{i}\n        expr: vector(1)\n        for: {FOR_S}s\n",
            name = group_name(i)
        ));
    }
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir)?;
    std::fs::write(rules_dir.join(FILE), yaml)?;
    Ok(rules_dir)
}

/// The ruler owning group `i` while both are members (rendezvous over the pool).
fn owner_of_both(i: usize) -> &'static str {
    let key = pyrite_ruler::record::key(TENANT, FILE, &group_name(i));
    let members: Vec<String> = RULERS.iter().map(|s| s.to_string()).collect();
    let owner = pyrite_members::rendezvous(pyrite_members::key_hash(&key), &members).expect("two members");
    RULERS.iter().find(|r| **r == owner).expect("a member")
}

/// Each series' samples of `selector` over the last `range_s` before `at_ms`, by its
/// metric name and, for alerts' series, `/alertname`.
fn samples(base: &str, selector: &str, range_s: i64, at_ms: i64) -> anyhow::Result<BTreeMap<String, Vec<(i64, f64)>>> {
    let mut out = BTreeMap::new();
    for (m, points) in samples_before(base, selector, range_s, at_ms)? {
        let name = format!(
            "{}{}",
            m["__name__"].as_str().unwrap_or_default(),
            m["alertname"].as_str().map(|a| format!("/{a}")).unwrap_or_default()
        );
        out.insert(name, points);
    }
    Ok(out)
}

/// Waits until `base` lists every group's alert, and, with `firing`, all of them firing.
fn wait_for_alerts(base: &str, firing: bool) -> anyhow::Result<()> {
    let what = if firing {
        "every alert to fire"
    } else {
        "every alert to be active"
    };
    wait_until(what, Duration::from_secs(60), || {
        // `/prometheus`: with an alertmanager in the process, `/api/v1/alerts` is its
        // configuration API.
        let data = api_get(&format!("{base}/prometheus/api/v1/alerts"))?;
        let alerts = data["alerts"].as_array().context("alerts")?;
        let all = alerts.len() == GROUPS && (!firing || alerts.iter().all(|a| a["state"] == "firing"));
        Ok(all.then_some(()))
    })
}

/// Checks, from the stored samples of group `i` between `started` and `end` (ms), that
/// every instant from its first evaluation was evaluated, in order, and that its alert
/// became active at the first instant and fired `FOR_S` later; answers how many
/// instants and the first.
fn every_instant_evaluated(query: &str, i: usize, started: i64, end: i64) -> anyhow::Result<(usize, i64)> {
    let range = (end - started) / 1000 + 10;
    let selector = format!("{{__name__=~\"g{i}:.*|ALERTS_FOR_STATE\", alertname=~\"|Always{i}\"}}");
    let got = samples(query, &selector, range, end)?;
    let ticks = got.get(&format!("g{i}:tick")).context("ticks")?;
    let first = ticks.first().context("no ticks")?.0;
    // Every instant from the first to the last one before the end.
    let expected: Vec<i64> = (0..)
        .map(|k| first + k * INTERVAL_MS)
        .take_while(|t| *t <= end - INTERVAL_MS)
        .collect();
    let at: Vec<i64> = ticks.iter().map(|p| p.0).take(expected.len()).collect();
    ensure!(
        at == expected,
        "group {i}: instants evaluated {at:?}, expected every instant {expected:?}"
    );
    // The counter saw each instant's tick once, in order, as each was written.
    let counts = got.get(&format!("g{i}:ticks")).context("counts")?;
    for (k, (t, v)) in counts.iter().enumerate().take(expected.len()) {
        ensure!(
            *t == expected[k] && *v == (k + 1) as f64,
            "group {i}: at {t} the counter read {v}, expected {} at {}",
            k + 1,
            expected[k]
        );
    }
    // The alert became active at the first instant and kept it through every move.
    let for_state = got
        .get(&format!("ALERTS_FOR_STATE/Always{i}"))
        .context("ALERTS_FOR_STATE")?;
    ensure!(
        for_state.iter().all(|(_, v)| *v == (first / 1000) as f64),
        "group {i}: activeAt moved: {for_state:?} (first instant {first})"
    );
    // Pending before `for` had passed, firing from the instant it had.
    let fired_at = first + FOR_S * 1000;
    let instants = |state: &str| -> anyhow::Result<Vec<i64>> {
        let selector = format!("ALERTS{{alertname=\"Always{i}\",alertstate=\"{state}\"}}");
        Ok(samples(query, &selector, range, end)?
            .values()
            .flatten()
            .map(|p| p.0)
            .collect())
    };
    let (pending, firing) = (instants("pending")?, instants("firing")?);
    let expected_pending: Vec<i64> = expected.iter().copied().filter(|t| *t < fired_at).collect();
    ensure!(
        pending == expected_pending,
        "group {i}: pending at {pending:?}, expected {expected_pending:?}"
    );
    ensure!(
        firing.first() == Some(&fired_at),
        "group {i}: fired first at {:?}, expected {fired_at}",
        firing.first()
    );
    Ok((expected.len(), first))
}

#[test]
fn no_instant_of_any_group_is_skipped_and_alerts_keep_their_time_while_rulers_die_and_move() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rules_dir = rules(dir.path())?;
    let victim = owner_of_both(0);
    ensure!(
        (0..GROUPS).any(|i| owner_of_both(i) != victim),
        "both rulers own groups"
    );
    let mut cluster = Cluster::start(
        dir.path(),
        150,
        Topology {
            ingesters: 3,
            shards: 1,
            rf: 3,
            distributors: 1,
            queriers: 1,
        },
        &[],
    )?;
    let query = cluster.queriers[0].url("");
    let ruler_flags = |id: &str| {
        vec![
            format!("--ruler.rules-dir={}", rules_dir.display()),
            format!("--ruler.instance-id={id}"),
            "--ruler.heartbeat-period=200ms".to_string(),
            "--ruler.heartbeat-timeout=1s".to_string(),
        ]
    };
    let mut rulers = Vec::new();
    for (n, id) in RULERS.iter().enumerate() {
        let flags = ruler_flags(id);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        rulers.push(cluster.start_other("ruler", n + 1, &flags)?);
    }
    let started = now_ms();

    // Both rulers evaluate; any of them shows every group's state as its owner recorded it.
    let a = rulers[0].url("");
    wait_until("every group to be evaluated", Duration::from_secs(30), || {
        let data = api_get(&format!("{a}/api/v1/rules"))?;
        let groups = data["groups"].as_array().context("groups")?;
        Ok((groups.len() == GROUPS
            && groups
                .iter()
                .all(|g| g["lastEvaluation"].as_str().is_some_and(|t| !t.starts_with("0001"))))
        .then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(3));

    // The owner of group 0 dies without a word, a third of the way into `for`; its groups
    // move to the other, which evaluates the instants nobody did.
    let victim_index = RULERS.iter().position(|r| *r == victim).expect("a ruler");
    rulers[victim_index].peer.kill9()?;
    std::thread::sleep(Duration::from_secs(3));
    // It comes back under the same name: it rejoins, and its groups move back to it.
    rulers[victim_index].kill9_and_restart()?;
    std::thread::sleep(Duration::from_secs(3));
    // The other stops: it leaves and evaluates on until the victim takes everything over.
    let other = 1 - victim_index;
    let status = rulers[other].peer.terminate(Duration::from_secs(30))?;
    ensure!(status.success(), "the stopped ruler exited with {status}");

    // Every alert fires on the survivor.
    let survivor = rulers[victim_index].url("");
    wait_for_alerts(&survivor, true)?;
    std::thread::sleep(Duration::from_secs(3));

    let end = now_ms() - 1_500;
    for i in 0..GROUPS {
        let (instants, first) = every_instant_evaluated(&query, i, started, end)?;
        eprintln!(
            "group {i} ({}): {instants} instants, none skipped; active from {first}, fired at {}",
            owner_of_both(i),
            first + FOR_S * 1000
        );
    }
    Ok(())
}

#[test]
fn one_process_killed_mid_pending_fires_its_alerts_on_time() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rules_dir = rules(dir.path())?;
    let ip = std::net::Ipv4Addr::new(127, 0, 0, 149);
    let rules_flag = format!("--ruler.rules-dir={}", rules_dir.display());
    let mut pyrite = Pyrite::start(ip, &dir.path().join("data"), &[&rules_flag])?;
    let base = pyrite.url("");
    let started = now_ms();
    wait_for_alerts(&base, false)?;
    std::thread::sleep(Duration::from_secs(3));
    // Killed a quarter of the way into `for`, down a few seconds, started again: it reads
    // each group's record back, evaluates the instants it missed and goes on.
    pyrite.peer.kill9()?;
    std::thread::sleep(Duration::from_secs(3));
    pyrite.kill9_and_restart()?;
    wait_for_alerts(&base, true)?;
    std::thread::sleep(Duration::from_secs(3));
    let end = now_ms() - 1_500;
    for i in 0..GROUPS {
        every_instant_evaluated(&base, i, started, end)?;
    }
    Ok(())
}
