//! Postings: matcher selection over 100k series in the head, from a selective equality
//! intersection to a broad negative regex.

use criterion::{criterion_group, criterion_main, Criterion};
use pyrite_model::{Labels, MatchOp, Matcher, Sample, TimeSeries};
use pyrite_storage::SelectHints;
use pyrite_tsdb::{Head, HeadOptions};

fn head() -> Head {
    let head = Head::new(HeadOptions::default());
    let modes = ["user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"];
    let mut batch = Vec::new();
    for host in 0..1563 {
        for cpu in 0..8 {
            for mode in modes {
                batch.push(TimeSeries {
                    labels: Labels::from_pairs(&[
                        ("__name__", "node_cpu_seconds_total"),
                        ("instance", &format!("host-{host}:9100")),
                        ("job", "node"),
                        ("cpu", &cpu.to_string()),
                        ("mode", mode),
                    ]),
                    samples: vec![Sample { t: 1_000, v: 1.0 }],
                    histograms: Vec::new(),
                });
            }
        }
    }
    head.apply("t", &batch);
    head
}

fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
    Matcher::new(op, n, v).unwrap()
}

fn bench(c: &mut Criterion) {
    let head = head();
    let cases = [
        (
            "eq_intersection_1_series",
            vec![
                m(MatchOp::Equal, "instance", "host-42:9100"),
                m(MatchOp::Equal, "cpu", "3"),
                m(MatchOp::Equal, "mode", "idle"),
            ],
        ),
        (
            "eq_8k_series",
            vec![
                m(MatchOp::Equal, "__name__", "node_cpu_seconds_total"),
                m(MatchOp::Equal, "cpu", "3"),
            ],
        ),
        (
            "regex_alternation",
            vec![
                m(MatchOp::Equal, "__name__", "node_cpu_seconds_total"),
                m(MatchOp::Regex, "instance", "host-1:9100|host-2:9100|host-3:9100"),
            ],
        ),
        (
            "regex_scan",
            vec![
                m(MatchOp::Regex, "instance", "host-1.*"),
                m(MatchOp::Equal, "mode", "user"),
            ],
        ),
        (
            "not_equal_broad",
            vec![m(MatchOp::Equal, "job", "node"), m(MatchOp::NotEqual, "mode", "idle")],
        ),
    ];
    let mut g = c.benchmark_group("postings");
    g.sample_size(20);
    for (name, ms) in cases {
        g.bench_function(name, |b| {
            b.iter(|| head.select_series("t", SelectHints::new(0, 2_000), &ms).len())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
