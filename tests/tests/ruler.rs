//! Pyrite's ruler and a real Prometheus 2.42 evaluate the same rule file over the same
//! data (both scrape one static page): the same recording-rule values (a rule reading
//! the rule before it in the same evaluation), the same alerts with the same labels and
//! expanded annotations, the same number of pending evaluations before the alert fires,
//! and evaluations at the same instants within the group's interval (Prometheus's
//! offset from the group's hash). The rules API lists the same groups and rules, and a
//! real Alertmanager (Debian's `prometheus-alertmanager`) receives Pyrite's alerts.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use pyrite_cluster_tests::http::{api_get, enc};
use pyrite_cluster_tests::{alertmanager, free_port, prometheus, require, wait_until, Peer, Pyrite};
use serde_json::Value;

const RULES: &str = r#"
groups:
  - name: demo
    interval: 2s
    rules:
      - record: demo:sum
        expr: sum(demo_value)
      - record: demo:sum:doubled
        expr: demo:sum * 2
        labels:
          kind: doubled
      - alert: DemoHigh
        expr: demo_value > 5
        for: 4s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.node }} is at {{ $value }}"
          detail: "{{ humanize 1234567 }} of {{ with query \"sum(demo_value)\" }}{{ . | first | value }}{{ end }}"
"#;

const PAGE: &str = "# TYPE demo_value gauge\ndemo_value{node=\"a\"} 3\ndemo_value{node=\"b\"} 7\n";

/// One instant query's answer: each series' labels and value, as text.
fn answer(base: &str, query: &str) -> anyhow::Result<BTreeSet<String>> {
    let data = api_get(&format!("{base}/api/v1/query?query={}", enc(query)))?;
    Ok(data["result"]
        .as_array()
        .context("result")?
        .iter()
        .map(|r| format!("{} {}", r["metric"], r["value"][1]))
        .collect())
}

/// The active alerts: labels, annotations and state.
fn alerts(base: &str) -> anyhow::Result<BTreeSet<String>> {
    let data = api_get(&format!("{base}/api/v1/alerts"))?;
    Ok(data["alerts"]
        .as_array()
        .context("alerts")?
        .iter()
        .map(|a| format!("{} {} {}", a["labels"], a["annotations"], a["state"]))
        .collect())
}

/// The rules API's groups, without what differs by when each started: each rule's name,
/// type, query, labels, annotations, health and, for alerting rules, state.
fn rules(base: &str) -> anyhow::Result<Vec<String>> {
    let data = api_get(&format!("{base}/api/v1/rules"))?;
    let mut out = Vec::new();
    for g in data["groups"].as_array().context("groups")? {
        out.push(format!("group {} {} interval {}", g["name"], g["file"], g["interval"]));
        for r in g["rules"].as_array().context("rules")? {
            out.push(format!(
                "{} {} {} {} {} {} {}",
                r["type"], r["name"], r["query"], r["labels"], r["annotations"], r["health"], r["state"]
            ));
        }
    }
    Ok(out)
}

/// The group's last evaluation instant, in milliseconds.
fn last_evaluation(base: &str) -> anyhow::Result<i64> {
    let data = api_get(&format!("{base}/api/v1/rules"))?;
    let at = data["groups"][0]["lastEvaluation"].as_str().context("lastEvaluation")?;
    Ok(chrono::DateTime::parse_from_rfc3339(at)?.timestamp_millis())
}

