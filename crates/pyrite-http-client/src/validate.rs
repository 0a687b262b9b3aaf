//! The rules Prometheus checks when it reads HTTP client options, with its messages, so a
//! file Prometheus refuses is refused here in the same words.
//!
//! Deliberately not here: reading files or parsing certificates (that is [`crate::tls`] and
//! [`HttpClientConfig::build`]); a file that exists now may be gone at request time.
//! The invariant: [`HttpClientConfig::validate`] only looks at the configuration; it never
//! touches the disk or the network, and never quotes a secret.

use crate::{HttpClientConfig, HttpClientError, OAuth2, TlsConfig};
use pyrite_config::Secret;

/// The TLS versions rustls can speak, which are the only ones a Pyrite client will use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TlsVersion {
    Tls12,
    Tls13,
}

/// Prometheus's version names, ordered, with what Pyrite makes of each.
const VERSION_NAMES: [&str; 4] = ["TLS10", "TLS11", "TLS12", "TLS13"];

fn version_rank(option: &str, name: &str) -> Result<usize, HttpClientError> {
    VERSION_NAMES
        .iter()
        .position(|v| *v == name)
        .ok_or_else(|| HttpClientError::invalid(format!("tls_config.{option}: unknown TLS version: {name}")))
}

/// The versions a `tls_config` allows, lowest first. A `min_version` of TLS10 or TLS11
/// means "at least TLS 1.2" (rustls speaks nothing older); a `max_version` below TLS12
/// would leave nothing to speak and is refused.
pub(crate) fn tls_versions(tls: &TlsConfig) -> Result<Vec<TlsVersion>, HttpClientError> {
    let min = match non_empty(&tls.min_version) {
        Some(name) => version_rank("min_version", name)?,
        None => 0,
    };
    let max = match non_empty(&tls.max_version) {
        Some(name) => version_rank("max_version", name)?,
        None => VERSION_NAMES.len() - 1,
    };
    if non_empty(&tls.min_version).is_some() && non_empty(&tls.max_version).is_some() && max < min {
        return Err(HttpClientError::invalid(
            "tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified",
        ));
    }
    if max < 2 {
        return Err(HttpClientError::invalid(format!(
            "tls_config.max_version {} is not supported: Pyrite speaks TLS 1.2 and TLS 1.3 only",
            VERSION_NAMES[max]
        )));
    }
    let mut versions = Vec::new();
    if min <= 2 {
        versions.push(TlsVersion::Tls12);
    }
    if max >= 3 {
        versions.push(TlsVersion::Tls13);
    }
    Ok(versions)
}

pub(crate) fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

pub(crate) fn secret_set(value: &Option<Secret>) -> bool {
    value.as_ref().is_some_and(|s| !s.is_empty())
}

fn both(a: bool, b: bool, message: &str) -> Result<(), HttpClientError> {
    if a && b {
        Err(HttpClientError::invalid(message))
    } else {
        Ok(())
    }
}

impl TlsConfig {
    /// Prometheus's checks of a `tls_config`: each of the CA, the client certificate and
    /// its key given at most once, a certificate only with its key, and known versions.
    pub fn validate(&self) -> Result<(), HttpClientError> {
        let ca = non_empty(&self.ca).is_some();
        let ca_file = non_empty(&self.ca_file).is_some();
        let cert = non_empty(&self.cert).is_some();
        let cert_file = non_empty(&self.cert_file).is_some();
        let key = secret_set(&self.key);
        let key_file = non_empty(&self.key_file).is_some();
        both(ca, ca_file, "at most one of ca & ca_file must be configured")?;
        both(cert, cert_file, "at most one of cert & cert_file must be configured")?;
        both(key, key_file, "at most one of key and key_file must be configured")?;
        let using_cert = cert || cert_file;
        let using_key = key || key_file;
        if using_cert && !using_key {
            return Err(HttpClientError::invalid(
                "exactly one of key or key_file must be configured when a client certificate is configured",
            ));
        }
        if using_key && !using_cert {
            return Err(HttpClientError::invalid(
                "exactly one of cert or cert_file must be configured when a client key is configured",
            ));
        }
        tls_versions(self).map(|_| ())
    }
}

fn validate_proxy_url(option: &str, url: Option<&str>) -> Result<(), HttpClientError> {
    if let Some(url) = url {
        // The URL itself stays out of the message: it may carry a password.
        url::Url::parse(url).map_err(|e| HttpClientError::invalid(format!("invalid {option}: {e}")))?;
    }
    Ok(())
}

impl OAuth2 {
    fn validate(&self) -> Result<(), HttpClientError> {
        if self.client_id.is_empty() {
            return Err(HttpClientError::invalid("oauth2 client_id must be configured"));
        }
        if self.token_url.is_empty() {
            return Err(HttpClientError::invalid("oauth2 token_url must be configured"));
        }
        both(
            secret_set(&self.client_secret),
            non_empty(&self.client_secret_file).is_some(),
            "at most one of oauth2 client_secret & client_secret_file must be configured",
        )?;
        validate_proxy_url("oauth2 proxy_url", non_empty(&self.proxy_url))?;
        if let Some(tls) = &self.tls_config {
            tls.validate()?;
        }
        Ok(())
    }
}

