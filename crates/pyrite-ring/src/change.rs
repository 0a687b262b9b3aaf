//! Changes to the ring. Each is a command of the metadata group: every replica of it
//! applies the same changes in the same order, so they all hold the same
//! [`RingDesc`]. Applying is deterministic and refuses anything that would leave the
//! ring invalid or could lose data; a change that changes nothing leaves the version
//! alone.
//!
//! Moving a replica takes two commits: [`RingChange::SetReplicas`] names the new
//! replica set (the ones dropped become `leaving`), the shard's leader changes its
//! Raft membership to match, then reports [`RingChange::Settled`], after which the
//! leaving replicas may delete their copy. Until then they stay members and clients
//! keep trying them, so no write or read loses its way mid-move. The metadata group's
//! own voters move the same way ([`RingChange::SetMetadataVoters`], then
//! [`RingChange::MetadataSettled`]).
//!
//! What is refused, so that no change loses data:
//! - a shard with fewer replicas than the ring's replication factor;
//! - a replica set that keeps none of the shard's stable voters (the replicas that have
//!   been voters throughout any move in progress, see [`crate::Shard::stable`]): a
//!   shard moves in steps, each keeping at least one replica that holds its data; the
//!   same for the metadata group, which also keeps [`META_VOTERS`] voters (or every
//!   ingester, if fewer);
//! - an ingester id pointed at a new address by `add_ingester` (that takes the explicit
//!   [`RingChange::SetIngesterAddress`]);
//! - removing an ingester that holds replicas or a metadata vote;
//! - removing a shard that may hold series: only a shard that was drained (it took no
//!   writes since [`RingChange::DrainShard`] and its leader reported its head empty,
//!   [`RingChange::Drained`]) can go. Its blocks stay in the bucket and stay readable.
//!
//! The invariant: a change never leaves a shard (or the metadata group) without a
//! replica that holds its data, and never deletes series that are not elsewhere.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{RingDesc, RingError, Shard, ShardId, META_VOTERS};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RingChange {
    /// The cluster's first description; ignored once the ring has one.
    Bootstrap { ring: RingDesc },
    /// A new ingester (a known one at the same address changes nothing).
    AddIngester { id: u64, addr: String },
    /// Points a known ingester at a new address (it moved host).
    SetIngesterAddress { id: u64, addr: String },
    /// Forgets an ingester that holds no replicas and no metadata vote.
    RemoveIngester { id: u64 },
    /// A new shard on `replicas` (the first one initialises it). It takes a fair share
    /// of the series space from the others; what they hold stays readable there.
    AddShard { replicas: Vec<u64> },
    /// A shard's new replica set: add, replace or move replicas.
    SetReplicas { shard: ShardId, replicas: Vec<u64> },
    /// A shard stops taking writes: its series go to the other shards from now on, and
    /// it is still read until it is removed.
    DrainShard { shard: ShardId },
    /// Removes a drained shard.
    RemoveShard { shard: ShardId },
    /// The metadata group's new voters.
    SetMetadataVoters { ingesters: Vec<u64> },
    /// From a shard's leader: its Raft voters are now exactly `replicas`.
    Settled { shard: ShardId, replicas: Vec<u64> },
    /// From a draining shard's leader: it refuses writes and its head holds no samples.
    Drained { shard: ShardId },
    /// From the metadata group's leader: its Raft voters are now exactly `ingesters`.
    MetadataSettled { ingesters: Vec<u64> },
}

impl RingChange {
    /// Whether an operator may send this change; the others are the cluster's own
    /// reports (bootstrap, settled, drained).
    pub fn is_operator_change(&self) -> bool {
        !matches!(
            self,
            RingChange::Bootstrap { .. }
                | RingChange::Settled { .. }
                | RingChange::Drained { .. }
                | RingChange::MetadataSettled { .. }
        )
    }
}

