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
//! cluster's membership, versioned so that a newer description always wins. It is kept
//! by a small Raft group of its own, the metadata group ([`RingGroup::Meta`]), and changed
//! only through [`RingChange`]s committed there (see [`change`]), which refuse anything
//! that could lose data: a shard below its replication factor, a move that keeps none of
//! a shard's voters, removing a shard that may still hold series.

pub mod change;

use std::collections::BTreeMap;

use pyrite_model::{Labels, TimeSeries};
use serde::{Deserialize, Serialize};

/// A shard's id.
pub type ShardId = u32;

/// A Raft group the ring places on ingesters: a shard, or the metadata group, whose
/// state is the [`RingDesc`] itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RingGroup {
    Shard(ShardId),
    Meta,
}

impl From<ShardId> for RingGroup {
    fn from(shard: ShardId) -> Self {
        RingGroup::Shard(shard)
    }
}

impl std::fmt::Display for RingGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RingGroup::Shard(id) => write!(f, "shard {id}"),
            RingGroup::Meta => write!(f, "the metadata group"),
        }
    }
}

/// How many of the first ingesters hold the metadata group (and how many voters it keeps
/// when its voters change, unless the ring has fewer ingesters).
pub const META_VOTERS: usize = 3;

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
    /// Node ids of the replicas: the voters the shard's Raft group is to have.
    pub replicas: Vec<u64>,
    /// Former replicas that may still be voters: the shard's leader has not yet
    /// confirmed the membership change that removes them. They keep their replica (and
    /// clients keep trying them) until it has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaving: Vec<u64>,
    /// The replica that initialises the shard's Raft group; set when the shard is
    /// created and cleared once its replicas change, so a replica added later never
    /// starts a group of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub founder: Option<u64>,
    /// While a move is in progress: the replicas that have been voters in every
    /// membership the shard's group can have had since it last settled, so the group
    /// never consists only of replicas that joined during the move. Empty once settled
    /// (then every replica is one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stable: Vec<u64>,
    /// The shard owns no tokens: writes go to the other shards, reads still ask it, until
    /// what it holds has gone to blocks and it can be removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
    /// Reported by the leader of a draining shard: its head holds no samples and it
    /// takes no writes; only then may the shard be removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drained: bool,
}

impl Shard {
    /// A new shard, initialised by its first replica.
    pub fn new(id: ShardId, replicas: Vec<u64>) -> Shard {
        let founder = replicas.first().copied();
        Shard {
            id,
            replicas,
            leaving: Vec::new(),
            founder,
            stable: Vec::new(),
            draining: false,
            drained: false,
        }
    }

    /// The replicas sure to have been voters throughout (see [`Shard::stable`]).
    pub fn stable_replicas(&self) -> &[u64] {
        if self.leaving.is_empty() || self.stable.is_empty() {
            &self.replicas
        } else {
            &self.stable
        }
    }

    /// Whether the ingester holds (or still holds) a replica of this shard.
    pub fn hosted_by(&self, ingester: u64) -> bool {
        self.replicas.contains(&ingester) || self.leaving.contains(&ingester)
    }
}

/// The cluster's placement: ingesters, shards and their replicas. The default, version
/// 0, is the empty description a metadata group starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingDesc {
    /// Raised on every change; a higher version replaces a lower one.
    pub version: u64,
    pub tokens_per_shard: u32,
    #[serde(with = "by_id")]
    pub ingesters: BTreeMap<u64, Ingester>,
    #[serde(with = "by_id")]
    pub shards: BTreeMap<ShardId, Shard>,
    /// The voters the metadata group is to have (the first ingesters when the cluster is
    /// created; changed by `set_metadata_voters`).
    #[serde(default)]
    pub meta: Vec<u64>,
    /// Former metadata voters that may still be voters: as a shard's `leaving`, until the
    /// group's leader reports the membership change settled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meta_leaving: Vec<u64>,
    /// As a shard's `stable`, for the metadata group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meta_stable: Vec<u64>,
    /// The metadata voter that initialises the group: set in a founding ring, cleared
    /// once the voters change, so a voter added later never starts a group of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_founder: Option<u64>,
    /// Replicas every shard must keep; 0 (rings from before it was recorded): the fewest
    /// any shard has.
    #[serde(default)]
    pub replication_factor: usize,
    /// The lowest id a new shard may take: above every shard that ever existed, so a
    /// removed shard's id (and any stale copy of its group) never comes back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub next_shard: ShardId,
}

