//! One replica of a group: a [`StateMachine`] run by openraft over the on-disk log and
//! store, with what every group needs around it — proposals folded into shared log
//! entries (group commit, with patient proposals waiting a little for company),
//! read-index reads, leadership, and moving the group's voters
//! to a new set (new replicas catch up as learners first). A component keeps its
//! replicas and decides *what* the voters should be; this module decides nothing of
//! that.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::error::{CheckIsLeaderError, ClientWriteError, ForwardToLeader, RaftError};
use openraft::{BasicNode, Raft, SnapshotPolicy};
use pyrite_client::Channels;
use tokio::sync::{mpsc, oneshot};

use crate::log_store::{FsyncPolicy, LogStore};
use crate::network::{Groups, GrpcNetwork};
use crate::state_store::StateStore;
use crate::{decode, Command, GroupId, NodeId, StateMachine, TypeConfig};

/// Raft timing and durability, the same for every group of a process.
#[derive(Debug, Clone)]
pub struct RaftOptions {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub fsync: FsyncPolicy,
    /// A group snapshots its state every this many log entries and purges the log
    /// before the snapshot (keeping at most 1000 entries for slightly lagging
    /// replicas); 0 never does.
    pub snapshot_entries: u64,
    /// How long a patient proposal ([`Group::propose_patiently`]) waits for others to
    /// share its log entry, unless an impatient one comes first.
    pub patient_wait: Duration,
}

impl Default for RaftOptions {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 1000,
            fsync: FsyncPolicy::Always,
            snapshot_entries: 10_000,
            patient_wait: Duration::from_millis(200),
        }
    }
}

impl RaftOptions {
    fn config(&self, name: String) -> Result<Arc<openraft::Config>, String> {
        openraft::Config {
            cluster_name: name,
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_timeout_min_ms,
            election_timeout_max: self.election_timeout_max_ms,
            snapshot_policy: match self.snapshot_entries {
                0 => SnapshotPolicy::Never,
                n => SnapshotPolicy::LogsSinceLast(n),
            },
            max_in_snapshot_log_to_keep: self.snapshot_entries.min(1000),
            ..Default::default()
        }
        .validate()
        .map(Arc::new)
        .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GroupError {
    /// Opening the replica failed (its log or state on disk, or Raft itself).
    #[error("{group}: {reason}")]
    Open { group: GroupId, reason: String },
    /// This replica does not lead the group; the leader, if known, is given.
    #[error("not the leader of {group}")]
    NotLeader {
        group: GroupId,
        leader: Option<(NodeId, String)>,
    },
    /// The group cannot answer now (no quorum, shutting down, a step that failed).
    #[error("{group}: {reason}")]
    Unavailable { group: GroupId, reason: String },
    /// The command was committed but its response is lost (it could not be encoded or
    /// decoded): retrying would apply it again, so this is not worth a retry.
    #[error("{group}: {reason}")]
    Internal { group: GroupId, reason: String },
}

/// A proposal waiting for the next log entry, with where its response goes.
struct Pending {
    command: Bytes,
    /// Nobody waits on it urgently (a scrape's write): it may wait for company.
    patient: bool,
    reply: oneshot::Sender<Result<Bytes, GroupError>>,
}

/// Most proposals, and bytes, folded into one log entry.
const MAX_BATCH_COMMANDS: usize = 128;
const MAX_BATCH_BYTES: usize = 16 << 20;
/// Entries a group has in flight at once: while one is being synced and applied, the
/// next is already being appended, and proposals arriving meanwhile wait for the one
/// after (group commit).
const ENTRIES_IN_FLIGHT: usize = 2;

/// This node's replica of one group; cheap to clone.
pub struct Group<S: StateMachine> {
    id: GroupId,
    node: NodeId,
    raft: Raft<TypeConfig>,
    /// Where this replica is registered for the Raft service's routing.
    groups: Groups,
    state: Arc<S>,
    proposals: mpsc::Sender<Pending>,
}

impl<S: StateMachine> Clone for Group<S> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            node: self.node,
            raft: self.raft.clone(),
            groups: self.groups.clone(),
            state: self.state.clone(),
            proposals: self.proposals.clone(),
        }
    }
}

