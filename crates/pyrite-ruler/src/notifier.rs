//! Sending alerts to Alertmanagers through their API v2 (`POST /api/v2/alerts`), as
//! Prometheus's notifier does: alerts due are queued (at most `capacity`; the oldest
//! are dropped when it is full), and a sender takes them out in batches of up to 64 and
//! posts each batch to every Alertmanager, with the tenant in `X-Scope-OrgID`.
//!
//! The invariant: `notify` never waits on the network; an Alertmanager that is down
//! costs its batches (logged), never the evaluation that queued them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value as Json};

use crate::alerting::Notification;
use crate::api::rfc3339;
use crate::manager::Notify;

/// Alerts sent in one request.
const BATCH: usize = 64;

pub struct Notifier {
    alertmanagers: Vec<String>,
    capacity: usize,
    queue: Mutex<VecDeque<(String, Json)>>,
    wake: tokio::sync::Notify,
    client: reqwest::Client,
}

impl Notifier {
    /// A notifier to the Alertmanagers at `urls` (each the base URL its API v2 is
    /// under, such as `http://host:9093`).
    pub fn new(urls: Vec<String>, capacity: usize) -> Arc<Notifier> {
        Arc::new(Notifier {
            alertmanagers: urls.into_iter().map(|u| u.trim_end_matches('/').to_string()).collect(),
            capacity: capacity.max(1),
            queue: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        })
    }

    /// Sends queued alerts until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            let batch = self.take_batch();
            if batch.is_empty() {
                self.wake.notified().await;
                continue;
            }
            let tenant = batch[0].0.clone();
            let body: Vec<Json> = batch.into_iter().map(|(_, a)| a).collect();
            for am in &self.alertmanagers {
                let sent = self
                    .client
                    .post(format!("{am}/api/v2/alerts"))
                    .header(pyrite_model::TENANT_HEADER, &tenant)
                    .json(&body)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status());
                if let Err(e) = sent {
                    tracing::warn!(alertmanager = %am, alerts = body.len(), error = %e, "sending alerts");
                }
            }
        }
    }

    /// Up to a batch of the oldest queued alerts, all of one tenant.
    fn take_batch(&self) -> Vec<(String, Json)> {
        let mut q = self.queue.lock();
        let Some(tenant) = q.front().map(|(t, _)| t.clone()) else {
            return Vec::new();
        };
        let n = q.iter().take(BATCH).take_while(|(t, _)| *t == tenant).count();
        q.drain(..n).collect()
    }
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
    })
}

impl Notify for Notifier {
    fn notify(&self, tenant: &str, alerts: Vec<Notification>) {
        if self.alertmanagers.is_empty() {
            return;
        }
        {
            let mut q = self.queue.lock();
            for a in &alerts {
                q.push_back((tenant.to_string(), postable(a)));
            }
            let over = q.len().saturating_sub(self.capacity);
            if over > 0 {
                q.drain(..over);
                tracing::warn!(dropped = over, "alert queue full; dropped the oldest alerts");
            }
        }
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyrite_model::Labels;
    use std::collections::BTreeMap;

    fn alert(name: &str) -> Notification {
        Notification {
            labels: Labels::from_pairs(&[("alertname", name)]),
            annotations: BTreeMap::from([("summary".to_string(), "s".to_string())]),
            starts_at: 1_500_000_000_000,
            ends_at: 1_500_000_240_000,
            resolved: false,
        }
    }

    #[test]
    fn queues_in_order_drops_the_oldest_and_batches_by_tenant() {
        let n = Notifier::new(vec!["http://am:9093/".into()], 3);
        n.notify("a", vec![alert("1"), alert("2")]);
        n.notify("b", vec![alert("3"), alert("4")]);
        let first = n.take_batch();
        assert_eq!(first.len(), 1, "the oldest was dropped, and a batch holds one tenant");
        assert_eq!(first[0].1["labels"]["alertname"], "2");
        assert_eq!(first[0].1["startsAt"], "2017-07-14T02:40:00Z");
        assert_eq!(first[0].1["endsAt"], "2017-07-14T02:44:00Z");
        assert_eq!(n.take_batch().len(), 2);
        assert!(n.take_batch().is_empty());
    }
}
