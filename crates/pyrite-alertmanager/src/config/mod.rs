//! `alertmanager.yml`, read exactly as Alertmanager 0.27/0.28 reads it and checked as
//! `amtool check-config` checks it: unknown fields refused (with their line), Alertmanager's
//! defaults filled in (root route timings, `global`, each integration's default template
//! texts), values an integration leaves out taken from `global`, and every rule refused in
//! Alertmanager's words.
//!
//! # Layout
//! - this file: [`Config`], [`GlobalConfig`], [`HttpConfig`], [`ConfigError`], loading and
//!   printing;
//! - `route`: the routing tree, inhibition rules and named time intervals;
//! - `receivers`, `other`: receivers and their integrations;
//! - `validate`: the checks that need the whole file, and filling from `global`;
//! - `paths`: relative file names taken against the configuration file's directory;
//! - `fields`: how durations, URLs, addresses and matchers are read and printed.
//!
//! The invariant: a [`Config`] that exists passed every check, its root route has all its
//! timings, every integration has what it needs to send; and [`Config::to_yaml`] shows no
//! secret — credentials are [`pyrite_config::Secret`]s, printed masked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pyrite_config::Secret;
use pyrite_http_client::TlsConfig;
use serde::{Deserialize, Deserializer, Serialize};

mod fields;
mod other;
mod paths;
mod receivers;
mod route;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_errors;

pub use other::{
    JiraConfig, MsTeamsV2Config, PushoverConfig, RocketchatConfig, RocketchatField, SigV4Config, SnsConfig,
    TelegramConfig, VictorOpsConfig, WebexConfig, WechatConfig,
};
pub use receivers::{
    default_pagerduty_details, DiscordConfig, EmailConfig, MsTeamsConfig, OpsgenieConfig, OpsgenieResponder,
    PagerdutyConfig, PagerdutyImage, PagerdutyLink, Receiver, SlackAction, SlackConfig, SlackConfirmationField,
    SlackField, WebhookConfig, DEFAULT_EMAIL_SUBJECT,
};
pub use route::{
    parse_matcher_lines, GroupBy, InhibitRule, NamedTimeInterval, RouteConfig, DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL,
};

use fields::{de_host_port, de_opt_url, de_secret_url, de_url, model_duration};

/// Why a configuration was refused. The message is Alertmanager's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not YAML, or not the shape of `alertmanager.yml` (an unknown field, a wrong type, a
    /// value a field refuses); the message carries the line.
    #[error("{message}")]
    Yaml { message: String, line: Option<usize> },
    /// The file reads, but breaks one of Alertmanager's rules.
    #[error("{0}")]
    Invalid(String),
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    /// The line (1-based) the problem is on, when the YAML reader knows it.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Yaml { line, .. } => *line,
            _ => None,
        }
    }
}

impl From<serde_yaml::Error> for ConfigError {
    fn from(e: serde_yaml::Error) -> Self {
        ConfigError::Yaml {
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        }
    }
}

pyrite_http_client::with_http_client_config! {
    /// `http_config`: Prometheus's HTTP client options. An integration without one uses
    /// `global.http_config`.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct HttpConfig {
        /// Whether the integration wrote its own `http_config` (Webex requires it).
        #[serde(skip)]
        pub(crate) explicit: bool,
    }
}

/// An integration's own `http_config`, marked as written there.
pub(crate) fn de_http_config<'de, D: Deserializer<'de>>(d: D) -> Result<HttpConfig, D::Error> {
    let mut http = HttpConfig::deserialize(d)?;
    http.explicit = true;
    Ok(http)
}

