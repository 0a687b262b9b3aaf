//! Pyrite's alertmanager against the real one (Debian's `prometheus-alertmanager`): the
//! same `alertmanager.yml` and the same alerts go to both, and every webhook
//! notification — group key, status, alerts in order, labels, fingerprints — must be the
//! same, at the same times within a tolerance. Then the real `amtool` lists alerts,
//! adds, queries and expires a silence and shows the status of Pyrite's alertmanager,
//! and the silence holds a notification back until it is expired; and alerts, silences
//! and the notification log outlive a kill -9.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use chrono::{SecondsFormat, Utc};
use pyrite_cluster_tests::webhook::{Received, Webhook};
use pyrite_cluster_tests::{free_port, require, wait_until, Peer, Pyrite};
use serde_json::{json, Value};

const IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

fn config(hook: &Webhook) -> String {
    format!(
        r#"
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: critical
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
receivers:
  - name: default
    webhook_configs:
      - url: {default}
  - name: critical
    webhook_configs:
      - url: {critical}
"#,
        default = hook.url("/default"),
        critical = hook.url("/critical"),
    )
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn alert(name: &str, instance: &str, severity: &str, cluster: &str, starts: &str, ends: Option<&str>) -> Value {
    let mut a = json!({
        "labels": {"alertname": name, "instance": instance, "severity": severity, "cluster": cluster},
        "annotations": {"summary": format!("{name} on {instance}")},
        "startsAt": starts,
        "generatorURL": "http://prometheus/graph",
    });
    if let Some(e) = ends {
        a["endsAt"] = json!(e);
    }
    a
}

fn post(base: &str, alerts: &Value) -> anyhow::Result<()> {
    let r = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v2/alerts"))
        .json(alerts)
        .send()?;
    ensure!(
        r.status().is_success(),
        "posting alerts to {base}: {} {}",
        r.status(),
        r.text()?
    );
    Ok(())
}

/// Notifications per receiver path and group key, in arrival order, with what must
/// match between the two alertmanagers (everything but the external URL).
fn by_group(received: &[Received]) -> BTreeMap<(String, String), Vec<Value>> {
    let mut out: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for r in received {
        let mut body = r.body.clone();
        body.as_object_mut().map(|o| o.remove("externalURL"));
        out.entry((r.path.clone(), r.group_key().to_string()))
            .or_default()
            .push(body);
    }
    out
}

fn real_alertmanager(dir: &std::path::Path, config: &str) -> anyhow::Result<(Peer, String)> {
    let port = free_port(IP);
    let file = dir.join("alertmanager.yml");
    std::fs::write(&file, config)?;
    let peer = Peer::spawn(
        "alertmanager",
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.path={}", dir.join("am").display()))
            .arg(format!("--web.listen-address={IP}:{port}"))
            .arg("--cluster.listen-address="),
        dir,
    )?;
    let base = format!("http://{IP}:{port}");
    wait_until("Alertmanager to be ready", Duration::from_secs(30), || {
        Ok(reqwest::blocking::get(format!("{base}/-/ready"))
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ()))
    })?;
    Ok((peer, base))
}

fn pyrite_with(dir: &std::path::Path, config: &str) -> anyhow::Result<Pyrite> {
    pyrite_with_flags(dir, config, &[])
}

fn pyrite_with_flags(dir: &std::path::Path, config: &str, extra: &[&str]) -> anyhow::Result<Pyrite> {
    let file = dir.join("pyrite-alertmanager.yml");
    std::fs::write(&file, config)?;
    let mut flags = vec![format!("--alertmanager.config-file={}", file.display())];
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Pyrite::start(IP, &dir.join("data"), &flags)
}

