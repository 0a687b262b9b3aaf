//! The series of `pyrite-bench blocks`' first two-hour block, built in-process: the same
//! generated hosts (`crates/pyrite-bench/src/data.rs`), the same remote-write bodies,
//! trimmed to the range as an ingester cuts it. Shared by the read benchmark and the
//! `block_size` example.

#[allow(dead_code)]
#[path = "../../pyrite-bench/src/data.rs"]
mod data;

use prost::Message;
use pyrite_block::cut::trim;
use pyrite_chunk::Chunk;
use pyrite_model::Labels;
use pyrite_proto::prometheus::WriteRequest;
use pyrite_storage::Series;

pub const RANGE_MS: i64 = 2 * 3600 * 1000;
/// The first block's start: a two-hour boundary.
pub const START_MS: i64 = 1_764_028_800_000 / RANGE_MS * RANGE_MS;

/// `hosts` generated hosts' series, 3 h 15 m of 15 s samples from [`START_MS`], cut to
/// the first two hours.
pub fn first_block(hosts: usize) -> Vec<Series> {
    let n = (3 * 3600 + 900) / 15;
    let generated = data::series(hosts);
    let bodies = data::requests(&generated, START_MS, 15_000, n, 20_000);
    let mut labels: Vec<Labels> = Vec::new();
    let mut samples: Vec<Vec<(i64, f64)>> = Vec::new();
    for body in bodies {
        let raw = snap::raw::Decoder::new().decompress_vec(&body).expect("snappy");
        let req = WriteRequest::decode(raw.as_slice()).expect("protobuf");
        for (i, ts) in req.timeseries.into_iter().enumerate() {
            if labels.len() <= i {
                let pairs: Vec<(&str, &str)> = ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
                labels.push(Labels::from_pairs(&pairs));
                samples.push(Vec::new());
            }
            samples[i].extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
        }
    }
    labels
        .into_iter()
        .zip(&samples)
        .filter_map(|(l, s)| {
            trim(
                &Series::new(l, Chunk::encode_all(s, 120)),
                START_MS,
                START_MS + RANGE_MS,
            )
        })
        .collect()
}
