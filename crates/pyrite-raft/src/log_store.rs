//! The Raft log on disk: a shard's write-ahead log.
//!
//! Entries are appended to segment files named by their first index; each record is
//! `[u32 length][u32 crc32][MessagePack entry]`, little-endian. An in-memory index maps
//! every live index to its record, so reads go straight to the bytes. A batch of
//! entries is one write and (with [`FsyncPolicy::Always`]) one fsync before Raft is
//! told it is durable. The vote, the committed id and the last purged id live in a
//! small `meta` file replaced atomically.
//!
//! On open the segments are scanned and checked: a torn record at the end of the last
//! segment (a crash mid-append, never acknowledged) is cut off; damage anywhere else is
//! an error, never silently skipped.
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
use serde::{Deserialize, Serialize};

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

const HEADER: usize = 8;

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

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Meta {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
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
    pub fn open(dir: &Path, fsync: FsyncPolicy) -> io::Result<LogStore> {
        Self::open_with_segment_size(dir, fsync, DEFAULT_SEGMENT_BYTES)
    }

    pub fn open_with_segment_size(dir: &Path, fsync: FsyncPolicy, segment_bytes: u64) -> io::Result<LogStore> {
        fs::create_dir_all(dir)?;
        let meta = match fs::read(dir.join("meta")) {
            Ok(b) => decode(&b).map_err(|e| bad(format!("log meta: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(e),
        };
        let mut firsts: Vec<u64> = fs::read_dir(dir)?
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
            tail: BTreeMap::new(),
            tail_bytes: 0,
            flusher: None,
        };
        for (i, first) in firsts.iter().enumerate() {
            let last = i + 1 == firsts.len();
            inner.load_segment(*first, last)?;
        }
        if fsync == FsyncPolicy::Always {
            inner.flusher = Some(spawn_flusher(dir)?);
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

    /// Reads a segment's records into the index; a bad tail is cut only if `last`.
    fn load_segment(&mut self, first: u64, last: bool) -> io::Result<()> {
        let path = self.segment_path(first);
        let mut file = OpenOptions::new().read(true).append(true).open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut off = 0usize;
        let mut good = 0usize;
        while off < bytes.len() {
            let Some(rec) = record_at(&bytes, off) else { break };
            let entry: Entry = match decode(rec) {
                Ok(e) => e,
                Err(_) => break,
            };
            let idx = entry.log_id.index;
            self.index.insert(
                idx,
                Loc {
                    segment: first,
                    offset: off as u64,
                    len: rec.len() as u32,
                    log_id: entry.log_id,
                },
            );
            off += HEADER + rec.len();
            good = off;
        }
        if good < bytes.len() {
            if !last {
                return Err(bad(format!(
                    "Raft log segment {} is damaged at byte {good} and is not the last one",
                    path.display()
                )));
            }
            tracing::warn!(
                segment = %path.display(),
                at = good,
                dropped = bytes.len() - good,
                "cutting a torn record off the end of the Raft log"
            );
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        self.segments.insert(
            first,
            Segment {
                path,
                file,
                len: good as u64,
            },
        );
        Ok(())
    }

    fn save_meta(&self, durable: bool) -> io::Result<()> {
        let bytes = encode(&self.meta).map_err(|e| bad(e.to_string()))?;
        let tmp = self.dir.join("meta.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join("meta"))?;
        if durable {
            sync_dir(&self.dir)?;
        }
        Ok(())
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
                    let path = self.segment_path(idx);
                    let file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
                    self.segments.insert(idx, Segment { path, file, len: 0 });
                    sync_dir(&self.dir)?;
                    idx
                }
            };
            if pending.last().map(|p| p.0) != Some(seg) {
                pending.push((seg, Vec::new()));
            }
            let (_, buf) = pending.last_mut().expect("pushed above");
            let seg_len = self.segments[&seg].len;
            let offset = seg_len + buf.len() as u64;
            buf.extend_from_slice(&(rec.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(&rec).to_le_bytes());
            buf.extend_from_slice(&rec);
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
        self.save_meta(true)?;
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

/// The record starting at `off`, if whole and intact.
fn record_at(bytes: &[u8], off: usize) -> Option<&[u8]> {
    let head = bytes.get(off..off + HEADER)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    let rec = bytes.get(off + HEADER..off + HEADER + len)?;
    (crc32fast::hash(rec) == crc).then_some(rec)
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
            .save_meta(true)
            .map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, &e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.inner.lock().meta.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), StorageError<NodeId>> {
        // A hint for restart (what may be applied at once); losing it loses nothing, so
        // it is not fsynced.
        let mut inner = self.inner.lock();
        inner.meta.committed = committed;
        inner
            .save_meta(false)
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
