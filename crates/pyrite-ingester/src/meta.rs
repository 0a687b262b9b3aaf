//! The metadata group's state machine: the ring, and the pools of live members
//! ([`pyrite_members`]) — distributors sharing out scrape targets, rulers sharing out
//! rule groups — whose heartbeats its leader answers and whose silence it turns into
//! expiries, with the records of the pools' work (a rule group's alert state).
//!
//! A ring change is logged as its JSON (as it always was); a pool command as `M`
//! followed by its JSON, so a log written before pools existed still replays.
//!
//! The invariant: liveness (when the leader last heard from each member) is the
//! leader's own memory and never decides anything by itself: only committed
//! [`pyrite_members::Command`]s change who is a member, and a new leader starts by
//! counting every member as heard now.

use bytes::Bytes;
use parking_lot::RwLock;
use pyrite_members::{Command as PoolCommand, Heartbeat, Members};
use pyrite_raft::StateMachine;
use pyrite_ring::change::RingChange;
use pyrite_ring::RingDesc;
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::shards::{status, ShardHost};

/// What the metadata group commits.
#[derive(Debug, Clone)]
pub(crate) enum MetaCommand {
    Ring(RingChange),
    Pool(PoolCommand),
}

const POOL_TAG: u8 = b'M';

/// The metadata group's state.
#[derive(Default)]
pub(crate) struct MetaApp {
    pub(crate) desc: RwLock<RingDesc>,
    pub(crate) members: RwLock<Members>,
}

/// A snapshot of both parts; a snapshot of the ring alone (written before pools
/// existed) still restores.
#[derive(Serialize, Deserialize)]
struct MetaSnapshot {
    ring: RingDesc,
    members: Members,
}

impl StateMachine for MetaApp {
    type Command = MetaCommand;
    /// A change refused, and why; every replica refuses it alike.
    type Response = Result<(), String>;

    fn encode(command: &MetaCommand) -> Bytes {
        match command {
            MetaCommand::Ring(change) => serde_json::to_vec(change).expect("a ring change always serializes"),
            MetaCommand::Pool(c) => {
                let mut out = vec![POOL_TAG];
                serde_json::to_writer(&mut out, c).expect("a pool command always serializes");
                out
            }
        }
        .into()
    }

    fn apply(&self, command: &Bytes) -> Result<(), String> {
        if let Some(pool) = command.strip_prefix(&[POOL_TAG]) {
            let c =
                serde_json::from_slice::<PoolCommand>(pool).map_err(|e| format!("undecodable pool command: {e}"))?;
            return self.members.write().apply(&c);
        }
        let change =
            serde_json::from_slice::<RingChange>(command).map_err(|e| format!("undecodable ring change: {e}"))?;
        self.desc.write().apply(&change).map(|_| ()).map_err(|e| e.to_string())
    }

    fn snapshot(&self) -> pyrite_raft::SnapshotEncoder {
        // Both are small: copied whole while applies wait.
        let snapshot = MetaSnapshot {
            ring: self.desc.read().clone(),
            members: self.members.read().clone(),
        };
        let bytes = serde_json::to_vec(&snapshot).expect("the metadata state always serializes");
        Box::new(move |w| w.write_all(&bytes))
    }

    fn restore(&self, snapshot: &[u8]) -> Result<(), String> {
        let state = if snapshot.is_empty() {
            MetaSnapshot {
                ring: RingDesc::default(),
                members: Members::default(),
            }
        } else {
            match serde_json::from_slice::<MetaSnapshot>(snapshot) {
                Ok(s) => s,
                Err(_) => MetaSnapshot {
                    ring: serde_json::from_slice(snapshot).map_err(|e| format!("metadata snapshot: {e}"))?,
                    members: Members::default(),
                },
            }
        };
        *self.desc.write() = state.ring;
        *self.members.write() = state.members;
        Ok(())
    }
}

impl ShardHost {
    /// Answers a member's heartbeat as the metadata group's leader: notes it heard from
    /// the member, commits the join or leave the heartbeat calls for, and answers the
    /// member's pool after it, as JSON, with the instant as of which that is complete.
    pub async fn heartbeat(self: &std::sync::Arc<Self>, hb: &Heartbeat) -> Result<(String, i64), Status> {
        let Some(group) = self.meta.read().as_ref().map(|m| m.group.clone()) else {
            return Err(pyrite_client::not_leader(None));
        };
        // Only the leader of the moment may vouch for a member (a deposed one must not
        // keep a member working that its successor is about to expire). Past this
        // read, every change an earlier leader stamped is applied or never will be.
        group.read_index().await.map_err(status)?;
        let (now, command) = {
            let mut liveness = self.liveness.lock();
            let now = pyrite_members::now_ms();
            if !hb.leave {
                liveness.heard(&hb.pool, &hb.id, now);
            }
            let command = hb.command(&group.state().members.read(), now);
            if command.is_some() {
                liveness.proposing(now);
            }
            (now, command)
        };
        if let Some(c) = command {
            // A proposal commits even if this call is dropped, so it is accounted for
            // until it has, whoever waits for it.
            let (host, proposer) = (self.clone(), group.clone());
            let committed = tokio::spawn(async move {
                let committed = proposer.propose(&MetaCommand::Pool(c)).await;
                host.liveness.lock().proposed(now);
                committed
            })
            .await
            .map_err(|e| Status::internal(format!("committing the heartbeat's change: {e}")))?;
            committed.map_err(status)?.map_err(Status::internal)?;
        }
        let as_of = self.liveness.lock().as_of(pyrite_members::now_ms());
        let members = group.state().members.read();
        let pool = members.pool(&hb.pool).cloned().unwrap_or_default();
        Ok((serde_json::to_string(&pool).expect("a pool always serializes"), as_of))
    }

