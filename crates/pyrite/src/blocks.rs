//! The bucket blocks are kept in, as the configuration names it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use pyrite_ingester::BlockSettings;

use crate::config::Config;

/// The configured bucket, or `None` when blocks are off.
pub fn open_bucket(cfg: &Config) -> anyhow::Result<Option<Arc<dyn ObjectStore>>> {
    let b = &cfg.blocks;
    if b.flush_delay.0 < b.sync_interval.0 {
        bail!("--blocks.flush-delay must be at least --blocks.sync-interval, or readers may miss a flushed range");
    }
    if b.range.0.as_millis() < 1000 {
        bail!("--blocks.range must be at least 1s");
    }
    let store: Arc<dyn ObjectStore> = match b.backend.as_str() {
        "none" => return Ok(None),
        "memory" => Arc::new(InMemory::new()),
        "filesystem" => {
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
        other => bail!("--blocks.backend={other:?}: use filesystem, memory or none"),
    };
    Ok(Some(store))
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
