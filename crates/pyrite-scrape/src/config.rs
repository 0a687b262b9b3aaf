//! The scrape configuration: a Prometheus configuration file read as Prometheus reads
//! it — its `global` section and `scrape_configs` — with one addition, a `tenant` per
//! scrape config (default `anonymous`). Other top-level sections (`rule_files`,
//! `alerting`, `remote_write`, …) are accepted and left to other components; they are
//! named in [`ScrapeFile::ignored`] so the caller can say so in its log.
//!
//! The invariant: a file either reads whole, with every default filled in as Prometheus
//! fills it (a job's interval and timeout from `global`, its timeout never above its
//! interval), or is refused with the line the problem is on.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use pyrite_config::Duration;
use pyrite_discovery::{
    ConsulSdConfig, DnsSdConfig, FileSdConfig, HttpSdConfig, KubernetesSdConfig, SdLists, StaticConfig,
};
use pyrite_relabel::RelabelConfig;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// A configuration that could not be read: where, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ConfigError {
    pub line: Option<usize>,
    pub message: String,
}

/// The file as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScrapeFile {
    pub global: GlobalConfig,
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Top-level sections present but not Pyrite's scraper's to run.
    #[serde(skip)]
    pub ignored: Vec<&'static str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    global: RawGlobal,
    #[serde(default)]
    scrape_configs: Vec<RawScrapeConfig>,
    rule_files: Option<IgnoredAny>,
    alerting: Option<IgnoredAny>,
    remote_write: Option<IgnoredAny>,
    remote_read: Option<IgnoredAny>,
    storage: Option<IgnoredAny>,
    tracing: Option<IgnoredAny>,
    scrape_config_files: Option<IgnoredAny>,
    otlp: Option<IgnoredAny>,
    runtime: Option<IgnoredAny>,
}

/// `global`: the defaults every scrape config starts from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalConfig {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub external_labels: BTreeMap<String, String>,
    pub limits: Limits,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Duration(StdDuration::from_secs(60)),
            scrape_timeout: Duration(StdDuration::from_secs(10)),
            external_labels: BTreeMap::new(),
            limits: Limits::default(),
        }
    }
}

/// The per-scrape limits; 0 means none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub body_size_limit: u64,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub target_limit: u64,
}

// Some fields are read only so that files carrying them are accepted.
#[allow(dead_code)]
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    scrape_interval: Option<Duration>,
    scrape_timeout: Option<Duration>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    body_size_limit: Option<ByteSize>,
    sample_limit: Option<u64>,
    label_limit: Option<u64>,
    label_name_length_limit: Option<u64>,
    label_value_length_limit: Option<u64>,
    target_limit: Option<u64>,
    // Read and left to others, or with nothing to do here.
    evaluation_interval: Option<IgnoredAny>,
    rule_query_offset: Option<IgnoredAny>,
    query_log_file: Option<IgnoredAny>,
    scrape_failure_log_file: Option<IgnoredAny>,
    scrape_protocols: Option<Vec<String>>,
    keep_dropped_targets: Option<u64>,
    metric_name_validation_scheme: Option<IgnoredAny>,
    metric_name_escaping_scheme: Option<IgnoredAny>,
    always_scrape_classic_histograms: Option<bool>,
    convert_classic_histograms_to_nhcb: Option<IgnoredAny>,
}

/// One `scrape_configs` entry, every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    /// Pyrite's addition: whose data the job's samples are.
    pub tenant: String,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub scrape_protocols: Vec<String>,
    pub fallback_scrape_protocol: Option<String>,
    pub scrape_classic_histograms: bool,
    pub metrics_path: String,
    pub scheme: String,
    pub params: BTreeMap<String, Vec<String>>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub enable_compression: bool,
    pub limits: Limits,
    pub keep_dropped_targets: u64,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub dns_sd_configs: Vec<DnsSdConfig>,
    pub http_sd_configs: Vec<HttpSdConfig>,
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    pub consul_sd_configs: Vec<ConsulSdConfig>,
    #[serde(flatten)]
    pub http: pyrite_http_client::HttpClientConfig,
    /// `global.external_labels`, which every series the job writes carries unless it
    /// has a label of that name already (what a Prometheus remote-writing it would add).
    pub external_labels: BTreeMap<String, String>,
}

impl ScrapeConfig {
    /// The job's discovery lists.
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
}

/// The scrape protocols Prometheus negotiates, best first.
pub const DEFAULT_SCRAPE_PROTOCOLS: [&str; 4] = [
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];
const KNOWN_PROTOCOLS: [&str; 5] = [
    "PrometheusProto",
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
];

