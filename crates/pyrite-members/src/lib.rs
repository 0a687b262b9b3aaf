//! Pools of live members, kept in replicated state, and which member owns a key at any
//! instant.
//!
//! A component whose work is shared out among its live instances (distributors
//! scraping targets today; rulers and alertmanagers next) names a *pool*. Its members
//! heartbeat to the leader of the Raft group holding the [`Members`] state (the
//! metadata group); that leader commits a [`Command::Join`] for a member it does not
//! know and a [`Command::Expire`] for one it has not heard from within the member's
//! own timeout ([`Liveness`]). Every change opens an [`Epoch`]: the members, and the
//! instant from which that list is in force. A key (a target's hash) belongs, at an
//! instant, to the member rendezvous hashing picks among the members of the epoch in
//! force then ([`Pool::owner`]). Every node that knows the same epochs gives the same
//! answer for every instant, which is how work moves with neither gap nor overlap:
//! - a member joining owns its keys from `handoff` after the join is proposed, time for
//!   every member to hear of it, so the old owners work up to that instant and the new
//!   one from it; the first member of an empty pool owns everything at once;
//! - a member leaving (shutting down) gives its keys up `handoff` after it says so;
//! - a member expiring gives its keys up from the last time the leader heard from it,
//!   an instant already past: the new owners take over the instant in hand at once.
//!
//! Rendezvous hashing moves only the keys of the member that came or went.
//!
//! On a member's side, [`run_heartbeats`] keeps the view of its pool and withdraws it
//! (`None`: own nothing) once it has gone its timeout less one period without an
//! answer — before the leader can expire it, so a member cut off stops working before
//! its keys are given to others. A view is also only *settled* up to an instant: each
//! answer says as of when it is complete ([`Answer::as_of_ms`]), and a change the
//! member has not heard of yet was proposed after that, so takes effect `handoff` later
//! at the earliest. A member works an instant only once its view is settled past it
//! ([`ViewTx`]); when answers come late, it waits rather than work an instant that
//! may already be another's.
//!
//! Beside the pools, [`records`] keep the state of each key's work, written only by the
//! key's owner at the time of writing, instant after instant; [`ownership`] is how a
//! node's loops ask whose an instant is.
//!
//! The invariant: [`Members::apply`] is deterministic in the state and the command (time
//! travels in the command, from the leader's clock), and an epoch never takes effect
//! before the one it follows, so "the epoch in force at `t`" is always well defined.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub mod ownership;
pub mod records;

pub use records::{key_hash, Record, RecordError, Records};

/// Epochs a pool keeps: enough to answer for every instant still being worked on.
const EPOCHS_KEPT: usize = 16;

/// A member as the pool records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Where it serves (shown by APIs; not used for ownership).
    pub addr: String,
    /// How long it may go unheard before it is expired.
    pub timeout_ms: i64,
}

/// One list of members and the instant from which it is in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch {
    pub seq: u64,
    pub effective_ms: i64,
    /// Sorted member ids.
    pub members: Vec<String>,
}

/// One pool: its members now and the epochs that say who owned what when.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub members: BTreeMap<String, Member>,
    /// Oldest first; `effective_ms` never decreases.
    pub epochs: Vec<Epoch>,
}

impl Pool {
    /// The newest epoch's number (0: never had a member).
    pub fn seq(&self) -> u64 {
        self.epochs.last().map_or(0, |e| e.seq)
    }

    /// The epoch in force at `at_ms` (the oldest kept, for instants before it).
    pub fn epoch_at(&self, at_ms: i64) -> Option<&Epoch> {
        self.epochs
            .iter()
            .rev()
            .find(|e| e.effective_ms <= at_ms)
            .or(self.epochs.first())
    }

    /// The member owning `key` at `at_ms`; `None` when the pool is empty then.
    pub fn owner(&self, key: u64, at_ms: i64) -> Option<&str> {
        rendezvous(key, &self.epoch_at(at_ms)?.members)
    }

    /// Since which epoch `me` has owned `key` without a break, as of `at_ms`: the
    /// number of the first epoch of the unbroken run ending with the one in force then,
    /// or 0 when the run goes back past the oldest epoch kept; `None` when `me` does not
    /// own it then. A member that lost the key and got it back has a new tenure, so
    /// whatever another owner recorded meanwhile must be read before it works on.
    pub fn tenure(&self, key: u64, at_ms: i64, me: &str) -> Option<u64> {
        let now = self.epoch_at(at_ms)?;
        let mut run = self.epochs.iter().rev().skip_while(|e| e.seq != now.seq);
        let mut since = None;
        for e in run.by_ref() {
            if rendezvous(key, &e.members) != Some(me) {
                return since;
            }
            since = Some(e.seq);
        }
        since.map(|_| 0)
    }

