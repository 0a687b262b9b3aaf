//! Membership: the metadata group and how an ingester follows the ring.
//!
//! The ring ([`RingDesc`]) is the state of a small Raft group of its own, the metadata
//! group, held by the first ingesters of the cluster until `set_metadata_voters` moves
//! it. Changes ([`RingChange`]) are committed there. Every ingester then follows the
//! ring on its own, in one loop: it adopts the newest ring it can see (and keeps it on
//! disk, so a restart resumes from it), opens replicas of shards (and of the metadata
//! group) given to it, deletes replicas taken from it once their leader has settled the
//! move, and, for the groups it leads, changes the Raft membership to the ring's
//! replica set (new replicas join as learners, catch up, then become voters) and
//! reports the move settled. The leader of a draining shard reports it drained once
//! it has refused writes for [`DRAIN_GRACE`] and its head holds no samples.
//!
//! The invariant: a replica's data is deleted only after a settled membership that
//! excludes it, and only the founding ring's founders initialise a group.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft};
use parking_lot::RwLock;
use pyrite_raft::log_store::LogStore;
use pyrite_raft::network::GrpcNetwork;
use pyrite_raft::state_machine::StateMachine;
use pyrite_raft::{App, Applied, Command, TypeConfig};
use pyrite_ring::change::RingChange;
use pyrite_ring::{RingDesc, ShardId, META_GROUP};
use tonic::Status;

/// How long a draining shard's leader refuses writes before it may report the shard
/// drained: longer than any write accepted before it learnt of the drain takes to
/// commit (clients give up after 10 s).
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);

use crate::shards::{forward, initialize, raft_config, ShardError, ShardHost};

/// The metadata group's state: the ring.
#[derive(Default)]
pub(crate) struct RingApp {
    desc: RwLock<RingDesc>,
}

impl App for RingApp {
    fn apply(&self, command: &[u8]) -> Applied {
        let refused = |why: String| Applied {
            rejected: 1,
            rejections: vec![why],
            ..Applied::default()
        };
        match serde_json::from_slice::<RingChange>(command) {
            Ok(change) => match self.desc.write().apply(&change) {
                Ok(_) => Applied::default(),
                Err(e) => refused(e.to_string()),
            },
            Err(e) => refused(format!("undecodable ring change: {e}")),
        }
    }

    fn snapshot(&self) -> pyrite_raft::SnapshotEncoder {
        // A ring is small: copied whole while applies wait.
        let bytes = serde_json::to_vec(&*self.desc.read()).expect("a ring always serializes");
        Box::new(move |w| w.write_all(&bytes))
    }

    fn restore(&self, snapshot: &[u8]) -> Result<(), String> {
        let desc = if snapshot.is_empty() {
            RingDesc::default()
        } else {
            serde_json::from_slice(snapshot).map_err(|e| format!("ring snapshot: {e}"))?
        };
        *self.desc.write() = desc;
        Ok(())
    }
}

/// This node's replica of the metadata group.
pub(crate) struct MetaReplica {
    pub(crate) raft: Raft<TypeConfig>,
    app: Arc<RingApp>,
}

const RING_FILE: &str = "ring.json";

