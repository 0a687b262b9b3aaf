//! The store openraft drives for a group: hands each committed command to the group's
//! [`StateMachine`] and keeps what Raft needs beside it — the last applied log id and the
//! membership. A snapshot is the app's whole state in a data file plus that metadata in
//! `snapshot.meta`, which names the data file; writing the metadata (fsynced, renamed into
//! place) commits a snapshot, so a crash leaves the old one or the new one. On open the
//! app is restored from it, so Raft replays only the entries after it. Applies wait only
//! while the app captures its state; the app then encodes it straight into the data file
//! on a blocking thread beside them, and snapshots are sent to followers from that file,
//! so only a restore (on open, or a follower installing one) reads a whole snapshot into
//! memory.

use std::fs::{self, File};
use std::io::{self, Write};
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
use crate::{decode, encode, NodeId, StateMachine, TypeConfig};

type Entry = openraft::Entry<TypeConfig>;

#[derive(Debug, Clone, Default)]
struct Applying {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

/// The snapshot's metadata file: which data file holds the app's bytes. Writing it (to a
/// temporary name, fsynced, then renamed) is what commits a snapshot.
#[derive(Serialize, Deserialize)]
struct StoredMeta {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: String,
}

/// What the first format kept in one file: the metadata and the app's bytes together.
#[derive(Deserialize)]
struct LegacySnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

const META_FILE: &str = "snapshot.meta";
const LEGACY_FILE: &str = "snapshot";

struct Inner<S: StateMachine> {
    app: Arc<S>,
    dir: PathBuf,
    state: Mutex<Applying>,
    /// Held while a snapshot is committed, so a snapshot built from older state never
    /// replaces a newer one installed meanwhile.
    committing: Mutex<()>,
    /// The group's log, told what has been applied so it can let go of those entries.
    log: std::sync::OnceLock<LogStore>,
}

/// A group's store over its [`StateMachine`]; cheap to clone.
pub struct StateStore<S: StateMachine> {
    inner: Arc<Inner<S>>,
}

impl<S: StateMachine> Clone for StateStore<S> {
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

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

/// The data file of the snapshot with this id (ids are `T<term>-N<node>-<index>` or `empty`).
fn data_file_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    format!("snapshot-{safe}.data")
}

impl<S: StateMachine> StateStore<S> {
    /// Opens the store under `dir`, restoring `app` from the saved snapshot.
    pub fn open(dir: &Path, app: Arc<S>) -> io::Result<StateStore<S>> {
        fs::create_dir_all(dir)?;
        let sm = StateStore {
            inner: Arc::new(Inner {
                app,
                dir: dir.to_path_buf(),
                state: Mutex::new(Applying::default()),
                committing: Mutex::new(()),
                log: std::sync::OnceLock::new(),
            }),
        };
        sm.upgrade_legacy()?;
        if let Some(stored) = sm.read_meta()? {
            let data = fs::read(sm.inner.dir.join(&stored.data))?;
            sm.inner.app.restore(&data).map_err(io::Error::other)?;
            *sm.inner.state.lock() = Applying {
                last_applied: stored.meta.last_log_id,
                membership: stored.meta.last_membership.clone(),
            };
        }
        sm.remove_stale_files();
        Ok(sm)
    }

    /// Tells `log` (the group's own log) whenever entries have been applied, so it keeps
    /// only fresh entries in memory.
    pub fn releasing(self, log: &LogStore) -> Self {
        let _ = self.inner.log.set(log.clone());
        self
    }

