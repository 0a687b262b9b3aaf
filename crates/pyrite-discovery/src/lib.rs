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
