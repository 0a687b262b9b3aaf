//! One segment file's bytes: the record framing, and telling a torn tail from damage.
//!
//! A record is `[u32 length][u32 crc32 of the entry][MessagePack entry]`, little-endian.
//! [`scan`] reads records from the start of a segment until the first one that is not
//! intact, and judges what is there:
//!
//! - **Torn**: what a crash in the middle of an append leaves. Nothing intact follows, and
//!   the bad record is either cut short by the end of the file (its header, or its entry,
//!   runs past the end; unless the bytes up to the end match the checksum, which means the
//!   record is whole and its length field is what broke), or has sectors that were never
//!   written (all zeros: the file grew, the data did not reach the disk).
//! - **Corrupt**: anything else. An intact record after the bad one, a complete record
//!   whose checksum fails, a record whose checksum holds but whose entry does not decode.
//!
//! The invariant: a scan calls bytes torn only if no intact record starts anywhere after
//! them, so cutting a torn tail can never drop a record that was written whole.
//! Whether the segment may have a torn tail at all (only the newest may) is the caller's
//! decision.

use std::sync::OnceLock;

use openraft::LogId;

use super::Entry;
use crate::{decode, encode, NodeId};

/// Bytes before each record's entry: its length and its checksum.
pub(super) const HEADER: usize = 8;

/// Sectors are written whole or not at all; a torn write leaves some all zero.
const SECTOR: usize = 512;

/// The fewest zero bytes (at the start or end of the damaged bytes, where they do not fill a
/// whole sector) taken as a sector never written rather than as data.
const MIN_ZERO_RUN: usize = 16;

/// Appends `entry`'s framed record to `out`.
pub(super) fn frame(entry: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(entry.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(entry).to_le_bytes());
    out.extend_from_slice(entry);
}

/// An intact record of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Record {
    pub offset: u64,
    /// Of the entry, without the header.
    pub len: u32,
    pub log_id: LogId<NodeId>,
}

/// What a scan found after its last intact record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Damage {
    /// A torn tail starts at this offset and runs to the end of the file.
    Torn { at: u64 },
    /// The record at this offset is damaged, and the reason.
    Corrupt { at: u64, reason: String },
}

/// A segment's intact records, in order, and what follows them, if anything.
#[derive(Debug)]
pub(super) struct Scan {
    pub records: Vec<Record>,
    pub damage: Option<Damage>,
}

/// Reads `bytes`, a whole segment file, record by record.
pub(super) fn scan(bytes: &[u8]) -> Scan {
    let mut records = Vec::new();
    let mut off = 0;
    while off < bytes.len() {
        let Some((len, log_id)) = intact_at(bytes, off) else {
            return Scan {
                records,
                damage: Some(judge(bytes, off)),
            };
        };
        records.push(Record {
            offset: off as u64,
            len,
            log_id,
        });
        off += HEADER + len as usize;
    }
    Scan { records, damage: None }
}

/// The entry of the whole record at `off` whose checksum holds; it may not decode.
fn checked_at(bytes: &[u8], off: usize) -> Option<&[u8]> {
    let head = bytes.get(off..off.checked_add(HEADER)?)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let entry = bytes.get(off + HEADER..(off + HEADER).checked_add(len)?)?;
    (len > 0 && crc32fast::hash(entry) == crc).then_some(entry)
}

/// The length and id of the intact record at `off`: whole, checksum right, entry decodes.
fn intact_at(bytes: &[u8], off: usize) -> Option<(u32, LogId<NodeId>)> {
    let entry = checked_at(bytes, off)?;
    let decoded: Entry = decode(entry).ok()?;
    Some((entry.len() as u32, decoded.log_id))
}

/// How every encoded entry begins, whatever it holds (MessagePack array markers).
fn entry_prefix() -> &'static [u8] {
    static PREFIX: OnceLock<Vec<u8>> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let small = Entry::default();
        let big = Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(u64::MAX, u64::MAX), u64::MAX),
            payload: openraft::EntryPayload::Normal(crate::Command::one(vec![0xff; 300])),
        };
        let (a, b) = (encode(&small).unwrap_or_default(), encode(&big).unwrap_or_default());
        a.iter().zip(&b).take_while(|(x, y)| x == y).map(|(x, _)| *x).collect()
    })
}

/// The first offset at or after `from` where an intact record starts.
fn next_intact(bytes: &[u8], from: usize) -> Option<usize> {
    let prefix = entry_prefix();
    (from..bytes.len().saturating_sub(HEADER)).find(|&off| {
        // Cheap tests first: a length that fits, an entry that begins like one.
        let len = u32::from_le_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]]) as usize;
        let start = off + HEADER;
        len > 0 && len <= bytes.len() - start && bytes[start..].starts_with(prefix) && intact_at(bytes, off).is_some()
    })
}

