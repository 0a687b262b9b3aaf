//! Sending alerts to Alertmanagers through their API v2, as Prometheus's notifier does.
//! Each alert due gets the external labels it lacks, then goes through
//! `alert_relabel_configs` (an alert dropped there is not sent) into a bounded queue
//! (at most `capacity`; the oldest are dropped when it is full). A sender takes up to 64
//! alerts of one tenant at a time and posts them to every Alertmanager of every set
//! (`alertmanagers:` entry, or `--ruler.alertmanager-url`), after the set's own
//! `alert_relabel_configs`, with the tenant in `X-Scope-OrgID`. The sets' Alertmanagers
//! are found by their service discovery ([`discovery`]).
//!
//! A new alerting file ([`Notifier::apply`], on a reload) replaces the file's sets, their
//! discovery (the old discovery tasks stop), `alert_relabel_configs` and the external
//! labels at once; the queue, the metrics and `--ruler.alertmanager-url`'s set stay.
//! Sending pauses until the new sets' discovery has answered, as it does at start.
//!
//! The invariant: `notify` never waits on the network; an Alertmanager that is down
//! costs its batches (counted and logged), never the evaluation that queued them.

pub mod config;
pub mod discovery;
mod metrics;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use pyrite_discovery::{Discoverer, Env};
use pyrite_http_client::{HttpClient, HttpClientConfig};
use pyrite_model::{Labels, LabelsBuilder};
use pyrite_relabel::RelabelConfig;
use serde_json::{json, Value as Json};

use crate::alerting::Notification;
use crate::api::rfc3339;
use crate::manager::Notify;
pub use config::{AlertingFile, ConfigError};
pub use metrics::NotifierMetrics;

/// Alerts sent in one request.
const BATCH: usize = 64;

/// How long sending waits, at start and after a new file, for the sets' discovery to
/// answer.
pub const FIRST_DISCOVERY: Duration = Duration::from_secs(10);

/// A notifier that could not be made, or a file it could not take.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("alertmanagers[{0}]: {1}")]
    Client(usize, pyrite_http_client::HttpClientError),
    #[error("alertmanagers[{0}]: {1}")]
    Discovery(usize, pyrite_discovery::DiscoveryError),
}

/// Alertmanagers found the same way and reached the same way.
struct AmSet {
    client: HttpClient,
    timeout: Duration,
    alert_relabel: Vec<RelabelConfig>,
    /// The URLs alerts are posted to.
    urls: Mutex<Vec<String>>,
}

/// A set's discovery, not yet running.
struct Discovery {
    set: Arc<AmSet>,
    cfg: config::AlertmanagerConfig,
    discoverers: Vec<Box<dyn Discoverer>>,
}

/// What one alerting file sets; replaced whole when a new file is taken.
struct Alerting {
    /// Counts the files taken (the first is 1).
    generation: u64,
    sets: Vec<Arc<AmSet>>,
    external_labels: Labels,
    alert_relabel: Vec<RelabelConfig>,
}

/// The sets of `file` and their discoveries, ready to run.
fn build_sets(file: &AlertingFile, base_dir: &Path) -> Result<(Vec<Arc<AmSet>>, Vec<Discovery>), NotifierError> {
    let env = &Env {
        base_dir: base_dir.to_path_buf(),
        dns_resolver: None,
    };
    let mut sets = Vec::new();
    let mut discoveries = Vec::new();
    for (i, am) in file.alerting.alertmanagers.iter().enumerate() {
        let client = am
            .http_client_config()
            .build(&env.base_dir)
            .map_err(|e| NotifierError::Client(i, e))?;
        let found = discovery::discoverers(am, env).map_err(|e| NotifierError::Discovery(i, e))?;
        let set = Arc::new(AmSet {
            client,
            timeout: am.timeout.0,
            alert_relabel: am.alert_relabel_configs.clone(),
            urls: Mutex::new(Vec::new()),
        });
        discoveries.push(Discovery {
            set: set.clone(),
            cfg: am.clone(),
            discoverers: found,
        });
        sets.push(set);
    }
    Ok((sets, discoveries))
}

