//! Where the ruler's groups come from: the rule files of `--ruler.rules-dir` and the
//! rule store the rule configuration API writes. The ruler runs their union.
//!
//! The store is the blocks bucket's `rules/` prefix when the process has a bucket (so
//! every process of a cluster sees the same rules), and otherwise a local bucket at
//! `<data.dir>/ruler` with the same layout. It is read at start, every
//! `--ruler.poll-interval`, and at once after a change through this process's API.
//!
//! A namespace of the same name in both sources is two namespaces: the directory's
//! groups are known by their file's path, the store's by their namespace, and both run
//! (`/api/v1/rules` tells them apart by `file`). The API only ever sees and changes the
//! store's.
//!
//! The invariant: a source that cannot be read keeps what it last gave — a broken rules
//! directory or an unreachable bucket never stops the other source's groups, nor its
//! own last good ones.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use pyrite_ruler::loader::LoadedGroup;
use pyrite_ruler::manager::Manager;
use pyrite_ruler::store::{RuleStore, StoreError};
use tokio::sync::{Mutex, Notify};

use super::context::Context;

/// The store's bucket: the blocks bucket, or a local one under the data directory.
pub fn rule_store(ctx: &Context) -> anyhow::Result<RuleStore> {
    let bucket: Arc<dyn ObjectStore> = match &ctx.bucket {
        Some(bucket) => bucket.clone(),
        None => {
            let dir = ctx.cfg.data.dir.join("ruler");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating the rule store {}", dir.display()))?;
            let local = LocalFileSystem::new_with_prefix(&dir)
                .with_context(|| format!("opening the rule store {}", dir.display()))?;
            Arc::new(local.with_automatic_cleanup(true))
        }
    };
    Ok(RuleStore::new(bucket))
}

/// The groups each source last gave, and the manager that runs their union.
pub struct Sources {
    manager: Arc<Manager>,
    store: RuleStore,
    /// Held while the union is applied, so applies never interleave.
    current: Mutex<(Vec<LoadedGroup>, Vec<LoadedGroup>)>,
}

impl Sources {
    pub fn new(manager: Arc<Manager>, store: RuleStore) -> Arc<Sources> {
        Arc::new(Sources {
            manager,
            store,
            current: Mutex::new((Vec::new(), Vec::new())),
        })
    }

    /// Runs `dir`'s groups from now on, with the store's.
    pub async fn set_dir(&self, dir: Vec<LoadedGroup>) {
        let mut current = self.current.lock().await;
        current.0 = dir;
        self.manager
            .apply([current.0.clone(), current.1.clone()].concat())
            .await;
    }

    /// Reads the store again and runs what it holds, with the directory's groups.
    pub async fn sync_store(&self) -> Result<usize, StoreError> {
        let stored = self.store.load_all().await?;
        let n = stored.len();
        let mut current = self.current.lock().await;
        current.1 = stored;
        self.manager
            .apply([current.0.clone(), current.1.clone()].concat())
            .await;
        Ok(n)
    }

    /// Reads the store every `poll` and whenever `changed` is woken, until stopped.
    pub async fn follow_store(self: Arc<Self>, poll: Duration, changed: Arc<Notify>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = changed.notified() => {}
            }
            if let Err(e) = self.sync_store().await {
                tracing::warn!(error = %e, "reading the rule store; keeping the groups read before");
            }
        }
    }
}

/// Serves the rule configuration API over the rule store, and returns the sources the
/// ruler runs and what wakes them after a change.
pub fn serve_config_api(ctx: &mut Context, manager: Arc<Manager>) -> anyhow::Result<(Arc<Sources>, Arc<Notify>)> {
    let store = rule_store(ctx)?;
    let changed = Arc::new(Notify::new());
    ctx.serve_http(pyrite_ruler::config_api::routes(Arc::new(
        pyrite_ruler::config_api::ConfigApi {
            store: store.clone(),
            limits: ctx.limits.clone(),
            changed: changed.clone(),
        },
    )));
    Ok((Sources::new(manager, store), changed))
}

/// At start: the directory's groups and the store's (an unreachable store is read again
/// at the next poll), then the store followed until shutdown.
pub async fn start(
    sources: Arc<Sources>,
    dir: Vec<LoadedGroup>,
    changed: Arc<Notify>,
    poll: Duration,
    tasks: &super::context::Tasks,
) {
    sources.set_dir(dir).await;
    match sources.sync_store().await {
        Ok(n) => tracing::info!(groups = n, "rule groups from the rule store"),
        Err(e) => tracing::warn!(error = %e, "reading the rule store; reading it again in --ruler.poll-interval"),
    }
    tasks.spawn(sources.follow_store(poll, changed));
}
