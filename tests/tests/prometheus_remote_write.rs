//! An unchanged Prometheus 2.42 scrapes a real node_exporter and Pyrite's own
//! `/metrics`, remote-writes to Pyrite, and what Pyrite answers matches, sample for
//! sample, what Prometheus stored itself; the metric metadata it sends is what its own
//! `/api/v1/metadata` lists.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use pyrite_cluster_tests::http::{api_get, enc, matrix_samples, metadata_families};
use pyrite_cluster_tests::{free_port, prometheus, require, wait_until, Peer, Pyrite};

#[test]
fn prometheus_remote_writes_and_reads_back() -> anyhow::Result<()> {
    require("prometheus")?;
    require("prometheus-node-exporter")?;
    let ip = Ipv4Addr::new(127, 0, 0, 21);
    let tmp = tempfile::tempdir()?;
    let pyrite = Pyrite::start(ip, &tmp.path().join("data"), &[])?;

    let ne_port = free_port(ip);
    let _node_exporter = Peer::spawn(
        "node-exporter",
        Command::new("prometheus-node-exporter").arg(format!("--web.listen-address={ip}:{ne_port}")),
        tmp.path(),
    )?;

    let prom_port = free_port(ip);
    let config = format!(
        r#"
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ["{ip}:{ne_port}"]}}]
  - job_name: pyrite
    static_configs: [{{targets: ["{ip}:{py_port}"]}}]
remote_write:
  - url: http://{ip}:{py_port}/api/v1/push
    queue_config: {{batch_send_deadline: 1s, max_shards: 2}}
    metadata_config: {{send_interval: 1s}}
"#,
        py_port = pyrite.http_port
    );
    let cfg_path = tmp.path().join("prometheus.yml");
    std::fs::write(&cfg_path, config)?;
    let _prometheus = prometheus(ip, prom_port, &cfg_path, tmp.path())?;
    let prom = |path: &str| format!("http://{ip}:{prom_port}{path}");

    // Both jobs' `up` series arrive through remote write.
    wait_until("up{job=~\"node|pyrite\"} in Pyrite", Duration::from_secs(90), || {
        let data = api_get(&pyrite.url(&format!("/api/v1/query?query={}", enc("up"))))?;
        let n = data["result"].as_array().map_or(0, |r| r.len());
        Ok((n == 2).then_some(()))
    })?;

    // The series API knows the node_exporter series with their target labels.
    let series = api_get(&pyrite.url(&format!("/api/v1/series?match[]={}", enc("node_cpu_seconds_total"))))?;
    let list = series.as_array().context("series list")?;
    assert!(!list.is_empty(), "node_cpu_seconds_total arrived");
    for s in list {
        assert_eq!(s["job"], "node");
        assert_eq!(s["instance"], format!("{ip}:{ne_port}"));
        assert!(s["mode"].is_string());
    }
    let names = api_get(&pyrite.url("/api/v1/label/__name__/values"))?;
    let names: Vec<&str> = names
        .as_array()
        .context("names")?
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(names.contains(&"node_memory_MemAvailable_bytes"));
    assert!(
        names.iter().any(|n| n.starts_with("pyrite_")),
        "Pyrite's own metrics were scraped: {names:?}"
    );

    // Sample for sample: a 20 s window that both have fully received matches exactly.
    let selectors = [
        "up",
        r#"node_cpu_seconds_total{mode="idle"}"#,
        "node_memory_MemAvailable_bytes",
        "process_resident_memory_bytes",
    ];
    // Let Prometheus scrape for a while so the compared windows are well filled and lie
    // after every compared series began (a window holding a counter's first sample is
    // extrapolated differently by Prometheus 2 and 3).
    wait_until(
        "Prometheus to hold 15 scrapes of both jobs",
        Duration::from_secs(60),
        || {
            let data = api_get(&prom(&format!(
                "/api/v1/query?query={}",
                enc("count_over_time(up[20s]) >= 15")
            )))?;
            let n = data["result"].as_array().map_or(0, |r| r.len());
            Ok((n == 2).then_some(()))
        },
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    let at = clear_of_samples(
        &prom(&format!("/api/v1/query?query={}&time={now}", enc("up[20s]"))),
        now - 2.0,
    )?;
    for sel in selectors {
        let q = enc(&format!("{sel}[20s]"));
        let want_url = prom(&format!("/api/v1/query?query={q}&time={at:.3}"));
        let got_url = pyrite.url(&format!("/api/v1/query?query={q}&time={at:.3}"));
        let want = matrix_samples(&api_get(&want_url)?)?;
        assert!(!want.is_empty(), "Prometheus has {sel}");
        // Remote write lags the local TSDB by up to a batch deadline; wait for it.
        let got = wait_until(&format!("{sel} to match Prometheus"), Duration::from_secs(30), || {
            let got = matrix_samples(&api_get(&got_url)?)?;
            Ok((got == want).then_some(got))
        })?;
        assert_eq!(got, want, "{sel}");
    }

    // The same data gives the same PromQL answers. Pyrite follows Prometheus 3 where it
    // differs from this Prometheus 2.42, so the queries avoid those cases: scrape
    // timestamps carry milliseconds, so no sample sits exactly on a window edge (closed
    // ranges in 2, left-open in 3), and windows are short enough to hold no counter's
    // first sample (extrapolation towards zero changed order in 3).
    let queries = [
        r#"rate(node_cpu_seconds_total{mode="idle"}[5s])"#,
        "sum by (mode) (increase(node_cpu_seconds_total[5s]))",
        "avg_over_time(node_memory_MemAvailable_bytes[10s]) / 1024",
        "topk(3, node_network_receive_bytes_total)",
        "count by (job) (up)",
        r#"histogram_quantile(0.9, sum by (le) (rate(pyrite_request_duration_seconds_bucket{route="/api/v1/push"}[5s])))"#,
        r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
        "deriv(process_resident_memory_bytes[5s])",
        "quantile_over_time(0.5, scrape_duration_seconds[5s])",
    ];
    for q in queries {
        let path = format!("/api/v1/query?query={}&time={at:.3}", enc(q));
        let want = vector_samples(&api_get(&prom(&path))?)?;
        assert!(!want.is_empty(), "Prometheus answers {q}");
        // Remote write may still be delivering the newest samples; wait for equality.
        wait_until(&format!("{q} to match Prometheus"), Duration::from_secs(30), || {
            let got = vector_samples(&api_get(&pyrite.url(&path))?)?;
            if got.len() != want.len() {
                anyhow::bail!("{} series, Prometheus has {}", got.len(), want.len());
            }
            for ((gl, gv), (wl, wv)) in got.iter().zip(&want) {
                let same = (gv.is_nan() && wv.is_nan()) || (gv - wv).abs() <= 1e-9 * wv.abs().max(1.0);
                if gl != wl || !same {
                    anyhow::bail!("{gl}: Pyrite {gv}, Prometheus {wl} {wv}");
                }
            }
            Ok(Some(()))
        })?;
    }

    // Metric metadata, sent every second beside the samples, by family.
    let want = metadata_families(&prom(""))?;
    assert!(
        want.iter().any(|f| f.starts_with("node_cpu_seconds_total \"counter\"")),
        "{want:?}"
    );
    wait_until(
        "Pyrite's metadata to match Prometheus's",
        Duration::from_secs(30),
        || {
            let got = metadata_families(&pyrite.url(""))?;
            if got == want {
                return Ok(Some(()));
            }
            anyhow::bail!(
                "only Pyrite lists {:?}; only Prometheus lists {:?}",
                got.difference(&want).take(5).collect::<Vec<_>>(),
                want.difference(&got).take(5).collect::<Vec<_>>()
            )
        },
    )?;
    Ok(())
}

