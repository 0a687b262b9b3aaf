//! [`HttpClientConfig::build`] and the [`HttpClient`] it makes: a `reqwest::Client` with
//! the TLS, proxy, redirect and HTTP/2 options applied once, and the credentials applied
//! to each request by [`HttpClient::request`].
//!
//! Deliberately not here: timeouts. A scrape, a discovery refresh or a notification each
//! has its own deadline; callers set it per request (`RequestBuilder::timeout`).
//! The invariant: a request made with [`HttpClient::request`] carries the configured
//! credentials; one made on [`HttpClient::inner`] carries none.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Auth;
use crate::tls::{client_config, Alpn};
use crate::validate::non_empty;
use crate::{HttpClientConfig, HttpClientError};

/// How many redirects are followed when `follow_redirects` is on, as Go's client does.
pub const MAX_REDIRECTS: usize = 10;

/// How long an idle connection is kept, as Prometheus keeps them (above any sane scrape
/// interval, so a target's connection is reused from one scrape to the next).
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// An HTTP client made from Prometheus's HTTP client options. Cloning it is cheap and the
/// clones share connections and the OAuth 2 token.
#[derive(Clone)]
pub struct HttpClient {
    shared: Arc<Shared>,
}

struct Shared {
    client: reqwest::Client,
    auth: Auth,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("auth", &self.shared.auth)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A request to `url` with the configured credentials on (files they live in are read
    /// now; an OAuth 2 token is fetched when none is cached or it is about to expire).
    pub async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, HttpClientError> {
        self.shared.auth.apply(self.shared.client.request(method, url)).await
    }

    /// The underlying client, for requests that must go without the configured credentials.
    pub fn inner(&self) -> &reqwest::Client {
        &self.shared.client
    }
}

impl HttpClientConfig {
    /// Validates the options and builds the client; relative file names (`password_file`,
    /// `ca_file`, …) are taken from `base_dir`, the directory of the file they were read from.
    ///
    /// Certificates and keys are read here; credentials in files are read at each request.
    pub fn build(&self, base_dir: &Path) -> Result<HttpClient, HttpClientError> {
        self.validate()?;
        let alpn = if self.enable_http2 {
            Alpn::Http2AndHttp1
        } else {
            Alpn::Http1
        };
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(client_config(&self.tls_config, base_dir, alpn)?)
            .pool_idle_timeout(IDLE_CONNECTION_TIMEOUT)
            .redirect(if self.follow_redirects {
                reqwest::redirect::Policy::limited(MAX_REDIRECTS)
            } else {
                reqwest::redirect::Policy::none()
            });
        if !self.enable_http2 {
            builder = builder.http1_only();
        }
        if let Some(url) = non_empty(&self.proxy_url) {
            let mut proxy = reqwest::Proxy::all(url)
                .map_err(|e| HttpClientError::invalid(format!("invalid proxy_url: {}", e.without_url())))?;
            if let Some(no_proxy) = non_empty(&self.no_proxy) {
                proxy = proxy.no_proxy(reqwest::NoProxy::from_string(no_proxy));
            }
            builder = builder.proxy(proxy);
        } else if !self.proxy_from_environment {
            // reqwest reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY unless told not to.
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(HttpClientError::Build)?;
        let auth = Auth::from_config(self, base_dir)?;
        Ok(HttpClient {
            shared: Arc::new(Shared { client, auth }),
        })
    }
}

#[cfg(test)]
mod tests;