impl<S: StateMachine> Group<S> {
    /// Opens (or creates) this node's replica of `id` under `dir` (`log/` and `state/`),
    /// restoring `state` from its snapshot (Raft then replays the log after it), and
    /// registers it in `groups`, so the Raft service hands it its peers' messages.
    pub async fn open(
        id: GroupId,
        node: NodeId,
        dir: &Path,
        opts: &RaftOptions,
        state: Arc<S>,
        channels: Channels,
        groups: &Groups,
    ) -> Result<Group<S>, GroupError> {
        let err = |reason: String| GroupError::Open { group: id, reason };
        let name = match id.kind {
            crate::GroupKind::Shard => format!("pyrite-shard-{}", id.id),
            crate::GroupKind::Meta => "pyrite-meta".to_string(),
        };
        let config = opts.config(name).map_err(err)?;
        let log = LogStore::open(&dir.join("log"), opts.fsync).map_err(|e| err(e.to_string()))?;
        let store = StateStore::open(&dir.join("state"), state.clone())
            .map_err(|e| err(e.to_string()))?
            .releasing(&log);
        let network = GrpcNetwork::new(id, channels);
        let raft = Raft::new(node, config, network, log, store)
            .await
            .map_err(|e| err(e.to_string()))?;
        let (proposals, queued) = mpsc::channel(4 * MAX_BATCH_COMMANDS);
        tokio::spawn(batch_proposals(id, raft.clone(), queued, opts.patient_wait));
        groups.insert(id, raft.clone());
        Ok(Group {
            id,
            node,
            raft,
            groups: groups.clone(),
            state,
            proposals,
        })
    }

    /// Initialises a brand-new group with `members` (only its founder does); refused
    /// harmlessly when the group already has a log.
    pub async fn initialize(&self, members: Vec<(NodeId, String)>) -> Result<(), GroupError> {
        let members: BTreeMap<NodeId, BasicNode> =
            members.into_iter().map(|(id, addr)| (id, BasicNode { addr })).collect();
        match self.raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(_)) => Ok(()),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    pub fn id(&self) -> GroupId {
        self.id
    }

    /// The replicated state, for reading (after [`Group::read_index`] where a read
    /// must see every acknowledged write).
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// Commits a command (this node must lead the group) and answers what applying it
    /// answered.
    pub async fn propose(&self, command: &S::Command) -> Result<S::Response, GroupError> {
        self.propose_encoded(S::encode(command)).await
    }

    /// Commits a command already in its log encoding (as [`StateMachine::encode`] gives
    /// it, perhaps on another node).
    pub async fn propose_encoded(&self, command: Bytes) -> Result<S::Response, GroupError> {
        self.propose_queued(command, false).await
    }

    /// Commits an encoded command that nobody is waiting on urgently: it may wait up to
    /// [`RaftOptions::patient_wait`] for other proposals to share its log entry (one
    /// replication round, one fsync and one apply for all), as scrapes from many targets
    /// do. It is as durable as any other once this returns.
    pub async fn propose_patiently(&self, command: Bytes) -> Result<S::Response, GroupError> {
        self.propose_queued(command, true).await
    }

    async fn propose_queued(&self, command: Bytes, patient: bool) -> Result<S::Response, GroupError> {
        let shutting_down = || self.unavailable("shutting down");
        let (reply, rx) = oneshot::channel();
        let pending = Pending {
            command,
            patient,
            reply,
        };
        self.proposals.send(pending).await.map_err(|_| shutting_down())?;
        let response = rx.await.map_err(|_| shutting_down())??;
        decode(&response).map_err(|e| GroupError::Internal {
            group: self.id,
            reason: format!("a committed command's response is undecodable: {e}"),
        })
    }