/// `global`: defaults for every integration, and the resolve timeout.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalConfig {
    /// How long after its last update an alert without an end time counts as resolved.
    #[serde(with = "model_duration")]
    pub resolve_timeout: Duration,
    pub http_config: HttpConfig,
    #[serde(deserialize_with = "de_opt_url", skip_serializing_if = "Option::is_none")]
    pub jira_api_url: Option<String>,
    pub smtp_from: String,
    pub smtp_hello: String,
    #[serde(deserialize_with = "de_host_port")]
    pub smtp_smarthost: String,
    pub smtp_auth_username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_auth_password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_auth_password_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_auth_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_auth_secret_file: Option<String>,
    pub smtp_auth_identity: String,
    pub smtp_require_tls: bool,
    pub smtp_tls_config: TlsConfig,
    #[serde(deserialize_with = "de_secret_url", skip_serializing_if = "Option::is_none")]
    pub slack_api_url: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_api_url_file: Option<String>,
    #[serde(deserialize_with = "de_url")]
    pub pagerduty_url: String,
    #[serde(deserialize_with = "de_url")]
    pub opsgenie_api_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opsgenie_api_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opsgenie_api_key_file: Option<String>,
    #[serde(deserialize_with = "de_url")]
    pub wechat_api_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_api_secret: Option<Secret>,
    pub wechat_api_corp_id: String,
    #[serde(deserialize_with = "de_url")]
    pub victorops_api_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victorops_api_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victorops_api_key_file: Option<String>,
    #[serde(deserialize_with = "de_url")]
    pub telegram_api_url: String,
    #[serde(deserialize_with = "de_url")]
    pub webex_api_url: String,
    #[serde(deserialize_with = "de_url")]
    pub rocketchat_api_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rocketchat_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_id: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_id_file: Option<String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            resolve_timeout: Duration::from_secs(5 * 60),
            http_config: HttpConfig::default(),
            jira_api_url: None,
            smtp_from: String::new(),
            smtp_hello: "localhost".into(),
            smtp_smarthost: String::new(),
            smtp_auth_username: String::new(),
            smtp_auth_password: None,
            smtp_auth_password_file: None,
            smtp_auth_secret: None,
            smtp_auth_secret_file: None,
            smtp_auth_identity: String::new(),
            smtp_require_tls: true,
            smtp_tls_config: TlsConfig::default(),
            slack_api_url: None,
            slack_api_url_file: None,
            pagerduty_url: "https://events.pagerduty.com/v2/enqueue".into(),
            opsgenie_api_url: "https://api.opsgenie.com/".into(),
            opsgenie_api_key: None,
            opsgenie_api_key_file: None,
            wechat_api_url: "https://qyapi.weixin.qq.com/cgi-bin/".into(),
            wechat_api_secret: None,
            wechat_api_corp_id: String::new(),
            victorops_api_url: "https://alert.victorops.com/integrations/generic/20131114/alert/".into(),
            victorops_api_key: None,
            victorops_api_key_file: None,
            telegram_api_url: "https://api.telegram.org".into(),
            webex_api_url: "https://webexapis.com/v1/messages".into(),
            rocketchat_api_url: "https://open.rocket.chat/".into(),
            rocketchat_token: None,
            rocketchat_token_file: None,
            rocketchat_token_id: None,
            rocketchat_token_id_file: None,
        }
    }
}

/// `alertmanager.yml` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<GlobalConfig>,
    #[serde(default)]
    route: Option<RouteConfig>,
    #[serde(default)]
    inhibit_rules: Vec<InhibitRule>,
    #[serde(default)]
    receivers: Vec<Receiver>,
    #[serde(default)]
    templates: Vec<String>,
    #[serde(default)]
    mute_time_intervals: Vec<route::RawNamedInterval>,
    #[serde(default)]
    time_intervals: Vec<route::RawNamedInterval>,
}

/// Whether a `<<` merge key appears anywhere in `v`.
fn has_merge_key(v: &serde_yaml::Value) -> bool {
    match v {
        serde_yaml::Value::Mapping(m) => m.iter().any(|(k, v)| k.as_str() == Some("<<") || has_merge_key(v)),
        serde_yaml::Value::Sequence(s) => s.iter().any(has_merge_key),
        serde_yaml::Value::Tagged(t) => has_merge_key(&t.value),
        _ => false,
    }
}

