//! openraft's own conformance suite for log stores and state machines, run against
//! the on-disk [`LogStore`] and [`StateStore`], plus restart and damage cases, and a
//! [`Group`] of one replica running a small state machine end to end.

use std::sync::Arc;

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, StorageError, Vote};
use parking_lot::Mutex;

use crate::log_store::{FsyncPolicy, LogStore};
use crate::state_store::StateStore;
use crate::{Command, Group, GroupId, NodeId, RaftOptions, StateMachine, TypeConfig};

/// Records applied commands; its snapshot is their concatenation.
#[derive(Default)]
struct Recorder(Mutex<Vec<Vec<u8>>>);

impl StateMachine for Recorder {
    type Command = Vec<u8>;
    /// How many commands it holds after this one.
    type Response = usize;

    fn encode(command: &Vec<u8>) -> bytes::Bytes {
        bytes::Bytes::copy_from_slice(command)
    }

    fn apply(&self, command: &bytes::Bytes) -> usize {
        let mut all = self.0.lock();
        all.push(command.to_vec());
        all.len()
    }

    fn snapshot(&self) -> crate::SnapshotEncoder {
        let bytes = crate::encode(&*self.0.lock()).unwrap();
        Box::new(move |w| w.write_all(&bytes))
    }

    fn restore(&self, snapshot: &[u8]) -> Result<(), String> {
        *self.0.lock() = crate::decode(snapshot).map_err(|e| e.to_string())?;
        Ok(())
    }
}

struct Builder(FsyncPolicy);

impl StoreBuilder<TypeConfig, LogStore, StateStore<Recorder>, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateStore<Recorder>), StorageError<NodeId>> {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open_with_segment_size(&dir.path().join("log"), self.0, 512).unwrap();
        let sm = StateStore::open(&dir.path().join("sm"), Arc::new(Recorder::default())).unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(Builder(FsyncPolicy::Never)) {
        panic!("storage suite failed: {e}");
    }
}

/// The same suite with every append synced by the log's flusher thread.
#[test]
fn openraft_storage_suite_with_fsync() {
    if let Err(e) = Suite::test_all(Builder(FsyncPolicy::Always)) {
        panic!("storage suite failed: {e}");
    }
}

#[tokio::test]
async fn fresh_entries_come_back_from_memory_until_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let commands: Vec<bytes::Bytes> = (1..=3u8).map(|i| bytes::Bytes::from(vec![i; 100])).collect();
    let mut log = LogStore::open(&path, FsyncPolicy::Always).unwrap();
    let entries = commands
        .iter()
        .zip(1..)
        .map(|(c, i)| Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), i),
            payload: EntryPayload::Normal(Command(vec![c.clone()])),
        })
        .collect();
    append(&mut log, entries).await;
    let ptr = |e: &Entry<TypeConfig>| match &e.payload {
        EntryPayload::Normal(c) => c.0[0].as_ptr(),
        _ => panic!("not a normal entry"),
    };
    let fresh = log.try_get_log_entries(1..4).await.unwrap();
    for (e, c) in fresh.iter().zip(&commands) {
        assert_eq!(ptr(e), c.as_ptr(), "served from memory, not decoded again");
    }
    // Applied entries leave memory; they are still read, from the disk.
    log.release_applied(2);
    let after = log.try_get_log_entries(1..4).await.unwrap();
    assert_eq!(after, fresh);
    assert_ne!(ptr(&after[1]), commands[1].as_ptr());
    assert_eq!(ptr(&after[2]), commands[2].as_ptr());
    drop(log);
    // After a restart the same entries come from the disk, equal but decoded anew.
    let mut log = LogStore::open(&path, FsyncPolicy::Always).unwrap();
    let reread = log.try_get_log_entries(1..4).await.unwrap();
    assert_eq!(reread, fresh);
    assert!(reread.iter().zip(&commands).all(|(e, c)| ptr(e) != c.as_ptr()));
}

fn entry(term: u64, index: u64, data: &[u8]) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(Command::one(data.to_vec())),
    }
}

async fn append(log: &mut LogStore, entries: Vec<Entry<TypeConfig>>) {
    use openraft::storage::RaftLogStorageExt;
    log.blocking_append(entries).await.unwrap();
}

