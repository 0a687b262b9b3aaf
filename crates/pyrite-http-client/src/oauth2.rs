//! OAuth 2's client-credentials grant: a token fetched from `token_url`, kept until shortly
//! before it expires, and sent as `Authorization: <token_type> <access_token>`.
//!
//! The token request is a form POST (`grant_type=client_credentials`, `scope` as the scopes
//! joined by spaces, then `endpoint_params`), with the client id and secret as HTTP basic
//! authentication, each form-encoded first, as Go's OAuth 2 library sends them by default.
//! It goes through its own client, built from the `oauth2` block's `tls_config` and
//! `proxy_url`, and has its own deadline ([`TOKEN_REQUEST_TIMEOUT`]).
//!
//! Deliberately not here: refresh tokens and every other grant.
//! The invariant: one token request at a time per client (the cache's lock is held while
//! fetching), and a changed `client_secret_file` drops the cached token, so a rotated
//! secret is used at once.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::time::Duration;

use pyrite_config::Secret;
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use tokio::time::Instant;

use crate::auth::{authorization_value, SecretSource};
use crate::tls::{client_config, Alpn};
use crate::validate::non_empty;
use crate::{redact_url, HttpClientError, OAuth2};

/// How long a token request may take, connection included.
pub const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A token is fetched anew this long before the server says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// The most of a token endpoint's answer that is read.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

pub(crate) struct TokenSource {
    client: reqwest::Client,
    client_id: String,
    client_secret: Option<SecretSource>,
    scopes: Vec<String>,
    token_url: String,
    endpoint_params: BTreeMap<String, String>,
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scopes", &self.scopes)
            .field("token_url", &redact_url(&self.token_url))
            .finish_non_exhaustive()
    }
}

struct CachedToken {
    /// A hash of the client secret the token was fetched with, to notice a new one.
    secret_hash: u64,
    header: HeaderValue,
    /// `None`: the server gave no lifetime, and the token is kept.
    refresh_at: Option<Instant>,
}

fn hash(secret: &Secret) -> u64 {
    let mut h = DefaultHasher::new();
    secret.expose().hash(&mut h);
    h.finish()
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The `token_type` as Go's OAuth 2 library writes it in the header.
fn header_type(token_type: &str) -> &str {
    if token_type.is_empty() || token_type.eq_ignore_ascii_case("bearer") {
        "Bearer"
    } else if token_type.eq_ignore_ascii_case("mac") {
        "MAC"
    } else if token_type.eq_ignore_ascii_case("basic") {
        "Basic"
    } else {
        token_type
    }
}

/// What a token endpoint answered, JSON or form-encoded.
#[derive(Default, serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

fn seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_answer(content_type: &str, body: &[u8]) -> Result<TokenAnswer, String> {
    if content_type.starts_with("application/x-www-form-urlencoded") || content_type.starts_with("text/plain") {
        let mut answer = TokenAnswer::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            match &*k {
                "access_token" => answer.access_token = v.into_owned(),
                "token_type" => answer.token_type = v.into_owned(),
                "expires_in" => answer.expires_in = Some(serde_json::Value::String(v.into_owned())),
                _ => {}
            }
        }
        return Ok(answer);
    }
    serde_json::from_slice(body).map_err(|e| format!("cannot parse the token answer: {e}"))
}