/// A loaded, checked `alertmanager.yml`.
#[derive(Clone)]
pub struct Config {
    pub global: GlobalConfig,
    pub route: RouteConfig,
    pub inhibit_rules: Vec<InhibitRule>,
    pub receivers: Vec<Receiver>,
    /// Template file globs; relative ones are taken against the file's directory by
    /// [`Config::load_file`].
    pub templates: Vec<String>,
    /// `mute_time_intervals` and `time_intervals`, together, in that order.
    pub time_intervals: Vec<NamedTimeInterval>,
    original: String,
    base_dir: Option<PathBuf>,
    /// The two interval sections as written, for printing (each interval's own type is
    /// read-only).
    written_mute_time_intervals: Option<serde_yaml::Value>,
    written_time_intervals: Option<serde_yaml::Value>,
}

/// Everything but the original text, which holds the secrets in the clear.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("global", &self.global)
            .field("route", &self.route)
            .field("inhibit_rules", &self.inhibit_rules)
            .field("receivers", &self.receivers)
            .field("templates", &self.templates)
            .field("time_intervals", &self.time_intervals)
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

/// What [`Config::to_yaml`] prints, in Alertmanager's order.
#[derive(Serialize)]
struct Printed<'a> {
    global: &'a GlobalConfig,
    route: &'a RouteConfig,
    #[serde(skip_serializing_if = "<[InhibitRule]>::is_empty")]
    inhibit_rules: &'a [InhibitRule],
    #[serde(skip_serializing_if = "<[Receiver]>::is_empty")]
    receivers: &'a [Receiver],
    templates: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    mute_time_intervals: Option<&'a serde_yaml::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_intervals: Option<&'a serde_yaml::Value>,
}

impl Config {
    /// Reads and checks a configuration: defaults filled in, `global` values handed to the
    /// integrations that leave them out.
    pub fn parse(yaml: &str) -> Result<Config, ConfigError> {
        let mut document: serde_yaml::Value = serde_yaml::from_str(yaml)?;
        if document.is_null() {
            return Err(ConfigError::Invalid("no route provided in config".into()));
        }
        // YAML merge keys (`<<: *defaults`), which Alertmanager's reader applies, are only
        // applied on a parsed document; reading that loses the lines of errors, so only a
        // file that uses them is read that way.
        let raw: RawConfig = if has_merge_key(&document) {
            document.apply_merge()?;
            RawConfig::deserialize(document.clone())?
        } else {
            serde_yaml::from_str(yaml)?
        };
        let written = |key: &str| {
            document
                .get(key)
                .filter(|v| v.as_sequence().is_some_and(|s| !s.is_empty()))
                .cloned()
        };
        let mut config = validate::finish(raw).map_err(ConfigError::Invalid)?;
        config.written_mute_time_intervals = written("mute_time_intervals");
        config.written_time_intervals = written("time_intervals");
        config.original = yaml.to_string();
        Ok(config)
    }

    /// Reads `path` as [`Config::parse`] does, then takes relative template globs and
    /// relative `*_file` names against the file's directory.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        paths::resolve(&mut config, &dir);
        config.base_dir = Some(dir);
        Ok(config)
    }

    /// The text the configuration was read from, as given.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The directory of the file it was loaded from, if it came from a file.
    pub fn base_dir(&self) -> Option<&Path> {
        self.base_dir.as_deref()
    }

    /// The interval named `name`, from either section.
    pub fn time_interval(&self, name: &str) -> Option<&NamedTimeInterval> {
        self.time_intervals.iter().find(|t| t.name == name)
    }

    /// The receiver named `name`.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The configuration as loaded (defaults and `global` values filled in), every secret
    /// masked: what `/api/v2/status` shows.
    pub fn to_yaml(&self) -> String {
        let printed = Printed {
            global: &self.global,
            route: &self.route,
            inhibit_rules: &self.inhibit_rules,
            receivers: &self.receivers,
            templates: &self.templates,
            mute_time_intervals: self.written_mute_time_intervals.as_ref(),
            time_intervals: self.written_time_intervals.as_ref(),
        };
        serde_yaml::to_string(&printed).unwrap_or_else(|e| format!("<error creating config string: {e}>"))
    }
}