    fn open_epoch(&mut self, effective_ms: i64) {
        let floor = self.epochs.last().map_or(i64::MIN, |e| e.effective_ms);
        let epoch = Epoch {
            seq: self.seq() + 1,
            effective_ms: effective_ms.max(floor),
            members: self.members.keys().cloned().collect(),
        };
        self.epochs.push(epoch);
        if self.epochs.len() > EPOCHS_KEPT {
            self.epochs.remove(0);
        }
    }
}

/// The member rendezvous hashing gives `key` among `members`: the highest score of
/// key and member id, ties to the greater id. Stable across processes and releases.
pub fn rendezvous(key: u64, members: &[String]) -> Option<&str> {
    members
        .iter()
        .max_by_key(|m| (mix(key ^ fnv1a(m.as_bytes())), m.as_str()))
        .map(String::as_str)
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// splitmix64's finaliser: every input bit moves every output bit.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A committed change to a pool. Times are the proposing leader's clock (ms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    Join {
        pool: String,
        id: String,
        addr: String,
        timeout_ms: i64,
        at_ms: i64,
        handoff_ms: i64,
    },
    Leave {
        pool: String,
        id: String,
        at_ms: i64,
        handoff_ms: i64,
    },
    Expire {
        pool: String,
        id: String,
        last_seen_ms: i64,
    },
    /// `member` records the state of `key`'s work as of `instant_ms`; committed only if
    /// it owns the key at `at_ms` or owned it at `instant_ms`, and no record as recent
    /// exists ([`records`]).
    Record {
        pool: String,
        key: String,
        member: String,
        instant_ms: i64,
        at_ms: i64,
        value: String,
    },
    /// `member` drops `key`'s record; committed only if it owns the key at `at_ms`.
    Forget {
        pool: String,
        key: String,
        member: String,
        at_ms: i64,
    },
}

/// Every pool and the records of its keys: the replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    pub pools: BTreeMap<String, Pool>,
    /// Pool → key → record.
    #[serde(default)]
    pub records: BTreeMap<String, BTreeMap<String, Record>>,
}

