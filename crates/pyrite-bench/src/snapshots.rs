//! Push latency while shards snapshot: the same load fed to Pyrite with snapshots every
//! few entries, to Pyrite with snapshots off, and to Prometheus. A watcher sees each
//! snapshot being written (its data file's temporary name appears) and committed (the
//! metadata file changes), so every push is classed as during a snapshot or not.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::data::GenSeries;
use crate::ingest::{self, quantile_ms, Load, Outcome};
use crate::systems;

/// One snapshot as seen from outside: from its data file's first sighting to its commit.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

/// Polls `dir` for snapshots being written and committed until told to stop.
struct Watcher {
    stop: Arc<AtomicBool>,
    windows: Arc<Mutex<Vec<Window>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(dir: PathBuf) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let windows = Arc::new(Mutex::new(Vec::new()));
        let (s, w) = (stop.clone(), windows.clone());
        let thread = std::thread::spawn(move || {
            let mut committed: HashMap<PathBuf, SystemTime> = HashMap::new();
            let mut writing: HashMap<PathBuf, Instant> = HashMap::new();
            scan(&dir, &mut |meta, _| {
                if let Some((state_dir, mtime)) = meta {
                    committed.insert(state_dir, mtime);
                }
            });
            while !s.load(Ordering::Relaxed) {
                let now = Instant::now();
                scan(&dir, &mut |meta, tmp| {
                    if let Some(state_dir) = tmp {
                        writing.entry(state_dir).or_insert(now);
                    }
                    if let Some((state_dir, mtime)) = meta {
                        if committed.get(&state_dir) != Some(&mtime) {
                            committed.insert(state_dir.clone(), mtime);
                            let start = writing.remove(&state_dir).unwrap_or(now);
                            w.lock().unwrap().push(Window { start, end: now });
                        }
                    }
                });
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Watcher {
            stop,
            windows,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<Window> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.windows.lock().unwrap())
    }
}

/// Walks `dir`, reporting each state directory's committed snapshot metadata (with its
/// modification time) and each snapshot data file being written.
fn scan(dir: &Path, f: &mut dyn FnMut(Option<(PathBuf, SystemTime)>, Option<PathBuf>)) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            scan(&path, f);
        } else if name == "snapshot.meta" {
            if let Ok(mtime) = md.modified() {
                f(Some((dir.to_path_buf(), mtime)), None);
            }
        } else if name.starts_with("snapshot-") && name.ends_with(".data.tmp") {
            f(None, Some(dir.to_path_buf()));
        }
    }
}

/// Latencies of the pushes that overlapped a snapshot window, and of the others, sorted.
fn split(outcome: &Outcome, windows: &[Window]) -> (Vec<Duration>, Vec<Duration>) {
    let (mut during, mut outside) = (Vec::new(), Vec::new());
    for &(sent, latency) in &outcome.pushes {
        let done = sent + latency;
        if windows.iter().any(|w| sent <= w.end && done >= w.start) {
            during.push(latency);
        } else {
            outside.push(latency);
        }
    }
    during.sort_unstable();
    outside.sort_unstable();
    (during, outside)
}

pub fn run(series: &[GenSeries], load: &Load, every: u64, now_ms: i64) -> anyhow::Result<()> {
    let snapshots = format!("--cluster.raft-snapshot-entries={every}");
    let mut runs: Vec<(String, Outcome, Vec<Window>)> = Vec::new();
    for (name, flag) in [
        (format!("Pyrite, snapshot every {every} entries"), snapshots.as_str()),
        ("Pyrite, snapshots off".to_string(), "--cluster.raft-snapshot-entries=0"),
    ] {
        let dir = tempfile::tempdir()?;
        let sys = systems::start_pyrite_with(dir.path(), &[flag])?;
        eprintln!("feeding {} series x {} rounds to {name}...", series.len(), load.rounds);
        let watcher = Watcher::start(sys.wal_dir.clone());
        let outcome = ingest::run(&sys, series, load, now_ms)?;
        runs.push((name, outcome, watcher.finish()));
    }
    let dir = tempfile::tempdir()?;
    let prom = systems::start_prometheus(dir.path())?;
    eprintln!(
        "feeding {} series x {} rounds to prometheus...",
        series.len(),
        load.rounds
    );
    let prometheus = ingest::run(&prom, series, load, now_ms)?;
    drop(prom);

    println!(
        "\npush latency during snapshots, {} active series, {} rounds ({} samples), {} clients x {} samples/request\n",
        series.len(),
        load.rounds,
        prometheus.samples,
        load.concurrency,
        load.batch
    );
    println!("| run | snapshots | snapshot ms p50 / max | pushes during one | p50 ms | p99 ms | max ms | p99 during snapshots ms | p99 / Prometheus's |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let prom_p99 = prometheus.push_p99_ms();
    for (name, o, windows) in &runs {
        let mut lengths: Vec<Duration> = windows.iter().map(|w| w.end - w.start).collect();
        lengths.sort_unstable();
        let (during, _) = split(o, windows);
        println!(
            "| {name} | {} | {:.0} / {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |",
            windows.len(),
            quantile_ms(&lengths, 0.5),
            quantile_ms(&lengths, 1.0),
            during.len(),
            o.push_p50_ms(),
            o.push_p99_ms(),
            quantile_ms(&o.push_latencies, 1.0),
            quantile_ms(&during, 0.99),
            o.push_p99_ms() / prom_p99,
        );
    }
    println!(
        "| Prometheus 2.42 | – | – | – | {:.1} | {:.1} | {:.1} | – | 1.00 |",
        prometheus.push_p50_ms(),
        prom_p99,
        quantile_ms(&prometheus.push_latencies, 1.0)
    );
    Ok(())
}
