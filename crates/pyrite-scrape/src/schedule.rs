//! A target's schedule: [`run`] fetches the target at the fixed instants of its
//! interval (its offset comes from the target's hash, so every node that scrapes it
//! uses the same instants), hands each body to the target's [`Scraper`] and the series
//! it makes to the [`Sink`], and keeps the target's health for the API.
//!
//! The invariant: a loop scrapes an instant at most once, and only an instant its
//! [`Ownership`](crate::Ownership) gives this node.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::ScrapeConfig;
use crate::scrape::{Health, Scrape, ScrapeError, Scraper, SharedStatus, Sink};
use crate::target::Target;

/// Everything a loop needs.
pub struct LoopSpec {
    pub cfg: Arc<ScrapeConfig>,
    pub target: Target,
    pub client: pyrite_http_client::HttpClient,
    pub sink: Arc<dyn Sink>,
    pub status: SharedStatus,
}

fn now_ms() -> i64 {
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

/// Scrapes the target at each scheduled instant until `stop` fires; then, unless it
/// fired with `handed_over` set, writes staleness markers for everything last written.
pub async fn run(spec: LoopSpec, mut stop: tokio::sync::watch::Receiver<Option<bool>>) {
    let LoopSpec {
        cfg,
        target,
        client,
        sink,
        status,
    } = spec;
    let mut scraper = Scraper::new(&cfg, &target);
    let accept = cfg.accept_header();
    let mut slot = next_slot(now_ms(), target.interval, target.offset());
    loop {
        let wait = StdDuration::from_millis((slot - now_ms()).max(0) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
        let started = Instant::now();
        let wall = SystemTime::now();
        let fetched = tokio::select! {
            r = fetch(&client, &cfg, &target, &accept) => r,
            _ = stop.changed() => break,
        };
        let result = fetched.and_then(|(body, ct)| scraper.ingest(&body, &ct, slot));
        let duration = started.elapsed();
        let (mut series, health, error) = match result {
            Ok(s) => {
                let mut out = scraper.report(slot, true, duration, &s);
                out.extend(s.series);
                (out, "up", String::new())
            }
            Err(e) => {
                let mut out = scraper.report(slot, false, duration, &Scrape::default());
                out.extend(scraper.failed(slot));
                (out, "down", e.to_string())
            }
        };
        let written = sink.write(&cfg.tenant, std::mem::take(&mut series)).await;
        {
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
        slot = next_slot(slot + 1, target.interval, target.offset());
        // A slot missed (a slow scrape or write) is skipped, not caught up.
        let now = now_ms();
        if slot < now {
            slot = next_slot(now, target.interval, target.offset());
        }
    }
    let handed_over = stop.borrow().unwrap_or(false);
    if !handed_over {
        let t = now_ms();
        let stale = scraper.end(t);
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
