//! Service discovery as Prometheus does it. Each mechanism — `static_configs`,
//! `file_sd_configs`, `dns_sd_configs`, `http_sd_configs`, `kubernetes_sd_configs`,
//! `consul_sd_configs` — reads its YAML exactly as Prometheus does and runs as a
//! [`Discoverer`]: a task that sends [`TargetGroup`]s whenever what it sees changes.
//! A group carries the targets' labels (`__address__` and the mechanism's documented
//! `__meta_*` labels) and labels common to all of them; relabeling, target labels and
//! scraping belong to `pyrite-scrape`, not here.
//!
//! The invariant: a group is identified by its `source`, and every update replaces whole
//! groups — a discoverer sends a group again in full when any of its targets changes,
//! and a group with no targets when its source is gone, so a receiver that keeps the
//! last group per source always holds exactly what the discoverer sees.

pub mod consul;
pub mod dns;
pub mod file;
pub mod http;
pub mod kubernetes;
pub mod static_sd;

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use consul::ConsulSdConfig;
pub use dns::DnsSdConfig;
pub use file::FileSdConfig;
pub use http::HttpSdConfig;
pub use kubernetes::KubernetesSdConfig;
pub use static_sd::StaticConfig;

/// A label set as discovery hands it on: names to values, sorted.
pub type LabelSet = BTreeMap<String, String>;

/// Targets from one source, and labels they all share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Unique within one discoverer: a file and index, a DNS name, a Kubernetes object.
    pub source: String,
    pub targets: Vec<LabelSet>,
    pub labels: LabelSet,
}

/// Where a discoverer sends its updates: each message replaces the groups it names.
pub type Updates = mpsc::Sender<Vec<TargetGroup>>;

/// One running discovery mechanism. `run` sends updates until the receiver is dropped
/// or the task is aborted; it must be safe to abort at any await.
#[async_trait]
pub trait Discoverer: Send + 'static {
    async fn run(self: Box<Self>, updates: Updates);
}

/// What a discoverer needs from around it.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Relative file names in the configuration are taken from here: the directory of
    /// the configuration file.
    pub base_dir: PathBuf,
    /// The DNS server `dns_sd_configs` asks (over UDP, and TCP for long answers); `None`
    /// means the system's resolver configuration (`/etc/resolv.conf`).
    pub dns_resolver: Option<std::net::SocketAddr>,
}

impl Env {
    pub fn path(&self, file: &str) -> PathBuf {
        let p = PathBuf::from(file);
        if p.is_absolute() {
            p
        } else {
            self.base_dir.join(p)
        }
    }
}

/// A label name from any key (a Kubernetes label, a Consul metadata key): every
/// character outside `[a-zA-Z0-9_]` becomes `_`, as Prometheus's discovery does.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect()
}

/// The discovery lists of one configuration entry — a scrape job, a set of
/// Alertmanagers — borrowed from the struct that holds them inline, as Prometheus's
/// YAML does.
#[derive(Clone, Copy)]
pub struct SdLists<'a> {
    pub static_configs: &'a Vec<StaticConfig>,
    pub file: &'a [FileSdConfig],
    pub dns: &'a [DnsSdConfig],
    pub http: &'a [HttpSdConfig],
    pub kubernetes: &'a [KubernetesSdConfig],
    pub consul: &'a [ConsulSdConfig],
}

impl SdLists<'_> {
    /// Checks every entry as Prometheus checks it; the first problem, in its words.
    pub fn validate(&self) -> Result<(), String> {
        self.file.iter().try_for_each(FileSdConfig::validate)?;
        self.dns.iter().try_for_each(DnsSdConfig::validate)?;
        self.http.iter().try_for_each(HttpSdConfig::validate)?;
        for k in self.kubernetes {
            k.validate()?;
        }
        self.consul.iter().try_for_each(ConsulSdConfig::validate)
    }

    /// The entry's discoverers: one for all its static targets, one per other entry.
    pub fn discoverers(&self, env: &Env) -> Result<Vec<Box<dyn Discoverer>>, DiscoveryError> {
        let mut out = Vec::new();
        if !self.static_configs.is_empty() {
            out.push(self.static_configs.discoverer(env)?);
        }
        let others = self.file.iter().map(|c| c as &dyn SdConfig);
        let others = others
            .chain(self.dns.iter().map(|c| c as &dyn SdConfig))
            .chain(self.http.iter().map(|c| c as &dyn SdConfig))
            .chain(self.kubernetes.iter().map(|c| c as &dyn SdConfig))
            .chain(self.consul.iter().map(|c| c as &dyn SdConfig));
        for c in others {
            out.push(c.discoverer(env)?);
        }
        Ok(out)
    }
}

/// A discovery configuration that can be started.
pub trait SdConfig {
    /// Prometheus's name for the mechanism (`file`, `dns`, …), used in metrics and logs.
    fn name(&self) -> &'static str;
    fn discoverer(&self, env: &Env) -> Result<Box<dyn Discoverer>, DiscoveryError>;
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
}
