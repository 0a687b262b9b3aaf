//! `consul_sd_configs`: targets from a Consul catalog, followed with Consul's blocking
//! queries as Prometheus does. The service list (`/v1/catalog/services`) is watched
//! unless the configuration names its services and sets neither `tags` nor `filter`;
//! each watched service's instances come from `/v1/health/service/<name>`, at most once
//! per `refresh_interval` each. The datacenter, when not configured, is the agent's
//! (`/v1/agent/self`).
//!
//! One group per service, sourced by its name, labelled `__meta_consul_service` and
//! `__meta_consul_dc`; each instance's target has `__address__` (the service address,
//! or else the node address, with the service port) and the documented
//! `__meta_consul_*` labels. Labels that would be empty (no service address, no
//! namespace outside Consul Enterprise) are left out, as every later stage reads an
//! empty label as absent.
//!
//! The invariant: a service's group is replaced only by a whole answer with a new index;
//! a failed query keeps it (and is retried after 15 seconds), and a service that leaves
//! the catalog, or stops matching the configuration, is retracted with an empty group
//! only after its watch has stopped, so no stale answer can follow the retraction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use pyrite_config::{Duration, Secret};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::dns::join_host_port;
use crate::http::{client, Client};
use crate::sanitize_label_name as sanitize;
use crate::{Discoverer, DiscoveryError, Env, LabelSet, SdConfig, TargetGroup, Updates};

/// How long Consul may hold a blocking query, as Prometheus asks.
const WATCH_TIMEOUT: StdDuration = StdDuration::from_secs(120);
/// The deadline of one request: the blocking time and a margin for the answer.
const REQUEST_DEADLINE: StdDuration = StdDuration::from_secs(120 + 15);
/// How long to wait after a failed query.
const RETRY_INTERVAL: StdDuration = StdDuration::from_secs(15);

pyrite_http_client::with_http_client_config! {
    /// One entry of `consul_sd_configs`, with the HTTP client options inline.
    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct ConsulSdConfig {
        #[serde(default = "default_server")]
        pub server: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub path_prefix: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub token: Option<Secret>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub datacenter: String,
        /// Consul Enterprise only.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub namespace: String,
        /// Consul Enterprise only.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub partition: String,
        #[serde(default = "default_tag_separator")]
        pub tag_separator: String,
        #[serde(default = "default_scheme")]
        pub scheme: String,
        /// Prometheus 2's spelling of `basic_auth`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub username: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub password: Option<Secret>,
        #[serde(default = "default_allow_stale")]
        pub allow_stale: bool,
        #[serde(default = "default_refresh")]
        pub refresh_interval: Duration,
        /// Services to watch; all of them when empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub services: Vec<String>,
        /// Tags an instance must all have.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub tags: Vec<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub node_meta: BTreeMap<String, String>,
        /// A filter expression for the catalog's service list.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub filter: String,
        /// A filter expression for each service's instances.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub health_filter: String,
    }
}

fn default_server() -> String {
    "localhost:8500".into()
}
fn default_tag_separator() -> String {
    ",".into()
}
fn default_scheme() -> String {
    "http".into()
}
fn default_allow_stale() -> bool {
    true
}
fn default_refresh() -> Duration {
    Duration(StdDuration::from_secs(30))
}

impl ConsulSdConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.server.trim().is_empty() {
            return Err("consul SD configuration requires a server address".into());
        }
        if (!self.username.is_empty() || self.password.is_some()) && self.basic_auth.is_some() {
            return Err(
                "at most one of consul SD configuration username and password and basic auth can be configured".into(),
            );
        }
        if self.token.as_ref().is_some_and(|t| !t.is_empty()) && (self.authorization.is_some() || self.oauth2.is_some())
        {
            return Err("at most one of consul SD token, authorization, or oauth2 can be configured".into());
        }
        self.http_client_config().validate().map_err(|e| e.to_string())
    }

    /// Whether the service list must be watched, rather than only the named services.
    fn watches_catalog(&self) -> bool {
        self.services.is_empty() || !self.tags.is_empty() || !self.filter.is_empty()
    }

    /// Whether a service of the catalog, with its tags, is one to watch.
    fn should_watch(&self, name: &str, tags: &[String]) -> bool {
        (self.services.is_empty() || self.services.iter().any(|s| s == name))
            && self.tags.iter().all(|t| tags.contains(t))
    }

    fn base_url(&self) -> Result<reqwest::Url, String> {
        let mut url = reqwest::Url::parse(&format!("{}://{}", self.scheme, self.server))
            .map_err(|e| format!("invalid Consul address {}://{}: {e}", self.scheme, self.server))?;
        if url.cannot_be_a_base() {
            return Err(format!("invalid Consul address {}://{}", self.scheme, self.server));
        }
        url.set_path(self.path_prefix.trim_end_matches('/'));
        Ok(url)
    }
}

