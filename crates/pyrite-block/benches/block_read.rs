//! Reading a Parquet block from a local-filesystem bucket: opening it (footer, page
//! index, every column but the chunks), a selective select by equality matchers, and a
//! broad one, on the block `pyrite-bench blocks` measures (`bench_data.rs`). Broad
//! selects also run on the same block written with XOR chunks only, which shows what
//! turning integer chunks back into XOR chunks costs a read.

mod bench_data;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use pyrite_block::meta::FORMAT_VERSION;
use pyrite_block::{bucket, cut_block_id, encode, BlockMeta, BlockReader, BlockStats, Compaction, WriteOptions};
use pyrite_model::Matcher;
use pyrite_storage::Series;

use bench_data::{RANGE_MS, START_MS};

fn samples(series: &[Series]) -> u64 {
    series.iter().map(|s| s.num_samples() as u64).sum()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("bucket"));
    let data = bench_data::first_block(100);
    let mut metas = Vec::new();
    for (shard, integer_chunks) in [(0, true), (1, false)] {
        let opts = WriteOptions {
            integer_chunks,
            ..Default::default()
        };
        let meta = BlockMeta {
            ulid: cut_block_id("bench", shard, START_MS, START_MS + RANGE_MS),
            version: FORMAT_VERSION,
            tenant: "bench".into(),
            min_time: START_MS,
            max_time: START_MS + RANGE_MS,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![],
            },
            shards: vec![shard],
            files: vec![],
        };
        let encoded = encode(data.clone(), &opts).expect("encode");
        metas.push(
            rt.block_on(bucket::upload(store.as_ref(), meta, encoded))
                .expect("upload"),
        );
    }
    let open = |m: &BlockMeta| rt.block_on(BlockReader::open(store.clone(), m.clone())).expect("open");
    let (block, xor_block) = (open(&metas[0]), open(&metas[1]));

    let one = [
        Matcher::equal("__name__", "node_memory_MemAvailable_bytes"),
        Matcher::equal("instance", "host-1:9100"),
    ];
    let broad = [Matcher::equal("__name__", "node_cpu_seconds_total")];
    let select = |b: &BlockReader, ms: &[Matcher]| {
        rt.block_on(b.select(pyrite_storage::SelectHints::all(), ms))
            .expect("select")
    };
    let broad_samples = samples(&select(&block, &broad));
    eprintln!(
        "block: {} series, {} samples, {} bytes ({} XOR only); broad select: {} series, {broad_samples} samples",
        metas[0].stats.series,
        metas[0].stats.samples,
        metas[0].data_size(),
        metas[1].data_size(),
        select(&block, &broad).len(),
    );

    let mut g = c.benchmark_group("block");
    g.sample_size(10);
    g.bench_function("open", |b| b.iter(|| open(&metas[0])));
    g.bench_function("select one series (2 equality matchers)", |b| {
        b.iter(|| select(&block, &one))
    });
    g.bench_function("select one series, XOR-only block", |b| {
        b.iter(|| select(&xor_block, &one))
    });
    g.throughput(Throughput::Elements(broad_samples));
    g.bench_function("select broad (6,400 series)", |b| b.iter(|| select(&block, &broad)));
    g.bench_function("select broad, XOR-only block", |b| {
        b.iter(|| select(&xor_block, &broad))
    });
    g.bench_function("select broad and decode every sample", |b| {
        b.iter(|| {
            select(&block, &broad)
                .iter()
                .map(|s| s.iter().fold(0.0, |acc, (_, v)| acc + v))
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
