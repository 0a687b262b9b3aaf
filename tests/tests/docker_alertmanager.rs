//! The compose cluster's ruler and three alertmanager replicas (docker-compose.yml),
//! built from the `pyrite` binary under test. A tenant posts its alertmanager.yml and a
//! rule group: the ruler's alert is notified, once, through the alertmanagers. Then the
//! replica owning the state is cut off the cluster's network (`docker network
//! disconnect`) while it still reaches the receiver through a second network: it
//! notifies nothing, not even an alert posted to it alone, while the other two take
//! the state over and notify the next change once. Joined again, it takes the state
//! back and notifies the next change once; nothing is ever notified twice. Every
//! notification is counted by a webhook receiver on this host.
//!
//! Without a Docker engine the test says it is skipped, and why, and passes.

use std::time::Duration;

use anyhow::{ensure, Context};
use chrono::{SecondsFormat, Utc};
use pyrite_cluster_tests::docker::{self, Compose};
use pyrite_cluster_tests::wait_until;
use pyrite_cluster_tests::webhook::{Received, Webhook};
use reqwest::blocking::Client;
use serde_json::{json, Value};

const TEST: &str = "docker_alertmanager::a_partitioned_alertmanager_notifies_nothing_and_each_change_is_notified_once";
const TENANT: &str = "compose";
const REPLICAS: [&str; 3] = ["alertmanager-1", "alertmanager-2", "alertmanager-3"];
/// The key of the alertmanager state's record, which decides its owner.
const STATE_KEY: &str = "alertmanager/state";
/// How long the test watches for a notification that must not come.
const QUIET: Duration = Duration::from_secs(8);

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn alert(name: &str, instance: &str, starts: &str, ends: Option<&str>) -> Value {
    let mut a = json!({"labels": {"alertname": name, "instance": instance}, "startsAt": starts});
    if let Some(e) = ends {
        a["endsAt"] = json!(e);
    }
    a
}

/// The notifications of the group of alerts named `name`.
fn group(hook: &Webhook, name: &str) -> Vec<Received> {
    let key = format!("{{}}:{{alertname=\"{name}\"}}");
    hook.received().into_iter().filter(|r| r.group_key() == key).collect()
}

fn wait_group(hook: &Webhook, name: &str, n: usize, timeout: Duration) -> anyhow::Result<Vec<Received>> {
    wait_until(&format!("{n} notifications of {name}"), timeout, || {
        let got = group(hook, name);
        Ok((got.len() >= n).then_some(got))
    })
}

/// Posts alerts to each base URL until it takes them, as Prometheus retries (a replica
/// answers 503 while the state's owner cannot be reached).
fn post_alerts(client: &Client, bases: &[String], alerts: &Value) -> anyhow::Result<()> {
    for base in bases {
        let url = format!("{base}/alertmanager/api/v2/alerts");
        wait_until(&format!("{url} to take {alerts}"), Duration::from_secs(60), || {
            let r = client.post(&url).header("X-Scope-OrgID", TENANT).json(alerts).send()?;
            Ok(r.status().is_success().then_some(()))
        })?;
    }
    Ok(())
}

/// Waits until the replica at `base` lists `n` peers and the tenant's alerts named in
/// `alerts` (`instance` labels of `Disk`).
fn wait_replica(client: &Client, base: &str, n: usize, instances: &[&str]) -> anyhow::Result<()> {
    let url = format!("{base}/alertmanager/api/v2/status");
    wait_until(&format!("{url} to list {n} peers"), Duration::from_secs(60), || {
        let status: Value = client.get(&url).header("X-Scope-OrgID", TENANT).send()?.json()?;
        Ok((status["cluster"]["peers"].as_array().map(Vec::len) == Some(n)).then_some(()))
    })?;
    let url = format!("{base}/alertmanager/api/v2/alerts?filter=alertname%3D%22Disk%22");
    wait_until(&format!("{url} to list {instances:?}"), Duration::from_secs(60), || {
        let listed: Value = client.get(&url).header("X-Scope-OrgID", TENANT).send()?.json()?;
        let mut have: Vec<&str> = listed
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["labels"]["instance"].as_str())
            .collect();
        have.sort();
        Ok((have == instances).then_some(()))
    })
}

/// A network of the test's own, removed when dropped (after the project's containers,
/// when declared before the [`Compose`]).
struct Network(String);

