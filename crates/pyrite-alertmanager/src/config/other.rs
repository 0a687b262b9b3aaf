//! The other integrations — Telegram, Pushover, VictorOps, WeChat, SNS, Webex, Teams
//! (Workflows), Jira and Rocket.Chat — read with Alertmanager's field names, defaults and own checks,
//! so a real `alertmanager.yml` that uses them loads.
//!
//! The invariant: every credential is a [`Secret`], so printing one never shows it.

use std::collections::BTreeMap;
use std::time::Duration;

use pyrite_config::Secret;
use serde::{Deserialize, Serialize};

use super::fields::{de_opt_url, de_secret_url, is_zero, opt_go_duration, opt_model_duration, secret_set, text_set};
use super::receivers::{at_most_one, check_webhook_url};
use super::{de_http_config, HttpConfig};

fn t(name: &str) -> String {
    format!("{{{{ template \"{name}\" . }}}}")
}

/// `pushover_configs`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushoverConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    pub title: String,
    pub message: String,
    pub url: String,
    pub url_title: String,
    pub device: String,
    pub sound: String,
    pub priority: String,
    #[serde(with = "opt_go_duration", skip_serializing_if = "Option::is_none")]
    pub retry: Option<Duration>,
    #[serde(with = "opt_go_duration", skip_serializing_if = "Option::is_none")]
    pub expire: Option<Duration>,
    #[serde(with = "opt_go_duration", skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
    pub html: bool,
    pub monospace: bool,
}

impl Default for PushoverConfig {
    fn default() -> Self {
        PushoverConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            user_key: None,
            user_key_file: None,
            token: None,
            token_file: None,
            title: t("pushover.default.title"),
            message: t("pushover.default.message"),
            url: t("pushover.default.url"),
            url_title: String::new(),
            device: String::new(),
            sound: String::new(),
            priority: r#"{{ if eq .Status "firing" }}2{{ else }}0{{ end }}"#.into(),
            retry: Some(Duration::from_secs(60)),
            expire: Some(Duration::from_secs(3600)),
            ttl: None,
            html: false,
            monospace: false,
        }
    }
}

impl PushoverConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        let user_key = secret_set(&self.user_key);
        if !user_key && !text_set(&self.user_key_file) {
            return Err("one of user_key or user_key_file must be configured".into());
        }
        at_most_one(user_key, &self.user_key_file, "user_key", "user_key_file")?;
        let token = secret_set(&self.token);
        if !token && !text_set(&self.token_file) {
            return Err("one of token or token_file must be configured".into());
        }
        at_most_one(token, &self.token_file, "token", "token_file")?;
        if self.html && self.monospace {
            return Err("at most one of monospace & html must be configured".into());
        }
        Ok(())
    }
}

/// `victorops_configs`. `api_key(_file)` and `api_url` come from `global` when not set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct VictorOpsConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<String>,
    #[serde(deserialize_with = "de_opt_url", skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    pub routing_key: String,
    pub message_type: String,
    pub state_message: String,
    pub entity_display_name: String,
    pub monitoring_tool: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, String>,
}

impl Default for VictorOpsConfig {
    fn default() -> Self {
        VictorOpsConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            api_key: None,
            api_key_file: None,
            api_url: None,
            routing_key: String::new(),
            message_type: "CRITICAL".into(),
            state_message: t("victorops.default.state_message"),
            entity_display_name: t("victorops.default.entity_display_name"),
            monitoring_tool: t("victorops.default.monitoring_tool"),
            custom_fields: BTreeMap::new(),
        }
    }
}

impl VictorOpsConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.routing_key.is_empty() {
            return Err("missing Routing key in VictorOps config".into());
        }
        at_most_one(secret_set(&self.api_key), &self.api_key_file, "api_key", "api_key_file")?;
        let reserved = [
            "routing_key",
            "message_type",
            "state_message",
            "entity_display_name",
            "monitoring_tool",
            "entity_id",
            "entity_state",
        ];
        if let Some(field) = reserved.iter().find(|f| self.custom_fields.contains_key(**f)) {
            return Err(format!(
                "victorOps config contains custom field {field} which cannot be used as it conflicts with the fixed/static fields"
            ));
        }
        Ok(())
    }
}

