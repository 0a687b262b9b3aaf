//! Parsing a node-exporter-sized scrape body: lines and samples per second, in the text
//! format and, for the same series, in the protobuf format.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use pyrite_exposition::protobuf::{self, messages as pb};
use pyrite_exposition::{Entry, Parser};

/// About 1,000 series in the shapes exporters write: help and type lines, counters with
/// several labels, histogram buckets, escaped values.
fn body() -> String {
    let mut out = String::new();
    for m in 0..40 {
        out.push_str(&format!("# HELP metric_{m}_total Something counted, number {m}.\n"));
        out.push_str(&format!("# TYPE metric_{m}_total counter\n"));
        for i in 0..20 {
            out.push_str(&format!(
                "metric_{m}_total{{cpu=\"{i}\",mode=\"user\",instance=\"host-{m}.example.com:9100\"}} {}.{} \n",
                i * 1_000 + m,
                i
            ));
        }
        out.push_str(&format!("# TYPE latency_{m}_seconds histogram\n"));
        for le in ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "+Inf"] {
            out.push_str(&format!(
                "latency_{m}_seconds_bucket{{path=\"/a\\\"b\",le=\"{le}\"}} 42\n"
            ));
        }
        out.push_str(&format!(
            "latency_{m}_seconds_sum 1.5e+01\nlatency_{m}_seconds_count 42\n"
        ));
    }
    out
}

/// The same families as [`body`], as length-delimited `MetricFamily` messages.
fn protobuf_body() -> Vec<u8> {
    let pair = |name: &str, value: String| pb::LabelPair {
        name: Some(name.into()),
        value: Some(value),
    };
    let mut out = Vec::new();
    for m in 0..40 {
        let counters = (0..20)
            .map(|i| pb::Metric {
                label: vec![
                    pair("cpu", i.to_string()),
                    pair("mode", "user".into()),
                    pair("instance", format!("host-{m}.example.com:9100")),
                ],
                counter: Some(pb::Counter {
                    value: Some(format!("{}.{}", i * 1_000 + m, i).parse().expect("a float")),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let counters = pb::MetricFamily {
            name: Some(format!("metric_{m}_total")),
            help: Some(format!("Something counted, number {m}.")),
            r#type: Some(pb::MetricType::Counter as i32),
            metric: counters,
            unit: None,
        };
        let bucket = |le: f64| pb::Bucket {
            cumulative_count: Some(42),
            upper_bound: Some(le),
            ..Default::default()
        };
        let histogram = pb::MetricFamily {
            name: Some(format!("latency_{m}_seconds")),
            help: None,
            r#type: Some(pb::MetricType::Histogram as i32),
            metric: vec![pb::Metric {
                label: vec![pair("path", "/a\"b".into())],
                histogram: Some(pb::Histogram {
                    sample_count: Some(42),
                    sample_sum: Some(15.0),
                    bucket: [0.005, 0.01, 0.05, 0.1, 0.5, 1.0].into_iter().map(bucket).collect(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            unit: None,
        };
        counters.encode_length_delimited(&mut out).expect("a Vec grows");
        histogram.encode_length_delimited(&mut out).expect("a Vec grows");
    }
    out
}

fn parse_protobuf(c: &mut Criterion) {
    let body = protobuf_body();
    let samples: usize = protobuf::parse(&body)
        .expect("valid")
        .iter()
        .map(|f| f.series(false).len())
        .sum();
    let mut g = c.benchmark_group("protobuf");
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function("parse_and_read_labels", |b| {
        b.iter(|| {
            let mut labels = 0usize;
            for f in protobuf::parse(&body).expect("valid") {
                for s in f.series(false) {
                    labels += s.labels().count();
                }
            }
            labels
        })
    });
    g.finish();
}

fn parse(c: &mut Criterion) {
    let body = body();
    let samples = Parser::from_text(&body)
        .filter(|e| matches!(e, Ok(Entry::Sample(_))))
        .count();
    let mut g = c.benchmark_group("text");
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function("parse_and_read_labels", |b| {
        b.iter(|| {
            let mut labels = 0usize;
            for e in Parser::new(body.as_bytes()).expect("UTF-8") {
                if let Ok(Entry::Sample(s)) = e {
                    labels += s.labels().count();
                }
            }
            labels
        })
    });
    g.finish();
}

criterion_group!(benches, parse, parse_protobuf);
criterion_main!(benches);