impl Drop for Network {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

#[test]
fn a_partitioned_alertmanager_notifies_nothing_and_each_change_is_notified_once() -> anyhow::Result<()> {
    if let Some(why) = docker::unavailable() {
        eprintln!("SKIPPED {TEST}: {why}");
        return Ok(());
    }
    let started = std::time::Instant::now();
    Compose::reap_stale("pyrite-da-");
    Compose::build_images()?;
    let project = format!("pyrite-da-{}", std::process::id());
    // The receivers' network: the alertmanagers reach this host's webhook through it,
    // whatever happens to the cluster's network.
    let egress = Network(format!("{project}-egress"));
    let mut c = Compose::new(&project);
    c.docker(&["network", "create", &egress.0])?;
    c.up_services(&["ruler", "alertmanager-1", "alertmanager-2", "alertmanager-3"])?;
    eprintln!(
        "ruler and alertmanagers up after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    for r in REPLICAS {
        c.on(&["network", "connect", &egress.0], r)?;
    }
    let gateway = c
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            &egress.0,
        ])?
        .trim()
        .to_string();
    let hook = Webhook::start(std::net::Ipv4Addr::UNSPECIFIED)?;
    let client = Client::builder().timeout(Duration::from_secs(10)).build()?;

    // The tenant's own configuration, posted to one replica (passed on to the owner).
    let config = format!(
        "alertmanager_config: |\n  route:\n    receiver: hook\n    group_by: [alertname]\n    group_wait: 1s\n    group_interval: 2s\n    repeat_interval: 1h\n  receivers:\n    - name: hook\n      webhook_configs:\n        - url: {}\n",
        hook.url_at(&gateway, "/hook")
    );
    let set_url = c.url("alertmanager-1", "/api/v1/alerts");
    wait_until(
        "the tenant's configuration to be stored",
        Duration::from_secs(60),
        || {
            let r = client
                .post(&set_url)
                .header("X-Scope-OrgID", TENANT)
                .body(config.clone())
                .send()?;
            Ok((r.status() == 201).then_some(()))
        },
    )?;
    let bases: Vec<String> = REPLICAS.iter().map(|r| c.url(r, "")).collect();
    for base in &bases {
        wait_replica(&client, base, 3, &[])?;
    }

    // A rule group through the ruler's configuration API: its alert reaches the webhook
    // through the alertmanagers, once.
    let rules = c.url("ruler", "/prometheus/config/v1/rules/compose");
    let group_yaml = "name: alive\ninterval: 1s\nrules:\n  - alert: RulerAlive\n    expr: vector(1)\n";
    let r = client
        .post(&rules)
        .header("X-Scope-OrgID", TENANT)
        .header("Content-Type", "application/yaml")
        .body(group_yaml)
        .send()?;
    ensure!(
        r.status() == 202,
        "the rule group is stored: {} {}",
        r.status(),
        r.text()?
    );
    wait_group(&hook, "RulerAlive", 1, Duration::from_secs(90))?;
    eprintln!(
        "the ruler's alert notified after {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Disk on a fires, posted to every replica: notified once.
    let t0 = now();
    post_alerts(&client, &bases, &json!([alert("Disk", "a", &t0, None)]))?;
    wait_group(&hook, "Disk", 1, Duration::from_secs(30))?;

    // The owner is cut off the cluster's network; it still reaches the webhook, and the
    // test reaches it, through the receivers' network.
    let members: Vec<String> = REPLICAS.iter().map(|s| s.to_string()).collect();
    let owner = pyrite_members::rendezvous(pyrite_members::key_hash(STATE_KEY), &members)
        .context("an owner")?
        .to_string();
    let owner_ip = c
        .on(
            &[
                "inspect",
                "-f",
                &format!("{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}", egress.0),
            ],
            &owner,
        )?
        .trim()
        .to_string();
    let owner_base = format!("http://{owner_ip}:9009");
    let survivors: Vec<String> = REPLICAS.iter().filter(|r| **r != owner).map(|r| c.url(r, "")).collect();
    c.on(&["network", "disconnect", &c.network()], &owner)?;
    eprintln!("{owner} cut off after {:.1}s", started.elapsed().as_secs_f64());

    // An alert only the cut-off replica hears of: it cannot commit it, so it refuses
    // it, and it must never be notified.
    let r = client
        .post(format!("{owner_base}/alertmanager/api/v2/alerts"))
        .header("X-Scope-OrgID", TENANT)
        .json(&json!([alert("Isolated", "x", &now(), None)]))
        .send();
    if let Ok(r) = r {
        ensure!(
            r.status() == 503,
            "the cut-off replica cannot commit an alert: {}",
            r.status()
        );
    }

    // b fires on the other two: one of them takes the state over and notifies a and b
    // once.
    post_alerts(
        &client,
        &survivors,
        &json!([alert("Disk", "a", &t0, None), alert("Disk", "b", &t0, None)]),
    )?;
    let got = wait_group(&hook, "Disk", 2, Duration::from_secs(60))?;
    ensure!(
        got[1].alerts().len() == 2 && got[1].status() == "firing",
        "a and b fire: {:?}",
        got[1].body
    );
    std::thread::sleep(QUIET);
    ensure!(
        group(&hook, "Disk").len() == 2 && group(&hook, "Isolated").is_empty(),
        "each change once, nothing from the cut-off replica: {:?}",
        hook.received()
    );

    // Joined again under its name, the replica takes the state back as it now is; b
    // resolves: notified once.
    c.on(&["network", "connect", "--alias", &owner, &c.network()], &owner)?;
    c.wait_healthy(&owner, Duration::from_secs(120))?;
    wait_replica(&client, &owner_base, 3, &["a", "b"])?;
    let mut all = survivors.clone();
    all.push(owner_base.clone());
    post_alerts(
        &client,
        &all,
        &json!([alert("Disk", "a", &t0, None), alert("Disk", "b", &t0, Some(&now()))]),
    )?;
    let got = wait_group(&hook, "Disk", 3, Duration::from_secs(60))?;
    ensure!(
        got[2]
            .alerts()
            .iter()
            .any(|a| a.contains("instance=b") && a.ends_with(":resolved")),
        "b resolves: {:?}",
        got[2].body
    );
    std::thread::sleep(QUIET);
    let disk = group(&hook, "Disk");
    ensure!(
        disk.len() == 3 && group(&hook, "Isolated").is_empty() && group(&hook, "RulerAlive").len() == 1,
        "three changes of Disk, three notifications; the ruler's alert once; nothing of the cut-off replica's: {:?}",
        hook.received()
    );
    let mut keys: Vec<_> = disk.iter().map(|r| r.idempotency_key.clone()).collect();
    keys.sort();
    keys.dedup();
    ensure!(
        keys.len() == 3 && !keys.contains(&None),
        "each notification its own idempotency key: {keys:?}"
    );
    eprintln!("{TEST}: ok in {:.1}s", started.elapsed().as_secs_f64());
    drop(c);
    Ok(())
}
