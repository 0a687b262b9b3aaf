use super::*;
use crate::config::parse;
use crate::schedule::next_slot;
use crate::target::targets;
use pyrite_discovery::{LabelSet, TargetGroup};
use pyrite_model::is_stale_nan;

fn scraper(extra: &str) -> Scraper {
    scraper_with("", extra)
}

fn scraper_with(global: &str, extra: &str) -> Scraper {
    let f = parse(&format!("{global}scrape_configs:\n  - job_name: node\n{extra}")).unwrap();
    let cfg = &f.scrape_configs[0];
    let g = TargetGroup {
        source: "0".into(),
        targets: vec![LabelSet::from([("__address__".to_string(), "h:9100".to_string())])],
        labels: LabelSet::new(),
    };
    let (t, _) = targets(cfg, &std::collections::BTreeMap::from([("0".to_string(), g)]));
    Scraper::new(cfg, &t[0])
}

fn shown(write: &KnownWrite) -> Vec<String> {
    write
        .to_series()
        .iter()
        .map(|s| {
            let v = s.samples[0].v;
            let v = if is_stale_nan(v) {
                "stale".to_string()
            } else {
                v.to_string()
            };
            format!("{} {} @{}", s.labels, v, s.samples[0].t)
        })
        .collect()
}

const TEXT: &str = "text/plain; version=0.0.4";

