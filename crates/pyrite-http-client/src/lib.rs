//! Prometheus's HTTP client options — `basic_auth`, `authorization`, `oauth2`,
//! `bearer_token`, `tls_config`, `proxy_url`, `follow_redirects`, `enable_http2` — read
//! once, for every place Pyrite calls out over HTTP with a user's configuration: scrape
//! targets, HTTP, Consul and Kubernetes discovery, and later notifications.
//!
//! The options sit inline in the structs that carry them, as in Prometheus's YAML; serde
//! cannot refuse unknown fields through `#[serde(flatten)]`, so those structs are declared
//! with [`with_http_client_config!`], which adds the fields and an accessor, and keeps
//! `deny_unknown_fields` (and so an error's exact line).
//!
//! The invariant: credentials are [`Secret`]s; they leave the process only in the request
//! that authenticates with them, never in `/config`, a log line or an error.
//!
//! # Layout
//! - this file: the option types, as written in YAML, and [`with_http_client_config!`];
//! - `validate`: [`HttpClientConfig::validate`], Prometheus's rules in its words;
//! - `tls`: a `tls_config` made into a rustls configuration (system roots through
//!   `rustls-native-certs`, or only the configured CA);
//! - `client`: [`HttpClientConfig::build`] and [`HttpClient`];
//! - `auth`, `oauth2`: the credentials each request carries, read from their files at each
//!   request, and the cached OAuth 2 token;
//! - `error`: [`HttpClientError`].

use std::path::{Path, PathBuf};

use pyrite_config::Secret;
use serde::{Deserialize, Serialize};

mod auth;
mod client;
mod error;
mod oauth2;
mod tls;
mod validate;

#[cfg(test)]
mod testkit;

pub use client::{HttpClient, MAX_REDIRECTS};
pub use error::HttpClientError;
pub use oauth2::TOKEN_REQUEST_TIMEOUT;

/// A file name from the configuration, taken relative to `base_dir` unless absolute.
pub(crate) fn resolve(base_dir: &Path, file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

/// `url` with any password in it masked, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("xxxxx"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(an unparsable URL)".to_string(),
    }
}

/// `basic_auth`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

/// `authorization`: a header `Authorization: <type> <credentials>`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Defaults to `Bearer`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
}

/// `tls_config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `TLS10` … `TLS13`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

/// `oauth2`: the client-credentials grant.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    pub token_url: String,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub endpoint_params: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
}

/// Every HTTP client option, gathered from the struct that carries them inline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpClientConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// Prometheus 2's spelling of `authorization: {credentials: …}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    pub tls_config: TlsConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    pub proxy_from_environment: bool,
    pub follow_redirects: bool,
    pub enable_http2: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: None,
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

/// A flag that is on unless written off (`follow_redirects`, `enable_http2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct DefaultTrue(pub bool);

impl Default for DefaultTrue {
    fn default() -> Self {
        DefaultTrue(true)
    }
}

/// Declares a config struct with Prometheus's HTTP client options inline, keeping
/// `deny_unknown_fields`, and an accessor `http_client_config()` that gathers them.
///
/// ```
/// pyrite_http_client::with_http_client_config! {
///     #[derive(Debug, Clone, serde::Deserialize)]
///     #[serde(deny_unknown_fields)]
///     pub struct HttpSd {
///         pub url: String,
///     }
/// }
/// let sd: HttpSd = serde_yaml::from_str("url: http://x\nbasic_auth: {username: u}").unwrap();
/// assert_eq!(sd.http_client_config().basic_auth.unwrap().username, "u");
/// ```
#[macro_export]
macro_rules! with_http_client_config {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty, )*
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub basic_auth: Option<$crate::BasicAuth>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub authorization: Option<$crate::Authorization>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub oauth2: Option<$crate::OAuth2>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bearer_token: Option<$crate::__Secret>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bearer_token_file: Option<String>,
            #[serde(default)]
            pub tls_config: $crate::TlsConfig,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_url: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub no_proxy: Option<String>,
            #[serde(default)]
            pub proxy_from_environment: bool,
            #[serde(default)]
            pub follow_redirects: $crate::DefaultTrue,
            #[serde(default)]
            pub enable_http2: $crate::DefaultTrue,
        }

        impl $name {
            /// The HTTP client options written inline in this struct.
            pub fn http_client_config(&self) -> $crate::HttpClientConfig {
                $crate::HttpClientConfig {
                    basic_auth: self.basic_auth.clone(),
                    authorization: self.authorization.clone(),
                    oauth2: self.oauth2.clone(),
                    bearer_token: self.bearer_token.clone(),
                    bearer_token_file: self.bearer_token_file.clone(),
                    tls_config: self.tls_config.clone(),
                    proxy_url: self.proxy_url.clone(),
                    no_proxy: self.no_proxy.clone(),
                    proxy_from_environment: self.proxy_from_environment,
                    follow_redirects: self.follow_redirects.0,
                    enable_http2: self.enable_http2.0,
                }
            }
        }
    };
}

#[doc(hidden)]
pub use pyrite_config::Secret as __Secret;

#[cfg(test)]
mod tests {
    use super::*;

    with_http_client_config! {
        #[derive(Debug, Clone, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        struct Carrier {
            url: String,
        }
    }

    #[test]
    fn file_names_resolve_against_the_base_directory_and_urls_hide_passwords() {
        assert_eq!(resolve(Path::new("/etc/pyrite"), "pw"), Path::new("/etc/pyrite/pw"));
        assert_eq!(resolve(Path::new("/etc/pyrite"), "/run/pw"), Path::new("/run/pw"));
        assert_eq!(
            redact_url("https://id:s3cret@auth.example/token"),
            "https://id:xxxxx@auth.example/token"
        );
        assert_eq!(redact_url("https://auth.example/token"), "https://auth.example/token");
    }

    #[test]
    fn options_sit_inline_and_unknown_fields_are_refused_at_their_line() {
        let c: Carrier = serde_yaml::from_str(
            "url: http://x\nauthorization:\n  credentials: s3cret\ntls_config:\n  insecure_skip_verify: true\n",
        )
        .unwrap();
        let h = c.http_client_config();
        assert_eq!(h.authorization.unwrap().credentials.unwrap().expose(), "s3cret");
        assert!(h.tls_config.insecure_skip_verify);
        assert!(h.follow_redirects && h.enable_http2);
        let printed = serde_yaml::to_string(&c).unwrap();
        assert!(!printed.contains("s3cret"), "{printed}");

        let e = serde_yaml::from_str::<Carrier>("url: http://x\n\nbasic_auht: {}\n").unwrap_err();
        assert_eq!(e.location().map(|l| l.line()), Some(3), "{e}");
        assert!(e.to_string().contains("basic_auht"), "{e}");
    }
}
