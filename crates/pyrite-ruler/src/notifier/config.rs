//! The alerting configuration file: a Prometheus configuration (a whole `prometheus.yml`
//! will do) of which the ruler reads `global.external_labels` and the `alerting`
//! section — `alert_relabel_configs` and the `alertmanagers` with their service
//! discovery, relabeling, scheme, path prefix, timeout, API version and HTTP client
//! options. Other sections are accepted and left alone; a field unknown to the sections
//! read is refused, as Prometheus refuses it.

use std::collections::BTreeMap;
use std::path::Path;

use pyrite_config::Duration;
use pyrite_discovery::{
    ConsulSdConfig, DnsSdConfig, FileSdConfig, HttpSdConfig, KubernetesSdConfig, SdLists, StaticConfig,
};
use pyrite_relabel::RelabelConfig;
use serde::de::IgnoredAny;
use serde::Deserialize;

/// A file that could not be read, and why (with the line when there is one).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ConfigError {
    pub line: Option<usize>,
    pub message: String,
}

impl From<String> for ConfigError {
    fn from(message: String) -> Self {
        ConfigError { line: None, message }
    }
}

/// What the ruler takes from the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertingFile {
    /// `global.external_labels`: added to every alert that has no label of the name.
    pub external_labels: BTreeMap<String, String>,
    pub alerting: AlertingConfig,
}

/// `alerting:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Applied to every alert before it is queued; an alert dropped is not sent.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// The Alertmanager API an entry speaks; Pyrite speaks v2 only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiVersion;

impl<'de> Deserialize<'de> for ApiVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        match v.as_str() {
            "v2" => Ok(ApiVersion),
            _ => Err(serde::de::Error::custom(format!(
                "expected Alertmanager api version to be one of [v2] but got {v}"
            ))),
        }
    }
}

fn default_scheme() -> String {
    "http".into()
}

fn default_timeout() -> Duration {
    Duration::from_millis(10_000)
}

pyrite_http_client::with_http_client_config! {
    /// One entry of `alertmanagers:`: a set of Alertmanagers found the same way and
    /// reached the same way.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AlertmanagerConfig {
        #[serde(default = "default_scheme")]
        pub scheme: String,
        #[serde(default)]
        pub path_prefix: String,
        #[serde(default = "default_timeout")]
        pub timeout: Duration,
        #[serde(default)]
        pub api_version: ApiVersion,
        /// Applied to each discovered Alertmanager (`__address__`, `__scheme__`,
        /// `__alerts_path__` and the discovery's `__meta_*` labels); one dropped is not
        /// sent to.
        #[serde(default)]
        pub relabel_configs: Vec<RelabelConfig>,
        /// Applied to the alerts sent to this set only, after the global ones.
        #[serde(default)]
        pub alert_relabel_configs: Vec<RelabelConfig>,
        #[serde(default)]
        pub static_configs: Vec<StaticConfig>,
        #[serde(default)]
        pub file_sd_configs: Vec<FileSdConfig>,
        #[serde(default)]
        pub dns_sd_configs: Vec<DnsSdConfig>,
        #[serde(default)]
        pub http_sd_configs: Vec<HttpSdConfig>,
        #[serde(default)]
        pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
        #[serde(default)]
        pub consul_sd_configs: Vec<ConsulSdConfig>,
    }
}

impl AlertmanagerConfig {
    /// The path alerts are posted to under each Alertmanager: the prefix, then
    /// `/api/v2/alerts`, with single slashes.
    pub fn alerts_path(&self) -> String {
        let prefix = self.path_prefix.trim_matches('/');
        match prefix.is_empty() {
            true => "/api/v2/alerts".into(),
            false => format!("/{prefix}/api/v2/alerts"),
        }
    }

    /// The entry's discovery lists.
    pub fn sd_lists(&self) -> SdLists<'_> {
        SdLists {
            static_configs: &self.static_configs,
            file: &self.file_sd_configs,
            dns: &self.dns_sd_configs,
            http: &self.http_sd_configs,
            kubernetes: &self.kubernetes_sd_configs,
            consul: &self.consul_sd_configs,
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.scheme != "http" && self.scheme != "https" {
            return Err(format!(
                "unknown scheme {:?} of an Alertmanager: http or https",
                self.scheme
            ));
        }
        self.sd_lists().validate()?;
        for r in self.relabel_configs.iter().chain(&self.alert_relabel_configs) {
            r.validate().map_err(|e| e.to_string())?;
        }
        self.http_client_config().validate().map_err(|e| e.to_string())
    }
}

/// The sections other than `global` and `alerting` are accepted, not read.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    global: RawGlobal,
    #[serde(default)]
    alerting: AlertingConfig,
    rule_files: Option<IgnoredAny>,
    scrape_configs: Option<IgnoredAny>,
    scrape_config_files: Option<IgnoredAny>,
    remote_write: Option<IgnoredAny>,
    remote_read: Option<IgnoredAny>,
    storage: Option<IgnoredAny>,
    tracing: Option<IgnoredAny>,
    otlp: Option<IgnoredAny>,
    runtime: Option<IgnoredAny>,
}

