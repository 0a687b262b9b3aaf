//! `pyrite-bench scrape`: the same targets — node_exporter-sized pages served by this
//! benchmark on loopback, their counters moving with every request — scraped by
//! Prometheus 2.42 and by Pyrite (`--target=all`, scraping from a Prometheus
//! configuration file), one system after the other. Reported: CPU seconds per million
//! scraped samples, counted from the requests each system made, and resident memory per
//! target, with the ratio.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::systems::{start_prometheus_with, start_pyrite_with, System};

/// Requests served, by who asked.
#[derive(Default)]
struct Served {
    prometheus: AtomicU64,
    pyrite: AtomicU64,
    other: AtomicU64,
}

/// A page of `series` samples in families of ten, as an exporter writes them; every
/// value moves with `n`.
fn page(series: usize, target: usize, n: u64) -> String {
    let mut out = String::with_capacity(series * 80);
    for i in 0..series {
        let family = i / 10;
        if i % 10 == 0 {
            out.push_str(&format!(
                "# HELP bench_family_{family}_total A counter of family {family}.\n# TYPE bench_family_{family}_total counter\n"
            ));
        }
        out.push_str(&format!(
            "bench_family_{family}_total{{cpu=\"{}\",mode=\"m{}\"}} {}\n",
            i % 10,
            target % 7,
            n * (i as u64 + 1)
        ));
    }
    out
}

fn serve(stream: TcpStream, series: usize, served: Arc<Served>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut agent = String::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("user-agent:") {
                agent = v.trim().to_string();
            }
        }
        let counter = if agent.starts_with("prometheus") {
            &served.prometheus
        } else if agent.starts_with("pyrite") {
            &served.pyrite
        } else {
            &served.other
        };
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        // The path is /t/<target>.
        let target = request
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.rsplit('/').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let body = page(series, target, n);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if out
            .write_all(head.as_bytes())
            .and_then(|_| out.write_all(body.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

fn scrape_config(port: u16, targets: usize, interval: u64) -> String {
    let mut c = format!("global: {{scrape_interval: {interval}s, scrape_timeout: {interval}s}}\nscrape_configs:\n  - job_name: bench\n    static_configs:\n");
    for t in 0..targets {
        c.push_str(&format!(
            "      - targets: ['127.0.0.1:{port}']\n        labels: {{instance: 't{t}', __metrics_path__: '/t/{t}'}}\n"
        ));
    }
    c
}

struct Figures {
    cpu_per_million: f64,
    rss_per_target: f64,
}

fn measure(
    system: &System,
    counter: &AtomicU64,
    series: usize,
    targets: usize,
    interval: u64,
    seconds: u64,
) -> anyhow::Result<Figures> {
    // Two intervals for every target to be found and scraped once.
    std::thread::sleep(Duration::from_secs(2 * interval));
    let (cpu0, req0) = (system.cpu_seconds()?, counter.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu1, req1) = (system.cpu_seconds()?, counter.load(Ordering::Relaxed));
    let samples = (req1 - req0) as f64 * series as f64;
    anyhow::ensure!(samples > 0.0, "{} scraped nothing", system.name);
    Ok(Figures {
        cpu_per_million: (cpu1 - cpu0) / (samples / 1e6),
        rss_per_target: system.rss_bytes()? as f64 / targets as f64,
    })
}

/// Runs `rounds` rounds, each measuring Prometheus and then Pyrite afresh. One
/// minute of one system moves by 20% or more from run to run on a shared machine (other
/// tenants' use of its memory and caches), so the figures are each round's and the
/// median of the rounds' ratios.
pub fn run(targets: usize, series: usize, interval: u64, seconds: u64, rounds: usize) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let served = Arc::new(Served::default());
    {
        let served = served.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let served = served.clone();
                std::thread::spawn(move || serve(s, series, served));
            }
        });
    }
    let config = scrape_config(port, targets, interval);
    eprintln!(
        "scrape: {targets} targets of {series} samples every {interval}s, measured over {seconds}s each, {rounds} rounds"
    );
    let mut results = Vec::new();
    for round in 1..=rounds.max(1) {
        let dir = tempfile::tempdir()?;
        let prom = {
            let system = start_prometheus_with(dir.path(), &config)?;
            measure(&system, &served.prometheus, series, targets, interval, seconds)?
        };
        let dir = tempfile::tempdir()?;
        let cfg = dir.path().join("scrape.yml");
        std::fs::write(&cfg, &config)?;
        let pyrite = {
            let arg = format!("--scrape.config-file={}", cfg.display());
            let system = start_pyrite_with(dir.path(), &[&arg])?;
            measure(&system, &served.pyrite, series, targets, interval, seconds)?
        };
        eprintln!(
            "round {round}: {:.3} vs {:.3} CPU s per million samples",
            pyrite.cpu_per_million, prom.cpu_per_million
        );
        results.push((pyrite, prom));
    }
    println!("| figure | Pyrite | Prometheus | ratio |");
    println!("|---|---|---|---|");
    for (round, (pyrite, prom)) in results.iter().enumerate() {
        println!(
            "| CPU seconds per million scraped samples, round {} | {:.3} | {:.3} | {:.2} |",
            round + 1,
            pyrite.cpu_per_million,
            prom.cpu_per_million,
            pyrite.cpu_per_million / prom.cpu_per_million
        );
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let cpu_ratio = median(
        results
            .iter()
            .map(|(p, q)| p.cpu_per_million / q.cpu_per_million)
            .collect(),
    );
    let rss = |f: fn(&Figures) -> f64| median(results.iter().map(|(p, _)| f(p)).collect());
    let prom_rss = median(results.iter().map(|(_, q)| q.rss_per_target).collect());
    println!("| CPU per scraped sample, median ratio of the rounds | | | {cpu_ratio:.2} |");
    println!(
        "| resident memory per target (KiB), median | {:.0} | {:.0} | {:.2} |",
        rss(|f| f.rss_per_target) / 1024.0,
        prom_rss / 1024.0,
        rss(|f| f.rss_per_target) / prom_rss
    );
    Ok(())
}
