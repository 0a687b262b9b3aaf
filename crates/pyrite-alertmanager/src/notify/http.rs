//! What the HTTP integrations share: reading a credential given inline or in a file,
//! the group key's hash that PagerDuty and OpsGenie deduplicate on, executing a
//! notification's template fields, truncating to a receiver's limit, and sending a
//! request (most often one JSON POST) and classifying its answer, reading the answer's
//! text, and taking credentials out of an error's message.
//!
//! Receivers whose statuses Alertmanager treats differently keep that difference in
//! their own file: they pass their extra retry codes to [`send`], or take the raw
//! answer from [`send_any_status`] and judge it themselves (WeChat, SNS).
//!
//! The invariant: no error made here carries a URL, a credential or a request body —
//! transport errors are stripped of their URL and status errors name only the
//! integration and the status code — and a failure is retryable exactly when trying
//! again may succeed (a transport error, a 5xx, a 429 or the integration's own
//! rate-limit codes).

use std::path::{Path, PathBuf};

use pyrite_config::Secret;
use pyrite_template::Value;
use sha2::{Digest, Sha256};

use super::template::{data_value, Templates};
use super::{Data, NotifyError};
use crate::config::HttpConfig;

pub(super) const USER_AGENT: &str = concat!("Pyrite-Alertmanager/", env!("CARGO_PKG_VERSION"));

/// A credential (or a URL carrying one), given inline or read from a file at each
/// notification, as Alertmanager reads it, so a rotated file is picked up.
#[derive(Clone)]
pub(super) enum SecretSource {
    Inline(String),
    File(PathBuf),
}

impl SecretSource {
    /// The inline value if set, else the file (taken against `base_dir`), else `None`.
    pub(super) fn new(inline: Option<&Secret>, file: Option<&String>, base_dir: &Path) -> Option<SecretSource> {
        match (
            inline.map(Secret::expose).filter(|s| !s.is_empty()),
            file.filter(|f| !f.is_empty()),
        ) {
            (Some(s), _) => Some(SecretSource::Inline(s.to_string())),
            (None, Some(f)) => Some(SecretSource::File(base_dir.join(f))),
            (None, None) => None,
        }
    }

    /// The value, its file's content trimmed; a file that cannot be read is a fatal
    /// error naming the file (never its content).
    pub(super) fn get(&self, kind: &str) -> Result<String, NotifyError> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|e| NotifyError::fatal(format!("{kind}: reading {}: {e}", path.display()))),
        }
    }
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("<secret>"),
            SecretSource::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// `url` ending in `/`, so paths can be appended to it, as Alertmanager joins them.
pub(super) fn with_slash(mut url: String) -> String {
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}

/// The HTTP client of an integration's `http_config`.
pub(super) fn client(http: &HttpConfig, base_dir: &Path) -> Result<pyrite_http_client::HttpClient, String> {
    http.http_client_config().build(base_dir).map_err(|e| e.to_string())
}

