//! The groups this ruler knows, each in a loop of its own at its instants
//! ([`crate::schedule`]), and what a change of rules does to them: a new group starts,
//! a removed one stops and its owner marks everything it wrote stale, a changed one
//! restarts, and an unchanged one runs on untouched.
//!
//! Rulers share groups out as members of the `ruler` pool ([`pyrite_members`]): every
//! ruler runs a loop for every group, and at each instant the one owning the group
//! evaluates it. A group's state lives in its record ([`crate::record`]), committed
//! after each evaluation by its owner alone. An owner that was not the owner at the
//! previous instant — it just started, restarted, or the group just moved to it —
//! first reads the record, then evaluates every instant after the recorded one up to
//! now (at most [`CATCH_UP_MS`] back), so a restart or a move neither skips nor repeats
//! an evaluation, and alerts keep their `activeAt` to the millisecond. Rulers not
//! owning a group follow its record, so any of them answers for it.
//!
//! After each evaluation the alerts due to be sent go to the [`Notify`] the ruler was
//! given, unless the record was refused (another ruler owns the instant then).
//!
//! The invariant: an instant of a group is recorded at most once, by the ruler owning
//! the group when the record commits; a loop evaluates only instants after its state's
//! last one, in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use pyrite_members::ownership::Ownership;
use pyrite_members::{RecordError, Records};
use pyrite_rules::RuleKind;
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use crate::alerting::Notification;
use crate::group::{EvalSettings, GroupState, RuleEnv};
use crate::loader::LoadedGroup;
use crate::notifier::generator_url;
use crate::record::{self, POOL};
use crate::schedule::{to_ms, Schedule};

/// How far back a new owner evaluates the instants nobody evaluated.
pub const CATCH_UP_MS: i64 = 60 * 60 * 1000;

/// Where alerts due to be sent go.
pub trait Notify: Send + Sync {
    fn notify(&self, tenant: &str, alerts: Vec<Notification>);
}

/// The ruler's defaults for groups that set none, and its notification timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerOptions {
    pub evaluation_interval_ms: i64,
    pub query_offset_ms: i64,
    /// How long a firing alert goes before it is sent again.
    pub resend_delay_ms: i64,
    /// Where users reach this Pyrite: alerts' `generatorURL` points there.
    pub external_url: String,
}

/// A group by its tenant, file and name: what identifies it across reloads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub tenant: String,
    pub file: String,
    pub name: String,
}

impl GroupKey {
    pub fn of(g: &LoadedGroup) -> GroupKey {
        GroupKey {
            tenant: g.tenant.clone(),
            file: g.file.clone(),
            name: g.group.name.clone(),
        }
    }
}

/// A running group: its rules, its state (shared with the APIs) and its loop's stop.
pub struct Running {
    pub loaded: Arc<LoadedGroup>,
    pub state: Arc<AsyncMutex<GroupState>>,
    pub interval_ms: i64,
    stop: CancellationToken,
}

/// A running group as the APIs see it.
pub struct GroupView {
    pub key: GroupKey,
    pub loaded: Arc<LoadedGroup>,
    pub state: Arc<AsyncMutex<GroupState>>,
    pub interval_ms: i64,
}

/// What a group's loop works with.
#[derive(Clone)]
struct Shared {
    env: Arc<dyn RuleEnv>,
    notify: Arc<dyn Notify>,
    ownership: Arc<dyn Ownership>,
    records: Arc<dyn Records>,
    opts: ManagerOptions,
}

pub struct Manager {
    shared: Shared,
    running: Mutex<BTreeMap<GroupKey, Running>>,
}

/// Nanoseconds since the epoch, now.
fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

