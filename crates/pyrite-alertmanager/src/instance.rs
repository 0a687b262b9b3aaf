//! One tenant's alertmanager: its alerts, silences, aggregation groups and
//! notification log under one configuration, and the loop that flushes groups and
//! delivers their notifications.
//!
//! The invariant: a group's notification is logged only once every integration it went
//! to has accepted it, and the group drops its resolved alerts only then; a failed
//! delivery is retried until the group's next flush, which tries again from the log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::config::Config;
use crate::dispatch::{Dispatcher, Flush};
use crate::inhibit::Inhibitor;
use crate::model::{Alert, Fingerprint, LabelSet};
use crate::nflog::{needs_update, Entry, Nflog, NflogKey};
use crate::notify::{self, Context, Integration};
use crate::route::Route;
use crate::silence::{Silence, SilenceError, Silences, DEFAULT_RETENTION};
use crate::state::{Pending, SaveError, Saver, TenantConfig, TenantState};

/// How often resolved alerts, expired silences and old log entries are forgotten.
const GC_INTERVAL: Duration = Duration::from_secs(30 * 60);

/// An alert as a sender posts it; the times it leaves out are filled in on receipt.
#[derive(Debug, Clone, Default)]
pub struct PostedAlert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
}

/// Why an alert is not notified now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertStatus {
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    /// The time intervals muting the alert's group ([`Route::muted_by`]): a group's, not
    /// an alert's, so [`Instance::status`] leaves it empty and a listing of groups sets it.
    pub muted_by: Vec<String>,
}

impl AlertStatus {
    /// `active`, `suppressed`, as the API names the state.
    pub fn state(&self) -> &'static str {
        if self.silenced_by.is_empty() && self.inhibited_by.is_empty() && self.muted_by.is_empty() {
            "active"
        } else {
            "suppressed"
        }
    }
}

type Integrations = BTreeMap<String, notify::Integrations>;

pub struct State {
    pub config: Arc<Config>,
    pub alerts: BTreeMap<Fingerprint, Alert>,
    pub dispatcher: Dispatcher,
    pub silences: Silences,
    pub nflog: Nflog,
    /// Notifications sent or being sent whose delivery is not yet logged.
    pub pending: Vec<Pending>,
    /// The idempotency keys of the notifications this process is sending now: one
    /// taken over as pending while this process still sends it is not sent twice.
    sending: BTreeSet<String>,
    /// The tenant's own configuration, when it has one.
    pub custom: Option<TenantConfig>,
    inhibitor: Inhibitor,
    integrations: Integrations,
}

pub struct Instance {
    tenant: String,
    external_url: String,
    state: Mutex<State>,
    wake: Notify,
    saver: Arc<dyn Saver>,
}

/// Why a change was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Silence(#[from] SilenceError),
    #[error(transparent)]
    Save(#[from] SaveError),
    /// Alerts refused, one line each (the valid ones of the batch were taken).
    #[error("{0}")]
    Invalid(String),
}

fn build(config: &Config) -> Result<(Arc<Route>, Inhibitor, Integrations), String> {
    let base = config.base_dir().map(PathBuf::from).unwrap_or_default();
    let templates = Arc::new(notify::Templates::load(config)?);
    let mut integrations = Integrations::new();
    for r in &config.receivers {
        integrations.insert(r.name.clone(), notify::integrations(r, &base, templates.clone())?);
    }
    Ok((
        Arc::new(Route::new(&config.route)),
        Inhibitor::new(config.inhibit_rules.clone()),
        integrations,
    ))
}

