//! The log's two small files beside its segments, and how durable each is.
//!
//! - `meta` holds the vote and the last purged id (and the committed id as of its last
//!   write). It changes rarely, and each change is on disk before it is reported done:
//!   written to `meta.tmp`, fsynced, renamed over `meta`, the directory fsynced. Raft
//!   needs the vote durable before it is acknowledged, and segments are deleted only
//!   after the purge that frees them is durable. A crash leaves the old file or the new
//!   one, whole; a leftover `meta.tmp` is ignored. The file is checksummed, and a
//!   damaged one is refused: a vote cannot be guessed.
//! - `committed` holds the committed id, rewritten on every commit and never fsynced:
//!   it is a hint of how far to re-apply on restart, and Raft learns the real value
//!   from the leader. Two checksummed slots are written in turn, in place, so a torn
//!   write loses at most the newest value and an unreadable file reads as no hint.
//!
//! The invariant: whatever Raft's safety rests on (the vote, the purge point) is never
//! replaced without an fsync, and the per-commit write is one `pwrite`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use openraft::{LogId, Vote};
use serde::{Deserialize, Serialize};

use super::{sync_dir, OpenError};
use crate::{decode, encode, NodeId};

const META: &str = "meta";
const META_TMP: &str = "meta.tmp";
const COMMITTED: &str = "committed";

/// Opens a framed `meta`: `[magic][u32 length][u32 crc32][MessagePack Meta]`. Files from
/// before the framing are the bare MessagePack.
const MAGIC: &[u8; 8] = b"pyrmeta\x01";

/// One slot of `committed`: `[u64 sequence][u32 length][u32 crc32][MessagePack id]`, the
/// checksum over everything but itself.
const SLOT: usize = 64;
const SLOT_HEADER: usize = 16;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct Meta {
    pub vote: Option<Vote<NodeId>>,
    pub committed: Option<LogId<NodeId>>,
    pub last_purged: Option<LogId<NodeId>>,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Reads `meta`, or the default if there is none yet.
pub(super) fn read_meta(dir: &Path) -> Result<Meta, OpenError> {
    let path = dir.join(META);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Meta::default()),
        Err(source) => {
            return Err(OpenError::Io {
                what: "reading",
                path,
                source,
            })
        }
    };
    let damaged = |reason: String| OpenError::Meta {
        path: path.clone(),
        reason,
    };
    let Some(framed) = bytes.strip_prefix(MAGIC) else {
        return decode(&bytes).map_err(|e| damaged(e.to_string()));
    };
    let (Some(len), Some(crc)) = (framed.get(..4), framed.get(4..8)) else {
        return Err(damaged("cut short in its header".into()));
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let body = &framed[8..];
    if body.len() != len {
        return Err(damaged(format!("{} bytes where its header says {len}", body.len())));
    }
    if crc32fast::hash(body) != crc {
        return Err(damaged("checksum mismatch".into()));
    }
    decode(body).map_err(|e| damaged(e.to_string()))
}

/// Replaces `meta` with `meta`, durably: when this returns, a crash keeps it.
pub(super) fn write_meta(dir: &Path, meta: &Meta) -> io::Result<()> {
    let body = encode(meta).map_err(|e| bad(e.to_string()))?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 8 + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    let tmp = dir.join(META_TMP);
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(META))?;
    sync_dir(dir)
}

/// The `committed` file, open for its in-place writes.
pub(super) struct Committed {
    file: File,
    /// Of the newest slot written; the next write goes to the other one.
    seq: u64,
}