    /// Returns once this node has confirmed it leads the group and has applied
    /// everything committed before the call: a read of the state after it sees every
    /// acknowledged write.
    pub async fn read_index(&self) -> Result<(), GroupError> {
        match self.raft.ensure_linearizable().await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(not_leader(self.id, &f)),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    /// The leader as this node believes.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// The index of the last entry in this replica's log (0: none).
    pub fn last_log_index(&self) -> u64 {
        self.raft.metrics().borrow().last_log_index.unwrap_or(0)
    }

    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.node)
    }

    /// The group's voters as this node knows them.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Waits until this node leads the group.
    pub async fn wait_to_lead(&self, timeout: Duration) -> Result<(), GroupError> {
        self.raft
            .wait(Some(timeout))
            .current_leader(self.node, "this node leads the group")
            .await
            .map(|_| ())
            .map_err(|e| self.unavailable(format!("no leadership within {timeout:?}: {e}")))
    }

    /// As the group's leader: makes `voters` its voters. Replicas not yet in the group
    /// join as learners and catch up first (within `catch_up`), found at `addr_of`;
    /// then the membership changes in one joint step. Whether anything changed.
    pub async fn change_voters(
        &self,
        voters: &BTreeSet<NodeId>,
        addr_of: impl Fn(NodeId) -> Option<String>,
        catch_up: Duration,
    ) -> Result<bool, GroupError> {
        let current = self.voters();
        if &current == voters {
            return Ok(false);
        }
        for &id in voters.difference(&current) {
            let addr = addr_of(id).ok_or_else(|| self.unavailable(format!("no address for replica {id}")))?;
            tracing::info!(group = %self.id, learner = id, "adding a replica; it catches up as a learner");
            tokio::time::timeout(catch_up, self.raft.add_learner(id, BasicNode { addr }, true))
                .await
                .map_err(|_| self.unavailable(format!("replica {id} did not catch up within {catch_up:?}")))?
                .map_err(|e| self.unavailable(e))?;
        }
        self.raft
            .change_membership(voters.clone(), false)
            .await
            .map_err(|e| self.unavailable(e))?;
        tracing::info!(group = %self.id, ?voters, "membership changed");
        Ok(true)
    }

    /// Stops this replica; the Raft service no longer routes to it.
    pub async fn shutdown(&self) {
        self.groups.remove(self.id);
        let _ = self.raft.shutdown().await;
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> GroupError {
        GroupError::Unavailable {
            group: self.id,
            reason: reason.to_string(),
        }
    }
}

fn not_leader(group: GroupId, f: &ForwardToLeader<NodeId, BasicNode>) -> GroupError {
    let leader = match (&f.leader_id, &f.leader_node) {
        (Some(id), Some(node)) => Some((*id, node.addr.clone())),
        _ => None,
    };
    GroupError::NotLeader { group, leader }
}

/// Feeds a group's Raft log: each entry holds every proposal that arrived while the
/// entries before it were being committed, so a busy group pays one replication round
/// and one fsync per batch. An entry of patient proposals only is held back for up to
/// `patient_wait` after its first one, gathering more, and sent at once when an
/// impatient proposal joins it.
async fn batch_proposals(
    group: GroupId,
    raft: Raft<TypeConfig>,
    mut rx: mpsc::Receiver<Pending>,
    patient_wait: Duration,
) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(ENTRIES_IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else { return };
        let hold_until = tokio::time::Instant::now() + patient_wait;
        let mut bytes = first.command.len();
        let mut patient = first.patient;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_COMMANDS && bytes < MAX_BATCH_BYTES {
            let next = match rx.try_recv() {
                Ok(p) => Some(p),
                Err(mpsc::error::TryRecvError::Empty) if patient => {
                    tokio::time::timeout_at(hold_until, rx.recv()).await.ok().flatten()
                }
                Err(_) => None,
            };
            let Some(p) = next else { break };
            bytes += p.command.len();
            patient &= p.patient;
            batch.push(p);
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            commit_batch(group, &raft, batch).await;
            drop(permit);
        });
    }
}

async fn commit_batch(group: GroupId, raft: &Raft<TypeConfig>, batch: Vec<Pending>) {
    let (commands, waiting): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.command, p.reply)).unzip();
    match raft.client_write(Command(commands)).await {
        Ok(resp) => {
            let mut responses = resp.data.into_iter();
            for tx in waiting {
                let _ = tx.send(Ok(responses.next().unwrap_or_default()));
            }
        }
        Err(e) => {
            let error = match e {
                RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => not_leader(group, &f),
                other => GroupError::Unavailable {
                    group,
                    reason: other.to_string(),
                },
            };
            for tx in waiting {
                let _ = tx.send(Err(error.clone()));
            }
        }
    }
}
