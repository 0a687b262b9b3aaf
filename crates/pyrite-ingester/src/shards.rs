//! An ingester in a cluster: the replicas of every shard the ring assigns to this
//! node, each a Raft group whose log is the write-ahead log and whose state machine is
//! a head of its own. Writes are accepted by a shard's leader and acknowledged once a
//! quorum has them on disk; reads are served from the head, after a read index when
//! they must see every acknowledged write.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use pyrite_client::{not_leader, ShardClient};
use pyrite_model::TimeSeries;
use pyrite_raft::network::Groups;
use pyrite_raft::{Group, GroupError, GroupId, NodeId, RaftOptions, StateMachine};
use pyrite_ring::{Ring, ShardId};
use pyrite_storage::{KnownWrite, MetadataQuery, MetricMetadata};
use pyrite_tsdb::{Head, HeadOptions};
use tonic::Status;

use crate::command::{self, ShardCommand};
use crate::flush::BlockSettings;
use crate::membership::MetaReplica;
use crate::metric_metadata::MetadataStore as MetricMetadataStore;

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error(transparent)]
    Group(#[from] GroupError),
}

/// What applying a shard command reports back to the writer.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    /// Samples the command stored, float samples and native histograms together.
    pub samples: u64,
    /// Of `samples`, the native histograms.
    pub histograms: u64,
    /// Samples the head refused (duplicates, out-of-order…), and the first few
    /// reasons, for the writer to report. Refusals are deterministic, so every replica
    /// refuses the same.
    pub rejected: u64,
    pub rejections: Vec<String>,
}

/// What a group's error tells a gRPC caller: where the leader is, or to retry.
pub(crate) fn status(e: GroupError) -> Status {
    match e {
        GroupError::NotLeader { leader, .. } => not_leader(leader.as_ref().map(|(id, addr)| (*id, addr.as_str()))),
        e @ GroupError::Internal { .. } => Status::internal(e.to_string()),
        other => Status::unavailable(other.to_string()),
    }
}

/// A shard's head as its Raft state machine sees it.
///
/// A write this node proposes itself (in one process, every write) is already decoded
/// when it is encoded for the log. It is kept beside the command ([`HeadApp::prepare`])
/// and applied as it is, instead of being decoded back from the log's bytes: commands
/// travel through Raft as shared buffers, so the command the state machine is handed is
/// the very buffer that was prepared, recognised by its address. The prepared entry
/// holds that buffer, so no other buffer can have the address while the entry lives,
/// and what is applied is exactly what decoding the bytes would give (the codec
/// round-trips bit for bit); every other replica, and replay, decodes.
pub(crate) struct HeadApp {
    head: Arc<Head>,
    metadata: Arc<MetricMetadataStore>,
    prepared: parking_lot::Mutex<HashMap<usize, Prepared>>,
    /// What the latest writes did, by id: a write committed again (a writer retried
    /// while its first attempt was still on its way) is answered from here, not
    /// applied twice. Part of the state machine, so its snapshots carry it.
    recent: parking_lot::Mutex<RecentWrites>,
}

/// Writes remembered for retries: far more than can be in flight within a writer's
/// retry deadline.
const RECENT_WRITES: usize = 16_384;

/// A bounded, ordered memory of applied writes. Eviction follows log order only, so
/// every replica remembers the same ids.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct RecentWrites {
    order: std::collections::VecDeque<command::WriteId>,
    applied: HashMap<command::WriteId, Applied>,
}

impl RecentWrites {
    fn get(&self, id: command::WriteId) -> Option<Applied> {
        self.applied.get(&id).cloned()
    }

    fn insert(&mut self, id: command::WriteId, applied: &Applied) {
        if self.applied.insert(id, applied.clone()).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > RECENT_WRITES {
            if let Some(old) = self.order.pop_front() {
                self.applied.remove(&old);
            }
        }
    }
}

/// A shard snapshot: this prefix, the length of the recent writes, the recent writes,
/// the length of the metric metadata, the metadata, then the head. Snapshots with the
/// first version's prefix have no metadata; snapshots without a prefix are a head alone.
const SNAPSHOT_MAGIC: &[u8; 8] = b"PYRSNAP2";
const SNAPSHOT_MAGIC_V1: &[u8; 8] = b"PYRSNAP1";

