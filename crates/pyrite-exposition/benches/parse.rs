//! Parsing a node-exporter-sized scrape body: lines and samples per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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

criterion_group!(benches, parse);
criterion_main!(benches);
