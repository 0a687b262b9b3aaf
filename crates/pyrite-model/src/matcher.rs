//! Label matchers (`=`, `!=`, `=~`, `!~`) as PromQL and the series API use them.

use std::fmt;

use regex::Regex;

use crate::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {pattern:?} in matcher for label {name:?}: {source}")]
pub struct MatcherError {
    pub name: String,
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

/// One label matcher. Regexes are fully anchored and `.` matches newlines, as in
/// Prometheus 3.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?s:{value})$")).map_err(|source| MatcherError {
                    name: name.clone(),
                    pattern: value.clone(),
                    source,
                })?)
            }
            _ => None,
        };
        Ok(Self { name, op, value, re })
    }

    /// Shorthand for an equality matcher (cannot fail).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            re: None,
        }
    }

    /// Does the (possibly empty) label value satisfy this matcher?
    #[inline]
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// True when the matcher accepts a missing label (value `""`); such matchers select
    /// series that lack the label, so they cannot be answered by postings alone.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// When a regex is a plain alternation of literals (`a|b|c`), those literals; lets
    /// the index answer it with lookups instead of scanning every value.
    pub fn set_matches(&self) -> Option<Vec<String>> {
        if !matches!(self.op, MatchOp::Regex | MatchOp::NotRegex) {
            return None;
        }
        let special = |c: char| r"\.+*?()[]{}^$".contains(c);
        if self.value.is_empty() || self.value.chars().any(special) {
            return None;
        }
        Some(self.value.split('|').map(str::to_string).collect())
    }

    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

/// True when every matcher accepts the label set.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored_and_dotall() {
        let m = Matcher::new(MatchOp::Regex, "a", "fo+").unwrap();
        assert!(m.matches("foo"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("foox"));
        let m = Matcher::new(MatchOp::Regex, "a", "a.b").unwrap();
        assert!(m.matches("a\nb"));
        let m = Matcher::new(MatchOp::NotRegex, "a", "x|y").unwrap();
        assert!(m.matches(""));
        assert!(!m.matches("x"));
    }

    #[test]
    fn empty_semantics() {
        assert!(Matcher::equal("a", "").matches_empty());
        assert!(!Matcher::equal("a", "x").matches_empty());
        assert!(Matcher::new(MatchOp::Regex, "a", ".*").unwrap().matches_empty());
        assert!(!Matcher::new(MatchOp::Regex, "a", ".+").unwrap().matches_empty());
    }

    #[test]
    fn set_matches_only_for_literal_alternations() {
        let m = Matcher::new(MatchOp::Regex, "a", "x|y|z").unwrap();
        assert_eq!(m.set_matches().unwrap(), ["x", "y", "z"]);
        assert!(Matcher::new(MatchOp::Regex, "a", "x.*")
            .unwrap()
            .set_matches()
            .is_none());
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Matcher::new(MatchOp::Regex, "a", "(").is_err());
    }
}