/// An evaluation time about `near` at which no window of whole seconds (`[5s]`,
/// `[20s]`…) has a scrape exactly on its edge: Prometheus 2.42 closes a range on the
/// left and Pyrite, as Prometheus 3, leaves it open, so only such a time makes them
/// agree. Both jobs are scraped every second, each at a fixed point of the second (its
/// scrape offset, with Prometheus's 2 ms alignment), read off `up`'s samples at `url`;
/// the time chosen is the point of the second farthest from all of them.
fn clear_of_samples(url: &str, near: f64) -> anyhow::Result<f64> {
    let residues: Vec<i64> = matrix_samples(&api_get(url)?)?
        .iter()
        .flat_map(|(_, points)| {
            points
                .iter()
                .map(|(t, _)| ((t * 1000.0).round() as i64).rem_euclid(1000))
        })
        .collect();
    anyhow::ensure!(!residues.is_empty(), "no samples of up at {url}");
    let distance = |m: i64| {
        residues
            .iter()
            .map(|r| {
                let d = (m - r).rem_euclid(1000);
                d.min(1000 - d)
            })
            .min()
            .unwrap_or(1000)
    };
    let best = (0..1000).max_by_key(|m| distance(*m)).unwrap_or(500);
    Ok(near.floor() + best as f64 / 1000.0)
}

/// An instant vector's samples by label set (as JSON text), sorted.
fn vector_samples(data: &serde_json::Value) -> anyhow::Result<Vec<(String, f64)>> {
    anyhow::ensure!(data["resultType"] == "vector", "expected a vector, got {data}");
    let mut out = Vec::new();
    for s in data["result"].as_array().context("result")? {
        let v: f64 = s["value"][1].as_str().context("value")?.parse()?;
        out.push((s["metric"].to_string(), v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