struct Prepared {
    command: Bytes,
    tenant: String,
    write: PreparedWrite,
}

/// A prepared write as its proposer had it: labeled series, or known series.
pub(crate) enum PreparedWrite {
    Series(Vec<TimeSeries>),
    Known(KnownWrite),
}

/// Forgets a prepared write when its push is over, applied or not.
struct PreparedGuard<'a> {
    app: &'a HeadApp,
    key: usize,
}

impl Drop for PreparedGuard<'_> {
    fn drop(&mut self) {
        self.app.prepared.lock().remove(&self.key);
    }
}

impl HeadApp {
    fn new(head: Arc<Head>, metadata: Arc<MetricMetadataStore>) -> Self {
        Self {
            head,
            metadata,
            prepared: Default::default(),
            recent: Default::default(),
        }
    }

    fn prepare(&self, command: &Bytes, tenant: &str, write: PreparedWrite) -> PreparedGuard<'_> {
        let key = command.as_ptr() as usize;
        let prepared = Prepared {
            command: command.clone(),
            tenant: tenant.to_string(),
            write,
        };
        self.prepared.lock().insert(key, prepared);
        PreparedGuard { app: self, key }
    }

    fn take_prepared(&self, command: &[u8]) -> Option<Prepared> {
        let mut prepared = self.prepared.lock();
        let key = command.as_ptr() as usize;
        match prepared.get(&key) {
            Some(p) if p.command.len() == command.len() => prepared.remove(&key),
            _ => None,
        }
    }

    fn write(&self, tenant: &str, series: &[TimeSeries]) -> Applied {
        applied(self.head.apply(tenant, series))
    }
}

fn applied(out: pyrite_storage::AppendOutcome) -> Applied {
    Applied {
        samples: out.samples_written,
        histograms: out.histograms_written,
        rejected: out.samples_rejected,
        rejections: out.rejections,
    }
}

impl StateMachine for HeadApp {
    type Command = ShardCommand;
    type Response = Applied;

    fn encode(command: &ShardCommand) -> Bytes {
        command::encode(command).into()
    }

    fn apply(&self, command: &Bytes) -> Applied {
        let id = command::write_id(command);
        let prepared = self.take_prepared(command);
        if let Some(done) = id.and_then(|id| self.recent.lock().get(id)) {
            return done;
        }
        let applied = match prepared {
            Some(Prepared {
                tenant,
                write: PreparedWrite::Series(series),
                ..
            }) => self.write(&tenant, &series),
            // The same as applying the labeled series the command's bytes hold.
            Some(Prepared {
                tenant,
                write: PreparedWrite::Known(write),
                ..
            }) => applied(self.head.apply_known(&tenant, &write)),
            None => match command::decode(command) {
                Ok(ShardCommand::Write { record, .. }) => self.write(&record.tenant, &record.series),
                Ok(ShardCommand::Seal { tenant, before }) => {
                    match tenant {
                        Some(t) => self.head.seal_before(&t, before),
                        None => self.head.seal_all_before(before),
                    }
                    Applied::default()
                }
                Ok(ShardCommand::Flushed { tenant, before }) => {
                    match tenant {
                        Some(t) => self.head.truncate_before(&t, before),
                        None => self.head.truncate_all_before(before),
                    }
                    Applied::default()
                }
                Ok(ShardCommand::Metadata(r)) => {
                    self.metadata.apply(r.at_ms, &r.tenant, &r.metadata);
                    Applied::default()
                }
                // Every replica decodes the same bytes the same way, so they all refuse it.
                Err(e) => Applied {
                    rejected: 1,
                    rejections: vec![format!("undecodable write: {e}")],
                    ..Applied::default()
                },
            },
        };
        if let Some(id) = id {
            self.recent.lock().insert(id, &applied);
        }
        applied
    }

