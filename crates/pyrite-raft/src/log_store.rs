//! The Raft log on disk: a shard's write-ahead log.
//!
//! Entries are appended to segment files named by their first index; each record is
//! `[u32 length][u32 crc32][MessagePack entry]`, little-endian ([`scan`] owns the
//! framing). An in-memory index maps every live index to its record, so reads go
//! straight to the bytes. A batch of entries is one write and (with
//! [`FsyncPolicy::Always`]) one fsync before Raft is told it is durable. The vote and the
//! last purged id live in `meta`, replaced atomically and fsynced before either change
//! is reported; the committed id, a hint rewritten on every commit, lives in `committed`
//! without fsync ([`meta`] has the details).
//!
//! A segment fills up, then the next one starts: the full one is fsynced first, then the
//! next is created empty and the directory fsynced. So only the newest segment can ever
//! hold writes that were not synced, and a crash at any point of a rollover leaves a
//! log that opens: the new segment absent, or empty (removed on open), or holding a torn
//! first record.
//!
//! On open every record is checked. A **torn tail**, what a crash mid-append leaves, is
//! cut off: bad bytes at the end of the log with no intact record anywhere after them
//! that are cut short by the end of the file or have sectors never written (see
//! [`scan`]). It was never acknowledged. Anything else is **corruption**, and open
//! refuses with [`OpenError::Corrupt`] naming the file and offset, leaving the files as
//! they are: a bad record followed by intact ones, a complete record whose checksum
//! fails, damage in a segment before the newest, entries missing between segments.
//! Going on would silently drop entries that may have been acknowledged.
//!
//! Two things keep the log off the write path's critical section. The newest entries
//! stay in memory until applied (a tail bounded by bytes; commands are shared buffers,
//! so this costs no copies) and are handed back from there when the state machine
//! applies them or a follower is sent them, so an entry is encoded once and never read back or decoded
//! while it is fresh. And fsyncs run on a flusher thread of the log's own: an append
//! writes its records, queues the fsync and returns, and Raft is told the entries are
//! durable only when the flusher has synced them; every append queued while one fsync
//! runs shares the next. The invariant: an entry is reported durable only after an
//! fsync that began after its bytes were written.

mod meta;
mod scan;

#[cfg(test)]
mod crash_tests;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use parking_lot::Mutex;

use self::meta::{Committed, Meta};
use self::scan::{Damage, HEADER};
use crate::{decode, encode, NodeId, TypeConfig};

type Entry = openraft::Entry<TypeConfig>;

/// When appended entries reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// fsync every appended batch before acknowledging it.
    #[default]
    Always,
    /// Leave flushing to the operating system (tests, benchmarks).
    Never,
}

/// Segment files roll over past this size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// Most bytes of fresh entries kept in memory. Entries leave the tail once applied
/// ([`LogStore::release_applied`]); the cap bounds it when applying falls behind. A
/// follower that needs an entry no longer in the tail is sent it read back from disk.
const TAIL_BYTES: usize = 8 << 20;

/// One append's fsync, queued for the flusher: the segments it wrote to, and whom to
/// tell when they are on disk.
struct Flush {
    /// By segment (its first index).
    files: Vec<(u64, File)>,
    done: LogFlushed<TypeConfig>,
}

struct Segment {
    path: PathBuf,
    file: File,
    len: u64,
}

/// Where one entry's record is.
#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
    log_id: LogId<NodeId>,
}

struct Inner {
    dir: PathBuf,
    segment_bytes: u64,
    /// By first index.
    segments: BTreeMap<u64, Segment>,
    index: BTreeMap<u64, Loc>,
    meta: Meta,
    committed: Committed,
    fsync: FsyncPolicy,
    /// The newest entries and their record sizes, oldest first out.
    tail: BTreeMap<u64, (Entry, usize)>,
    tail_bytes: usize,
    /// Where appends queue their fsyncs; only with [`FsyncPolicy::Always`].
    flusher: Option<mpsc::Sender<Flush>>,
}

/// A shard's Raft log; cheap to clone (clones share the files).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

