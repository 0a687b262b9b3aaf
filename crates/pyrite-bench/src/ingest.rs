//! Ingestion: remote-write clients feeding one system the generated series, a sample
//! per series per simulated scrape, flat out or at a target rate; then what it cost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::data::{encode_round, GenSeries, Protocol};
use crate::systems::{dir_bytes, System};

#[derive(Debug, Clone)]
pub struct Load {
    /// Simulated scrapes: every series gets one sample per round.
    pub rounds: u64,
    pub interval_s: u64,
    pub concurrency: usize,
    /// Series (samples) per request.
    pub batch: usize,
    pub protocol: Protocol,
    /// Fraction of series replaced by new ones each round.
    pub churn: f64,
    /// Target samples/s over all clients; flat out when `None`.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub samples: u64,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub rss_bytes: u64,
    pub wal_bytes: u64,
    pub active_series: usize,
    /// Every push's latency, as the sender saw it (retries included), sorted.
    pub push_latencies: Vec<Duration>,
    /// Every push as `(sent at, latency)`, in no particular order.
    pub pushes: Vec<(Instant, Duration)>,
}

impl Outcome {
    pub fn samples_per_s(&self) -> f64 {
        self.samples as f64 / self.wall_s
    }
    pub fn cpu_s_per_million(&self) -> f64 {
        self.cpu_s / (self.samples as f64 / 1e6)
    }
    pub fn bytes_per_series(&self) -> f64 {
        self.rss_bytes as f64 / self.active_series as f64
    }
    pub fn wal_bytes_per_sample(&self) -> f64 {
        self.wal_bytes as f64 / self.samples as f64
    }
    fn push_quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.push_latencies, q)
    }
    pub fn push_p50_ms(&self) -> f64 {
        self.push_quantile_ms(0.5)
    }
    pub fn push_p99_ms(&self) -> f64 {
        self.push_quantile_ms(0.99)
    }
}

/// The `q` quantile of sorted latencies, in milliseconds (NaN when there are none).
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// The churn label value of series `i` in `round`: each round about `churn` of the
/// series move to a new value (a new series), staggered so churn is even over time.
fn churn_value(i: usize, round: u64, churn: f64) -> Option<String> {
    if churn <= 0.0 {
        return None;
    }
    let period = (1.0 / churn).round().max(1.0) as u64;
    Some(format!("p{}", (round + i as u64 % period) / period))
}

/// Feeds `series` to `sys` and measures the server's CPU, memory and log size.
pub fn run(sys: &System, series: &[GenSeries], load: &Load, now_ms: i64) -> anyhow::Result<Outcome> {
    let interval_ms = (load.interval_s * 1000) as i64;
    let start_ms = now_ms - load.rounds as i64 * interval_ms;
    let sent = Arc::new(AtomicU64::new(0));
    let cpu0 = sys.cpu_seconds()?;
    let started = Instant::now();
    let per_worker_rate = load.rate.map(|r| r / load.concurrency as f64);
    // Prometheus 2.42 receives remote write 1.0 only.
    let protocol = if sys.name == "pyrite" {
        load.protocol
    } else {
        Protocol::V1
    };
    let result: anyhow::Result<Vec<(Instant, Duration)>> = std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for w in 0..load.concurrency {
            let sent = sent.clone();
            let mine: Vec<(usize, &GenSeries)> = series
                .iter()
                .enumerate()
                .filter(|(i, _)| i % load.concurrency == w)
                .collect();
            workers.push(scope.spawn(move || -> anyhow::Result<Vec<(Instant, Duration)>> {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(120))
                    .build()?;
                let worker_start = Instant::now();
                let mut worker_sent = 0u64;
                let mut latencies = Vec::new();
                for round in 0..load.rounds {
                    let t = start_ms + round as i64 * interval_ms;
                    for chunk in mine.chunks(load.batch.max(1)) {
                        let refs: Vec<&GenSeries> = chunk.iter().map(|(_, s)| *s).collect();
                        let churn: Vec<Option<String>> =
                            chunk.iter().map(|(i, _)| churn_value(*i, round, load.churn)).collect();
                        let body = encode_round(&refs, &churn, round, t, load.interval_s as f64, protocol);
                        let pushed = Instant::now();
                        post(&client, sys, body, protocol)?;
                        latencies.push((pushed, pushed.elapsed()));
                        worker_sent += refs.len() as u64;
                        sent.fetch_add(refs.len() as u64, Ordering::Relaxed);
                        if let Some(r) = per_worker_rate {
                            let due = Duration::from_secs_f64(worker_sent as f64 / r);
                            if let Some(wait) = due.checked_sub(worker_start.elapsed()) {
                                std::thread::sleep(wait);
                            }
                        }
                    }
                }
                Ok(latencies)
            }));
        }
        // Live figures while the clients run.
        let total = series.len() as u64 * load.rounds;
        let mut last = (Instant::now(), 0u64);
        while workers.iter().any(|w| !w.is_finished()) {
            std::thread::sleep(Duration::from_millis(200));
            if last.0.elapsed() >= Duration::from_secs(2) {
                let n = sent.load(Ordering::Relaxed);
                let rate = (n - last.1) as f64 / last.0.elapsed().as_secs_f64();
                eprintln!("  {}: {n}/{total} samples, {:.0} samples/s", sys.name, rate);
                last = (Instant::now(), n);
            }
        }
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.join().map_err(|_| anyhow::anyhow!("load worker panicked"))??);
        }
        Ok(all)
    });
    let pushes = result?;
    let mut push_latencies: Vec<Duration> = pushes.iter().map(|p| p.1).collect();
    push_latencies.sort_unstable();
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = sys.cpu_seconds()? - cpu0;
    // Let background work (compaction of buffers, GC) settle before reading memory.
    std::thread::sleep(Duration::from_secs(3));
    // With churn, more series were created; those of the last round are the active ones.
    let active_series = series.len();
    Ok(Outcome {
        samples: sent.load(Ordering::Relaxed),
        wall_s,
        cpu_s,
        rss_bytes: sys.rss_bytes()?,
        wal_bytes: dir_bytes(&sys.wal_dir),
        active_series,
        push_latencies,
        pushes,
    })
}

fn post(client: &reqwest::blocking::Client, sys: &System, body: Vec<u8>, protocol: Protocol) -> anyhow::Result<()> {
    let (ctype, version) = match protocol {
        Protocol::V2 => ("application/x-protobuf;proto=io.prometheus.write.v2.Request", "2.0.0"),
        Protocol::V1 => ("application/x-protobuf", "0.1.0"),
    };
    for attempt in 0..5 {
        let resp = client
            .post(&sys.write_url)
            .header("Content-Type", ctype)
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", version)
            .body(body.clone())
            .send()?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_server_error() || status.as_u16() == 429 {
            std::thread::sleep(Duration::from_millis(100 << attempt));
            continue;
        }
        bail!(
            "{} refused a write: {status} {}",
            sys.name,
            resp.text().unwrap_or_default()
        );
    }
    bail!("{} kept failing writes", sys.name)
}
