//! A write load for durability tests: a thread pushing numbered batches round-robin
//! through the given remote-write URLs, recording which ones were acknowledged.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::remote_write::{encode, push, series};
use crate::wait_until;

/// Batch `k` of a durability load: to each series `{__name__=metric, series="i"}`
/// (`0 ≤ i < n`), the value `k * 100 + i` at `base + k` seconds — the shape
/// [`crate::http::assert_all_acknowledged`] checks.
pub fn numbered_batch(metric: &str, n: usize, base: i64, k: i64) -> Vec<u8> {
    let t = base + k * 1000;
    encode(
        (0..n)
            .map(|i| {
                series(
                    &[("__name__", metric), ("series", &i.to_string())],
                    &[(t, (k * 100 + i as i64) as f64)],
                )
            })
            .collect(),
    )
}

pub struct Load {
    acked: Arc<Mutex<Vec<i64>>>,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Load {
    /// Pushes `batch(k)` for `k` after the largest of `acked` (batches already
    /// acknowledged before the load started), one after another, until stopped.
    pub fn start(urls: Vec<String>, batch: fn(i64) -> Vec<u8>, acked: Vec<i64>) -> Load {
        let first = acked.iter().max().map_or(0, |k| k + 1);
        let count = Arc::new(AtomicUsize::new(acked.len()));
        let acked = Arc::new(Mutex::new(acked));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (acked, count, stop) = (acked.clone(), count.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(15))
                    .build()
                    .expect("http client");
                let mut k = first;
                while !stop.load(Ordering::Relaxed) {
                    let url = &urls[k as usize % urls.len()];
                    if let Ok((204, _)) = push(&client, url, None, batch(k)) {
                        acked.lock().unwrap().push(k);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    k += 1;
                }
            })
        };
        Load {
            acked,
            count,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits (up to a minute) until `n` more batches have been acknowledged.
    pub fn wait_more(&self, n: usize, what: &str) -> anyhow::Result<()> {
        let before = self.count.load(Ordering::Relaxed);
        wait_until(what, Duration::from_secs(60), || {
            Ok((self.count.load(Ordering::Relaxed) >= before + n).then_some(()))
        })
    }

    /// Stops the load and returns every acknowledged batch.
    pub fn stop(mut self) -> Vec<i64> {
        self.halt();
        self.acked.lock().unwrap().clone()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("load thread");
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.halt();
    }
}