pub struct Notifier {
    alerting: RwLock<Arc<Alerting>>,
    /// `--ruler.alertmanager-url`'s Alertmanagers, kept through new files.
    fixed: Option<Arc<AmSet>>,
    capacity: usize,
    queue: Mutex<VecDeque<(String, Notification)>>,
    wake: tokio::sync::Notify,
    /// The discoveries of the latest file's sets and its generation, taken by `run`.
    discoveries: Mutex<(u64, Vec<Discovery>)>,
    /// The generation of the file taken last, set once `discoveries` holds its.
    latest: tokio::sync::watch::Sender<u64>,
    /// The latest generation whose discovery has answered (or had [`FIRST_DISCOVERY`]).
    answered: tokio::sync::watch::Sender<u64>,
    metrics: NotifierMetrics,
}

impl Notifier {
    /// A notifier to the Alertmanagers of `file`'s `alerting` section and those at
    /// `urls` (each the base URL its API v2 is under, such as `http://host:9093`).
    /// Relative file names in `file` are taken from `base_dir`, the file's directory.
    pub fn new(
        file: &AlertingFile,
        urls: Vec<String>,
        capacity: usize,
        base_dir: &Path,
        metrics: NotifierMetrics,
    ) -> Result<Arc<Notifier>, NotifierError> {
        let (sets, discoveries) = build_sets(file, base_dir)?;
        let fixed = match urls.is_empty() {
            true => None,
            false => Some(Arc::new(AmSet {
                client: HttpClientConfig::default()
                    .build(base_dir)
                    .map_err(|e| NotifierError::Client(sets.len(), e))?,
                timeout: Duration::from_secs(10),
                alert_relabel: Vec::new(),
                urls: Mutex::new(
                    urls.iter()
                        .map(|u| format!("{}/api/v2/alerts", u.trim_end_matches('/')))
                        .collect(),
                ),
            })),
        };
        let capacity = capacity.max(1);
        metrics.queue_capacity.set(capacity as i64);
        let n = Arc::new(Notifier {
            alerting: RwLock::new(Arc::new(Alerting {
                generation: 1,
                sets,
                external_labels: external_labels(file),
                alert_relabel: file.alerting.alert_relabel_configs.clone(),
            })),
            fixed,
            capacity,
            queue: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            discoveries: Mutex::new((1, discoveries)),
            latest: tokio::sync::watch::channel(1).0,
            answered: tokio::sync::watch::channel(0).0,
            metrics,
        });
        n.count_discovered();
        Ok(n)
    }

    /// Takes a new alerting file (relative file names from `base_dir`): its sets replace
    /// the running ones, whose discovery `run` stops as it starts the new sets'; its
    /// `alert_relabel_configs` and external labels apply to alerts notified from now
    /// on. The queue and `--ruler.alertmanager-url`'s set stay. A file whose sets cannot
    /// be made changes nothing.
    pub fn apply(&self, file: &AlertingFile, base_dir: &Path) -> Result<(), NotifierError> {
        let (sets, discoveries) = build_sets(file, base_dir)?;
        let sets_len = sets.len();
        {
            let mut pending = self.discoveries.lock();
            let mut alerting = self.alerting.write();
            let generation = alerting.generation + 1;
            *alerting = Arc::new(Alerting {
                generation,
                sets,
                external_labels: external_labels(file),
                alert_relabel: file.alerting.alert_relabel_configs.clone(),
            });
            *pending = (generation, discoveries);
            self.latest.send_replace(generation);
        }
        self.count_discovered();
        tracing::info!(sets = sets_len, "took a new alerting configuration");
        Ok(())
    }

    /// The external labels of the file taken last.
    pub fn external_labels(&self) -> Labels {
        self.alerting.read().external_labels.clone()
    }