    fn snapshot(&self) -> pyrite_raft::SnapshotEncoder {
        let recent = rmp_serde::to_vec(&*self.recent.lock()).expect("recent writes always serialize");
        let metadata = self.metadata.encode();
        let head = self.head.capture();
        Box::new(move |w| {
            w.write_all(SNAPSHOT_MAGIC)?;
            for part in [&recent, &metadata] {
                w.write_all(&(part.len() as u64).to_le_bytes())?;
                w.write_all(part)?;
            }
            head.encode_into(w)
        })
    }

    fn restore(&self, snapshot: &[u8]) -> Result<(), String> {
        let (rest, parts) = match (
            snapshot.strip_prefix(SNAPSHOT_MAGIC.as_slice()),
            snapshot.strip_prefix(SNAPSHOT_MAGIC_V1.as_slice()),
        ) {
            (Some(rest), _) => (rest, 2),
            (None, Some(rest)) => (rest, 1),
            (None, None) => (snapshot, 0),
        };
        let mut rest = rest;
        let mut part = || -> Result<&[u8], String> {
            let (len, after) = rest.split_at_checked(8).ok_or("truncated shard snapshot")?;
            let len = u64::from_le_bytes(len.try_into().map_err(|_| "truncated shard snapshot")?) as usize;
            let (part, after) = after.split_at_checked(len).ok_or("truncated shard snapshot")?;
            rest = after;
            Ok(part)
        };
        let recent: RecentWrites = match parts {
            0 => RecentWrites::default(),
            _ => rmp_serde::from_slice(part()?).map_err(|e| format!("recent writes in a snapshot: {e}"))?,
        };
        let metadata = if parts == 2 { part()? } else { &[] };
        self.metadata.restore(metadata)?;
        self.head.restore(rest).map_err(|e| e.to_string())?;
        *self.recent.lock() = recent;
        Ok(())
    }
}

pub(crate) struct Replica {
    pub(crate) group: Group<HeadApp>,
    pub(crate) head: Arc<Head>,
    pub(crate) metadata: Arc<MetricMetadataStore>,
}

/// Where and how this node keeps its replicas.
#[derive(Clone)]
pub struct HostSettings {
    /// Each group's log and state live under `dir/shard-<id>` (`dir/meta` for the
    /// metadata group).
    pub dir: PathBuf,
    pub head: HeadOptions,
    pub raft: RaftOptions,
    /// Where and how shards this node leads cut blocks; `None`: they never do.
    pub blocks: Option<BlockSettings>,
}

/// The shard replicas hosted by one ingester, and its replica of the metadata group
/// when it holds one.
pub struct ShardHost {
    pub(crate) node_id: NodeId,
    pub(crate) ring: Arc<RwLock<Ring>>,
    /// Reaches other ingesters (the metadata group's leader, for ring changes).
    pub(crate) client: ShardClient,
    pub(crate) settings: HostSettings,
    pub(crate) groups: Groups,
    pub(crate) replicas: RwLock<HashMap<ShardId, Arc<Replica>>>,
    pub(crate) meta: RwLock<Option<MetaReplica>>,
    /// Groups whose membership this node (as leader) is changing right now.
    pub(crate) converging: parking_lot::Mutex<std::collections::HashSet<GroupId>>,
    /// Draining shards this node leads, and since when it has refused their writes.
    pub(crate) draining_since: parking_lot::Mutex<HashMap<ShardId, std::time::Instant>>,
    /// Failed block-cutting steps, by tenant.
    pub(crate) cut_failures: Family<Vec<(String, String)>, Counter>,
    /// As the metadata group's leader: when each pool member was last heard.
    pub(crate) liveness: parking_lot::Mutex<pyrite_members::Liveness>,
}

impl ShardHost {
    /// A host with no groups open yet: serve its [`ShardHost::groups`] over gRPC first,
    /// so peers can reach this node while [`ShardHost::open_shards`] runs. The client
    /// must share `ring`.
    pub fn new(node_id: NodeId, client: ShardClient, settings: HostSettings) -> Arc<ShardHost> {
        Arc::new(ShardHost {
            node_id,
            ring: client.ring(),
            client,
            settings,
            groups: Groups::default(),
            replicas: RwLock::default(),
            meta: RwLock::default(),
            converging: Default::default(),
            draining_since: Default::default(),
            cut_failures: Family::default(),
            liveness: Default::default(),
        })
    }