impl Manager {
    /// A manager evaluating the groups `ownership` gives this ruler, with their state in
    /// `records`.
    pub fn new(
        env: Arc<dyn RuleEnv>,
        notify: Arc<dyn Notify>,
        ownership: Arc<dyn Ownership>,
        records: Arc<dyn Records>,
        opts: ManagerOptions,
    ) -> Arc<Manager> {
        Arc::new(Manager {
            shared: Shared {
                env,
                notify,
                ownership,
                records,
                opts,
            },
            running: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn options(&self) -> &ManagerOptions {
        &self.shared.opts
    }

    /// Runs exactly `groups` from now on (see the module's documentation). Must be
    /// called within a Tokio runtime.
    pub async fn apply(&self, groups: Vec<LoadedGroup>) {
        let mut wanted: BTreeMap<GroupKey, LoadedGroup> = groups.into_iter().map(|g| (GroupKey::of(&g), g)).collect();
        let mut removed = Vec::new();
        let mut changed = Vec::new();
        {
            let mut running = self.running.lock();
            let keys: Vec<GroupKey> = running.keys().cloned().collect();
            for key in keys {
                match wanted.get(&key) {
                    Some(g) if *g == *running[&key].loaded => {
                        wanted.remove(&key);
                    }
                    Some(_) => changed.extend(running.remove(&key).map(|r| (key, r))),
                    None => removed.extend(running.remove(&key)),
                }
            }
        }
        for r in removed {
            r.stop.cancel();
            self.retire(&r).await;
        }
        let mut previous: BTreeMap<GroupKey, Running> = changed.into_iter().collect();
        for r in previous.values() {
            r.stop.cancel();
        }
        for (key, g) in wanted {
            let state = match previous.remove(&key) {
                Some(old) => {
                    let old_state = std::mem::take(&mut *old.state.lock().await);
                    GroupState::for_group(&g.group, Some((&old.loaded.group, old_state)))
                }
                None => GroupState::for_group(&g.group, None),
            };
            self.start(key, g, state);
        }
    }

    /// A removed group's last work, done by its owner alone: staleness markers for
    /// everything it wrote, and its record dropped.
    async fn retire(&self, r: &Running) {
        let g = &r.loaded;
        let key = record::key(&g.tenant, &g.file, &g.group.name);
        let now = pyrite_members::now_ms();
        if !self.shared.ownership.owner(pyrite_members::key_hash(&key), now).mine {
            return;
        }
        let state = r.state.lock().await;
        let stale = state.stale_markers(now);
        if !stale.is_empty() {
            if let Err(e) = self.shared.env.write(&g.tenant, stale).await {
                tracing::warn!(group = %g.group.name, error = %e, "writing the staleness markers of a removed group");
            }
        }
        let member = self.shared.ownership.member();
        if let Err(e) = self.shared.records.forget(POOL, &key, member).await {
            tracing::warn!(group = %g.group.name, error = %e, "dropping the record of a removed group");
        }
    }

    fn start(&self, key: GroupKey, g: LoadedGroup, state: GroupState) {
        let interval_ms = g.group.interval_ms.unwrap_or(self.shared.opts.evaluation_interval_ms);
        let running = Running {
            loaded: Arc::new(g),
            state: Arc::new(AsyncMutex::new(state)),
            interval_ms,
            stop: CancellationToken::new(),
        };
        tokio::spawn(run_group(
            self.shared.clone(),
            running.loaded.clone(),
            running.state.clone(),
            interval_ms,
            running.stop.clone(),
        ));
        self.running.lock().insert(key, running);
    }

    /// The running groups, in key order, for the APIs.
    pub fn groups(&self) -> Vec<GroupView> {
        self.running
            .lock()
            .iter()
            .map(|(k, r)| GroupView {
                key: k.clone(),
                loaded: r.loaded.clone(),
                state: r.state.clone(),
                interval_ms: r.interval_ms,
            })
            .collect()
    }

    /// Stops every loop (without staleness markers: the rules are not gone, this
    /// ruler is).
    pub fn stop(&self) {
        for r in self.running.lock().values() {
            r.stop.cancel();
        }
    }
}

/// Nanoseconds since the epoch as milliseconds.
fn now_ms() -> i64 {
    to_ms(now_ns())
}

/// The instants after `last` (a timestamp) up to `t`, oldest first, none older than
/// [`CATCH_UP_MS`] before `t`; only `t` when nothing was evaluated yet.
fn instants_after(schedule: &Schedule, last: Option<i64>, t_ns: i128) -> Vec<i128> {
    let Some(last) = last else { return vec![t_ns] };
    let floor = t_ns - i128::from(CATCH_UP_MS) * 1_000_000;
    let mut u = schedule.after_ms(last);
    if u < floor {
        u = schedule.after(floor - 1);
    }
    let mut out = Vec::new();
    while u <= t_ns {
        out.push(u);
        u += schedule.interval_ns();
    }
    out
}

async fn run_group(
    shared: Shared,
    loaded: Arc<LoadedGroup>,
    state: Arc<AsyncMutex<GroupState>>,
    interval_ms: i64,
    stop: CancellationToken,
) {
    let schedule = Schedule::new(&loaded.file, &loaded.group.name, interval_ms);
    let settings = EvalSettings {
        query_offset_ms: loaded.group.query_offset_ms.unwrap_or(shared.opts.query_offset_ms),
    };
    let key = record::key(&loaded.tenant, &loaded.file, &loaded.group.name);
    let hash = pyrite_members::key_hash(&key);
    // The state is the record's latest and this ruler's to carry on from.
    let mut warm = false;
    let mut settled = shared.ownership.settled_until();
    let mut next = schedule.after(now_ns());
    loop {
        let wait = Duration::from_nanos((next - now_ns()).max(0) as u64);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let now = now_ns();
        if now - next >= schedule.interval_ns() {
            // Asleep or behind: the instants passed are caught up below, from the state.
            next = schedule.at_or_before(now);
        }
        let t = next;
        next += schedule.interval_ns();
        // Whose the group is now is final only once this node's view is settled past now.
        let now = now_ms();
        if let Some(until) = settled.as_mut() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = pyrite_members::settled(until, now) => {}
            }
        }
        if !shared.ownership.owner(hash, now).mine {
            warm = false;
            follow(&shared, &key, &loaded, &state).await;
            continue;
        }
        let mut s = state.lock().await;
        if stop.is_cancelled() {
            return;
        }
        if !warm {
            match shared.records.get(POOL, &key).await {
                Ok(Some(r)) => match record::decode(&loaded.group, &r.value) {
                    Ok(recorded) => *s = recorded,
                    Err(e) => {
                        tracing::warn!(group = %loaded.group.name, tenant = %loaded.tenant, error = %e, "starting the group afresh")
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(group = %loaded.group.name, tenant = %loaded.tenant, error = %e, "cannot read the group's state; not evaluating it at this instant");
                    continue;
                }
            }
            warm = true;
        }
        let instants = instants_after(&schedule, s.last_evaluation, t);
        if let Some(first) = instants.first() {
            if s.last_evaluation.is_some_and(|last| schedule.after_ms(last) < *first) {
                tracing::warn!(group = %loaded.group.name, tenant = %loaded.tenant, "the group's last evaluation is older than the catch-up window; skipping the instants before it");
            }
        }
        for u in instants {
            let u = to_ms(u);
            s.evaluate(&*shared.env, &loaded.tenant, &loaded.group, u, settings)
                .await;
            let mut due = Vec::new();
            for (rule, rs) in loaded.group.rules.iter().zip(s.rules.iter_mut()) {
                if matches!(rule.kind, RuleKind::Alerting { .. }) {
                    let generator_url = generator_url(&shared.opts.external_url, &rule.expr);
                    due.extend(
                        rs.alerts
                            .due(u, shared.opts.resend_delay_ms, interval_ms)
                            .into_iter()
                            .map(|n| Notification {
                                generator_url: generator_url.clone(),
                                ..n
                            }),
                    );
                }
            }
            let value = record::encode(&loaded.group, &s);
            let member = shared.ownership.member();
            let recorded = shared.records.put(POOL, &key, member, u, value).await;
            if !matches!(recorded, Err(RecordError::Refused(_))) && !due.is_empty() {
                shared.notify.notify(&loaded.tenant, due);
            }
            if let Err(e) = recorded {
                // Refused: another ruler owns the group now. Unavailable: whether it
                // committed is unknown. Either way the record is read again before the
                // next evaluation here.
                tracing::debug!(group = %loaded.group.name, tenant = %loaded.tenant, error = %e, "recording the group's state");
                warm = false;
                break;
            }
        }
    }
}

/// A ruler not owning the group shows the group's state as its owner recorded it.
async fn follow(shared: &Shared, key: &str, loaded: &LoadedGroup, state: &AsyncMutex<GroupState>) {
    if let Ok(Some(r)) = shared.records.get(POOL, key).await {
        if let Ok(recorded) = record::decode(&loaded.group, &r.value) {
            *state.lock().await = recorded;
        }
    }
}
