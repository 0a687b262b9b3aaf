//! Three alertmanager replicas sharing their state through the metadata group. Alerts
//! go to every replica, as Prometheus sends them; only the replica owning the state
//! notifies. The owner is killed with SIGKILL: another takes the state over and the
//! next change is notified once, and nothing already notified is notified again. Then
//! every replica is killed and started again with alerts firing: nothing is notified
//! again, and the next change is notified once. Every notification carries its own
//! idempotency key.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context};
use chrono::{SecondsFormat, Utc};
use pyrite_cluster_tests::cluster::{Cluster, Topology};
use pyrite_cluster_tests::webhook::Webhook;
use pyrite_cluster_tests::{wait_until, Pyrite};
use serde_json::{json, Value};

const REPLICAS: [&str; 3] = ["am-a", "am-b", "am-c"];

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn disk(instance: &str, starts: &str, ends: Option<&str>) -> Value {
    let mut a = json!({"labels": {"alertname": "Disk", "instance": instance}, "startsAt": starts});
    if let Some(e) = ends {
        a["endsAt"] = json!(e);
    }
    a
}

/// Posts to every replica given, as Prometheus does, until each has taken the alerts
/// (a replica answers 503 while it cannot reach the state's owner).
fn post_all(replicas: &[&Pyrite], alerts: &Value) -> anyhow::Result<()> {
    for r in replicas {
        let url = r.url("/alertmanager/api/v2/alerts");
        wait_until(&format!("{url} to take the alerts"), Duration::from_secs(20), || {
            let resp = reqwest::blocking::Client::new().post(&url).json(alerts).send()?;
            Ok(resp.status().is_success().then_some(()))
        })?;
    }
    Ok(())
}

/// Waits until every replica lists `n` peers.
fn wait_for_peers(replicas: &[&Pyrite], n: usize) -> anyhow::Result<()> {
    for r in replicas {
        let url = r.url("/alertmanager/api/v2/status");
        wait_until(&format!("{url} to list {n} peers"), Duration::from_secs(30), || {
            let status: Value = reqwest::blocking::get(&url)?.json()?;
            Ok((status["cluster"]["peers"].as_array().map(Vec::len) == Some(n)).then_some(()))
        })?;
    }
    Ok(())
}

/// A three-ingester cluster on `127.0.0.{base}+` and three alertmanager replicas
/// notifying `hook`, each listing the three as peers.
fn start(dir: &std::path::Path, base: u8, hook: &Webhook) -> anyhow::Result<(Cluster, Vec<Pyrite>)> {
    start_waiting(dir, base, hook, "1s", &[])
}

/// [`start`], with the route's `group_wait` and more flags for the replicas.
fn start_waiting(
    dir: &std::path::Path,
    base: u8,
    hook: &Webhook,
    group_wait: &str,
    extra: &[&str],
) -> anyhow::Result<(Cluster, Vec<Pyrite>)> {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: {group_wait}\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n",
            hook.url("/hook")
        ),
    )?;
    let mut cluster = Cluster::start(
        dir,
        base,
        Topology {
            ingesters: 3,
            shards: 1,
            rf: 3,
            distributors: 0,
            queriers: 0,
        },
        &[],
    )?;
    let mut replicas = Vec::new();
    for (n, id) in REPLICAS.iter().enumerate() {
        let flags = [
            format!("--alertmanager.config-file={}", config.display()),
            format!("--alertmanager.instance-id={id}"),
            "--alertmanager.heartbeat-period=200ms".to_string(),
            "--alertmanager.heartbeat-timeout=1s".to_string(),
        ];
        let flags: Vec<&str> = flags.iter().map(String::as_str).chain(extra.iter().copied()).collect();
        replicas.push(cluster.start_other("alertmanager", n + 1, &flags)?);
    }
    wait_for_peers(&replicas.iter().collect::<Vec<_>>(), 3)?;
    Ok((cluster, replicas))
}

/// Which of `REPLICAS` owns the state while all three are members.
fn owner_index() -> anyhow::Result<usize> {
    let members: Vec<String> = REPLICAS.iter().map(|s| s.to_string()).collect();
    let owner = pyrite_members::rendezvous(pyrite_members::key_hash(STATE_KEY), &members)
        .context("an owner")?
        .to_string();
    REPLICAS.iter().position(|r| *r == owner).context("owner")
}

/// The key of the alertmanager state's record, which decides its owner.
const STATE_KEY: &str = "alertmanager/state";

