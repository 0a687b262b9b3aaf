//! Every tenant's alertmanager in this process, made on a tenant's first write (or from
//! committed state) under the configuration file's settings, each with its own alerts,
//! silences and log — and their state, committed as one record of the metadata group's
//! `alertmanager` pool by the replica that owns it, and mirrored by the others whenever
//! that record changes.
//!
//! The invariant: one tenant's requests reach only that tenant's [`Instance`]; a read
//! makes no tenant (one without an instance reads as a fresh one would); and state is
//! committed only by the pool's owner of the record, each commit holding every change
//! made before it was asked for.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use pyrite_members::ownership::Ownership;
use pyrite_members::{key_hash, Record, RecordError, Records};

use crate::config::Config;
use crate::instance::Instance;
use crate::state::{SaveError, Saver, Snapshot, TenantConfig, Volatile, KEY, POOL};

/// Where the state is committed, and who owns it.
pub struct Replication {
    pub records: Arc<dyn Records>,
    pub ownership: Arc<dyn Ownership>,
    /// Cut off from the metadata group this long, a replica notifies without it;
    /// zero: never (it stays silent until it is back).
    pub fail_open_after: std::time::Duration,
}

/// How long a read or a commit of the state may take.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// The name a tenant's own configuration is written under, in its directory.
const CONFIG_FILE: &str = "alertmanager.yml";

/// Why a tenant's configuration was not taken.
#[derive(Debug, thiserror::Error)]
pub enum TenantConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Save(SaveError),
}

pub struct Alertmanagers {
    config: RwLock<Arc<Config>>,
    instances: Mutex<BTreeMap<String, Arc<Instance>>>,
    external_url: String,
    started: DateTime<Utc>,
    /// This replica's name, as the status API shows it.
    peer_name: String,
    runtime: tokio::runtime::Handle,
    replication: Option<Replication>,
    /// Where tenants' own configurations are written to be read.
    dir: std::path::PathBuf,
    saver: Arc<dyn Saver>,
    saving: tokio::sync::Mutex<i64>,
    requested: AtomicU64,
    committed: AtomicU64,
    /// When the metadata group last answered a read or a write (Unix ms).
    last_contact: std::sync::atomic::AtomicI64,
    /// The instant of the record last mirrored, with `requested` as it was then: while
    /// neither changes, mirroring it again would rebuild the same state.
    applied: Mutex<Option<(i64, u64)>>,
    /// The tenure ([`Ownership::tenure`]) under which this replica last took the
    /// committed state over: it owns the state only while its tenure is still that one.
    /// Cut off and back, or handed the state again, it holds nothing of what another
    /// owner committed meanwhile, so it commits and notifies nothing until it has read
    /// the record again.
    adopted: Mutex<Option<u64>>,
    /// The instant of the record this replica holds the state of as its owner (its own
    /// last commit, or the record it restored or took over); none while it follows.
    held: Mutex<Option<i64>>,
}

struct RecordSaver(Weak<Alertmanagers>);

#[async_trait::async_trait]
impl Saver for RecordSaver {
    async fn save(&self) -> Result<(), SaveError> {
        match self.0.upgrade() {
            Some(ams) => ams.save().await,
            None => Err(SaveError::Unavailable("shutting down".into())),
        }
    }

    fn owns(&self) -> bool {
        self.0.upgrade().is_some_and(|a| a.owns())
    }

