//! The write-ahead log: a trait the ingester writes through, and a segmented file log.
//!
//! The trait is deliberately payload-agnostic (opaque records in, records out in the
//! same order) so a shard's Raft log can take the file log's place: then a record is
//! durable once a quorum has it, and replay is Raft applying committed entries.
//!
//! File layout: `<dir>/<index:020>.seg` segments, each a run of frames
//! `[len: u32 LE][crc32 (IEEE) of payload: u32 LE][payload]`. Invariant: a frame is
//! acknowledged only after it is written (and, under `fsync: always`, synced); a torn
//! frame can therefore only be the last one, and opening the log cuts it off.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("write-ahead log I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write-ahead log segment {path} is corrupt at byte {offset}: {what}")]
    Corrupt { path: PathBuf, offset: u64, what: String },
    #[error("write-ahead log is failed after an earlier write error; restart to recover")]
    Failed,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where writes become durable before they are applied.
pub trait WriteLog: Send + Sync {
    /// Appends records in order; returns once they will survive a crash of this process
    /// (and, per the sync policy, of the machine).
    fn append(&self, records: &[Vec<u8>]) -> Result<(), LogError>;

    /// Feeds every record, oldest first, to `apply`.
    fn replay(&self, apply: &mut dyn FnMut(&[u8])) -> Result<u64, LogError>;
}

/// When appended records reach the disk itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// fsync after every group of appends: acknowledged writes survive power loss.
    #[default]
    Always,
    /// Leave it to the OS: acknowledged writes survive a process crash, not power loss.
    Never,
}

/// Settings of the file log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalOptions {
    pub fsync: FsyncPolicy,
    /// Size at which a new segment is started.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            fsync: FsyncPolicy::Always,
            segment_bytes: 64 << 20,
        }
    }
}

const FRAME_HEADER: usize = 8;
/// No single record may exceed this; larger lengths mean corruption.
const MAX_RECORD: u32 = 256 << 20;

struct Active {
    file: File,
    path: PathBuf,
    index: u64,
    size: u64,
    failed: bool,
}

/// A segmented append-only file log.
pub struct FileLog {
    dir: PathBuf,
    opts: WalOptions,
    active: Mutex<Active>,
}

impl FileLog {
    /// Opens (or creates) the log in `dir`, cutting off a torn final frame.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Self, LogError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let segments = list_segments(dir)?;
        let (index, path) = match segments.last() {
            Some((i, p)) => (*i, p.clone()),
            None => (1, segment_path(dir, 1)),
        };
        let valid = if path.exists() { scan_valid_prefix(&path)? } else { 0 };
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        if len > valid {
            tracing::warn!(segment = %path.display(), valid, len, "cutting torn tail off the write-ahead log");
            file.set_len(valid).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
        }
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            opts,
            active: Mutex::new(Active {
                file,
                path,
                index,
                size: valid,
                failed: false,
            }),
        })
    }

    fn rotate(&self, a: &mut Active) -> Result<(), LogError> {
        a.file.sync_all().map_err(io_err(&a.path))?;
        let index = a.index + 1;
        let path = segment_path(&self.dir, index);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        *a = Active {
            file,
            path,
            index,
            size: 0,
            failed: false,
        };
        Ok(())
    }
}

impl WriteLog for FileLog {
    fn append(&self, records: &[Vec<u8>]) -> Result<(), LogError> {
        let mut a = self.active.lock();
        if a.failed {
            return Err(LogError::Failed);
        }
        if a.size >= self.opts.segment_bytes {
            self.rotate(&mut a)?;
        }
        let total: usize = records.iter().map(|r| r.len() + FRAME_HEADER).sum();
        let mut buf = Vec::with_capacity(total);
        for r in records {
            buf.extend_from_slice(&(r.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(r).to_le_bytes());
            buf.extend_from_slice(r);
        }
        let path = a.path.clone();
        let res = a.file.write_all(&buf).and_then(|_| match self.opts.fsync {
            FsyncPolicy::Always => a.file.sync_data(),
            FsyncPolicy::Never => Ok(()),
        });
        if let Err(e) = res {
            // After a failed write or fsync the file's state is unknown; refuse further
            // writes rather than acknowledge ones that may sit behind a hole.
            a.failed = true;
            return Err(io_err(&path)(e));
        }
        a.size += buf.len() as u64;
        Ok(())
    }

    fn replay(&self, apply: &mut dyn FnMut(&[u8])) -> Result<u64, LogError> {
        let mut n = 0;
        for (_, path) in list_segments(&self.dir)? {
            n += read_frames(&path, &mut |r| apply(r))?.0;
        }
        Ok(n)
    }
}

fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:020}.seg"))
}

fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        let index = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(i) = index {
            out.push((i, path));
        }
    }
    out.sort();
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// Length of the segment's prefix made of whole, checksummed frames.
fn scan_valid_prefix(path: &Path) -> Result<u64, LogError> {
    Ok(read_frames(path, &mut |_| {})?.1)
}

/// Reads frames until the end or the first torn/corrupt one. Returns the frame count
/// and the byte length of the valid prefix.
fn read_frames(path: &Path, f: &mut dyn FnMut(&[u8])) -> Result<(u64, u64), LogError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let len = file.seek(SeekFrom::End(0)).map_err(io_err(path))?;
    file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let (mut offset, mut n) = (0u64, 0u64);
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; FRAME_HEADER];
        if offset + FRAME_HEADER as u64 > len {
            break;
        }
        r.read_exact(&mut header).map_err(io_err(path))?;
        let size = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if size > MAX_RECORD || offset + (FRAME_HEADER as u64) + u64::from(size) > len {
            break;
        }
        payload.resize(size as usize, 0);
        r.read_exact(&mut payload).map_err(io_err(path))?;
        if crc32fast::hash(&payload) != crc {
            break;
        }
        f(&payload);
        n += 1;
        offset += FRAME_HEADER as u64 + u64::from(size);
    }
    if offset < len {
        tracing::debug!(segment = %path.display(), offset, len, "write-ahead log segment ends in a torn frame");
    }
    Ok((n, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(log: &FileLog) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        log.replay(&mut |r| out.push(r.to_vec())).unwrap();
        out
    }

    #[test]
    fn records_survive_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), WalOptions::default()).unwrap();
        log.append(&[b"one".to_vec(), b"two".to_vec()]).unwrap();
        log.append(&[b"three".to_vec()]).unwrap();
        drop(log);
        let log = FileLog::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(collect(&log), [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        log.append(&[b"four".to_vec()]).unwrap();
        assert_eq!(collect(&log).len(), 4);
    }

    #[test]
    fn torn_tail_is_cut_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), WalOptions::default()).unwrap();
        log.append(&[b"kept".to_vec(), b"torn-record".to_vec()]).unwrap();
        drop(log);
        let seg = segment_path(dir.path(), 1);
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let log = FileLog::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(collect(&log), [b"kept".to_vec()]);
        log.append(&[b"after".to_vec()]).unwrap();
        assert_eq!(collect(&log), [b"kept".to_vec(), b"after".to_vec()]);
    }

    #[test]
    fn corrupt_checksum_stops_replay_there() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileLog::open(dir.path(), WalOptions::default()).unwrap();
        log.append(&[b"good".to_vec(), b"flipped".to_vec()]).unwrap();
        drop(log);
        let seg = segment_path(dir.path(), 1);
        let mut bytes = fs::read(&seg).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&seg, bytes).unwrap();
        let log = FileLog::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(collect(&log), [b"good".to_vec()]);
    }

    #[test]
    fn segments_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions {
            fsync: FsyncPolicy::Never,
            segment_bytes: 64,
        };
        let log = FileLog::open(dir.path(), opts.clone()).unwrap();
        for i in 0..20u8 {
            log.append(&[vec![i; 20]]).unwrap();
        }
        assert!(list_segments(dir.path()).unwrap().len() > 3);
        drop(log);
        let log = FileLog::open(dir.path(), opts).unwrap();
        let got = collect(&log);
        assert_eq!(got.len(), 20);
        assert!(got.iter().enumerate().all(|(i, r)| r == &vec![i as u8; 20]));
    }
}