impl SdConfig for ConsulSdConfig {
    fn name(&self) -> &'static str {
        "consul"
    }
    fn discoverer(&self, env: &Env) -> Result<Box<dyn Discoverer>, DiscoveryError> {
        self.validate().map_err(DiscoveryError::Config)?;
        let mut http = self.http_client_config();
        if !self.username.is_empty() || self.password.is_some() {
            http.basic_auth = Some(pyrite_http_client::BasicAuth {
                username: self.username.clone(),
                password: self.password.clone(),
                ..Default::default()
            });
        }
        let base = self.base_url().map_err(DiscoveryError::Config)?;
        Ok(Box::new(ConsulDiscoverer {
            api: Api {
                client: client(&http, env)?,
                base,
                token: self.token.clone().filter(|t| !t.is_empty()),
            },
            config: self.clone(),
        }))
    }
}

pub struct ConsulDiscoverer {
    api: Api,
    config: ConsulSdConfig,
}

/// The Consul HTTP API as this discoverer uses it.
struct Api {
    client: Client,
    base: reqwest::Url,
    token: Option<Secret>,
}

impl Api {
    /// `GET <base>/v1/<path…>?<query>`, decoded, with the answer's `X-Consul-Index`
    /// (0 when the endpoint does not block).
    async fn get<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, String)],
        blocking: bool,
    ) -> Result<(T, u64), String> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| "the Consul address cannot take a path".to_string())?
            .pop_if_empty()
            .push("v1")
            .extend(path);
        let mut request = self
            .client
            .get(url.as_str())
            .await?
            .query(query)
            .timeout(REQUEST_DEADLINE);
        if let Some(token) = &self.token {
            request = request.header("X-Consul-Token", token.expose());
        }
        let response = request.send().await.map_err(|e| e.without_url().to_string())?;
        let status = response.status();
        let index = response
            .headers()
            .get("X-Consul-Index")
            .map(|v| v.to_str().unwrap_or("").to_string());
        let body = response.bytes().await.map_err(|e| e.without_url().to_string())?;
        if !status.is_success() {
            return Err(format!(
                "unexpected response code: {status} ({})",
                String::from_utf8_lossy(&body).trim()
            ));
        }
        let index = match index {
            Some(i) => i
                .parse::<u64>()
                .map_err(|_| format!("failed to parse X-Consul-Index {i:?}"))?,
            None if blocking => return Err("no X-Consul-Index in the answer".into()),
            None => 0,
        };
        let value = serde_json::from_slice(&body).map_err(|e| format!("decoding the answer: {e}"))?;
        Ok((value, index))
    }
}

/// Aborts the tasks it holds when dropped, so aborting the discoverer stops its watches.
#[derive(Default)]
struct Watches(HashMap<String, JoinHandle<()>>);

impl Drop for Watches {
    fn drop(&mut self) {
        for handle in self.0.values() {
            handle.abort();
        }
    }
}