impl Instance {
    pub fn new(
        tenant: &str,
        config: Arc<Config>,
        external_url: &str,
        saver: Arc<dyn Saver>,
    ) -> Result<Arc<Instance>, String> {
        let (route, inhibitor, integrations) = build(&config)?;
        Ok(Arc::new(Instance {
            tenant: tenant.to_string(),
            external_url: external_url.to_string(),
            state: Mutex::new(State {
                config,
                alerts: BTreeMap::new(),
                dispatcher: Dispatcher::new(route),
                silences: Silences::default(),
                nflog: Nflog::default(),
                pending: Vec::new(),
                sending: BTreeSet::new(),
                custom: None,
                inhibitor,
                integrations,
            }),
            wake: Notify::new(),
            saver,
        }))
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn external_url(&self) -> &str {
        &self.external_url
    }

    /// Runs `f` on the state, for reading.
    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock())
    }

    /// Takes a new configuration: groups are formed again from the alerts under the new
    /// routes; the log keeps them from notifying what was already notified.
    pub fn apply_config(&self, config: Arc<Config>, now: DateTime<Utc>) -> Result<(), String> {
        let (route, inhibitor, integrations) = build(&config)?;
        let mut st = self.state.lock();
        st.config = config;
        st.inhibitor = inhibitor;
        st.integrations = integrations;
        st.dispatcher = Dispatcher::new(route);
        let alerts: Vec<Alert> = st.alerts.values().cloned().collect();
        for a in &alerts {
            st.dispatcher.insert(a, now);
        }
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// Receives alerts: each checked, its missing times filled in, merged with what is
    /// known of it and put into its groups. Invalid alerts are left out and their
    /// errors returned, one per line; the valid ones are taken all the same.
    pub fn put_alerts(&self, posted: Vec<PostedAlert>, now: DateTime<Utc>) -> Result<(), String> {
        let mut st = self.state.lock();
        let resolve_timeout =
            chrono::Duration::from_std(st.config.global.resolve_timeout).unwrap_or(chrono::Duration::MAX);
        let mut alerts = Vec::with_capacity(posted.len());
        let mut errors = Vec::new();
        for mut p in posted {
            p.labels.retain(|_, v| !v.is_empty());
            let starts_at = p.starts_at.unwrap_or(now);
            let (ends_at, timeout) = match p.ends_at {
                Some(e) => (e, false),
                None => (now + resolve_timeout, true),
            };
            let alert = Alert {
                labels: p.labels,
                annotations: p.annotations,
                starts_at,
                ends_at,
                generator_url: p.generator_url,
                updated_at: now,
                timeout,
            };
            match validate(&alert) {
                Ok(()) => alerts.push(alert),
                Err(e) => errors.push(e),
            }
        }
        for alert in alerts {
            let fp = alert.fingerprint();
            let merged = match st.alerts.remove(&fp) {
                Some(mut old) => {
                    old.merge(alert);
                    old
                }
                None => alert,
            };
            st.dispatcher.insert(&merged, now);
            st.alerts.insert(fp, merged);
        }
        drop(st);
        self.wake.notify_one();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    /// Takes the tenant's own configuration (`config` made from `custom`), or goes back
    /// to the file's (`custom` none).
    pub fn set_custom(
        &self,
        custom: Option<TenantConfig>,
        config: Arc<Config>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        self.apply_config(config, now)?;
        self.state.lock().custom = custom;
        Ok(())
    }

    pub fn custom(&self) -> Option<TenantConfig> {
        self.state.lock().custom.clone()
    }

    /// Commits the state as it is now.
    pub async fn save(&self) -> Result<(), SaveError> {
        self.saver.save().await
    }

    /// Receives alerts ([`Instance::put_alerts`]) and answers once they are committed.
    pub async fn receive_alerts(&self, posted: Vec<PostedAlert>, now: DateTime<Utc>) -> Result<(), ChangeError> {
        let taken = self.put_alerts(posted, now);
        self.saver.save().await?;
        taken.map_err(ChangeError::Invalid)
    }

    /// The tenant's state, to be committed.
    pub fn snapshot(&self) -> TenantState {
        let st = self.state.lock();
        TenantState {
            alerts: st.alerts.values().cloned().collect(),
            silences: st.silences.iter().cloned().collect(),
            nflog: st.nflog.iter().map(|(k, e)| (k.clone(), e.clone())).collect(),
            timers: st.dispatcher.timers(),
            pending: st.pending.clone(),
            config: st.custom.clone(),
        }
    }

    /// Takes state committed by this or another process: its alerts into their groups
    /// with the timers they had, its silences and log as they were; its pending
    /// notifications are sent again.
    pub fn restore(self: &Arc<Self>, state: TenantState, now: DateTime<Utc>) {
        let mut st = self.state.lock();
        for a in state.alerts {
            let fp = a.fingerprint();
            st.dispatcher.insert(&a, now);
            st.alerts.insert(fp, a);
        }
        for (id, next, flushed) in &state.timers {
            st.dispatcher.restore_timer(id, *next, *flushed);
        }
        for s in state.silences {
            st.silences.restore(s);
        }
        for (k, e) in state.nflog {
            st.nflog.log(k, e);
        }
        st.pending = state.pending.clone();
        drop(st);
        for p in state.pending {
            tokio::spawn(self.clone().redeliver(p));
        }
        self.wake.notify_one();
    }

    /// Mirrors what the owning replica committed, as a follower: its alerts in their
    /// groups with its timers, its silences and its log (its pending notifications
    /// are the owner's to settle, or a successor's: see [`Instance::take_over`]).
    pub fn follow(&self, state: TenantState, now: DateTime<Utc>) {
        let mut st = self.state.lock();
        st.silences = Silences::default();
        for s in state.silences {
            st.silences.restore(s);
        }
        st.nflog = Nflog::default();
        for (k, e) in state.nflog {
            st.nflog.log(k, e);
        }
        st.dispatcher = Dispatcher::new(st.dispatcher.root().clone());
        st.alerts.clear();
        for a in state.alerts {
            st.dispatcher.insert(&a, now);
            st.alerts.insert(a.fingerprint(), a);
        }
        for (id, next, flushed) in &state.timers {
            st.dispatcher.restore_timer(id, *next, *flushed);
        }
    }

    /// Becomes the owner of state another replica committed: mirrors it, then sends
    /// again what that replica had pending.
    pub fn take_over(self: &Arc<Self>, state: TenantState, now: DateTime<Utc>) {
        let pending = state.pending.clone();
        self.follow(state, now);
        self.state.lock().pending = pending.clone();
        for p in pending {
            tokio::spawn(self.clone().redeliver(p));
        }
        self.wake.notify_one();
    }

    /// Why an alert is held back at `now`: its silences and inhibitions (its group's
    /// time intervals are the group's: see [`AlertStatus::muted_by`]).
    pub fn status(&self, alert: &Alert, now: DateTime<Utc>) -> AlertStatus {
        status_in(&self.state.lock(), alert, now)
    }

    /// Creates or updates a silence and answers once it is committed.
    pub async fn set_silence(&self, silence: Silence, now: DateTime<Utc>) -> Result<String, ChangeError> {
        let id = self
            .state
            .lock()
            .silences
            .set(silence, now, || uuid::Uuid::new_v4().to_string())?;
        self.saver.save().await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// Expires a silence and answers once that is committed.
    pub async fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<(), ChangeError> {
        self.state.lock().silences.expire(id, now)?;
        self.saver.save().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Flushes groups as they fall due, delivers their notifications, and forgets what
    /// is old, until the returned future is dropped.
    pub async fn run(self: Arc<Self>) {
        let mut last_gc = Utc::now();
        loop {
            let now = Utc::now();
            let due = self.state.lock().dispatcher.take_due(now);
            // Only the replica owning the state notifies; the others keep time.
            if self.saver.owns() || self.saver.failing_open() {
                for flush in due {
                    tokio::spawn(self.clone().deliver(flush));
                }
            }
            if now - last_gc > chrono::Duration::from_std(GC_INTERVAL).unwrap_or(chrono::Duration::MAX) {
                self.gc(now);
                last_gc = now;
            }
            let next = self.state.lock().dispatcher.next_flush();
            let wait = next
                .map(|n| (n - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(GC_INTERVAL)
                .min(GC_INTERVAL);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    fn gc(&self, now: DateTime<Utc>) {
        let mut st = self.state.lock();
        st.alerts.retain(|_, a| !a.resolved_at(now));
        st.silences.gc(now, DEFAULT_RETENTION);
        st.nflog.gc(now, DEFAULT_RETENTION);
    }

    /// One flush through the pipeline: mute, decide per integration from the log,
    /// deliver with retries until the group's next flush, log what was delivered.
    async fn deliver(self: Arc<Self>, flush: Flush) {
        let now = flush.at;
        let (plans, in_flight) = {
            let st = self.state.lock();
            let in_flight = st.pending.iter().any(|p| p.key.group_key == flush.key);
            (plan(&st, &flush, &self.external_url, now), in_flight)
        };
        let deadline = tokio::time::Instant::now() + flush.route.group_interval;
        // With a notification of the group still on its way, its resolved alerts stay.
        let mut delivered = !in_flight;
        for p in plans {
            let pending = Pending {
                key: p.key.clone(),
                entry: p.entry.clone(),
                group_labels: p.ctx.group_labels.clone(),
                idempotency_key: p.ctx.idempotency_key.clone(),
                at: now,
                alerts: p.send.clone(),
            };
            // Pending is committed before anything is sent: a replica that cannot
            // commit (it lost the state to another) sends nothing.
            {
                let mut st = self.state.lock();
                st.pending.push(pending.clone());
                st.sending.insert(pending.idempotency_key.clone());
            }
            match self.saver.save().await {
                Ok(()) => {}
                Err(e) if self.saver.failing_open() => {
                    tracing::warn!(tenant = %self.tenant, error = %e, "notifying without the state (fail-open)")
                }
                Err(e) => {
                    let mut st = self.state.lock();
                    st.pending.retain(|q| *q != pending);
                    st.sending.remove(&pending.idempotency_key);
                    drop(st);
                    tracing::warn!(tenant = %self.tenant, error = %e, "not notifying");
                    return;
                }
            }
            let sent = send_with_retries(&*p.integration, &p.ctx, &p.send, deadline).await;
            if let Err(e) = &sent {
                delivered = false;
                tracing::warn!(tenant = %self.tenant, receiver = %p.ctx.receiver, integration = p.integration.name(), error = %e, "notify failed");
            }
            self.settle(&pending, sent.is_ok()).await;
        }
        if delivered {
            self.state.lock().dispatcher.flushed(&flush);
            self.save_logged().await;
        }
    }

    /// A pending notification is done: logged if it was delivered, dropped either way.
    async fn settle(&self, pending: &Pending, delivered: bool) {
        {
            let mut st = self.state.lock();
            st.pending.retain(|q| q != pending);
            st.sending.remove(&pending.idempotency_key);
            if delivered {
                st.nflog.log(pending.key.clone(), pending.entry.clone());
            }
        }
        self.save_logged().await;
    }

    async fn save_logged(&self) {
        if let Err(e) = self.saver.save().await {
            tracing::warn!(tenant = %self.tenant, error = %e, "saving the notification log");
        }
    }

    /// Sends a notification found pending in committed state again, with the same
    /// idempotency key, and logs it.
    async fn redeliver(self: Arc<Self>, p: Pending) {
        // Only the owner sends, even what was pending: another replica leaves it for
        // whoever owns the state next.
        if !self.saver.owns() || !self.state.lock().sending.insert(p.idempotency_key.clone()) {
            return;
        }
        let integration = self.state.lock().integrations.get(&p.key.receiver).and_then(|list| {
            list.iter()
                .find(|(i, integ)| *i == p.key.index && integ.name() == p.key.integration)
                .map(|(_, integ)| integ.clone())
        });
        let Some(integration) = integration else {
            return self.settle(&p, false).await;
        };
        let ctx = Context {
            group_key: p.key.group_key.clone(),
            receiver: p.key.receiver.clone(),
            group_labels: p.group_labels.clone(),
            external_url: self.external_url.clone(),
            idempotency_key: p.idempotency_key.clone(),
            now: p.at,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let sent = send_with_retries(&*integration, &ctx, &p.alerts, deadline).await;
        self.settle(&p, sent.is_ok()).await;
    }
}

struct Plan {
    key: NflogKey,
    entry: Entry,
    integration: Arc<dyn Integration>,
    ctx: Context,
    send: Vec<Alert>,
}

fn status_in(st: &State, alert: &Alert, now: DateTime<Utc>) -> AlertStatus {
    AlertStatus {
        silenced_by: st.silences.muting(&alert.labels, now),
        inhibited_by: st
            .inhibitor
            .inhibited_by(&alert.labels, st.alerts.values(), now)
            .map(|fp| vec![fp.to_string()])
            .unwrap_or_default(),
        muted_by: Vec::new(),
    }
}

fn plan(st: &State, flush: &Flush, external_url: &str, now: DateTime<Utc>) -> Vec<Plan> {
    if !flush.route.muted_by(&st.config, now).is_empty() {
        return Vec::new();
    }
    let alerts: Vec<Alert> = flush
        .alerts
        .iter()
        .filter(|a| status_in(st, a, now).state() == "active")
        .cloned()
        .collect();
    let firing = alerts
        .iter()
        .filter(|a| !a.resolved_at(now))
        .map(|a| a.fingerprint().0)
        .collect();
    let resolved = alerts
        .iter()
        .filter(|a| a.resolved_at(now))
        .map(|a| a.fingerprint().0)
        .collect();
    let receiver = &flush.route.receiver;
    let mut out = Vec::new();
    for (index, integration) in st.integrations.get(receiver).into_iter().flatten() {
        let key = NflogKey {
            group_key: flush.key.clone(),
            receiver: receiver.clone(),
            integration: integration.name().to_string(),
            index: *index,
        };
        // A notification of this group to this integration still on its way (here, or
        // taken over from another replica) is not followed by another until it lands.
        if st.pending.iter().any(|p| p.key == key) {
            continue;
        }
        let last = st.nflog.get(&key);
        if !needs_update(
            last,
            &firing,
            &resolved,
            integration.send_resolved(),
            flush.route.repeat_interval,
            now,
        ) {
            continue;
        }
        let send: Vec<Alert> = if integration.send_resolved() {
            alerts.clone()
        } else {
            alerts.iter().filter(|a| !a.resolved_at(now)).cloned().collect()
        };
        let entry = Entry {
            firing: firing.clone(),
            resolved: resolved.clone(),
            timestamp: now,
        };
        let ctx = Context {
            group_key: flush.key.clone(),
            receiver: receiver.clone(),
            group_labels: flush.id.labels.clone(),
            external_url: external_url.to_string(),
            // The group, the receiver and the flush: one key per notification, the same
            // for whoever sends it, in characters any header or field takes.
            idempotency_key: format!(
                "{:016x}",
                pyrite_members::key_hash(&format!("{}/{}/{}", flush.key, receiver, now.timestamp_millis()))
            ),
            now,
        };
        // An empty `send` tells the integration nothing, but the log still moves on.
        out.push(Plan {
            key,
            entry,
            integration: integration.clone(),
            ctx,
            send,
        });
    }
    out
}

async fn send_with_retries(
    integration: &dyn Integration,
    ctx: &Context,
    alerts: &[Alert],
    deadline: tokio::time::Instant,
) -> Result<(), notify::NotifyError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        match integration.notify(ctx, alerts).await {
            Ok(()) => return Ok(()),
            Err(e) if !e.retry || tokio::time::Instant::now() + backoff >= deadline => return Err(e),
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn validate(a: &Alert) -> Result<(), String> {
    if a.labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    for name in a.labels.keys() {
        if name.is_empty()
            || !name
                .chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
        {
            return Err(format!("invalid label set: invalid name {name:?}"));
        }
    }
    if a.ends_at < a.starts_at {
        return Err("start time must be before end time".into());
    }
    Ok(())
}