    fn alerting(&self) -> Arc<Alerting> {
        self.alerting.read().clone()
    }

    /// Finds the Alertmanagers and sends queued alerts until the task is dropped.
    /// Sending starts once every set's discovery has answered (or after
    /// [`FIRST_DISCOVERY`]), so the alerts of a first evaluation are not lost to
    /// Alertmanagers not yet found; so it does again after each new file.
    pub async fn run(self: Arc<Self>) {
        tokio::join!(self.discover(), self.send());
    }

    /// Runs the latest file's discoveries, and again for each new file (dropping the
    /// old tasks aborts them); marks each generation answered once all its sets'
    /// discovery has answered, or after [`FIRST_DISCOVERY`].
    async fn discover(self: &Arc<Self>) {
        let mut latest = self.latest.subscribe();
        loop {
            let (generation, discoveries) = {
                let mut d = self.discoveries.lock();
                (d.0, std::mem::take(&mut d.1))
            };
            let mut tasks = tokio::task::JoinSet::new();
            let pending = Arc::new(AtomicUsize::new(discoveries.len()));
            let answered = Arc::new(tokio::sync::Notify::new());
            for (i, Discovery { set, cfg, discoverers }) in discoveries.into_iter().enumerate() {
                let (n, pending, answered) = (self.clone(), pending.clone(), answered.clone());
                let first = AtomicBool::new(true);
                tasks.spawn(discovery::run(cfg, discoverers, move |urls| {
                    tracing::info!(set = i, alertmanagers = ?urls, "alertmanagers discovered");
                    *set.urls.lock() = urls;
                    n.count_discovered();
                    if first.swap(false, Ordering::SeqCst) && pending.fetch_sub(1, Ordering::SeqCst) == 1 {
                        answered.notify_one();
                    }
                }));
            }
            // Never an error: `self` holds the sender.
            let newer = latest.wait_for(|g| *g > generation);
            tokio::pin!(newer);
            if pending.load(Ordering::SeqCst) > 0 {
                tokio::select! {
                    _ = tokio::time::timeout(FIRST_DISCOVERY, answered.notified()) => {}
                    _ = &mut newer => continue,
                }
            }
            self.answered.send_modify(|g| *g = (*g).max(generation));
            let _ = newer.await;
        }
    }

    /// Sends queued alerts, waiting while the latest file's discovery has not answered.
    async fn send(&self) {
        let mut answered = self.answered.subscribe();
        loop {
            let generation = self.alerting.read().generation;
            if *answered.borrow_and_update() < generation {
                // Never an error: `self` holds the sender.
                let _ = answered.changed().await;
                continue;
            }
            let batch = self.take_batch();
            if batch.is_empty() {
                self.wake.notified().await;
                continue;
            }
            let tenant = batch[0].0.clone();
            let alerts: Vec<Notification> = batch.into_iter().map(|(_, a)| a).collect();
            if !self.send_all(&tenant, &alerts).await {
                self.metrics.dropped.inc_by(alerts.len() as u64);
            }
        }
    }

