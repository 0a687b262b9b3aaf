//! The `endpoints` role: one target per address and port of every subset (ready and
//! not ready), with the service's labels on the group and the pod's on targets whose
//! address points at a pod; then one target for each container port of those pods that
//! no endpoint port covered, so a pod's other ports can be scraped too.
//!
//! The invariant: the group is rebuilt from the current endpoints, service, pods (and
//! nodes) every time, so a change to any of them shows in the next group sent.

use k8s_openapi::api::core::v1::{Endpoints, ObjectReference, Pod};

use super::meta::{self, join_host_port, set, ADDRESS, NAMESPACE};
use super::service::service_labels;
use super::watch::Store;
use crate::{LabelSet, TargetGroup};

pub(crate) fn source(key: &str) -> String {
    format!("endpoints/{key}")
}

pub(crate) fn build(eps: &Endpoints, store: &Store, attach_node: bool) -> TargetGroup {
    let key = meta::key(&eps.metadata);
    let mut tg = TargetGroup {
        source: source(&key),
        ..TargetGroup::default()
    };
    set(&mut tg.labels, NAMESPACE, meta::namespace(&eps.metadata));
    if let Some(svc) = store.service(&key) {
        tg.labels.extend(service_labels(svc));
    }
    meta::object_labels(&mut tg.labels, &eps.metadata, "endpoints");

    let mut seen = SeenPods::default();
    for subset in eps.subsets.iter().flatten() {
        for port in subset.ports.iter().flatten() {
            let ready = subset.addresses.iter().flatten().map(|a| (a, "true"));
            let not_ready = subset.not_ready_addresses.iter().flatten().map(|a| (a, "false"));
            for (addr, ready) in ready.chain(not_ready) {
                let mut t = LabelSet::new();
                set(&mut t, ADDRESS, join_host_port(&addr.ip, port.port));
                set(
                    &mut t,
                    "__meta_kubernetes_endpoint_port_name",
                    port.name.clone().unwrap_or_default(),
                );
                let protocol = port.protocol.clone().unwrap_or_default();
                set(&mut t, "__meta_kubernetes_endpoint_port_protocol", protocol.as_str());
                set(&mut t, "__meta_kubernetes_endpoint_ready", ready);
                if let Some(r) = &addr.target_ref {
                    set(
                        &mut t,
                        "__meta_kubernetes_endpoint_address_target_kind",
                        r.kind.clone().unwrap_or_default(),
                    );
                    set(
                        &mut t,
                        "__meta_kubernetes_endpoint_address_target_name",
                        r.name.clone().unwrap_or_default(),
                    );
                }
                if let Some(n) = &addr.node_name {
                    set(&mut t, "__meta_kubernetes_endpoint_node_name", n.as_str());
                }
                if let Some(h) = addr.hostname.as_deref().filter(|h| !h.is_empty()) {
                    set(&mut t, "__meta_kubernetes_endpoint_hostname", h);
                }
                if attach_node {
                    let node = addr.node_name.as_deref().or_else(|| node_ref(addr.target_ref.as_ref()));
                    meta::node_labels(&mut t, node.and_then(|n| store.node(n)));
                }
                if let Some(pod) = pod_ref(store, addr.target_ref.as_ref()) {
                    t.extend(meta::pod_labels(pod));
                    container_labels(&mut t, pod, Some(port.port), Some(&protocol));
                    seen.note(pod, Some(port.port));
                }
                tg.targets.push(t);
            }
        }
    }
    seen.other_ports(&mut tg.targets);
    tg
}

pub(crate) fn node_ref(r: Option<&ObjectReference>) -> Option<&str> {
    r.filter(|r| r.kind.as_deref() == Some("Node"))
        .and_then(|r| r.name.as_deref())
}

/// The pod an address points at, when the pod is known.
pub(crate) fn pod_ref<'a>(store: &'a Store, r: Option<&ObjectReference>) -> Option<&'a Pod> {
    let r = r.filter(|r| r.kind.as_deref() == Some("Pod"))?;
    let key = format!(
        "{}/{}",
        r.namespace.as_deref().unwrap_or(""),
        r.name.as_deref().unwrap_or("")
    );
    store.pod(&key)
}

/// The container labels of the first container port equal to `port`. `protocol` is the
/// endpoint port's protocol (the endpoints role); `None` takes the container port's.
pub(crate) fn container_labels(t: &mut LabelSet, pod: &Pod, port: Option<i32>, protocol: Option<&str>) {
    let Some(port) = port else { return };
    for (c, init) in meta::containers(pod) {
        let Some(cp) = c.ports.iter().flatten().find(|cp| cp.container_port == port) else {
            continue;
        };
        set(t, "__meta_kubernetes_pod_container_name", c.name.as_str());
        set(
            t,
            "__meta_kubernetes_pod_container_image",
            c.image.clone().unwrap_or_default(),
        );
        set(
            t,
            "__meta_kubernetes_pod_container_port_name",
            cp.name.clone().unwrap_or_default(),
        );
        set(t, "__meta_kubernetes_pod_container_port_number", port.to_string());
        let protocol = protocol.map_or_else(|| cp.protocol.clone().unwrap_or_default(), str::to_string);
        set(t, "__meta_kubernetes_pod_container_port_protocol", protocol);
        set(t, "__meta_kubernetes_pod_container_init", init.to_string());
        return;
    }
}

/// Pods that endpoint addresses pointed at, in the order first seen, and the ports used.
#[derive(Default)]
pub(crate) struct SeenPods<'a> {
    pods: Vec<(&'a Pod, Vec<i32>)>,
}

impl<'a> SeenPods<'a> {
    pub(crate) fn note(&mut self, pod: &'a Pod, port: Option<i32>) {
        let i = match self.pods.iter().position(|(p, _)| std::ptr::eq(*p, pod)) {
            Some(i) => i,
            None => {
                self.pods.push((pod, Vec::new()));
                self.pods.len() - 1
            }
        };
        self.pods[i].1.extend(port);
    }

    /// A target for each container port of a seen pod that no endpoint port used.
    pub(crate) fn other_ports(&self, out: &mut Vec<LabelSet>) {
        for (pod, used) in &self.pods {
            let ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).unwrap_or("");
            if ip.is_empty() {
                continue;
            }
            for (c, init) in meta::containers(pod) {
                for cp in c.ports.iter().flatten() {
                    if used.contains(&cp.container_port) {
                        continue;
                    }
                    let mut t = meta::pod_labels(pod);
                    set(&mut t, ADDRESS, join_host_port(ip, cp.container_port));
                    set(&mut t, "__meta_kubernetes_pod_container_name", c.name.as_str());
                    set(
                        &mut t,
                        "__meta_kubernetes_pod_container_image",
                        c.image.clone().unwrap_or_default(),
                    );
                    set(
                        &mut t,
                        "__meta_kubernetes_pod_container_port_name",
                        cp.name.clone().unwrap_or_default(),
                    );
                    set(
                        &mut t,
                        "__meta_kubernetes_pod_container_port_number",
                        cp.container_port.to_string(),
                    );
                    set(
                        &mut t,
                        "__meta_kubernetes_pod_container_port_protocol",
                        cp.protocol.clone().unwrap_or_default(),
                    );
                    set(&mut t, "__meta_kubernetes_pod_container_init", init.to_string());
                    out.push(t);
                }
            }
        }
    }
}
