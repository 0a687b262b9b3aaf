//! The groups this ruler evaluates, each in a loop of its own at its instants
//! ([`crate::schedule`]), and what a change of rules does to them: a new group starts,
//! a removed one stops and marks everything it wrote stale, a changed one restarts
//! keeping the state of the rules still in it (their alerts and the series they wrote),
//! and an unchanged one runs on untouched.
//!
//! After each evaluation the alerts due to be sent go to the [`Notify`] the ruler was
//! given.
//!
//! The invariant: a group is evaluated by at most one loop at a time, and a loop
//! evaluates an instant at most once and in order; when the loop falls more than an
//! interval behind it skips the instants it missed rather than evaluating them late.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use pyrite_rules::RuleKind;
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

use crate::alerting::Notification;
use crate::group::{EvalSettings, GroupState, RuleEnv};
use crate::loader::LoadedGroup;
use crate::schedule::{to_ms, Schedule};

/// Where alerts due to be sent go.
pub trait Notify: Send + Sync {
    fn notify(&self, tenant: &str, alerts: Vec<Notification>);
}

/// The ruler's defaults for groups that set none, and its notification timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagerOptions {
    pub evaluation_interval_ms: i64,
    pub query_offset_ms: i64,
    /// How long a firing alert goes before it is sent again.
    pub resend_delay_ms: i64,
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

pub struct Manager {
    env: Arc<dyn RuleEnv>,
    notify: Arc<dyn Notify>,
    opts: ManagerOptions,
    running: Mutex<BTreeMap<GroupKey, Running>>,
}

/// Nanoseconds since the epoch, now.
fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

impl Manager {
    pub fn new(env: Arc<dyn RuleEnv>, notify: Arc<dyn Notify>, opts: ManagerOptions) -> Arc<Manager> {
        Arc::new(Manager {
            env,
            notify,
            opts,
            running: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn options(&self) -> ManagerOptions {
        self.opts
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
            let state = r.state.lock().await;
            let stale = state.stale_markers(pyrite_members::now_ms());
            if !stale.is_empty() {
                if let Err(e) = self.env.write(&r.loaded.tenant, stale).await {
                    tracing::warn!(group = %r.loaded.group.name, error = %e, "writing the staleness markers of a removed group");
                }
            }
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

    fn start(&self, key: GroupKey, g: LoadedGroup, state: GroupState) {
        let interval_ms = g.group.interval_ms.unwrap_or(self.opts.evaluation_interval_ms);
        let running = Running {
            loaded: Arc::new(g),
            state: Arc::new(AsyncMutex::new(state)),
            interval_ms,
            stop: CancellationToken::new(),
        };
        tokio::spawn(run_group(
            self.env.clone(),
            self.notify.clone(),
            self.opts,
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

async fn run_group(
    env: Arc<dyn RuleEnv>,
    notify: Arc<dyn Notify>,
    opts: ManagerOptions,
    loaded: Arc<LoadedGroup>,
    state: Arc<AsyncMutex<GroupState>>,
    interval_ms: i64,
    stop: CancellationToken,
) {
    let schedule = Schedule::new(&loaded.file, &loaded.group.name, interval_ms);
    let settings = EvalSettings {
        query_offset_ms: loaded.group.query_offset_ms.unwrap_or(opts.query_offset_ms),
    };
    // The first instant after the last one evaluated (a restarted group neither repeats
    // nor skips one), or after now.
    let last = state.lock().await.last_evaluation;
    let mut next = match last {
        Some(t) => schedule.after(i128::from(t) * 1_000_000),
        None => schedule.after(now_ns()),
    };
    loop {
        let now = now_ns();
        if next - now >= schedule.interval_ns() + schedule.interval_ns() {
            // The clock went back: start again from now.
            next = schedule.after(now);
        }
        let wait = Duration::from_nanos((next - now).max(0) as u64);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let now = now_ns();
        if now - next >= schedule.interval_ns() {
            let missed = (now - next) / schedule.interval_ns();
            tracing::warn!(group = %loaded.group.name, tenant = %loaded.tenant, missed = missed as u64, "rule group evaluation fell behind; skipping the instants it missed");
            next = schedule.at_or_before(now);
        }
        let t = to_ms(next);
        let due = {
            let mut s = state.lock().await;
            if stop.is_cancelled() {
                return;
            }
            s.evaluate(&*env, &loaded.tenant, &loaded.group, t, settings).await;
            let mut due = Vec::new();
            for (rule, rs) in loaded.group.rules.iter().zip(s.rules.iter_mut()) {
                if matches!(rule.kind, RuleKind::Alerting { .. }) {
                    due.extend(rs.alerts.due(t, opts.resend_delay_ms, interval_ms));
                }
            }
            due
        };
        if !due.is_empty() {
            notify.notify(&loaded.tenant, due);
        }
        next += schedule.interval_ns();
    }
}
