//! How a request proves who sends it: `basic_auth`, `authorization` (and the legacy
//! `bearer_token`/`bearer_token_file`), or an OAuth 2 token.
//!
//! A credential given as a file is read again for every request, as Prometheus does, so a
//! rotated password or token is used from the next request on; surrounding whitespace (the
//! file's last newline) is trimmed.
//! The invariant: a credential becomes a header value marked sensitive, and nothing here
//! implements `Debug` or `Display` in a way that shows it.

use std::fmt;
use std::path::{Path, PathBuf};

use pyrite_config::Secret;
use reqwest::header::HeaderValue;

use crate::oauth2::TokenSource;
use crate::validate::{non_empty, secret_set};
use crate::{resolve, HttpClientConfig, HttpClientError};

/// A credential given inline or as a file to read at each use.
#[derive(Clone)]
pub(crate) enum SecretSource {
    Inline(Secret),
    File { option: &'static str, path: PathBuf },
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("inline"),
            SecretSource::File { path, .. } => write!(f, "file {}", path.display()),
        }
    }
}

impl SecretSource {
    /// The inline value when it is set, else the file when it is named, else nothing.
    pub(crate) fn pick(
        inline: Option<&Secret>,
        file: &Option<String>,
        option: &'static str,
        base_dir: &Path,
    ) -> Option<SecretSource> {
        if let Some(secret) = inline.filter(|s| !s.is_empty()) {
            return Some(SecretSource::Inline(secret.clone()));
        }
        non_empty(file).map(|file| SecretSource::File {
            option,
            path: resolve(base_dir, file),
        })
    }

    pub(crate) async fn read(&self) -> Result<Secret, HttpClientError> {
        match self {
            SecretSource::Inline(secret) => Ok(secret.clone()),
            SecretSource::File { option, path } => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|source| HttpClientError::ReadFile {
                        option,
                        path: path.clone(),
                        source,
                    })?;
                Ok(Secret::new(text.trim()))
            }
        }
    }
}

async fn read_or_empty(source: &Option<SecretSource>) -> Result<Secret, HttpClientError> {
    match source {
        Some(source) => source.read().await,
        None => Ok(Secret::default()),
    }
}

/// What [`crate::HttpClient::request`] puts on each request.
#[derive(Debug)]
pub(crate) enum Auth {
    None,
    Basic {
        username: Option<SecretSource>,
        password: Option<SecretSource>,
    },
    Header {
        kind: String,
        credentials: Option<SecretSource>,
    },
    OAuth2(TokenSource),
}

impl Auth {
    pub(crate) fn from_config(config: &HttpClientConfig, base_dir: &Path) -> Result<Auth, HttpClientError> {
        if let Some(basic) = &config.basic_auth {
            let username = (!basic.username.is_empty()).then(|| Secret::new(basic.username.clone()));
            return Ok(Auth::Basic {
                username: SecretSource::pick(username.as_ref(), &basic.username_file, "username_file", base_dir),
                password: SecretSource::pick(basic.password.as_ref(), &basic.password_file, "password_file", base_dir),
            });
        }
        if let Some(authz) = &config.authorization {
            let kind = authz.kind.as_deref().map(str::trim).filter(|k| !k.is_empty());
            return Ok(Auth::Header {
                kind: kind.unwrap_or("Bearer").to_string(),
                credentials: SecretSource::pick(
                    authz.credentials.as_ref(),
                    &authz.credentials_file,
                    "credentials_file",
                    base_dir,
                ),
            });
        }
        if secret_set(&config.bearer_token) || non_empty(&config.bearer_token_file).is_some() {
            return Ok(Auth::Header {
                kind: "Bearer".to_string(),
                credentials: SecretSource::pick(
                    config.bearer_token.as_ref(),
                    &config.bearer_token_file,
                    "bearer_token_file",
                    base_dir,
                ),
            });
        }
        if let Some(oauth2) = &config.oauth2 {
            return Ok(Auth::OAuth2(TokenSource::new(oauth2, base_dir)?));
        }
        Ok(Auth::None)
    }

    /// Adds the credentials to `request`, reading the files they live in.
    pub(crate) async fn apply(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, HttpClientError> {
        match self {
            Auth::None => Ok(request),
            Auth::Basic { username, password } => {
                let username = read_or_empty(username).await?;
                let password = read_or_empty(password).await?;
                // reqwest encodes the pair and marks the header sensitive.
                Ok(request.basic_auth(username.expose(), Some(password.expose())))
            }
            Auth::Header { kind, credentials } => {
                let credentials = read_or_empty(credentials).await?;
                let value = authorization_value(kind, &credentials, "authorization credentials")?;
                Ok(request.header(reqwest::header::AUTHORIZATION, value))
            }
            Auth::OAuth2(tokens) => Ok(request.header(reqwest::header::AUTHORIZATION, tokens.header().await?)),
        }
    }
}

/// `<kind> <credentials>` as a sensitive header value.
pub(crate) fn authorization_value(
    kind: &str,
    credentials: &Secret,
    option: &'static str,
) -> Result<HeaderValue, HttpClientError> {
    let mut value = HeaderValue::try_from(format!("{kind} {}", credentials.expose()))
        .map_err(|_| HttpClientError::HeaderValue { option })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_is_read_at_each_use_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "first\n").unwrap();
        let source = SecretSource::pick(None, &Some("pw".into()), "password_file", dir.path()).unwrap();
        assert_eq!(source.read().await.unwrap().expose(), "first");
        std::fs::write(dir.path().join("pw"), "  second\r\n").unwrap();
        assert_eq!(source.read().await.unwrap().expose(), "second");
        assert_eq!(
            format!("{source:?}"),
            format!("file {}", dir.path().join("pw").display())
        );

        let inline = SecretSource::pick(Some(&Secret::new("s3cret")), &None, "x", dir.path()).unwrap();
        assert_eq!(format!("{inline:?}"), "inline");
        assert!(SecretSource::pick(Some(&Secret::default()), &Some(String::new()), "x", dir.path()).is_none());

        std::fs::remove_file(dir.path().join("pw")).unwrap();
        let e = source.read().await.unwrap_err().to_string();
        assert!(e.starts_with("unable to read password_file "), "{e}");
    }

    #[test]
    fn a_bad_header_value_does_not_quote_the_credential() {
        let e = authorization_value("Bearer", &Secret::new("s3cret\nx"), "authorization credentials").unwrap_err();
        assert!(!e.to_string().contains("s3cret") && !format!("{e:?}").contains("s3cret"));
        let v = authorization_value("Custom", &Secret::new("abc"), "x").unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v.to_str().unwrap(), "Custom abc");
    }
}