#[tokio::test]
async fn the_log_survives_a_restart_and_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    {
        let mut log = LogStore::open_with_segment_size(&path, FsyncPolicy::Always, 200).unwrap();
        append(&mut log, (1..=20).map(|i| entry(1, i, &[i as u8; 30])).collect()).await;
        log.save_vote(&Vote::new(3, 2)).await.unwrap();
        log.purge(LogId::new(CommittedLeaderId::new(1, 1), 5)).await.unwrap();
        log.truncate(LogId::new(CommittedLeaderId::new(1, 1), 18))
            .await
            .unwrap();
    }
    // A crash mid-append leaves half a record at the end of the last segment.
    let last = std::fs::read_dir(&path)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .max()
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&last).unwrap();
    std::io::Write::write_all(&mut f, &[9, 0, 0, 0, 1, 2]).unwrap();
    drop(f);

    let mut log = LogStore::open_with_segment_size(&path, FsyncPolicy::Always, 200).unwrap();
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(5));
    assert_eq!(state.last_log_id.map(|l| l.index), Some(17));
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
    let got = log.try_get_log_entries(6..18).await.unwrap();
    assert_eq!(got.len(), 12);
    for (e, i) in got.iter().zip(6..) {
        assert_eq!(e.log_id.index, i);
        assert_eq!(e.payload, EntryPayload::Normal(Command::one(vec![i as u8; 30])));
    }
    // Appending after the restart continues the log.
    append(&mut log, vec![entry(2, 18, b"x")]).await;
    assert_eq!(log.try_get_log_entries(18..19).await.unwrap()[0].log_id.index, 18);
}

#[tokio::test]
async fn a_snapshot_restores_the_app_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(Recorder::default());
    let mut sm = StateStore::open(dir.path(), app.clone()).unwrap();
    sm.apply(vec![entry(1, 1, b"a"), entry(1, 2, b"b")]).await.unwrap();
    let mut builder = sm.get_snapshot_builder().await;
    let snap = openraft::RaftSnapshotBuilder::build_snapshot(&mut builder)
        .await
        .unwrap();
    assert_eq!(snap.meta.last_log_id.map(|l| l.index), Some(2));

    let again = Arc::new(Recorder::default());
    let mut sm = StateStore::open(dir.path(), again.clone()).unwrap();
    assert_eq!(*again.0.lock(), vec![b"a".to_vec(), b"b".to_vec()]);
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(2));
}

#[tokio::test]
async fn an_entry_applies_each_of_its_commands() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(Recorder::default());
    let mut sm = StateStore::open(dir.path(), app.clone()).unwrap();
    let batch = Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), 1),
        payload: EntryPayload::Normal(Command(vec![
            bytes::Bytes::from_static(b"a"),
            bytes::Bytes::from_static(b"b"),
        ])),
    };
    let results = sm.apply(vec![batch, entry(1, 2, b"c")]).await.unwrap();
    assert_eq!(results.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(*app.0.lock(), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
}

async fn build(sm: &StateStore<Recorder>) -> openraft::Snapshot<TypeConfig> {
    let mut builder = sm.clone().get_snapshot_builder().await;
    openraft::RaftSnapshotBuilder::build_snapshot(&mut builder)
        .await
        .unwrap()
}

async fn read_all(mut snap: openraft::Snapshot<TypeConfig>) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut data = Vec::new();
    snap.snapshot.read_to_end(&mut data).await.unwrap();
    data
}

fn dir_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_snapshot_is_written_to_and_read_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateStore::open(dir.path(), Arc::new(Recorder::default())).unwrap();
    sm.apply(vec![entry(1, 1, b"a")]).await.unwrap();
    let first = build(&sm).await;
    sm.apply(vec![entry(1, 2, b"b")]).await.unwrap();
    let second = build(&sm).await;
    assert_eq!(second.meta.last_log_id.map(|l| l.index), Some(2));
    // The older data file is gone from the directory, but a reader that opened it
    // (a follower being sent it) still reads it whole.
    assert_eq!(
        dir_names(dir.path()),
        ["snapshot-T1-N1-2.data", "snapshot.meta"],
        "only the current snapshot's files remain"
    );
    let old: Vec<Vec<u8>> = crate::decode(&read_all(first).await).unwrap();
    assert_eq!(old, vec![b"a".to_vec()]);
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    let now: Vec<Vec<u8>> = crate::decode(&read_all(current).await).unwrap();
    assert_eq!(now, vec![b"a".to_vec(), b"b".to_vec()]);
}

#[tokio::test]
async fn an_interrupted_snapshot_leaves_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateStore::open(dir.path(), Arc::new(Recorder::default())).unwrap();
    sm.apply(vec![entry(1, 1, b"a")]).await.unwrap();
    build(&sm).await;
    drop(sm);
    // A crash while the next snapshot was being written: its data file half written,
    // never committed by the metadata.
    std::fs::write(dir.path().join("snapshot-1-1-9.data.tmp"), b"half").unwrap();
    std::fs::write(dir.path().join("snapshot-1-1-8.data"), b"uncommitted").unwrap();
    let app = Arc::new(Recorder::default());
    let mut sm = StateStore::open(dir.path(), app.clone()).unwrap();
    assert_eq!(*app.0.lock(), vec![b"a".to_vec()]);
    assert_eq!(sm.applied_state().await.unwrap().0.map(|l| l.index), Some(1));
    assert_eq!(
        dir_names(dir.path()),
        ["snapshot-T1-N1-1.data", "snapshot.meta"],
        "uncommitted data files are removed on open"
    );
}

