//! Notifications: the data a notification carries (Alertmanager's template data) and
//! the integrations that deliver it — one per entry of a receiver's `*_configs`.
//!
//! The invariant: an integration reports success only when the receiving end accepted
//! the notification, and says whether a failure is worth retrying, so the notification
//! log records exactly what was delivered.
//!
//! # Layout
//! - this file: [`Data`], [`Context`], the [`Integration`] trait and [`integrations`];
//! - `template`: notification templates (`default.tmpl`, the configuration's files,
//!   Alertmanager's functions and data methods);
//! - `http`: what the HTTP integrations share (credentials from files, sending JSON
//!   and classifying the status, reading and redacting answers, the group key's hash);
//! - one file per integration: `webhook`, `email`, `pagerduty`, `opsgenie`, `wechat`,
//!   `slack`, `victorops`, `pushover`, `sns` (signing with `sigv4`), `telegram`,
//!   `discord`, `webex`, `msteams`, `msteamsv2`, `jira`, `rocketchat`;
//! - `testkit` (tests only): a recording HTTP server, a fixed notification and the
//!   steps the integrations' tests share (sending it, provoking and checking a failure).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Receiver;
use crate::model::{Alert, LabelSet};

mod discord;
mod email;
mod http;
mod jira;
mod msteams;
mod msteamsv2;
mod opsgenie;
mod pagerduty;
mod pushover;
mod rocketchat;
mod sigv4;
mod slack;
mod sns;
mod telegram;
pub mod template;
#[cfg(test)]
mod testkit;
mod victorops;
mod webex;
mod webhook;
mod wechat;

pub use discord::Discord;
pub use email::Email;
pub use jira::Jira;
pub use msteams::MsTeams;
pub use msteamsv2::MsTeamsV2;
pub use opsgenie::Opsgenie;
pub use pagerduty::Pagerduty;
pub use pushover::Pushover;
pub use rocketchat::Rocketchat;
pub use slack::Slack;
pub use sns::Sns;
pub use telegram::Telegram;
pub use template::Templates;
pub use victorops::VictorOps;
pub use webex::Webex;
pub use webhook::Webhook;
pub use wechat::Wechat;

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

