//! Changes to the ring. Each is a command of the metadata group: every replica of it
//! applies the same changes in the same order, so they all hold the same
//! [`RingDesc`]. Applying is deterministic and refuses anything that would leave the
//! ring invalid; a change that changes nothing leaves the version alone.
//!
//! Moving a replica takes two commits: [`RingChange::SetReplicas`] names the new
//! replica set (the ones dropped become `leaving`), the shard's leader changes its
//! Raft membership to match, then reports [`RingChange::Settled`], after which the
//! leaving replicas may delete their copy. Until then they stay members and clients
//! keep trying them, so no write or read loses its way mid-move.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{RingDesc, RingError, Shard, ShardId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RingChange {
    /// The cluster's first description; ignored once the ring has one.
    Bootstrap { ring: RingDesc },
    /// A new ingester, or a known one at a new address.
    AddIngester { id: u64, addr: String },
    /// A new shard on `replicas` (the first one initialises it). It takes a fair share
    /// of the series space from the others; what they hold stays readable there.
    AddShard { replicas: Vec<u64> },
    /// A shard's new replica set: add, replace or move replicas.
    SetReplicas { shard: ShardId, replicas: Vec<u64> },
    /// From a shard's leader: its Raft voters are now exactly `replicas`.
    Settled { shard: ShardId, replicas: Vec<u64> },
}

fn check_distinct(shard: ShardId, replicas: &[u64]) -> Result<(), RingError> {
    let mut seen = BTreeSet::new();
    match replicas.iter().find(|r| !seen.insert(**r)) {
        Some(dup) => Err(RingError::DuplicateReplica(shard, *dup)),
        None => Ok(()),
    }
}