#[test]
fn the_same_rule_file_records_and_alerts_as_prometheus() -> anyhow::Result<()> {
    require("prometheus")?;
    require("python3")?;
    require("prometheus-alertmanager")?;
    let ip = Ipv4Addr::new(127, 0, 0, 203);
    let tmp = tempfile::tempdir()?;
    let www = tmp.path().join("www");
    std::fs::create_dir(&www)?;
    std::fs::write(www.join("metrics.txt"), PAGE)?;
    let page_port = free_port(ip);
    let _page = Peer::spawn(
        "page",
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &page_port.to_string(),
                "--bind",
                &ip.to_string(),
                "--directory",
            ])
            .arg(&www),
        tmp.path(),
    )?;
    let rules_dir = tmp.path().join("rules");
    std::fs::create_dir(&rules_dir)?;
    let rule_file = rules_dir.join("demo.yml");
    std::fs::write(&rule_file, RULES)?;
    let prom_port = free_port(ip);
    let config = format!(
        r#"
global:
  scrape_interval: 1s
  evaluation_interval: 2s
rule_files: ["{}"]
scrape_configs:
  - job_name: demo
    metrics_path: /metrics.txt
    static_configs: [{{targets: ["{ip}:{page_port}"]}}]
"#,
        rule_file.display()
    );
    let cfg_path = tmp.path().join("prometheus.yml");
    std::fs::write(&cfg_path, &config)?;
    let _prometheus = prometheus(ip, prom_port, &cfg_path, tmp.path())?;
    let prom = format!("http://{ip}:{prom_port}");
    let am_port = free_port(ip);
    let _alertmanager = alertmanager(ip, am_port, tmp.path(), None)?;
    let am = format!("http://{ip}:{am_port}");
    let pyrite = Pyrite::start(
        ip,
        &tmp.path().join("data"),
        &[
            &format!("--scrape.config-file={}", cfg_path.display()),
            &format!("--ruler.rules-dir={}", rules_dir.display()),
            &format!("--ruler.alertmanager-url={am}"),
        ],
    )?;
    let py = pyrite.url("");
    // With the alertmanager in the same process, `/api/v1/alerts` is its configuration
    // API; the ruler's alerts are under `/prometheus`.
    let py_ruler = pyrite.url("/prometheus");

    let firing = |base: &str| -> anyhow::Result<Option<BTreeSet<String>>> {
        let a = alerts(base)?;
        Ok((!a.is_empty() && a.iter().all(|a| a.ends_with("\"firing\""))).then_some(a))
    };
    let prom_alerts = wait_until("Prometheus's alert to fire", Duration::from_secs(60), || firing(&prom))?;
    let py_alerts = wait_until("Pyrite's alert to fire", Duration::from_secs(60), || firing(&py_ruler))?;
    assert_eq!(py_alerts, prom_alerts);
    assert!(
        py_alerts
            .iter()
            .any(|a| a.contains(r#""summary":"b is at 7""#) && a.contains(r#""detail":"1.235M of 10""#)),
        "{py_alerts:?}"
    );

    // The Alertmanager holds what Pyrite sent: the firing alert, labeled and annotated.
    let received = wait_until(
        "the Alertmanager to receive Pyrite's alert",
        Duration::from_secs(30),
        || {
            let alerts: Value = reqwest::blocking::get(format!("{am}/api/v2/alerts"))?.json()?;
            let found: BTreeSet<String> = alerts
                .as_array()
                .context("alerts")?
                .iter()
                .map(|a| {
                    format!(
                        "{} {} \"{}\"",
                        a["labels"],
                        a["annotations"],
                        a["status"]["state"].as_str().unwrap_or("")
                    )
                })
                .collect();
            Ok((!found.is_empty()).then_some(found))
        },
    )?;
    let expected: BTreeSet<String> = py_alerts
        .iter()
        .map(|a| a.replace("\"firing\"", "\"active\""))
        .collect();
    assert_eq!(received, expected);
    // Linked to the rule's expression, as Prometheus links its alerts.
    let alerts: Value = reqwest::blocking::get(format!("{am}/api/v2/alerts"))?.json()?;
    assert_eq!(
        alerts[0]["generatorURL"],
        format!("{py}/graph?g0.expr=demo_value+%3E+5&g0.tab=1"),
        "{alerts}"
    );

    // Recording rules, the second reading the first within the same evaluation.
    for q in ["demo:sum", "demo:sum:doubled", "ALERTS", "count(ALERTS_FOR_STATE)"] {
        assert_eq!(answer(&py, q)?, answer(&prom, q)?, "{q}");
    }
    assert_eq!(answer(&py, "demo:sum:doubled")?.len(), 1);
    // Pending at the first two evaluations (0 s and 2 s), firing from the third (4 s).
    let pending = r#"count_over_time(ALERTS{alertstate="pending"}[1m])"#;
    assert_eq!(answer(&py, pending)?, answer(&prom, pending)?);
    assert!(
        answer(&py, pending)?.iter().all(|s| s.ends_with("\"2\"")),
        "{:?}",
        answer(&py, pending)?
    );

    // The same group at the same instants within its interval. Prometheus reports when
    // its evaluation started by the wall clock, a moment after the instant evaluated;
    // Pyrite reports the instant.
    let late = (last_evaluation(&prom)? - last_evaluation(&py)?).rem_euclid(2000);
    assert!(
        late < 100,
        "Prometheus evaluates {late} ms after Pyrite within the interval"
    );
    assert_eq!(rules(&py)?, rules(&prom)?);
    let one: Value = api_get(&format!("{py}/api/v1/rules?type=record&rule_name[]=demo:sum"))?;
    assert_eq!(one["groups"][0]["rules"].as_array().map(Vec::len), Some(1), "{one}");

    // The rules page shows the group, its rules and the firing alert, to its tenant only.
    let page = reqwest::blocking::get(pyrite.url("/rules"))?.text()?;
    for shown in [
        "demo.yml &gt; demo",
        "record: demo:sum\nexpr: sum(demo_value)",
        "alert: DemoHigh\nexpr: demo_value &gt; 5\nfor: 4s\nseverity: page",
        "ok; 1 firing, 0 pending",
        "alertname=&#34;DemoHigh&#34;",
    ] {
        assert!(page.contains(shown), "{shown:?} not in {page}");
    }
    let other = reqwest::blocking::Client::new()
        .get(pyrite.url("/prometheus/rules"))
        .header("X-Scope-OrgID", "someone-else")
        .send()?
        .text()?;
    assert!(other.contains("No rule groups."), "{other}");
    Ok(())
}
