//! A target's schedule: [`run`] fetches the target at the fixed instants of its
//! interval (its offset comes from the target's hash, so every node that scrapes it
//! uses the same instants), hands each body to the target's [`Scraper`] and the series
//! it makes to the [`Sink`], and keeps the target's health for the API. The target's
//! metric metadata goes to the sink too, when it changes and once a minute besides.
//!
//! The invariant: a loop scrapes an instant at most once, and only an instant its
//! [`Ownership`](crate::Ownership) gives this node.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::ScrapeConfig;
use crate::manager::Ownership;
use crate::scrape::{described, Health, Metadata, Scrape, ScrapeError, Scraper, SharedStatus, Sink};
use crate::target::Target;

/// Everything a loop needs.
pub struct LoopSpec {
    pub cfg: Arc<ScrapeConfig>,
    pub target: Target,
    pub client: pyrite_http_client::HttpClient,
    pub sink: Arc<dyn Sink>,
    pub status: SharedStatus,
    pub ownership: Arc<dyn Ownership>,
}

/// How often a target's unchanged metadata is sent again: stores forget metadata that
/// is not sent for ten minutes, so it lives as long as a target exposes it.
const METADATA_RESEND: StdDuration = StdDuration::from_secs(60);

/// The metadata a loop last sent, and when.
#[derive(Default)]
struct MetadataSent(Option<(Arc<std::collections::BTreeMap<String, Metadata>>, Instant)>);

impl MetadataSent {
    /// Whether `current` is to be sent: it is new, or was sent a while ago.
    fn due(&self, current: &Arc<std::collections::BTreeMap<String, Metadata>>) -> bool {
        match &self.0 {
            None => !current.is_empty(),
            Some((sent, at)) => !Arc::ptr_eq(sent, current) || at.elapsed() >= METADATA_RESEND,
        }
    }
}

/// The milliseconds since the Unix epoch, by this node's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The first scheduled instant (ms) at or after `from`, at the target's offset.
pub fn next_slot(from_ms: i64, interval: StdDuration, offset: StdDuration) -> i64 {
    let i = interval.as_millis().max(1) as i64;
    let o = offset.as_millis() as i64 % i;
    let base = from_ms - from_ms.rem_euclid(i) + o;
    if base >= from_ms {
        base
    } else {
        base + i
    }
}

/// The last scheduled instant (ms) at or before `at`.
pub fn last_slot(at_ms: i64, interval: StdDuration, offset: StdDuration) -> i64 {
    let i = interval.as_millis().max(1) as i64;
    let next = next_slot(at_ms, interval, offset);
    if next == at_ms {
        next
    } else {
        next - i
    }
}