fn same_set(a: &[u64], b: &[u64]) -> bool {
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

impl RingDesc {
    /// Applies a change; returns whether it changed anything (and raised the version).
    pub fn apply(&mut self, change: &RingChange) -> Result<bool, RingError> {
        if let RingChange::Bootstrap { ring } = change {
            if self.version > 0 {
                return Ok(false);
            }
            ring.validate()?;
            *self = ring.clone();
            return Ok(true);
        }
        if self.version == 0 {
            return Err(RingError::NotBootstrapped);
        }
        let mut next = self.clone();
        let changed = match change {
            RingChange::Bootstrap { .. } => unreachable!("handled above"),
            RingChange::AddIngester { id, addr } => {
                if let Some(other) = next.ingesters.values().find(|i| i.addr == *addr && i.id != *id) {
                    return Err(RingError::AddressTaken(other.id, addr.clone()));
                }
                let known = next.ingesters.get(id).is_some_and(|i| i.addr == *addr);
                next.ingesters.insert(
                    *id,
                    crate::Ingester {
                        id: *id,
                        addr: addr.clone(),
                    },
                );
                !known
            }
            RingChange::AddShard { replicas } => {
                let id = next.shards.keys().next_back().map_or(0, |s| s + 1);
                check_distinct(id, replicas)?;
                next.shards.insert(id, Shard::new(id, replicas.clone()));
                true
            }
            RingChange::SetReplicas { shard, replicas } => {
                check_distinct(*shard, replicas)?;
                let s = next.shards.get_mut(shard).ok_or(RingError::UnknownShard(*shard))?;
                if s.replicas == *replicas {
                    false
                } else {
                    let mut leaving: Vec<u64> = s.replicas.iter().chain(&s.leaving).copied().collect();
                    leaving.retain(|r| !replicas.contains(r));
                    leaving.sort_unstable();
                    leaving.dedup();
                    s.replicas = replicas.clone();
                    s.leaving = leaving;
                    s.founder = None;
                    true
                }
            }
            RingChange::Settled { shard, replicas } => {
                let s = next.shards.get_mut(shard).ok_or(RingError::UnknownShard(*shard))?;
                if same_set(&s.replicas, replicas) && !s.leaving.is_empty() {
                    s.leaving.clear();
                    true
                } else {
                    false
                }
            }
        };
        if changed {
            next.validate()?;
            next.version = self.version + 1;
            *self = next;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ingester;

    fn ring() -> RingDesc {
        let ingesters = (1..=3)
            .map(|id| Ingester {
                id,
                addr: format!("127.0.0.{id}:9095"),
            })
            .collect();
        RingDesc::even(ingesters, 2, 3)
    }

    fn add4(d: &mut RingDesc) {
        let add = RingChange::AddIngester {
            id: 4,
            addr: "127.0.0.4:9095".into(),
        };
        assert!(d.apply(&add).unwrap());
        assert!(
            !d.apply(&add).unwrap(),
            "adding the same ingester again changes nothing"
        );
    }

    #[test]
    fn bootstrap_only_once() {
        let mut d = RingDesc::default();
        let early = RingChange::AddIngester {
            id: 4,
            addr: "a:1".into(),
        };
        assert_eq!(d.apply(&early).unwrap_err(), RingError::NotBootstrapped);
        assert!(d.apply(&RingChange::Bootstrap { ring: ring() }).unwrap());
        assert_eq!(d, ring());
        let mut other = ring();
        other.tokens_per_shard = 7;
        assert!(!d.apply(&RingChange::Bootstrap { ring: other }).unwrap());
        assert_eq!(d, ring());
    }

    #[test]
    fn a_move_keeps_the_old_replica_until_settled() {
        let mut d = ring();
        add4(&mut d);
        let v = d.version;
        let set = RingChange::SetReplicas {
            shard: 0,
            replicas: vec![2, 3, 4],
        };
        assert!(d.apply(&set).unwrap());
        assert_eq!(d.version, v + 1);
        let s = &d.shards[&0];
        assert_eq!((s.leaving.clone(), s.founder), (vec![1], None));
        assert_eq!(d.shards_of(1), [0, 1], "1 still hosts shard 0 while it leaves");
        assert_eq!(d.replica_addrs(0).len(), 4, "clients still try the leaving replica");
        // A report about another replica set changes nothing.
        let stale = RingChange::Settled {
            shard: 0,
            replicas: vec![1, 2, 3],
        };
        assert!(!d.apply(&stale).unwrap());
        let settled = RingChange::Settled {
            shard: 0,
            replicas: vec![4, 3, 2],
        };
        assert!(d.apply(&settled).unwrap());
        assert_eq!(d.shards_of(1), [1]);
        assert_eq!(d.shards_of(4), [0]);
        assert!(!d.apply(&settled).unwrap());
    }

    #[test]
    fn a_second_move_before_settling_keeps_every_possible_voter() {
        let mut d = ring();
        add4(&mut d);
        let to = |replicas: Vec<u64>| RingChange::SetReplicas { shard: 1, replicas };
        d.apply(&to(vec![2, 3, 4])).unwrap();
        d.apply(&to(vec![1, 3, 4])).unwrap();
        assert_eq!(d.shards[&1].leaving, [2]);
        d.apply(&to(vec![3, 4])).unwrap();
        assert_eq!(d.shards[&1].leaving, [1, 2]);
    }

    #[test]
    fn new_shards_and_refusals() {
        let mut d = ring();
        add4(&mut d);
        assert!(d.apply(&RingChange::AddShard { replicas: vec![4, 1] }).unwrap());
        let s = &d.shards[&2];
        assert_eq!((s.replicas.clone(), s.founder), (vec![4, 1], Some(4)));
        let before = d.clone();
        let bad = [
            (
                RingChange::AddShard { replicas: vec![4, 4] },
                RingError::DuplicateReplica(3, 4),
            ),
            (RingChange::AddShard { replicas: vec![] }, RingError::NoReplicas(3)),
            (
                RingChange::SetReplicas {
                    shard: 0,
                    replicas: vec![1, 9],
                },
                RingError::UnknownIngester(0, 9),
            ),
            (
                RingChange::SetReplicas {
                    shard: 7,
                    replicas: vec![1],
                },
                RingError::UnknownShard(7),
            ),
            (
                RingChange::AddIngester {
                    id: 5,
                    addr: "127.0.0.4:9095".into(),
                },
                RingError::AddressTaken(4, "127.0.0.4:9095".into()),
            ),
        ];
        for (change, err) in bad {
            assert_eq!(d.apply(&change).unwrap_err(), err, "{change:?}");
            assert_eq!(d, before, "a refused change leaves the ring alone");
        }
        let json = serde_json::to_string(&RingChange::AddShard { replicas: vec![1] }).unwrap();
        assert_eq!(json, r#"{"op":"add_shard","replicas":[1]}"#);
    }
}
