//! The `ingress` role: one target per rule host and path, at the host, with
//! `__meta_kubernetes_ingress_scheme` `https` when a TLS entry covers the host.
//!
//! The invariant: a rule without an `http` section stands for the path `/`; an empty
//! path is `/` too.

use k8s_openapi::api::networking::v1::Ingress;

use super::meta::{self, set, ADDRESS, NAMESPACE};
use crate::{LabelSet, TargetGroup};

pub(crate) fn source(key: &str) -> String {
    format!("ingress/{key}")
}

pub(crate) fn build(ing: &Ingress) -> TargetGroup {
    let mut tg = TargetGroup {
        source: source(&meta::key(&ing.metadata)),
        ..TargetGroup::default()
    };
    set(&mut tg.labels, NAMESPACE, meta::namespace(&ing.metadata));
    let spec = ing.spec.clone().unwrap_or_default();
    if let Some(class) = &spec.ingress_class_name {
        set(&mut tg.labels, "__meta_kubernetes_ingress_class_name", class.as_str());
    }
    meta::object_labels(&mut tg.labels, &ing.metadata, "ingress");
    let tls_hosts: Vec<&str> = spec
        .tls
        .iter()
        .flatten()
        .flat_map(|t| t.hosts.iter().flatten())
        .map(String::as_str)
        .collect();
    for rule in spec.rules.iter().flatten() {
        let host = rule.host.as_deref().unwrap_or("");
        let paths: Vec<&str> = match &rule.http {
            None => vec!["/"],
            Some(http) => http
                .paths
                .iter()
                .map(|p| p.path.as_deref().filter(|p| !p.is_empty()).unwrap_or("/"))
                .collect(),
        };
        let https = tls_hosts.iter().any(|pattern| host_matches(pattern, host));
        for path in paths {
            let mut t = LabelSet::new();
            set(&mut t, ADDRESS, host);
            set(
                &mut t,
                "__meta_kubernetes_ingress_scheme",
                if https { "https" } else { "http" },
            );
            set(&mut t, "__meta_kubernetes_ingress_host", host);
            set(&mut t, "__meta_kubernetes_ingress_path", path);
            tg.targets.push(t);
        }
    }
    tg
}

/// A TLS host matches itself, and `*.example.com` matches one more label in front.
fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    p[0] == "*" && p.len() == h.len() && p[1..] == h[1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(host_matches("*.example.com", "www.example.com"));
        assert!(!host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(host_matches("example.com", "example.com"));
    }
}
