//! Bytes per sample of the block `pyrite-bench blocks` measures, in-process: the same
//! generated series and range (`benches/bench_data.rs`), encoded as an ingester does,
//! with each column's share of the file. Far cheaper than the full benchmark when
//! iterating on the format.
//!
//! `cargo run --release -p pyrite-block --example block_size -- [hosts] [--xor-only]`
//! (100 hosts by default, as in the benchmark).

#[path = "../benches/bench_data.rs"]
mod bench_data;

use parquet::file::reader::{FileReader, SerializedFileReader};
use pyrite_block::{encode, WriteOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hosts: usize = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or(Ok(100), |a| a.parse())?;
    let opts = WriteOptions {
        integer_chunks: !args.iter().any(|a| a == "--xor-only"),
        ..Default::default()
    };
    let series = bench_data::first_block(hosts);
    let took = std::time::Instant::now();
    let encoded = encode(series, &opts)?;
    let took = took.elapsed();
    let total = encoded.bytes.len() as f64;
    let samples = encoded.stats.samples as f64;
    println!(
        "{} series, {} samples, {} chunks: {} bytes, {:.4} bytes/sample (encoded in {took:.2?})",
        encoded.stats.series,
        encoded.stats.samples,
        encoded.stats.chunks,
        encoded.bytes.len(),
        total / samples
    );
    let file = SerializedFileReader::new(encoded.bytes.clone())?;
    let meta = file.metadata();
    let schema = meta.file_metadata().schema_descr();
    let mut by_col = vec![0i64; schema.num_columns()];
    for rg in meta.row_groups() {
        for (i, c) in rg.columns().iter().enumerate() {
            by_col[i] += c.compressed_size();
        }
    }
    for (i, b) in by_col.iter().enumerate() {
        println!(
            "  {:<24} {:>10} bytes {:>7.4} bytes/sample",
            schema.column(i).name(),
            b,
            *b as f64 / samples
        );
    }
    let columns: i64 = by_col.iter().sum();
    println!("  {:<24} {:>10} bytes", "footer, page index", total as i64 - columns);
    Ok(())
}