#[test]
fn the_same_alerts_make_the_same_notifications_as_alertmanager() -> anyhow::Result<()> {
    require("prometheus-alertmanager")?;
    let tmp = tempfile::tempdir()?;
    let (am_hook, py_hook) = (Webhook::start(IP)?, Webhook::start(IP)?);
    let (_am, am) = real_alertmanager(tmp.path(), &config(&am_hook))?;
    let pyrite = pyrite_with(tmp.path(), &config(&py_hook))?;
    let py = pyrite.url("/alertmanager");
    let both = |alerts: Value| -> anyhow::Result<()> {
        post(&am, &alerts)?;
        post(&py, &alerts)
    };

    // Disk warnings on two clusters and a critical Cpu alert on c1, which inhibits
    // the c1 warning: Disk notifies b only, Cpu goes to the critical receiver.
    let t0 = now();
    let a = alert("Disk", "a", "warning", "c1", &t0, None);
    let b = alert("Disk", "b", "warning", "c2", &t0, None);
    let d = alert("Cpu", "a", "critical", "c1", &t0, None);
    let posted = Instant::now();
    both(json!([a, b, d]))?;
    let first_py = py_hook.wait_for(2, Duration::from_secs(15))?;
    let first_am = am_hook.wait_for(2, Duration::from_secs(15))?;
    for (p, m) in first_py.iter().zip(&first_am) {
        let (dp, dm) = (p.at - posted, m.at - posted);
        let skew = dp.abs_diff(dm);
        ensure!(
            skew < Duration::from_millis(900),
            "first notifications {dp:?} (Pyrite) and {dm:?} (Alertmanager) after posting"
        );
    }

    // b resolves: Disk tells of it; then the Cpu alert resolves, freeing a.
    both(json!([alert("Disk", "b", "warning", "c2", &t0, Some(&now()))]))?;
    py_hook.wait_for(3, Duration::from_secs(15))?;
    am_hook.wait_for(3, Duration::from_secs(15))?;
    both(json!([alert("Cpu", "a", "critical", "c1", &t0, Some(&now()))]))?;
    py_hook.wait_for(5, Duration::from_secs(15))?;
    am_hook.wait_for(5, Duration::from_secs(15))?;
    // Two group intervals more, for anything either would still send.
    std::thread::sleep(Duration::from_secs(5));

    let (py_n, am_n) = (by_group(&py_hook.received()), by_group(&am_hook.received()));
    ensure!(
        py_n == am_n,
        "notifications differ\nPyrite:\n{}\nAlertmanager:\n{}",
        serde_json::to_string_pretty(&json!(py_n
            .iter()
            .map(|(k, v)| json!({"key": format!("{k:?}"), "n": v}))
            .collect::<Vec<_>>()))?,
        serde_json::to_string_pretty(&json!(am_n
            .iter()
            .map(|(k, v)| json!({"key": format!("{k:?}"), "n": v}))
            .collect::<Vec<_>>()))?
    );
    let disk = &py_n[&("/default".to_string(), r#"{}:{alertname="Disk"}"#.to_string())];
    let shown: Vec<_> = disk
        .iter()
        .map(|n| (n["status"].clone(), n["alerts"].as_array().map(Vec::len)))
        .collect();
    ensure!(
        shown
            == [
                (json!("firing"), Some(1)),
                (json!("resolved"), Some(1)),
                (json!("firing"), Some(1))
            ],
        "Disk: b firing, b resolved, a firing once freed; got {shown:?}"
    );
    Ok(())
}

/// One alert, then a second joining its group: group_wait, group_interval and
/// repeat_interval time Pyrite's notifications as they time Alertmanager's.
#[test]
fn group_wait_group_interval_and_repeat_interval_time_notifications_as_in_alertmanager() -> anyhow::Result<()> {
    require("prometheus-alertmanager")?;
    let tmp = tempfile::tempdir()?;
    let (am_hook, py_hook) = (Webhook::start(IP)?, Webhook::start(IP)?);
    // Repeats fall between group_interval ticks, never on one.
    let config = |hook: &Webhook| {
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 2500ms\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n",
            hook.url("/hook")
        )
    };
    let (_am, am) = real_alertmanager(tmp.path(), &config(&am_hook))?;
    let pyrite = pyrite_with(tmp.path(), &config(&py_hook))?;
    let py = pyrite.url("/alertmanager");
    let t0 = now();
    let a = alert("Repeat", "a", "warning", "c1", &t0, None);
    let b = alert("Repeat", "b", "warning", "c1", &t0, None);
    let posted = Instant::now();
    post(&am, &json!([a]))?;
    post(&py, &json!([a]))?;
    // a after group_wait, and again after repeat_interval; then b joins.
    py_hook.wait_for(2, Duration::from_secs(15))?;
    am_hook.wait_for(2, Duration::from_secs(15))?;
    post(&am, &json!([a, b]))?;
    post(&py, &json!([a, b]))?;
    // a and b at the next group_interval tick, and again after repeat_interval.
    let py_n = py_hook.wait_for(4, Duration::from_secs(15))?;
    let am_n = am_hook.wait_for(4, Duration::from_secs(15))?;
    let timeline = |n: &[Received]| -> Vec<(u128, usize)> {
        n.iter()
            .take(4)
            .map(|r| ((r.at - posted).as_millis(), r.alerts().len()))
            .collect()
    };
    let (pt, at) = (timeline(&py_n), timeline(&am_n));
    ensure!(
        pt.iter().map(|n| n.1).eq(at.iter().map(|n| n.1)) && pt.iter().map(|n| n.1).eq([1, 1, 2, 2]),
        "a, a again, a and b, a and b again: Pyrite {pt:?}, Alertmanager {at:?}"
    );
    for (p, m) in pt.iter().zip(&at) {
        ensure!(
            p.0.abs_diff(m.0) < 900,
            "each notification within 0.9 s of Alertmanager's (ms after the first post): Pyrite {pt:?}, Alertmanager {at:?}"
        );
    }
    Ok(())
}

fn amtool(base: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url={base}"))
        .args(args)
        .output()
        .context("running amtool")?;
    ensure!(
        out.status.success(),
        "amtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn amtool_manages_silences_that_hold_notifications_back() -> anyhow::Result<()> {
    require("amtool")?;
    let tmp = tempfile::tempdir()?;
    let hook = Webhook::start(IP)?;
    let pyrite = pyrite_with(tmp.path(), &config(&hook))?;
    let base = pyrite.url("/alertmanager");

    let id = amtool(
        &base,
        &[
            "silence",
            "add",
            "alertname=Cpu",
            "--comment=maintenance",
            "--duration=1h",
        ],
    )?
    .trim()
    .to_string();
    ensure!(!id.is_empty(), "amtool silence add printed an ID");
    let listed = amtool(&base, &["silence", "query", "-q"])?;
    ensure!(listed.trim() == id, "silence query -q lists {id}: {listed:?}");

    let t0 = now();
    post(
        &base,
        &json!([
            alert("Cpu", "a", "critical", "c1", &t0, None),
            alert("Disk", "b", "warning", "c2", &t0, None)
        ]),
    )?;
    let first = hook.wait_for(1, Duration::from_secs(15))?;
    ensure!(
        first[0].group_key() == r#"{}:{alertname="Disk"}"#,
        "Disk notifies: {:?}",
        first[0].body
    );
    let alerts = amtool(&base, &["alert", "query", "-o", "json", "--silenced"])?;
    let alerts: Value = serde_json::from_str(&alerts)?;
    let cpu = alerts
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["labels"]["alertname"] == "Cpu")
        .context("amtool lists the silenced Cpu alert")?;
    ensure!(
        cpu["status"]["state"] == "suppressed" && cpu["status"]["silencedBy"] == json!([id]),
        "Cpu silenced by {id}: {cpu}"
    );
    let active = amtool(&base, &["alert", "query"])?;
    ensure!(
        active.contains("Disk") && !active.contains("Cpu"),
        "alert query shows the active alert only:\n{active}"
    );
    // Two group intervals: the silenced Cpu alert is still not notified.
    std::thread::sleep(Duration::from_secs(4));
    ensure!(
        hook.received().len() == 1,
        "nothing but Disk while Cpu is silenced: {:?}",
        hook.received()
    );

    amtool(&base, &["silence", "expire", &id])?;
    let all = hook.wait_for(2, Duration::from_secs(15))?;
    ensure!(
        all[1].group_key() == r#"{}/{severity="critical"}:{alertname="Cpu"}"#,
        "Cpu notifies once the silence expired: {:?}",
        all[1].body
    );
    let expired = amtool(&base, &["silence", "query", "--expired", "-q"])?;
    ensure!(
        expired.trim() == id,
        "the expired silence is listed as expired: {expired:?}"
    );

    let cluster = amtool(&base, &["cluster", "show"])?;
    ensure!(cluster.contains("ready"), "cluster show: {cluster}");
    let shown = amtool(&base, &["config", "show"])?;
    ensure!(
        shown.contains("group_wait: 1s") && shown.contains("receiver: critical"),
        "config show: {shown}"
    );
    Ok(())
}

#[test]
fn alerts_silences_and_the_notification_log_survive_kill_9() -> anyhow::Result<()> {
    require("amtool")?;
    let tmp = tempfile::tempdir()?;
    let hook = Webhook::start(IP)?;
    let mut pyrite = pyrite_with(tmp.path(), &config(&hook))?;
    let base = pyrite.url("/alertmanager");
    let id = amtool(
        &base,
        &[
            "silence",
            "add",
            "alertname=Cpu",
            "--comment=maintenance",
            "--duration=1h",
        ],
    )?
    .trim()
    .to_string();
    let t0 = now();
    post(
        &base,
        &json!([
            alert("Disk", "b", "warning", "c2", &t0, None),
            alert("Cpu", "a", "critical", "c1", &t0, None)
        ]),
    )?;
    let first = hook.wait_for(1, Duration::from_secs(15))?;
    ensure!(
        first[0].status() == "firing" && first[0].alerts().len() == 1,
        "Disk fires: {:?}",
        first[0].body
    );

    pyrite.kill9_and_restart()?;
    let base = pyrite.url("/alertmanager");
    let listed = amtool(&base, &["silence", "query", "-q"])?;
    ensure!(listed.trim() == id, "the silence is back after kill -9: {listed:?}");
    let alerts = reqwest::blocking::get(format!("{base}/api/v2/alerts"))?.json::<Value>()?;
    let names: Vec<String> = alerts
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["labels"]["alertname"].as_str().map(String::from))
        .collect();
    ensure!(
        names.contains(&"Disk".to_string()) && names.contains(&"Cpu".to_string()),
        "both alerts are back: {names:?}"
    );
    // Two group intervals: the log remembers Disk was notified, and Cpu is still silenced.
    // A kill -9 that lands between a send and the commit of its log entry sends it again,
    // under the same idempotency key (see alertmanager_cluster.rs); a receiver honouring
    // the key sees each notification once, and that is what is counted.
    std::thread::sleep(Duration::from_secs(5));
    let once = distinct(&hook.received())?;
    ensure!(once.len() == 1, "nothing notified again after the restart: {once:?}");

    post(&base, &json!([alert("Disk", "b", "warning", "c2", &t0, Some(&now()))]))?;
    let all = wait_until("Disk's resolution", Duration::from_secs(15), || {
        let d = distinct(&hook.received())?;
        Ok((d.len() >= 2).then_some(d))
    })?;
    ensure!(
        all[1].status() == "resolved" && all[1].group_key() == first[0].group_key(),
        "Disk resolves: {:?}",
        all[1].body
    );
    std::thread::sleep(Duration::from_secs(3));
    let once = distinct(&hook.received())?;
    ensure!(once.len() == 2, "exactly two notifications: {once:?}");
    Ok(())
}

