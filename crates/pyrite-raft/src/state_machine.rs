//! The state machine of a shard: hands each committed command to the [`App`] (the
//! shard's head) and keeps what Raft needs beside it — the last applied log id and the
//! membership. Snapshots are the app's whole state plus that metadata, kept in one file
//! replaced atomically; on open the app is restored from it, so Raft replays only the
//! entries after it. Applies wait only while the app captures its state; encoding and
//! writing the snapshot run on a blocking thread beside them.

use std::fs::{self, File};
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::log_store::LogStore;
use crate::{decode, encode, App, Applied, NodeId, TypeConfig};

type Entry = openraft::Entry<TypeConfig>;

#[derive(Debug, Clone, Default)]
struct Applying {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

struct Inner<A: App> {
    app: Arc<A>,
    dir: PathBuf,
    state: Mutex<Applying>,
    /// The group's log, told what has been applied so it can let go of those entries.
    log: std::sync::OnceLock<LogStore>,
}

/// A shard's state machine over an [`App`]; cheap to clone.
pub struct StateMachine<A: App> {
    inner: Arc<Inner<A>>,
}

impl<A: App> Clone for StateMachine<A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

fn sm_err(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError<NodeId> {
    let e = io::Error::other(e.to_string());
    StorageIOError::new(ErrorSubject::StateMachine, verb, &e).into()
}

impl<A: App> StateMachine<A> {
    /// Opens the state machine under `dir`, restoring `app` from the saved snapshot.
    pub fn open(dir: &Path, app: Arc<A>) -> io::Result<StateMachine<A>> {
        fs::create_dir_all(dir)?;
        let sm = StateMachine {
            inner: Arc::new(Inner {
                app,
                dir: dir.to_path_buf(),
                state: Mutex::new(Applying::default()),
                log: std::sync::OnceLock::new(),
            }),
        };
        if let Some(snap) = sm.read_snapshot()? {
            sm.inner.app.restore(&snap.data).map_err(io::Error::other)?;
            *sm.inner.state.lock() = Applying {
                last_applied: snap.meta.last_log_id,
                membership: snap.meta.last_membership.clone(),
            };
        }
        Ok(sm)
    }

    /// Tells `log` (the group's own log) whenever entries have been applied, so it keeps
    /// only fresh entries in memory.
    pub fn releasing(self, log: &LogStore) -> Self {
        let _ = self.inner.log.set(log.clone());
        self
    }

    fn snapshot_path(&self) -> PathBuf {
        self.inner.dir.join("snapshot")
    }

    fn read_snapshot(&self) -> io::Result<Option<StoredSnapshot>> {
        match fs::read(self.snapshot_path()) {
            Ok(b) => decode(&b)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot: {e}"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_snapshot(&self, snap: &StoredSnapshot) -> io::Result<()> {
        let bytes = encode(snap).map_err(io::Error::other)?;
        let tmp = self.inner.dir.join("snapshot.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, self.snapshot_path())?;
        File::open(&self.inner.dir)?.sync_all()
    }
}

impl<A: App> RaftSnapshotBuilder<TypeConfig> for StateMachine<A> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // The state and the metadata must match: hold the lock while the app captures
        // its state (cheaply), then encode and write it on a blocking thread while
        // applies go on.
        let (encode_app, applying) = {
            let state = self.inner.state.lock();
            (self.inner.app.snapshot(), state.clone())
        };
        let id = applying
            .last_applied
            .map_or_else(|| "empty".to_string(), |l| format!("{}-{}", l.leader_id, l.index));
        let meta = SnapshotMeta {
            last_log_id: applying.last_applied,
            last_membership: applying.membership,
            snapshot_id: id,
        };
        let sm = self.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let stored = StoredSnapshot {
                meta,
                data: encode_app(),
            };
            sm.write_snapshot(&stored).map(|()| stored)
        })
        .await
        .map_err(|e| sm_err(ErrorVerb::Write, e))?
        .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

impl<A: App> RaftStateMachine<TypeConfig> for StateMachine<A> {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>> {
        let s = self.inner.state.lock();
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<Applied>>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let mut state = self.inner.state.lock();
        let mut last = None;
        for entry in entries {
            last = Some(entry.log_id.index);
            state.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => out.push(Vec::new()),
                EntryPayload::Normal(cmd) => out.push(cmd.0.iter().map(|c| self.inner.app.apply(c)).collect()),
                EntryPayload::Membership(m) => {
                    state.membership = StoredMembership::new(Some(entry.log_id), m);
                    out.push(Vec::new());
                }
            }
        }
        drop(state);
        if let (Some(log), Some(last)) = (self.inner.log.get(), last) {
            log.release_applied(last);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let mut state = self.inner.state.lock();
        self.inner.app.restore(&data).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        *state = Applying {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        drop(state);
        self.write_snapshot(&StoredSnapshot {
            meta: meta.clone(),
            data,
        })
        .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        tracing::info!(dir = %self.inner.dir.display(), snapshot = %meta.snapshot_id, "installed a snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let snap = self.read_snapshot().map_err(|e| sm_err(ErrorVerb::Read, e))?;
        Ok(snap.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
