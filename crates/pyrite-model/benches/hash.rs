//! Series hashing: placement on the ring and head lookup hash every incoming series.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pyrite_model::Labels;

fn bench(c: &mut Criterion) {
    let labels = Labels::from_pairs(&[
        ("__name__", "node_cpu_seconds_total"),
        ("cpu", "7"),
        ("instance", "host-123.example.internal:9100"),
        ("job", "node"),
        ("mode", "iowait"),
    ]);
    let mut g = c.benchmark_group("labels");
    g.throughput(Throughput::Elements(1));
    g.bench_function("stable_hash", |b| {
        b.iter(|| std::hint::black_box(&labels).stable_hash())
    });
    g.bench_function("series_hash", |b| {
        b.iter(|| std::hint::black_box(&labels).series_hash("tenant-a"))
    });
    g.bench_function("clone", |b| b.iter(|| std::hint::black_box(&labels).clone()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
