//! Notifications: the data a notification carries (Alertmanager's template data) and
//! the integrations that deliver it — one per entry of a receiver's `*_configs`.
//!
//! The invariant: an integration reports success only when the receiving end accepted
//! the notification, and says whether a failure is worth retrying, so the notification
//! log records exactly what was delivered.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Receiver;
use crate::model::{Alert, LabelSet};

mod webhook;

pub use webhook::Webhook;

/// Why a notification was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    pub message: String,
    /// Worth trying again (a 5xx, a timeout, a refused connection).
    pub retry: bool,
}

impl NotifyError {
    pub fn retry(message: impl Into<String>) -> NotifyError {
        NotifyError {
            message: message.into(),
            retry: true,
        }
    }

    pub fn fatal(message: impl Into<String>) -> NotifyError {
        NotifyError {
            message: message.into(),
            retry: false,
        }
    }
}

/// What every integration is told besides the alerts.
#[derive(Debug, Clone)]
pub struct Context {
    pub group_key: String,
    pub receiver: String,
    pub group_labels: LabelSet,
    pub external_url: String,
    /// The same for every replica and every retry of this notification, and different
    /// for the next one: for receivers that deduplicate on a key.
    pub idempotency_key: String,
    pub now: DateTime<Utc>,
}

#[async_trait]
pub trait Integration: Send + Sync {
    /// `webhook`, `email`, …, as the notification log and metrics name it.
    fn name(&self) -> &'static str;
    fn send_resolved(&self) -> bool;
    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError>;
}

/// A receiver's integrations, each with its index among those of its kind.
pub type Integrations = Vec<(usize, Arc<dyn Integration>)>;

/// The integrations of a receiver, in the order its configuration lists them, each with
/// its index among those of its kind.
pub fn integrations(receiver: &Receiver, base_dir: &std::path::Path) -> Result<Integrations, String> {
    let mut out: Integrations = Vec::new();
    for (i, c) in receiver.webhook_configs.iter().enumerate() {
        out.push((i, Arc::new(Webhook::new(c, base_dir)?)));
    }
    Ok(out)
}

/// Alertmanager's template data, as webhooks receive it and templates see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<DataAlert>,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    #[serde(rename = "externalURL")]
    pub external_url: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataAlert {
    pub status: &'static str,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    #[serde(serialize_with = "ser_go_time")]
    pub starts_at: Option<DateTime<Utc>>,
    /// None while firing: Alertmanager shows no end until it has passed.
    #[serde(serialize_with = "ser_go_time")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

impl Data {
    pub fn new(ctx: &Context, alerts: &[Alert]) -> Data {
        let alerts: Vec<DataAlert> = alerts
            .iter()
            .map(|a| {
                let resolved = a.resolved_at(ctx.now);
                DataAlert {
                    status: if resolved { "resolved" } else { "firing" },
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: Some(a.starts_at),
                    ends_at: resolved.then_some(a.ends_at),
                    generator_url: a.generator_url.clone(),
                    fingerprint: a.fingerprint().to_string(),
                }
            })
            .collect();
        let firing = alerts.iter().any(|a| a.status == "firing");
        Data {
            receiver: regex::escape(&ctx.receiver),
            status: if firing { "firing" } else { "resolved" },
            common_labels: common(alerts.iter().map(|a| &a.labels)),
            common_annotations: common(alerts.iter().map(|a| &a.annotations)),
            alerts,
            group_labels: ctx.group_labels.clone(),
            external_url: ctx.external_url.clone(),
        }
    }
}

/// The pairs every set has.
fn common<'a>(mut sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
    let Some(first) = sets.next() else {
        return LabelSet::new();
    };
    let mut out: BTreeMap<String, String> = first.clone();
    for s in sets {
        out.retain(|k, v| s.get(k) == Some(v));
    }
    out
}

/// Go's `time.Time` in JSON: RFC 3339 with as many fractional digits as needed, and
/// the zero time for none.
pub fn go_time(t: Option<DateTime<Utc>>) -> String {
    match t {
        None => "0001-01-01T00:00:00Z".to_string(),
        Some(t) => {
            let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            let nanos = t.timestamp_subsec_nanos();
            if nanos == 0 {
                format!("{base}Z")
            } else {
                let frac = format!("{nanos:09}");
                format!("{base}.{}Z", frac.trim_end_matches('0'))
            }
        }
    }
}

fn ser_go_time<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&go_time(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_go_prints_them() {
        let t = DateTime::from_timestamp(1_700_000_000, 120_000_000).unwrap();
        assert_eq!(go_time(Some(t)), "2023-11-14T22:13:20.12Z");
        assert_eq!(
            go_time(DateTime::from_timestamp(1_700_000_000, 0)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(go_time(None), "0001-01-01T00:00:00Z");
    }
}
