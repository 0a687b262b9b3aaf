//! Receivers and the integrations most files use — webhook, email, Slack, PagerDuty,
//! OpsGenie, Microsoft Teams and Discord — with Alertmanager's field names and defaults
//! (default template texts included), and each integration's own checks, in
//! Alertmanager's words. The other integrations (Telegram among them) live in `other`.
//!
//! The invariant: every credential and every URL that carries a token is a [`Secret`], so
//! printing a receiver never shows one.

use std::collections::BTreeMap;
use std::time::Duration;

use pyrite_config::Secret;
use pyrite_http_client::TlsConfig;
use serde::{Deserialize, Serialize};

use super::fields::{de_host_port, de_opt_url, de_secret_url, is_false, opt_go_duration, secret_set, text_set};
use super::other::{
    JiraConfig, MsTeamsV2Config, PushoverConfig, RocketchatConfig, SnsConfig, TelegramConfig, VictorOpsConfig,
    WebexConfig, WechatConfig,
};
use super::{de_http_config, HttpConfig};

/// The Subject header an email gets when its `headers` do not set one.
pub const DEFAULT_EMAIL_SUBJECT: &str = r#"{{ template "email.default.subject" . }}"#;

fn t(name: &str) -> String {
    format!("{{{{ template \"{name}\" . }}}}")
}

/// `Some(message)` when both the inline value and its file are given.
pub(crate) fn at_most_one(
    inline: bool,
    file: &Option<String>,
    inline_name: &str,
    file_name: &str,
) -> Result<(), String> {
    if inline && text_set(file) {
        return Err(format!("at most one of {inline_name} & {file_name} must be configured"));
    }
    Ok(())
}

/// A named set of integrations alerts are sent to.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Receiver {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub discord_configs: Vec<DiscordConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_configs: Vec<EmailConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slack_configs: Vec<SlackConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhook_configs: Vec<WebhookConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub opsgenie_configs: Vec<OpsgenieConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wechat_configs: Vec<WechatConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pushover_configs: Vec<PushoverConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub victorops_configs: Vec<VictorOpsConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sns_configs: Vec<SnsConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telegram_configs: Vec<TelegramConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webex_configs: Vec<WebexConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub msteams_configs: Vec<MsTeamsConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub msteamsv2_configs: Vec<MsTeamsV2Config>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jira_configs: Vec<JiraConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rocketchat_configs: Vec<RocketchatConfig>,
}

/// `webhook_configs`: a JSON POST to `url`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_secret_url", skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_file: Option<String>,
    /// At most this many alerts per message; 0 is no limit.
    pub max_alerts: u64,
    /// No timeout when absent (or zero).
    #[serde(with = "opt_go_duration", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            url: None,
            url_file: None,
            max_alerts: 0,
            timeout: None,
        }
    }
}

impl WebhookConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        match (secret_set(&self.url), text_set(&self.url_file)) {
            (false, false) => Err("one of url or url_file must be configured".into()),
            (true, true) => Err("at most one of url & url_file must be configured".into()),
            _ => Ok(()),
        }
    }
}

/// `email_configs`. `from`, `smarthost`, `hello`, the `auth_*` fields, `require_tls` and
/// `tls_config` are taken from `global` when not set here.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    pub send_resolved: bool,
    pub to: String,
    pub from: String,
    pub hello: String,
    #[serde(deserialize_with = "de_host_port")]
    pub smarthost: String,
    pub auth_username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_password_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_secret_file: Option<String>,
    pub auth_identity: String,
    /// Keys in canonical MIME form (`X-Team`), as Alertmanager stores them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    pub html: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            send_resolved: false,
            to: String::new(),
            from: String::new(),
            hello: String::new(),
            smarthost: String::new(),
            auth_username: String::new(),
            auth_password: None,
            auth_password_file: None,
            auth_secret: None,
            auth_secret_file: None,
            auth_identity: String::new(),
            headers: BTreeMap::new(),
            html: t("email.default.html"),
            text: String::new(),
            require_tls: None,
            tls_config: None,
        }
    }
}