pyrite_http_client::with_http_client_config! {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawScrapeConfig {
        #[serde(default)]
        job_name: String,
        #[serde(default)]
        tenant: Option<String>,
        #[serde(default)]
        scrape_interval: Option<Duration>,
        #[serde(default)]
        scrape_timeout: Option<Duration>,
        #[serde(default)]
        scrape_protocols: Option<Vec<String>>,
        #[serde(default)]
        fallback_scrape_protocol: Option<String>,
        #[serde(default)]
        scrape_classic_histograms: Option<bool>,
        #[serde(default)]
        always_scrape_classic_histograms: Option<bool>,
        #[serde(default)]
        metrics_path: Option<String>,
        #[serde(default)]
        scheme: Option<String>,
        #[serde(default)]
        params: BTreeMap<String, Vec<String>>,
        #[serde(default)]
        honor_labels: bool,
        #[serde(default)]
        honor_timestamps: Option<bool>,
        #[serde(default)]
        track_timestamps_staleness: bool,
        #[serde(default)]
        enable_compression: Option<bool>,
        #[serde(default)]
        body_size_limit: Option<ByteSize>,
        #[serde(default)]
        sample_limit: Option<u64>,
        #[serde(default)]
        label_limit: Option<u64>,
        #[serde(default)]
        label_name_length_limit: Option<u64>,
        #[serde(default)]
        label_value_length_limit: Option<u64>,
        #[serde(default)]
        target_limit: Option<u64>,
        #[serde(default)]
        keep_dropped_targets: Option<u64>,
        #[serde(default)]
        native_histogram_bucket_limit: Option<IgnoredAny>,
        #[serde(default)]
        native_histogram_min_bucket_factor: Option<IgnoredAny>,
        #[serde(default)]
        convert_classic_histograms_to_nhcb: Option<IgnoredAny>,
        #[serde(default)]
        metric_name_validation_scheme: Option<IgnoredAny>,
        #[serde(default)]
        metric_name_escaping_scheme: Option<IgnoredAny>,
        #[serde(default)]
        relabel_configs: Vec<RelabelConfig>,
        #[serde(default)]
        metric_relabel_configs: Vec<RelabelConfig>,
        #[serde(default)]
        static_configs: Vec<StaticConfig>,
        #[serde(default)]
        file_sd_configs: Vec<FileSdConfig>,
        #[serde(default)]
        dns_sd_configs: Vec<DnsSdConfig>,
        #[serde(default)]
        http_sd_configs: Vec<HttpSdConfig>,
        #[serde(default)]
        kubernetes_sd_configs: Vec<KubernetesSdConfig>,
        #[serde(default)]
        consul_sd_configs: Vec<ConsulSdConfig>,
    }
}