/// `global`'s fields other than `external_labels` are accepted, not read.
#[allow(dead_code)]
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    scrape_interval: Option<IgnoredAny>,
    scrape_timeout: Option<IgnoredAny>,
    scrape_protocols: Option<IgnoredAny>,
    evaluation_interval: Option<IgnoredAny>,
    rule_query_offset: Option<IgnoredAny>,
    query_log_file: Option<IgnoredAny>,
    scrape_failure_log_file: Option<IgnoredAny>,
    body_size_limit: Option<IgnoredAny>,
    sample_limit: Option<IgnoredAny>,
    target_limit: Option<IgnoredAny>,
    label_limit: Option<IgnoredAny>,
    label_name_length_limit: Option<IgnoredAny>,
    label_value_length_limit: Option<IgnoredAny>,
    keep_dropped_targets: Option<IgnoredAny>,
    metric_name_validation_scheme: Option<IgnoredAny>,
    metric_name_escaping_scheme: Option<IgnoredAny>,
    always_scrape_classic_histograms: Option<IgnoredAny>,
    convert_classic_histograms_to_nhcb: Option<IgnoredAny>,
}

/// Reads the file's text.
pub fn parse(text: &str) -> Result<AlertingFile, ConfigError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    let raw: RawFile = serde_yaml::from_str(text).map_err(|e| {
        let mut message = e.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        ConfigError {
            line: e.location().map(|l| l.line()),
            message: prometheus_wording(&message),
        }
    })?;
    for (name, value) in &raw.global.external_labels {
        if !pyrite_model::is_valid_label_name(name) {
            return Err(format!("{name:?} is not a valid label name").into());
        }
        if value.is_empty() {
            return Err(format!("empty value for external label {name:?}").into());
        }
    }
    for r in &raw.alerting.alert_relabel_configs {
        r.validate().map_err(|e| e.to_string())?;
    }
    for am in &raw.alerting.alertmanagers {
        am.validate()?;
    }
    Ok(AlertingFile {
        external_labels: raw.global.external_labels,
        alerting: raw.alerting,
    })
}

/// An unknown field of the file, `global`, `alerting` or an `alertmanagers` entry said
/// as Prometheus says it (`field x not found in type config.plain`); other messages as
/// they are.
fn prometheus_wording(message: &str) -> String {
    const UNKNOWN: &str = "unknown field `";
    let Some(at) = message.find(UNKNOWN) else {
        return message.to_string();
    };
    let path = message[..at].trim_end_matches(": ");
    let rest = &message[at + UNKNOWN.len()..];
    let Some(field) = rest.split('`').next() else {
        return message.to_string();
    };
    let ty = match path {
        "" | "global" | "alerting" => "config.plain",
        p if p
            .strip_prefix("alerting.alertmanagers[")
            .is_some_and(|i| i.ends_with(']') && !i.contains('.')) =>
        {
            "config.AlertmanagerConfig"
        }
        _ => return message.to_string(),
    };
    format!("field {field} not found in type {ty}")
}

/// Reads the file at `path`.
pub fn read(path: &Path) -> Result<AlertingFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    parse(&text).map_err(|e| ConfigError {
        line: None,
        message: format!("{}: {e}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_global_external_labels_and_alerting_of_a_whole_prometheus_yml() {
        let f = parse(
            r#"
global:
  scrape_interval: 15s
  external_labels: {cluster: eu1}
rule_files: [a.yml]
scrape_configs: [{job_name: x}]
alerting:
  alert_relabel_configs:
    - {source_labels: [severity], regex: debug, action: drop}
  alertmanagers:
    - scheme: https
      path_prefix: /am/
      timeout: 3s
      api_version: v2
      basic_auth: {username: u, password: p}
      tls_config: {insecure_skip_verify: true}
      static_configs: [{targets: ["am1:9093"]}]
      file_sd_configs: [{files: [ams.json]}]
      dns_sd_configs: [{names: [am.example.org], type: A, port: 9093}]
      relabel_configs:
        - {source_labels: [__address__], regex: "am1:.*", action: drop}
    - static_configs: [{targets: ["am2:9093"]}]
"#,
        )
        .unwrap();
        assert_eq!(f.external_labels, BTreeMap::from([("cluster".into(), "eu1".into())]));
        assert_eq!(f.alerting.alert_relabel_configs.len(), 1);
        let [a, b] = &f.alerting.alertmanagers[..] else {
            panic!()
        };
        assert_eq!(
            (a.scheme.as_str(), a.alerts_path()),
            ("https", "/am/api/v2/alerts".into())
        );
        assert_eq!(a.timeout.as_millis(), 3000);
        assert_eq!(a.http_client_config().basic_auth.unwrap().username, "u");
        assert_eq!((a.file_sd_configs.len(), a.dns_sd_configs.len()), (1, 1));
        assert_eq!((b.scheme.as_str(), b.alerts_path()), ("http", "/api/v2/alerts".into()));
        assert_eq!(b.timeout.as_millis(), 10_000);
        assert_eq!(parse("").unwrap(), AlertingFile::default());
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        for (text, wanted) in [
            (
                "alerting: {alertmanagers: [{api_version: v1}]}",
                "expected Alertmanager api version to be one of [v2] but got v1",
            ),
            (
                "alerting:\n  alertmanagers:\n    - nope: 1",
                "line 3: field nope not found in type config.AlertmanagerConfig",
            ),
            (
                "alerting: {nope: 1}",
                "line 1: field nope not found in type config.plain",
            ),
            ("global: {nope: 1}", "line 1: field nope not found in type config.plain"),
            ("nope: 1", "line 1: field nope not found in type config.plain"),
            (
                "alerting: {alertmanagers: [{static_configs: [{nope: 1}]}]}",
                "unknown field `nope`",
            ),
            ("global: {external_labels: {\"a-b\": x}}", "not a valid label name"),
            ("alerting: {alertmanagers: [{scheme: ftp}]}", "unknown scheme"),
            ("alerting: {alert_relabel_configs: [{action: keep, regex: \"(\"}]}", ""),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(wanted), "{text}: {e}");
        }
    }
}
