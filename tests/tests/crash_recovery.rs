//! Every sample a push acknowledged is found again after `kill -9` and restart, while
//! writes were in flight at the moment of the kill.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyrite_cluster_tests::http::{api_get, assert_all_acknowledged, enc, matrix_samples};
use pyrite_cluster_tests::remote_write::{encode, push, series};
use pyrite_cluster_tests::{wait_until, Pyrite};

const SERIES: usize = 20;

#[test]
fn acknowledged_samples_survive_kill_9() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut pyrite = Pyrite::start(Ipv4Addr::new(127, 0, 0, 11), &tmp.path().join("data"), &[])?;
    let push_url = pyrite.url("/api/v1/push");
    let base: i64 = 1_700_000_000_000;

    // Batch k writes one sample at base + k s to every series; acked batches are recorded.
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let acked_count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, acked_count, stop, url) = (acked.clone(), acked_count.clone(), stop.clone(), push_url.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let mut k = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let t = base + k * 1000;
                let batch = (0..SERIES)
                    .map(|i| {
                        series(
                            &[("__name__", "crash_test"), ("series", &i.to_string())],
                            &[(t, (k * 100 + i as i64) as f64)],
                        )
                    })
                    .collect();
                if let Ok((204, _)) = push(&client, &url, None, encode(batch)) {
                    acked.lock().unwrap().push(k);
                    acked_count.fetch_add(1, Ordering::Relaxed);
                }
                k += 1;
            }
        })
    };

    // Kill while writes are flowing: once a few hundred have been acknowledged.
    wait_until("300 acknowledged writes", Duration::from_secs(60), || {
        Ok((acked_count.load(Ordering::Relaxed) >= 300).then_some(()))
    })?;
    pyrite.kill9_and_restart()?;
    // Writes continue against the restarted process, then stop.
    let before = acked_count.load(Ordering::Relaxed);
    wait_until(
        "more acknowledged writes after restart",
        Duration::from_secs(60),
        || Ok((acked_count.load(Ordering::Relaxed) >= before + 50).then_some(())),
    )?;
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");

    // And once more, a kill with nothing in flight.
    pyrite.kill9_and_restart()?;

    let acked = acked.lock().unwrap().clone();
    let last = *acked.iter().max().expect("some writes were acknowledged");
    let range_s = last + 10;
    let at = (base + last * 1000) as f64 / 1000.0;
    let url = pyrite.url(&format!(
        "/api/v1/query?query={}&time={at}",
        enc(&format!("crash_test[{range_s}s]"))
    ));
    let found = matrix_samples(&api_get(&url)?)?;
    assert_all_acknowledged(found, &acked, base, SERIES)?;
    Ok(())
}

#[test]
fn sigterm_shuts_down_cleanly() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut pyrite = Pyrite::start(Ipv4Addr::new(127, 0, 0, 12), &tmp.path().join("data"), &[])?;
    let status = pyrite.peer.terminate(Duration::from_secs(30))?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}