/// `x-team-name` → `X-Team-Name`, as Go's `CanonicalMIMEHeaderKey` writes header names.
pub(crate) fn canonical_header(name: &str) -> String {
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return name.to_string();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

impl EmailConfig {
    pub(crate) fn check(&mut self) -> Result<(), String> {
        if self.to.is_empty() {
            return Err("missing to address in email config".into());
        }
        let mut headers = BTreeMap::new();
        for (name, value) in std::mem::take(&mut self.headers) {
            let name = canonical_header(&name);
            if headers.contains_key(&name) {
                return Err(format!("duplicate header {name:?} in email config"));
            }
            headers.insert(name, value);
        }
        self.headers = headers;
        at_most_one(
            secret_set(&self.auth_password),
            &self.auth_password_file,
            "auth_password",
            "auth_password_file",
        )?;
        if let Some(tls) = &self.tls_config {
            tls.validate().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// `slack_configs`. `api_url` comes from `global.slack_api_url(_file)` when not set here.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_secret_url", skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url_file: Option<String>,
    pub channel: String,
    pub username: String,
    pub color: String,
    pub title: String,
    pub title_link: String,
    pub pretext: String,
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<SlackField>,
    pub short_fields: bool,
    pub footer: String,
    pub fallback: String,
    pub callback_id: String,
    pub icon_emoji: String,
    pub icon_url: String,
    pub image_url: String,
    pub thumb_url: String,
    pub link_names: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mrkdwn_in: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<SlackAction>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            send_resolved: false,
            http_config: HttpConfig::default(),
            api_url: None,
            api_url_file: None,
            channel: String::new(),
            username: t("slack.default.username"),
            color: r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#.into(),
            title: t("slack.default.title"),
            title_link: t("slack.default.titlelink"),
            pretext: t("slack.default.pretext"),
            text: t("slack.default.text"),
            fields: Vec::new(),
            short_fields: false,
            footer: t("slack.default.footer"),
            fallback: t("slack.default.fallback"),
            callback_id: t("slack.default.callbackid"),
            icon_emoji: t("slack.default.iconemoji"),
            icon_url: t("slack.default.iconurl"),
            image_url: String::new(),
            thumb_url: String::new(),
            link_names: false,
            mrkdwn_in: Vec::new(),
            actions: Vec::new(),
        }
    }
}

/// One attachment field of a Slack message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short: Option<bool>,
}

/// A button (`url`) or message action (`name`) of a Slack message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub style: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<SlackConfirmationField>,
}

/// The "are you sure?" dialog of a Slack action.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackConfirmationField {
    pub text: String,
    pub title: String,
    pub ok_text: String,
    pub dismiss_text: String,
}

impl SlackConfig {
    pub(crate) fn check(&mut self) -> Result<(), String> {
        at_most_one(secret_set(&self.api_url), &self.api_url_file, "api_url", "api_url_file")?;
        for field in &self.fields {
            if field.title.is_empty() {
                return Err("missing title in Slack field configuration".into());
            }
            if field.value.is_empty() {
                return Err("missing value in Slack field configuration".into());
            }
        }
        for action in &mut self.actions {
            if action.kind.is_empty() {
                return Err("missing type in Slack action configuration".into());
            }
            if action.text.is_empty() {
                return Err("missing text in Slack action configuration".into());
            }
            if !action.url.is_empty() {
                action.name.clear();
                action.value.clear();
                action.confirm = None;
            } else if action.name.is_empty() {
                return Err("missing name or url in Slack action configuration".into());
            }
            if action.confirm.as_ref().is_some_and(|c| c.text.is_empty()) {
                return Err("missing text in Slack confirmation configuration".into());
            }
        }
        Ok(())
    }
}

/// `pagerduty_configs`: Events API v2 with `routing_key`, v1 with `service_key`. `url`
/// comes from `global.pagerduty_url` when not set here.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagerdutyConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_key_file: Option<String>,
    #[serde(deserialize_with = "de_opt_url", skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub client: String,
    pub client_url: String,
    pub description: String,
    /// Alertmanager's `firing`, `resolved`, `num_firing`, `num_resolved` added when absent.
    pub details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<PagerdutyImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<PagerdutyLink>,
    /// `client` when not set.
    pub source: String,
    pub severity: String,
    pub class: String,
    pub component: String,
    pub group: String,
}

impl Default for PagerdutyConfig {
    fn default() -> Self {
        PagerdutyConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            routing_key: None,
            routing_key_file: None,
            service_key: None,
            service_key_file: None,
            url: None,
            client: t("pagerduty.default.client"),
            client_url: t("pagerduty.default.clientURL"),
            // Alertmanager's text has no space before the closing braces here.
            description: r#"{{ template "pagerduty.default.description" .}}"#.into(),
            details: BTreeMap::new(),
            images: Vec::new(),
            links: Vec::new(),
            source: String::new(),
            severity: String::new(),
            class: String::new(),
            component: String::new(),
            group: String::new(),
        }
    }
}

/// An image attached to a PagerDuty event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagerdutyImage {
    pub src: String,
    pub alt: String,
    pub href: String,
}