/// Scrapes the target at each scheduled instant this node owns until `stop` fires;
/// then, unless it fired with `handed_over` set, writes staleness markers for
/// everything this node last wrote.
///
/// When ownership changes, the instant in hand (the last one at or before now) is
/// scraped at once if it is now this node's and nobody scraped it here: the target's
/// owner went away, and this is how its instant is not lost. Such a scrape carries
/// the instant's timestamp, less than an interval before it ran. An instant that
/// stops being this node's drops the target's series cache without staleness
/// markers: the new owner carries the series on. An instant is scraped only once the
/// node's view of the pool is settled past it ([`Ownership::settled_until`]): when
/// heartbeat answers come late, the loop waits for one rather than scrape an instant
/// a join it has not heard of may have given to another node.
pub async fn run(spec: LoopSpec, mut stop: tokio::sync::watch::Receiver<Option<bool>>) {
    let LoopSpec {
        cfg,
        target,
        client,
        sink,
        status,
        ownership,
    } = spec;
    let (interval, offset) = (target.interval, target.offset());
    // Built when this node first scrapes the target; dropped when it stops owning it.
    let mut scraper: Option<Scraper> = None;
    let mut changes = ownership.changes();
    let mut changes_open = true;
    let mut settled = ownership.settled_until();
    let mut last_scraped = i64::MIN;
    let mut metadata_sent = MetadataSent::default();
    let accept = cfg.accept_header();
    let mut slot = next_slot(now_ms(), interval, offset);
    'scrapes: loop {
        let wait = StdDuration::from_millis((slot - now_ms()).max(0) as u64);
        let changed = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            c = changes.changed(), if changes_open => {
                changes_open = c.is_ok();
                true
            }
            _ = stop.changed() => break,
        };
        let mut at = if changed {
            let in_hand = last_slot(now_ms(), interval, offset);
            if in_hand <= last_scraped || !ownership.owner(target.hash, in_hand).mine {
                continue;
            }
            in_hand
        } else {
            let at = slot;
            slot = next_slot(slot + 1, interval, offset);
            // A slot missed (a slow scrape or write) is skipped, not caught up.
            let now = now_ms();
            if slot < now {
                slot = next_slot(now, interval, offset);
            }
            at
        };
        if at <= last_scraped {
            // Already scraped here (a change and the instant itself arrived together).
            continue;
        }
        if let Some(until) = settled.as_mut() {
            // Whose the instant is, is final only once this node's view is settled past
            // it: a late answer might still hand it to another node. Held past it, the
            // loop takes the instant in hand instead (those between are missed, as a
            // slow scrape misses them) and waits for that one to be settled too.
            loop {
                tokio::select! {
                    _ = pyrite_members::settled(until, at) => {}
                    _ = stop.changed() => break 'scrapes,
                }
                let in_hand = last_slot(now_ms(), interval, offset);
                if in_hand <= at {
                    break;
                }
                at = in_hand;
            }
            if slot <= at {
                slot = next_slot(at + 1, interval, offset);
            }
        }
        if !ownership.owner(target.hash, at).mine {
            // Handed over (or never ours): the owner writes the series from here.
            scraper = None;
            continue;
        }
        let scraper = scraper.get_or_insert_with(|| Scraper::new(&cfg, &target));
        last_scraped = at;
        let started = Instant::now();
        let wall = SystemTime::now();
        let fetched = tokio::select! {
            r = fetch(&client, &cfg, &target, &accept) => r,
            _ = stop.changed() => break,
        };
        let result = fetched.and_then(|(body, ct)| scraper.ingest(&body, &ct, at));
        let duration = started.elapsed();
        let (mut series, health, error) = match result {
            Ok(s) => {
                let mut out = scraper.report(at, true, duration, &s);
                out.extend(s.series);
                (out, "up", String::new())
            }
            Err(e) => {
                let mut out = scraper.report(at, false, duration, &Scrape::default());
                out.extend(scraper.failed(at));
                (out, "down", e.to_string())
            }
        };
        let written = sink.write(&cfg.tenant, std::mem::take(&mut series)).await;
        if health == "up" && metadata_sent.due(&scraper.metadata) {
            match sink.metadata(&cfg.tenant, described(&scraper.metadata)).await {
                Ok(()) => metadata_sent.0 = Some((scraper.metadata.clone(), Instant::now())),
                Err(e) => tracing::debug!(target = %target.url, error = %e, "writing the target's metadata"),
            }
        }
        let mut st = status.lock();
        st.health = Health {
            health,
            last_error: match written {
                Err(w) if error.is_empty() => format!("writing the scrape: {w}"),
                _ => error,
            },
            last_scrape: Some(wall),
            last_duration: duration,
        };
        st.metadata = scraper.metadata.clone();
    }
    let handed_over = stop.borrow().unwrap_or(false);
    if let (false, Some(mut scraper)) = (handed_over, scraper) {
        let stale = scraper.end(now_ms());
        if !stale.is_empty() {
            if let Err(e) = sink.write(&cfg.tenant, stale).await {
                tracing::warn!(target = %target.url, error = %e, "writing staleness markers");
            }
        }
    }
}

/// GETs the target within its timeout: the body (decompressed, within the body size
/// limit) and its content type.
async fn fetch(
    client: &pyrite_http_client::HttpClient,
    cfg: &ScrapeConfig,
    target: &Target,
    accept: &str,
) -> Result<(Vec<u8>, String), ScrapeError> {
    let fetch = async {
        let req = client
            .request(reqwest::Method::GET, &target.url)
            .await
            .map_err(|e| ScrapeError::Fetch(e.to_string()))?
            .header("Accept", accept)
            .header("User-Agent", concat!("Pyrite/", env!("CARGO_PKG_VERSION")))
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", target.timeout.as_secs_f64()),
            );
        let req = if cfg.enable_compression {
            req
        } else {
            req.header("Accept-Encoding", "identity")
        };
        let mut resp = req.send().await.map_err(|e| ScrapeError::Fetch(fetch_error(&e)))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(ScrapeError::Status(resp.status().to_string()));
        }
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let limit = cfg.limits.body_size_limit;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| ScrapeError::Fetch(fetch_error(&e)))? {
            body.extend_from_slice(&chunk);
            if limit > 0 && body.len() as u64 > limit {
                return Err(ScrapeError::BodySizeLimit);
            }
        }
        Ok((body, ct))
    };
    match tokio::time::timeout(target.timeout, fetch).await {
        Ok(r) => r,
        Err(_) => Err(ScrapeError::Fetch(format!(
            "Get \"{}\": context deadline exceeded",
            target.url
        ))),
    }
}