impl Committed {
    /// Opens (or creates) `committed` and reads the newest intact slot's id.
    pub(super) fn open(dir: &Path) -> Result<(Committed, Option<LogId<NodeId>>), OpenError> {
        let path = dir.join(COMMITTED);
        let io = |what, source| OpenError::Io {
            what,
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("opening", e))?;
        let mut bytes = [0u8; 2 * SLOT];
        let mut read = 0;
        while read < bytes.len() {
            match file.read_at(&mut bytes[read..], read as u64) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io("reading", e)),
            }
        }
        let newest = bytes[..read]
            .chunks(SLOT)
            .filter_map(read_slot)
            .max_by_key(|(seq, _)| *seq);
        let (seq, id) = newest.unwrap_or((0, None));
        Ok((Committed { file, seq }, id))
    }

    /// Writes `id` over the older slot. Not synced: see the module's docs.
    pub(super) fn save(&mut self, id: Option<LogId<NodeId>>) -> io::Result<()> {
        let body = encode(&id).map_err(|e| bad(e.to_string()))?;
        if body.len() > SLOT - SLOT_HEADER {
            return Err(bad(format!("a committed id of {} bytes", body.len())));
        }
        let seq = self.seq + 1;
        let mut slot = [0u8; SLOT];
        slot[..8].copy_from_slice(&seq.to_le_bytes());
        slot[8..12].copy_from_slice(&(body.len() as u32).to_le_bytes());
        slot[SLOT_HEADER..SLOT_HEADER + body.len()].copy_from_slice(&body);
        let crc = slot_crc(&slot[..12], &body);
        slot[12..16].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all_at(&slot, (seq % 2) * SLOT as u64)?;
        self.seq = seq;
        Ok(())
    }
}

fn slot_crc(head: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(body);
    h.finalize()
}

/// A slot's sequence number and id, if it is intact.
fn read_slot(slot: &[u8]) -> Option<(u64, Option<LogId<NodeId>>)> {
    let head = slot.get(..SLOT_HEADER)?;
    let seq = u64::from_le_bytes(head[..8].try_into().ok()?);
    let len = u32::from_le_bytes(head[8..12].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[12..16].try_into().ok()?);
    let body = slot.get(SLOT_HEADER..SLOT_HEADER.checked_add(len)?)?;
    if seq == 0 || slot_crc(&head[..12], body) != crc {
        return None;
    }
    Some((seq, decode(body).ok()?))
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;

    fn id(index: u64) -> Option<LogId<NodeId>> {
        Some(LogId::new(CommittedLeaderId::new(2, 1), index))
    }

    #[test]
    fn meta_round_trips_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_meta(dir.path()).unwrap().vote.is_none());
        let meta = Meta {
            vote: Some(Vote::new(4, 1)),
            committed: id(3),
            last_purged: id(2),
        };
        write_meta(dir.path(), &meta).unwrap();
        let back = read_meta(dir.path()).unwrap();
        assert_eq!(
            (back.vote, back.committed, back.last_purged),
            (meta.vote, meta.committed, meta.last_purged)
        );
        assert!(!dir.path().join(META_TMP).exists());

        let path = dir.path().join(META);
        let good = fs::read(&path).unwrap();
        for at in 0..good.len() {
            let mut b = good.clone();
            b[at] ^= 0x20;
            fs::write(&path, &b).unwrap();
            assert!(read_meta(dir.path()).is_err(), "byte {at} flipped");
        }
        fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(matches!(read_meta(dir.path()), Err(OpenError::Meta { .. })));
    }

    #[test]
    fn meta_from_before_the_framing_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let old = Meta {
            vote: Some(Vote::new(9, 2)),
            committed: None,
            last_purged: id(7),
        };
        fs::write(dir.path().join(META), encode(&old).unwrap()).unwrap();
        let back = read_meta(dir.path()).unwrap();
        assert_eq!((back.vote, back.last_purged), (old.vote, old.last_purged));
    }

    #[test]
    fn a_torn_committed_write_keeps_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, none) = Committed::open(dir.path()).unwrap();
        assert_eq!(none, None);
        for i in 1..=5 {
            c.save(id(i)).unwrap();
        }
        drop(c);
        assert_eq!(Committed::open(dir.path()).unwrap().1, id(5));
        // Id 5 went to slot 1; tear it at every byte.
        let path = dir.path().join(COMMITTED);
        let good = fs::read(&path).unwrap();
        for at in SLOT..SLOT + SLOT_HEADER + 4 {
            let mut b = good.clone();
            b[at] ^= 0x01;
            fs::write(&path, &b).unwrap();
            assert_eq!(Committed::open(dir.path()).unwrap().1, id(4), "byte {at}");
        }
        fs::write(&path, &good[..SLOT + 10]).unwrap();
        let (mut c, back) = Committed::open(dir.path()).unwrap();
        assert_eq!(back, id(4));
        // Writing goes on after the newest intact slot, over the torn one.
        c.save(id(6)).unwrap();
        assert_eq!(Committed::open(dir.path()).unwrap().1, id(6));
        fs::write(&path, b"").unwrap();
        assert_eq!(Committed::open(dir.path()).unwrap().1, None);
    }
}