/// `wechat_configs`. `api_url`, `api_secret` and `corp_id` come from `global` when not set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WechatConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_secret: Option<Secret>,
    pub corp_id: String,
    pub message: String,
    #[serde(deserialize_with = "de_opt_url", skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    pub to_user: String,
    pub to_party: String,
    pub to_tag: String,
    pub agent_id: String,
    /// `text` unless set; `text` or `markdown`.
    pub message_type: String,
}

impl Default for WechatConfig {
    fn default() -> Self {
        WechatConfig {
            send_resolved: false,
            http_config: HttpConfig::default(),
            api_secret: None,
            corp_id: String::new(),
            message: t("wechat.default.message"),
            api_url: None,
            to_user: t("wechat.default.to_user"),
            to_party: t("wechat.default.to_party"),
            to_tag: t("wechat.default.to_tag"),
            agent_id: t("wechat.default.agent_id"),
            message_type: String::new(),
        }
    }
}

impl WechatConfig {
    pub(crate) fn check(&mut self) -> Result<(), String> {
        if self.message_type.is_empty() {
            self.message_type = "text".into();
        }
        if !matches!(self.message_type.as_str(), "text" | "markdown") {
            return Err(format!(
                "weChat message type {:?} does not match valid options ^(text|markdown)$",
                self.message_type
            ));
        }
        Ok(())
    }
}

/// AWS Signature v4 credentials for SNS.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigV4Config {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<Secret>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub profile: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role_arn: String,
}

/// `sns_configs`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnsConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_url: String,
    pub sigv4: SigV4Config,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topic_arn: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phone_number: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target_arn: String,
    pub subject: String,
    pub message: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl Default for SnsConfig {
    fn default() -> Self {
        SnsConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            api_url: String::new(),
            sigv4: SigV4Config::default(),
            topic_arn: String::new(),
            phone_number: String::new(),
            target_arn: String::new(),
            subject: t("sns.default.subject"),
            message: t("sns.default.message"),
            attributes: BTreeMap::new(),
        }
    }
}

impl SnsConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        // Alertmanager's own test, kept as it is written: `(a != b) != c` on "is empty".
        let (target, topic, phone) = (
            self.target_arn.is_empty(),
            self.topic_arn.is_empty(),
            self.phone_number.is_empty(),
        );
        if (target != topic) != phone {
            return Err("must provide either a Target ARN, Topic ARN, or Phone Number for SNS config".into());
        }
        Ok(())
    }
}

/// `webex_configs`. `api_url` comes from `global.webex_api_url` when not set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebexConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_opt_url", skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    pub message: String,
    pub room_id: String,
}

impl Default for WebexConfig {
    fn default() -> Self {
        WebexConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            api_url: None,
            message: t("webex.default.message"),
            room_id: String::new(),
        }
    }
}

impl WebexConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.room_id.is_empty() {
            return Err("missing room_id on webex_config".into());
        }
        if !self.http_config.explicit || self.http_config.authorization.is_none() {
            return Err("missing webex_configs.http_config.authorization".into());
        }
        Ok(())
    }
}

/// `msteamsv2_configs`: Teams through Power Automate workflows.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MsTeamsV2Config {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_secret_url", skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url_file: Option<String>,
    pub title: String,
    pub text: String,
}

impl Default for MsTeamsV2Config {
    fn default() -> Self {
        MsTeamsV2Config {
            send_resolved: true,
            http_config: HttpConfig::default(),
            webhook_url: None,
            webhook_url_file: None,
            title: t("msteamsv2.default.title"),
            text: t("msteamsv2.default.text"),
        }
    }
}

impl MsTeamsV2Config {
    pub(crate) fn check(&self) -> Result<(), String> {
        check_webhook_url(&self.webhook_url, &self.webhook_url_file)
    }
}

/// `jira_configs`. `api_url` comes from `global.jira_api_url` when not set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JiraConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_opt_url", skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    pub project: String,
    pub summary: String,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    pub priority: String,
    pub issue_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reopen_transition: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resolve_transition: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub wont_fix_resolution: String,
    #[serde(with = "opt_model_duration", skip_serializing_if = "Option::is_none")]
    pub reopen_duration: Option<Duration>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_yaml::Value>,
}

