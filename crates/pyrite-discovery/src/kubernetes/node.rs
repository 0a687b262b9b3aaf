//! The `node` role: one target per node, at its preferred address and the kubelet's
//! port, with `instance` set to the node's name.
//!
//! The invariant: the address is the first of the node's addresses of the first type
//! present in [`ADDRESS_PREFERENCE`]; a node with none of them has no target.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use super::meta::{self, join_host_port, sanitize, set, ADDRESS};
use crate::{LabelSet, TargetGroup};

/// Address types in the order Prometheus prefers them.
pub const ADDRESS_PREFERENCE: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

pub(crate) fn source(name: &str) -> String {
    format!("node/{name}")
}

pub(crate) fn build(node: &Node) -> TargetGroup {
    let name = meta::name(&node.metadata);
    let mut tg = TargetGroup {
        source: source(name),
        ..TargetGroup::default()
    };
    let mut labels = LabelSet::new();
    let provider = node.spec.as_ref().and_then(|s| s.provider_id.clone());
    set(
        &mut labels,
        "__meta_kubernetes_node_provider_id",
        provider.unwrap_or_default(),
    );
    let status = node.status.as_ref();
    for c in status.and_then(|s| s.conditions.as_ref()).into_iter().flatten() {
        let n = sanitize(&c.type_.to_lowercase());
        set(
            &mut labels,
            format!("__meta_kubernetes_node_condition_{n}"),
            c.status.to_lowercase(),
        );
    }
    meta::object_labels(&mut labels, &node.metadata, "node");
    tg.labels = labels;

    // First address of each type.
    let mut by_type: BTreeMap<&str, &str> = BTreeMap::new();
    for a in status.and_then(|s| s.addresses.as_ref()).into_iter().flatten() {
        by_type.entry(a.type_.as_str()).or_insert(a.address.as_str());
    }
    let Some(host) = ADDRESS_PREFERENCE.iter().find_map(|t| by_type.get(t)) else {
        tracing::warn!(node = name, "no node address found");
        return tg;
    };
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map_or(0, |k| k.port);
    let mut t = LabelSet::new();
    set(&mut t, ADDRESS, join_host_port(host, port));
    set(&mut t, "instance", name);
    for (ty, a) in by_type {
        set(&mut t, sanitize(&format!("__meta_kubernetes_node_address_{ty}")), a);
    }
    tg.targets.push(t);
    tg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_dns_is_taken_when_there_is_no_internal_ip() {
        let node: Node = serde_json::from_str(
            r#"{"metadata": {"name": "n1"}, "status": {"addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "ExternalIP", "address": "203.0.113.7"},
                {"type": "InternalDNS", "address": "n1.internal"},
                {"type": "InternalDNS", "address": "n1.other"}],
              "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}"#,
        )
        .unwrap();
        let tg = build(&node);
        let t = &tg.targets[0];
        assert_eq!(t["__address__"], "n1.internal:10250");
        assert_eq!(t["__meta_kubernetes_node_address_InternalDNS"], "n1.internal");
        assert_eq!(t["__meta_kubernetes_node_address_ExternalIP"], "203.0.113.7");
        assert_eq!(t["instance"], "n1");
    }

    #[test]
    fn a_node_without_addresses_has_no_target() {
        let node: Node = serde_json::from_str(r#"{"metadata": {"name": "n1"}}"#).unwrap();
        let tg = build(&node);
        assert_eq!(tg.source, "node/n1");
        assert!(tg.targets.is_empty());
    }
}
