//! `kubernetes_sd_configs`: targets from the Kubernetes API, for the roles `node`, `pod`,
//! `service`, `endpoints`, `endpointslice` and `ingress`, with exactly the
//! `__meta_kubernetes_*` labels, addresses and group sources Prometheus gives them.
//!
//! Layout: [`config`] reads and checks the YAML and makes the kube client
//! configuration; `watch` lists and watches the API server and turns object changes
//! into group updates; `meta` holds the labels the roles share; one file per role
//! builds a group from an object (`node`, `pod`, `service`, `endpoints`,
//! `endpointslice`, `ingress`).
//!
//! What it owns: talking to the API server (list, then watch from the listed
//! resourceVersion, listing again after `410 Gone`), one stream per namespace named in
//! `namespaces`, `selectors` passed through as `labelSelector`/`fieldSelector`. What it
//! does not: relabeling and scraping (`pyrite-scrape`); `attach_metadata` other than
//! `node`, OAuth 2 and proxies for the API server (refused with a message); the TLS
//! version bounds, `follow_redirects` and `enable_http2` (left to the kube client).
//!
//! The invariant: group sources are Prometheus's (`node/<name>`, `pod/<ns>/<name>`,
//! `svc/<ns>/<name>`, `endpoints/<ns>/<name>`, `endpointslice/<ns>/<name>`,
//! `ingress/<ns>/<name>`), each group is rebuilt whole from the current objects, and a
//! deleted object's source is sent once with no targets.

pub mod config;
mod endpoints;
mod endpointslice;
mod ingress;
mod meta;
mod node;
mod pod;
mod service;
mod watch;

#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;

pub use config::{AttachMetadata, KubernetesSdConfig, NamespaceDiscovery, Role, SelectorConfig};
pub use meta::sanitize;
pub use node::ADDRESS_PREFERENCE;

use crate::{Discoverer, DiscoveryError, Env, SdConfig, Updates};
use watch::{Engine, Kind, StreamSpec};

impl Role {
    fn kind(self) -> Kind {
        match self {
            Role::Node => Kind::Node,
            Role::Pod => Kind::Pod,
            Role::Service => Kind::Service,
            Role::Endpoints => Kind::Endpoints,
            Role::EndpointSlice => Kind::EndpointSlice,
            Role::Ingress => Kind::Ingress,
        }
    }

    fn source(self, key: &str) -> String {
        match self {
            Role::Node => node::source(key),
            Role::Pod => pod::source(key),
            Role::Service => service::source(key),
            Role::Endpoints => endpoints::source(key),
            Role::EndpointSlice => endpointslice::source(key),
            Role::Ingress => ingress::source(key),
        }
    }
}

impl SdConfig for KubernetesSdConfig {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn discoverer(&self, env: &Env) -> Result<Box<dyn Discoverer>, DiscoveryError> {
        let role = self.validate().map_err(DiscoveryError::Config)?;
        Ok(Box::new(KubernetesDiscoverer {
            config: self.clone(),
            role,
            env: env.clone(),
        }))
    }
}

/// A running `kubernetes_sd_configs` entry.
pub struct KubernetesDiscoverer {
    config: KubernetesSdConfig,
    role: Role,
    env: Env,
}

impl KubernetesDiscoverer {
    /// The list-and-watch streams the role needs, one per namespace for namespaced kinds.
    fn streams(&self, own_namespace: &str) -> Vec<StreamSpec> {
        let role = self.role;
        let attach_node =
            self.config.attach_metadata.node && matches!(role, Role::Pod | Role::Endpoints | Role::EndpointSlice);
        let mut kinds = vec![role];
        if matches!(role, Role::Endpoints | Role::EndpointSlice) {
            kinds.extend([Role::Service, Role::Pod]);
        }
        let mut namespaces: Vec<Option<String>> = self.config.namespaces.names.iter().cloned().map(Some).collect();
        if self.config.namespaces.own_namespace && !own_namespace.is_empty() {
            namespaces.push(Some(own_namespace.to_string()));
        }
        if namespaces.is_empty() {
            namespaces.push(None);
        }
        let selector = |r: Role| {
            let s = self.config.selectors.iter().find(|s| s.role == Some(r));
            s.map(|s| (s.label.clone(), s.field.clone())).unwrap_or_default()
        };
        let mut out = Vec::new();
        for k in kinds {
            let (label, field) = selector(k);
            if k == Role::Node {
                out.push(StreamSpec {
                    kind: k.kind(),
                    namespace: None,
                    label,
                    field,
                });
                continue;
            }
            for ns in &namespaces {
                out.push(StreamSpec {
                    kind: k.kind(),
                    namespace: ns.clone(),
                    label: label.clone(),
                    field: field.clone(),
                });
            }
        }
        if attach_node {
            let (label, field) = selector(Role::Node);
            out.push(StreamSpec {
                kind: Kind::Node,
                namespace: None,
                label,
                field,
            });
        }
        out
    }
}

#[async_trait]
impl Discoverer for KubernetesDiscoverer {
    async fn run(self: Box<Self>, updates: Updates) {
        let (client, own_namespace) = loop {
            let made = self.config.kube_config(&self.env).await.and_then(|c| {
                let ns = c.default_namespace.clone();
                kube::Client::try_from(c).map(|c| (c, ns)).map_err(|e| e.to_string())
            });
            match made {
                Ok(c) => break c,
                Err(e) => {
                    tracing::error!(error = %e, "kubernetes_sd: cannot make the API client; trying again in 10s");
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            }
        };
        let engine = Engine {
            role: self.role,
            attach_node: self.config.attach_metadata.node
                && matches!(self.role, Role::Pod | Role::Endpoints | Role::EndpointSlice),
            streams: self.streams(&own_namespace),
        };
        engine.run(client, updates).await;
    }
}
