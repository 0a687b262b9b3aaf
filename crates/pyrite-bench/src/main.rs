//! `pyrite-bench`: runs Pyrite and the real Prometheus side by side on one machine, feeds
//! both the same samples, and prints their figures with the ratio. Each subcommand
//! starts both systems itself.

mod blocks;
mod data;
mod frontend;
mod ingest;
mod query;
mod scrape;
mod snapshots;
mod systems;

use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

use data::Protocol;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct IngestArgs {
    /// Active series (node_exporter-like hosts of ~113 series each).
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Simulated scrapes: one sample per series each.
    #[arg(long, default_value_t = 30)]
    rounds: u64,
    /// Simulated scrape interval in seconds.
    #[arg(long, default_value_t = 15)]
    interval: u64,
    /// Concurrent remote-write clients.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Samples per request (Prometheus's default max_samples_per_send is 2000).
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Remote-write protocol Pyrite receives (Prometheus 2.42 always gets 1.0).
    #[arg(long, value_enum, default_value_t = Protocol::V1)]
    protocol: Protocol,
    /// Fraction of series replaced by new series every round.
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// Target samples/s; flat out when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Also measure a three-ingester, replication-factor-3 cluster.
    #[arg(long)]
    cluster: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ingestion: samples/s, CPU per million samples, memory per series, log bytes per sample.
    Ingest(IngestArgs),
    /// Query latency: load the same data into both, time a fixed set of dashboard queries.
    Query {
        /// node_exporter-like hosts (~113 series each).
        #[arg(long, default_value_t = 40)]
        hosts: usize,
        /// Hours of history loaded.
        #[arg(long, default_value_t = 1)]
        hours: u64,
        /// Sample interval in seconds.
        #[arg(long, default_value_t = 15)]
        interval: u64,
        /// Timed runs per query and system.
        #[arg(long, default_value_t = 15)]
        runs: usize,
        /// Range-query windows in hours, each at most --hours.
        #[arg(long, value_delimiter = ',', default_value = "1")]
        windows: Vec<u64>,
    },
    /// Query frontend: a multi-day dashboard query repeated, cold and warm, sharded and not.
    Frontend {
        /// node_exporter-like hosts (~113 series each), one sample a minute.
        #[arg(long, default_value_t = 5)]
        hosts: usize,
        /// Days of history loaded and queried.
        #[arg(long, default_value_t = 7)]
        days: u64,
        /// Query step in seconds.
        #[arg(long, default_value_t = 300)]
        step: u64,
        /// Timed runs per case.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Block size: bytes per sample of the first two-hour block each system cuts.
    Blocks {
        /// node_exporter-like hosts (~113 series each).
        #[arg(long, default_value_t = 100)]
        hosts: usize,
        /// Sample interval in seconds.
        #[arg(long, default_value_t = 15)]
        interval: u64,
    },
    /// Push latency while shards snapshot their heads: snapshots every few entries, off,
    /// and Prometheus, under the same load.
    Snapshots {
        /// Active series (node_exporter-like hosts of ~113 series each).
        #[arg(long, default_value_t = 1_000_000)]
        series: usize,
        /// Simulated scrapes: one sample per series each.
        #[arg(long, default_value_t = 10)]
        rounds: u64,
        /// Snapshot a shard every this many Raft entries.
        #[arg(long, default_value_t = 500)]
        every: u64,
    },
    /// Scraping: CPU per million scraped samples and memory per target, Pyrite and
    /// Prometheus scraping the same node_exporter-sized pages.
    Scrape {
        /// Targets, each a page of --series samples.
        #[arg(long, default_value_t = 100)]
        targets: usize,
        /// Samples per page (a node_exporter page holds about a thousand).
        #[arg(long, default_value_t = 1000)]
        series: usize,
        /// Scrape interval in seconds.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        /// Seconds each system is measured for, after two intervals of warm-up.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Rounds, each measuring both systems afresh; the ratio reported is the median
        /// of the rounds'.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// The default run: ingestion at 10k, 100k and 1M series (at 100k also a
    /// three-ingester RF 3 cluster), query latency over 1, 3 and 6 hour ranges, then
    /// block size and query latency over a block.
    All,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn ingest_bench(a: &IngestArgs) -> anyhow::Result<()> {
    let hosts = a.series.div_ceil(data::SERIES_PER_HOST).max(1);
    let series = data::series(hosts);
    let load = ingest::Load {
        rounds: a.rounds,
        interval_s: a.interval,
        concurrency: a.concurrency,
        batch: a.batch,
        protocol: a.protocol,
        churn: a.churn,
        rate: a.rate,
    };
    let now = now_ms();
    let mut results = Vec::new();
    // One system at a time, each on an otherwise idle machine.
    let mut starts: Vec<fn(&std::path::Path) -> anyhow::Result<systems::System>> =
        vec![systems::start_pyrite, systems::start_prometheus];
    if a.cluster {
        starts.push(systems::start_pyrite_cluster);
    }
    for start in starts {
        let dir = tempfile::tempdir()?;
        let sys = start(dir.path())?;
        eprintln!(
            "feeding {} series x {} rounds to {}...",
            series.len(),
            a.rounds,
            sys.name
        );
        results.push(ingest::run(&sys, &series, &load, now)?);
    }
    let (p, m) = (&results[0], &results[1]);
    println!(
        "\ningestion, {} active series, {} rounds ({} samples), {} clients x {} samples/request, protocol {:?}, churn {}\n",
        series.len(),
        a.rounds,
        p.samples,
        a.concurrency,
        a.batch,
        a.protocol,
        a.churn
    );
    let c = results.get(2);
    if c.is_some() {
        println!("| figure | Pyrite | Prometheus | ratio | Pyrite 3 ingesters, RF 3 | ratio |");
        println!("|---|---|---|---|---|---|");
    } else {
        println!("| figure | Pyrite | Prometheus | ratio |");
        println!("|---|---|---|---|");
    }
    let row = |name: &str, f: fn(&ingest::Outcome) -> f64| {
        let (x, y) = (f(p), f(m));
        match c {
            Some(c) => println!(
                "| {name} | {x:.3} | {y:.3} | {:.2} | {:.3} | {:.2} |",
                x / y,
                f(c),
                f(c) / y
            ),
            None => println!("| {name} | {x:.3} | {y:.3} | {:.2} |", x / y),
        }
    };
    row("samples/s (wall)", ingest::Outcome::samples_per_s);
    row(
        "server CPU-seconds per million samples",
        ingest::Outcome::cpu_s_per_million,
    );
    row("resident bytes per active series", ingest::Outcome::bytes_per_series);
    row(
        "write-ahead log bytes per sample",
        ingest::Outcome::wal_bytes_per_sample,
    );
    row("push latency p50 (ms)", ingest::Outcome::push_p50_ms);
    row("push latency p99 (ms)", ingest::Outcome::push_p99_ms);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Ingest(a) => ingest_bench(&a),
        Cmd::Snapshots { series, rounds, every } => {
            let hosts = series.div_ceil(data::SERIES_PER_HOST).max(1);
            let load = ingest::Load {
                rounds,
                interval_s: 15,
                concurrency: 4,
                batch: 2000,
                protocol: Protocol::V1,
                churn: 0.0,
                rate: None,
            };
            snapshots::run(&data::series(hosts), &load, every, now_ms())
        }
        Cmd::Query {
            hosts,
            hours,
            interval,
            runs,
            windows,
        } => query::run(hosts, hours, interval, runs, &windows),
        Cmd::Blocks { hosts, interval } => blocks::run(hosts, interval),
        Cmd::Scrape {
            targets,
            series,
            interval,
            seconds,
            rounds,
        } => scrape::run(targets, series, interval, seconds, rounds),
        Cmd::Frontend {
            hosts,
            days,
            step,
            runs,
        } => frontend::run(hosts, days, step, runs),
        Cmd::All => {
            for (series, rounds) in [(10_000, 60), (100_000, 30), (1_000_000, 10)] {
                let a = IngestArgs {
                    series,
                    rounds,
                    interval: 15,
                    concurrency: 4,
                    batch: 2000,
                    protocol: Protocol::V1,
                    churn: 0.0,
                    rate: None,
                    cluster: series == 100_000,
                };
                ingest_bench(&a)?;
            }
            query::run(40, 6, 15, 11, &[1, 3, 6])?;
            blocks::run(100, 15)
        }
    }
}
