//! [`HttpClientError`]: everything that can go wrong between a configuration and a request
//! with its credentials on.
//!
//! The invariant: no variant carries a secret's value. Messages name the option or the
//! file a value came from, never the value; a server's answer is quoted only where it
//! cannot hold what we sent (the OAuth 2 `error` code and description).

use std::path::PathBuf;

/// Why a client could not be built or a request could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// The configuration breaks one of Prometheus's rules; the message is Prometheus's.
    #[error("{0}")]
    Invalid(String),

    /// A file named by the configuration (`password_file`, `ca_file`, …) cannot be read.
    #[error("unable to read {option} {path}: {source}")]
    ReadFile {
        option: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The TLS options cannot be turned into a TLS configuration.
    #[error("tls_config: {0}")]
    Tls(String),

    /// A credential (from its file or inline) cannot be sent in an HTTP header.
    #[error("{option} is not a valid HTTP header value")]
    HeaderValue { option: &'static str },

    /// reqwest refused the client built from the options.
    #[error("building the HTTP client: {0}")]
    Build(#[source] reqwest::Error),

    /// The OAuth 2 token endpoint could not be reached or did not hand out a token.
    #[error("oauth2: fetching a token from {token_url}: {reason}")]
    OAuth2 { token_url: String, reason: String },
}

impl HttpClientError {
    pub(crate) fn invalid(message: impl Into<String>) -> HttpClientError {
        HttpClientError::Invalid(message.into())
    }
}
