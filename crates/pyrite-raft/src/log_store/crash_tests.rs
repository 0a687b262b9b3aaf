//! Crash and damage cases of the log on disk: segment files cut and bytes flipped at
//! every offset of the records that matter, every state a crash during a segment
//! rollover or a meta write can leave, and what open() makes of each.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, Vote};

use super::{FsyncPolicy, LogStore, OpenError};
use crate::{Command, NodeId, TypeConfig};

/// Small segments, so a couple of dozen entries span several.
const SEGMENT: u64 = 300;
const ENTRIES: u64 = 24;

fn log_id(index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

/// Entry `i`: its size varies with `i`, and its command has no zero bytes.
fn entry(i: u64) -> Entry<TypeConfig> {
    entry_of(i, 30 + (i % 7) as usize)
}

fn entry_of(i: u64, size: usize) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(i),
        payload: EntryPayload::Normal(Command::one(vec![(i % 250) as u8 + 1; size])),
    }
}

fn open(dir: &Path) -> Result<LogStore, String> {
    LogStore::open_with_segment_size(dir, FsyncPolicy::Never, SEGMENT).map_err(|e| e.to_string())
}

fn refused(dir: &Path, what: &str) -> String {
    match open(dir) {
        Ok(_) => panic!("{what}: the log opened"),
        Err(e) => e,
    }
}

/// Writes entries `1..=n`, one append each, and closes the log.
async fn write_log(dir: &Path, n: u64) {
    let mut log = LogStore::open_with_segment_size(dir, FsyncPolicy::Always, SEGMENT).unwrap();
    for i in 1..=n {
        log.blocking_append(vec![entry(i)]).await.unwrap();
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    out.sort();
    out
}

/// Where each record of a segment starts and ends, by the format's own rule.
fn records(path: &Path) -> Vec<(u64, u64)> {
    let bytes = fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut off = 0;
    while off + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        out.push((off as u64, (off + 8 + len) as u64));
        off += 8 + len;
    }
    assert_eq!(off, bytes.len(), "{} is made of whole records", path.display());
    out
}

/// A fresh directory holding a copy of every file in `from`.
fn copy_of(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, to.path().join(p.file_name().unwrap())).unwrap();
    }
    to
}

/// The same file in another copy of the directory.
fn in_dir(dir: &Path, file: &Path) -> PathBuf {
    dir.join(file.file_name().unwrap())
}

