//! [`Secret`]: a configuration value that is never shown, and may be read from a file.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What `/config` shows in place of a secret that is set.
pub const MASK: &str = "********";

/// A configuration value that must not be shown.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
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

    /// Takes the value from `file` when one is named (`option` is the value's flag, for
    /// the message); setting both is a mistake.
    pub fn load_file(&mut self, file: &str, option: &str) -> Result<(), String> {
        if file.is_empty() {
            return Ok(());
        }
        if !self.is_empty() {
            return Err(format!("set either --{option} or --{option}-file, not both"));
        }
        let text = std::fs::read_to_string(file).map_err(|e| format!("reading --{option}-file {file}: {e}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
