//! The ring: where each series lives. Series are placed by hashing tenant and sorted
//! labels ([`Labels::series_hash`]) onto a ring of tokens; each shard owns
//! [`RingDesc::tokens_per_shard`] tokens derived from its id alone, and a series
//! belongs to the shard owning the first token at or after its hash (wrapping).
//!
//! A hand-written token ring rather than a crate: it is a sorted vector and a binary
//! search, its tokens must be stable across releases and processes (they decide where
//! data was written), and the many-tokens-per-shard layout gives even spread and moves
//! only about `1/n` of the series when an `n`-th shard joins.
//!
//! The [`RingDesc`] also says which ingesters hold each shard's replicas; it is the
//! cluster's membership, versioned so that a newer description always wins.

use std::collections::BTreeMap;

use pyrite_model::Labels;
use serde::{Deserialize, Serialize};

/// A shard's id.
pub type ShardId = u32;

/// One ingester process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingester {
    /// Unique node id (the Raft node id of its replicas).
    pub id: u64,
    /// gRPC address, `host:port`.
    pub addr: String,
}

/// A shard and the ingesters holding its replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub id: ShardId,
    /// Node ids of the replicas (the shard's Raft voters).
    pub replicas: Vec<u64>,
}

/// The cluster's placement: ingesters, shards and their replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingDesc {
    /// Raised on every change; a higher version replaces a lower one.
    pub version: u64,
    pub tokens_per_shard: u32,
    pub ingesters: BTreeMap<u64, Ingester>,
    pub shards: BTreeMap<ShardId, Shard>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RingError {
    #[error("the ring has no shards")]
    Empty,
    #[error("shard {0} names unknown ingester {1}")]
    UnknownIngester(ShardId, u64),
    #[error("shard {0} has no replicas")]
    NoReplicas(ShardId),
    #[error("tokens_per_shard must be at least 1")]
    NoTokens,
}

impl RingDesc {
    /// `shards` shards over `ingesters`, each replicated `replication_factor` times on
    /// consecutive ingesters (by id order), so replicas spread evenly.
    pub fn even(ingesters: Vec<Ingester>, shards: u32, replication_factor: usize) -> RingDesc {
        let ids: Vec<u64> = ingesters.iter().map(|i| i.id).collect();
        let rf = replication_factor.clamp(1, ids.len().max(1));
        let shards = (0..shards)
            .map(|s| {
                let replicas = (0..rf).map(|r| ids[(s as usize + r) % ids.len()]).collect();
                (s, Shard { id: s, replicas })
            })
            .collect();
        RingDesc {
            version: 1,
            tokens_per_shard: 128,
            ingesters: ingesters.into_iter().map(|i| (i.id, i)).collect(),
            shards,
        }
    }

    /// Checks that every shard has replicas on known ingesters.
    pub fn validate(&self) -> Result<(), RingError> {
        if self.shards.is_empty() {
            return Err(RingError::Empty);
        }
        if self.tokens_per_shard == 0 {
            return Err(RingError::NoTokens);
        }
        for s in self.shards.values() {
            if s.replicas.is_empty() {
                return Err(RingError::NoReplicas(s.id));
            }
            if let Some(bad) = s.replicas.iter().find(|r| !self.ingesters.contains_key(r)) {
                return Err(RingError::UnknownIngester(s.id, *bad));
            }
        }
        Ok(())
    }

    /// The shards an ingester holds a replica of.
    pub fn shards_of(&self, ingester: u64) -> Vec<ShardId> {
        self.shards
            .values()
            .filter(|s| s.replicas.contains(&ingester))
            .map(|s| s.id)
            .collect()
    }

    /// gRPC addresses of a shard's replicas.
    pub fn replica_addrs(&self, shard: ShardId) -> Vec<(u64, String)> {
        self.shards.get(&shard).map_or_else(Vec::new, |s| {
            s.replicas
                .iter()
                .filter_map(|id| self.ingesters.get(id).map(|i| (*id, i.addr.clone())))
                .collect()
        })
    }
}

/// The token ring built from a [`RingDesc`], for placing series.
#[derive(Debug, Clone)]
pub struct Ring {
    desc: RingDesc,
    /// `(token, shard)`, sorted by token.
    tokens: Vec<(u64, ShardId)>,
}

