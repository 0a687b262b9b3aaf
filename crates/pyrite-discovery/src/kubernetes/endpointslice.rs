//! The `endpointslice` role (`discovery.k8s.io/v1`): one target per endpoint address and
//! slice port, with the slice's service (from its `kubernetes.io/service-name` label) on
//! the group and the pod's labels on targets pointing at a pod; then the pods' container
//! ports no slice port covered, as for the endpoints role.
//!
//! The invariant: for a dual-stack service, only slices of its primary IP family have
//! targets, so no endpoint is scraped twice.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::endpoints::{container_labels, node_ref, pod_ref, SeenPods};
use super::meta::{self, join_host_port, sanitize, set, ADDRESS, NAMESPACE};
use super::service::service_labels;
use super::watch::Store;
use crate::{LabelSet, TargetGroup};

pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

pub(crate) fn source(key: &str) -> String {
    format!("endpointslice/{key}")
}

pub(crate) fn build(eps: &EndpointSlice, store: &Store, attach_node: bool) -> TargetGroup {
    let ns = meta::namespace(&eps.metadata);
    let mut tg = TargetGroup {
        source: source(&meta::key(&eps.metadata)),
        ..TargetGroup::default()
    };
    set(&mut tg.labels, NAMESPACE, ns);
    set(
        &mut tg.labels,
        "__meta_kubernetes_endpointslice_address_type",
        eps.address_type.as_str(),
    );
    meta::object_labels(&mut tg.labels, &eps.metadata, "endpointslice");
    let svc_name = eps.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL));
    let svc = svc_name.and_then(|n| store.service(&format!("{ns}/{n}")));
    if let Some(svc) = svc {
        tg.labels.extend(service_labels(svc));
    }
    if non_primary_family(svc, eps) {
        return tg;
    }

    let mut seen = SeenPods::default();
    let b = |v: bool| v.to_string();
    for ep in &eps.endpoints {
        for port in eps.ports.iter().flatten() {
            for addr in &ep.addresses {
                let mut t = LabelSet::new();
                let a = match port.port {
                    Some(p) => join_host_port(addr, p),
                    None => addr.clone(),
                };
                set(&mut t, ADDRESS, a);
                let opt = |t: &mut LabelSet, n: &str, v: Option<String>| {
                    if let Some(v) = v {
                        set(t, format!("__meta_kubernetes_endpointslice_{n}"), v);
                    }
                };
                opt(&mut t, "port_name", port.name.clone());
                opt(&mut t, "port_protocol", port.protocol.clone());
                opt(&mut t, "port", port.port.map(|p| p.to_string()));
                opt(&mut t, "port_app_protocol", port.app_protocol.clone());
                let cond = ep.conditions.clone().unwrap_or_default();
                opt(&mut t, "endpoint_conditions_ready", cond.ready.map(b));
                opt(&mut t, "endpoint_conditions_serving", cond.serving.map(b));
                opt(&mut t, "endpoint_conditions_terminating", cond.terminating.map(b));
                opt(&mut t, "endpoint_hostname", ep.hostname.clone());
                if let Some(r) = &ep.target_ref {
                    opt(&mut t, "address_target_kind", Some(r.kind.clone().unwrap_or_default()));
                    opt(&mut t, "address_target_name", Some(r.name.clone().unwrap_or_default()));
                }
                opt(&mut t, "endpoint_node_name", ep.node_name.clone());
                opt(&mut t, "endpoint_zone", ep.zone.clone());
                for (k, v) in ep.deprecated_topology.iter().flatten() {
                    let n = sanitize(k);
                    set(
                        &mut t,
                        format!("__meta_kubernetes_endpointslice_endpoint_topology_{n}"),
                        v.as_str(),
                    );
                    set(
                        &mut t,
                        format!("__meta_kubernetes_endpointslice_endpoint_topology_present_{n}"),
                        "true",
                    );
                }
                if attach_node {
                    let node = node_ref(ep.target_ref.as_ref()).or(ep.node_name.as_deref());
                    meta::node_labels(&mut t, node.and_then(|n| store.node(n)));
                }
                if let Some(pod) = pod_ref(store, ep.target_ref.as_ref()) {
                    t.extend(meta::pod_labels(pod));
                    container_labels(&mut t, pod, port.port, None);
                    seen.note(pod, port.port);
                }
                tg.targets.push(t);
            }
        }
    }
    seen.other_ports(&mut tg.targets);
    tg
}

/// Whether the slice holds the secondary family of a dual-stack service.
fn non_primary_family(svc: Option<&Service>, eps: &EndpointSlice) -> bool {
    let Some(spec) = svc.and_then(|s| s.spec.as_ref()) else {
        return false;
    };
    let dual = matches!(
        spec.ip_family_policy.as_deref(),
        Some("PreferDualStack") | Some("RequireDualStack")
    );
    match spec.ip_families.as_deref() {
        Some([first, ..]) if dual => *first != eps.address_type,
        _ => false,
    }
}