fn is_zero(n: &ShardId) -> bool {
    *n == 0
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
    #[error("no shard {0}")]
    UnknownShard(ShardId),
    #[error("shard {0} lists replica {1} twice")]
    DuplicateReplica(ShardId, u64),
    #[error("ingester {0} already has address {1}")]
    AddressTaken(u64, String),
    #[error("the cluster's ring is not bootstrapped yet")]
    NotBootstrapped,
    #[error("shard {0} would have {1} replicas, fewer than the replication factor {2}")]
    TooFewReplicas(ShardId, usize, usize),
    #[error(
        "shard {0}: the new replicas keep none of its current voters {1:?}; keep at least one \
         of them (move a shard a replica at a time)"
    )]
    NoStableReplica(ShardId, Vec<u64>),
    #[error("no ingester {0}")]
    NoIngester(u64),
    #[error("ingester {0} is at {1}; to point it at {2}, use set_ingester_address")]
    AddressChange(u64, String, String),
    #[error("ingester {0} still holds replicas of shards {1:?}: move them off it first")]
    HoldsReplicas(u64, Vec<ShardId>),
    #[error("ingester {0} is a voter of the metadata group: move the group off it first (set_metadata_voters)")]
    MetaVoter(u64),
    #[error("every shard would be draining: no shard would take writes")]
    NoWritableShard,
    #[error(
        "shard {0} may still hold series: drain it first (drain_shard), then wait until GET /ring \
         shows it drained (its series have gone to blocks)"
    )]
    NotDrained(ShardId),
    #[error("shard {0} is changing replicas: wait until the move settles")]
    Moving(ShardId),
    #[error("the metadata group needs voters")]
    NoMetaVoters,
    #[error("the metadata group lists voter {0} twice")]
    DuplicateMetaVoter(u64),
    #[error("the metadata group would have {0} voters; it keeps {1} (or every ingester, if fewer)")]
    TooFewMetaVoters(usize, usize),
    #[error(
        "the new metadata voters keep none of its current voters {0:?}; keep at least one of them \
         (move the group in steps)"
    )]
    NoStableMetaVoter(Vec<u64>),
    #[error("the metadata group names unknown ingester {0}")]
    UnknownMetaVoter(u64),
}

impl RingDesc {
    /// `shards` shards over `ingesters`, each replicated `replication_factor` times on
    /// consecutive ingesters (by id order), so replicas (and the founders, which lead
    /// first) spread evenly; the first [`META_VOTERS`] ingesters hold the metadata group.
    pub fn even(mut ingesters: Vec<Ingester>, shards: u32, replication_factor: usize) -> RingDesc {
        ingesters.sort_by_key(|i| i.id);
        let ids: Vec<u64> = ingesters.iter().map(|i| i.id).collect();
        let rf = replication_factor.clamp(1, ids.len().max(1));
        let shards = (0..shards)
            .map(|s| {
                let replicas = (0..rf).map(|r| ids[(s as usize + r) % ids.len()]).collect();
                (s, Shard::new(s, replicas))
            })
            .collect();
        RingDesc {
            version: 1,
            tokens_per_shard: 128,
            meta: ids.iter().take(META_VOTERS).copied().collect(),
            meta_founder: ids.first().copied(),
            replication_factor: rf,
            ingesters: ingesters.into_iter().map(|i| (i.id, i)).collect(),
            shards,
            ..RingDesc::default()
        }
    }

    /// Replicas every shard must keep.
    pub fn replication_factor(&self) -> usize {
        match self.replication_factor {
            0 => self.shards.values().map(|s| s.replicas.len()).min().unwrap_or(1),
            rf => rf,
        }
    }

    /// The metadata voters sure to have been voters throughout (see [`Shard::stable`]).
    pub fn meta_stable_voters(&self) -> &[u64] {
        if self.meta_leaving.is_empty() || self.meta_stable.is_empty() {
            &self.meta
        } else {
            &self.meta_stable
        }
    }

    /// Checks that every shard has replicas on known ingesters, that some shard takes
    /// writes, and that the metadata group's voters are known.
    pub fn validate(&self) -> Result<(), RingError> {
        if self.shards.is_empty() {
            return Err(RingError::Empty);
        }
        if self.shards.values().all(|s| s.draining) {
            return Err(RingError::NoWritableShard);
        }
        if let Some(bad) = self
            .meta
            .iter()
            .chain(&self.meta_leaving)
            .find(|r| !self.ingesters.contains_key(r))
        {
            return Err(RingError::UnknownMetaVoter(*bad));
        }
        if self.tokens_per_shard == 0 {
            return Err(RingError::NoTokens);
        }
        for s in self.shards.values() {
            if s.replicas.is_empty() {
                return Err(RingError::NoReplicas(s.id));
            }
            if let Some(bad) = s
                .replicas
                .iter()
                .chain(&s.leaving)
                .find(|r| !self.ingesters.contains_key(r))
            {
                return Err(RingError::UnknownIngester(s.id, *bad));
            }
        }
        Ok(())
    }

    /// The shards an ingester holds a replica of (leaving ones included).
    pub fn shards_of(&self, ingester: u64) -> Vec<ShardId> {
        self.shards
            .values()
            .filter(|s| s.hosted_by(ingester))
            .map(|s| s.id)
            .collect()
    }