/// A shard's `i`-th token: a hash of the shard id and `i` only, so it never moves.
fn token(shard: ShardId, i: u32) -> u64 {
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&shard.to_le_bytes());
    buf[4..].copy_from_slice(&i.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf)
}

impl Ring {
    pub fn new(desc: RingDesc) -> Result<Ring, RingError> {
        desc.validate()?;
        let mut tokens: Vec<(u64, ShardId)> = desc
            .shards
            .keys()
            .flat_map(|&s| (0..desc.tokens_per_shard).map(move |i| (token(s, i), s)))
            .collect();
        // Equal tokens (vanishingly rare) go to the lower shard id, deterministically.
        tokens.sort_unstable();
        tokens.dedup_by_key(|t| t.0);
        Ok(Ring { desc, tokens })
    }

    pub fn desc(&self) -> &RingDesc {
        &self.desc
    }

    /// The shard owning a hash: the first token at or after it, wrapping around.
    pub fn shard_for_hash(&self, hash: u64) -> ShardId {
        let i = self.tokens.partition_point(|t| t.0 < hash);
        self.tokens[i % self.tokens.len()].1
    }

    /// The shard a tenant's series belongs to.
    pub fn shard_for(&self, tenant: &str, labels: &Labels) -> ShardId {
        self.shard_for_hash(labels.series_hash(tenant))
    }

    /// Every shard id, for reads that fan out to all of them.
    pub fn shard_ids(&self) -> Vec<ShardId> {
        self.desc.shards.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingesters(n: u64) -> Vec<Ingester> {
        (1..=n)
            .map(|id| Ingester {
                id,
                addr: format!("127.0.0.{id}:9095"),
            })
            .collect()
    }

    #[test]
    fn even_layout_spreads_replicas() {
        let d = RingDesc::even(ingesters(3), 6, 3);
        d.validate().unwrap();
        for s in d.shards.values() {
            let mut r = s.replicas.clone();
            r.sort_unstable();
            r.dedup();
            assert_eq!(r.len(), 3, "three distinct replicas");
        }
        assert_eq!(d.shards_of(1).len(), 6);
        let d = RingDesc::even(ingesters(3), 6, 1);
        assert_eq!(d.shards_of(1), [0, 3]);
        assert_eq!(d.replica_addrs(1), [(2, "127.0.0.2:9095".to_string())]);
    }

    #[test]
    fn placement_is_stable_and_even() {
        let ring = Ring::new(RingDesc::even(ingesters(3), 4, 1)).unwrap();
        let again = Ring::new(RingDesc::even(ingesters(3), 4, 1)).unwrap();
        let mut counts = [0usize; 4];
        for i in 0..20_000 {
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
            let s = ring.shard_for("t", &l);
            assert_eq!(s, again.shard_for("t", &l));
            counts[s as usize] += 1;
        }
        for c in counts {
            assert!((3_500..6_500).contains(&c), "uneven spread: {counts:?}");
        }
    }

    #[test]
    fn a_new_shard_moves_a_fair_share_only() {
        let before = Ring::new(RingDesc::even(ingesters(3), 4, 1)).unwrap();
        let after = Ring::new(RingDesc::even(ingesters(3), 5, 1)).unwrap();
        let n = 20_000;
        let moved = (0..n)
            .filter(|i| {
                let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
                let (a, b) = (before.shard_for("t", &l), after.shard_for("t", &l));
                assert!(a == b || b == 4, "a series moved between old shards");
                a != b
            })
            .count();
        assert!((2_500..5_500).contains(&moved), "moved {moved} of {n}");
    }

    #[test]
    fn bad_descriptions_are_refused() {
        let mut d = RingDesc::even(ingesters(2), 2, 2);
        d.shards.get_mut(&0).unwrap().replicas.push(9);
        assert_eq!(Ring::new(d).unwrap_err(), RingError::UnknownIngester(0, 9));
        let mut d = RingDesc::even(ingesters(2), 1, 1);
        d.shards.clear();
        assert_eq!(Ring::new(d).unwrap_err(), RingError::Empty);
        let d = RingDesc::even(ingesters(2), 2, 1);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<RingDesc>(&json).unwrap(), d);
    }
}