    /// Registers the host's metrics.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "pyrite_ingester_block_cut_failures",
            "Block-cutting steps (a tenant's seal, upload or flush) that failed and were left for the next check, by tenant.",
            self.cut_failures.clone(),
        );
    }

    /// Opens (or creates) every shard replica the ring gives this node, replaying each
    /// shard's log into its head. A brand-new shard is initialised by its founder; the
    /// other replicas join when it contacts them.
    pub async fn open_shards(&self) -> Result<(), ShardError> {
        let shards = self.ring.read().desc().shards_of(self.node_id);
        for shard in shards {
            self.open_shard(shard).await?;
        }
        Ok(())
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    fn shard_dir(&self, shard: ShardId) -> PathBuf {
        self.settings.dir.join(format!("shard-{shard}"))
    }

    pub(crate) async fn open_shard(&self, shard: ShardId) -> Result<(), ShardError> {
        let head = Arc::new(Head::new(self.settings.head.clone()));
        let metadata = Arc::new(MetricMetadataStore::default());
        let app = Arc::new(HeadApp::new(head.clone(), metadata.clone()));
        let id = GroupId::shard(shard);
        let group = Group::open(
            id,
            self.node_id,
            &self.shard_dir(shard),
            &self.settings.raft,
            app,
            self.client.channels(),
            &self.groups,
        )
        .await?;
        let (founder, members) = {
            let ring = self.ring.read();
            let desc = ring.desc();
            (
                desc.shards.get(&shard).and_then(|s| s.founder),
                desc.replica_addrs(shard),
            )
        };
        if founder == Some(self.node_id) {
            group.initialize(members).await?;
        }
        self.replicas
            .write()
            .insert(shard, Arc::new(Replica { group, head, metadata }));
        tracing::info!(shard, "opened shard replica");
        Ok(())
    }

    /// Stops this node's replica of a shard it no longer holds and deletes its data.
    pub(crate) async fn close_shard(&self, shard: ShardId) {
        let replica = self.replicas.write().remove(&shard);
        if let Some(r) = replica {
            r.group.shutdown().await;
        }
        match std::fs::remove_dir_all(self.shard_dir(shard)) {
            Ok(()) => tracing::info!(shard, "removed shard replica"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(shard, error = %e, "could not delete a removed shard replica"),
        }
    }

    /// The Raft groups, for the `Raft` gRPC service.
    pub fn groups(&self) -> Groups {
        self.groups.clone()
    }

    pub fn ring(&self) -> Arc<RwLock<Ring>> {
        self.ring.clone()
    }

    fn replica(&self, shard: ShardId) -> Result<Arc<Replica>, Status> {
        self.replicas
            .read()
            .get(&shard)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("no replica of shard {shard} on node {}", self.node_id)))
    }

    /// A draining shard's replica refuses writes (the sender's ring is older than
    /// this node's; it retries once it has the newer one), so that what its head holds
    /// only shrinks until the shard is removed.
    fn writable_replica(&self, shard: ShardId) -> Result<Arc<Replica>, Status> {
        if self.ring.read().desc().shards.get(&shard).is_some_and(|s| s.draining) {
            return Err(Status::unavailable(format!(
                "shard {shard} is draining: its series go to other shards now"
            )));
        }
        self.replica(shard)
    }

    /// Commits a write command to a shard (this node must lead it).
    pub async fn push(&self, shard: ShardId, command: impl Into<Bytes>) -> Result<Applied, Status> {
        let r = self.writable_replica(shard)?;
        r.group.propose_encoded(command.into()).await.map_err(status)
    }

    /// Commits a write command nobody waits on urgently (a scrape's): it may wait a
    /// little to share its log entry with others ([`Group::propose_patiently`]).
    pub async fn push_patiently(&self, shard: ShardId, command: impl Into<Bytes>) -> Result<Applied, Status> {
        let r = self.writable_replica(shard)?;
        r.group.propose_patiently(command.into()).await.map_err(status)
    }

    /// Commits a write of `series` to a shard this node leads; the head applies the
    /// series as given rather than decoding them back from the log.
    pub async fn push_write(&self, shard: ShardId, tenant: &str, series: Vec<TimeSeries>) -> Result<Applied, Status> {
        let r = self.writable_replica(shard)?;
        let command = Bytes::from(command::encode_write(tenant, &series));
        let _prepared = r.group.state().prepare(&command, tenant, PreparedWrite::Series(series));
        r.group.propose_encoded(command).await.map_err(status)
    }

    /// Commits a write to known series to a shard this node leads: the log records it
    /// with every series' labels, as [`ShardHost::push_write`] of its labeled series
    /// would, and the head applies it as given, finding each series by the place it
    /// remembers. Known writes are scrapes', so they are proposed patiently.
    pub async fn push_known_write(&self, shard: ShardId, tenant: &str, write: KnownWrite) -> Result<Applied, Status> {
        let r = self.writable_replica(shard)?;
        let command = Bytes::from(command::encode_known_write(tenant, &write));
        let _prepared = r.group.state().prepare(&command, tenant, PreparedWrite::Known(write));
        r.group.propose_patiently(command).await.map_err(status)
    }

    /// Commits a tenant's metric metadata to a shard this node leads.
    pub async fn push_metadata(
        &self,
        shard: ShardId,
        tenant: &str,
        metadata: Vec<MetricMetadata>,
    ) -> Result<Applied, Status> {
        self.push(shard, command::encode_metadata(tenant, metadata)).await
    }

    /// A tenant's metric metadata on a shard, read as [`ShardHost::head`] reads.
    pub async fn metric_metadata(
        &self,
        shard: ShardId,
        tenant: &str,
        query: &MetadataQuery,
        linearizable: bool,
    ) -> Result<Vec<MetricMetadata>, Status> {
        let r = self.replica(shard)?;
        if linearizable {
            r.group.read_index().await.map_err(status)?;
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Ok(r.metadata.read(tenant, query, now_ms))
    }

    /// A shard's head for reading; with `linearizable`, only once this node has
    /// confirmed it leads and has applied everything committed before the read.
    pub async fn head(&self, shard: ShardId, linearizable: bool) -> Result<Arc<Head>, Status> {
        let r = self.replica(shard)?;
        if linearizable {
            r.group.read_index().await.map_err(status)?;
        }
        Ok(r.head.clone())
    }

    /// Waits until this node leads every shard it holds (a single-process Pyrite, whose
    /// shards have this node as their only voter, is ready only then).
    pub async fn wait_to_lead_all(&self, timeout: std::time::Duration) -> Result<(), ShardError> {
        let replicas: Vec<(ShardId, Arc<Replica>)> =
            self.replicas.read().iter().map(|(s, r)| (*s, r.clone())).collect();
        for (_, r) in replicas {
            r.group.wait_to_lead(timeout).await?;
        }
        Ok(())
    }

    /// Writes prepared for their heads and not applied or given up yet.
    #[cfg(test)]
    pub(crate) fn prepared_writes(&self) -> usize {
        self.replicas
            .read()
            .values()
            .map(|r| r.group.state().prepared.lock().len())
            .sum()
    }

    /// Every head on this node (for metrics).
    pub fn heads(&self) -> Vec<(ShardId, Arc<Head>)> {
        self.replicas.read().iter().map(|(s, r)| (*s, r.head.clone())).collect()
    }

    /// The current leader of each local shard, as this node believes.
    pub fn leaders(&self) -> Vec<(ShardId, Option<NodeId>)> {
        self.replicas
            .read()
            .iter()
            .map(|(s, r)| (*s, r.group.leader()))
            .collect()
    }

    pub async fn shutdown(&self) {
        let replicas: Vec<Arc<Replica>> = self.replicas.read().values().cloned().collect();
        for r in replicas {
            r.group.shutdown().await;
        }
        let meta = self.meta.read().as_ref().map(|m| m.group.clone());
        if let Some(group) = meta {
            group.shutdown().await;
        }
    }

    /// Samples in a local shard's head (`None`: no replica here).
    pub(crate) fn head_samples(&self, shard: ShardId) -> Option<usize> {
        self.replicas.read().get(&shard).map(|r| r.head.stats().samples)
    }
}