fn cut(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn flip(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x5a;
    fs::write(path, bytes).unwrap();
}

/// The indexes the log holds, checking each entry is the one written there.
async fn contents(log: &mut LogStore) -> Vec<u64> {
    let state = log.get_log_state().await.unwrap();
    let Some(last) = state.last_log_id else {
        return Vec::new();
    };
    let got = log.try_get_log_entries(0..=last.index).await.unwrap();
    for e in &got {
        if let EntryPayload::Normal(Command(c)) = &e.payload {
            let size = c[0].len();
            assert_eq!(
                e,
                &entry_of(e.log_id.index, size),
                "entry {} as written",
                e.log_id.index
            );
        }
    }
    got.iter().map(|e| e.log_id.index).collect()
}

/// Opens the log in `dir`, expects exactly entries `1..=n`, appends `n + 1` and expects
/// the log to open again with it.
async fn expect_entries(dir: &Path, n: u64, what: &str) {
    let mut log = open(dir).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(contents(&mut log).await, (1..=n).collect::<Vec<_>>(), "{what}");
    log.blocking_append(vec![entry(n + 1)]).await.unwrap();
    drop(log);
    let mut log = open(dir).unwrap_or_else(|e| panic!("{what}, then one more append: {e}"));
    assert_eq!(
        contents(&mut log).await,
        (1..=n + 1).collect::<Vec<_>>(),
        "{what}, then one more append"
    );
}

/// A crash mid-append leaves a prefix of the last write: cut the last segment at each of
/// its offsets, and the log keeps exactly the records wholly before the cut. The same
/// for the segment before it when the last one is then empty (the next segment had
/// been created, nothing reached it yet).
#[tokio::test]
async fn a_cut_at_any_offset_of_the_newest_records_keeps_exactly_the_whole_ones() {
    let template = tempfile::tempdir().unwrap();
    write_log(template.path(), ENTRIES).await;
    let segs = segments(template.path());
    assert!(segs.len() >= 4, "{} segments", segs.len());
    for back in [1, 2] {
        let seg = &segs[segs.len() - back];
        let recs = records(seg);
        let later: usize = segs[segs.len() - back + 1..].iter().map(|s| records(s).len()).sum();
        let before = ENTRIES as usize - recs.len() - later;
        for at in 0..fs::metadata(seg).unwrap().len() {
            let dir = copy_of(template.path());
            cut(&in_dir(dir.path(), seg), at);
            for s in &segs[segs.len() - back + 1..] {
                cut(&in_dir(dir.path(), s), 0);
            }
            let whole = recs.iter().filter(|(_, end)| *end <= at).count();
            let what = format!("{} cut at byte {at}", seg.display());
            expect_entries(dir.path(), (before + whole) as u64, &what).await;
        }
    }
}

/// A bad record followed by intact ones is damage, not a torn write: every byte of
/// every record but the last of the newest segment, flipped, makes open() refuse,
/// naming the file and the record's offset, and leave the file as it is.
#[tokio::test]
async fn a_damaged_record_followed_by_intact_ones_is_refused_not_cut() {
    let template = tempfile::tempdir().unwrap();
    write_log(template.path(), ENTRIES).await;
    let seg = segments(template.path()).pop().unwrap();
    let recs = records(&seg);
    assert!(recs.len() >= 3);
    let name = seg.file_name().unwrap().to_string_lossy().to_string();
    for (start, end) in &recs[..recs.len() - 1] {
        for at in *start..*end {
            let dir = copy_of(template.path());
            let path = in_dir(dir.path(), &seg);
            flip(&path, at);
            let damaged = fs::read(&path).unwrap();
            let err = refused(dir.path(), &format!("byte {at} flipped"));
            assert!(err.contains(&name) && err.contains(&format!("byte {start}")), "{err}");
            assert_eq!(
                fs::read(&path).unwrap(),
                damaged,
                "byte {at}: the file is left as it is"
            );
        }
    }
}

/// The error is the corruption variant, with the damaged file and the record's offset.
#[tokio::test]
async fn corruption_is_reported_with_its_file_and_offset() {
    let template = tempfile::tempdir().unwrap();
    write_log(template.path(), ENTRIES).await;
    let seg = segments(template.path()).pop().unwrap();
    let (start, _) = records(&seg)[1];
    let dir = copy_of(template.path());
    let path = in_dir(dir.path(), &seg);
    flip(&path, start + 12);
    match LogStore::open_with_segment_size(dir.path(), FsyncPolicy::Never, SEGMENT) {
        Err(OpenError::Corrupt { path: p, offset, .. }) => assert_eq!((p, offset), (path, start)),
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("the log opened"),
    }
}

/// A complete final record whose checksum fails was written whole: it may have been
/// acknowledged, so it is not cut either. Also when its length field is the damaged part.
#[tokio::test]
async fn a_damaged_final_record_is_refused_not_cut() {
    let template = tempfile::tempdir().unwrap();
    write_log(template.path(), ENTRIES).await;
    let seg = segments(template.path()).pop().unwrap();
    let (start, end) = *records(&seg).last().unwrap();
    for at in start..end {
        let dir = copy_of(template.path());
        flip(&in_dir(dir.path(), &seg), at);
        let err = refused(dir.path(), &format!("byte {at} of the final record flipped"));
        assert!(err.contains(&format!("byte {start}")), "{err}");
    }
}

/// Segments before the newest were complete and synced before it was created: any damage
/// there, flipped bytes or a cut, is refused.
#[tokio::test]
async fn damage_in_an_earlier_segment_is_refused() {
    let template = tempfile::tempdir().unwrap();
    write_log(template.path(), ENTRIES).await;
    let segs = segments(template.path());
    for seg in [&segs[0], &segs[segs.len() - 2]] {
        let name = seg.file_name().unwrap().to_string_lossy().to_string();
        let size = fs::metadata(seg).unwrap().len();
        for at in 0..size {
            let dir = copy_of(template.path());
            flip(&in_dir(dir.path(), seg), at);
            let err = refused(dir.path(), &format!("{name}: byte {at} flipped"));
            assert!(err.contains(&name), "{err}");
        }
        for at in 1..size {
            let dir = copy_of(template.path());
            cut(&in_dir(dir.path(), seg), at);
            let err = refused(dir.path(), &format!("{name} cut at byte {at}"));
            // A cut between records leaves this file whole: the gap shows in the next.
            if !records(seg).iter().any(|(s, _)| *s == at) {
                assert!(err.contains(&name), "{err}");
            }
        }
    }
}

/// Does to a copy of the log what a crash would have.
type Damage<'a> = Box<dyn Fn(&Path) + 'a>;

/// Every state a crash can leave at a rollover opens, with every entry that was synced.
#[tokio::test]
async fn every_crash_point_of_a_rollover_opens() {
    let template = tempfile::tempdir().unwrap();
    write_log(template.path(), ENTRIES).await;
    let segs = segments(template.path());
    let last = segs[segs.len() - 1].clone();
    let prev = segs[segs.len() - 2].clone();
    let before_last = ENTRIES - records(&last).len() as u64;
    let (p_start, p_end) = *records(&prev).last().unwrap();
    let (_, l_end) = records(&last)[0];
    let cases: Vec<(&str, u64, Damage)> = vec![
        (
            "the new segment not created",
            before_last,
            Box::new(|d: &Path| fs::remove_file(in_dir(d, &last)).unwrap()),
        ),
        (
            "the new segment empty",
            before_last,
            Box::new(|d: &Path| cut(&in_dir(d, &last), 0)),
        ),
        (
            "half the new segment's first record",
            before_last,
            Box::new(|d: &Path| cut(&in_dir(d, &last), l_end / 2)),
        ),
        (
            "the full segment's last write torn, the new segment empty",
            before_last - 1,
            Box::new(|d: &Path| {
                cut(&in_dir(d, &prev), (p_start + p_end) / 2);
                cut(&in_dir(d, &last), 0);
            }),
        ),
        (
            "the full segment's last write torn, the new one's too",
            before_last - 1,
            Box::new(|d: &Path| {
                cut(&in_dir(d, &prev), (p_start + p_end) / 2);
                cut(&in_dir(d, &last), l_end / 2);
            }),
        ),
        (
            "temporary files left beside the segments",
            ENTRIES,
            Box::new(|d: &Path| {
                let tmp = format!("{}.tmp", last.file_name().unwrap().to_string_lossy());
                fs::write(d.join(tmp), b"\x07garbage").unwrap();
                fs::write(d.join("meta.tmp"), b"\x07garbage").unwrap();
            }),
        ),
    ];
    for (what, keeps, damage) in cases {
        let dir = copy_of(template.path());
        damage(dir.path());
        expect_entries(dir.path(), keeps, what).await;
    }
}

/// Power lost mid-append can leave the file grown but sectors of the write never
/// written (zeros): that is a torn tail too. One flipped byte in the same record is not.
#[tokio::test]
async fn unwritten_sectors_at_the_end_are_a_torn_tail() {
    let template = tempfile::tempdir().unwrap();
    {
        let mut log = LogStore::open_with_segment_size(template.path(), FsyncPolicy::Always, SEGMENT).unwrap();
        for i in 1..=5 {
            log.blocking_append(vec![entry(i)]).await.unwrap();
        }
        log.blocking_append(vec![entry_of(6, 3000)]).await.unwrap();
    }
    let seg = segments(template.path()).pop().unwrap();
    let (start, end) = *records(&seg).last().unwrap();
    assert!(end - start > 2048);
    let sector = (start / 512 + 2) * 512;

    let dir = copy_of(template.path());
    let path = in_dir(dir.path(), &seg);
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, &[0; 4096]).unwrap();
    drop(f);
    expect_entries(dir.path(), 6, "zeros after the last record").await;

    for (what, from, to) in [
        ("one sector of the last record never written", sector, sector + 512),
        ("the last record's end never written", sector, end),
    ] {
        let dir = copy_of(template.path());
        let path = in_dir(dir.path(), &seg);
        let mut bytes = fs::read(&path).unwrap();
        bytes[from as usize..to as usize].fill(0);
        fs::write(&path, bytes).unwrap();
        expect_entries(dir.path(), 5, what).await;
    }

    let dir = copy_of(template.path());
    flip(&in_dir(dir.path(), &seg), sector + 100);
    refused(dir.path(), "one byte of the big final record flipped");
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// save_committed writes without fsync, so power loss may leave whatever it wrote
/// torn: empty, cut in half, or zeros. The log still opens, with the vote that was
/// synced, and a committed id that was saved (or none).
#[tokio::test]
async fn a_torn_committed_write_keeps_the_vote() {
    let src = tempfile::tempdir().unwrap();
    let vote = Vote::new(3, 2);
    let mut log = LogStore::open_with_segment_size(src.path(), FsyncPolicy::Always, SEGMENT).unwrap();
    log.blocking_append((1..=5).map(entry).collect::<Vec<_>>())
        .await
        .unwrap();
    log.save_vote(&vote).await.unwrap();
    log.save_committed(Some(log_id(3))).await.unwrap();
    let before = files(src.path());
    log.save_committed(Some(log_id(5))).await.unwrap();
    let touched: Vec<String> = files(src.path())
        .into_iter()
        .filter(|(name, bytes)| before.get(name) != Some(bytes))
        .map(|(name, _)| name)
        .collect();
    drop(log);
    assert!(!touched.is_empty());
    for name in &touched {
        for tear in ["empty", "half", "zeros"] {
            let dir = copy_of(src.path());
            let path = dir.path().join(name);
            let len = fs::metadata(&path).unwrap().len();
            match tear {
                "empty" => cut(&path, 0),
                "half" => cut(&path, len / 2),
                _ => fs::write(&path, vec![0; len as usize]).unwrap(),
            }
            let mut log = open(dir.path()).unwrap_or_else(|e| panic!("{name} {tear}: {e}"));
            assert_eq!(log.read_vote().await.unwrap(), Some(vote), "{name} {tear}");
            let committed = log.read_committed().await.unwrap();
            assert!(
                [None, Some(log_id(3)), Some(log_id(5))].contains(&committed),
                "{name} {tear}: {committed:?}"
            );
            assert_eq!(contents(&mut log).await, vec![1, 2, 3, 4, 5]);
        }
    }
}

/// A committed id is only a hint; one the log on disk cannot back (the entry it names
/// was torn off) is forgotten rather than handed to Raft, which would try to apply it.
#[tokio::test]
async fn a_committed_id_past_the_durable_log_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = LogStore::open_with_segment_size(dir.path(), FsyncPolicy::Always, SEGMENT).unwrap();
        log.blocking_append((1..=10).map(entry).collect::<Vec<_>>())
            .await
            .unwrap();
        log.save_committed(Some(log_id(10))).await.unwrap();
    }
    let seg = segments(dir.path()).pop().unwrap();
    let (start, end) = *records(&seg).last().unwrap();
    cut(&seg, (start + end) / 2);
    let mut log = open(dir.path()).unwrap();
    assert_eq!(contents(&mut log).await, (1..=9).collect::<Vec<_>>());
    let committed = log.read_committed().await.unwrap();
    assert!(committed.is_none_or(|c| c.index <= 9), "{committed:?}");
}

/// A snapshot installed past the end of the log purges beyond it; after a restart the
/// log still starts after the purge point.
#[tokio::test]
async fn purging_past_the_end_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = open(dir.path()).unwrap();
        log.blocking_append((1..=5).map(entry).collect::<Vec<_>>())
            .await
            .unwrap();
        log.purge(log_id(9)).await.unwrap();
    }
    let mut log = open(dir.path()).unwrap();
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(9)));
    assert_eq!(state.last_log_id, Some(log_id(9)));
    assert!(log.try_get_log_entries(0..10).await.unwrap().is_empty());
    log.blocking_append(vec![entry(10)]).await.unwrap();
    drop(log);
    let mut log = open(dir.path()).unwrap();
    assert_eq!(log.get_log_state().await.unwrap().last_log_id, Some(log_id(10)));
    assert_eq!(contents(&mut log).await, vec![10]);
}