    /// Posts `alerts` to every Alertmanager; whether one at least took them.
    async fn send_all(&self, tenant: &str, alerts: &[Notification]) -> bool {
        let alerting = self.alerting();
        let mut ok = false;
        for set in alerting.sets.iter().chain(&self.fixed) {
            let body: Vec<Json> = alerts
                .iter()
                .filter_map(|a| relabeled(a, &set.alert_relabel))
                .map(|a| postable(&a))
                .collect();
            if body.is_empty() {
                ok = true;
                continue;
            }
            let urls = set.urls.lock().clone();
            for url in urls {
                let sent = match set.client.request(reqwest::Method::POST, &url).await {
                    Ok(req) => req
                        .header(pyrite_model::TENANT_HEADER, tenant)
                        .timeout(set.timeout)
                        .json(&body)
                        .send()
                        .await
                        .and_then(|r| r.error_for_status())
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let label = vec![("alertmanager".to_string(), url.clone())];
                self.metrics.sent.get_or_create(&label).inc_by(body.len() as u64);
                match sent {
                    Ok(()) => ok = true,
                    Err(e) => {
                        self.metrics.errors.get_or_create(&label).inc_by(body.len() as u64);
                        tracing::warn!(alertmanager = %url, alerts = body.len(), error = %e, "sending alerts");
                    }
                }
            }
        }
        ok
    }

    fn count_discovered(&self) {
        let alerting = self.alerting();
        let n: usize = alerting
            .sets
            .iter()
            .chain(&self.fixed)
            .map(|s| s.urls.lock().len())
            .sum();
        self.metrics.alertmanagers_discovered.set(n as i64);
    }

    /// Up to a batch of the oldest queued alerts, all of one tenant.
    fn take_batch(&self) -> Vec<(String, Notification)> {
        let mut q = self.queue.lock();
        let Some(tenant) = q.front().map(|(t, _)| t.clone()) else {
            return Vec::new();
        };
        let n = q.iter().take(BATCH).take_while(|(t, _)| *t == tenant).count();
        let out = q.drain(..n).collect();
        self.metrics.queue_length.set(q.len() as i64);
        out
    }
}

/// `global.external_labels` as labels.
fn external_labels(file: &AlertingFile) -> Labels {
    Labels::from_pairs(&file.external_labels.iter().collect::<Vec<_>>())
}

/// The alert as it is queued: with the external labels it lacks, then relabeled.
fn prepare(alerting: &Alerting, a: &Notification) -> Option<Notification> {
    let mut b: LabelsBuilder = a.labels.to_builder();
    for l in alerting.external_labels.iter() {
        if !a.labels.has(&l.name) {
            b.set(&l.name, &l.value);
        }
    }
    let a = Notification {
        labels: b.build(),
        ..a.clone()
    };
    relabeled(&a, &alerting.alert_relabel)
}

/// The alert after `configs`, or `None` when they drop it.
fn relabeled(a: &Notification, configs: &[RelabelConfig]) -> Option<Notification> {
    if configs.is_empty() {
        return Some(a.clone());
    }
    let labels: Labels = pyrite_relabel::process(&a.labels, configs)?;
    (!labels.is_empty()).then(|| Notification { labels, ..a.clone() })
}

/// An alert in the API v2's `postableAlert` shape.
fn postable(a: &Notification) -> Json {
    let labels: serde_json::Map<String, Json> = a
        .labels
        .iter()
        .map(|l| (l.name.to_string(), Json::from(&*l.value)))
        .collect();
    json!({
        "labels": labels,
        "annotations": a.annotations,
        "startsAt": rfc3339(Some(a.starts_at)),
        "endsAt": rfc3339(Some(a.ends_at)),
        "generatorURL": a.generator_url,
    })
}

/// The `generatorURL` Prometheus gives an alert of the rule with expression `expr`: its
/// graph page at `external_url` with the expression in the table tab.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let q = pyrite_template::query_escape(expr);
    format!("{}/graph?g0.expr={q}&g0.tab=1", external_url.trim_end_matches('/'))
}

impl Notify for Notifier {
    fn notify(&self, tenant: &str, alerts: Vec<Notification>) {
        let alerting = self.alerting();
        if alerting.sets.is_empty() && self.fixed.is_none() {
            return;
        }
        {
            let mut q = self.queue.lock();
            for a in alerts.iter().filter_map(|a| prepare(&alerting, a)) {
                q.push_back((tenant.to_string(), a));
            }
            let over = q.len().saturating_sub(self.capacity);
            if over > 0 {
                q.drain(..over);
                self.metrics.dropped.inc_by(over as u64);
                tracing::warn!(dropped = over, "alert queue full; dropped the oldest alerts");
            }
            self.metrics.queue_length.set(q.len() as i64);
        }
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests;