/// The RFC 6749 `error` and `error_description` of a refusal, when there are any.
fn refusal(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: String,
        #[serde(default)]
        error_description: String,
    }
    match serde_json::from_slice::<Refusal>(body) {
        Ok(r) if r.error_description.is_empty() => format!(": {:.200}", r.error),
        Ok(r) => format!(": {:.200} ({:.200})", r.error, r.error_description),
        Err(_) => String::new(),
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.without_url().to_string())? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl TokenSource {
    pub(crate) fn new(config: &OAuth2, base_dir: &Path) -> Result<TokenSource, HttpClientError> {
        let tls = config.tls_config.clone().unwrap_or_default();
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(client_config(&tls, base_dir, Alpn::Http2AndHttp1)?)
            .redirect(reqwest::redirect::Policy::limited(10));
        builder = match non_empty(&config.proxy_url) {
            Some(url) => builder.proxy(
                reqwest::Proxy::all(url)
                    .map_err(|e| HttpClientError::invalid(format!("invalid oauth2 proxy_url: {}", e.without_url())))?,
            ),
            None => builder.no_proxy(),
        };
        Ok(TokenSource {
            client: builder.build().map_err(HttpClientError::Build)?,
            client_id: config.client_id.clone(),
            client_secret: SecretSource::pick(
                config.client_secret.as_ref(),
                &config.client_secret_file,
                "client_secret_file",
                base_dir,
            ),
            scopes: config.scopes.clone(),
            token_url: config.token_url.clone(),
            endpoint_params: config.endpoint_params.clone(),
            cached: tokio::sync::Mutex::new(None),
        })
    }

    fn error(&self, reason: impl Into<String>) -> HttpClientError {
        HttpClientError::OAuth2 {
            token_url: redact_url(&self.token_url),
            reason: reason.into(),
        }
    }

    /// The `Authorization` header to send: the cached token while it is fresh and the
    /// client secret unchanged, else a new one.
    pub(crate) async fn header(&self) -> Result<HeaderValue, HttpClientError> {
        let secret = match &self.client_secret {
            Some(source) => source.read().await?,
            None => Secret::default(),
        };
        let secret_hash = hash(&secret);
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            let fresh = token.refresh_at.is_none_or(|at| Instant::now() < at);
            if fresh && token.secret_hash == secret_hash {
                return Ok(token.header.clone());
            }
        }
        let asked_at = Instant::now();
        let (header, lifetime) = self.fetch(&secret).await?;
        *cached = Some(CachedToken {
            secret_hash,
            header: header.clone(),
            refresh_at: lifetime.map(|l| asked_at + l.saturating_sub(EXPIRY_MARGIN)),
        });
        Ok(header)
    }

    fn form(&self) -> Result<Vec<(String, String)>, HttpClientError> {
        let mut form = vec![("grant_type".to_string(), "client_credentials".to_string())];
        if !self.scopes.is_empty() {
            form.push(("scope".to_string(), self.scopes.join(" ")));
        }
        for (k, v) in &self.endpoint_params {
            match form.iter_mut().find(|(name, _)| name == k) {
                // Go's library lets grant_type be replaced, for servers that want another.
                Some(param) if k == "grant_type" => param.1 = v.clone(),
                Some(_) => return Err(self.error(format!("cannot overwrite parameter {k:?}"))),
                None => form.push((k.clone(), v.clone())),
            }
        }
        Ok(form)
    }

    async fn fetch(&self, secret: &Secret) -> Result<(HeaderValue, Option<Duration>), HttpClientError> {
        let response = self
            .client
            .post(&self.token_url)
            .basic_auth(form_encode(&self.client_id), Some(form_encode(secret.expose())))
            .form(&self.form()?)
            .timeout(TOKEN_REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.error(e.without_url().to_string()))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = read_limited(response).await.map_err(|e| self.error(e))?;
        if !status.is_success() {
            return Err(self.error(format!("the server answered {status}{}", refusal(&body))));
        }
        let answer = parse_answer(&content_type, &body).map_err(|e| self.error(e))?;
        if answer.access_token.is_empty() {
            return Err(self.error("server response missing access_token"));
        }
        let token = Secret::new(answer.access_token);
        let header = authorization_value(header_type(&answer.token_type), &token, "oauth2 access_token")?;
        let lifetime = answer
            .expires_in
            .as_ref()
            .and_then(seconds)
            .filter(|s| *s > 0)
            .map(Duration::from_secs);
        Ok((header, lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_json_and_in_form_encoding() {
        let a = parse_answer(
            "application/json",
            br#"{"access_token":"t","token_type":"bearer","expires_in":"60"}"#,
        )
        .unwrap();
        assert_eq!((a.access_token.as_str(), header_type(&a.token_type)), ("t", "Bearer"));
        assert_eq!(a.expires_in.as_ref().and_then(seconds), Some(60));
        let a = parse_answer(
            "application/x-www-form-urlencoded; charset=utf-8",
            b"access_token=f&token_type=mac&expires_in=5",
        )
        .unwrap();
        assert_eq!((a.access_token.as_str(), header_type(&a.token_type)), ("f", "MAC"));
        assert_eq!(a.expires_in.as_ref().and_then(seconds), Some(5));
        assert!(parse_answer("application/json", b"not json").is_err());
        assert_eq!(header_type("DPoP"), "DPoP");
        assert_eq!(
            refusal(br#"{"error":"invalid_client","error_description":"nope"}"#),
            ": invalid_client (nope)"
        );
        assert_eq!(refusal(b"<html>"), "");
    }
}