#[async_trait]
impl Discoverer for ConsulDiscoverer {
    async fn run(self: Box<Self>, updates: Updates) {
        let this = std::sync::Arc::new(*self);
        let dc = this.datacenter().await;
        let mut watches = Watches::default();
        if !this.config.watches_catalog() {
            for name in &this.config.services {
                let handle = tokio::spawn(this.clone().watch_service(name.clone(), dc.clone(), updates.clone()));
                watches.0.insert(name.clone(), handle);
            }
            updates.closed().await;
            return;
        }
        let mut index = 0u64;
        loop {
            let started = Instant::now();
            match this.services(index).await {
                Err(e) => {
                    tracing::error!(error = %e, "consul_sd: refreshing the service list");
                    tokio::time::sleep(RETRY_INTERVAL).await;
                    continue;
                }
                Ok((services, new_index)) if new_index != index || index == 0 => {
                    index = next_index(index, new_index);
                    let wanted: BTreeSet<&String> = services
                        .iter()
                        .filter(|(name, tags)| this.config.should_watch(name, tags))
                        .map(|(name, _)| name)
                        .collect();
                    let gone: Vec<String> = watches.0.keys().filter(|n| !wanted.contains(n)).cloned().collect();
                    for name in gone {
                        if let Some(handle) = watches.0.remove(&name) {
                            handle.abort();
                            let _ = handle.await;
                        }
                        let empty = TargetGroup {
                            source: name,
                            ..TargetGroup::default()
                        };
                        if updates.send(vec![empty]).await.is_err() {
                            return;
                        }
                    }
                    for name in wanted {
                        if !watches.0.contains_key(name) {
                            let handle =
                                tokio::spawn(this.clone().watch_service(name.clone(), dc.clone(), updates.clone()));
                            watches.0.insert(name.clone(), handle);
                        }
                    }
                    if watches.0.is_empty() && updates.send(Vec::new()).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
            }
            tokio::time::sleep_until(started + this.config.refresh_interval.0).await;
        }
    }
}

/// The index to block on next: Consul asks clients to start over when it goes backwards.
fn next_index(previous: u64, answered: u64) -> u64 {
    if answered < previous {
        0
    } else {
        answered.max(1)
    }
}

impl ConsulDiscoverer {
    /// The configured datacenter, or the agent's, asked until it answers.
    async fn datacenter(&self) -> String {
        if !self.config.datacenter.is_empty() {
            return self.config.datacenter.clone();
        }
        loop {
            match self.api.get::<serde_json::Value>(&["agent", "self"], &[], false).await {
                Ok((info, _)) => match info.pointer("/Config/Datacenter").and_then(|d| d.as_str()) {
                    Some(dc) => return dc.to_string(),
                    None => tracing::error!(
                        value = %info.pointer("/Config/Datacenter").unwrap_or(&serde_json::Value::Null),
                        "consul_sd: invalid value for Config.Datacenter"
                    ),
                },
                Err(e) => tracing::error!(error = %e, "consul_sd: retrieving the datacenter name"),
            }
            tokio::time::sleep(RETRY_INTERVAL).await;
        }
    }

    /// Parameters every catalog and health query carries.
    fn query(&self, index: u64) -> Vec<(&'static str, String)> {
        let c = &self.config;
        let mut q = Vec::new();
        if !c.datacenter.is_empty() {
            q.push(("dc", c.datacenter.clone()));
        }
        if !c.namespace.is_empty() {
            q.push(("ns", c.namespace.clone()));
        }
        if !c.partition.is_empty() {
            q.push(("partition", c.partition.clone()));
        }
        if c.allow_stale {
            q.push(("stale", String::new()));
        }
        if index > 0 {
            q.push(("index", index.to_string()));
        }
        q.push(("wait", format!("{}ms", WATCH_TIMEOUT.as_millis())));
        for (k, v) in &c.node_meta {
            q.push(("node-meta", format!("{k}:{v}")));
        }
        q
    }

    async fn services(&self, index: u64) -> Result<(BTreeMap<String, Vec<String>>, u64), String> {
        let mut q = self.query(index);
        if !self.config.filter.is_empty() {
            q.push(("filter", self.config.filter.clone()));
        }
        let (services, index): (BTreeMap<String, Nullable<Vec<String>>>, u64) =
            self.api.get(&["catalog", "services"], &q, true).await?;
        Ok((services.into_iter().map(|(k, v)| (k, v.0)).collect(), index))
    }

    /// Follows one service until aborted, sending its group whenever it changes.
    async fn watch_service(self: std::sync::Arc<Self>, name: String, dc: String, updates: Updates) {
        let mut index = 0u64;
        let mut last: Option<TargetGroup> = None;
        loop {
            let started = Instant::now();
            let mut q = self.query(index);
            for tag in &self.config.tags {
                q.push(("tag", tag.clone()));
            }
            if !self.config.health_filter.is_empty() {
                q.push(("filter", self.config.health_filter.clone()));
            }
            match self
                .api
                .get::<Vec<ServiceEntry>>(&["health", "service", &name], &q, true)
                .await
            {
                Err(e) => {
                    tracing::error!(service = %name, error = %e, "consul_sd: refreshing service");
                    tokio::time::sleep(RETRY_INTERVAL).await;
                    continue;
                }
                Ok((entries, new_index)) if new_index != index || index == 0 => {
                    index = next_index(index, new_index);
                    let group = self.group(&name, &dc, &entries);
                    if last.as_ref() != Some(&group) {
                        if updates.send(vec![group.clone()]).await.is_err() {
                            return;
                        }
                        last = Some(group);
                    }
                }
                Ok(_) => {}
            }
            tokio::time::sleep_until(started + self.config.refresh_interval.0).await;
        }
    }

