//! Every tenant's alertmanager in this process: made on a tenant's first request under
//! the configuration file's settings, each with its own alerts, silences and log.
//!
//! The invariant: one tenant's requests reach only that tenant's [`Instance`].

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};

use crate::config::Config;
use crate::instance::Instance;

pub struct Alertmanagers {
    config: RwLock<Arc<Config>>,
    instances: Mutex<BTreeMap<String, Arc<Instance>>>,
    external_url: String,
    started: DateTime<Utc>,
    /// This replica's name, as the status API shows it.
    peer_name: String,
    runtime: tokio::runtime::Handle,
}

impl Alertmanagers {
    /// Needs a tokio runtime: each tenant's delivery loop runs on it.
    pub fn new(config: Config, external_url: &str, peer_name: &str) -> Arc<Alertmanagers> {
        Arc::new(Alertmanagers {
            config: RwLock::new(Arc::new(config)),
            instances: Mutex::new(BTreeMap::new()),
            external_url: external_url.trim_end_matches('/').to_string(),
            started: Utc::now(),
            peer_name: peer_name.to_string(),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// The tenant's alertmanager, started on first use.
    pub fn instance(&self, tenant: &str) -> Result<Arc<Instance>, String> {
        let mut instances = self.instances.lock();
        if let Some(i) = instances.get(tenant) {
            return Ok(i.clone());
        }
        let instance = Instance::new(tenant, self.config.read().clone(), &self.external_url)?;
        self.runtime.spawn(instance.clone().run());
        instances.insert(tenant.to_string(), instance.clone());
        Ok(instance)
    }

    /// Takes a new configuration file's contents for every tenant.
    pub fn reload(&self, config: Config) -> Result<(), String> {
        let config = Arc::new(config);
        let now = Utc::now();
        for i in self.instances.lock().values() {
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
}
