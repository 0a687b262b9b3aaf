//! Scraping as a running service: the options Pyrite's own configuration carries
//! (`scrape.config-file`, `scrape.dns-resolver`), the configuration file read at start
//! and again on [`Service::reload`] (SIGHUP and `POST /-/reload` call it), and the
//! [`Manager`] running it.
//!
//! The invariant: a file that does not read, or whose jobs cannot be set up, changes
//! nothing — the running configuration stays, and the error says the line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::config::{parse, ConfigError, ScrapeFile};
use crate::manager::{Manager, Ownership};
use crate::scrape::Sink;

/// Pyrite's own options for scraping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrapeOptions {
    /// A Prometheus configuration file whose `scrape_configs` Pyrite scrapes; empty:
    /// no scraping.
    pub config_file: String,
    /// The DNS server `dns_sd_configs` ask (`host:port`); empty: the system's resolver.
    pub dns_resolver: String,
    /// This distributor's name among the distributors sharing the targets out; empty:
    /// its HTTP address and port (the host's name when it listens on every interface).
    pub instance_id: String,
    /// In a cluster, how often this distributor tells the metadata group it is alive.
    pub heartbeat_period: pyrite_config::Duration,
    /// In a cluster, how long a distributor may go unheard before its targets are given
    /// to the others (it stops scraping a period sooner by itself).
    pub heartbeat_timeout: pyrite_config::Duration,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        ScrapeOptions {
            config_file: String::new(),
            dns_resolver: String::new(),
            instance_id: String::new(),
            heartbeat_period: pyrite_config::Duration::from_millis(500),
            heartbeat_timeout: pyrite_config::Duration::from_millis(3_000),
        }
    }
}

impl ScrapeOptions {
    pub fn validate(&self) -> Result<(), String> {
        if !self.dns_resolver.is_empty() {
            self.dns_resolver
                .parse::<std::net::SocketAddr>()
                .map_err(|e| format!("scrape.dns-resolver {:?}: {e}", self.dns_resolver))?;
        }
        self.timing().validate().map_err(|e| format!("scrape: {e}"))
    }

    /// The heartbeat timing of a distributor in the scrape pool.
    pub fn timing(&self) -> pyrite_members::Timing {
        pyrite_members::Timing {
            period: self.heartbeat_period.0,
            timeout: self.heartbeat_timeout.0,
        }
    }
}

/// Why a (re)load did not take.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: {error}")]
    Config { file: String, error: ConfigError },
    #[error("{file}: {message}")]
    Apply { file: String, message: String },
}

/// The scrape configuration file and the manager running it.
pub struct Service {
    file: PathBuf,
    manager: Arc<Manager>,
    current: Mutex<Arc<ScrapeFile>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl Service {
    /// Reads `opts.config_file`; nothing runs until [`Service::run`]. A file that does
    /// not read is an error here, so a process with a broken file does not start.
    pub fn new(opts: &ScrapeOptions, sink: Arc<dyn Sink>, ownership: Arc<dyn Ownership>) -> Result<Service, LoadError> {
        let file = PathBuf::from(&opts.config_file);
        let env = pyrite_discovery::Env {
            base_dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            dns_resolver: opts.dns_resolver.parse().ok(),
        };
        let manager = Arc::new(Manager::new(sink, ownership, env));
        let parsed = Arc::new(read(&file)?);
        Ok(Service {
            file,
            manager,
            current: Mutex::new(parsed),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// Starts the jobs of the file read by [`Service::new`].
    pub fn run(&self) -> Result<(), LoadError> {
        let parsed = self.current();
        self.manager.apply(&parsed).map_err(|message| LoadError::Apply {
            file: self.file.display().to_string(),
            message,
        })?;
        log_ignored(&self.file, &parsed);
        Ok(())
    }

    /// Reads the file again and applies it; on any error the running jobs stay as they are.
    pub async fn reload(&self) -> Result<(), LoadError> {
        let _one = self.reloading.lock().await;
        let file = self.file.clone();
        let parsed = tokio::task::spawn_blocking(move || read(&file))
            .await
            .map_err(|e| LoadError::Read {
                file: self.file.display().to_string(),
                message: e.to_string(),
            })??;
        self.manager.apply(&parsed).map_err(|message| LoadError::Apply {
            file: self.file.display().to_string(),
            message,
        })?;
        log_ignored(&self.file, &parsed);
        *self.current.lock() = Arc::new(parsed);
        tracing::info!(file = %self.file.display(), "scrape configuration reloaded");
        Ok(())
    }

    pub fn manager(&self) -> &Arc<Manager> {
        &self.manager
    }

    /// The configuration running now (secrets masked when serialized).
    pub fn current(&self) -> Arc<ScrapeFile> {
        self.current.lock().clone()
    }
}

fn read(file: &Path) -> Result<ScrapeFile, LoadError> {
    let text = std::fs::read_to_string(file).map_err(|e| LoadError::Read {
        file: file.display().to_string(),
        message: e.to_string(),
    })?;
    parse(&text).map_err(|error| LoadError::Config {
        file: file.display().to_string(),
        error,
    })
}

fn log_ignored(file: &Path, parsed: &ScrapeFile) {
    for section in &parsed.ignored {
        tracing::info!(file = %file.display(), section, "section left to other components: the scraper reads global and scrape_configs");
    }
}
