//! Membership: the metadata group and how an ingester follows the ring.
//!
//! The ring ([`RingDesc`]) is the state of a small Raft group of its own, the metadata
//! group (which also keeps the pools of live members, see `meta`), held by the first ingesters of the cluster until `set_metadata_voters` moves
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

use pyrite_raft::{Group, GroupId, NodeId, StateMachine};
use pyrite_ring::change::RingChange;
use pyrite_ring::{RingDesc, RingGroup, ShardId};
use tonic::Status;

/// How long a draining shard's leader refuses writes before it may report the shard
/// drained: longer than any write accepted before it learnt of the drain takes to
/// commit (clients give up after 10 s).
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);

use crate::meta::{MetaApp, MetaCommand};
use crate::shards::{status, ShardError, ShardHost};

/// How long a new replica may take to catch up as a learner before a membership change
/// gives up (and is tried again at the next check).
const CATCH_UP: Duration = Duration::from_secs(300);

/// This node's replica of the metadata group.
pub(crate) struct MetaReplica {
    pub(crate) group: Group<MetaApp>,
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
        let (hosted, founder, members) = {
            let ring = self.ring.read();
            let desc = ring.desc();
            (
                desc.meta_hosted_by(self.node_id),
                desc.meta_founder,
                desc.replica_addrs(RingGroup::Meta),
            )
        };
        if !hosted || self.meta.read().is_some() {
            return Ok(());
        }
        let group = Group::open(
            GroupId::META,
            self.node_id,
            &self.settings.dir.join("meta"),
            &self.settings.raft,
            Arc::new(MetaApp::default()),
            self.client.channels(),
            &self.groups,
        )
        .await?;
        if founder == Some(self.node_id) {
            group.initialize(members).await?;
        }
        *self.meta.write() = Some(MetaReplica { group });
        tracing::info!("opened metadata group replica");
        Ok(())
    }

    /// Stops this node's replica of the metadata group, which it no longer holds, and
    /// deletes its data.
    async fn close_meta(&self) {
        let replica = self.meta.write().take();
        if let Some(m) = replica {
            m.group.shutdown().await;
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
            let desc = m.group.state().desc.read();
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
        let Some(group) = self.meta.read().as_ref().map(|m| m.group.clone()) else {
            return Err(pyrite_client::not_leader(None));
        };
        let desc = || group.state().desc.read().clone();
        if desc().version == 0 && !matches!(change, RingChange::Bootstrap { .. }) {
            // The founding ring is moments away (see `sync_ring`): worth a retry.
            return Err(Status::unavailable("the cluster's ring is not bootstrapped yet"));
        }
        group
            .propose(&MetaCommand::Ring(change.clone()))
            .await
            .map_err(status)?
            .map_err(Status::invalid_argument)?;
        let _ = self.client.adopt_desc(desc());
        Ok(())
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
            self.expire_members().await;
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
            .map(|m| (m.group.clone(), m.group.state().desc.read().clone()));
        let mut refresh = true;
        if let Some((group, desc)) = local {
            if desc.version > 0 {
                // A voter that is leaving (or left) stops hearing of changes.
                refresh = !desc.meta.contains(&self.node_id);
                let _ = self.client.adopt_desc(desc);
            } else if group.is_leader() {
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
            let (Some(target), Some(r)) = (desc.shards.get(&shard), self.replicas.read().get(&shard).cloned()) else {
                continue;
            };
            let voters: BTreeSet<NodeId> = target.replicas.iter().copied().collect();
            let unsettled = !target.leaving.is_empty() || !target.stable.is_empty();
            let settled = RingChange::Settled {
                shard,
                replicas: voters.iter().copied().collect(),
            };
            self.spawn_converge(r.group.clone(), voters, unsettled.then_some(settled), desc);
        }
    }

    /// As the leader of `group`, in the background (once at a time per group): makes
    /// its voters `voters`, then reports `settled` to the ring, if given.
    fn spawn_converge<S: StateMachine>(
        self: &Arc<Self>,
        group: Group<S>,
        voters: BTreeSet<NodeId>,
        settled: Option<RingChange>,
        desc: &RingDesc,
    ) {
        let needed = group.is_leader() && (group.voters() != voters || settled.is_some());
        if !needed || !self.converging.lock().insert(group.id()) {
            return;
        }
        let host = self.clone();
        let desc = desc.clone();
        tokio::spawn(async move {
            let addr_of = |id: NodeId| desc.ingesters.get(&id).map(|i| i.addr.clone());
            let result = match group.change_voters(&voters, addr_of, CATCH_UP).await {
                Ok(_) => match &settled {
                    // The report goes to the metadata group's leader (this node may
                    // have just left that group).
                    Some(change) => host
                        .client
                        .change_ring(change)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.message().to_string()),
                    None => Ok(()),
                },
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = result {
                tracing::warn!(group = %group.id(), error = %e, "changing the group's replicas");
            }
            host.converging.lock().remove(&group.id());
        });
    }

    /// Opens or closes this node's metadata replica as the ring says, and, as the
    /// group's leader, moves its voters to the ring's.
    async fn reconcile_meta(self: &Arc<Self>, desc: &RingDesc) {
        let hosted = desc.meta_hosted_by(self.node_id);
        let open = self.meta.read().as_ref().map(|m| m.group.clone());
        let group = match (hosted, open) {
            (true, None) => {
                if let Err(e) = self.open_meta().await {
                    tracing::error!(error = %e, "opening a metadata group replica");
                }
                return;
            }
            (false, Some(_)) => return self.close_meta().await,
            (true, Some(group)) => group,
            (false, None) => return,
        };
        let voters: BTreeSet<NodeId> = desc.meta.iter().copied().collect();
        let unsettled = !desc.meta_leaving.is_empty() || !desc.meta_stable.is_empty();
        let settled = RingChange::MetadataSettled {
            ingesters: desc.meta.clone(),
        };
        self.spawn_converge(group, voters, unsettled.then_some(settled), desc);
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
                .filter(|(_, r)| r.group.is_leader())
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