/// The ring this node last followed, if it kept one under `dir`.
pub fn load_ring(dir: &Path) -> std::io::Result<Option<RingDesc>> {
    match std::fs::read(dir.join(RING_FILE)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{RING_FILE}: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn save_ring(dir: &Path, desc: &RingDesc) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("ring.json.tmp");
    let bytes = serde_json::to_vec_pretty(desc).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(RING_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

fn ring_json(desc: &RingDesc) -> String {
    serde_json::to_string(desc).expect("a ring always serializes")
}

impl ShardHost {
    /// Opens this node's replica of the metadata group, if the ring gives it one; the
    /// founding ring's first voter initialises a new group.
    pub async fn open_meta(&self) -> Result<(), ShardError> {
        let err = |e: String| ShardError::Open(META_GROUP, e);
        let (hosted, founder, members) = {
            let ring = self.ring.read();
            let desc = ring.desc();
            (
                desc.meta_hosted_by(self.node_id),
                desc.meta_founder,
                desc.replica_addrs(META_GROUP),
            )
        };
        if !hosted || self.meta.read().is_some() {
            return Ok(());
        }
        let dir = self.settings.dir.join("meta");
        let config = raft_config("pyrite-meta".into(), &self.settings.raft).map_err(err)?;
        let app = Arc::new(RingApp::default());
        let log = LogStore::open(&dir.join("log"), self.settings.raft.fsync).map_err(|e| err(e.to_string()))?;
        let sm = StateMachine::open(&dir.join("state"), app.clone())
            .map_err(|e| err(e.to_string()))?
            .releasing(&log);
        let network = GrpcNetwork::new(META_GROUP, self.client.channels());
        let raft = Raft::new(self.node_id, config, network, log, sm)
            .await
            .map_err(|e| err(e.to_string()))?;
        if founder == Some(self.node_id) {
            initialize(&raft, members).await.map_err(err)?;
        }
        self.groups.write().insert(META_GROUP, raft.clone());
        *self.meta.write() = Some(MetaReplica { raft, app });
        tracing::info!("opened metadata group replica");
        Ok(())
    }

    /// Stops this node's replica of the metadata group, which it no longer holds, and
    /// deletes its data.
    async fn close_meta(&self) {
        self.groups.write().remove(&META_GROUP);
        let replica = self.meta.write().take();
        if let Some(m) = replica {
            let _ = m.raft.shutdown().await;
        }
        match std::fs::remove_dir_all(self.settings.dir.join("meta")) {
            Ok(()) => tracing::info!("removed metadata group replica"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "could not delete a removed metadata group replica"),
        }
    }

    /// The ring as this node knows it, as JSON: the metadata group's state where this
    /// node holds a replica of it (and it has one), else the ring it follows.
    pub fn ring_json(&self) -> String {
        if let Some(m) = self.meta.read().as_ref() {
            let desc = m.app.desc.read();
            if desc.version >= self.ring.read().desc().version {
                return ring_json(&desc);
            }
        }
        ring_json(self.ring.read().desc())
    }

    /// Commits a ring change (this node must lead the metadata group); answers the ring
    /// after it.
    pub async fn change_ring(&self, change: &str) -> Result<String, Status> {
        let parsed: RingChange = serde_json::from_str(change)
            .map_err(|e| Status::invalid_argument(format!("undecodable ring change: {e}")))?;
        self.propose(&parsed).await?;
        Ok(self.ring_json())
    }

    async fn propose(&self, change: &RingChange) -> Result<(), Status> {
        let (raft, app) = match self.meta.read().as_ref() {
            Some(m) => (m.raft.clone(), m.app.clone()),
            None => return Err(pyrite_client::not_leader(None)),
        };
        if app.desc.read().version == 0 && !matches!(change, RingChange::Bootstrap { .. }) {
            // The founding ring is moments away (see `sync_ring`): worth a retry.
            return Err(Status::unavailable("the cluster's ring is not bootstrapped yet"));
        }
        let bytes = serde_json::to_vec(change).map_err(|e| Status::internal(e.to_string()))?;
        match raft.client_write(Command::one(bytes)).await {
            Ok(resp) => {
                let applied = resp.data.into_iter().next().unwrap_or_default();
                if let Some(why) = applied.rejections.into_iter().next() {
                    return Err(Status::invalid_argument(why));
                }
                let _ = self.client.adopt_desc(app.desc.read().clone());
                Ok(())
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(forward(&f)),
            Err(e) => Err(Status::unavailable(format!("metadata group: {e}"))),
        }
    }

    /// Joins the cluster: adds this node to the ring at `addr`, through the metadata
    /// group's leader, retrying until `deadline`.
    pub async fn join(&self, addr: &str, deadline: Duration) -> Result<(), Status> {
        let change = RingChange::AddIngester {
            id: self.node_id,
            addr: addr.to_string(),
        };
        let start = tokio::time::Instant::now();
        loop {
            match self.client.change_ring(&change).await {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == tonic::Code::InvalidArgument => return Err(e),
                Err(e) if start.elapsed() > deadline => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e.message(), "joining the cluster: retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Follows the ring until the process ends, checking every `every`.
    pub async fn follow_ring(self: Arc<Self>, every: Duration) {
        let mut saved = 0;
        loop {
            tokio::time::sleep(every).await;
            self.sync_ring().await;
            let desc = self.ring.read().desc().clone();
            if desc.version > saved {
                // On disk before anything is done about it: a restart resumes from here.
                match save_ring(&self.settings.dir, &desc) {
                    Ok(()) => saved = desc.version,
                    Err(e) => {
                        tracing::error!(error = %e, "could not keep the ring on disk");
                        continue;
                    }
                }
            }
            self.reconcile(&desc).await;
        }
    }

    /// Adopts the newest ring: the local metadata replica's, and the group's unless that
    /// replica is a voter that has caught up. A new metadata group is given the ring
    /// this node started with.
    async fn sync_ring(&self) {
        let local = self
            .meta
            .read()
            .as_ref()
            .map(|m| (m.raft.clone(), m.app.desc.read().clone()));
        let mut refresh = true;
        if let Some((raft, desc)) = local {
            if desc.version > 0 {
                // A voter that is leaving (or left) stops hearing of changes.
                refresh = !desc.meta.contains(&self.node_id);
                let _ = self.client.adopt_desc(desc);
            } else if raft.current_leader().await == Some(self.node_id) {
                let ring = self.ring.read().desc().clone();
                if let Err(e) = self.propose(&RingChange::Bootstrap { ring }).await {
                    tracing::warn!(error = %e.message(), "bootstrapping the ring");
                }
            }
        }
        if refresh {
            if let Err(e) = self.client.refresh_ring().await {
                tracing::debug!(error = %e.message(), "refreshing the ring");
            }
        }
    }

    /// Brings this node's replicas in line with the ring.
    async fn reconcile(self: &Arc<Self>, desc: &RingDesc) {
        self.reconcile_meta(desc).await;
        self.report_drained(desc).await;
        let wanted: BTreeSet<ShardId> = desc.shards_of(self.node_id).into_iter().collect();
        let held: BTreeSet<ShardId> = self.replicas.read().keys().copied().collect();
        for &shard in wanted.difference(&held) {
            if let Err(e) = self.open_shard(shard).await {
                tracing::error!(shard, error = %e, "opening a shard replica");
            }
        }
        for &shard in held.difference(&wanted) {
            self.close_shard(shard).await;
        }
        for &shard in &wanted {
            let needs = desc.shards.get(&shard).is_some_and(|s| {
                let replica = self.replicas.read().get(&shard).cloned();
                replica.is_some_and(|r| {
                    let m = r.raft.metrics().borrow().clone();
                    let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
                    m.current_leader == Some(self.node_id)
                        && (voters != s.replicas.iter().copied().collect()
                            || !s.leaving.is_empty()
                            || !s.stable.is_empty())
                })
            });
            if needs && self.converging.lock().insert(shard) {
                let host = self.clone();
                let desc = desc.clone();
                tokio::spawn(async move {
                    if let Err(e) = host.converge(shard, &desc).await {
                        tracing::warn!(shard, error = %e, "changing the shard's replicas");
                    }
                    host.converging.lock().remove(&shard);
                });
            }
        }
    }

    /// As the shard's leader: makes its Raft voters the ring's replicas (new ones join
    /// as learners and catch up first), then reports the move settled.
    async fn converge(&self, shard: ShardId, desc: &RingDesc) -> Result<(), String> {
        let Some(target) = desc.shards.get(&shard) else {
            return Ok(());
        };
        let raft = match self.replicas.read().get(&shard) {
            Some(r) => r.raft.clone(),
            None => return Ok(()),
        };
        let voters: BTreeSet<u64> = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        let desired: BTreeSet<u64> = target.replicas.iter().copied().collect();
        if voters != desired {
            for id in desired.difference(&voters) {
                let addr = desc
                    .ingesters
                    .get(id)
                    .map(|i| i.addr.clone())
                    .ok_or_else(|| format!("unknown ingester {id}"))?;
                tracing::info!(shard, learner = id, "adding a replica; it catches up as a learner");
                tokio::time::timeout(
                    Duration::from_secs(300),
                    raft.add_learner(*id, BasicNode { addr }, true),
                )
                .await
                .map_err(|_| format!("replica {id} did not catch up within 5 minutes"))?
                .map_err(|e| e.to_string())?;
            }
            raft.change_membership(desired.clone(), false)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(shard, voters = ?desired, "shard membership changed");
        }
        if !target.leaving.is_empty() || !target.stable.is_empty() {
            let settled = RingChange::Settled {
                shard,
                replicas: desired.into_iter().collect(),
            };
            self.client
                .change_ring(&settled)
                .await
                .map_err(|e| e.message().to_string())?;
        }
        Ok(())
    }

    /// Opens or closes this node's metadata replica as the ring says, and, as the
    /// group's leader, moves its voters to the ring's.
    async fn reconcile_meta(self: &Arc<Self>, desc: &RingDesc) {
        let hosted = desc.meta_hosted_by(self.node_id);
        let open = self.meta.read().as_ref().map(|m| m.raft.clone());
        let raft = match (hosted, open) {
            (true, None) => {
                if let Err(e) = self.open_meta().await {
                    tracing::error!(error = %e, "opening a metadata group replica");
                }
                return;
            }
            (false, Some(_)) => return self.close_meta().await,
            (true, Some(raft)) => raft,
            (false, None) => return,
        };
        let needs = {
            let m = raft.metrics().borrow().clone();
            let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
            m.current_leader == Some(self.node_id)
                && (voters != desc.meta.iter().copied().collect()
                    || !desc.meta_leaving.is_empty()
                    || !desc.meta_stable.is_empty())
        };
        if needs && self.converging.lock().insert(META_GROUP) {
            let host = self.clone();
            let desc = desc.clone();
            tokio::spawn(async move {
                if let Err(e) = host.converge_meta(raft, &desc).await {
                    tracing::warn!(error = %e, "changing the metadata group's voters");
                }
                host.converging.lock().remove(&META_GROUP);
            });
        }
    }

    /// As the metadata group's leader: makes its voters the ring's (new ones join as
    /// learners and catch up first), then reports the move settled.
    async fn converge_meta(&self, raft: Raft<TypeConfig>, desc: &RingDesc) -> Result<(), String> {
        let voters: BTreeSet<u64> = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        let desired: BTreeSet<u64> = desc.meta.iter().copied().collect();
        if voters != desired {
            for id in desired.difference(&voters) {
                let addr = desc
                    .ingesters
                    .get(id)
                    .map(|i| i.addr.clone())
                    .ok_or_else(|| format!("unknown ingester {id}"))?;
                tracing::info!(learner = id, "adding a metadata voter; it catches up as a learner");
                tokio::time::timeout(
                    Duration::from_secs(300),
                    raft.add_learner(*id, BasicNode { addr }, true),
                )
                .await
                .map_err(|_| format!("metadata replica {id} did not catch up within 5 minutes"))?
                .map_err(|e| e.to_string())?;
            }
            raft.change_membership(desired.clone(), false)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(voters = ?desired, "metadata group membership changed");
        }
        let settled = RingChange::MetadataSettled {
            ingesters: desired.into_iter().collect(),
        };
        // This node may have just left the group: the report goes to its leader.
        self.client
            .change_ring(&settled)
            .await
            .map_err(|e| e.message().to_string())?;
        Ok(())
    }

    /// As the leader of draining shards: reports each drained once it has refused
    /// writes for [`DRAIN_GRACE`] and its head holds no samples.
    async fn report_drained(&self, desc: &RingDesc) {
        let mut due = Vec::new();
        {
            let mut since = self.draining_since.lock();
            let now = std::time::Instant::now();
            let leading: BTreeSet<ShardId> = self
                .replicas
                .read()
                .iter()
                .filter(|(_, r)| r.raft.metrics().borrow().current_leader == Some(self.node_id))
                .map(|(s, _)| *s)
                .collect();
            since.retain(|shard, _| {
                leading.contains(shard) && desc.shards.get(shard).is_some_and(|s| s.draining && !s.drained)
            });
            for shard in desc.shards.values().filter(|s| s.draining && !s.drained) {
                if !leading.contains(&shard.id) {
                    continue;
                }
                let first = *since.entry(shard.id).or_insert(now);
                if now.duration_since(first) >= DRAIN_GRACE && self.head_samples(shard.id) == Some(0) {
                    due.push(shard.id);
                }
            }
        }
        for shard in due {
            match self.client.change_ring(&RingChange::Drained { shard }).await {
                Ok(_) => tracing::info!(shard, "shard drained: its head is empty and it takes no writes"),
                Err(e) => tracing::warn!(shard, error = %e.message(), "reporting a drained shard"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_app_applies_refuses_and_snapshots() {
        let app = RingApp::default();
        let ring = RingDesc::even(
            vec![pyrite_ring::Ingester {
                id: 1,
                addr: "a:1".into(),
            }],
            2,
            1,
        );
        let boot = serde_json::to_vec(&RingChange::Bootstrap { ring: ring.clone() }).unwrap();
        assert_eq!(app.apply(&boot), Applied::default());
        let bad = app.apply(br#"{"op":"set_replicas","shard":9,"replicas":[1]}"#);
        assert_eq!(bad.rejections, ["no shard 9"]);
        assert_eq!(app.apply(b"nonsense").rejected, 1);
        let other = RingApp::default();
        other.restore(&pyrite_raft::snapshot_to_vec(app.snapshot())).unwrap();
        assert_eq!(*other.desc.read(), ring);
        other.restore(&[]).unwrap();
        assert_eq!(other.desc.read().version, 0);
    }

    #[test]
    fn the_ring_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_ring(dir.path()).unwrap().is_none());
        let ring = RingDesc::even(
            vec![pyrite_ring::Ingester {
                id: 1,
                addr: "a:1".into(),
            }],
            3,
            1,
        );
        save_ring(dir.path(), &ring).unwrap();
        assert_eq!(load_ring(dir.path()).unwrap(), Some(ring));
    }
}
