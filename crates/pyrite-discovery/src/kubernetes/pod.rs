//! The `pod` role: one target per declared container port at `<pod IP>:<port>`, and one
//! per container without ports at the bare pod IP. Init containers count too, marked by
//! `__meta_kubernetes_pod_container_init`.
//!
//! The invariant: a pod without an IP (pending or evicted) keeps its group but has no
//! targets and no labels, and with `attach_metadata: {node: true}` so does a pod whose
//! node is not among the watched nodes (node selectors filter pods, as in Prometheus).

use k8s_openapi::api::core::v1::{ContainerStatus, Node, Pod};

use super::meta::{self, join_host_port, set, ADDRESS, NAMESPACE};
use crate::{LabelSet, TargetGroup};

pub(crate) fn source(key: &str) -> String {
    format!("pod/{key}")
}

/// `node` is `Some` when node metadata is attached: the pod's node, if watched.
pub(crate) fn build(pod: &Pod, node: Option<Option<&Node>>) -> TargetGroup {
    let mut tg = TargetGroup {
        source: source(&meta::key(&pod.metadata)),
        ..TargetGroup::default()
    };
    let status = pod.status.as_ref();
    let ip = status.and_then(|s| s.pod_ip.as_deref()).unwrap_or("");
    if ip.is_empty() || node == Some(None) {
        return tg;
    }
    tg.labels = meta::pod_labels(pod);
    set(&mut tg.labels, NAMESPACE, meta::namespace(&pod.metadata));
    if let Some(node) = node {
        meta::node_labels(&mut tg.labels, node);
    }
    for (c, init) in meta::containers(pod) {
        let statuses = if init {
            status.and_then(|s| s.init_container_statuses.as_ref())
        } else {
            status.and_then(|s| s.container_statuses.as_ref())
        };
        let id = container_id(statuses.map(Vec::as_slice).unwrap_or_default(), &c.name);
        let mut base = LabelSet::new();
        set(&mut base, "__meta_kubernetes_pod_container_name", c.name.as_str());
        set(&mut base, "__meta_kubernetes_pod_container_id", id);
        set(
            &mut base,
            "__meta_kubernetes_pod_container_image",
            c.image.clone().unwrap_or_default(),
        );
        set(&mut base, "__meta_kubernetes_pod_container_init", init.to_string());
        let ports = c.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            let mut t = base;
            set(&mut t, ADDRESS, ip);
            tg.targets.push(t);
            continue;
        }
        for p in ports {
            let mut t = base.clone();
            set(&mut t, ADDRESS, join_host_port(ip, p.container_port));
            set(
                &mut t,
                "__meta_kubernetes_pod_container_port_number",
                p.container_port.to_string(),
            );
            set(
                &mut t,
                "__meta_kubernetes_pod_container_port_name",
                p.name.clone().unwrap_or_default(),
            );
            set(
                &mut t,
                "__meta_kubernetes_pod_container_port_protocol",
                p.protocol.clone().unwrap_or_default(),
            );
            tg.targets.push(t);
        }
    }
    tg
}

fn container_id(statuses: &[ContainerStatus], name: &str) -> String {
    statuses
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.container_id.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_without_ip_keeps_an_empty_group() {
        let pod: Pod = serde_json::from_str(
            r#"{"metadata": {"name": "p", "namespace": "ns"},
                "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}}"#,
        )
        .unwrap();
        let tg = build(&pod, None);
        assert_eq!(tg.source, "pod/ns/p");
        assert!(tg.targets.is_empty() && tg.labels.is_empty());
    }

    #[test]
    fn with_node_metadata_a_pod_on_an_unwatched_node_has_no_targets() {
        let pod: Pod = serde_json::from_str(
            r#"{"metadata": {"name": "p", "namespace": "ns"},
                "spec": {"containers": [{"name": "c"}], "nodeName": "n9"},
                "status": {"podIP": "10.1.0.5"}}"#,
        )
        .unwrap();
        assert!(build(&pod, Some(None)).targets.is_empty());
        let tg = build(&pod, None);
        assert_eq!(tg.targets[0]["__address__"], "10.1.0.5");
        assert_eq!(tg.targets[0]["__meta_kubernetes_pod_container_id"], "");
    }
}
