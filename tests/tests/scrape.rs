//! Pyrite scrapes with a Prometheus configuration file, unchanged: the same file given
//! to a real Prometheus 2.42 and to Pyrite makes the same targets, the same series with
//! the same labels (Pyrite's carrying the external labels, as Prometheus sends its series
//! out), the same `up` and the same metadata, per target and by family
//! (`/api/v1/metadata`, Pyrite's kept by its shards). A `file_sd` file rewritten
//! during the test moves targets in and out (a target that goes away is marked stale),
//! and reloads through `POST /-/reload` and SIGHUP take a good file and refuse a broken
//! one at its line, keeping what runs.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use pyrite_cluster_tests::exporter::node_exporter;
use pyrite_cluster_tests::http::{active_targets, api_get, enc, metadata_families};
use pyrite_cluster_tests::{free_port, prometheus, require, wait_until, Pyrite};
use serde_json::Value;

/// Every series of an instant query, labels as text, sorted.
fn label_sets(base: &str, query: &str) -> anyhow::Result<BTreeSet<String>> {
    let data = api_get(&format!("{base}/api/v1/query?query={}", enc(query)))?;
    Ok(data["result"]
        .as_array()
        .context("result")?
        .iter()
        .map(|r| r["metric"].to_string())
        .collect())
}

/// The metadata of a job's targets: metric, type, help and unit.
fn metadata(base: &str, job: &str) -> anyhow::Result<BTreeSet<String>> {
    let data = api_get(&format!(
        "{base}/api/v1/targets/metadata?match_target={}",
        enc(&format!("{{job=\"{job}\"}}"))
    ))?;
    Ok(data
        .as_array()
        .context("metadata")?
        .iter()
        .map(|m| format!("{} {} {} {}", m["metric"], m["type"], m["help"], m["unit"]))
        .collect())
}

/// The active targets as both show them: pool, URL, health, labels, discovered labels.
fn targets(base: &str) -> anyhow::Result<BTreeSet<String>> {
    Ok(active_targets(base)?
        .iter()
        .map(|t| {
            format!(
                "{} {} {} {} {}",
                t["scrapePool"], t["scrapeUrl"], t["health"], t["labels"], t["discoveredLabels"]
            )
        })
        .collect())
}

/// What Prometheus sends out of `sets` (remote write, federation): its stored series with
/// its external labels added where a series has none of that name. Pyrite stores that.
fn sent_out(sets: BTreeSet<String>, external: &[(&str, &str)]) -> anyhow::Result<BTreeSet<String>> {
    sets.into_iter()
        .map(|s| {
            let mut m: serde_json::Map<String, Value> = serde_json::from_str(&s)?;
            for (n, v) in external {
                m.entry(n.to_string()).or_insert_with(|| Value::from(*v));
            }
            Ok(Value::Object(m).to_string())
        })
        .collect()
}

/// node_exporter's collectors the targets run.
const COLLECTORS: &[&str] = &["cpu", "meminfo", "loadavg", "uname"];

