//! The bucket blocks are kept in, as the configuration names it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{ObjectStore, RetryConfig};
use pyrite_ingester::BlockSettings;

use pyrite_block::{BlocksBackend, S3Config};

use crate::config::Config;

/// The configured bucket, or `None` when blocks are off. `clustered`: this process is
/// one of a cluster's, so its bucket must be one the others see too.
pub fn open_bucket(cfg: &Config, clustered: bool) -> anyhow::Result<Option<Arc<dyn ObjectStore>>> {
    let b = &cfg.blocks;
    b.validate().map_err(anyhow::Error::msg)?;
    if clustered {
        // Every process of a cluster must see the one bucket: blocks an ingester cuts
        // into a directory nobody else reads would be gone from every query once its
        // head lets go of them.
        match b.backend {
            BlocksBackend::Filesystem if b.dir.is_empty() => bail!(
                "in a cluster the blocks bucket must be one every process sees: give every process the same \
                 --blocks.dir (a shared directory, on one machine) or use --blocks.backend=s3; \
                 without it each process would keep blocks under its own --data.dir"
            ),
            BlocksBackend::Memory => bail!(
                "--blocks.backend=memory keeps blocks inside one process, so the rest of a cluster \
                 cannot read them: use a shared --blocks.dir or --blocks.backend=s3"
            ),
            _ => {}
        }
    }
    let store: Arc<dyn ObjectStore> = match b.backend {
        BlocksBackend::None => return Ok(None),
        BlocksBackend::Memory => Arc::new(InMemory::new()),
        BlocksBackend::Filesystem => {
            let dir = match b.dir.as_str() {
                "" => cfg.data.dir.join("blocks"),
                d => PathBuf::from(d),
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating the bucket directory {}", dir.display()))?;
            let store = LocalFileSystem::new_with_prefix(&dir)
                .with_context(|| format!("opening the bucket directory {}", dir.display()))?;
            Arc::new(store.with_automatic_cleanup(true))
        }
        BlocksBackend::S3 => Arc::new(s3(&b.s3)?),
    };
    Ok(Some(store))
}

fn s3(c: &S3Config) -> anyhow::Result<AmazonS3> {
    if c.bucket.is_empty() {
        bail!("--blocks.backend=s3 needs --blocks.s3.bucket");
    }
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(&c.bucket)
        .with_region(if c.region.is_empty() { "us-east-1" } else { &c.region })
        .with_virtual_hosted_style_request(c.virtual_hosted_style)
        // A bucket that is away for a while is retried by the block cutter, which keeps
        // its data in the head until the upload succeeds; requests themselves give up
        // soon so a query is not held for minutes.
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(10),
            ..Default::default()
        });
    if !c.endpoint.is_empty() {
        b = b
            .with_endpoint(&c.endpoint)
            .with_allow_http(c.endpoint.starts_with("http://"));
    }
    if !c.access_key_id.is_empty() {
        b = b
            .with_access_key_id(&c.access_key_id)
            .with_secret_access_key(c.secret_access_key.expose());
    }
    b.build().context("configuring the S3 bucket")
}

/// How ingesters cut blocks into `bucket`.
pub fn block_settings(cfg: &Config, bucket: Arc<dyn ObjectStore>) -> BlockSettings {
    BlockSettings {
        bucket,
        range: cfg.blocks.range.0,
        check_every: cfg.blocks.check_interval.0,
        flush_delay: cfg.blocks.flush_delay.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clustered(dir: &std::path::Path) -> Config {
        let mut cfg = Config::default();
        cfg.data.dir = dir.join("data");
        cfg
    }

    #[test]
    fn a_cluster_never_starts_with_a_bucket_only_it_can_see() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = clustered(dir.path());
        let err = open_bucket(&cfg, true).expect_err("an implicit per-process bucket is refused");
        assert!(err.to_string().contains("--blocks.dir"), "{err}");
        cfg.blocks.backend = BlocksBackend::Memory;
        assert!(open_bucket(&cfg, true).is_err());
        cfg.blocks.backend = BlocksBackend::Filesystem;
        cfg.blocks.dir = dir.path().join("bucket").display().to_string();
        assert!(
            open_bucket(&cfg, true).unwrap().is_some(),
            "an explicit shared directory is fine"
        );
        cfg.blocks.backend = BlocksBackend::None;
        assert!(open_bucket(&cfg, true).unwrap().is_none());
        // The single process keeps its bucket under its data directory.
        let mut alone = Config::default();
        alone.data.dir = dir.path().join("alone");
        assert!(open_bucket(&alone, false).unwrap().is_some());
        assert!(dir.path().join("alone/blocks").is_dir());
    }
}