/// A size as Prometheus writes `body_size_limit`: `100`, `512KB`, `10MiB`, `1GB`
/// (powers of 1024 either way).
#[derive(Debug, Clone, Copy)]
struct ByteSize(u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as 512, 10KB or 1GiB")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ByteSize, E> {
                parse_bytes(s).map(ByteSize).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let shift = match unit {
        "" | "B" => 0,
        "KB" | "KiB" | "K" => 10,
        "MB" | "MiB" | "M" => 20,
        "GB" | "GiB" | "G" => 30,
        "TB" | "TiB" | "T" => 40,
        "PB" | "PiB" | "P" => 50,
        _ => return Err(format!("invalid size {s:?}: unknown unit {unit:?}")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Reads a configuration file's text.
pub fn parse(text: &str) -> Result<ScrapeFile, ConfigError> {
    let raw: RawFile = if text.trim().is_empty() {
        serde_yaml::from_str("{}")
    } else {
        serde_yaml::from_str(text)
    }
    .map_err(|e| {
        // The line goes in front; serde_yaml's own "at line L column C" would repeat it.
        let mut message = e.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        ConfigError {
            line: e.location().map(|l| l.line()),
            message,
        }
    })?;
    let mut ignored = Vec::new();
    for (present, name) in [
        (raw.rule_files.is_some(), "rule_files"),
        (raw.alerting.is_some(), "alerting"),
        (raw.remote_write.is_some(), "remote_write"),
        (raw.remote_read.is_some(), "remote_read"),
        (raw.storage.is_some(), "storage"),
        (raw.tracing.is_some(), "tracing"),
        (raw.scrape_config_files.is_some(), "scrape_config_files"),
        (raw.otlp.is_some(), "otlp"),
        (raw.runtime.is_some(), "runtime"),
    ] {
        if present {
            ignored.push(name);
        }
    }
    let at_line = |needle: &str| line_of(text, needle);
    let global = global(raw.global).map_err(|message| ConfigError {
        line: at_line("global:"),
        message,
    })?;
    let mut seen = std::collections::BTreeSet::new();
    let mut scrape_configs = Vec::with_capacity(raw.scrape_configs.len());
    for sc in raw.scrape_configs {
        let line = if sc.job_name.is_empty() {
            line_of(text, "scrape_configs:")
        } else {
            job_line(text, &sc.job_name)
        };
        let job = sc.job_name.clone();
        let c = scrape_config(sc, &global).map_err(|message| ConfigError { line, message })?;
        if !seen.insert(job.clone()) {
            return Err(ConfigError {
                line,
                message: format!("found multiple scrape configs with job name {job:?}"),
            });
        }
        scrape_configs.push(c);
    }
    Ok(ScrapeFile {
        global,
        scrape_configs,
        ignored,
    })
}

fn global(g: RawGlobal) -> Result<GlobalConfig, String> {
    let d = GlobalConfig::default();
    let scrape_interval = g.scrape_interval.unwrap_or(d.scrape_interval);
    if scrape_interval.is_zero() {
        return Err("scrape interval must be greater than zero".into());
    }
    // As Prometheus: a global timeout left out is the default, or the interval if that is shorter.
    let scrape_timeout = match g.scrape_timeout {
        Some(t) => t,
        None if d.scrape_timeout.0 > scrape_interval.0 => scrape_interval,
        None => d.scrape_timeout,
    };
    if scrape_timeout.0 > scrape_interval.0 {
        return Err("global scrape timeout greater than scrape interval".into());
    }
    for (name, value) in &g.external_labels {
        if !pyrite_model::is_valid_label_name(name) {
            return Err(format!("{name:?} is not a valid label name"));
        }
        if value.is_empty() {
            return Err(format!("empty value for external label {name:?}"));
        }
    }
    if let Some(p) = &g.scrape_protocols {
        check_protocols(p)?;
    }
    let _ = (g.keep_dropped_targets, g.always_scrape_classic_histograms);
    Ok(GlobalConfig {
        scrape_interval,
        scrape_timeout,
        external_labels: g.external_labels,
        limits: Limits {
            body_size_limit: g.body_size_limit.map_or(0, |b| b.0),
            sample_limit: g.sample_limit.unwrap_or(0),
            label_limit: g.label_limit.unwrap_or(0),
            label_name_length_limit: g.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: g.label_value_length_limit.unwrap_or(0),
            target_limit: g.target_limit.unwrap_or(0),
        },
    })
}

fn check_protocols(p: &[String]) -> Result<(), String> {
    if p.is_empty() {
        return Err("scrape_protocols cannot be empty".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in p {
        if !KNOWN_PROTOCOLS.contains(&name.as_str()) {
            return Err(format!(
                "unknown scrape protocol {name}, supported: {}",
                KNOWN_PROTOCOLS.join(", ")
            ));
        }
        if !seen.insert(name) {
            return Err(format!("duplicated protocol in scrape_protocols, got {p:?}"));
        }
    }
    Ok(())
}

fn scrape_config(sc: RawScrapeConfig, g: &GlobalConfig) -> Result<ScrapeConfig, String> {
    if sc.job_name.is_empty() {
        return Err("job_name is empty".into());
    }
    let job = &sc.job_name;
    let http = sc.http_client_config();
    let scrape_interval = sc.scrape_interval.unwrap_or(g.scrape_interval);
    if scrape_interval.is_zero() {
        return Err(format!("scrape interval must be greater than zero for job {job:?}"));
    }
    let scrape_timeout = match sc.scrape_timeout {
        Some(t) => t,
        None if g.scrape_timeout.0 > scrape_interval.0 => scrape_interval,
        None => g.scrape_timeout,
    };
    if scrape_timeout.0 > scrape_interval.0 {
        return Err(format!(
            "scrape timeout greater than scrape interval for scrape config with job name {job:?}"
        ));
    }
    let scheme = sc.scheme.unwrap_or_else(|| "http".into());
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "invalid scheme {scheme:?} for job {job:?}: it must be http or https"
        ));
    }
    let metrics_path = sc.metrics_path.unwrap_or_else(|| "/metrics".into());
    let scrape_protocols = match sc.scrape_protocols {
        Some(p) => {
            check_protocols(&p).map_err(|e| format!("{e} for scrape config with job name {job:?}"))?;
            p
        }
        None => DEFAULT_SCRAPE_PROTOCOLS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(f) = &sc.fallback_scrape_protocol {
        if !KNOWN_PROTOCOLS.contains(&f.as_str()) {
            return Err(format!("unknown fallback_scrape_protocol {f} for job {job:?}"));
        }
    }
    let tenant = sc.tenant.unwrap_or_else(|| "anonymous".into());
    if tenant.is_empty() {
        return Err(format!("the tenant of job {job:?} is empty"));
    }
    let limit = |own: Option<u64>, global: u64| own.unwrap_or(global);
    let _ = (
        &sc.native_histogram_bucket_limit,
        &sc.native_histogram_min_bucket_factor,
        &sc.convert_classic_histograms_to_nhcb,
        &sc.metric_name_validation_scheme,
        &sc.metric_name_escaping_scheme,
    );
    SdLists {
        static_configs: &sc.static_configs,
        file: &sc.file_sd_configs,
        dns: &sc.dns_sd_configs,
        http: &sc.http_sd_configs,
        kubernetes: &sc.kubernetes_sd_configs,
        consul: &sc.consul_sd_configs,
    }
    .validate()?;
    http.validate().map_err(|e| e.to_string())?;
    Ok(ScrapeConfig {
        tenant,
        scrape_interval,
        scrape_timeout,
        scrape_protocols,
        fallback_scrape_protocol: sc.fallback_scrape_protocol,
        scrape_classic_histograms: sc
            .always_scrape_classic_histograms
            .or(sc.scrape_classic_histograms)
            .unwrap_or(false),
        metrics_path,
        scheme,
        params: sc.params,
        honor_labels: sc.honor_labels,
        honor_timestamps: sc.honor_timestamps.unwrap_or(true),
        track_timestamps_staleness: sc.track_timestamps_staleness,
        enable_compression: sc.enable_compression.unwrap_or(true),
        limits: Limits {
            body_size_limit: sc.body_size_limit.map_or(g.limits.body_size_limit, |b| b.0),
            sample_limit: limit(sc.sample_limit, g.limits.sample_limit),
            label_limit: limit(sc.label_limit, g.limits.label_limit),
            label_name_length_limit: limit(sc.label_name_length_limit, g.limits.label_name_length_limit),
            label_value_length_limit: limit(sc.label_value_length_limit, g.limits.label_value_length_limit),
            target_limit: limit(sc.target_limit, g.limits.target_limit),
        },
        keep_dropped_targets: sc.keep_dropped_targets.unwrap_or(0),
        relabel_configs: sc.relabel_configs,
        metric_relabel_configs: sc.metric_relabel_configs,
        static_configs: sc.static_configs,
        file_sd_configs: sc.file_sd_configs,
        dns_sd_configs: sc.dns_sd_configs,
        http_sd_configs: sc.http_sd_configs,
        kubernetes_sd_configs: sc.kubernetes_sd_configs,
        consul_sd_configs: sc.consul_sd_configs,
        http,
        job_name: sc.job_name,
        external_labels: g.external_labels.clone(),
    })
}

impl ScrapeConfig {
    /// The `Accept` header for this job's protocols, best first: each weighted one
    /// tenth below the one before, anything else last, as Prometheus weighs them.
    pub fn accept_header(&self) -> String {
        let mut weight = KNOWN_PROTOCOLS.len() + 1;
        let mut parts = Vec::with_capacity(self.scrape_protocols.len() + 1);
        for p in &self.scrape_protocols {
            parts.push(format!("{};q=0.{weight}", media_type(p)));
            weight -= 1;
        }
        parts.push(format!("*/*;q=0.{weight}"));
        parts.join(",")
    }
}

/// The media type a scrape protocol asks for.
pub fn media_type(protocol: &str) -> &'static str {
    match protocol {
        "PrometheusProto" => {
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
        }
        "OpenMetricsText1.0.0" => "application/openmetrics-text;version=1.0.0",
        "OpenMetricsText0.0.1" => "application/openmetrics-text;version=0.0.1",
        "PrometheusText1.0.0" => "text/plain;version=1.0.0",
        _ => "text/plain;version=0.0.4",
    }
}

/// The 1-based line of the first line that, trimmed, starts with `needle`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.trim_start().starts_with(needle))
        .map(|i| i + 1)
}

/// The line that names a job: `job_name: x`, `- job_name: "x"`, `job_name: 'x'`.
fn job_line(text: &str, job: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('-').trim_start();
            l.strip_prefix("job_name:").is_some_and(|v| {
                let v = v.trim();
                let v = v.split(" #").next().unwrap_or(v).trim();
                v.trim_matches(|c| c == '"' || c == '\'') == job
            })
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests;