#[cfg(test)]
mod tests {
    use pyrite_model::{Labels, Sample};

    use super::*;

    fn write(samples: &[(i64, f64)]) -> Vec<TimeSeries> {
        vec![TimeSeries::floats(
            Labels::from_pairs(&[("__name__", "m")]),
            samples.iter().map(|(t, v)| Sample::new(*t, *v)).collect(),
        )]
    }

    #[test]
    fn a_write_committed_twice_is_applied_once_and_answered_alike() {
        let app = HeadApp::new(Arc::new(Head::default()), Default::default());
        let first = Bytes::from(command::encode_write_with_id(
            7,
            "t",
            &write(&[(10, 1.0), (20, 2.0), (30, 3.0)]),
        ));
        let done = app.apply(&first);
        assert_eq!((done.samples, done.rejected), (3, 0));
        // A newer write lands between the attempts; the retry's samples are then old.
        app.apply(&command::encode_write("t", &write(&[(40, 4.0)])).into());
        assert_eq!(
            app.apply(&first),
            done,
            "the retry is answered as the first attempt was"
        );
        assert_eq!(app.head.stats().samples, 4);

        // Another write with an existing timestamp and another value is refused.
        let clash = app.apply(&command::encode_write("t", &write(&[(20, 9.0)])).into());
        assert_eq!(clash.rejected, 1);
        assert!(
            clash.rejections[0].contains("duplicate sample for timestamp"),
            "{clash:?}"
        );

        // Metric metadata is state too.
        let up = MetricMetadata {
            metric: "up".into(),
            kind: pyrite_storage::MetricType::Gauge,
            help: "Up.".into(),
            unit: String::new(),
        };
        app.apply(&command::encode_metadata("t", vec![up.clone()]).into());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let read = |a: &HeadApp| a.metadata.read("t", &MetadataQuery::default(), now);
        assert_eq!(read(&app), vec![up.clone()]);

        // The memory of applied writes, and the metadata, travel in snapshots.
        let copy = HeadApp::new(Arc::new(Head::default()), Default::default());
        copy.restore(&pyrite_raft::snapshot_to_vec(app.snapshot())).unwrap();
        assert_eq!(copy.apply(&first), done);
        assert_eq!(copy.head.stats().samples, 4);
        assert_eq!(read(&copy), vec![up]);
        // A snapshot of the first version (without metadata) still restores.
        let recent = rmp_serde::to_vec(&*app.recent.lock()).unwrap();
        let mut v1 = SNAPSHOT_MAGIC_V1.to_vec();
        v1.extend_from_slice(&(recent.len() as u64).to_le_bytes());
        v1.extend_from_slice(&recent);
        v1.extend_from_slice(&app.head.snapshot());
        let first = HeadApp::new(Arc::new(Head::default()), Default::default());
        first.restore(&v1).unwrap();
        assert_eq!(first.head.stats().samples, 4);
        assert!(read(&first).is_empty());
        // A snapshot of the head alone (older shards) still restores.
        let older = HeadApp::new(Arc::new(Head::default()), Default::default());
        older.restore(&app.head.snapshot()).unwrap();
        assert_eq!(older.head.stats().samples, 4);
        assert!(older.restore(b"PYRSNAP1\x05").is_err());
        assert!(older.restore(b"PYRSNAP2\x00\x00\x00\x00\x00\x00\x00\x00\x05").is_err());
    }

    #[test]
    fn recent_writes_forget_in_log_order() {
        let mut recent = RecentWrites::default();
        for id in 0..(RECENT_WRITES as u128 + 10) {
            recent.insert(id, &Applied::default());
        }
        assert_eq!(recent.applied.len(), RECENT_WRITES);
        assert!(recent.get(9).is_none());
        assert!(recent.get(10).is_some());
    }
}
