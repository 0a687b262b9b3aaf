//! Which node works a key's instant, as the work's loops ask it: [`SoleOwner`] when one
//! node does everything, [`PoolOwnership`] when a pool's members share keys out by the
//! epochs this node has heard of.

use std::sync::Arc;

use tokio::sync::watch;

/// Who works a key's instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub mine: bool,
    /// The owning node's address, for APIs; empty when nobody owns it.
    pub node: String,
}

/// Which node works each instant of each key, as this node knows it now.
pub trait Ownership: Send + Sync + 'static {
    /// The owner of the key with this hash at the instant `at_ms`.
    fn owner(&self, key_hash: u64, at_ms: i64) -> Owner;
    /// Since when this node has owned the key without a break, as of `at_ms`
    /// ([`crate::Pool::tenure`]); `None` when it does not own it then. Work that kept
    /// state in memory through a break must read the key's record again.
    fn tenure(&self, key_hash: u64, at_ms: i64) -> Option<u64> {
        self.owner(key_hash, at_ms).mine.then_some(0)
    }
    /// Changes whenever ownership may have moved.
    fn changes(&self) -> watch::Receiver<u64>;
    /// The instant before which this node's answers are final ([`crate::View`]), to be
    /// read before asking [`Ownership::owner`]; `None` when they always are.
    fn settled_until(&self) -> Option<watch::Receiver<i64>> {
        None
    }
    /// This node's name as an owner: the member id records are fenced by.
    fn member(&self) -> &str;
    /// The members this node knows of, with their addresses, for status pages.
    fn members(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// One node working every key.
pub struct SoleOwner {
    node: String,
    tx: watch::Sender<u64>,
}

impl SoleOwner {
    pub fn new(node: impl Into<String>) -> Self {
        SoleOwner {
            node: node.into(),
            tx: watch::channel(0).0,
        }
    }
}

impl Ownership for SoleOwner {
    fn owner(&self, _: u64, _: i64) -> Owner {
        Owner {
            mine: true,
            node: self.node.clone(),
        }
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
    fn member(&self) -> &str {
        &self.node
    }
}

/// Keys shared out among the live members of a pool: an instant is this node's when
/// the epoch in force then gives the key's hash to it.
/// While the member's view is withdrawn (no heartbeat answered), nothing is.
pub struct PoolOwnership {
    me: String,
    view: crate::View,
    tx: watch::Sender<u64>,
}

impl PoolOwnership {
    /// Follows `view` as member `me` (a task forwards its changes until it closes).
    pub fn new(me: impl Into<String>, view: crate::View) -> Arc<Self> {
        let (tx, _) = watch::channel(0);
        let ownership = Arc::new(PoolOwnership {
            me: me.into(),
            view: view.clone(),
            tx: tx.clone(),
        });
        let mut view = view.pool;
        tokio::spawn(async move {
            while view.changed().await.is_ok() {
                tx.send_modify(|n| *n += 1);
            }
        });
        ownership
    }
}

impl Ownership for PoolOwnership {
    fn owner(&self, key_hash: u64, at_ms: i64) -> Owner {
        let view = self.view.pool.borrow();
        let Some(pool) = view.as_deref() else {
            return Owner {
                mine: false,
                node: String::new(),
            };
        };
        match pool.owner(key_hash, at_ms) {
            Some(id) => Owner {
                mine: id == self.me,
                node: pool.members.get(id).map_or(id, |m| m.addr.as_str()).to_string(),
            },
            None => Owner {
                mine: false,
                node: String::new(),
            },
        }
    }
    fn tenure(&self, key_hash: u64, at_ms: i64) -> Option<u64> {
        let view = self.view.pool.borrow();
        view.as_deref()?.tenure(key_hash, at_ms, &self.me)
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
    fn settled_until(&self) -> Option<watch::Receiver<i64>> {
        Some(self.view.settled_until.clone())
    }
    fn member(&self) -> &str {
        &self.me
    }
    fn members(&self) -> Vec<(String, String)> {
        let view = self.view.pool.borrow();
        view.as_deref()
            .map(|p| p.members.iter().map(|(id, m)| (id.clone(), m.addr.clone())).collect())
            .unwrap_or_default()
    }
}