#[tokio::test]
async fn a_snapshot_of_the_first_format_is_upgraded_on_open() {
    #[derive(serde::Serialize)]
    struct Legacy {
        meta: openraft::SnapshotMeta<NodeId, openraft::BasicNode>,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    }
    let dir = tempfile::tempdir().unwrap();
    let meta = openraft::SnapshotMeta {
        last_log_id: Some(LogId::new(CommittedLeaderId::new(2, 1), 7)),
        last_membership: Default::default(),
        snapshot_id: "T2-N1-7".into(),
    };
    let data = crate::encode(&vec![b"x".to_vec(), b"y".to_vec()]).unwrap();
    let legacy = crate::encode(&Legacy { meta, data }).unwrap();
    std::fs::write(dir.path().join("snapshot"), legacy).unwrap();

    let app = Arc::new(Recorder::default());
    let mut sm = StateStore::open(dir.path(), app.clone()).unwrap();
    assert_eq!(*app.0.lock(), vec![b"x".to_vec(), b"y".to_vec()]);
    assert_eq!(sm.applied_state().await.unwrap().0.map(|l| l.index), Some(7));
    assert_eq!(dir_names(dir.path()), ["snapshot-T2-N1-7.data", "snapshot.meta"]);
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.snapshot_id, "T2-N1-7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_one_proposes_reads_and_reopens_from_its_snapshot_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let opts = RaftOptions {
        fsync: FsyncPolicy::Never,
        snapshot_entries: 3,
        ..RaftOptions::default()
    };
    let id = GroupId::shard(7);
    let open = |state: Arc<Recorder>| {
        let opts = opts.clone();
        let dir = dir.path().to_path_buf();
        async move {
            let groups = crate::network::Groups::default();
            let g = Group::open(id, 1, &dir, &opts, state, pyrite_client::Channels::default(), &groups)
                .await
                .unwrap();
            g.initialize(vec![(1, "127.0.0.1:1".into())]).await.unwrap();
            g.wait_to_lead(std::time::Duration::from_secs(10)).await.unwrap();
            g
        }
    };
    let g = open(Arc::new(Recorder::default())).await;
    assert!(g.is_leader());
    assert_eq!(g.voters(), [1].into());
    // Concurrent proposals share entries; each gets its own response.
    let answers = futures::future::join_all((0..10u8).map(|i| {
        let g = g.clone();
        async move { g.propose(&vec![i]).await.unwrap() }
    }))
    .await;
    let mut sorted = answers.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=10).collect::<Vec<_>>());
    g.read_index().await.unwrap();
    assert_eq!(g.state().0.lock().len(), 10);
    g.shutdown().await;

    // Reopened: the snapshot and the log after it give the same state.
    let again = Arc::new(Recorder::default());
    let g = open(again.clone()).await;
    g.read_index().await.unwrap();
    assert_eq!(again.0.lock().len(), 10);
    assert_eq!(g.propose(&vec![99]).await.unwrap(), 11);
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_proposals_wait_to_share_an_entry_until_an_impatient_one_comes() {
    let dir = tempfile::tempdir().unwrap();
    let opts = RaftOptions {
        fsync: FsyncPolicy::Never,
        // Far longer than the test may take: only an impatient proposal ends the wait.
        patient_wait: std::time::Duration::from_secs(600),
        ..RaftOptions::default()
    };
    let groups = crate::network::Groups::default();
    let state = Arc::new(Recorder::default());
    let g = Group::open(
        GroupId::shard(3),
        1,
        dir.path(),
        &opts,
        state,
        pyrite_client::Channels::default(),
        &groups,
    )
    .await
    .unwrap();
    g.initialize(vec![(1, "127.0.0.1:1".into())]).await.unwrap();
    g.wait_to_lead(std::time::Duration::from_secs(10)).await.unwrap();
    g.read_index().await.unwrap();
    let before = g.last_log_index();

    // Patient proposals are held back together: a while later none is in the log…
    let patient = futures::future::join_all((0..5u8).map(|i| g.propose_patiently(bytes::Bytes::from(vec![i]))));
    let urgent = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(g.last_log_index(), before, "patient proposals wait");
        // …until an impatient one joins them, and all go in one entry at once.
        g.propose(&vec![9]).await.unwrap()
    };
    let (patient, urgent) = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        futures::future::join(patient, urgent),
    )
    .await
    .expect("an impatient proposal ends the patient ones' wait");
    assert!(patient.iter().all(Result::is_ok));
    assert_eq!(urgent, 6, "all six were applied");
    assert_eq!(g.last_log_index(), before + 1, "in one log entry");
    g.shutdown().await;
}