#[test]
fn the_same_scrape_configs_store_what_prometheus_stores() -> anyhow::Result<()> {
    require("prometheus")?;
    require("prometheus-node-exporter")?;
    let ip = Ipv4Addr::new(127, 0, 0, 201);
    let tmp = tempfile::tempdir()?;
    let (_ne, ne) = node_exporter(ip, tmp.path(), COLLECTORS)?;
    let prom_port = free_port(ip);
    let config = format!(
        r#"
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels: {{replica: a}}
rule_files: []
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["{ne}"]
        labels: {{env: test}}
    relabel_configs:
      - source_labels: [__address__]
        regex: '([^:]+):.*'
        target_label: host
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
  - job_name: prometheus
    metrics_path: /metrics
    static_configs: [{{targets: ["{ip}:{prom_port}"]}}]
"#
    );
    let cfg_path = tmp.path().join("prometheus.yml");
    std::fs::write(&cfg_path, &config)?;
    let _prometheus = prometheus(ip, prom_port, &cfg_path, tmp.path())?;
    let prom = format!("http://{ip}:{prom_port}");
    let pyrite = Pyrite::start(
        ip,
        &tmp.path().join("data"),
        &[&format!("--scrape.config-file={}", cfg_path.display())],
    )?;
    let py = pyrite.url("");

    for (who, base) in [("Prometheus", &prom), ("Pyrite", &py)] {
        wait_until(
            &format!("{who} to scrape both targets up"),
            Duration::from_secs(60),
            || Ok((label_sets(base, "up == 1")?.len() == 2).then_some(())),
        )?;
    }
    // Prometheus keeps its external labels out of its own storage and adds them to what
    // it sends; Pyrite is where such series are sent, so it stores them with the labels.
    let external = [("replica", "a")];
    let prom_sets = |q: &str| sent_out(label_sets(&prom, q)?, &external);
    assert_eq!(label_sets(&py, "up")?, prom_sets("up")?);
    // The same targets, labeled and discovered alike.
    assert_eq!(targets(&py)?, targets(&prom)?);

    // The node job's series, label for label: target labels, relabeled host, the static
    // config's env, and no go_* series.
    let node = wait_until("the node job's series to agree", Duration::from_secs(30), || {
        let (a, b) = (label_sets(&py, r#"{job="node"}"#)?, prom_sets(r#"{job="node"}"#)?);
        Ok((a == b).then_some(a))
    })?;
    assert!(node.len() > 20, "{node:?}");
    assert!(node.iter().all(|s| s.contains(&format!("\"host\":\"{ip}\""))
        && s.contains("\"env\":\"test\"")
        && s.contains("\"replica\":\"a\"")));
    assert!(!node.iter().any(|s| s.contains("\"__name__\":\"go_")));
    // The synthetic series of every scrape.
    for name in [
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        assert_eq!(label_sets(&py, name)?, prom_sets(name)?, "{name}");
    }
    let post: f64 = api_get(&format!(
        "{py}/api/v1/query?query={}",
        enc(r#"scrape_samples_post_metric_relabeling{job="node"}"#)
    ))?["result"][0]["value"][1]
        .as_str()
        .context("value")?
        .parse()?;
    // Every series the node job stores but the five synthetic ones.
    assert_eq!(post as usize, node.len() - 5);

    // Prometheus's own metrics come and go as it is queried; the metric names settle.
    let names = |base: &str| -> anyhow::Result<BTreeSet<String>> {
        label_sets(base, r#"group by (__name__) ({job="prometheus"})"#)
    };
    wait_until(
        "the prometheus job's metric names to agree",
        Duration::from_secs(30),
        || Ok((names(&py)? == names(&prom)?).then_some(())),
    )?;

    // Metadata: TYPE, HELP and UNIT per metric, per target.
    assert_eq!(metadata(&py, "node")?, metadata(&prom, "node")?);
    // And every family's, as `/api/v1/metadata` lists it: Pyrite's from its shards.
    let families = wait_until("/api/v1/metadata to agree", Duration::from_secs(30), || {
        let (a, b) = (metadata_families(&py)?, metadata_families(&prom)?);
        if a == b {
            return Ok(Some(a));
        }
        anyhow::bail!(
            "only Pyrite lists {:?}; only Prometheus lists {:?}",
            a.difference(&b).take(5).collect::<Vec<_>>(),
            b.difference(&a).take(5).collect::<Vec<_>>()
        )
    })?;
    assert!(families.iter().any(|f| f.starts_with("node_load1 ")), "{families:?}");
    assert!(families
        .iter()
        .any(|f| f.starts_with("prometheus_http_requests_total ")));
    let pools = api_get(&format!("{py}/api/v1/scrape_pools"))?;
    assert_eq!(pools["scrapePools"], serde_json::json!(["node", "prometheus"]));
    Ok(())
}

fn reload(p: &Pyrite) -> anyhow::Result<(u16, String)> {
    let r = reqwest::blocking::Client::new().post(p.url("/-/reload")).send()?;
    Ok((r.status().as_u16(), r.text()?))
}

fn active(p: &Pyrite) -> anyhow::Result<Vec<Value>> {
    let data = api_get(&p.url("/api/v1/targets"))?;
    Ok(data["activeTargets"].as_array().cloned().unwrap_or_default())
}

#[test]
fn file_sd_changes_and_reloads_move_targets_and_broken_files_change_nothing() -> anyhow::Result<()> {
    require("prometheus-node-exporter")?;
    let ip = Ipv4Addr::new(127, 0, 0, 202);
    let tmp = tempfile::tempdir()?;
    let (_a, a) = node_exporter(ip, tmp.path(), COLLECTORS)?;
    let (_b, b) = node_exporter(ip, tmp.path(), COLLECTORS)?;
    let sd = tmp.path().join("targets.json");
    std::fs::write(&sd, format!(r#"[{{"targets": ["{a}"], "labels": {{"team": "x"}}}}]"#))?;
    let cfg_path = tmp.path().join("scrape.yml");
    let config = "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n  - job_name: fsd\n    file_sd_configs: [{files: [targets.json]}]\n";
    std::fs::write(&cfg_path, config)?;
    // With the flag the operations guide shows for dns_sd_configs, as written.
    let pyrite = Pyrite::start(
        ip,
        &tmp.path().join("data"),
        &[
            &format!("--scrape.config-file={}", cfg_path.display()),
            "--scrape.dns-resolver=127.0.0.1:53",
        ],
    )?;
    let py = pyrite.url("");
    let up = |instance: &str| -> anyhow::Result<usize> {
        Ok(label_sets(&py, &format!("up{{instance=\"{instance}\"}} == 1"))?.len())
    };

    wait_until("the file's target to be up", Duration::from_secs(30), || {
        Ok((up(&a)? == 1).then_some(()))
    })?;
    let t = active(&pyrite)?;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["labels"]["team"], "x");
    assert_eq!(t[0]["discoveredLabels"]["__meta_filepath"], sd.display().to_string());
    // The targets page lists the job and its endpoint.
    let page = reqwest::blocking::get(pyrite.url("/targets"))?;
    assert!(page.status().is_success());
    let page = page.text()?;
    assert!(
        page.contains("fsd (1/1 up)") && page.contains(&format!("http://{a}/metrics")),
        "{page}"
    );

    // Rewritten: b joins, a leaves. a's series are marked stale and vanish from instant
    // queries at once, not after the five-minute lookback.
    std::fs::write(&sd, format!(r#"[{{"targets": ["{b}"], "labels": {{"team": "y"}}}}]"#))?;
    wait_until("b to be up and a's series stale", Duration::from_secs(30), || {
        Ok((up(&b)? == 1 && label_sets(&py, &format!("{{instance=\"{a}\"}}"))?.is_empty()).then_some(()))
    })?;
    assert_eq!(active(&pyrite)?.len(), 1);

    // A broken file is refused at its line; what runs stays.
    std::fs::write(&cfg_path, format!("{config}    scrape_intervl: 5s\n"))?;
    let (status, body) = reload(&pyrite)?;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("line 5") && body.contains("scrape_intervl"), "{body}");
    let before = api_get(&pyrite.url("/api/v1/targets"))?["activeTargets"][0]["lastScrape"].clone();
    wait_until("b to go on being scraped", Duration::from_secs(10), || {
        let now = api_get(&pyrite.url("/api/v1/targets"))?["activeTargets"][0]["lastScrape"].clone();
        Ok((now != before).then_some(()))
    })?;

    // A good file: a second job, by POST /-/reload.
    let two = format!("{config}  - job_name: static\n    static_configs: [{{targets: ['{a}']}}]\n");
    std::fs::write(&cfg_path, &two)?;
    let (status, body) = reload(&pyrite)?;
    assert_eq!((status, body.as_str()), (200, ""));
    wait_until("the new job's target to be up", Duration::from_secs(30), || {
        Ok((label_sets(&py, r#"up{job="static"} == 1"#)?.len() == 1).then_some(()))
    })?;

    // And by SIGHUP: the static job goes, and its series are marked stale.
    std::fs::write(&cfg_path, config)?;
    let pid = pyrite.peer.pid().context("pid")?;
    assert!(Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()?
        .success());
    wait_until("the static job to be gone", Duration::from_secs(30), || {
        Ok((label_sets(&py, r#"{job="static"}"#)?.is_empty()).then_some(()))
    })?;
    let pools = api_get(&pyrite.url("/api/v1/scrape_pools"))?;
    assert_eq!(pools["scrapePools"], serde_json::json!(["fsd"]));
    Ok(())
}
