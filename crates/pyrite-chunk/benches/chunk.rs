use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pyrite_chunk::{Chunk, ChunkBuilder};

/// A counter scraped every 15 s with a little jitter, and a wandering gauge.
fn shapes() -> Vec<(&'static str, Vec<(i64, f64)>)> {
    let mut counter = Vec::new();
    let mut gauge = Vec::new();
    let (mut c, mut g) = (1_000_000.0f64, 512.0f64);
    let mut seed = 42u64;
    let mut rand = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..120i64 {
        let t = 1_700_000_000_000 + i * 15_000 + (rand() % 5) as i64;
        c += (rand() % 400) as f64;
        g = (g + (rand() % 21) as f64 - 10.0).max(0.0);
        counter.push((t, c));
        gauge.push((t, g * 1024.0));
    }
    vec![("counter", counter), ("gauge", gauge)]
}

fn bench(c: &mut Criterion) {
    for (name, samples) in shapes() {
        let chunk = Chunk::encode_all(&samples, 120).remove(0);
        eprintln!(
            "{name}: {:.3} bytes/sample",
            chunk.bytes().len() as f64 / samples.len() as f64
        );
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(samples.len() as u64));
        g.bench_function("encode", |b| {
            b.iter(|| {
                let mut cb = ChunkBuilder::new();
                for (t, v) in &samples {
                    cb.append(*t, *v);
                }
                cb.finish()
            })
        });
        g.bench_function("decode", |b| b.iter(|| chunk.iter().fold(0.0, |acc, (_, v)| acc + v)));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
