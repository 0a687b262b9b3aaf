//! Every tenant's alertmanager in this process, made on a tenant's first request (or
//! from committed state at start) under the configuration file's settings, each with
//! its own alerts, silences and log — and their state, committed as one record of the
//! metadata group's `alertmanager` pool by the replica that owns it.
//!
//! The invariant: one tenant's requests reach only that tenant's [`Instance`]; and
//! state is committed only by the pool's owner of the record, each commit holding every
//! change made before it was asked for.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use pyrite_members::ownership::Ownership;
use pyrite_members::{key_hash, RecordError, Records};

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
            }
        })
    }

    /// The tenant's alertmanager, started on first use.
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

    /// Whether this replica owns the state now (always, without replication).
    pub fn owns(&self) -> bool {
        self.replication
            .as_ref()
            .is_none_or(|r| r.ownership.owner(key_hash(KEY), now_ms()).mine)
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
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut last_instant = self.saving.lock().await;
        if self.committed.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        let generation = self.requested.load(Ordering::SeqCst);
        let instances: Vec<Arc<Instance>> = self.instances.lock().values().cloned().collect();
        let snapshot = Snapshot {
            tenants: instances
                .iter()
                .map(|i| (i.tenant().to_string(), i.snapshot()))
                .collect(),
        };
        let value = serde_json::to_string(&snapshot).map_err(|e| SaveError::Unavailable(e.to_string()))?;
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
                self.committed.store(generation, Ordering::SeqCst);
                Ok(())
            }
            Err(RecordError::Refused(e)) => Err(SaveError::NotOwner(e)),
            Err(RecordError::Unavailable(e)) => Err(SaveError::Unavailable(e)),
        }
    }

    async fn read(&self) -> Result<Option<(i64, Snapshot)>, String> {
        let Some(r) = &self.replication else { return Ok(None) };
        let got = tokio::time::timeout(DEADLINE, r.records.get(POOL, KEY))
            .await
            .map_err(|_| "no answer in time".to_string())?
            .map_err(|e| e.to_string())?;
        self.contact();
        let Some(record) = got else {
            return Ok(None);
        };
        let snapshot =
            serde_json::from_str(&record.value).map_err(|e| format!("the alertmanager record does not parse: {e}"))?;
        Ok(Some((record.instant_ms, snapshot)))
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
    /// back, with its alerts, silences, log and timers, and sends what was pending.
    pub async fn restore(&self) -> Result<usize, String> {
        let Some((instant, snapshot)) = self.read().await? else {
            return Ok(0);
        };
        *self.saving.lock().await = instant;
        let now = Utc::now();
        let n = snapshot.tenants.len();
        for (tenant, state) in snapshot.tenants {
            let i = self.instance(&tenant)?;
            self.adopt_config(&i, &state.config);
            i.restore(state, now);
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
            let owns = self.owns();
            if owns && owned {
                // Reading keeps the owner's own idea of its contact with the group fresh.
                if self.replication.as_ref().is_some_and(|r| !r.fail_open_after.is_zero()) {
                    let _ = self.read().await;
                }
                continue;
            }
            match self.read().await {
                Ok(Some((instant, snapshot))) => {
                    *self.saving.lock().await = instant;
                    let now = Utc::now();
                    for (tenant, state) in snapshot.tenants {
                        let Ok(i) = self.instance(&tenant) else { continue };
                        self.adopt_config(&i, &state.config);
                        if owns {
                            i.take_over(state, now);
                        } else {
                            i.follow(state, now);
                        }
                    }
                    owned = owns;
                }
                Ok(None) => owned = owns,
                Err(e) => tracing::warn!(error = %e, "following the alertmanager state"),
            }
        }
    }

    /// Reads the committed state once more now, as a follower (after a write this
    /// replica forwarded to the owner).
    pub async fn refresh(&self) {
        if self.owns() {
            return;
        }
        if let Ok(Some((_, snapshot))) = self.read().await {
            let now = Utc::now();
            for (tenant, state) in snapshot.tenants {
                if let Ok(i) = self.instance(&tenant) {
                    self.adopt_config(&i, &state.config);
                    i.follow(state, now);
                }
            }
        }
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

    /// The tenant's own configuration, if it has one.
    pub fn tenant_config(&self, tenant: &str) -> Result<Option<TenantConfig>, String> {
        Ok(self.instance(tenant)?.custom())
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
    pub fn owner_elsewhere(&self) -> Option<String> {
        let r = self.replication.as_ref()?;
        let owner = r.ownership.owner(key_hash(KEY), now_ms());
        (!owner.mine && !owner.node.is_empty()).then_some(owner.node)
    }
}