/// The notifications as a receiver honouring `Idempotency-Key` takes them: the first of
/// each key, in order. A repeat must be the very same notification.
fn distinct(received: &[Received]) -> anyhow::Result<Vec<Received>> {
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    let mut out = Vec::new();
    for r in received {
        let key = r
            .idempotency_key
            .clone()
            .context("a notification without an idempotency key")?;
        match seen.get(&key) {
            Some(body) => ensure!(
                *body == r.body,
                "two notifications under key {key}: {body} and {}",
                r.body
            ),
            None => {
                seen.insert(key, r.body.clone());
                out.push(r.clone());
            }
        }
    }
    Ok(out)
}

#[test]
fn an_unchanged_prometheus_sends_alerts_from_its_rules_and_time_intervals_mute_routes() -> anyhow::Result<()> {
    require("prometheus")?;
    let tmp = tempfile::tempdir()?;
    let hook = Webhook::start(IP)?;
    let config = format!(
        r#"
route:
  receiver: live
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  routes:
    - matchers: [team="night"]
      receiver: live
      mute_time_intervals: [always]
time_intervals:
  - name: always
    time_intervals:
      - weekdays: ['sunday:saturday']
receivers:
  - name: live
    webhook_configs:
      - url: {}
"#,
        hook.url("/live")
    );
    let pyrite = pyrite_with(tmp.path(), &config)?;
    std::fs::write(
        tmp.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: DayShift\n        expr: vector(1)\n        labels: {team: day}\n      - alert: NightShift\n        expr: vector(1)\n        labels: {team: night}\n",
    )?;
    let prom_config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - path_prefix: /alertmanager\n      static_configs:\n        - targets: ['{IP}:{}']\n",
            pyrite.http_port
        ),
    )?;
    // Prometheus drops what its first evaluation sends before it has found its
    // Alertmanagers; a short resend delay sends it again a second later.
    let _prom = Peer::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!("--storage.tsdb.path={}", tmp.path().join("prom").display()))
            .arg(format!("--web.listen-address={IP}:{}", free_port(IP)))
            .arg("--rules.alert.resend-delay=1s"),
        tmp.path(),
    )?;
    let got = hook.wait_for(1, Duration::from_secs(30))?;
    ensure!(
        got[0].group_key() == r#"{}:{alertname="DayShift"}"#,
        "Prometheus's DayShift alert notified: {:?}",
        got[0].body
    );
    ensure!(
        got[0].body["alerts"][0]["generatorURL"]
            .as_str()
            .is_some_and(|u| u.contains("/graph?g0.expr=")),
        "with Prometheus's generatorURL: {:?}",
        got[0].body
    );
    // NightShift reached the alertmanager, and its route's time interval mutes it.
    let base = pyrite.url("/alertmanager");
    wait_until("NightShift to arrive", Duration::from_secs(15), || {
        let alerts: Value = reqwest::blocking::get(format!("{base}/api/v2/alerts"))?.json()?;
        Ok(alerts
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["labels"]["alertname"] == "NightShift")
            .then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(4));
    let names: Vec<_> = hook.received().iter().map(|r| r.group_key().to_string()).collect();
    ensure!(
        names == [r#"{}:{alertname="DayShift"}"#],
        "only DayShift is notified: {names:?}"
    );
    Ok(())
}

#[test]
fn a_tenant_sets_its_own_configuration_through_the_api_and_keeps_it() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let hook = Webhook::start(IP)?;
    let file_config =
        format!("route:\n  receiver: file\n  group_wait: 1s\nreceivers:\n  - name: file\n    webhook_configs:\n      - url: {}\n", hook.url("/file"));
    let mut pyrite = pyrite_with(tmp.path(), &file_config)?;
    let client = reqwest::blocking::Client::new();
    let api = |p: &Pyrite| p.url("/api/v1/alerts");
    let get = |p: &Pyrite| client.get(api(p)).header("X-Scope-OrgID", "team-a").send();

    let none = get(&pyrite)?;
    ensure!(
        none.status() == 404 && none.text()?.contains("alertmanager storage object not found"),
        "no configuration of its own yet"
    );
    let bad = client
        .post(api(&pyrite))
        .header("X-Scope-OrgID", "team-a")
        .body("alertmanager_config: |\n  route:\n    receiver: nobody\n  receivers:\n    - name: team\n")
        .send()?;
    ensure!(
        bad.status() == 400,
        "a configuration amtool would refuse is refused: {}",
        bad.status()
    );
    let text = bad.text()?;
    ensure!(
        text.contains("undefined receiver \"nobody\""),
        "with Alertmanager's reason: {text}"
    );

    let own = format!(
        "template_files:\n  team.tmpl: '{{{{ define \"team\" }}}}team-a{{{{ end }}}}'\nalertmanager_config: |\n  route:\n    receiver: team\n    group_wait: 1s\n  templates: [team.tmpl]\n  receivers:\n    - name: team\n      webhook_configs:\n        - url: {}\n",
        hook.url("/team-a")
    );
    let set = client
        .post(api(&pyrite))
        .header("X-Scope-OrgID", "team-a")
        .body(own.clone())
        .send()?;
    ensure!(set.status() == 201, "stored: {} {}", set.status(), set.text()?);
    let t0 = now();
    for tenant in ["team-a", "anonymous"] {
        let r = client
            .post(pyrite.url("/alertmanager/api/v2/alerts"))
            .header("X-Scope-OrgID", tenant)
            .json(&json!([alert("Disk", tenant, "warning", "c1", &t0, None)]))
            .send()?;
        ensure!(r.status().is_success(), "posting as {tenant}: {}", r.status());
    }
    let got = hook.wait_for(2, Duration::from_secs(15))?;
    let paths: BTreeSet<_> = got
        .iter()
        .map(|r| (r.path.clone(), r.alerts()[0].contains("instance=team-a")))
        .collect();
    ensure!(
        paths == BTreeSet::from([("/file".to_string(), false), ("/team-a".to_string(), true)]),
        "each tenant its own receiver: {paths:?}"
    );

    pyrite.kill9_and_restart()?;
    let kept: Value = serde_yaml::from_str(&get(&pyrite)?.text()?)?;
    let sent: Value = serde_yaml::from_str(&own)?;
    ensure!(kept == sent, "the configuration outlives kill -9: {kept:?}");
    let gone = client.delete(api(&pyrite)).header("X-Scope-OrgID", "team-a").send()?;
    ensure!(gone.status() == 200, "deleted: {}", gone.status());
    ensure!(get(&pyrite)?.status() == 404, "and gone");
    Ok(())
}

