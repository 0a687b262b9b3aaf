//! Where blocks live and when heads cut them (`blocks:` in YAML, `--blocks.*` flags),
//! with the defaults: the bucket (a directory, an S3-compatible server, memory, or none)
//! and the cut, flush and sync timing every component that writes or reads blocks
//! shares.

use pyrite_config::{Duration, Secret};
use serde::{Deserialize, Serialize};

/// Blocks: where the data older than the heads keep lives, and when heads cut it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlocksConfig {
    /// The bucket: `filesystem` (a directory, `dir`), `s3` (any S3-compatible server,
    /// `s3`), `memory` (lost on exit; tests), or `none` (heads keep everything).
    pub backend: BlocksBackend,
    /// The `filesystem` bucket's directory; empty: `<data.dir>/blocks`.
    pub dir: String,
    pub s3: S3Config,
    /// Time range of a block cut from a head.
    pub range: Duration,
    /// How often a shard's leader looks for a range to cut.
    pub check_interval: Duration,
    /// How long cut data stays in the heads after its upload; at least `sync_interval`,
    /// so readers have found the blocks before the heads let go.
    pub flush_delay: Duration,
    /// How often readers look for new blocks of a tenant.
    pub sync_interval: Duration,
}

/// An S3-compatible bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `http(s)://host:port`; empty: AWS's endpoint for `region`.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    /// Shown masked by `/config`; better kept out of the file: `${VAR}` with
    /// `--config.expand-env=true`, or `secret_access_key_file`.
    pub secret_access_key: Secret,
    /// A file holding the secret access key (instead of `secret_access_key`).
    pub secret_access_key_file: String,
    /// Address buckets as `bucket.host` (AWS) rather than `host/bucket` (most others).
    pub virtual_hosted_style: bool,
}

impl Default for BlocksConfig {
    fn default() -> Self {
        Self {
            backend: BlocksBackend::Filesystem,
            dir: String::new(),
            s3: S3Config::default(),
            range: Duration::from_secs(2 * 3600),
            check_interval: Duration::from_secs(60),
            flush_delay: Duration::from_secs(30),
            sync_interval: Duration::from_secs(15),
        }
    }
}

impl BlocksConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.flush_delay.0 < self.sync_interval.0 {
            return Err(
                "--blocks.flush-delay must be at least --blocks.sync-interval, or readers may miss a flushed range"
                    .into(),
            );
        }
        if self.range.0.as_millis() < 1000 {
            return Err("--blocks.range must be at least 1s".into());
        }
        Ok(())
    }
}

/// Where blocks are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlocksBackend {
    /// A directory (`blocks.dir`).
    Filesystem,
    /// Any S3-compatible server (`blocks.s3`).
    S3,
    /// In memory, lost on exit (tests).
    Memory,
    /// Nowhere: heads keep everything.
    None,
}