#[test]
fn one_replica_notifies_each_change_once_through_kill_9_and_a_full_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hook = Webhook::start(std::net::Ipv4Addr::LOCALHOST)?;
    let (_cluster, mut replicas) = start(dir.path(), 170, &hook)?;
    let owner_at = owner_index()?;
    // Disk on a fires: notified once, by one replica.
    let t0 = now();
    post_all(&replicas.iter().collect::<Vec<_>>(), &json!([disk("a", &t0, None)]))?;
    hook.wait_for(1, Duration::from_secs(20))?;
    std::thread::sleep(Duration::from_secs(5));
    ensure!(
        hook.received().len() == 1,
        "one notification from three replicas: {:?}",
        hook.received()
    );

    // The owner dies; b fires on the survivors: the new owner notifies a and b, once.
    replicas[owner_at].peer.kill9()?;
    let survivors: Vec<&Pyrite> = replicas
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != owner_at)
        .map(|(_, r)| r)
        .collect();
    post_all(&survivors, &json!([disk("a", &t0, None), disk("b", &t0, None)]))?;
    let got = hook.wait_for(2, Duration::from_secs(30))?;
    ensure!(
        got[1].alerts().len() == 2 && got[1].status() == "firing",
        "a and b fire: {:?}",
        got[1].body
    );
    std::thread::sleep(Duration::from_secs(5));
    ensure!(
        hook.received().len() == 2,
        "each change notified once across the kill: {:?}",
        hook.received()
    );

    // Every replica is killed and started again with both firing: nothing is sent
    // again; b resolves: notified once.
    for r in &mut replicas {
        let _ = r.peer.kill9();
    }
    for r in &mut replicas {
        r.kill9_and_respawn()?;
    }
    for r in &replicas {
        r.wait_ready(Duration::from_secs(120))?;
    }
    wait_for_peers(&replicas.iter().collect::<Vec<_>>(), 3)?;
    std::thread::sleep(Duration::from_secs(5));
    ensure!(
        hook.received().len() == 2,
        "nothing notified again after the full restart: {:?}",
        hook.received()
    );
    post_all(
        &replicas.iter().collect::<Vec<_>>(),
        &json!([disk("a", &t0, None), disk("b", &t0, Some(&now()))]),
    )?;
    let got = hook.wait_for(3, Duration::from_secs(30))?;
    ensure!(
        got[2]
            .alerts()
            .iter()
            .any(|a| a.contains("instance=b") && a.ends_with(":resolved")),
        "b resolves: {:?}",
        got[2].body
    );
    std::thread::sleep(Duration::from_secs(5));
    let all = hook.received();
    ensure!(all.len() == 3, "three changes, three notifications: {all:?}");
    let keys: BTreeSet<_> = all.iter().map(|r| r.idempotency_key.clone()).collect();
    ensure!(
        keys.len() == 3 && !keys.contains(&None),
        "each notification its own idempotency key: {keys:?}"
    );
    Ok(())
}

#[test]
fn a_notification_cut_off_by_kill_9_is_sent_again_under_its_key_and_only_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // The receiver records each notification at once and answers 3 s later.
    let hook = Webhook::start_holding(std::net::Ipv4Addr::LOCALHOST, Duration::from_secs(3))?;
    let (_cluster, mut replicas) = start(dir.path(), 180, &hook)?;
    let owner_at = owner_index()?;
    post_all(&replicas.iter().collect::<Vec<_>>(), &json!([disk("a", &now(), None)]))?;
    hook.wait_for(1, Duration::from_secs(20))?;
    // The owner dies while the receiver holds its notification: it never learns it
    // was delivered, and its successor finds it pending.
    replicas[owner_at].peer.kill9()?;
    let got = hook.wait_for(2, Duration::from_secs(30))?;
    let body = |i: usize| {
        let mut b = got[i].body.clone();
        b.as_object_mut().map(|o| o.remove("externalURL"));
        b
    };
    ensure!(
        got[1].idempotency_key.is_some() && got[1].idempotency_key == got[0].idempotency_key && body(0) == body(1),
        "the same notification, under the same key: {:?} / {:?}",
        got[0],
        got[1]
    );
    std::thread::sleep(Duration::from_secs(6));
    ensure!(
        hook.received().len() == 2,
        "sent again once, then logged: {:?}",
        hook.received()
    );
    Ok(())
}

#[test]
fn cut_off_from_the_metadata_group_nobody_notifies_and_once_back_the_owner_notifies_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hook = Webhook::start(std::net::Ipv4Addr::LOCALHOST)?;
    let (cluster, replicas) = start_waiting(dir.path(), 190, &hook, "3s", &[])?;
    post_all(&replicas.iter().collect::<Vec<_>>(), &json!([disk("a", &now(), None)]))?;
    // Before the group's first flush, the metadata group goes silent (every ingester
    // paused): no replica can commit the notification as pending, so none sends it.
    for i in &cluster.ingesters {
        i.peer.pause()?;
    }
    std::thread::sleep(Duration::from_secs(8));
    let during = hook.received().len();
    for i in &cluster.ingesters {
        i.peer.resume()?;
    }
    ensure!(
        during == 0,
        "nothing is notified while the state cannot be committed: {:?}",
        hook.received()
    );
    hook.wait_for(1, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_secs(5));
    ensure!(
        hook.received().len() == 1,
        "notified once when the metadata group is back: {:?}",
        hook.received()
    );
    Ok(())
}

#[test]
fn with_fail_open_a_replica_cut_off_long_enough_notifies_without_the_state() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hook = Webhook::start(std::net::Ipv4Addr::LOCALHOST)?;
    let (cluster, replicas) = start_waiting(dir.path(), 200, &hook, "3s", &["--alertmanager.fail-open-after=2s"])?;
    let all: Vec<&Pyrite> = replicas.iter().collect();
    post_all(&all, &json!([disk("a", &now(), None)]))?;
    // Every replica has the alert (the followers from the owner's state) before the
    // metadata group goes silent.
    for r in &all {
        let url = r.url("/alertmanager/api/v2/alerts");
        wait_until(&format!("{url} to list the alert"), Duration::from_secs(10), || {
            let alerts: Value = reqwest::blocking::get(&url)?.json()?;
            Ok((alerts.as_array().map(Vec::len) == Some(1)).then_some(()))
        })?;
    }
    for i in &cluster.ingesters {
        i.peer.pause()?;
    }
    let during = hook.wait_for(1, Duration::from_secs(20));
    for i in &cluster.ingesters {
        i.peer.resume()?;
    }
    let during = during?;
    ensure!(
        during[0].group_key() == r#"{}:{alertname="Disk"}"#,
        "notified without the state: {:?}",
        during[0].body
    );
    Ok(())
}