    fn failing_open(&self) -> bool {
        self.0.upgrade().is_some_and(|a| a.failing_open())
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn parse(record: &Record) -> Result<Snapshot, String> {
    serde_json::from_str(&record.value).map_err(|e| format!("the alertmanager record does not parse: {e}"))
}

impl Alertmanagers {
    /// Needs a tokio runtime: each tenant's delivery loop runs on it. Without
    /// `replication`, state lives as long as the process.
    pub fn new(
        config: Config,
        external_url: &str,
        peer_name: &str,
        dir: std::path::PathBuf,
        replication: Option<Replication>,
    ) -> Arc<Alertmanagers> {
        Arc::new_cyclic(|me| {
            let saver: Arc<dyn Saver> = match replication {
                Some(_) => Arc::new(RecordSaver(me.clone())),
                None => Arc::new(Volatile),
            };
            Alertmanagers {
                config: RwLock::new(Arc::new(config)),
                instances: Mutex::new(BTreeMap::new()),
                external_url: external_url.trim_end_matches('/').to_string(),
                started: Utc::now(),
                peer_name: peer_name.to_string(),
                runtime: tokio::runtime::Handle::current(),
                replication,
                dir,
                saver,
                saving: tokio::sync::Mutex::new(0),
                requested: AtomicU64::new(0),
                committed: AtomicU64::new(0),
                last_contact: std::sync::atomic::AtomicI64::new(now_ms()),
                applied: Mutex::new(None),
                adopted: Mutex::new(None),
                held: Mutex::new(None),
            }
        })
    }

    /// The tenant's alertmanager, if it has one: what a read asks for. A tenant without
    /// one reads as a fresh alertmanager under [`Alertmanagers::config`] would, and
    /// reading makes none.
    pub fn existing(&self, tenant: &str) -> Option<Arc<Instance>> {
        self.instances.lock().get(tenant).cloned()
    }

    /// The tenants with an alertmanager here.
    pub fn tenants(&self) -> Vec<String> {
        self.instances.lock().keys().cloned().collect()
    }

    /// The tenant's alertmanager, started on first use: what a write asks for.
    pub fn instance(&self, tenant: &str) -> Result<Arc<Instance>, String> {
        let mut instances = self.instances.lock();
        if let Some(i) = instances.get(tenant) {
            return Ok(i.clone());
        }
        let instance = Instance::new(
            tenant,
            self.config.read().clone(),
            &self.external_url,
            self.saver.clone(),
        )?;
        self.runtime.spawn(instance.clone().run());
        instances.insert(tenant.to_string(), instance.clone());
        Ok(instance)
    }

    /// Takes a new configuration file's contents for every tenant.
    pub fn reload(&self, config: Config) -> Result<(), String> {
        let config = Arc::new(config);
        let now = Utc::now();
        for i in self.instances.lock().values().filter(|i| i.custom().is_none()) {
            i.apply_config(config.clone(), now)?;
        }
        *self.config.write() = config;
        Ok(())
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().clone()
    }

    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    pub fn peer_name(&self) -> &str {
        &self.peer_name
    }

    /// Whether this replica owns the state now and holds it as last committed (always,
    /// without replication).
    pub fn owns(&self) -> bool {
        self.replication.is_none() || self.tenure().is_some_and(|t| *self.adopted.lock() == Some(t))
    }

    /// This replica's tenure as the state's owner now; `None` when it does not own it.
    fn tenure(&self) -> Option<u64> {
        let r = self.replication.as_ref()?;
        r.ownership.tenure(key_hash(KEY), now_ms())
    }

    /// Whether fail-open is on and the metadata group has not answered for longer than
    /// it allows.
    pub fn failing_open(&self) -> bool {
        let Some(r) = &self.replication else { return false };
        let after = r.fail_open_after.as_millis() as i64;
        after > 0 && now_ms() - self.last_contact.load(Ordering::SeqCst) > after
    }

    fn contact(&self) {
        self.last_contact.store(now_ms(), Ordering::SeqCst);
    }

    /// Commits every tenant's state as it is now, unless a commit asked for later
    /// already holds it.
    async fn save(&self) -> Result<(), SaveError> {
        let Some(r) = &self.replication else { return Ok(()) };
        if self.tenure().is_some() && !self.owns() {
            return Err(SaveError::NotOwner("the committed state is being taken over".into()));
        }
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut last_instant = self.saving.lock().await;
        if self.committed.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        let generation = self.requested.load(Ordering::SeqCst);
        let value = serde_json::to_string(&self.snapshot()).map_err(|e| SaveError::Unavailable(e.to_string()))?;
        let instant = now_ms().max(*last_instant + 1);
        let member = r.ownership.member().to_string();
        let put = tokio::time::timeout(DEADLINE, r.records.put(POOL, KEY, &member, instant, value));
        match put
            .await
            .unwrap_or_else(|_| Err(RecordError::Unavailable("no answer in time".into())))
        {
            Ok(()) => {
                self.contact();
                *last_instant = instant;
                *self.held.lock() = Some(instant);
                self.committed.store(generation, Ordering::SeqCst);
                Ok(())
            }
            Err(RecordError::Refused(e)) => Err(SaveError::NotOwner(e)),
            Err(RecordError::Unavailable(e)) => Err(SaveError::Unavailable(e)),
        }
    }

    /// Every tenant's state as it is now, as it is committed.
    fn snapshot(&self) -> Snapshot {
        let instances: Vec<Arc<Instance>> = self.instances.lock().values().cloned().collect();
        Snapshot {
            tenants: instances
                .iter()
                .map(|i| (i.tenant().to_string(), i.snapshot()))
                .collect(),
        }
    }

    /// The committed record, as it is stored.
    async fn record(&self) -> Result<Option<Record>, String> {
        let Some(r) = &self.replication else { return Ok(None) };
        let got = tokio::time::timeout(DEADLINE, r.records.get(POOL, KEY))
            .await
            .map_err(|_| "no answer in time".to_string())?
            .map_err(|e| e.to_string())?;
        self.contact();
        Ok(got)
    }

    async fn read(&self) -> Result<Option<(i64, Snapshot)>, String> {
        let Some(record) = self.record().await? else {
            return Ok(None);
        };
        Ok(Some((record.instant_ms, parse(&record)?)))
    }

    /// Waits until this replica has heard of the pool (its first heartbeat answered),
    /// at most `timeout`, so that it knows who owns the state before it serves.
    pub async fn wait_for_pool(&self, timeout: std::time::Duration) {
        let Some(r) = &self.replication else { return };
        let deadline = tokio::time::Instant::now() + timeout;
        while r.ownership.owner(key_hash(KEY), now_ms()).node.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Takes the committed state at start: every tenant in it gets its alertmanager
    /// back, with its alerts, silences, log and timers; the owner sends what was
    /// pending, a replica that does not own the state follows it.
    pub async fn restore(&self) -> Result<usize, String> {
        let tenure = self.tenure();
        let Some((instant, snapshot)) = self.read().await? else {
            *self.adopted.lock() = tenure;
            return Ok(0);
        };
        *self.saving.lock().await = instant;
        // Adopted before the pending notifications are sent again: only an owner sends.
        *self.held.lock() = tenure.map(|_| instant);
        *self.adopted.lock() = tenure;
        let now = Utc::now();
        let n = snapshot.tenants.len();
        for (tenant, state) in snapshot.tenants {
            let i = self.instance(&tenant)?;
            self.adopt_config(&i, &state.config);
            if tenure.is_some() {
                i.restore(state, now);
            } else {
                i.follow(state, now);
            }
        }
        Ok(n)
    }

    /// While another replica owns the state, follows what it commits, every `period`;
    /// on becoming the owner, takes the last committed state over, pending
    /// notifications included.
    pub async fn follow(self: Arc<Self>, period: std::time::Duration) {
        let mut owned = self.owns();
        loop {
            tokio::time::sleep(period).await;
            owned = self.follow_once(owned).await;
        }
    }

    /// One period of [`Alertmanagers::follow`], `owned` telling whether this replica
    /// owned the state at the last one; answers whether it owns it now, as far as this
    /// period got.
    async fn follow_once(&self, owned: bool) -> bool {
        let tenure = self.tenure();
        if tenure.is_none() && self.owner_unknown() {
            // Cut off from the pool, this replica cannot tell who owns the state: it
            // keeps what it holds. Back under the same tenure, nobody else owned it
            // meanwhile, and it goes on; under a new one, it takes the record over.
            return owned;
        }
        let owns = tenure.is_some();
        if self.owns() && owned {
            // Reading keeps the owner's own idea of its contact with the group fresh.
            if self.replication.as_ref().is_some_and(|r| !r.fail_open_after.is_zero()) {
                let _ = self.record().await;
            }
            return true;
        }
        let applied = match self.record().await {
            Ok(Some(record)) => {
                *self.saving.lock().await = record.instant_ms;
                // The record this replica committed, restored or took over last, and
                // nothing since (a record's instant only moves forward): what it holds
                // is at least as new.
                let own_last = *self.held.lock() == Some(record.instant_ms);
                if owns && own_last {
                    Ok(())
                } else {
                    // Adopted before taking over, which sends what was pending again:
                    // only an owner sends.
                    *self.adopted.lock() = tenure;
                    *self.held.lock() = owns.then_some(record.instant_ms);
                    let applied = self.apply(&record, owns);
                    if applied.is_err() {
                        *self.adopted.lock() = None;
                        *self.held.lock() = None;
                    }
                    applied
                }
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        match applied {
            Ok(()) => {
                *self.adopted.lock() = tenure;
                owns
            }
            Err(e) => {
                tracing::warn!(error = %e, "following the alertmanager state");
                owned
            }
        }
    }

    /// Reads the committed state once more now, as a follower (after a write this
    /// replica forwarded to the owner).
    pub async fn refresh(&self) {
        if self.owns() {
            return;
        }
        if let Ok(Some(record)) = self.record().await {
            if let Err(e) = self.apply(&record, false) {
                tracing::warn!(error = %e, "following the alertmanager state");
            }
        }
    }

    /// Mirrors a committed record into every tenant it holds; or, with `take_over`,
    /// takes the state it holds over, pending notifications included. A follower skips
    /// a record it already mirrored, unless this replica changed something since (a
    /// write it could not commit, a notification sent failing open): the rebuild would
    /// give the same state, and a large state costs to parse every period.
    fn apply(&self, record: &Record, take_over: bool) -> Result<(), String> {
        let seen = (record.instant_ms, self.requested.load(Ordering::SeqCst));
        let mut applied = self.applied.lock();
        if !take_over && *applied == Some(seen) {
            return Ok(());
        }
        let snapshot = parse(record)?;
        let now = Utc::now();
        for (tenant, state) in snapshot.tenants {
            let Ok(i) = self.instance(&tenant) else { continue };
            self.adopt_config(&i, &state.config);
            if take_over {
                i.take_over(state, now);
            } else {
                i.follow(state, now);
            }
        }
        *applied = Some(seen);
        Ok(())
    }

    /// Makes the tenant's own configuration into files under this process's directory
    /// (its templates beside its `alertmanager.yml`) and reads it as a file is read.
    fn load_tenant(&self, tenant: &str, tc: &TenantConfig) -> Result<Config, String> {
        let dir = self.dir.join(tenant);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        for (name, text) in &tc.template_files {
            if name.is_empty() || name.contains(['/', '\\']) || name == ".." || name == "." || name == CONFIG_FILE {
                return Err(format!("invalid template name {name:?}"));
            }
            std::fs::write(dir.join(name), text).map_err(|e| format!("writing template {name}: {e}"))?;
        }
        let file = dir.join(CONFIG_FILE);
        std::fs::write(&file, &tc.alertmanager_config).map_err(|e| format!("writing {}: {e}", file.display()))?;
        Config::load_file(&file).map_err(|e| e.to_string())
    }

    /// Applies committed state's configuration to an instance, when it differs.
    fn adopt_config(&self, i: &Instance, custom: &Option<TenantConfig>) {
        if i.custom() == *custom {
            return;
        }
        let config = match custom {
            Some(tc) => match self.load_tenant(i.tenant(), tc) {
                Ok(c) => c,
                Err(e) => {
                    return tracing::warn!(tenant = i.tenant(), error = %e, "a tenant's committed configuration does not load")
                }
            },
            None => (*self.config()).clone(),
        };
        if let Err(e) = i.set_custom(custom.clone(), Arc::new(config), Utc::now()) {
            tracing::warn!(tenant = i.tenant(), error = %e, "applying a tenant's configuration");
        }
    }

    /// The tenant's own configuration, if it has one (a tenant without an alertmanager
    /// has none, and asking makes none).
    pub fn tenant_config(&self, tenant: &str) -> Option<TenantConfig> {
        self.existing(tenant).and_then(|i| i.custom())
    }

    /// Sets (or, with none, removes) the tenant's own configuration, and answers once
    /// it is committed.
    pub async fn set_tenant_config(&self, tenant: &str, custom: Option<TenantConfig>) -> Result<(), TenantConfigError> {
        let config = match &custom {
            Some(tc) => self.load_tenant(tenant, tc).map_err(TenantConfigError::Invalid)?,
            None => (*self.config()).clone(),
        };
        let i = self.instance(tenant).map_err(TenantConfigError::Invalid)?;
        i.set_custom(custom, Arc::new(config), Utc::now())
            .map_err(TenantConfigError::Invalid)?;
        i.save().await.map_err(TenantConfigError::Save)
    }

    /// The replicas of the pool this one knows of, name and address; itself alone
    /// without replication.
    pub fn peers(&self) -> Vec<(String, String)> {
        match &self.replication {
            Some(r) => r.ownership.members(),
            None => vec![(self.peer_name.clone(), self.peer_name.clone())],
        }
    }

    /// The HTTP address of the replica owning the state, when another one does.
    /// Whether this replica knows nothing of who owns the state now (its view of the
    /// pool withdrawn, or the pool empty).
    fn owner_unknown(&self) -> bool {
        self.replication
            .as_ref()
            .is_some_and(|r| r.ownership.owner(key_hash(KEY), now_ms()).node.is_empty())
    }

    pub fn owner_elsewhere(&self) -> Option<String> {
        let r = self.replication.as_ref()?;
        let owner = r.ownership.owner(key_hash(KEY), now_ms());
        (!owner.mine && !owner.node.is_empty()).then_some(owner.node)
    }
}

/// A metadata group and a pool in memory, for tests: one record store, and ownership
/// that a test hands over at will.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::Arc;

    use parking_lot::Mutex;
    use pyrite_members::ownership::{Owner, Ownership};
    use pyrite_members::{Record, RecordError, Records};
    use tokio::sync::watch;

    use super::{Alertmanagers, Replication};
    use crate::config::Config;
    use crate::FALLBACK_CONFIG;

    #[derive(Default)]
    pub struct MemRecords {
        pub record: Mutex<Option<Record>>,
        /// Commits taken.
        pub puts: AtomicUsize,
        /// Whether commits are taken (the writer owns the record).
        pub taking: AtomicBool,
    }

    #[async_trait::async_trait]
    impl Records for MemRecords {
        async fn put(&self, _: &str, _: &str, member: &str, instant_ms: i64, value: String) -> Result<(), RecordError> {
            if !self.taking.load(Ordering::SeqCst) {
                return Err(RecordError::Refused(format!("not {member}'s")));
            }
            self.puts.fetch_add(1, Ordering::SeqCst);
            *self.record.lock() = Some(Record {
                instant_ms,
                member: member.to_string(),
                value,
            });
            Ok(())
        }

        async fn forget(&self, _: &str, _: &str, _: &str) -> Result<(), RecordError> {
            *self.record.lock() = None;
            Ok(())
        }

        async fn get(&self, _: &str, _: &str) -> Result<Option<Record>, RecordError> {
            Ok(self.record.lock().clone())
        }
    }

    pub struct Switch {
        pub mine: AtomicBool,
        /// The view of the pool withdrawn: nobody known to own anything.
        pub lapsed: AtomicBool,
        /// The tenure while `mine`: a test starts a new one as if ownership lapsed and
        /// came back.
        pub tenure: AtomicU64,
        changes: watch::Sender<u64>,
    }

    impl Ownership for Switch {
        fn owner(&self, _: u64, _: i64) -> Owner {
            let lapsed = self.lapsed.load(Ordering::SeqCst);
            let mine = self.mine.load(Ordering::SeqCst) && !lapsed;
            Owner {
                mine,
                node: match (lapsed, mine) {
                    (true, _) => String::new(),
                    (false, true) => "me".into(),
                    (false, false) => "other".into(),
                },
            }
        }

        fn tenure(&self, _: u64, _: i64) -> Option<u64> {
            (self.mine.load(Ordering::SeqCst) && !self.lapsed.load(Ordering::SeqCst))
                .then(|| self.tenure.load(Ordering::SeqCst))
        }

        fn changes(&self) -> watch::Receiver<u64> {
            self.changes.subscribe()
        }

        fn member(&self) -> &str {
            "me"
        }
    }

    /// Alertmanagers on the fallback configuration, replicated to `records`, owning the
    /// state when `mine` says so, started as a process starts them (the state restored).
    pub async fn replicated(dir: &std::path::Path, mine: bool) -> (Arc<Alertmanagers>, Arc<MemRecords>, Arc<Switch>) {
        let records = Arc::new(MemRecords {
            taking: AtomicBool::new(mine),
            ..MemRecords::default()
        });
        let switch = Arc::new(Switch {
            mine: AtomicBool::new(mine),
            lapsed: AtomicBool::new(false),
            tenure: AtomicU64::new(1),
            changes: watch::channel(0).0,
        });
        let ams = Alertmanagers::new(
            Config::parse(FALLBACK_CONFIG).unwrap(),
            "http://am",
            "me",
            dir.to_path_buf(),
            Some(Replication {
                records: records.clone(),
                ownership: switch.clone(),
                fail_open_after: std::time::Duration::ZERO,
            }),
        );
        ams.restore().await.unwrap();
        (ams, records, switch)
    }
}

#[cfg(test)]
#[path = "tenants_tests.rs"]
mod tests;