    fn group(&self, name: &str, dc: &str, entries: &[ServiceEntry]) -> TargetGroup {
        let sep = &self.config.tag_separator;
        let targets = entries
            .iter()
            .map(|e| {
                let (node, svc) = (&e.node, &e.service);
                let host = if svc.address.is_empty() {
                    &node.address
                } else {
                    &svc.address
                };
                let mut l = LabelSet::new();
                let mut set = |k: String, v: &str| {
                    if !v.is_empty() {
                        l.insert(k, v.to_string());
                    }
                };
                set("__address__".into(), &join_host_port(host, svc.port));
                set("__meta_consul_address".into(), &node.address);
                set("__meta_consul_node".into(), &node.node);
                set("__meta_consul_namespace".into(), &svc.namespace);
                set("__meta_consul_partition".into(), &svc.partition);
                set(
                    "__meta_consul_tags".into(),
                    &format!("{sep}{}{sep}", svc.tags.0.join(sep)),
                );
                set("__meta_consul_service_address".into(), &svc.address);
                set("__meta_consul_service_port".into(), &svc.port.to_string());
                set("__meta_consul_service_id".into(), &svc.id);
                set("__meta_consul_health".into(), aggregated_status(&e.checks.0));
                for (k, v) in &node.meta.0 {
                    set(format!("__meta_consul_metadata_{}", sanitize(k)), v);
                }
                for (k, v) in &svc.meta.0 {
                    set(format!("__meta_consul_service_metadata_{}", sanitize(k)), v);
                }
                for (k, v) in &node.tagged_addresses.0 {
                    set(format!("__meta_consul_tagged_address_{}", sanitize(k)), v);
                }
                l
            })
            .collect();
        TargetGroup {
            source: name.to_string(),
            targets,
            labels: LabelSet::from([
                ("__meta_consul_service".to_string(), name.to_string()),
                ("__meta_consul_dc".to_string(), dc.to_string()),
            ]),
        }
    }
}

/// One instance as `/v1/health/service/<name>` describes it (fields not used here are
/// ignored; Consul adds fields between versions).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceEntry {
    node: Node,
    service: AgentService,
    #[serde(default)]
    checks: Nullable<Vec<Check>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Node {
    node: String,
    address: String,
    tagged_addresses: Nullable<BTreeMap<String, String>>,
    meta: Nullable<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct AgentService {
    #[serde(rename = "ID")]
    id: String,
    tags: Nullable<Vec<String>>,
    address: String,
    port: u16,
    meta: Nullable<BTreeMap<String, String>>,
    namespace: String,
    partition: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Check {
    #[serde(rename = "CheckID")]
    check_id: String,
    status: String,
}

/// A value Consul may write as `null` for empty.
#[derive(Debug, Default)]
struct Nullable<T>(T);

impl<'de, T: Default + Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Nullable(Option::<T>::deserialize(d)?.unwrap_or_default()))
    }
}

/// One status for an instance's checks: maintenance over critical over warning over
/// passing; an unknown status gives none, and no checks count as passing.
fn aggregated_status(checks: &[Check]) -> &'static str {
    let (mut maintenance, mut critical, mut warning) = (false, false, false);
    for c in checks {
        if c.check_id == "_node_maintenance" || c.check_id.starts_with("_service_maintenance:") {
            maintenance = true;
            continue;
        }
        match c.status.as_str() {
            "passing" => {}
            "warning" => warning = true,
            "critical" => critical = true,
            _ => return "",
        }
    }
    if maintenance {
        "maintenance"
    } else if critical {
        "critical"
    } else if warning {
        "warning"
    } else {
        "passing"
    }
}

#[cfg(test)]
mod tests;