/// Judges the bytes from `at`, where the first record that is not intact starts.
fn judge(bytes: &[u8], at: usize) -> Damage {
    let corrupt = |reason: String| Damage::Corrupt { at: at as u64, reason };
    let torn = Damage::Torn { at: at as u64 };
    if let Some(next) = next_intact(bytes, at + 1) {
        return corrupt(format!("an intact record follows it at byte {next}"));
    }
    let rest = &bytes[at..];
    if rest.iter().all(|b| *b == 0) {
        return torn;
    }
    let Some(head) = rest.get(..HEADER) else {
        return torn;
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let body = &rest[HEADER..];
    if len > body.len() {
        if crc32fast::hash(body) == crc {
            return corrupt(format!(
                "its length field says {len} bytes, but the {} to the end of the file are a whole entry",
                body.len()
            ));
        }
        return torn;
    }
    if checked_at(bytes, at).is_some() {
        return corrupt("its checksum holds but its entry does not decode".to_string());
    }
    if has_unwritten_sector(bytes, at) {
        return torn;
    }
    corrupt("the checksum of a complete record does not match".to_string())
}

/// Whether some sector of the file from `at` on is all zeros: in whole, or the part of
/// the first or last sector from `at` or to the end, if that is long enough to tell.
fn has_unwritten_sector(bytes: &[u8], at: usize) -> bool {
    let mut start = at;
    while start < bytes.len() {
        let end = ((start / SECTOR + 1) * SECTOR).min(bytes.len());
        let chunk = &bytes[start..end];
        if chunk.len() >= MIN_ZERO_RUN && chunk.iter().all(|b| *b == 0) {
            return true;
        }
        start = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::Command;

    fn entry(index: u64, size: usize) -> Vec<u8> {
        let e = Entry {
            log_id: LogId::new(CommittedLeaderId::new(index % 5, 3), index),
            payload: EntryPayload::Normal(Command::one(vec![0x41; size])),
        };
        encode(&e).unwrap()
    }

    /// Records of entries 1..=n, and where each starts.
    fn segment(n: u64, size: usize) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for i in 1..=n {
            starts.push(bytes.len());
            frame(&entry(i, size), &mut bytes);
        }
        (bytes, starts)
    }

    #[test]
    fn every_entry_begins_with_the_prefix() {
        let prefix = entry_prefix();
        assert!(prefix.len() >= 2, "{prefix:?}");
        let blank = Entry {
            log_id: LogId::new(CommittedLeaderId::new(7, 0), 1 << 40),
            payload: EntryPayload::Blank,
        };
        for e in [encode(&blank).unwrap(), entry(1, 0), entry(u64::MAX, 70_000)] {
            assert!(e.starts_with(prefix));
        }
    }

    #[test]
    fn a_whole_segment_has_no_damage() {
        let (bytes, starts) = segment(5, 40);
        let scan = scan(&bytes);
        assert_eq!(scan.damage, None);
        let offsets: Vec<u64> = scan.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, starts.iter().map(|s| *s as u64).collect::<Vec<_>>());
        assert_eq!(scan.records[4].log_id.index, 5);
    }

    #[test]
    fn a_cut_inside_the_last_record_is_torn() {
        let (bytes, starts) = segment(3, 40);
        for cut in starts[2] + 1..bytes.len() {
            let scan = scan(&bytes[..cut]);
            assert_eq!(scan.records.len(), 2, "cut at {cut}");
            assert_eq!(scan.damage, Some(Damage::Torn { at: starts[2] as u64 }), "cut at {cut}");
        }
    }

    #[test]
    fn a_flip_before_an_intact_record_is_corrupt() {
        let (bytes, starts) = segment(3, 40);
        for at in 0..starts[2] {
            let mut b = bytes.clone();
            b[at] ^= 1;
            let record = starts.iter().rev().find(|s| **s <= at).unwrap();
            assert!(
                matches!(scan(&b).damage, Some(Damage::Corrupt { at: a, .. }) if a == *record as u64),
                "flip at {at}"
            );
        }
    }

    #[test]
    fn a_damaged_length_on_the_last_record_is_corrupt() {
        let (mut bytes, starts) = segment(2, 40);
        bytes[starts[1] + 1] = 0x10;
        let damage = scan(&bytes).damage;
        assert!(matches!(damage, Some(Damage::Corrupt { .. })), "{damage:?}");
    }

    #[test]
    fn zeros_are_unwritten_sectors() {
        let (bytes, starts) = segment(2, 2000);
        let mut grown = bytes.clone();
        grown.extend_from_slice(&[0; 100]);
        assert_eq!(scan(&grown).damage, Some(Damage::Torn { at: bytes.len() as u64 }));
        let sector = (starts[1] / SECTOR + 1) * SECTOR;
        let mut holed = bytes.clone();
        holed[sector..sector + SECTOR].fill(0);
        assert_eq!(scan(&holed).damage, Some(Damage::Torn { at: starts[1] as u64 }));
        // A few zero bytes are data, not a sector.
        let mut flipped = bytes.clone();
        flipped[bytes.len() - 3..].fill(0);
        assert!(matches!(scan(&flipped).damage, Some(Damage::Corrupt { .. })));
    }

    #[test]
    fn a_checksum_that_holds_over_an_undecodable_entry_is_corrupt() {
        let mut bytes = Vec::new();
        frame(b"\xc1", &mut bytes);
        assert!(matches!(scan(&bytes).damage, Some(Damage::Corrupt { at: 0, .. })));
    }
}
