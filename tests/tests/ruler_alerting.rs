//! The ruler sends its alerts as a Prometheus alerting section says: the alerting file
//! of `docs/operations.md`, run as written, finds a real Alertmanager (Debian's
//! `prometheus-alertmanager`, requiring basic auth) through `file_sd_configs`, drops
//! the standby one by `relabel_configs`, adds the external labels, drops one alert and
//! labels the other by `alert_relabel_configs` — and the Alertmanager receives exactly
//! the one expected alert, while `/metrics` counts what was sent. Then the file is
//! rewritten: a broken one fails `POST /-/reload`, and one naming a second Alertmanager
//! with other external labels and relabeling moves the alert there, while the first
//! Alertmanager, no longer sent to, lets it expire.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Context;
use pyrite_cluster_tests::{alertmanager, free_port, require, wait_until, Pyrite};
use serde_json::Value;

const RULES: &str = r#"
groups:
  - name: sent
    interval: 1s
    rules:
      - alert: Kept
        expr: vector(1)
        labels:
          severity: page
        annotations:
          summary: "in {{ $externalLabels.cluster }}"
      - alert: Dropped
        expr: vector(1)
        labels:
          severity: debug
"#;

/// `pyrite-secret`, hashed for the Alertmanager's `basic_auth_users`.
const PASSWORD_HASH: &str = "$2b$04$KTZKSV8Ip5pLdN65nSkdL.VCZFsjeU07hlFlmy8pUk65Li3XxG8K6";

/// The ```` ```yaml ```` block of `docs/operations.md` holding an alerting section.
fn documented_alerting_file() -> anyhow::Result<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md");
    let text = std::fs::read_to_string(&path).context("reading docs/operations.md")?;
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        match (&mut current, line.trim()) {
            (None, "```yaml") => current = Some((indent, Vec::new())),
            (Some((_, block)), "```") => {
                blocks.push(block.join("\n") + "\n");
                current = None;
            }
            (Some((indent, block)), _) => block.push(line.get(*indent..).unwrap_or("")),
            (None, _) => {}
        }
    }
    blocks
        .into_iter()
        .find(|b| b.contains("alert_relabel_configs"))
        .context("docs/operations.md has no yaml block with alert_relabel_configs")
}