#[test]
fn the_ruler_beside_it_sends_each_tenants_alerts_to_that_tenants_alertmanager_and_reload_takes_a_new_file(
) -> anyhow::Result<()> {
    require("amtool")?;
    let tmp = tempfile::tempdir()?;
    let hook = Webhook::start(IP)?;
    let rules = tmp.path().join("rules").join("team-a");
    std::fs::create_dir_all(&rules)?;
    std::fs::write(
        rules.join("team.yml"),
        "groups:\n  - name: team\n    interval: 1s\n    rules:\n      - alert: TeamAlert\n        expr: vector(1)\n        labels: {severity: page}\n",
    )?;
    let config = |path: &str| {
        format!("route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n", hook.url(path))
    };
    let rules_flag = format!("--ruler.rules-dir={}", tmp.path().join("rules").display());
    let pyrite = pyrite_with_flags(tmp.path(), &config("/first"), &[&rules_flag])?;
    let got = hook.wait_for(1, Duration::from_secs(30))?;
    ensure!(
        got[0].group_key() == r#"{}:{alertname="TeamAlert"}"#,
        "the ruler's alert is notified: {:?}",
        got[0].body
    );
    let tenant_alerts = |tenant: &str| -> anyhow::Result<usize> {
        let v: Value = reqwest::blocking::Client::new()
            .get(pyrite.url("/alertmanager/api/v2/alerts"))
            .header("X-Scope-OrgID", tenant)
            .send()?
            .json()?;
        Ok(v.as_array().map_or(0, Vec::len))
    };
    ensure!(
        tenant_alerts("team-a")? == 1 && tenant_alerts("anonymous")? == 0,
        "the alert is team-a's alone"
    );

    // A new file, reloaded: amtool shows it, and the receiver's new URL is used.
    std::fs::write(
        tmp.path().join("pyrite-alertmanager.yml"),
        config("/second").replace(
            "group_wait: 1s",
            "group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 2s",
        ),
    )?;
    let reloaded = reqwest::blocking::Client::new().post(pyrite.url("/-/reload")).send()?;
    ensure!(reloaded.status().is_success(), "reload: {}", reloaded.status());
    let shown = amtool(&pyrite.url("/alertmanager"), &["config", "show"])?;
    ensure!(shown.contains("repeat_interval: 2s"), "the new file is shown: {shown}");
    let got = hook.wait_for(2, Duration::from_secs(30))?;
    ensure!(
        got.last().is_some_and(|r| r.path == "/second"),
        "notifications go where the new file says: {:?}",
        got.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    Ok(())
}