/// Why a log does not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Damage that is not a torn tail: going on would drop entries that may have been
    /// acknowledged.
    #[error(
        "Raft log segment {} is damaged at byte {offset}: {reason}. Entries there or after it may have been \
         acknowledged, so the log does not open rather than drop them, and leaves the file as it is. Restore \
         the file, or rebuild this replica from its peers (deleting the directory and restarting under the \
         same node id would also forget its vote)",
        .path.display()
    )]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    /// The file holding the vote is damaged; a vote cannot be guessed.
    #[error("Raft log meta file {} is damaged ({reason}); it holds the vote, which cannot be guessed", .path.display())]
    Meta { path: PathBuf, reason: String },
    #[error("Raft log: {what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Wraps an I/O error of opening with what was done to which file.
fn io_at(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> OpenError {
    let path = path.to_path_buf();
    move |source| OpenError::Io { what, path, source }
}

fn io_err(subject: ErrorSubject<NodeId>, verb: ErrorVerb, e: &io::Error) -> StorageError<NodeId> {
    StorageIOError::new(subject, verb, e).into()
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl LogStore {
    /// Opens the log under `dir`, creating it if needed, and checks every record.
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> Result<LogStore, OpenError> {
        Self::open_with_segment_size(dir, fsync, DEFAULT_SEGMENT_BYTES)
    }

    pub fn open_with_segment_size(dir: &Path, fsync: FsyncPolicy, segment_bytes: u64) -> Result<LogStore, OpenError> {
        fs::create_dir_all(dir).map_err(io_at("creating", dir))?;
        let meta = meta::read_meta(dir)?;
        let (committed, hint) = Committed::open(dir)?;
        let mut firsts: Vec<u64> = fs::read_dir(dir)
            .map_err(io_at("listing", dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name.strip_suffix(".seg").and_then(|n| n.parse().ok())
            })
            .collect();
        firsts.sort_unstable();
        let mut inner = Inner {
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(1),
            segments: BTreeMap::new(),
            index: BTreeMap::new(),
            meta,
            committed,
            fsync,
            tail: BTreeMap::new(),
            tail_bytes: 0,
            flusher: None,
        };
        inner.load(&firsts)?;
        inner.meta.committed = inner.backed_committed(inner.meta.committed.max(hint));
        if fsync == FsyncPolicy::Always {
            inner.flusher = Some(spawn_flusher(dir).map_err(io_at("starting the flusher of", dir))?);
        }
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }
}

impl LogStore {
    /// The state machine has applied every entry up to `upto`: they leave the tail.
    pub fn release_applied(&self, upto: u64) {
        let mut inner = self.inner.lock();
        while let Some(entry) = inner.tail.first_entry() {
            if *entry.key() > upto {
                break;
            }
            let (_, bytes) = entry.remove();
            inner.tail_bytes -= bytes;
        }
    }
}

impl Inner {
    fn segment_path(&self, first: u64) -> PathBuf {
        self.dir.join(format!("{first:020}.seg"))
    }

    /// Reads every segment's records into the index, checking each (see the module's
    /// docs); cuts a torn tail off the end of the log, and removes the segments after
    /// the last entry, which hold none.
    fn load(&mut self, firsts: &[u64]) -> Result<(), OpenError> {
        let purged = self.meta.last_purged.map(|l| l.index);
        // Where the torn tail starts, once one is seen: segment and offset.
        let mut torn: Option<(u64, u64)> = None;
        let mut expect = purged.map(|p| p + 1);
        for &first in firsts {
            let path = self.segment_path(first);
            let mut file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io_at("opening", &path))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(io_at("reading", &path))?;
            let scan = scan::scan(&bytes);
            if let (Some((seg, at)), Some(r)) = (torn, scan.records.first()) {
                return Err(OpenError::Corrupt {
                    path: self.segment_path(seg),
                    offset: at,
                    reason: format!(
                        "the log looks torn there, but intact records follow in {} (entry {} at byte {})",
                        path.display(),
                        r.log_id.index,
                        r.offset
                    ),
                });
            }
            for r in &scan.records {
                let idx = r.log_id.index;
                if purged.is_some_and(|p| idx <= p) {
                    continue;
                }
                if let Some(e) = expect.filter(|e| *e != idx) {
                    return Err(OpenError::Corrupt {
                        path,
                        offset: r.offset,
                        reason: format!("it holds entry {idx} where entry {e} belongs: entries are missing"),
                    });
                }
                expect = Some(idx + 1);
                self.index.insert(
                    idx,
                    Loc {
                        segment: first,
                        offset: r.offset,
                        len: r.len,
                        log_id: r.log_id,
                    },
                );
            }
            let len = match scan.damage {
                None => bytes.len() as u64,
                Some(Damage::Torn { at }) => {
                    torn.get_or_insert((first, at));
                    at
                }
                Some(Damage::Corrupt { at, reason }) => {
                    return Err(OpenError::Corrupt {
                        path,
                        offset: at,
                        reason,
                    })
                }
            };
            self.segments.insert(first, Segment { path, file, len });
        }
        if let Some((seg, at)) = torn {
            if let Some(s) = self.segments.get(&seg) {
                let dropped = s.file.metadata().map_or(0, |m| m.len().saturating_sub(at));
                tracing::warn!(segment = %s.path.display(), at, dropped, "cutting a torn record off the end of the Raft log");
                let cut = s.file.set_len(at).and_then(|()| s.file.sync_all());
                cut.map_err(io_at("cutting the torn tail of", &s.path))?;
            }
        }
        // What a rollover left when a crash stopped it, or what followed a torn tail.
        let last = self.index.values().next_back().map(|l| l.segment);
        let empty: Vec<u64> = self
            .segments
            .keys()
            .copied()
            .filter(|f| last.is_none_or(|l| *f > l))
            .collect();
        for first in &empty {
            if let Some(s) = self.segments.remove(first) {
                tracing::info!(segment = %s.path.display(), "removing a Raft log segment that holds no entry");
                fs::remove_file(&s.path).map_err(io_at("removing", &s.path))?;
            }
        }
        if !empty.is_empty() {
            sync_dir(&self.dir).map_err(io_at("syncing", &self.dir))?;
        }
        Ok(())
    }

    /// `hint` if the log can back it (the entry it names is here, or purged), else none:
    /// Raft re-applies up to the committed id on restart, and the entry may have been
    /// torn off (the hint is written without fsync, and may reach the disk first).
    fn backed_committed(&self, hint: Option<LogId<NodeId>>) -> Option<LogId<NodeId>> {
        let c = hint?;
        let purged = self.meta.last_purged.is_some_and(|p| c.index <= p.index);
        if purged || self.index.get(&c.index).is_some_and(|l| l.log_id == c) {
            return Some(c);
        }
        tracing::warn!(committed = %c, "the Raft log does not hold its committed entry; forgetting the hint");
        None
    }

    fn save_meta(&self) -> io::Result<()> {
        meta::write_meta(&self.dir, &self.meta)
    }

    fn last_log_id(&self) -> Option<LogId<NodeId>> {
        self.index
            .values()
            .next_back()
            .map(|l| l.log_id)
            .or(self.meta.last_purged)
    }

    fn read(&self, idx: u64) -> io::Result<Entry> {
        if let Some((entry, _)) = self.tail.get(&idx) {
            return Ok(entry.clone());
        }
        let loc = self
            .index
            .get(&idx)
            .ok_or_else(|| bad(format!("log entry {idx} is not present")))?;
        let seg = self
            .segments
            .get(&loc.segment)
            .ok_or_else(|| bad(format!("segment of entry {idx} is gone")))?;
        let mut buf = vec![0u8; loc.len as usize];
        seg.file.read_exact_at(&mut buf, loc.offset + HEADER as u64)?;
        decode(&buf).map_err(|e| bad(format!("log entry {idx}: {e}")))
    }

    /// Writes `entries`' records (not yet synced) and keeps the entries in the tail;
    /// returns the segments written to, which must be synced before the entries count
    /// as durable.
    fn append(&mut self, entries: Vec<Entry>) -> io::Result<Vec<u64>> {
        // Group records per segment so each segment gets one write.
        let mut pending: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut written = Vec::new();
        for entry in entries {
            let idx = entry.log_id.index;
            let rec = encode(&entry).map_err(|e| bad(e.to_string()))?;
            let current = self.segments.iter().next_back().map(|(f, s)| (*f, s.len));
            let buffered = pending.last().map_or(0, |p| p.1.len() as u64);
            let seg = match current {
                Some((first, len)) if len + buffered < self.segment_bytes => first,
                _ => {
                    self.write_pending(&mut pending, &mut written)?;
                    self.roll_over(idx)?;
                    idx
                }
            };
            if pending.last().map(|p| p.0) != Some(seg) {
                pending.push((seg, Vec::new()));
            }
            let (_, buf) = pending.last_mut().expect("pushed above");
            let seg_len = self.segments[&seg].len;
            let offset = seg_len + buf.len() as u64;
            scan::frame(&rec, buf);
            self.index.insert(
                idx,
                Loc {
                    segment: seg,
                    offset,
                    len: rec.len() as u32,
                    log_id: entry.log_id,
                },
            );
            self.keep_in_tail(entry, rec.len());
        }
        self.write_pending(&mut pending, &mut written)?;
        Ok(written)
    }

    /// Starts segment `first`. The full segment is synced first (when appends are synced
    /// at all): once the next one exists, nothing more is written to it, so it must not
    /// end in a torn record. The new one is created empty and the directory synced.
    fn roll_over(&mut self, first: u64) -> io::Result<()> {
        if self.fsync == FsyncPolicy::Always {
            if let Some((_, full)) = self.segments.iter().next_back() {
                full.file.sync_data()?;
            }
        }
        let path = self.segment_path(first);
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .append(true)
            .open(&path)?;
        sync_dir(&self.dir)?;
        self.segments.insert(first, Segment { path, file, len: 0 });
        Ok(())
    }

    fn write_pending(&mut self, pending: &mut Vec<(u64, Vec<u8>)>, written: &mut Vec<u64>) -> io::Result<()> {
        for (seg, buf) in pending.drain(..) {
            let s = self.segments.get_mut(&seg).expect("segment exists");
            s.file.write_all(&buf)?;
            s.len += buf.len() as u64;
            if !written.contains(&seg) {
                written.push(seg);
            }
        }
        Ok(())
    }

    fn keep_in_tail(&mut self, entry: Entry, bytes: usize) {
        let idx = entry.log_id.index;
        if let Some((_, old)) = self.tail.insert(idx, (entry, bytes)) {
            self.tail_bytes -= old;
        }
        self.tail_bytes += bytes;
        while self.tail_bytes > TAIL_BYTES {
            let Some((_, (_, b))) = self.tail.pop_first() else {
                break;
            };
            self.tail_bytes -= b;
        }
    }

    fn recount_tail(&mut self) {
        self.tail_bytes = self.tail.values().map(|(_, b)| b).sum();
    }

    /// Makes the appended `segments` durable, then reports to `done`: on the flusher
    /// thread when there is one, at once when the policy leaves syncing to the OS.
    fn sync_then(&self, segments: &[u64], done: LogFlushed<TypeConfig>) {
        let Some(flusher) = &self.flusher else {
            done.log_io_completed(Ok(()));
            return;
        };
        let files: io::Result<Vec<(u64, File)>> = segments
            .iter()
            .filter_map(|first| self.segments.get(first).map(|s| (*first, s)))
            .map(|(first, s)| Ok((first, s.file.try_clone()?)))
            .collect();
        let files = match files {
            Ok(f) => f,
            Err(e) => return done.log_io_completed(Err(e)),
        };
        if let Err(mpsc::SendError(job)) = flusher.send(Flush { files, done }) {
            job.done
                .log_io_completed(Err(io::Error::other("the Raft log's flusher has stopped")));
        }
    }

    /// Removes entries at and after `from`.
    fn truncate(&mut self, from: u64) -> io::Result<()> {
        let Some(first_gone) = self.index.range(from..).next().map(|(_, l)| *l) else {
            return Ok(());
        };
        self.index.split_off(&from);
        self.tail.split_off(&from);
        self.recount_tail();
        let later: Vec<u64> = self.segments.range(first_gone.segment + 1..).map(|(f, _)| *f).collect();
        for f in later {
            if let Some(s) = self.segments.remove(&f) {
                fs::remove_file(&s.path)?;
            }
        }
        if first_gone.offset == 0 {
            if let Some(s) = self.segments.remove(&first_gone.segment) {
                fs::remove_file(&s.path)?;
            }
        } else if let Some(s) = self.segments.get_mut(&first_gone.segment) {
            s.file.set_len(first_gone.offset)?;
            s.file.sync_all()?;
            s.len = first_gone.offset;
        }
        sync_dir(&self.dir)
    }

    /// Forgets entries up to and including `upto`; whole segments go once every entry
    /// in them is purged.
    fn purge(&mut self, upto: LogId<NodeId>) -> io::Result<()> {
        self.meta.last_purged = Some(upto);
        self.save_meta()?;
        let keep = self.index.split_off(&(upto.index + 1));
        self.index = keep;
        let keep = self.tail.split_off(&(upto.index + 1));
        self.tail = keep;
        self.recount_tail();
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        for (i, first) in firsts.iter().enumerate() {
            // A segment is done when the next one starts at or before the purge point.
            let next_first = firsts.get(i + 1).copied();
            if next_first.is_some_and(|n| n <= upto.index + 1) {
                if let Some(s) = self.segments.remove(first) {
                    fs::remove_file(&s.path)?;
                }
            }
        }
        Ok(())
    }
}

/// Starts the thread that fsyncs a log's appends: it takes every queued append at
/// once, syncs each file they wrote once, and then reports each append, in order.
fn spawn_flusher(dir: &Path) -> io::Result<mpsc::Sender<Flush>> {
    let (tx, rx) = mpsc::channel::<Flush>();
    let name = dir
        .parent()
        .and_then(|p| p.file_name())
        .map_or_else(|| "raft-log".to_string(), |n| format!("fsync-{}", n.to_string_lossy()));
    std::thread::Builder::new().name(name).spawn(move || {
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            jobs.extend(rx.try_iter());
            let mut synced: Vec<u64> = Vec::new();
            let mut result = Ok(());
            for (segment, file) in jobs.iter().flat_map(|j| &j.files) {
                // Every handle of a segment is the same file: one sync covers them all.
                if synced.contains(segment) {
                    continue;
                }
                if let Err(e) = file.sync_data() {
                    result = Err(e);
                    break;
                }
                synced.push(*segment);
            }
            let failed = result.as_ref().err().map(|e| (e.kind(), e.to_string()));
            for job in jobs {
                let r = match &failed {
                    None => Ok(()),
                    Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
                };
                job.done.log_io_completed(r);
            }
        }
    })?;
    Ok(tx)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        let inner = self.inner.lock();
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s + 1,
            Bound::Unbounded => 0,
        };
        let idxs: Vec<u64> = inner
            .index
            .range(start..)
            .map(|(i, _)| *i)
            .take_while(|i| range.contains(i))
            .collect();
        let mut out = Vec::with_capacity(idxs.len());
        for i in idxs {
            match inner.read(i) {
                Ok(e) => out.push(e),
                Err(e) => return Err(io_err(ErrorSubject::LogIndex(i), ErrorVerb::Read, &e)),
            }
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let inner = self.inner.lock();
        Ok(LogState {
            last_purged_log_id: inner.meta.last_purged,
            last_log_id: inner.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut inner = self.inner.lock();
        inner.meta.vote = Some(*vote);
        inner
            .save_meta()
            .map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, &e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.inner.lock().meta.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), StorageError<NodeId>> {
        // A hint for restart (what may be applied at once); losing it loses nothing, so
        // it is one in-place write, not fsynced.
        let mut inner = self.inner.lock();
        inner.meta.committed = committed;
        inner
            .committed
            .save(committed)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, &e))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.inner.lock().meta.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let mut inner = self.inner.lock();
        match inner.append(entries) {
            Ok(segments) => {
                inner.sync_then(&segments, callback);
                Ok(())
            }
            Err(e) => {
                let err = io_err(ErrorSubject::Logs, ErrorVerb::Write, &e);
                callback.log_io_completed(Err(e));
                Err(err)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.inner
            .lock()
            .truncate(log_id.index)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, &e))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.inner
            .lock()
            .purge(log_id)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, &e))
    }
}
