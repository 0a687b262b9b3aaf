//! The `service` role: one target per service port, at `<name>.<namespace>.svc:<port>`.
//!
//! The invariant: an `ExternalName` service carries its external name and never a
//! cluster IP; every other type carries its cluster IP.

use k8s_openapi::api::core::v1::Service;

use super::meta::{self, join_host_port, set, ADDRESS, NAMESPACE};
use crate::{LabelSet, TargetGroup};

pub(crate) fn source(key: &str) -> String {
    format!("svc/{key}")
}

/// The labels a service gives its own targets and the endpoints behind it.
pub(crate) fn service_labels(svc: &Service) -> LabelSet {
    let mut ls = LabelSet::new();
    set(&mut ls, NAMESPACE, meta::namespace(&svc.metadata));
    meta::object_labels(&mut ls, &svc.metadata, "service");
    ls
}

pub(crate) fn build(svc: &Service) -> TargetGroup {
    let name = meta::name(&svc.metadata);
    let ns = meta::namespace(&svc.metadata);
    let mut tg = TargetGroup {
        source: source(&meta::key(&svc.metadata)),
        targets: Vec::new(),
        labels: service_labels(svc),
    };
    let spec = svc.spec.clone().unwrap_or_default();
    let ty = spec.type_.clone().unwrap_or_default();
    for port in spec.ports.iter().flatten() {
        let mut t = LabelSet::new();
        set(&mut t, ADDRESS, join_host_port(&format!("{name}.{ns}.svc"), port.port));
        set(
            &mut t,
            "__meta_kubernetes_service_port_name",
            port.name.clone().unwrap_or_default(),
        );
        set(&mut t, "__meta_kubernetes_service_port_number", port.port.to_string());
        set(
            &mut t,
            "__meta_kubernetes_service_port_protocol",
            port.protocol.clone().unwrap_or_default(),
        );
        set(&mut t, "__meta_kubernetes_service_type", ty.as_str());
        if ty == "ExternalName" {
            set(
                &mut t,
                "__meta_kubernetes_service_external_name",
                spec.external_name.clone().unwrap_or_default(),
            );
        } else {
            set(
                &mut t,
                "__meta_kubernetes_service_cluster_ip",
                spec.cluster_ip.clone().unwrap_or_default(),
            );
        }
        if ty == "LoadBalancer" {
            set(
                &mut t,
                "__meta_kubernetes_service_loadbalancer_ip",
                load_balancer_ips(svc),
            );
        }
        tg.targets.push(t);
    }
    tg
}

/// The load balancer's IPs from the status, comma-separated; else the deprecated
/// `spec.loadBalancerIP`.
fn load_balancer_ips(svc: &Service) -> String {
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref());
    let ips: Vec<&str> = ingress
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref())
        .filter(|ip| !ip.is_empty())
        .collect();
    if ips.is_empty() {
        svc.spec
            .as_ref()
            .and_then(|s| s.load_balancer_ip.clone())
            .unwrap_or_default()
    } else {
        ips.join(",")
    }
}
