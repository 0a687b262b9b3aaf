//! Remote-write decoding: snappy + protobuf for a Prometheus-sized request (2000
//! samples), in protocol 1.0 and 2.0.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use pyrite_distributor::{decode_write_request, DistributorConfig, Protocol};
use pyrite_proto::{prometheus, write_v2};

fn series_labels(i: usize) -> Vec<(String, String)> {
    vec![
        ("__name__".into(), "node_cpu_seconds_total".into()),
        ("cpu".into(), (i % 8).to_string()),
        ("instance".into(), format!("host-{}:9100", i / 64)),
        ("job".into(), "node".into()),
        (
            "mode".into(),
            ["user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"][(i / 8) % 8].into(),
        ),
    ]
}

fn v1_body(n: usize) -> Vec<u8> {
    let timeseries = (0..n)
        .map(|i| prometheus::TimeSeries {
            labels: series_labels(i)
                .into_iter()
                .map(|(name, value)| prometheus::Label { name, value })
                .collect(),
            samples: vec![prometheus::Sample {
                value: i as f64,
                timestamp: 1_700_000_000_000,
            }],
            ..Default::default()
        })
        .collect();
    let raw = prometheus::WriteRequest {
        timeseries,
        ..Default::default()
    }
    .encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

fn v2_body(n: usize) -> Vec<u8> {
    let mut symbols = vec![String::new()];
    let mut sym = |s: String| -> u32 {
        match symbols.iter().position(|x| *x == s) {
            Some(i) => i as u32,
            None => {
                symbols.push(s);
                (symbols.len() - 1) as u32
            }
        }
    };
    let timeseries: Vec<write_v2::TimeSeries> = (0..n)
        .map(|i| write_v2::TimeSeries {
            labels_refs: series_labels(i)
                .into_iter()
                .flat_map(|(n, v)| [sym(n), sym(v)])
                .collect(),
            samples: vec![write_v2::Sample {
                value: i as f64,
                timestamp: 1_700_000_000_000,
            }],
            ..Default::default()
        })
        .collect();
    let raw = write_v2::Request { symbols, timeseries }.encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

fn bench(c: &mut Criterion) {
    let limits = DistributorConfig::default();
    let mut g = c.benchmark_group("remote_write_decode");
    g.throughput(Throughput::Elements(2000));
    let v1 = v1_body(2000);
    let v2 = v2_body(2000);
    g.bench_function("v1_2000_samples", |b| {
        b.iter(|| decode_write_request(Protocol::V1, &v1, &limits).unwrap())
    });
    g.bench_function("v2_2000_samples", |b| {
        b.iter(|| decode_write_request(Protocol::V2, &v2, &limits).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