/// The integrations of a receiver, each with its index among those of its kind: every
/// kind Alertmanager 0.28 has, in its order (webhook, email, PagerDuty, OpsGenie,
/// WeChat, Slack, VictorOps, Pushover, SNS, Telegram, Discord, Webex, Teams, Teams v2,
/// Jira, Rocket.Chat), each kind's in the order the configuration lists them.
pub fn integrations(
    receiver: &Receiver,
    base_dir: &std::path::Path,
    templates: Arc<Templates>,
) -> Result<Integrations, String> {
    let mut out: Integrations = Vec::new();
    let t = || templates.clone();
    for (i, c) in receiver.webhook_configs.iter().enumerate() {
        out.push((i, Arc::new(Webhook::new(c, base_dir)?)));
    }
    for (i, c) in receiver.email_configs.iter().enumerate() {
        out.push((i, Arc::new(Email::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.pagerduty_configs.iter().enumerate() {
        out.push((i, Arc::new(Pagerduty::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.opsgenie_configs.iter().enumerate() {
        out.push((i, Arc::new(Opsgenie::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.wechat_configs.iter().enumerate() {
        out.push((i, Arc::new(Wechat::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.slack_configs.iter().enumerate() {
        out.push((i, Arc::new(Slack::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.victorops_configs.iter().enumerate() {
        out.push((i, Arc::new(VictorOps::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.pushover_configs.iter().enumerate() {
        out.push((i, Arc::new(Pushover::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.sns_configs.iter().enumerate() {
        out.push((i, Arc::new(Sns::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.telegram_configs.iter().enumerate() {
        out.push((i, Arc::new(Telegram::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.discord_configs.iter().enumerate() {
        out.push((i, Arc::new(Discord::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.webex_configs.iter().enumerate() {
        out.push((i, Arc::new(Webex::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.msteams_configs.iter().enumerate() {
        out.push((i, Arc::new(MsTeams::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.msteamsv2_configs.iter().enumerate() {
        out.push((i, Arc::new(MsTeamsV2::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.jira_configs.iter().enumerate() {
        out.push((i, Arc::new(Jira::new(c, base_dir, t())?)));
    }
    for (i, c) in receiver.rocketchat_configs.iter().enumerate() {
        out.push((i, Arc::new(Rocketchat::new(c, base_dir, t())?)));
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
            receiver: quote_meta(&ctx.receiver),
            status: if firing { "firing" } else { "resolved" },
            common_labels: common(alerts.iter().map(|a| &a.labels)),
            common_annotations: common(alerts.iter().map(|a| &a.annotations)),
            alerts,
            group_labels: ctx.group_labels.clone(),
            external_url: ctx.external_url.clone(),
        }
    }
}

impl Data {
    /// `firing` while any alert fires, else `resolved`: for receivers that colour or
    /// word a notification by its status.
    pub(crate) fn by_status<T>(&self, firing: T, resolved: T) -> T {
        if self.status == "firing" {
            firing
        } else {
            resolved
        }
    }
}

/// Go's `regexp.QuoteMeta`, which Alertmanager applies to the receiver's name: a
/// backslash before each of `\.+*?()|[]{}^$` (and nothing else, unlike
/// `regex::escape`, which also escapes `-`, `#`, `&` and `~`).
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
    fn the_receiver_is_quoted_as_go_quotes_regexps() {
        assert_eq!(quote_meta("team-a_b #1 & ~x"), "team-a_b #1 & ~x");
        assert_eq!(
            quote_meta(r"a.b*c(d)[e]{f}|^$+?\"),
            r"a\.b\*c\(d\)\[e\]\{f\}\|\^\$\+\?\\"
        );
    }

    #[test]
    fn every_kind_sends_in_alertmanagers_order() {
        use crate::config::*;
        use pyrite_config::Secret;
        let url = || Some("http://127.0.0.1:1/".to_string());
        let secret = || Some(Secret::new("x"));
        let r = Receiver {
            name: "all".into(),
            rocketchat_configs: vec![RocketchatConfig {
                api_url: url(),
                token: secret(),
                token_id: secret(),
                ..Default::default()
            }],
            jira_configs: vec![JiraConfig {
                api_url: url(),
                ..Default::default()
            }],
            msteamsv2_configs: vec![MsTeamsV2Config {
                webhook_url: secret(),
                ..Default::default()
            }],
            webex_configs: vec![WebexConfig {
                api_url: url(),
                ..Default::default()
            }],
            sns_configs: vec![SnsConfig::default()],
            pushover_configs: vec![PushoverConfig {
                token: secret(),
                user_key: secret(),
                ..Default::default()
            }],
            victorops_configs: vec![
                VictorOpsConfig {
                    api_url: url(),
                    api_key: secret(),
                    ..Default::default()
                };
                2
            ],
            wechat_configs: vec![WechatConfig {
                api_url: url(),
                ..Default::default()
            }],
            webhook_configs: vec![WebhookConfig {
                url: Some(Secret::new("http://127.0.0.1:1/")),
                ..Default::default()
            }],
            ..Receiver::default()
        };
        let got = integrations(&r, std::path::Path::new("/"), Arc::new(Templates::defaults())).unwrap();
        let names: Vec<(usize, &str)> = got.iter().map(|(i, n)| (*i, n.name())).collect();
        assert_eq!(
            names,
            [
                (0, "webhook"),
                (0, "wechat"),
                (0, "victorops"),
                (1, "victorops"),
                (0, "pushover"),
                (0, "sns"),
                (0, "webex"),
                (0, "msteamsv2"),
                (0, "jira"),
                (0, "rocketchat"),
            ]
        );
    }

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