    /// Commits a record (or its removal) as the metadata group's leader, stamped with
    /// this leader's clock: the state machine refuses it — `PermissionDenied`, with the reason —
    /// unless the member owns the key now and, for a record, nothing as recent is kept.
    pub async fn put_record(&self, mut command: PoolCommand) -> Result<(), Status> {
        let Some(group) = self.meta.read().as_ref().map(|m| m.group.clone()) else {
            return Err(pyrite_client::not_leader(None));
        };
        let now = pyrite_members::now_ms();
        match &mut command {
            PoolCommand::Record { at_ms, .. } | PoolCommand::Forget { at_ms, .. } => *at_ms = now,
            _ => return Err(Status::invalid_argument("not a record")),
        }
        group
            .propose(&MetaCommand::Pool(command))
            .await
            .map_err(status)?
            .map_err(Status::permission_denied)
    }

    /// A key's record as committed before the call, as JSON (empty: none), read on the
    /// metadata group's leader.
    pub async fn get_record(&self, pool: &str, key: &str) -> Result<String, Status> {
        let Some(group) = self.meta.read().as_ref().map(|m| m.group.clone()) else {
            return Err(pyrite_client::not_leader(None));
        };
        group.read_index().await.map_err(status)?;
        let members = group.state().members.read();
        Ok(members
            .record(pool, key)
            .map(|r| serde_json::to_string(r).expect("a record always serializes"))
            .unwrap_or_default())
    }

    /// As the metadata group's leader, commits the expiry of every member unheard for
    /// its timeout. Called on every ring check; a node that is not the leader forgets
    /// what it heard, so it starts afresh if it becomes the leader.
    pub(crate) async fn expire_members(&self) {
        let group = self.meta.read().as_ref().map(|m| m.group.clone());
        let Some(group) = group.filter(|g| g.is_leader()) else {
            self.liveness.lock().reset();
            return;
        };
        let due = {
            let members = group.state().members.read();
            self.liveness.lock().expired(&members, pyrite_members::now_ms())
        };
        for c in due {
            if let PoolCommand::Expire { pool, id, last_seen_ms } = &c {
                tracing::warn!(
                    pool,
                    member = id,
                    last_seen_ms,
                    "member unheard for its timeout: expiring it"
                );
            }
            if let Err(e) = group.propose(&MetaCommand::Pool(c)).await {
                tracing::warn!(error = %e, "expiring a member");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meta_app_applies_refuses_and_snapshots_both_parts() {
        let app = MetaApp::default();
        let ring = RingDesc::even(
            vec![pyrite_ring::Ingester {
                id: 1,
                addr: "a:1".into(),
            }],
            2,
            1,
        );
        let boot = MetaApp::encode(&MetaCommand::Ring(RingChange::Bootstrap { ring: ring.clone() }));
        assert_eq!(app.apply(&boot), Ok(()));
        let bad = app.apply(&Bytes::from_static(
            br#"{"op":"set_replicas","shard":9,"replicas":[1]}"#,
        ));
        assert_eq!(bad, Err("no shard 9".to_string()));
        assert!(app.apply(&Bytes::from_static(b"nonsense")).is_err());
        assert!(app.apply(&Bytes::from_static(b"Mnonsense")).is_err());
        let join = MetaApp::encode(&MetaCommand::Pool(PoolCommand::Join {
            pool: "scrape".into(),
            id: "d1".into(),
            addr: "d1:80".into(),
            timeout_ms: 3_000,
            at_ms: 10,
            handoff_ms: 1_000,
        }));
        assert_eq!(app.apply(&join), Ok(()));
        assert_eq!(app.members.read().pool("scrape").unwrap().seq(), 1);

        let other = MetaApp::default();
        other.restore(&pyrite_raft::snapshot_to_vec(app.snapshot())).unwrap();
        assert_eq!(*other.desc.read(), ring);
        assert_eq!(*other.members.read(), *app.members.read());
        // A snapshot of the ring alone, as written before pools existed.
        other.restore(&serde_json::to_vec(&ring).unwrap()).unwrap();
        assert_eq!(*other.desc.read(), ring);
        assert_eq!(*other.members.read(), Members::default());
        other.restore(&[]).unwrap();
        assert_eq!(other.desc.read().version, 0);
    }
}
