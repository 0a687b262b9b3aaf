//! Secrets in the configuration: values that are never printed (not by `/config`, not
//! in logs, not by `Debug`), and the two ways of keeping them out of the configuration
//! file itself: `${VAR}` references expanded from the environment
//! (`--config.expand-env=true`, as Mimir's `-config.expand-env`) and `*_file` options
//! naming a file that holds the value.
//!
//! Invariant: a [`Secret`] only ever leaves the process through [`Secret::expose`], at
//! the one place that hands it to the peer it authenticates to.

use std::fmt;

use anyhow::{bail, Context};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What `/config` shows in place of a secret that is set.
pub const MASK: &str = "********";

/// A configuration value that must not be shown.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[cfg(test)]
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the client that sends it; never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes the value from `file` when one is named; setting both is a mistake.
    pub fn load_file(&mut self, file: &str, option: &str) -> anyhow::Result<()> {
        if file.is_empty() {
            return Ok(());
        }
        if !self.is_empty() {
            bail!("set either --{option} or --{option}-file, not both");
        }
        let text = std::fs::read_to_string(file).with_context(|| format!("reading --{option}-file {file}"))?;
        self.0 = text.trim_end_matches(['\n', '\r']).to_string();
        Ok(())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_empty() { "\"\"" } else { MASK })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.is_empty() { "" } else { MASK })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Replaces `${VAR}` with the environment variable's value (empty when unset),
/// `${VAR:-default}` with the default when it is unset or empty, and `$$` with `$`.
/// Any other `$` is left as it is.
pub fn expand_env(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .with_context(|| format!("unclosed ${{ in the configuration: {:?}", &rest[..rest.len().min(40)]))?;
            let reference = &body[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (reference, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("${{{reference}}} in the configuration is not a variable reference");
            }
            let value = env(name).filter(|v| !(v.is_empty() && default.is_some()));
            out.push_str(&value.unwrap_or_else(|| default.unwrap_or_default().to_string()));
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "S3_SECRET" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn references_expand_from_the_environment() {
        let e = |t| expand_env(t, env).unwrap();
        assert_eq!(e("key: ${S3_SECRET}\n"), "key: s3cr3t\n");
        assert_eq!(e("a${NOPE}b"), "ab");
        assert_eq!(e("${NOPE:-fallback} ${EMPTY:-x} ${S3_SECRET:-x}"), "fallback x s3cr3t");
        assert_eq!(e("regex: a$ and $$HOME"), "regex: a$ and $HOME");
        assert!(expand_env("${UNCLOSED", env).is_err());
        assert!(expand_env("${not a name}", env).is_err());
    }

    #[test]
    fn a_secret_is_never_shown() {
        let s = Secret::new("s3cr3t");
        assert_eq!(serde_yaml::to_string(&s).unwrap().trim(), format!("'{MASK}'"));
        assert_eq!(format!("{s:?}"), MASK);
        assert_eq!(s.expose(), "s3cr3t");
        assert_eq!(serde_yaml::to_string(&Secret::default()).unwrap().trim(), "''");
        let back: Secret = serde_yaml::from_str("abc").unwrap();
        assert_eq!(back.expose(), "abc");
    }

    #[test]
    fn a_secret_comes_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut s = Secret::default();
        s.load_file(file.to_str().unwrap(), "blocks.s3.secret-access-key")
            .unwrap();
        assert_eq!(s.expose(), "from-file");
        let err = s.load_file(file.to_str().unwrap(), "x").unwrap_err();
        assert!(err.to_string().contains("not both"));
        let mut missing = Secret::default();
        assert!(missing.load_file("/no/such/file", "x").is_err());
        Secret::default().load_file("", "x").unwrap();
    }
}
