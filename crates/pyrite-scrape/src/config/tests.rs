use super::*;

const PROMETHEUS_YML: &str = r#"
# A prometheus.yml as users write them.
global:
  scrape_interval: 15s
  evaluation_interval: 15s
  external_labels:
    monitor: codelab

rule_files:
  - rules.yml

alerting:
  alertmanagers:
    - static_configs:
        - targets: ['localhost:9093']

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:9090']
  - job_name: "node"
    scrape_interval: 5s
    tenant: team-a
    metrics_path: /metrics
    params:
      collect[]: [cpu, meminfo]
    basic_auth:
      username: u
      password: p
    relabel_configs:
      - source_labels: [__address__]
        target_label: host
    file_sd_configs:
      - files: ['targets/*.json']
  - job_name: everywhere
    dns_sd_configs: [{names: [_node._tcp.example.org]}]
    http_sd_configs: [{url: http://sd.example.org/targets}]
    consul_sd_configs: [{server: consul:8500, services: [web]}]
    kubernetes_sd_configs: [{role: pod, api_server: https://k8s:6443, namespaces: {names: [default]}}]
"#;

#[test]
fn a_prometheus_file_reads_with_its_defaults() {
    let f = parse(PROMETHEUS_YML).unwrap();
    assert_eq!(f.ignored, vec!["rule_files", "alerting"]);
    assert_eq!(f.global.scrape_interval.to_string(), "15s");
    assert_eq!(f.global.scrape_timeout.to_string(), "10s");
    assert_eq!(f.global.external_labels["monitor"], "codelab");
    let p = &f.scrape_configs[0];
    assert_eq!(
        (p.tenant.as_str(), p.scrape_interval.to_string()),
        ("anonymous", "15s".to_string())
    );
    assert_eq!((p.metrics_path.as_str(), p.scheme.as_str()), ("/metrics", "http"));
    assert!(p.honor_timestamps && !p.honor_labels && p.enable_compression);
    let n = &f.scrape_configs[1];
    assert_eq!(n.tenant, "team-a");
    // The timeout is the global one unless that is longer than the job's interval.
    assert_eq!(n.scrape_timeout.to_string(), "5s");
    assert_eq!(n.params["collect[]"], vec!["cpu", "meminfo"]);
    assert_eq!(n.http.basic_auth.as_ref().unwrap().username, "u");
    assert_eq!(n.relabel_configs.len(), 1);
    assert_eq!(n.file_sd_configs[0].files, vec!["targets/*.json"]);
    let e = &f.scrape_configs[2];
    assert_eq!(
        (
            e.dns_sd_configs.len(),
            e.http_sd_configs.len(),
            e.consul_sd_configs.len(),
            e.kubernetes_sd_configs.len()
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn broken_files_are_refused_at_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "scrape_configs:\n  - job_name: a\n    scrape_intervl: 5s\n",
            3,
            "scrape_intervl",
        ),
        ("global:\n  scrape_interval: 5x\n", 2, "valid duration"),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
            3,
            "scrape timeout greater than scrape interval for scrape config with job name \"b\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
            2,
            "found multiple scrape configs with job name \"a\"",
        ),
        (
            "scrape_configs:\n- job_name: x\n  relabel_configs:\n  - action: hashmod\n    target_label: t\n",
            4,
            "modulus",
        ),
        ("nonsense: 1\n", 1, "nonsense"),
        (
            "scrape_configs:\n  - job_name: s\n    scheme: ftp\n",
            2,
            "invalid scheme",
        ),
        ("scrape_configs:\n  - static_configs: []\n", 1, "job_name is empty"),
        (
            "scrape_configs:\n  - job_name: a\n    body_size_limit: 10XB\n",
            3,
            "unknown unit",
        ),
    ];
    for (text, line, message) in cases {
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, Some(*line), "{text}: {e}");
        assert!(e.message.contains(message), "{text}: {e}");
    }
}

#[test]
fn limits_come_from_global_unless_the_job_sets_them() {
    let f = parse(
        "global:\n  sample_limit: 100\n  body_size_limit: 10MB\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    sample_limit: 5\n    body_size_limit: 512\n",
    )
    .unwrap();
    assert_eq!(f.scrape_configs[0].limits.sample_limit, 100);
    assert_eq!(f.scrape_configs[0].limits.body_size_limit, 10 << 20);
    assert_eq!(f.scrape_configs[1].limits.sample_limit, 5);
    assert_eq!(f.scrape_configs[1].limits.body_size_limit, 512);
}

#[test]
fn the_accept_header_weighs_protocols_in_order() {
    let f = parse("scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusProto, PrometheusText0.0.4]\n")
        .unwrap();
    assert_eq!(
        f.scrape_configs[0].accept_header(),
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,\
         text/plain;version=0.0.4;q=0.5,*/*;q=0.4"
    );
}

#[test]
fn secrets_are_not_printed() {
    let f = parse(PROMETHEUS_YML).unwrap();
    let shown = serde_json::to_string(&f).unwrap();
    assert!(!shown.contains("\"p\""), "{shown}");
    assert!(shown.contains("\"username\":\"u\""), "{shown}");
}