#[test]
fn target_labels_win_and_exposed_ones_are_kept_as_exported() {
    let mut s = scraper("");
    let out = s
        .ingest(
            b"# TYPE a counter\n# HELP a Things.\na{job=\"x\",exported_job=\"y\",k=\"v\"} 1\n",
            TEXT,
            1000,
        )
        .unwrap();
    assert_eq!(
        shown(&out.series),
        [r#"a{exported_exported_job="x", exported_job="y", instance="h:9100", job="node", k="v"} 1 @1000"#]
    );
    assert_eq!(
        s.metadata["a"],
        Metadata {
            kind: "counter",
            help: "Things.".into(),
            unit: String::new()
        }
    );

    let mut s = scraper("    honor_labels: true\n");
    let out = s.ingest(b"a{job=\"x\"} 1\n", TEXT, 1000).unwrap();
    assert_eq!(shown(&out.series), [r#"a{instance="h:9100", job="x"} 1 @1000"#]);
}

#[test]
fn external_labels_are_added_last_to_every_series_without_them() {
    let global = "global:\n  external_labels:\n    cluster: eu\n    replica: a\n";
    let mut s = scraper_with(
        global,
        "    metric_relabel_configs:\n      - {source_labels: [k], target_label: replica}\n",
    );
    let out = s.ingest(b"a{k=\"b\"} 1\nc 2\n", TEXT, 1000).unwrap();
    assert_eq!(
        shown(&out.series),
        [
            // A label the series has (here from metric relabeling) is kept.
            r#"a{cluster="eu", instance="h:9100", job="node", k="b", replica="b"} 1 @1000"#,
            r#"c{cluster="eu", instance="h:9100", job="node", replica="a"} 2 @1000"#,
        ]
    );
    let report = s.report(1000, true, StdDuration::ZERO, &out);
    assert!(
        shown(&report)[0].starts_with(r#"up{cluster="eu", instance="h:9100", job="node", replica="a"} 1"#),
        "{:?}",
        shown(&report)
    );
}

#[test]
fn vanished_series_get_one_marker_and_failed_scrapes_mark_everything() {
    let mut s = scraper("");
    let first = s.ingest(b"a 1\nb 2\n", TEXT, 1000).unwrap();
    assert_eq!((first.scraped, first.post_relabel, first.added), (2, 2, 2));
    let second = s.ingest(b"a 3\n", TEXT, 2000).unwrap();
    assert_eq!(second.added, 0);
    assert_eq!(
        shown(&second.series),
        [
            r#"a{instance="h:9100", job="node"} 3 @2000"#,
            r#"b{instance="h:9100", job="node"} stale @2000"#,
        ]
    );
    // b is gone for good: no second marker.
    assert_eq!(s.ingest(b"a 4\n", TEXT, 3000).unwrap().series.len(), 1);
    // A failed scrape marks what the last good one wrote, once.
    assert_eq!(
        shown(&s.failed(4000)),
        [r#"a{instance="h:9100", job="node"} stale @4000"#]
    );
    assert!(s.failed(5000).is_empty());
    // It comes back as a new series.
    assert_eq!(s.ingest(b"a 5\n", TEXT, 6000).unwrap().added, 1);
    // The target goes away: its series and its synthetic series are marked stale.
    let end = shown(&s.end(7000));
    assert_eq!(end.len(), 6, "{end:?}");
    assert!(end.iter().all(|l| l.ends_with("stale @7000")), "{end:?}");
    assert!(end.iter().any(|l| l.starts_with("up{")), "{end:?}");
}

#[test]
fn own_timestamps_are_honored_and_not_marked_unless_tracked() {
    let mut s = scraper("");
    let out = s.ingest(b"a 1 500\n", TEXT, 1000).unwrap();
    assert_eq!(out.series.samples[0].t, 500);
    assert!(s.ingest(b"", TEXT, 2000).unwrap().series.is_empty());

    let mut s = scraper("    track_timestamps_staleness: true\n");
    s.ingest(b"a 1 500\n", TEXT, 1000).unwrap();
    assert_eq!(s.ingest(b"", TEXT, 2000).unwrap().series.len(), 1);

    let mut s = scraper("    honor_timestamps: false\n");
    assert_eq!(s.ingest(b"a 1 500\n", TEXT, 1000).unwrap().series.samples[0].t, 1000);
}

#[test]
fn limits_fail_the_whole_scrape_and_change_nothing() {
    let mut s = scraper("    sample_limit: 2\n");
    s.ingest(b"a 1\nb 1\n", TEXT, 1000).unwrap();
    assert_eq!(
        s.ingest(b"a 1\nb 1\nc 1\n", TEXT, 2000).unwrap_err(),
        ScrapeError::SampleLimit
    );
    // The failed scrape left the cache as the last good scrape wrote it.
    assert_eq!(s.failed(2000).len(), 2);

    let mut s = scraper("    label_limit: 3\n");
    let e = s.ingest(b"a{x=\"1\",y=\"2\"} 1\n", TEXT, 1000).unwrap_err();
    assert_eq!(
        e.to_string(),
        "label_limit exceeded (metric: a, number of labels: 5, limit: 3)"
    );
    let mut s = scraper("    label_value_length_limit: 3\n");
    assert!(matches!(
        s.ingest(b"a{x=\"long\"} 1\n", TEXT, 1000),
        Err(ScrapeError::LabelLimit(_))
    ));
}

#[test]
fn metric_relabeling_drops_and_rewrites_once_per_series() {
    let mut s = scraper(
        "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: 'go_.*'\n        action: drop\n      - target_label: env\n        replacement: prod\n",
    );
    let out = s.ingest(b"go_goroutines 7\nup_time 1\n", TEXT, 1000).unwrap();
    assert_eq!((out.scraped, out.post_relabel, out.added), (2, 1, 1));
    assert_eq!(
        shown(&out.series),
        [r#"up_time{env="prod", instance="h:9100", job="node"} 1 @1000"#]
    );
    let report = s.report(1000, true, StdDuration::from_millis(1500), &out);
    assert_eq!(
        shown(&report),
        [
            r#"up{instance="h:9100", job="node"} 1 @1000"#,
            r#"scrape_duration_seconds{instance="h:9100", job="node"} 1.5 @1000"#,
            r#"scrape_samples_scraped{instance="h:9100", job="node"} 2 @1000"#,
            r#"scrape_samples_post_metric_relabeling{instance="h:9100", job="node"} 1 @1000"#,
            r#"scrape_series_added{instance="h:9100", job="node"} 1 @1000"#,
        ]
    );
}

#[test]
fn openmetrics_bodies_are_read_with_their_units() {
    let mut s = scraper("");
    let body = b"# TYPE t_seconds counter\n# UNIT t_seconds seconds\nt_seconds_total 1.5\n# EOF\n";
    let out = s
        .ingest(body, "application/openmetrics-text; version=1.0.0; charset=utf-8", 1000)
        .unwrap();
    assert_eq!(out.series.len(), 1);
    assert_eq!(s.metadata["t_seconds"].unit, "seconds");
    assert!(matches!(
        s.ingest(b"a 1\n", "application/openmetrics-text", 2000),
        Err(ScrapeError::Parse(_))
    ));
}

#[test]
fn slots_are_fixed_points_of_the_interval() {
    let i = StdDuration::from_secs(10);
    let o = StdDuration::from_millis(2500);
    assert_eq!(next_slot(100_000, i, o), 102_500);
    assert_eq!(next_slot(102_500, i, o), 102_500);
    assert_eq!(next_slot(102_501, i, o), 112_500);
}

#[test]
fn protobuf_bodies_give_native_histograms_and_classic_series() {
    use prost::Message;
    use pyrite_exposition::protobuf::messages as pb;
    let label = |n: &str, v: &str| pb::LabelPair {
        name: Some(n.into()),
        value: Some(v.into()),
    };
    let histogram = pb::Histogram {
        sample_count: Some(3),
        sample_sum: Some(4.5),
        schema: Some(0),
        zero_threshold: Some(1e-128),
        zero_count: Some(1),
        positive_span: vec![pb::BucketSpan {
            offset: Some(0),
            length: Some(2),
        }],
        positive_delta: vec![1, 0],
        bucket: vec![pb::Bucket {
            cumulative_count: Some(2),
            upper_bound: Some(1.0),
            ..Default::default()
        }],
        ..Default::default()
    };
    let families = [
        pb::MetricFamily {
            name: Some("rpc_seconds".into()),
            help: Some("RPC latency.".into()),
            r#type: Some(pb::MetricType::Histogram as i32),
            metric: vec![pb::Metric {
                label: vec![label("rpc", "get")],
                histogram: Some(histogram),
                ..Default::default()
            }],
            ..Default::default()
        },
        pb::MetricFamily {
            name: Some("temp".into()),
            r#type: Some(pb::MetricType::Gauge as i32),
            metric: vec![pb::Metric {
                gauge: Some(pb::Gauge { value: Some(21.5) }),
                ..Default::default()
            }],
            ..Default::default()
        },
    ];
    let mut body = Vec::new();
    for f in &families {
        f.encode_length_delimited(&mut body).unwrap();
    }
    let ct = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

    let mut s = scraper("");
    let out = s.ingest(&body, ct, 1000).unwrap();
    assert_eq!((out.scraped, out.post_relabel, out.added), (2, 2, 2));
    let series = out.series.to_series();
    let h = series.iter().find(|s| s.labels.metric_name() == "rpc_seconds").unwrap();
    assert_eq!(
        h.labels.to_string(),
        r#"rpc_seconds{instance="h:9100", job="node", rpc="get"}"#
    );
    let (t, fh) = &h.histograms[0];
    assert_eq!((*t, fh.count, fh.sum, fh.zero_count), (1000, 3.0, 4.5, 1.0));
    assert_eq!(fh.positive_buckets, vec![1.0, 1.0]);
    assert_eq!(s.metadata["rpc_seconds"].kind, "histogram");
    assert_eq!(s.metadata["rpc_seconds"].help, "RPC latency.");
    // Gone from the next body: one marker each.
    let next = s.ingest(&[], ct, 2000).unwrap();
    assert_eq!(next.series.len(), 2);
    assert!(next.series.to_series().iter().all(|s| is_stale_nan(s.samples[0].v)));

    // With scrape_classic_histograms the classic form comes too.
    let mut s = scraper("    scrape_classic_histograms: true\n");
    let names: Vec<String> = s
        .ingest(&body, ct, 1000)
        .unwrap()
        .series
        .samples
        .iter()
        .map(|s| s.series.labels().to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("rpc_seconds_bucket{") && n.contains(r#"le="+Inf""#)),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("rpc_seconds_count{")), "{names:?}");
}

#[test]
fn series_and_metadata_are_built_once_and_kept_while_unchanged() {
    let mut s = scraper("");
    let body = b"# HELP a A.\n# TYPE a counter\na 1\n";
    let first = s.ingest(body, TEXT, 1000).unwrap();
    let report = s.report(1000, true, StdDuration::ZERO, &first);
    let metadata = s.metadata.clone();
    let second = s.ingest(b"# HELP a A.\n# TYPE a counter\na 2\n", TEXT, 2000).unwrap();
    assert!(Arc::ptr_eq(
        &first.series.samples[0].series,
        &second.series.samples[0].series
    ));
    let again = s.report(2000, true, StdDuration::ZERO, &second);
    for (a, b) in report.samples.iter().zip(&again.samples) {
        assert!(Arc::ptr_eq(&a.series, &b.series));
    }
    assert!(Arc::ptr_eq(&metadata, &s.metadata), "the same lines keep the map");
    s.ingest(b"# HELP a Another.\n# TYPE a counter\na 3\n", TEXT, 3000)
        .unwrap();
    assert_eq!(s.metadata["a"].help, "Another.");
    assert_eq!(s.metadata["a"].kind, "counter");
    s.ingest(b"a 4\n", TEXT, 4000).unwrap();
    assert!(s.metadata.is_empty());
}
