//! A body captured from Debian's `prometheus-node-exporter` 1.5.0 (collectors cpu,
//! loadavg, meminfo, uname, and its Go and process metrics), with the text body it
//! served right after: the same families, help, types and series, and the values that
//! do not move between two requests.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::{Entry, Parser};

const PROTOBUF: &[u8] = include_bytes!("../../../testdata/node_exporter.pb");
const TEXT: &str = include_str!("../../../testdata/node_exporter.txt");

/// A series' identity: its name and its labels sorted, `le` and `quantile` compared as
/// numbers (the text format writes `1`, Prometheus's protobuf parser `1.0`).
type Identity = (String, BTreeSet<(String, String)>);

fn identity<'a>(name: &str, labels: impl Iterator<Item = (&'a str, &'a str)>) -> Identity {
    let labels = labels
        .map(|(n, v)| {
            let v = match n {
                "le" | "quantile" => format!("{}", v.parse::<f64>().expect("a number")),
                _ => v.to_string(),
            };
            (n.to_string(), v)
        })
        .collect();
    (name.to_string(), labels)
}

struct Text {
    help: BTreeMap<String, String>,
    types: BTreeMap<String, MetricType>,
    series: BTreeMap<Identity, f64>,
}

fn text() -> Text {
    let mut t = Text {
        help: BTreeMap::new(),
        types: BTreeMap::new(),
        series: BTreeMap::new(),
    };
    for entry in Parser::from_text(TEXT) {
        match entry.expect("the text body parses") {
            Entry::Help { metric, text } => {
                t.help.insert(metric.into(), text.into_owned());
            }
            Entry::Type { metric, kind } => {
                t.types.insert(metric.into(), kind);
            }
            Entry::Unit { .. } => {}
            Entry::Sample(s) => {
                let labels: Vec<(&str, String)> = s.labels().map(|(n, v)| (n, v.into_owned())).collect();
                let id = identity(s.name, labels.iter().map(|(n, v)| (*n, v.as_str())));
                t.series.insert(id, s.value);
            }
        }
    }
    t
}

#[test]
fn a_captured_node_exporter_body_matches_its_text_form() {
    let families = parse(PROTOBUF).expect("the captured body parses");
    let text = text();
    assert_eq!(families.len(), 100);
    assert_eq!(families.len(), text.types.len());
    let mut series = BTreeMap::new();
    for f in &families {
        assert_eq!(text.types.get(&f.name), Some(&f.metric_type), "{}", f.name);
        assert_eq!(text.help.get(&f.name), Some(&f.help), "{}", f.name);
        for s in f.series(false) {
            let SeriesValue::Float(v) = s.value else {
                panic!("node_exporter sends no native histograms")
            };
            series.insert(identity(&s.name, s.labels()), v);
        }
    }
    assert_eq!(series.len(), 133);
    assert_eq!(
        series.keys().collect::<Vec<_>>(),
        text.series.keys().collect::<Vec<_>>()
    );

    // Values that hold still between the two requests.
    let value = |name: &str, labels: &[(&str, &str)]| {
        let id = identity(name, labels.iter().copied());
        (series[&id], text.series[&id])
    };
    let (pb, txt) = value("node_memory_MemTotal_bytes", &[]);
    assert_eq!(pb, txt);
    assert!(pb > 0.0);
    assert_eq!(value("go_info", &[("version", "go1.19.8")]), (1.0, 1.0));
    let (pb, txt) = value("go_gc_duration_seconds", &[("quantile", "0.5")]);
    assert_eq!(pb, txt);
    let cpus = |s: &BTreeMap<Identity, f64>| {
        s.keys()
            .filter(|(n, l)| n == "node_cpu_seconds_total" && l.contains(&("mode".into(), "idle".into())))
            .count()
    };
    assert_eq!(cpus(&series), cpus(&text.series));
    assert!(cpus(&series) > 0);

    // The summary's quantiles as Prometheus labels them.
    let gc = families
        .iter()
        .find(|f| f.name == "go_gc_duration_seconds")
        .expect("the Go GC summary");
    let quantiles: Vec<String> = gc
        .series(false)
        .iter()
        .filter_map(|s| s.extra_label.as_ref().map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(quantiles, ["0.0", "0.25", "0.5", "0.75", "1.0"]);
}