fn check_distinct(shard: ShardId, replicas: &[u64]) -> Result<(), RingError> {
    match first_dup(replicas) {
        Some(dup) => Err(RingError::DuplicateReplica(shard, dup)),
        None => Ok(()),
    }
}

fn first_dup(ids: &[u64]) -> Option<u64> {
    let mut seen = BTreeSet::new();
    ids.iter().find(|r| !seen.insert(**r)).copied()
}

fn same_set(a: &[u64], b: &[u64]) -> bool {
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

/// A move from `current` (with `leaving` former members and `stable` voters) to
/// `next`: the new leaving list and stable list, or `None` when `next` keeps none of
/// the stable voters.
fn plan_move(current: &[u64], leaving: &[u64], stable: &[u64], next: &[u64]) -> Option<(Vec<u64>, Vec<u64>)> {
    let kept: Vec<u64> = stable.iter().filter(|r| next.contains(r)).copied().collect();
    if kept.is_empty() {
        return None;
    }
    let mut gone: Vec<u64> = current.iter().chain(leaving).copied().collect();
    gone.retain(|r| !next.contains(r));
    gone.sort_unstable();
    gone.dedup();
    // Every new member a voter throughout: nothing to track.
    let kept = if same_set(&kept, next) { Vec::new() } else { kept };
    Some((gone, kept))
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
        let rf = self.replication_factor();
        let mut next = self.clone();
        let changed = match change {
            RingChange::Bootstrap { .. } => unreachable!("handled above"),
            RingChange::AddIngester { id, addr } => {
                next.check_address_free(*id, addr)?;
                match next.ingesters.get(id) {
                    Some(i) if i.addr == *addr => false,
                    Some(i) => return Err(RingError::AddressChange(*id, i.addr.clone(), addr.clone())),
                    None => {
                        next.ingesters.insert(
                            *id,
                            crate::Ingester {
                                id: *id,
                                addr: addr.clone(),
                            },
                        );
                        true
                    }
                }
            }
            RingChange::SetIngesterAddress { id, addr } => {
                next.check_address_free(*id, addr)?;
                let i = next.ingesters.get_mut(id).ok_or(RingError::NoIngester(*id))?;
                let changed = i.addr != *addr;
                i.addr = addr.clone();
                changed
            }
            RingChange::RemoveIngester { id } => {
                if !next.ingesters.contains_key(id) {
                    false
                } else {
                    let held = next.shards_of(*id);
                    if !held.is_empty() {
                        return Err(RingError::HoldsReplicas(*id, held));
                    }
                    if next.meta_hosted_by(*id) {
                        return Err(RingError::MetaVoter(*id));
                    }
                    next.ingesters.remove(id);
                    true
                }
            }
            RingChange::AddShard { replicas } => {
                let last = next.shards.keys().next_back().map_or(0, |s| s + 1);
                let id = last.max(next.next_shard);
                check_distinct(id, replicas)?;
                if replicas.is_empty() {
                    return Err(RingError::NoReplicas(id));
                }
                if replicas.len() < rf {
                    return Err(RingError::TooFewReplicas(id, replicas.len(), rf));
                }
                next.shards.insert(id, Shard::new(id, replicas.clone()));
                true
            }
            RingChange::SetReplicas { shard, replicas } => {
                check_distinct(*shard, replicas)?;
                let s = next.shards.get_mut(shard).ok_or(RingError::UnknownShard(*shard))?;
                if s.replicas == *replicas {
                    false
                } else {
                    if replicas.is_empty() {
                        return Err(RingError::NoReplicas(*shard));
                    }
                    if replicas.len() < rf {
                        return Err(RingError::TooFewReplicas(*shard, replicas.len(), rf));
                    }
                    let stable = s.stable_replicas().to_vec();
                    let (leaving, stable) = plan_move(&s.replicas, &s.leaving, &stable, replicas)
                        .ok_or_else(|| RingError::NoStableReplica(*shard, s.stable_replicas().to_vec()))?;
                    s.replicas = replicas.clone();
                    s.leaving = leaving;
                    s.stable = stable;
                    s.founder = None;
                    true
                }
            }
            RingChange::DrainShard { shard } => {
                let s = next.shards.get_mut(shard).ok_or(RingError::UnknownShard(*shard))?;
                let changed = !s.draining;
                s.draining = true;
                changed
            }
            RingChange::RemoveShard { shard } => match next.shards.get(shard) {
                None => false,
                Some(s) if !s.drained => return Err(RingError::NotDrained(*shard)),
                Some(s) if !s.leaving.is_empty() || !s.stable.is_empty() => return Err(RingError::Moving(*shard)),
                Some(_) => {
                    let last = next.shards.keys().next_back().map_or(0, |s| s + 1);
                    next.next_shard = next.next_shard.max(last);
                    next.shards.remove(shard);
                    true
                }
            },
            RingChange::SetMetadataVoters { ingesters } => {
                if let Some(dup) = first_dup(ingesters) {
                    return Err(RingError::DuplicateMetaVoter(dup));
                }
                if ingesters.is_empty() {
                    return Err(RingError::NoMetaVoters);
                }
                if let Some(bad) = ingesters.iter().find(|i| !next.ingesters.contains_key(i)) {
                    return Err(RingError::UnknownMetaVoter(*bad));
                }
                let want = META_VOTERS.min(next.ingesters.len());
                if ingesters.len() < want {
                    return Err(RingError::TooFewMetaVoters(ingesters.len(), want));
                }
                if next.meta == *ingesters {
                    false
                } else {
                    let stable = next.meta_stable_voters().to_vec();
                    let (leaving, stable) = plan_move(&next.meta, &next.meta_leaving, &stable, ingesters)
                        .ok_or_else(|| RingError::NoStableMetaVoter(next.meta_stable_voters().to_vec()))?;
                    next.meta = ingesters.clone();
                    next.meta_leaving = leaving;
                    next.meta_stable = stable;
                    next.meta_founder = None;
                    true
                }
            }
            RingChange::Settled { shard, replicas } => {
                let s = next.shards.get_mut(shard).ok_or(RingError::UnknownShard(*shard))?;
                if same_set(&s.replicas, replicas) && (!s.leaving.is_empty() || !s.stable.is_empty()) {
                    s.leaving.clear();
                    s.stable.clear();
                    true
                } else {
                    false
                }
            }
            RingChange::Drained { shard } => match next.shards.get_mut(shard) {
                Some(s) if s.draining && !s.drained => {
                    s.drained = true;
                    true
                }
                _ => false,
            },
            RingChange::MetadataSettled { ingesters } => {
                if same_set(&next.meta, ingesters) && (!next.meta_leaving.is_empty() || !next.meta_stable.is_empty()) {
                    next.meta_leaving.clear();
                    next.meta_stable.clear();
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

    /// Refuses an address another ingester has.
    fn check_address_free(&self, id: u64, addr: &str) -> Result<(), RingError> {
        match self.ingesters.values().find(|i| i.addr == addr && i.id != id) {
            Some(other) => Err(RingError::AddressTaken(other.id, addr.to_string())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ingester, Ring, RingGroup};

    fn ring() -> RingDesc {
        let ingesters = (1..=3)
            .map(|id| Ingester {
                id,
                addr: format!("127.0.0.{id}:9095"),
            })
            .collect();
        RingDesc::even(ingesters, 2, 3)
    }

    fn add(d: &mut RingDesc, id: u64) {
        let add = RingChange::AddIngester {
            id,
            addr: format!("127.0.0.{id}:9095"),
        };
        assert!(d.apply(&add).unwrap());
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
        add(&mut d, 5);
        let to = |replicas: Vec<u64>| RingChange::SetReplicas { shard: 1, replicas };
        // Shard 1 is on 2, 3, 1.
        d.apply(&to(vec![2, 3, 4])).unwrap();
        assert_eq!(d.shards[&1].stable, [2, 3]);
        d.apply(&to(vec![1, 3, 4])).unwrap();
        assert_eq!(d.shards[&1].leaving, [2]);
        assert_eq!(d.shards[&1].stable, [3], "1 may have left the group meanwhile");
        d.apply(&to(vec![3, 4, 5])).unwrap();
        assert_eq!(d.shards[&1].leaving, [1, 2]);
        // 4 and 5 may still be catching up: 3 is the only voter sure to have been one.
        let err = d.apply(&to(vec![4, 5, 1])).unwrap_err();
        assert_eq!(err, RingError::NoStableReplica(1, vec![3]));
        let settled = RingChange::Settled {
            shard: 1,
            replicas: vec![3, 4, 5],
        };
        assert!(d.apply(&settled).unwrap());
        assert!(d.shards[&1].stable.is_empty() && d.shards[&1].leaving.is_empty());
        assert!(d.apply(&to(vec![4, 5, 1])).unwrap(), "once settled, 4 and 5 are voters");
    }

    #[test]
    fn a_shard_keeps_its_replication_factor_and_a_voter() {
        let mut d = ring();
        add4(&mut d);
        add(&mut d, 5);
        add(&mut d, 6);
        let before = d.clone();
        let to = |replicas: Vec<u64>| RingChange::SetReplicas { shard: 0, replicas };
        assert_eq!(
            d.apply(&to(vec![1])).unwrap_err(),
            RingError::TooFewReplicas(0, 1, 3),
            "no shrinking a shard to one replica"
        );
        assert_eq!(d.apply(&to(vec![])).unwrap_err(), RingError::NoReplicas(0));
        assert_eq!(
            d.apply(&to(vec![4, 5, 6])).unwrap_err(),
            RingError::NoStableReplica(0, vec![1, 2, 3]),
            "no moving a shard wholly onto new replicas"
        );
        assert_eq!(d, before);
        // Growing, and replacing all but one, are fine.
        assert!(d.apply(&to(vec![1, 2, 3, 4])).unwrap());
        assert_eq!(d.shards[&0].stable, [1, 2, 3], "4 joins: a move to report settled");
        assert!(d
            .apply(&RingChange::Settled {
                shard: 0,
                replicas: vec![1, 2, 3, 4]
            })
            .unwrap());
        assert!(d.apply(&to(vec![4, 5, 6])).unwrap());
        assert_eq!(d.shards[&0].leaving, [1, 2, 3]);
        // A ring kept before the factor was recorded takes its smallest shard's.
        let mut old = ring();
        old.replication_factor = 0;
        assert_eq!(old.replication_factor(), 3);
    }

    #[test]
    fn an_ingester_moves_only_by_its_own_op() {
        let mut d = ring();
        let moved = RingChange::AddIngester {
            id: 3,
            addr: "10.0.0.9:9095".into(),
        };
        assert_eq!(
            d.apply(&moved).unwrap_err(),
            RingError::AddressChange(3, "127.0.0.3:9095".into(), "10.0.0.9:9095".into())
        );
        let again = RingChange::AddIngester {
            id: 3,
            addr: "127.0.0.3:9095".into(),
        };
        assert!(
            !d.apply(&again).unwrap(),
            "a known ingester at its address changes nothing"
        );
        let set = |id, addr: &str| RingChange::SetIngesterAddress { id, addr: addr.into() };
        assert!(d.apply(&set(3, "10.0.0.9:9095")).unwrap());
        assert_eq!(d.ingesters[&3].addr, "10.0.0.9:9095");
        assert!(!d.apply(&set(3, "10.0.0.9:9095")).unwrap());
        assert_eq!(
            d.apply(&set(2, "10.0.0.9:9095")).unwrap_err(),
            RingError::AddressTaken(3, "10.0.0.9:9095".into())
        );
        assert_eq!(d.apply(&set(9, "10.0.0.1:1")).unwrap_err(), RingError::NoIngester(9));
    }

    #[test]
    fn only_an_idle_ingester_is_removed() {
        let mut d = ring();
        add4(&mut d);
        let remove = |id| RingChange::RemoveIngester { id };
        assert_eq!(
            d.apply(&remove(1)).unwrap_err(),
            RingError::HoldsReplicas(1, vec![0, 1])
        );
        assert!(d.apply(&remove(4)).unwrap());
        assert!(!d.ingesters.contains_key(&4));
        assert!(!d.apply(&remove(4)).unwrap(), "removing it again changes nothing");
        // A metadata voter holding no replicas still has its vote.
        add4(&mut d);
        d.apply(&RingChange::SetReplicas {
            shard: 0,
            replicas: vec![2, 3, 4],
        })
        .unwrap();
        d.apply(&RingChange::SetReplicas {
            shard: 1,
            replicas: vec![2, 3, 4],
        })
        .unwrap();
        assert_eq!(
            d.apply(&remove(1)).unwrap_err(),
            RingError::HoldsReplicas(1, vec![0, 1]),
            "leaving replicas are still held"
        );
        for shard in [0, 1] {
            d.apply(&RingChange::Settled {
                shard,
                replicas: vec![2, 3, 4],
            })
            .unwrap();
        }
        assert_eq!(d.apply(&remove(1)).unwrap_err(), RingError::MetaVoter(1));
    }

    #[test]
    fn a_shard_is_removed_only_once_drained() {
        let mut d = ring();
        add4(&mut d);
        d.apply(&RingChange::AddShard {
            replicas: vec![4, 1, 2],
        })
        .unwrap();
        let remove = RingChange::RemoveShard { shard: 2 };
        assert_eq!(d.apply(&remove).unwrap_err(), RingError::NotDrained(2));
        // A drained report for a shard that is not draining changes nothing.
        assert!(!d.apply(&RingChange::Drained { shard: 2 }).unwrap());
        assert!(d.apply(&RingChange::DrainShard { shard: 2 }).unwrap());
        assert!(!d.apply(&RingChange::DrainShard { shard: 2 }).unwrap());
        let ring = Ring::new(d.clone()).unwrap();
        assert_eq!(ring.shard_ids(), [0, 1, 2], "a draining shard is still read");
        for h in (0..1000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) {
            assert_ne!(ring.shard_for_hash(h), 2, "a draining shard takes no series");
        }
        assert_eq!(d.apply(&remove).unwrap_err(), RingError::NotDrained(2));
        assert!(d.apply(&RingChange::Drained { shard: 2 }).unwrap());
        assert!(d.apply(&remove).unwrap());
        assert_eq!(d.shards_of(4), Vec::<ShardId>::new());
        assert!(!d.apply(&remove).unwrap(), "removing it again changes nothing");
        // A new shard never takes a removed one's id.
        d.apply(&RingChange::AddShard {
            replicas: vec![4, 1, 2],
        })
        .unwrap();
        assert_eq!(d.shards.keys().copied().collect::<Vec<_>>(), [0, 1, 3]);
        // The last shard taking writes cannot drain.
        d.apply(&RingChange::DrainShard { shard: 0 }).unwrap();
        d.apply(&RingChange::DrainShard { shard: 1 }).unwrap();
        assert_eq!(
            d.apply(&RingChange::DrainShard { shard: 3 }).unwrap_err(),
            RingError::NoWritableShard
        );
    }

    #[test]
    fn the_metadata_group_moves_keeping_a_voter() {
        let mut d = ring();
        assert_eq!(d.meta_founder, Some(1));
        add4(&mut d);
        add(&mut d, 5);
        let to = |ingesters: Vec<u64>| RingChange::SetMetadataVoters { ingesters };
        let before = d.clone();
        let bad = [
            (to(vec![]), RingError::NoMetaVoters),
            (to(vec![3, 4]), RingError::TooFewMetaVoters(2, 3)),
            (to(vec![3, 4, 4]), RingError::DuplicateMetaVoter(4)),
            (to(vec![3, 4, 9]), RingError::UnknownMetaVoter(9)),
            (to(vec![4, 5]), RingError::TooFewMetaVoters(2, 3)),
        ];
        for (change, err) in bad {
            assert_eq!(d.apply(&change).unwrap_err(), err, "{change:?}");
            assert_eq!(d, before);
        }
        assert!(!d.apply(&to(vec![1, 2, 3])).unwrap());
        assert!(d.apply(&to(vec![3, 4, 5])).unwrap());
        assert_eq!(d.meta_leaving, [1, 2]);
        assert_eq!(d.meta_stable, [3]);
        assert_eq!(d.meta_founder, None, "a new voter never starts a group of its own");
        assert_eq!(
            d.replica_addrs(RingGroup::Meta).len(),
            5,
            "clients still try the leaving voters"
        );
        assert!(d.meta_hosted_by(1));
        assert_eq!(
            d.apply(&to(vec![4, 5, 1])).unwrap_err(),
            RingError::NoStableMetaVoter(vec![3])
        );
        assert!(!d
            .apply(&RingChange::MetadataSettled {
                ingesters: vec![1, 2, 3]
            })
            .unwrap());
        assert!(d
            .apply(&RingChange::MetadataSettled {
                ingesters: vec![5, 4, 3]
            })
            .unwrap());
        assert!(d.meta_leaving.is_empty() && d.meta_stable.is_empty());
        assert!(!d.meta_hosted_by(1));
        let json = serde_json::to_string(&to(vec![3, 4, 5])).unwrap();
        assert_eq!(json, r#"{"op":"set_metadata_voters","ingesters":[3,4,5]}"#);
    }

    #[test]
    fn only_operator_changes_come_from_outside() {
        let outside = [
            r#"{"op":"add_ingester","id":4,"addr":"a:1"}"#,
            r#"{"op":"set_ingester_address","id":4,"addr":"a:1"}"#,
            r#"{"op":"remove_ingester","id":4}"#,
            r#"{"op":"add_shard","replicas":[1]}"#,
            r#"{"op":"set_replicas","shard":0,"replicas":[1]}"#,
            r#"{"op":"drain_shard","shard":0}"#,
            r#"{"op":"remove_shard","shard":0}"#,
            r#"{"op":"set_metadata_voters","ingesters":[1]}"#,
        ];
        for json in outside {
            let c: RingChange = serde_json::from_str(json).unwrap();
            assert!(c.is_operator_change(), "{json}");
        }
        let own = [
            r#"{"op":"settled","shard":0,"replicas":[1]}"#,
            r#"{"op":"drained","shard":0}"#,
            r#"{"op":"metadata_settled","ingesters":[1]}"#,
        ];
        for json in own {
            let c: RingChange = serde_json::from_str(json).unwrap();
            assert!(!c.is_operator_change(), "{json}");
        }
    }

    #[test]
    fn new_shards_and_refusals() {
        let mut d = ring();
        add4(&mut d);
        assert!(d
            .apply(&RingChange::AddShard {
                replicas: vec![4, 1, 2]
            })
            .unwrap());
        let s = &d.shards[&2];
        assert_eq!((s.replicas.clone(), s.founder), (vec![4, 1, 2], Some(4)));
        let before = d.clone();
        let bad = [
            (
                RingChange::AddShard { replicas: vec![4, 4] },
                RingError::DuplicateReplica(3, 4),
            ),
            (RingChange::AddShard { replicas: vec![] }, RingError::NoReplicas(3)),
            (
                RingChange::AddShard { replicas: vec![4, 1] },
                RingError::TooFewReplicas(3, 2, 3),
            ),
            (
                RingChange::SetReplicas {
                    shard: 0,
                    replicas: vec![1, 2, 9],
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