    /// Whether the ingester holds (or still holds) a replica of the metadata group.
    pub fn meta_hosted_by(&self, ingester: u64) -> bool {
        self.meta.contains(&ingester) || self.meta_leaving.contains(&ingester)
    }

    /// gRPC addresses of a group's replicas (leaving ones last).
    pub fn replica_addrs(&self, group: impl Into<RingGroup>) -> Vec<(u64, String)> {
        let ids: Vec<u64> = match group.into() {
            RingGroup::Meta => self.meta.iter().chain(&self.meta_leaving).copied().collect(),
            RingGroup::Shard(shard) => self
                .shards
                .get(&shard)
                .map_or_else(Vec::new, |s| s.replicas.iter().chain(&s.leaving).copied().collect()),
        };
        ids.into_iter()
            .filter_map(|id| self.ingesters.get(&id).map(|i| (id, i.addr.clone())))
            .collect()
    }
}

/// The token ring built from a [`RingDesc`], for placing series.
#[derive(Debug, Clone)]
pub struct Ring {
    desc: RingDesc,
    /// `(token, shard)`, sorted by token.
    tokens: Vec<(u64, ShardId)>,
}

/// Maps keyed by their values' ids travel as lists of the values (JSON object keys are
/// strings, which integer keys do not survive everywhere serde goes).
mod by_id {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub trait Keyed {
        type Key: Ord;
        fn key(&self) -> Self::Key;
    }

    impl Keyed for super::Ingester {
        type Key = u64;
        fn key(&self) -> u64 {
            self.id
        }
    }

    impl Keyed for super::Shard {
        type Key = super::ShardId;
        fn key(&self) -> super::ShardId {
            self.id
        }
    }

    pub fn serialize<S: Serializer, V: Keyed + Serialize>(m: &BTreeMap<V::Key, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.values())
    }

    pub fn deserialize<'de, D, V>(d: D) -> Result<BTreeMap<V::Key, V>, D::Error>
    where
        D: Deserializer<'de>,
        V: Keyed + Deserialize<'de>,
    {
        Ok(Vec::<V>::deserialize(d)?.into_iter().map(|v| (v.key(), v)).collect())
    }
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
        // A draining shard owns no tokens: its series go to the others.
        let mut tokens: Vec<(u64, ShardId)> = desc
            .shards
            .values()
            .filter(|s| !s.draining)
            .flat_map(|s| (0..desc.tokens_per_shard).map(move |i| (token(s.id, i), s.id)))
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

    /// A tenant's write split by the shard owning each series.
    pub fn split(&self, tenant: &str, series: Vec<TimeSeries>) -> BTreeMap<ShardId, Vec<TimeSeries>> {
        self.split_by(tenant, series, |s| &s.labels)
    }

    /// A tenant's items split by the shard owning each one's series, in order.
    pub fn split_by<T>(
        &self,
        tenant: &str,
        items: Vec<T>,
        labels: impl Fn(&T) -> &Labels,
    ) -> BTreeMap<ShardId, Vec<T>> {
        self.group(items, |item| self.shard_for(tenant, labels(item)))
    }

    /// A tenant's items about metric families (their metadata) split by the shard that
    /// owns the family: the shard of the series named by the family alone.
    pub fn split_by_metric<T>(
        &self,
        tenant: &str,
        items: Vec<T>,
        metric: impl Fn(&T) -> &str,
    ) -> BTreeMap<ShardId, Vec<T>> {
        self.group(items, |item| {
            self.shard_for(tenant, &Labels::from_pairs(&[("__name__", metric(item))]))
        })
    }

    /// Items grouped by `shard_of` each, in order.
    fn group<T>(&self, items: Vec<T>, shard_of: impl Fn(&T) -> ShardId) -> BTreeMap<ShardId, Vec<T>> {
        let mut parts: BTreeMap<ShardId, Vec<T>> = BTreeMap::new();
        // One shard (a single process, as it starts) owns everything: nothing to hash.
        if let [only] = self.shard_ids()[..] {
            if !items.is_empty() {
                parts.insert(only, items);
            }
            return parts;
        }
        for item in items {
            parts.entry(shard_of(&item)).or_default().push(item);
        }
        parts
    }

    /// Every shard id (draining ones too), for reads that fan out to all of them.
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
        // Founders rotate, so first leaders spread over the ingesters.
        let founders: Vec<_> = d.shards.values().map(|s| s.founder.unwrap()).collect();
        assert_eq!(founders, [1, 2, 3, 1, 2, 3]);
        let d = RingDesc::even(ingesters(3), 6, 1);
        assert_eq!(d.shards_of(1), [0, 3]);
        assert_eq!(d.replica_addrs(1), [(2, "127.0.0.2:9095".to_string())]);
        assert_eq!(d.meta, [1, 2, 3]);
        assert_eq!(d.replica_addrs(RingGroup::Meta).len(), 3);
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