impl HttpClientConfig {
    /// Checks the options the way Prometheus does when it loads them, with its messages:
    /// one way to authenticate, each secret given inline or as a file but not both, an
    /// `authorization` that is not `basic`, consistent proxy and TLS options.
    pub fn validate(&self) -> Result<(), HttpClientError> {
        let bearer = secret_set(&self.bearer_token);
        let bearer_file = non_empty(&self.bearer_token_file).is_some();
        both(
            bearer,
            bearer_file,
            "at most one of bearer_token & bearer_token_file must be configured",
        )?;
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && (bearer || bearer_file) {
            return Err(HttpClientError::invalid(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ));
        }
        if let Some(basic) = &self.basic_auth {
            both(
                !basic.username.is_empty(),
                non_empty(&basic.username_file).is_some(),
                "at most one of basic_auth username & username_file must be configured",
            )?;
            both(
                secret_set(&basic.password),
                non_empty(&basic.password_file).is_some(),
                "at most one of basic_auth password & password_file must be configured",
            )?;
        }
        if let Some(authz) = &self.authorization {
            if bearer || bearer_file {
                return Err(HttpClientError::invalid(
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            both(
                secret_set(&authz.credentials),
                non_empty(&authz.credentials_file).is_some(),
                "at most one of authorization credentials & credentials_file must be configured",
            )?;
            if authz
                .kind
                .as_deref()
                .is_some_and(|k| k.trim().eq_ignore_ascii_case("basic"))
            {
                return Err(HttpClientError::invalid(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                ));
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(HttpClientError::invalid(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
        }
        if let Some(oauth2) = &self.oauth2 {
            if self.basic_auth.is_some() {
                return Err(HttpClientError::invalid(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            oauth2.validate()?;
        }
        let proxy_url = non_empty(&self.proxy_url);
        let no_proxy = non_empty(&self.no_proxy).is_some();
        if self.proxy_from_environment && proxy_url.is_some() {
            return Err(HttpClientError::invalid(
                "if proxy_from_environment is configured, proxy_url must not be configured",
            ));
        }
        if self.proxy_from_environment && no_proxy {
            return Err(HttpClientError::invalid(
                "if proxy_from_environment is configured, no_proxy must not be configured",
            ));
        }
        if proxy_url.is_none() && no_proxy {
            return Err(HttpClientError::invalid(
                "if no_proxy is configured, proxy_url must also be configured",
            ));
        }
        validate_proxy_url("proxy_url", proxy_url)?;
        self.tls_config.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Authorization, BasicAuth};

    fn refused(c: &HttpClientConfig) -> String {
        match c.validate() {
            Err(HttpClientError::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn secret(s: &str) -> Option<Secret> {
        Some(Secret::new(s))
    }

    #[test]
    fn one_way_to_authenticate() {
        let basic = Some(BasicAuth {
            username: "u".into(),
            ..Default::default()
        });
        let authz = Some(Authorization {
            credentials: secret("c"),
            ..Default::default()
        });
        let oauth2 = Some(OAuth2 {
            client_id: "id".into(),
            token_url: "http://t/token".into(),
            ..Default::default()
        });
        let c = HttpClientConfig {
            bearer_token: secret("b"),
            bearer_token_file: Some("f".into()),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "at most one of bearer_token & bearer_token_file must be configured"
        );
        let c = HttpClientConfig {
            basic_auth: basic.clone(),
            bearer_token: secret("b"),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
        );
        let c = HttpClientConfig {
            authorization: authz.clone(),
            bearer_token_file: Some("f".into()),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "authorization is not compatible with bearer_token & bearer_token_file"
        );
        let c = HttpClientConfig {
            authorization: authz.clone(),
            basic_auth: basic.clone(),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "at most one of basic_auth, oauth2 & authorization must be configured"
        );
        let c = HttpClientConfig {
            authorization: authz,
            oauth2: oauth2.clone(),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "at most one of basic_auth, oauth2 & authorization must be configured"
        );
        let c = HttpClientConfig {
            basic_auth: basic,
            oauth2,
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "at most one of basic_auth, oauth2 & authorization must be configured"
        );
        HttpClientConfig {
            bearer_token: secret("b"),
            ..Default::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn secrets_inline_or_in_a_file_not_both() {
        let c = HttpClientConfig {
            basic_auth: Some(BasicAuth {
                username: "u".into(),
                password: secret("p"),
                password_file: Some("pw".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "at most one of basic_auth password & password_file must be configured"
        );
        let c = HttpClientConfig {
            basic_auth: Some(BasicAuth {
                username: "u".into(),
                username_file: Some("uf".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "at most one of basic_auth username & username_file must be configured"
        );
        let c = HttpClientConfig {
            authorization: Some(Authorization {
                credentials: secret("c"),
                credentials_file: Some("cf".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "at most one of authorization credentials & credentials_file must be configured"
        );
        let c = HttpClientConfig {
            oauth2: Some(OAuth2 {
                client_id: "id".into(),
                token_url: "http://t".into(),
                client_secret: secret("s"),
                client_secret_file: Some("sf".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "at most one of oauth2 client_secret & client_secret_file must be configured"
        );
        let c = HttpClientConfig {
            oauth2: Some(OAuth2 {
                token_url: "http://t".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(refused(&c), "oauth2 client_id must be configured");
        let c = HttpClientConfig {
            oauth2: Some(OAuth2 {
                client_id: "id".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(refused(&c), "oauth2 token_url must be configured");
    }

    #[test]
    fn authorization_type_basic_is_refused_in_any_case() {
        for kind in ["basic", "Basic", " BASIC "] {
            let c = HttpClientConfig {
                authorization: Some(Authorization {
                    kind: Some(kind.into()),
                    credentials: secret("c"),
                    ..Default::default()
                }),
                ..Default::default()
            };
            assert_eq!(
                refused(&c),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
            );
        }
    }

    #[test]
    fn proxy_options() {
        let c = HttpClientConfig {
            proxy_url: Some("http://proxy:3128".into()),
            proxy_from_environment: true,
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "if proxy_from_environment is configured, proxy_url must not be configured"
        );
        let c = HttpClientConfig {
            no_proxy: Some("localhost".into()),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "if no_proxy is configured, proxy_url must also be configured"
        );
        let c = HttpClientConfig {
            no_proxy: Some("localhost".into()),
            proxy_from_environment: true,
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "if proxy_from_environment is configured, no_proxy must not be configured"
        );
        let c = HttpClientConfig {
            proxy_url: Some("http://user:hunter2@[::1".into()),
            ..Default::default()
        };
        let m = refused(&c);
        assert!(m.starts_with("invalid proxy_url") && !m.contains("hunter2"), "{m}");
        HttpClientConfig {
            proxy_url: Some("http://proxy:3128".into()),
            no_proxy: Some("localhost".into()),
            ..Default::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn tls_options() {
        let tls = |t: TlsConfig| HttpClientConfig {
            tls_config: t,
            ..Default::default()
        };
        let c = tls(TlsConfig {
            ca: Some("pem".into()),
            ca_file: Some("f".into()),
            ..Default::default()
        });
        assert_eq!(refused(&c), "at most one of ca & ca_file must be configured");
        let c = tls(TlsConfig {
            cert: Some("pem".into()),
            cert_file: Some("f".into()),
            key_file: Some("k".into()),
            ..Default::default()
        });
        assert_eq!(refused(&c), "at most one of cert & cert_file must be configured");
        let c = tls(TlsConfig {
            cert_file: Some("f".into()),
            key: secret("k"),
            key_file: Some("k".into()),
            ..Default::default()
        });
        assert_eq!(refused(&c), "at most one of key and key_file must be configured");
        let c = tls(TlsConfig {
            cert_file: Some("f".into()),
            ..Default::default()
        });
        assert_eq!(
            refused(&c),
            "exactly one of key or key_file must be configured when a client certificate is configured"
        );
        let c = tls(TlsConfig {
            key: secret("k"),
            ..Default::default()
        });
        assert_eq!(
            refused(&c),
            "exactly one of cert or cert_file must be configured when a client key is configured"
        );
        let c = tls(TlsConfig {
            min_version: Some("TLS14".into()),
            ..Default::default()
        });
        assert_eq!(refused(&c), "tls_config.min_version: unknown TLS version: TLS14");
        let c = tls(TlsConfig {
            min_version: Some("TLS13".into()),
            max_version: Some("TLS12".into()),
            ..Default::default()
        });
        assert!(refused(&c).starts_with("tls_config.max_version must be greater than or equal"));
        let c = tls(TlsConfig {
            max_version: Some("TLS11".into()),
            ..Default::default()
        });
        assert_eq!(
            refused(&c),
            "tls_config.max_version TLS11 is not supported: Pyrite speaks TLS 1.2 and TLS 1.3 only"
        );
        // An oauth2 block's own tls_config is checked too.
        let c = HttpClientConfig {
            oauth2: Some(OAuth2 {
                client_id: "id".into(),
                token_url: "http://t".into(),
                tls_config: Some(TlsConfig {
                    key_file: Some("k".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            refused(&c),
            "exactly one of cert or cert_file must be configured when a client key is configured"
        );
    }

    #[test]
    fn old_versions_mean_at_least_tls12() {
        let v = |min: Option<&str>, max: Option<&str>| {
            tls_versions(&TlsConfig {
                min_version: min.map(Into::into),
                max_version: max.map(Into::into),
                ..Default::default()
            })
            .unwrap()
        };
        assert_eq!(v(None, None), [TlsVersion::Tls12, TlsVersion::Tls13]);
        assert_eq!(v(Some("TLS10"), None), [TlsVersion::Tls12, TlsVersion::Tls13]);
        assert_eq!(v(Some("TLS11"), Some("TLS12")), [TlsVersion::Tls12]);
        assert_eq!(v(Some("TLS13"), None), [TlsVersion::Tls13]);
        assert_eq!(v(None, Some("TLS12")), [TlsVersion::Tls12]);
    }
}