#[test]
fn alerts_follow_the_documented_alerting_file() -> anyhow::Result<()> {
    require("prometheus-alertmanager")?;
    let ip = Ipv4Addr::new(127, 0, 0, 204);
    let tmp = tempfile::tempdir()?;
    let am_port = free_port(ip);
    let web_config = tmp.path().join("web.yml");
    std::fs::write(&web_config, format!("basic_auth_users:\n  pyrite: '{PASSWORD_HASH}'\n"))?;
    let _alertmanager = alertmanager(ip, am_port, tmp.path(), Some(&web_config))?;
    let am = format!("http://{ip}:{am_port}");

    // The documented file, beside the files it names.
    let alerting = tmp.path().join("alerting.yml");
    std::fs::write(&alerting, documented_alerting_file()?)?;
    std::fs::write(tmp.path().join("alertmanager-password"), "pyrite-secret\n")?;
    std::fs::write(
        tmp.path().join("alertmanagers.json"),
        format!(r#"[{{"targets": ["{ip}:{am_port}"]}}, {{"targets": ["{ip}:1"], "labels": {{"standby": "true"}}}}]"#),
    )?;
    let rules_dir = tmp.path().join("rules");
    std::fs::create_dir(&rules_dir)?;
    std::fs::write(rules_dir.join("sent.yml"), RULES)?;
    let pyrite = Pyrite::start(
        ip,
        &tmp.path().join("data"),
        &[
            &format!("--ruler.rules-dir={}", rules_dir.display()),
            &format!("--ruler.alerting-config-file={}", alerting.display()),
            // A firing alert reaches the Alertmanagers of a reloaded file when resent.
            "--ruler.resend-delay=1s",
        ],
    )?;

    let client = reqwest::blocking::Client::new();
    // The alerts an Alertmanager holds, as "labels annotations".
    let alerts_at = |url: &str, password: Option<&str>| -> anyhow::Result<BTreeSet<String>> {
        let mut r = client.get(format!("{url}/api/v2/alerts"));
        if let Some(p) = password {
            r = r.basic_auth("pyrite", Some(p));
        }
        let alerts: Value = r.send()?.error_for_status()?.json()?;
        Ok(alerts
            .as_array()
            .context("alerts")?
            .iter()
            .map(|a| format!("{} {}", a["labels"], a["annotations"]))
            .collect())
    };
    let received = wait_until(
        "the Alertmanager to receive Pyrite's alert",
        Duration::from_secs(30),
        || {
            let found = alerts_at(&am, Some("pyrite-secret"))?;
            Ok((!found.is_empty()).then_some(found))
        },
    )?;
    assert_eq!(
        received,
        BTreeSet::from([
            r#"{"alertname":"Kept","cluster":"eu1","severity":"page","team":"ops"} {"summary":"in eu1"}"#.to_string()
        ])
    );
    let refused = client.get(format!("{am}/api/v2/alerts")).send()?.status();
    assert_eq!(refused.as_u16(), 401, "the Alertmanager requires the password");

    let sent = format!(r#"prometheus_notifications_sent_total{{alertmanager="{am}/api/v2/alerts"}} "#);
    let metrics = wait_until("/metrics to count the alert sent", Duration::from_secs(10), || {
        let text = reqwest::blocking::get(pyrite.url("/metrics"))?.text()?;
        Ok(text.contains(&sent).then_some(text))
    })?;
    for line in [
        "prometheus_notifications_alertmanagers_discovered 1",
        "prometheus_notifications_queue_capacity 10000",
        "prometheus_notifications_dropped_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    assert!(
        !metrics.contains("prometheus_notifications_errors_total{"),
        "no errors:\n{metrics}"
    );

    // A broken file fails the reload, and names itself.
    let reload = || -> anyhow::Result<(u16, String)> {
        let r = client.post(pyrite.url("/-/reload")).send()?;
        Ok((r.status().as_u16(), r.text()?))
    };
    std::fs::write(&alerting, "alerting:\n  alertmanagers:\n    - no_such_field: 1\n")?;
    let (status, body) = reload()?;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("ruler.alerting-config-file"), "{body}");

    // A second Alertmanager, named by the rewritten file.
    let am2_dir = tmp.path().join("second");
    std::fs::create_dir(&am2_dir)?;
    let am2_port = free_port(ip);
    let _second = alertmanager(ip, am2_port, &am2_dir, None)?;
    let am2 = format!("http://{ip}:{am2_port}");
    std::fs::write(
        &alerting,
        format!(
            r#"global:
  external_labels:
    cluster: eu2
alerting:
  alert_relabel_configs:
    - source_labels: [severity]
      regex: debug
      action: drop
  alertmanagers:
    - static_configs:
        - targets: ["{ip}:{am2_port}"]
"#
        ),
    )?;
    let (status, body) = reload()?;
    assert_eq!(status, 200, "{body}");
    let received = wait_until(
        "the second Alertmanager to receive Pyrite's alert",
        Duration::from_secs(30),
        || {
            let found = alerts_at(&am2, None)?;
            Ok((!found.is_empty()).then_some(found))
        },
    )?;
    assert_eq!(
        received,
        BTreeSet::from([r#"{"alertname":"Kept","cluster":"eu2","severity":"page"} {"summary":"in eu2"}"#.to_string()])
    );
    // Valid for four resend delays after it was last sent there, the alert expires in
    // the first Alertmanager.
    wait_until(
        "the first Alertmanager's alert to expire",
        Duration::from_secs(30),
        || Ok(alerts_at(&am, Some("pyrite-secret"))?.is_empty().then_some(())),
    )?;
    let sent = format!(r#"prometheus_notifications_sent_total{{alertmanager="{am2}/api/v2/alerts"}} "#);
    let metrics = wait_until("/metrics to count the alert sent", Duration::from_secs(10), || {
        let text = reqwest::blocking::get(pyrite.url("/metrics"))?.text()?;
        Ok(text.contains(&sent).then_some(text))
    })?;
    for line in [
        "prometheus_notifications_alertmanagers_discovered 1",
        "prometheus_notifications_dropped_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    Ok(())
}