impl Default for JiraConfig {
    fn default() -> Self {
        JiraConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            api_url: None,
            project: String::new(),
            summary: t("jira.default.summary"),
            description: t("jira.default.description"),
            labels: Vec::new(),
            priority: t("jira.default.priority"),
            issue_type: String::new(),
            reopen_transition: String::new(),
            resolve_transition: String::new(),
            wont_fix_resolution: String::new(),
            reopen_duration: None,
            fields: BTreeMap::new(),
        }
    }
}

impl JiraConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.project.is_empty() {
            return Err("missing project in jira_config".into());
        }
        if self.issue_type.is_empty() {
            return Err("missing issue_type in jira_config".into());
        }
        Ok(())
    }
}

/// One attachment field of a Rocket.Chat message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RocketchatField {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short: Option<bool>,
    pub title: String,
    pub value: String,
}

/// `rocketchat_configs`. `api_url`, `token(_file)` and `token_id(_file)` come from
/// `global` when not set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RocketchatConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_opt_url", skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    pub channel: String,
    pub color: String,
    pub title: String,
    pub title_link: String,
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<RocketchatField>,
    pub short_fields: bool,
    pub emoji: String,
    pub icon_url: String,
    pub image_url: String,
    pub thumb_url: String,
    pub link_names: bool,
    /// Kept as written: Alertmanager reads their keys as Go field names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<serde_yaml::Value>,
}

impl Default for RocketchatConfig {
    fn default() -> Self {
        RocketchatConfig {
            send_resolved: false,
            http_config: HttpConfig::default(),
            api_url: None,
            token_id: None,
            token_id_file: None,
            token: None,
            token_file: None,
            channel: String::new(),
            color: r#"{{ if eq .Status "firing" }}red{{ else }}green{{ end }}"#.into(),
            title: t("rocketchat.default.title"),
            title_link: t("rocketchat.default.titlelink"),
            text: t("rocketchat.default.text"),
            fields: Vec::new(),
            short_fields: false,
            emoji: t("rocketchat.default.emoji"),
            icon_url: t("rocketchat.default.iconurl"),
            image_url: String::new(),
            thumb_url: String::new(),
            link_names: false,
            actions: Vec::new(),
        }
    }
}

impl RocketchatConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        at_most_one(self.token.is_some(), &self.token_file, "token", "token_file")?;
        at_most_one(
            self.token_id.is_some(),
            &self.token_id_file,
            "token_id",
            "token_id_file",
        )
    }
}

/// `telegram_configs`. `api_url` comes from `global.telegram_api_url` when not set.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramConfig {
    pub send_resolved: bool,
    #[serde(deserialize_with = "de_http_config")]
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_opt_url", skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_token_file: Option<String>,
    pub chat_id: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub message_thread_id: u64,
    pub message: String,
    pub disable_notifications: bool,
    /// `HTML` unless set; `Markdown`, `MarkdownV2`, `HTML` or empty.
    pub parse_mode: String,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            send_resolved: true,
            http_config: HttpConfig::default(),
            api_url: None,
            bot_token: None,
            bot_token_file: None,
            chat_id: 0,
            message_thread_id: 0,
            message: t("telegram.default.message"),
            disable_notifications: false,
            parse_mode: "HTML".into(),
        }
    }
}

impl TelegramConfig {
    pub(crate) fn check(&self) -> Result<(), String> {
        let token = secret_set(&self.bot_token);
        if !token && !text_set(&self.bot_token_file) {
            return Err("missing bot_token or bot_token_file on telegram_config".into());
        }
        at_most_one(token, &self.bot_token_file, "bot_token", "bot_token_file")?;
        if self.chat_id == 0 {
            return Err("missing chat_id on telegram_config".into());
        }
        if !matches!(self.parse_mode.as_str(), "" | "Markdown" | "MarkdownV2" | "HTML") {
            return Err(
                "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string".into(),
            );
        }
        Ok(())
    }
}