    fn read_meta(&self) -> io::Result<Option<StoredMeta>> {
        match fs::read(self.inner.dir.join(META_FILE)) {
            Ok(b) => decode(&b).map(Some).map_err(|e| invalid("snapshot metadata", e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Rewrites a snapshot of the first format (metadata and data in one file) as a data
    /// file and a metadata file.
    fn upgrade_legacy(&self) -> io::Result<()> {
        let legacy = self.inner.dir.join(LEGACY_FILE);
        let bytes = match fs::read(&legacy) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if self.read_meta()?.is_none() {
            let old: LegacySnapshot = decode(&bytes).map_err(|e| invalid("snapshot", e))?;
            let name = data_file_name(&old.meta.snapshot_id);
            write_synced(&self.inner.dir.join(&name), |w| w.write_all(&old.data))?;
            self.commit(old.meta, name)?;
        }
        fs::remove_file(legacy)?;
        sync_dir(&self.inner.dir)
    }

    /// Makes `meta` (whose app bytes are in the fsynced file `data`) the current
    /// snapshot, unless a newer one was committed meanwhile; removes the files of older
    /// ones. Readers holding an older data file open keep reading it.
    fn commit(&self, meta: SnapshotMeta<NodeId, BasicNode>, data: String) -> io::Result<bool> {
        let _committing = self.inner.committing.lock();
        if let Some(current) = self.read_meta()? {
            if current.meta.last_log_id > meta.last_log_id {
                let _ = fs::remove_file(self.inner.dir.join(&data));
                return Ok(false);
            }
        }
        let bytes = encode(&StoredMeta { meta, data }).map_err(io::Error::other)?;
        let tmp = self.inner.dir.join("snapshot.meta.tmp");
        write_synced(&tmp, |w| w.write_all(&bytes))?;
        fs::rename(&tmp, self.inner.dir.join(META_FILE))?;
        sync_dir(&self.inner.dir)?;
        self.remove_stale_files();
        Ok(true)
    }

    /// Removes data files no committed metadata names (older snapshots, or one whose
    /// writing a crash cut short).
    fn remove_stale_files(&self) {
        let keep = match self.read_meta() {
            Ok(m) => m.map(|m| m.data),
            Err(_) => return,
        };
        let Ok(entries) = fs::read_dir(&self.inner.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stale = name.starts_with("snapshot-") && Some(&name) != keep.as_ref();
            if stale || name.ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// The current snapshot with its data file opened for reading.
    async fn current(&self) -> io::Result<Option<Snapshot<TypeConfig>>> {
        let Some(stored) = self.read_meta()? else {
            return Ok(None);
        };
        let file = tokio::fs::File::open(self.inner.dir.join(&stored.data)).await?;
        Ok(Some(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(file),
        }))
    }
}

/// Writes a file through `fill` and fsyncs it.
fn write_synced(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let f = File::create(path)?;
    let mut w = io::BufWriter::with_capacity(1 << 20, f);
    fill(&mut w)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl<S: StateMachine> RaftSnapshotBuilder<TypeConfig> for StateStore<S> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // The state and the metadata must match: hold the lock while the app captures
        // its state (cheaply), then encode it straight into the data file on a blocking
        // thread while applies go on. Nothing holds the whole encoded snapshot in memory.
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
        let committed = meta.clone();
        tokio::task::spawn_blocking(move || {
            let name = data_file_name(&committed.snapshot_id);
            let tmp = sm.inner.dir.join(format!("{name}.tmp"));
            write_synced(&tmp, encode_app)?;
            fs::rename(&tmp, sm.inner.dir.join(&name))?;
            sm.commit(committed, name)
        })
        .await
        .map_err(|e| sm_err(ErrorVerb::Write, e))?
        .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        // Committed, or a newer snapshot was installed meanwhile: either way the current
        // one covers this state.
        self.current()
            .await
            .map_err(|e| sm_err(ErrorVerb::Read, e))?
            .ok_or_else(|| sm_err(ErrorVerb::Read, "a committed snapshot vanished"))
    }
}

impl<S: StateMachine> RaftStateMachine<TypeConfig> for StateStore<S> {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>> {
        let s = self.inner.state.lock();
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<bytes::Bytes>>, StorageError<NodeId>>
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
                EntryPayload::Normal(cmd) => out.push(
                    cmd.0
                        .iter()
                        // A response that cannot be encoded reaches the proposer as an
                        // undecodable one (an internal error there), never a stopped group.
                        .map(|c| encode(&self.inner.app.apply(c)).unwrap_or_default().into())
                        .collect(),
                ),
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

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError<NodeId>> {
        // A file with no name: each snapshot received has its own, and a crash leaves
        // nothing behind. Installing copies it into a data file of its own.
        let file = tempfile::tempfile_in(&self.inner.dir).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        mut snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError<NodeId>> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
        let read = async {
            snapshot.flush().await?;
            snapshot.seek(io::SeekFrom::Start(0)).await?;
            let mut data = Vec::new();
            snapshot.read_to_end(&mut data).await?;
            io::Result::Ok(data)
        };
        let data = read.await.map_err(|e| sm_err(ErrorVerb::Read, e))?;
        drop(snapshot);
        {
            let mut state = self.inner.state.lock();
            self.inner.app.restore(&data).map_err(|e| sm_err(ErrorVerb::Write, e))?;
            *state = Applying {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
        }
        let sm = self.clone();
        let committed = meta.clone();
        tokio::task::spawn_blocking(move || {
            let name = data_file_name(&committed.snapshot_id);
            let tmp = sm.inner.dir.join(format!("{name}.tmp"));
            write_synced(&tmp, |w| w.write_all(&data))?;
            fs::rename(&tmp, sm.inner.dir.join(&name))?;
            sm.commit(committed, name)
        })
        .await
        .map_err(|e| sm_err(ErrorVerb::Write, e))?
        .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        tracing::info!(dir = %self.inner.dir.display(), snapshot = %meta.snapshot_id, "installed a snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        self.current().await.map_err(|e| sm_err(ErrorVerb::Read, e))
    }
}
