//! Label building shared by the roles: object names, labels and annotations with their
//! `_present` twins, the pod labels that the pod, endpoints and endpointslice roles all
//! carry, and the node labels `attach_metadata: {node: true}` adds.
//!
//! The invariant: every label name made from a Kubernetes key goes through [`sanitize`],
//! so a target never carries a name Prometheus would refuse.

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::LabelSet;

pub(crate) const PREFIX: &str = "__meta_kubernetes_";
pub(crate) const NAMESPACE: &str = "__meta_kubernetes_namespace";
pub(crate) const ADDRESS: &str = "__address__";

pub use crate::sanitize_label_name as sanitize;

pub(crate) fn set(ls: &mut LabelSet, name: impl Into<String>, value: impl Into<String>) {
    ls.insert(name.into(), value.into());
}

/// `<resource>_label_*`, `_labelpresent_*`, `_annotation_*`, `_annotationpresent_*`.
pub(crate) fn labels_and_annotations(ls: &mut LabelSet, meta: &ObjectMeta, resource: &str) {
    for (k, v) in meta.labels.iter().flatten() {
        let n = sanitize(k);
        set(ls, format!("{PREFIX}{resource}_label_{n}"), v.as_str());
        set(ls, format!("{PREFIX}{resource}_labelpresent_{n}"), "true");
    }
    for (k, v) in meta.annotations.iter().flatten() {
        let n = sanitize(k);
        set(ls, format!("{PREFIX}{resource}_annotation_{n}"), v.as_str());
        set(ls, format!("{PREFIX}{resource}_annotationpresent_{n}"), "true");
    }
}

/// `<role>_name` and the object's labels and annotations.
pub(crate) fn object_labels(ls: &mut LabelSet, meta: &ObjectMeta, role: &str) {
    set(ls, format!("{PREFIX}{role}_name"), name(meta));
    labels_and_annotations(ls, meta, role);
}

pub(crate) fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

pub(crate) fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("")
}

/// The store key of a namespaced object: `<namespace>/<name>`.
pub(crate) fn key(meta: &ObjectMeta) -> String {
    format!("{}/{}", namespace(meta), name(meta))
}

/// `host:port`, with brackets around an IPv6 host, as Go's `net.JoinHostPort`.
pub(crate) fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The labels a pod gives every target that points into it.
pub(crate) fn pod_labels(pod: &Pod) -> LabelSet {
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let mut ls = LabelSet::new();
    let s = |v: Option<&String>| v.cloned().unwrap_or_default();
    set(
        &mut ls,
        "__meta_kubernetes_pod_ip",
        s(status.and_then(|s| s.pod_ip.as_ref())),
    );
    set(&mut ls, "__meta_kubernetes_pod_ready", pod_ready(pod));
    set(
        &mut ls,
        "__meta_kubernetes_pod_phase",
        s(status.and_then(|s| s.phase.as_ref())),
    );
    set(
        &mut ls,
        "__meta_kubernetes_pod_node_name",
        s(spec.and_then(|s| s.node_name.as_ref())),
    );
    set(
        &mut ls,
        "__meta_kubernetes_pod_host_ip",
        s(status.and_then(|s| s.host_ip.as_ref())),
    );
    set(&mut ls, "__meta_kubernetes_pod_uid", s(pod.metadata.uid.as_ref()));
    object_labels(&mut ls, &pod.metadata, "pod");
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    if let Some(c) = controller {
        if !c.kind.is_empty() {
            set(&mut ls, "__meta_kubernetes_pod_controller_kind", c.kind.as_str());
        }
        if !c.name.is_empty() {
            set(&mut ls, "__meta_kubernetes_pod_controller_name", c.name.as_str());
        }
    }
    ls
}

fn pod_ready(pod: &Pod) -> String {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map_or_else(|| "unknown".to_string(), |c| c.status.to_lowercase())
}

/// The pod's containers followed by its init containers, each with whether it is one.
pub(crate) fn containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    let spec = pod.spec.as_ref();
    let main = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let init = spec.and_then(|s| s.init_containers.as_deref()).unwrap_or_default();
    main.iter().map(|c| (c, false)).chain(init.iter().map(|c| (c, true)))
}

/// `__meta_kubernetes_node_name` and the node's labels and annotations, for
/// `attach_metadata: {node: true}`; nothing when the node is not known.
pub(crate) fn node_labels(ls: &mut LabelSet, node: Option<&Node>) {
    if let Some(node) = node {
        object_labels(ls, &node.metadata, "node");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_one_underscore_per_character() {
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(sanitize("é-x_9"), "__x_9");
    }

    #[test]
    fn ipv6_hosts_get_brackets() {
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
    }
}