/// Alertmanager's `Key.Hash()`: the SHA-256 of the group key, in hex.
pub(super) fn group_key_hash(group_key: &str) -> String {
    Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Alertmanager's `TruncateInRunes`: at most `n` characters, the last one `…` when cut.
pub(super) fn truncate_in_runes(s: String, n: usize) -> (String, bool) {
    if s.chars().count() <= n {
        return (s, false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    (out, true)
}

/// [`truncate_in_runes`], with a warning naming the integration and the field (never
/// the text) when it cuts, as Alertmanager warns.
pub(super) fn truncate(kind: &str, field: &str, s: String, n: usize) -> String {
    let (out, cut) = truncate_in_runes(s, n);
    if cut {
        tracing::warn!(
            integration = kind,
            field,
            max_runes = n,
            "truncated a notification field"
        );
    }
    out
}

/// A template that failed to execute, as a fatal error: trying again renders the same.
pub(super) fn template_error(kind: &str, e: impl std::fmt::Display) -> NotifyError {
    NotifyError::fatal(format!("{kind}: template error: {e}"))
}

/// Executes the template fields of one notification; the first failure is kept (with
/// the failing text named by its field) and every later field then gives `""`, as
/// Alertmanager's `TmplText` does.
pub(super) struct Renderer<'a> {
    kind: &'static str,
    templates: &'a Templates,
    data: Value,
    error: Option<String>,
}

impl<'a> Renderer<'a> {
    pub(super) fn new(kind: &'static str, templates: &'a Templates, data: &Data) -> Renderer<'a> {
        Renderer {
            kind,
            templates,
            data: data_value(data),
            error: None,
        }
    }

    pub(super) fn text(&mut self, text: &str) -> String {
        if self.error.is_some() {
            return String::new();
        }
        match self.templates.execute_value(text, &self.data) {
            Ok(s) => s,
            Err(e) => {
                self.error = Some(e);
                String::new()
            }
        }
    }

    /// [`text`](Self::text) cut to `n` characters by [`truncate`], which names `field`
    /// when it cuts: a field with a receiver's limit.
    pub(super) fn truncated(&mut self, field: &str, text: &str, n: usize) -> String {
        let out = self.text(text);
        truncate(self.kind, field, out, n)
    }

    /// A template failure as a fatal error: trying again renders the same.
    pub(super) fn finish(self) -> Result<(), NotifyError> {
        match self.error {
            None => Ok(()),
            Some(e) => Err(template_error(self.kind, e)),
        }
    }
}

/// Sends `req` (which goes to a URL that may carry a credential) and classifies the
/// answer: `Ok` with the response on a 2xx; otherwise an error that is retryable for a
/// transport failure, a 5xx, a 429 or one of `retry_codes`.
pub(super) async fn send(
    kind: &str,
    req: reqwest::RequestBuilder,
    retry_codes: &[u16],
) -> Result<reqwest::Response, NotifyError> {
    let resp = send_any_status(kind, req).await?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    Err(status_error(kind, status.as_u16(), retry_codes))
}

/// Sends `req` with Pyrite's `User-Agent` and gives the answer whatever its status, for
/// the receivers that judge the status themselves; a transport failure is retryable
/// and stripped of its URL.
pub(super) async fn send_any_status(
    kind: &str,
    req: reqwest::RequestBuilder,
) -> Result<reqwest::Response, NotifyError> {
    req.header("User-Agent", USER_AGENT)
        .send()
        .await
        .map_err(|e| NotifyError::retry(format!("{kind}: {}", e.without_url())))
}

pub(super) fn status_error(kind: &str, code: u16, retry_codes: &[u16]) -> NotifyError {
    let message = format!("{kind}: unexpected status code {code}");
    if (500..600).contains(&code) || code == 429 || retry_codes.contains(&code) {
        NotifyError::retry(message)
    } else {
        NotifyError::fatal(message)
    }
}

/// A request builder for `method url`, with the integration's HTTP client; a failure
/// to prepare it (say, fetching an OAuth2 token) is retryable.
pub(super) async fn request(
    kind: &str,
    client: &pyrite_http_client::HttpClient,
    method: reqwest::Method,
    url: &str,
) -> Result<reqwest::RequestBuilder, NotifyError> {
    client
        .request(method, url)
        .await
        .map_err(|e| NotifyError::retry(format!("{kind}: {}", redact(&e.to_string(), url))))
}

/// A request of `method url` with the integration's HTTP client carrying `body` as
/// `application/json`, ready for more headers and then [`send`].
pub(super) async fn json_request(
    kind: &str,
    client: &pyrite_http_client::HttpClient,
    method: reqwest::Method,
    url: &str,
    body: Vec<u8>,
) -> Result<reqwest::RequestBuilder, NotifyError> {
    Ok(request(kind, client, method, url)
        .await?
        .header("Content-Type", "application/json")
        .body(body))
}

/// POSTs `body` as JSON to `url` and classifies the answer as [`send`] does (with
/// `retry_codes`): the common case of one request per notification.
pub(super) async fn post_json(
    kind: &str,
    client: &pyrite_http_client::HttpClient,
    url: &str,
    body: Vec<u8>,
    retry_codes: &[u16],
) -> Result<reqwest::Response, NotifyError> {
    send(
        kind,
        json_request(kind, client, reqwest::Method::POST, url, body).await?,
        retry_codes,
    )
    .await
}

/// The body of an answer as text; failing to read it is retryable.
pub(super) async fn answer_text(kind: &str, resp: reqwest::Response) -> Result<String, NotifyError> {
    resp.text()
        .await
        .map_err(|e| NotifyError::retry(format!("{kind}: reading the answer: {}", e.without_url())))
}

/// `e` with each of `secrets` taken out of its message, in order, its class kept.
pub(super) fn hide(e: NotifyError, secrets: &[&str]) -> NotifyError {
    let message = secrets.iter().fold(e.message, |m, s| redact(&m, s));
    NotifyError { message, ..e }
}

/// `e` with `note` appended to its message in parentheses, its class kept.
pub(super) fn noting(e: NotifyError, note: impl std::fmt::Display) -> NotifyError {
    NotifyError {
        message: format!("{} ({note})", e.message),
        ..e
    }
}

/// `message` with `url` (which may carry a credential) taken out.
pub(super) fn redact(message: &str, url: &str) -> String {
    if url.is_empty() {
        return message.to_string();
    }
    message.replace(url, "<redacted>")
}

/// A JSON body, or a fatal error (a body that does not encode never will).
pub(super) fn json_body(kind: &str, v: &impl serde::Serialize) -> Result<Vec<u8>, NotifyError> {
    serde_json::to_vec(v).map_err(|e| NotifyError::fatal(format!("{kind}: encoding the message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_truncation_are_alertmanagers() {
        // printf '%s' '{}:{alertname="Down"}' | sha256sum
        assert_eq!(
            group_key_hash("{}:{alertname=\"Down\"}"),
            "af94c9e8f6a3043625e36c6f472fe6be85ac23a9117184ee4cb7b4ad7401a47e"
        );
        assert_eq!(
            group_key_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(truncate_in_runes("abcdef".into(), 4), ("abc…".to_string(), true));
        assert_eq!(truncate_in_runes("abcdef".into(), 6), ("abcdef".to_string(), false));
        assert_eq!(truncate_in_runes("abcdef".into(), 2), ("ab".to_string(), true));
    }

    #[test]
    fn status_classification() {
        assert!(status_error("x", 500, &[]).retry);
        assert!(status_error("x", 429, &[]).retry);
        assert!(!status_error("x", 400, &[]).retry);
        assert!(status_error("x", 403, &[403]).retry);
        assert_eq!(status_error("x", 404, &[]).message, "x: unexpected status code 404");
    }

    #[test]
    fn errors_keep_their_class_when_redacted_or_noted() {
        let e = hide(
            NotifyError::retry("x: GET http://h/T0K3N?u=US3R"),
            &["T0K3N", "", "US3R"],
        );
        assert!(e.retry);
        assert_eq!(e.message, "x: GET http://h/<redacted>?u=<redacted>");
        let e = noting(NotifyError::fatal("x: unexpected status code 400"), "channel \"#a\"");
        assert!(!e.retry);
        assert_eq!(e.message, "x: unexpected status code 400 (channel \"#a\")");
        assert_eq!(with_slash("http://h/v1".into()), "http://h/v1/");
        assert_eq!(with_slash("http://h/v1/".into()), "http://h/v1/");
        assert_eq!(template_error("x", "boom").message, "x: template error: boom");
    }
}