impl Members {
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.get(name)
    }

    pub fn record(&self, pool: &str, key: &str) -> Option<&Record> {
        self.records.get(pool)?.get(key)
    }

    /// Applies a committed command; a command that changes nothing (a known member
    /// joining, an unknown one leaving) is a no-op, so retries are harmless. A record
    /// refused (see [`records`]) is `Err`, the same on every replica.
    pub fn apply(&mut self, command: &Command) -> Result<(), String> {
        match command {
            Command::Record {
                pool,
                key,
                member,
                instant_ms,
                at_ms,
                value,
            } => {
                let pool_now = self.pools.get(pool);
                if let Some(why) = records::refusal(pool_now, key, member, *at_ms) {
                    // The owner of the instant recorded may still record it, late.
                    if records::refusal(pool_now, key, member, *instant_ms).is_some() {
                        return Err(why);
                    }
                }
                let kept = self.records.entry(pool.clone()).or_default();
                if let Some(r) = kept.get(key).filter(|r| r.instant_ms >= *instant_ms) {
                    return Err(format!(
                        "{key} is recorded as of {}, not before {instant_ms}",
                        r.instant_ms
                    ));
                }
                let record = Record {
                    instant_ms: *instant_ms,
                    member: member.clone(),
                    value: value.clone(),
                };
                kept.insert(key.clone(), record);
            }
            Command::Forget {
                pool,
                key,
                member,
                at_ms,
            } => {
                if let Some(why) = records::refusal(self.pools.get(pool), key, member, *at_ms) {
                    return Err(why);
                }
                if let Some(kept) = self.records.get_mut(pool) {
                    kept.remove(key);
                }
            }
            Command::Join {
                pool,
                id,
                addr,
                timeout_ms,
                at_ms,
                handoff_ms,
            } => {
                let p = self.pools.entry(pool.clone()).or_default();
                let member = Member {
                    addr: addr.clone(),
                    timeout_ms: *timeout_ms,
                };
                if p.members.insert(id.clone(), member).is_none() {
                    // Alone in the pool: nobody to take over from.
                    let alone = p.members.len() == 1;
                    p.open_epoch(if alone { *at_ms } else { at_ms + handoff_ms });
                }
            }
            Command::Leave {
                pool,
                id,
                at_ms,
                handoff_ms,
            } => {
                if let Some(p) = self.pools.get_mut(pool) {
                    if p.members.remove(id).is_some() {
                        p.open_epoch(at_ms + handoff_ms);
                    }
                }
            }
            Command::Expire { pool, id, last_seen_ms } => {
                if let Some(p) = self.pools.get_mut(pool) {
                    if p.members.remove(id).is_some() {
                        p.open_epoch(*last_seen_ms);
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a member sends its pool's leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub pool: String,
    pub id: String,
    pub addr: String,
    pub timeout_ms: i64,
    pub handoff_ms: i64,
    /// The member is shutting down and gives its keys up.
    pub leave: bool,
}

impl Heartbeat {
    /// The command a leader commits for this heartbeat, if one is needed now.
    pub fn command(&self, state: &Members, now_ms: i64) -> Option<Command> {
        let known = state.pool(&self.pool).and_then(|p| p.members.get(&self.id));
        match (self.leave, known) {
            (true, Some(_)) => Some(Command::Leave {
                pool: self.pool.clone(),
                id: self.id.clone(),
                at_ms: now_ms,
                handoff_ms: self.handoff_ms,
            }),
            (false, Some(m)) if m.addr == self.addr && m.timeout_ms == self.timeout_ms => None,
            (false, _) => Some(Command::Join {
                pool: self.pool.clone(),
                id: self.id.clone(),
                addr: self.addr.clone(),
                timeout_ms: self.timeout_ms,
                at_ms: now_ms,
                handoff_ms: self.handoff_ms,
            }),
            (true, None) => None,
        }
    }
}

/// What the leader of the group holding [`Members`] remembers of heartbeats: when it
/// last heard from each member, and the joins and leaves it is committing. Not
/// replicated: a new leader starts afresh, counting every member as heard when it first
/// looks.
#[derive(Default)]
pub struct Liveness {
    heard: HashMap<(String, String), i64>,
    /// The instants of the joins and leaves proposed and not yet applied, with their
    /// number.
    in_flight: BTreeMap<i64, usize>,
}

impl Liveness {
    /// Forgets whom it heard (this node has just become the leader, or is not one).
    pub fn reset(&mut self) {
        self.heard.clear();
    }

    /// Notes a join or leave about to be proposed, stamped `at_ms`: stamp and note
    /// under one lock, so [`Liveness::as_of`] never misses a change stamped before it.
    pub fn proposing(&mut self, at_ms: i64) {
        *self.in_flight.entry(at_ms).or_default() += 1;
    }

    /// The change stamped `at_ms` is applied, or will never be.
    pub fn proposed(&mut self, at_ms: i64) {
        if let std::collections::btree_map::Entry::Occupied(mut e) = self.in_flight.entry(at_ms) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }

    /// The instant as of which a pool read now (after every change applied so far) is
    /// complete ([`Answer::as_of_ms`]): now, or the stamp of the oldest change still
    /// being committed.
    pub fn as_of(&self, now_ms: i64) -> i64 {
        self.in_flight
            .keys()
            .next()
            .map_or(now_ms, |oldest| now_ms.min(*oldest))
    }

    pub fn heard(&mut self, pool: &str, id: &str, now_ms: i64) {
        self.heard.insert((pool.to_string(), id.to_string()), now_ms);
    }

    /// Expiries due at `now_ms`: members not heard from within their timeout.
    pub fn expired(&mut self, state: &Members, now_ms: i64) -> Vec<Command> {
        let mut due = Vec::new();
        let mut live = std::collections::HashSet::new();
        for (pool, p) in &state.pools {
            for (id, m) in &p.members {
                let key = (pool.clone(), id.clone());
                let last = *self.heard.entry(key.clone()).or_insert(now_ms);
                if now_ms - last > m.timeout_ms {
                    due.push(Command::Expire {
                        pool: pool.clone(),
                        id: id.clone(),
                        last_seen_ms: last,
                    });
                }
                live.insert(key);
            }
        }
        self.heard.retain(|k, _| live.contains(k));
        due
    }
}

/// What the leader answers a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The pool as committed after the heartbeat.
    pub pool: Pool,
    /// The instant (the leader's clock) as of which `pool` is complete: every change it
    /// does not hold is proposed at or after this instant, so takes effect no sooner
    /// than its handoff after it.
    pub as_of_ms: i64,
}

/// Where heartbeats go: the leader of the group holding [`Members`].
#[async_trait::async_trait]
pub trait Registry: Send + Sync + 'static {
    /// Delivers a heartbeat; answers the pool as committed after it.
    async fn heartbeat(&self, hb: &Heartbeat) -> Result<Answer, String>;
}

/// How often a member heartbeats and how long it may go unheard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub period: Duration,
    pub timeout: Duration,
}

impl Timing {
    /// How long after a change commits it takes effect: two periods (every member hears
    /// of it) and a margin for a slow answer.
    pub fn handoff(&self) -> Duration {
        self.period * 2 + Duration::from_millis(500)
    }

    /// How long a member goes unanswered before it stops working: before the leader
    /// expires it.
    pub fn fence(&self) -> Duration {
        self.timeout.saturating_sub(self.period)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.period.is_zero() || self.timeout < self.period * 3 {
            return Err(format!(
                "the heartbeat timeout ({:?}) must be at least three heartbeat periods ({:?})",
                self.timeout, self.period
            ));
        }
        Ok(())
    }
}

/// The milliseconds since the Unix epoch, by this node's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A member's view of its pool, as its work reads it.
#[derive(Clone)]
pub struct View {
    /// The pool: `None` while the member must own nothing.
    pub pool: watch::Receiver<Option<Arc<Pool>>>,
    /// The instant (ms) before which what `pool` says is final: no change the member
    /// has not heard of can take effect earlier. `i64::MAX` while `pool` is `None`
    /// (owning nothing is final until the next answer).
    pub settled_until: watch::Receiver<i64>,
}

/// The heartbeats' side of a [`View`].
pub struct ViewTx {
    pool: watch::Sender<Option<Arc<Pool>>>,
    settled_until: watch::Sender<i64>,
}

impl View {
    /// A view that owns nothing until its [`ViewTx`] hears an answer.
    pub fn channel() -> (ViewTx, View) {
        let (pool_tx, pool) = watch::channel(None);
        let (settled_tx, settled_until) = watch::channel(i64::MAX);
        (
            ViewTx {
                pool: pool_tx,
                settled_until: settled_tx,
            },
            View { pool, settled_until },
        )
    }
}

impl ViewTx {
    /// Takes an answer in: the pool, settled `handoff_ms` past the answer's instant.
    fn answered(&self, answer: Answer, handoff_ms: i64) {
        let pool = answer.pool;
        self.publish(answer.as_of_ms.saturating_add(handoff_ms), move |v| {
            let changed = v.as_deref() != Some(&pool);
            if changed {
                *v = Some(Arc::new(pool));
            }
            changed
        });
    }

    /// Owns nothing from now on, until the next answer.
    fn withdraw(&self) {
        self.publish(i64::MAX, |v| v.take().is_some());
    }

    /// Publishes a pool and its horizon so that a reader who reads the horizon first
    /// never takes an older pool for settled further than it is: a horizon moving on is
    /// published after its pool, one moving back before it.
    fn publish(&self, until: i64, pool: impl FnOnce(&mut Option<Arc<Pool>>) -> bool) {
        if until < *self.settled_until.borrow() {
            self.settled_until.send_replace(until);
            self.pool.send_if_modified(pool);
        } else {
            self.pool.send_if_modified(pool);
            self.settled_until.send_replace(until);
        }
    }

    fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// Heartbeats as member `hb.id` of `hb.pool` every period until the view's readers
/// are all gone, publishing the pool after each answer and withdrawing it once the
/// member has gone [`Timing::fence`] without one.
pub async fn run_heartbeats(registry: Arc<dyn Registry>, hb: Heartbeat, timing: Timing, view: ViewTx) {
    let mut last_answer: Option<tokio::time::Instant> = None;
    let mut unsettled = false;
    let mut tick = tokio::time::interval(timing.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if view.is_closed() {
            return;
        }
        let sent = tokio::time::Instant::now();
        match tokio::time::timeout(timing.period, registry.heartbeat(&hb)).await {
            Ok(Ok(answer)) => {
                last_answer = Some(sent);
                // An answer not settled past now holds the work back until a fresher one.
                let late = answer.as_of_ms.saturating_add(hb.handoff_ms) <= now_ms();
                if late && !unsettled {
                    tracing::warn!(pool = %hb.pool, as_of_ms = answer.as_of_ms, "a heartbeat answer is complete only as of a handoff ago (a change still being committed, or this node's clock ahead of the leader's by that much): work waits for a fresher answer");
                }
                unsettled = late;
                view.answered(answer, hb.handoff_ms);
            }
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => e,
                    _ => "no answer within a heartbeat period".to_string(),
                };
                tracing::debug!(pool = %hb.pool, error = %why, "heartbeat failed");
                let fenced = last_answer.is_none_or(|t| t.elapsed() >= timing.fence());
                if fenced && view.pool.borrow().is_some() {
                    tracing::warn!(pool = %hb.pool, error = %why, "no heartbeat answered within the fence: giving up this member's work until one is");
                    view.withdraw();
                }
            }
        }
    }
}

/// Says the member is leaving; answers the pool after it (in which the member's keys
/// move at the leave epoch's instant).
pub async fn leave(registry: &dyn Registry, hb: &Heartbeat) -> Result<Pool, String> {
    let hb = Heartbeat {
        leave: true,
        ..hb.clone()
    };
    registry.heartbeat(&hb).await.map(|a| a.pool)
}

/// Waits until `view` is settled past `at_ms`, so that whether this member owns the
/// instant is final; at once when it already is.
pub async fn settled(view: &mut watch::Receiver<i64>, at_ms: i64) {
    // The sender lives as long as the heartbeats; once they are gone nothing changes.
    let _ = view.wait_for(|until| *until > at_ms).await;
}

#[cfg(test)]
mod tests;