/// A link attached to a PagerDuty event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagerdutyLink {
    pub href: String,
    pub text: String,
}

/// The `details` every PagerDuty event carries unless the configuration overrides them.
pub fn default_pagerduty_details() -> BTreeMap<String, String> {
    [
        (
            "firing",
            r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
        ),
        (
            "resolved",
            r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
        ),
        ("num_firing", "{{ .Alerts.Firing | len }}"),
        ("num_resolved", "{{ .Alerts.Resolved | len }}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl PagerdutyConfig {
    pub(crate) fn check(&mut self) -> Result<(), String> {
        let routing = secret_set(&self.routing_key);
        let service = secret_set(&self.service_key);
        if !routing && !service && !text_set(&self.routing_key_file) && !text_set(&self.service_key_file) {
            return Err("missing service or routing key in PagerDuty config".into());
        }
        at_most_one(routing, &self.routing_key_file, "routing_key", "routing_key_file")?;
        at_most_one(service, &self.service_key_file, "service_key", "service_key_file")?;
        if self.source.is_empty() {
            self.source = self.client.clone();
        }
        for (k, v) in default_pagerduty_details() {
            self.details.entry(k).or_insert(v);
        }
        Ok(())
    }
}

/// `opsgenie_configs`. `api_key(_file)` and `api_url` come from `global` when not set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsgenieConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<String>,
    #[serde(deserialize_with = "de_opt_url", skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    pub message: String,
    pub description: String,
    pub source: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    pub entity: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub responders: Vec<OpsgenieResponder>,
    pub actions: String,
    pub tags: String,
    pub note: String,
    pub priority: String,
    #[serde(skip_serializing_if = "is_false")]
    pub update_alerts: bool,
}

impl Default for OpsgenieConfig {
    fn default() -> Self {
        OpsgenieConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            api_key: None,
            api_key_file: None,
            api_url: None,
            message: t("opsgenie.default.message"),
            description: t("opsgenie.default.description"),
            source: t("opsgenie.default.source"),
            details: BTreeMap::new(),
            entity: String::new(),
            responders: Vec::new(),
            actions: String::new(),
            tags: String::new(),
            note: String::new(),
            priority: String::new(),
            update_alerts: false,
        }
    }
}

/// Who an OpsGenie alert goes to: one of `id`, `name` or `username`, and a `type`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsgenieResponder {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(rename = "type")]
    pub kind: String,
}

const OPSGENIE_TYPES: &str = "^(team|teams|user|escalation|schedule)$";

impl OpsgenieConfig {
    pub(crate) fn check(&mut self) -> Result<(), String> {
        at_most_one(secret_set(&self.api_key), &self.api_key_file, "api_key", "api_key_file")?;
        for r in &mut self.responders {
            // Printed as Go prints the struct: `{id name username type}`.
            let shown = format!("{{{} {} {} {}}}", r.id, r.name, r.username, r.kind);
            if r.id.is_empty() && r.username.is_empty() && r.name.is_empty() {
                return Err(format!(
                    "opsGenieConfig responder {shown} has to have at least one of id, username or name specified"
                ));
            }
            if !r.kind.contains("{{") {
                r.kind = r.kind.to_lowercase();
                if !matches!(r.kind.as_str(), "team" | "teams" | "user" | "escalation" | "schedule") {
                    return Err(format!(
                        "opsGenieConfig responder {shown} type does not match valid options {OPSGENIE_TYPES}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The webhook URL pair shared by Teams and Discord.
pub(crate) fn check_webhook_url(url: &Option<Secret>, file: &Option<String>) -> Result<(), String> {
    match (secret_set(url), text_set(file)) {
        (false, false) => Err("one of webhook_url or webhook_url_file must be configured".into()),
        (true, true) => Err("at most one of webhook_url & webhook_url_file must be configured".into()),
        _ => Ok(()),
    }
}

/// `msteams_configs`: an Office 365 connector card.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MsTeamsConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_secret_url", skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url_file: Option<String>,
    pub title: String,
    pub summary: String,
    pub text: String,
}

impl Default for MsTeamsConfig {
    fn default() -> Self {
        MsTeamsConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            webhook_url: None,
            webhook_url_file: None,
            title: t("msteams.default.title"),
            summary: t("msteams.default.summary"),
            text: t("msteams.default.text"),
        }
    }
}

/// `discord_configs`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_secret_url", skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url_file: Option<String>,
    pub title: String,
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub avatar_url: String,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            webhook_url: None,
            webhook_url_file: None,
            title: t("discord.default.title"),
            message: t("discord.default.message"),
            content: String::new(),
            username: String::new(),
            avatar_url: String::new(),
        }
    }
}
