//! The `kubernetes_sd_configs` entry as Prometheus reads it, its checks with
//! Prometheus's messages, and the kube client configuration it leads to.
//!
//! The invariant: the HTTP client options only ever apply to an explicit `api_server`;
//! with `kubeconfig_file` or the in-cluster account they are refused, as in Prometheus.

use std::collections::BTreeSet;

use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Env;

/// What a `kubernetes_sd_configs` entry discovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Node,
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Pod => "pod",
            Role::Service => "service",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Ingress => "ingress",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        [
            Role::Node,
            Role::Pod,
            Role::Service,
            Role::Endpoints,
            Role::EndpointSlice,
            Role::Ingress,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// The roles whose selectors this role accepts.
    fn allowed_selectors(self) -> &'static [Role] {
        match self {
            Role::Pod => &[Role::Pod, Role::Node],
            Role::Service => &[Role::Service],
            Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
            Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
            Role::Node => &[Role::Node],
            Role::Ingress => &[Role::Ingress],
        }
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown Kubernetes SD role {s:?}")))
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `namespaces`: where to look; empty means every namespace.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceDiscovery {
    #[serde(default)]
    pub own_namespace: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// One entry of `selectors`: passed to the API server as `labelSelector` and
/// `fieldSelector` on every list and watch of that role's objects.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SelectorConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// `attach_metadata`. Pyrite attaches node metadata (pod, endpoints and endpointslice
/// roles); the namespace and workload options are read but refused when set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttachMetadata {
    #[serde(default)]
    pub node: bool,
    #[serde(default)]
    pub namespace: bool,
    #[serde(default)]
    pub deployment: bool,
    #[serde(default)]
    pub job: bool,
    #[serde(default)]
    pub cronjob: bool,
}

pyrite_http_client::with_http_client_config! {
    /// One `kubernetes_sd_configs` entry.
    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct KubernetesSdConfig {
        /// Required; `None` only so that its absence gets Prometheus's message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub role: Option<Role>,
        /// Absent: the in-cluster service account (or `kubeconfig_file`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub api_server: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kubeconfig_file: Option<String>,
        #[serde(default)]
        pub namespaces: NamespaceDiscovery,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub selectors: Vec<SelectorConfig>,
        #[serde(default)]
        pub attach_metadata: AttachMetadata,
    }
}

impl KubernetesSdConfig {
    /// Prometheus's checks, in its order and with its messages, then what Pyrite does
    /// not support.
    pub fn validate(&self) -> Result<Role, String> {
        let Some(role) = self.role else {
            return Err("role missing (one of: pod, service, endpoints, endpointslice, node, ingress)".into());
        };
        let custom_http = self.http_client_config() != pyrite_http_client::HttpClientConfig::default();
        let api = self.api_server.as_deref().filter(|s| !s.is_empty());
        let kubeconfig = self.kubeconfig_file.as_deref().filter(|s| !s.is_empty());
        if api.is_some() && kubeconfig.is_some() {
            return Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into());
        }
        if kubeconfig.is_some() && custom_http {
            return Err("cannot use a custom HTTP client configuration together with 'kubeconfig_file'".into());
        }
        if api.is_none() && custom_http {
            return Err(
                "to use custom HTTP client configuration please provide the 'api_server' URL explicitly".into(),
            );
        }
        if api.is_some() && self.namespaces.own_namespace {
            return Err("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into());
        }
        if kubeconfig.is_some() && self.namespaces.own_namespace {
            return Err("cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into());
        }
        let mut seen = BTreeSet::new();
        for s in &self.selectors {
            let name = s.role.map_or("", Role::as_str);
            if !seen.insert(s.role) {
                return Err(format!("duplicated selector role: {name}"));
            }
            let allowed = role.allowed_selectors();
            if !s.role.is_some_and(|r| allowed.contains(&r)) {
                let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
                return Err(format!(
                    "{} role supports only {} selectors",
                    role.as_str(),
                    names.join(", ")
                ));
            }
        }
        if let Some(api) = api {
            let absolute = api
                .split_once("://")
                .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && !rest.is_empty());
            if !absolute {
                return Err(format!("api_server {api:?} is not an http or https URL"));
            }
        }
        let a = &self.attach_metadata;
        for (set, name) in [
            (a.namespace, "namespace"),
            (a.deployment, "deployment"),
            (a.job, "job"),
            (a.cronjob, "cronjob"),
        ] {
            if set {
                return Err(format!("attach_metadata.{name} is not supported by Pyrite's kubernetes_sd_configs (only attach_metadata.node is)"));
            }
        }
        let h = self.http_client_config();
        if h.oauth2.is_some() {
            return Err("oauth2 is not supported by Pyrite's kubernetes_sd_configs".into());
        }
        if h.proxy_url.is_some() || h.proxy_from_environment {
            return Err("proxies are not supported by Pyrite's kubernetes_sd_configs".into());
        }
        if let Some(kind) = h.authorization.as_ref().and_then(|a| a.kind.as_deref()) {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(format!(
                    "authorization type {kind:?} is not supported by Pyrite's kubernetes_sd_configs (only Bearer is)"
                ));
            }
        }
        Ok(role)
    }

    /// The kube client configuration: from `kubeconfig_file`, from the in-cluster
    /// service account, or for `api_server` from the HTTP client options.
    pub(crate) async fn kube_config(&self, env: &Env) -> Result<kube::Config, String> {
        if let Some(file) = self.kubeconfig_file.as_deref().filter(|s| !s.is_empty()) {
            let path = env.path(file);
            let kc = Kubeconfig::read_from(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            return kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| format!("using {}: {e}", path.display()));
        }
        let Some(api) = self.api_server.as_deref().filter(|s| !s.is_empty()) else {
            return kube::Config::incluster().map_err(|e| format!("in-cluster configuration: {e}"));
        };
        let h = self.http_client_config();
        let tls = &h.tls_config;
        let file = |f: &Option<String>| f.as_deref().map(|f| env.path(f).display().to_string());
        let cluster = Cluster {
            server: Some(api.to_string()),
            insecure_skip_tls_verify: Some(tls.insecure_skip_verify),
            certificate_authority: file(&tls.ca_file),
            certificate_authority_data: tls.ca.as_deref().map(|pem| base64(pem.as_bytes())),
            tls_server_name: tls.server_name.clone(),
            ..Cluster::default()
        };
        let mut auth = AuthInfo {
            client_certificate: file(&tls.cert_file),
            client_certificate_data: tls.cert.as_deref().map(|pem| base64(pem.as_bytes())),
            client_key: file(&tls.key_file),
            client_key_data: tls.key.as_ref().map(|k| base64(k.expose().as_bytes()).into()),
            ..AuthInfo::default()
        };
        if let Some(b) = &h.basic_auth {
            auth.username = Some(b.username.clone());
            let password = match (&b.password, &b.password_file) {
                (_, Some(f)) => {
                    let p = env.path(f);
                    let text = std::fs::read_to_string(&p).map_err(|e| format!("reading {}: {e}", p.display()))?;
                    Some(text.trim_end_matches(['\n', '\r']).to_string())
                }
                (Some(p), None) => Some(p.expose().to_string()),
                (None, None) => None,
            };
            auth.password = password.map(Into::into);
        }
        let a = h.authorization.as_ref();
        let token = a.and_then(|a| a.credentials.clone()).or(h.bearer_token.clone());
        let token_file = a
            .and_then(|a| a.credentials_file.clone())
            .or(h.bearer_token_file.clone());
        auth.token = token.map(|t| t.expose().to_string().into());
        auth.token_file = token_file.map(|f| env.path(&f).display().to_string());

        let kc = Kubeconfig {
            clusters: vec![NamedCluster {
                name: "pyrite".into(),
                cluster: Some(cluster),
                ..NamedCluster::default()
            }],
            auth_infos: vec![NamedAuthInfo {
                name: "pyrite".into(),
                auth_info: Some(auth),
                ..NamedAuthInfo::default()
            }],
            contexts: vec![NamedContext {
                name: "pyrite".into(),
                context: Some(Context {
                    cluster: "pyrite".into(),
                    user: Some("pyrite".into()),
                    ..Context::default()
                }),
                ..NamedContext::default()
            }],
            current_context: Some("pyrite".into()),
            ..Kubeconfig::default()
        };
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| format!("api_server {api}: {e}"))
    }
}

