//! Target state across the scraping nodes. Every node runs a loop for every target, but a
//! target's health, last error and metadata are known only where it is scraped. So each
//! node serves what it knows of the targets it owns now (`GET /scrape/v1/owned`), and the
//! API, before answering, asks each other owner it names for that and shows the owner's
//! state ([`views_everywhere`]). An owner that cannot be reached within a second leaves
//! its targets as this node knows them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use axum::Json;
use futures::future::join_all;
use parking_lot::Mutex;
use pyrite_storage::MetricType;
use serde::{Deserialize, Serialize};

use crate::config::ScrapeConfig;
use crate::manager::{JobView, Manager};
use crate::scrape::{Health, Metadata, Status};

/// The path a node serves its owned targets' state on.
pub const OWNED_PATH: &str = "/scrape/v1/owned";

/// How long the API waits for another owner.
const PEER_TIMEOUT: Duration = Duration::from_secs(1);

static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(PEER_TIMEOUT)
        .build()
        .expect("a plain HTTP client always builds")
});

/// One owned target's state, as a peer serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnedTarget {
    pub pool: String,
    /// The target's hash (its identity in every node's view), in hex.
    pub hash: String,
    pub health: String,
    pub last_error: String,
    /// Milliseconds since the Unix epoch; none before the first scrape.
    pub last_scrape_ms: Option<i64>,
    pub last_scrape_duration_seconds: f64,
    /// Family → (type, help, unit).
    pub metadata: BTreeMap<String, (String, String, String)>,
}

impl OwnedTarget {
    fn of(pool: &str, hash: u64, status: &Status) -> Self {
        let h = &status.health;
        OwnedTarget {
            pool: pool.to_string(),
            hash: format!("{hash:016x}"),
            health: h.health.to_string(),
            last_error: h.last_error.clone(),
            last_scrape_ms: h
                .last_scrape
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64),
            last_scrape_duration_seconds: h.last_duration.as_secs_f64(),
            metadata: status
                .metadata
                .iter()
                .map(|(name, m)| (name.clone(), (m.kind.to_string(), m.help.clone(), m.unit.clone())))
                .collect(),
        }
    }

    /// The state as this node's API shows a target's.
    fn status(&self) -> Status {
        let health = match self.health.as_str() {
            "up" => "up",
            "down" => "down",
            _ => "unknown",
        };
        let kind = |k: &str| MetricType::from_name(k).unwrap_or_default().as_str();
        Status {
            health: Health {
                health,
                last_error: self.last_error.clone(),
                last_scrape: self
                    .last_scrape_ms
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)),
                last_duration: Duration::from_secs_f64(self.last_scrape_duration_seconds.max(0.0)),
            },
            metadata: Arc::new(
                self.metadata
                    .iter()
                    .map(|(name, (k, help, unit))| {
                        let m = Metadata {
                            kind: kind(k),
                            help: help.clone(),
                            unit: unit.clone(),
                        };
                        (name.clone(), m)
                    })
                    .collect(),
            ),
        }
    }
}

/// `GET /scrape/v1/owned`: the targets this node owns now, with their state.
pub async fn owned(State(m): State<Arc<Manager>>) -> Json<Vec<OwnedTarget>> {
    let mut out = Vec::new();
    for (job, (_, view)) in m.views() {
        for a in view.active.iter().filter(|a| a.owner.mine) {
            out.push(OwnedTarget::of(&job, a.target.hash, &a.status.lock()));
        }
    }
    Json(out)
}

/// Every job's view with each target's state as its owner knows it.
pub async fn views_everywhere(m: &Manager) -> BTreeMap<String, (Arc<ScrapeConfig>, JobView)> {
    let mut views = m.views();
    let mut peers: Vec<String> = views
        .values()
        .flat_map(|(_, v)| v.active.iter())
        .filter(|a| !a.owner.mine && !a.owner.node.is_empty())
        .map(|a| a.owner.node.clone())
        .collect();
    peers.sort();
    peers.dedup();
    if peers.is_empty() {
        return views;
    }
    let answers = join_all(peers.iter().map(|p| ask(p))).await;
    let mut known: HashMap<(String, String), OwnedTarget> = HashMap::new();
    for (peer, answer) in peers.iter().zip(answers) {
        match answer {
            Ok(list) => known.extend(list.into_iter().map(|t| ((t.pool.clone(), t.hash.clone()), t))),
            Err(e) => tracing::debug!(peer = %peer, error = %e, "asking a scraping node for its targets"),
        }
    }
    for (job, (_, view)) in views.iter_mut() {
        for a in view.active.iter_mut().filter(|a| !a.owner.mine) {
            if let Some(t) = known.get(&(job.clone(), format!("{:016x}", a.target.hash))) {
                a.status = Arc::new(Mutex::new(t.status()));
            }
        }
    }
    views
}

async fn ask(peer: &str) -> Result<Vec<OwnedTarget>, reqwest::Error> {
    CLIENT
        .get(format!("http://{peer}{OWNED_PATH}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn ms(t: SystemTime) -> i64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
    }

    #[test]
    fn an_owned_target_round_trips_through_its_wire_form() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let status = Status {
            health: Health {
                health: "down",
                last_error: "connection refused".into(),
                last_scrape: Some(at),
                last_duration: Duration::from_millis(12),
            },
            metadata: Arc::new(BTreeMap::from([(
                "node_load1".to_string(),
                Metadata {
                    kind: "gauge",
                    help: "1m load average.".into(),
                    unit: String::new(),
                },
            )])),
        };
        let wire = OwnedTarget::of("node", 0xabc, &status);
        let back: OwnedTarget = serde_json::from_str(&serde_json::to_string(&wire).unwrap()).unwrap();
        assert_eq!(back, wire);
        assert_eq!(back.hash, "0000000000000abc");
        let shown = back.status();
        assert_eq!(shown.health, status.health);
        assert_eq!(ms(shown.health.last_scrape.unwrap()), 1_700_000_000_123);
        assert_eq!(shown.metadata, status.metadata);
    }
}