fn fetch_error(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use parking_lot::Mutex;
    use pyrite_members::ownership::Owner;
    use pyrite_storage::{KnownWrite, MetricMetadata};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::watch;

    /// A target answering every request with one sample, counting the requests.
    async fn target() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = "m 1\n";
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        (addr, served)
    }

    /// The instants of `up` written.
    #[derive(Default)]
    struct Instants(Mutex<Vec<i64>>);

    #[async_trait::async_trait]
    impl Sink for Instants {
        async fn write(&self, _: &str, write: KnownWrite) -> Result<(), String> {
            let up = write.to_series().into_iter().find(|s| s.labels.get("__name__") == "up");
            self.0
                .lock()
                .extend(up.iter().flat_map(|s| s.samples.iter().map(|x| x.t)));
            Ok(())
        }
        async fn metadata(&self, _: &str, _: Vec<MetricMetadata>) -> Result<(), String> {
            Ok(())
        }
    }

    /// Owns every instant, but its view is settled only as far as the test says.
    struct Unsettled {
        settled: watch::Sender<i64>,
        changes: watch::Sender<u64>,
    }

    impl Ownership for Unsettled {
        fn owner(&self, _: u64, _: i64) -> Owner {
            Owner {
                mine: true,
                node: "me".into(),
            }
        }
        fn changes(&self) -> watch::Receiver<u64> {
            self.changes.subscribe()
        }
        fn settled_until(&self) -> Option<watch::Receiver<i64>> {
            Some(self.settled.subscribe())
        }
        fn member(&self) -> &str {
            "me"
        }
    }

    #[tokio::test]
    async fn an_instant_is_fetched_only_once_the_view_is_settled_past_it_then_late_and_once() {
        let (addr, served) = target().await;
        let file = crate::config::parse(&format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 100ms\nscrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['{addr}']\n"
        ))
        .unwrap();
        let cfg = Arc::new(file.scrape_configs[0].clone());
        let group = pyrite_discovery::TargetGroup {
            source: "0".into(),
            targets: vec![pyrite_discovery::LabelSet::from([(
                "__address__".to_string(),
                addr.clone(),
            )])],
            labels: pyrite_discovery::LabelSet::new(),
        };
        let (targets, _) = crate::target::targets(&cfg, &std::collections::BTreeMap::from([("0".to_string(), group)]));
        let target = targets.into_iter().next().unwrap();
        let (interval, offset) = (target.interval, target.offset());
        let sink = Arc::new(Instants::default());
        let ownership = Arc::new(Unsettled {
            settled: watch::channel(now_ms() - 10_000).0,
            changes: watch::channel(0).0,
        });
        let spec = LoopSpec {
            client: cfg.http.build(std::path::Path::new(".")).unwrap(),
            cfg,
            target,
            sink: sink.clone(),
            status: SharedStatus::default(),
            ownership: ownership.clone(),
        };
        let (stop, stop_rx) = watch::channel(None);
        let running = tokio::spawn(run(spec, stop_rx));

        // Three intervals with the view settled only up to ten seconds ago: nothing.
        tokio::time::sleep(StdDuration::from_millis(600)).await;
        assert_eq!(served.load(Ordering::SeqCst), 0, "fetched before its view was settled");
        assert!(sink.0.lock().is_empty());

        // Settled past now: the instant held is fetched once, late, with its own
        // timestamp, then the schedule goes on.
        let released = now_ms();
        ownership.settled.send_replace(i64::MAX);
        tokio::time::sleep(StdDuration::from_millis(700)).await;
        stop.send_replace(Some(true));
        running.await.unwrap();
        let instants = sink.0.lock().clone();
        assert!(instants.len() >= 3, "{instants:?}");
        // One fetch per instant written (and perhaps one the stop cut short).
        let fetched = served.load(Ordering::SeqCst);
        assert!(
            fetched == instants.len() || fetched == instants.len() + 1,
            "{fetched} fetches, {instants:?}"
        );
        assert!(
            instants[0] <= released && released - instants[0] < 200,
            "{instants:?} {released}"
        );
        for w in instants.windows(2) {
            assert_eq!(w[1] - w[0], 200, "every instant once, in order: {instants:?}");
        }
        for t in &instants {
            assert_eq!(last_slot(*t, interval, offset), *t, "an instant of the schedule: {t}");
        }
    }

    #[test]
    fn the_instant_in_hand_is_the_last_at_or_before_now() {
        let (i, o) = (StdDuration::from_secs(10), StdDuration::from_millis(2_500));
        assert_eq!(last_slot(102_500, i, o), 102_500);
        assert_eq!(last_slot(102_499, i, o), 92_500);
        assert_eq!(last_slot(112_499, i, o), 102_500);
        for t in [0, 1, 92_500, 99_999, 100_000] {
            let last = last_slot(t, i, o);
            assert!(last <= t && t - last < 10_000);
            assert_eq!(next_slot(last, i, o), last, "an instant of the schedule");
        }
    }
}