/// Standard base64 with padding, as kubeconfig `*-data` fields hold PEM.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<Role, String> {
        serde_yaml::from_str::<KubernetesSdConfig>(yaml)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn prometheus_messages_for_bad_configurations() {
        assert_eq!(check("role: pod").unwrap(), Role::Pod);
        let cases = [
            (
                "namespaces: {names: [a]}",
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
            ),
            ("role: pods", "unknown Kubernetes SD role \"pods\""),
            (
                "role: pod\napi_server: https://k\nkubeconfig_file: k.yml",
                "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
            ),
            (
                "role: pod\nkubeconfig_file: k.yml\nbearer_token: t",
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
            ),
            (
                "role: pod\nbasic_auth: {username: u}",
                "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
            ),
            (
                "role: pod\napi_server: https://k\nnamespaces: {own_namespace: true}",
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
            ),
            (
                "role: pod\nkubeconfig_file: k.yml\nnamespaces: {own_namespace: true}",
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
            ),
            (
                "role: endpoints\nselectors: [{role: pod, label: a=b}, {role: pod, field: x=y}]",
                "duplicated selector role: pod",
            ),
            (
                "role: service\nselectors: [{role: pod, label: a=b}]",
                "service role supports only service selectors",
            ),
            (
                "role: endpointslice\nselectors: [{role: node}]",
                "endpointslice role supports only pod, service, endpointslice selectors",
            ),
            (
                "role: pod\nselectors: [{label: a=b}]",
                "pod role supports only pod, node selectors",
            ),
        ];
        for (yaml, want) in cases {
            let got = check(yaml).unwrap_err();
            assert!(got.starts_with(want), "{yaml}: {got}");
        }
        assert!(check("role: pod\nselectors: [{role: node, label: a=b}, {role: pod}]").is_ok());
        assert!(check("role: pod\nattach_metadata: {node: true}").is_ok());
        let e = check("role: pod\nattach_metadata: {namespace: true}").unwrap_err();
        assert!(e.contains("attach_metadata.namespace is not supported"), "{e}");
        let e = check("role: pod\napi_server: https://k\nauthorization: {type: Token, credentials: x}").unwrap_err();
        assert!(e.contains("\"Token\""), "{e}");
        assert!(check("role: pod\napi_server: https://k\nbogus: 1")
            .unwrap_err()
            .contains("bogus"));
    }

    #[test]
    fn base64_pads_as_the_standard_says() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[tokio::test]
    async fn api_server_options_reach_the_kube_client() {
        let cfg: KubernetesSdConfig = serde_yaml::from_str(
            "role: pod\napi_server: https://k8s.example:6443\nbearer_token: s3cret\ntls_config: {insecure_skip_verify: true, server_name: k8s}",
        )
        .unwrap();
        let k = cfg.kube_config(&Env::default()).await.unwrap();
        assert_eq!(k.cluster_url.to_string(), "https://k8s.example:6443/");
        assert!(k.accept_invalid_certs);
        assert_eq!(k.tls_server_name.as_deref(), Some("k8s"));
        assert!(k.auth_info.token.is_some());
    }
}
