//! The admin credential that guards the control plane (`POST /ring/changes`): a bearer
//! token read at start-up from `--cluster.admin-token-file` or, without that flag, the
//! `PYRITE_ADMIN_TOKEN` environment variable. A layer checks it before any handler
//! runs; handlers never see credentials.
//!
//! Without a configured token every change is refused (403): an open control plane is
//! never the default. A request without a bearer credential is 401 (with
//! `WWW-Authenticate: Bearer`), a wrong one 403. Tokens are compared in constant time.
//!
//! The invariant: the token's value is never logged, printed (its `Debug` is redacted)
//! or put in the configuration, which holds only the file's path (and `/config` shows
//! only that).

use std::sync::Arc;

use anyhow::{bail, Context};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The environment variable a token may come from.
pub const TOKEN_ENV: &str = "PYRITE_ADMIN_TOKEN";

/// The configured admin token, if any.
#[derive(Clone, Default)]
pub struct AdminToken(Option<Arc<[u8]>>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(_) => f.write_str("AdminToken(<redacted>)"),
            None => f.write_str("AdminToken(none)"),
        }
    }
}

impl AdminToken {
    /// A token (surrounding whitespace, such as a file's final newline, is not part of
    /// it); an empty one is refused.
    pub fn new(token: &str) -> anyhow::Result<AdminToken> {
        let token = token.trim();
        if token.is_empty() {
            bail!("the admin token is empty");
        }
        Ok(AdminToken(Some(Arc::from(token.as_bytes()))))
    }

    /// The token from `file` when given, else from `env` (the value of
    /// [`TOKEN_ENV`]; set but empty, as `docker-compose` passes an unset one, is none),
    /// else none.
    pub fn load(file: &str, env: Option<String>) -> anyhow::Result<AdminToken> {
        if !file.is_empty() {
            let text =
                std::fs::read_to_string(file).with_context(|| format!("reading --cluster.admin-token-file {file}"))?;
            return AdminToken::new(&text).with_context(|| format!("--cluster.admin-token-file {file}"));
        }
        match env.filter(|v| !v.trim().is_empty()) {
            Some(v) => AdminToken::new(&v).with_context(|| format!("${TOKEN_ENV}")),
            None => Ok(AdminToken::default()),
        }
    }

    /// Says at start-up whether ring changes can be made here, and with what.
    pub fn log_where_from(&self, file: &str) {
        match (self.is_configured(), file.is_empty()) {
            (false, _) => tracing::info!(
                "no admin token (--cluster.admin-token-file or {TOKEN_ENV}): POST /ring/changes is refused here"
            ),
            (true, false) => tracing::info!(file, "ring changes need the admin token"),
            (true, true) => tracing::info!("ring changes need the admin token (from {TOKEN_ENV})"),
        }
    }

    pub fn is_configured(&self) -> bool {
        self.0.is_some()
    }

    /// Whether `given` is the token (no token configured: nothing is).
    fn accepts(&self, given: &[u8]) -> bool {
        self.0.as_deref().is_some_and(|want| constant_time_eq(given, want))
    }
}

/// Compares without an early exit: the time taken depends on `given`'s length only,
/// never on where it first differs from `want`.
fn constant_time_eq(given: &[u8], want: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != want.len());
    for (i, g) in given.iter().enumerate() {
        diff |= g ^ want.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

/// The layer: lets a request through only with `Authorization: Bearer <token>`.
pub async fn require_admin(State(token): State<AdminToken>, req: Request, next: Next) -> Response {
    if !token.is_configured() {
        return (
            StatusCode::FORBIDDEN,
            format!(
                "ring changes are disabled: no admin token is configured on this process; start it with \
                 --cluster.admin-token-file=PATH (or {TOKEN_ENV}) and send Authorization: Bearer <token>\n"
            ),
        )
            .into_response();
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    match given {
        None => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"pyrite\"")],
            "ring changes need the admin token: send Authorization: Bearer <token>\n",
        )
            .into_response(),
        Some(t) if token.accepts(t.as_bytes()) => next.run(req).await,
        Some(_) => {
            tracing::warn!("a ring change with a wrong admin token was refused");
            (StatusCode::FORBIDDEN, "the admin token is not valid\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secreT", b"secret"));
        assert!(!constant_time_eq(b"secret-and-more", b"secret"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(!AdminToken::default().accepts(b""), "no token accepts nothing");
    }

    #[test]
    fn tokens_load_from_a_file_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin.token");
        std::fs::write(&file, "from-file\n").unwrap();
        let path = file.to_str().unwrap();
        let t = AdminToken::load(path, Some("from-env".into())).unwrap();
        assert!(t.accepts(b"from-file"), "the file wins, without its newline");
        assert!(AdminToken::load("", Some("from-env".into()))
            .unwrap()
            .accepts(b"from-env"));
        assert!(!AdminToken::load("", None).unwrap().is_configured());
        assert!(!AdminToken::load("", Some(String::new())).unwrap().is_configured());
        std::fs::write(&file, " \n").unwrap();
        assert!(AdminToken::load(path, None).is_err(), "an empty token is refused");
        assert!(AdminToken::load("/no/such/file", None).is_err());
        assert_eq!(format!("{t:?}"), "AdminToken(<redacted>)");
    }
}
