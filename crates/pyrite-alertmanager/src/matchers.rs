//! Label matchers as Alertmanager writes them — in routes (`matchers`, and the classic
//! `match`/`match_re`), inhibition rules, silences and API filters — parsed from either
//! syntax: `{name="value", other=~"re.*"}` or the bare `name=value` list, with quoted or
//! unquoted values. Regexes are anchored at both ends, as in Alertmanager.

use std::fmt;

use regex::Regex;

use crate::model::LabelSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }

    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }

    /// From the API's `isRegex`/`isEqual` pair.
    pub fn from_flags(is_regex: bool, is_equal: bool) -> MatchOp {
        match (is_regex, is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        }
    }
}

/// One matcher. A label that is absent matches as the empty string.
#[derive(Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Matcher, MatcherError> {
        let (name, value) = (name.into(), value.into());
        let re = if op.is_regex() {
            Some(
                Regex::new(&format!("^(?s:{value})$"))
                    .map_err(|e| MatcherError(format!("invalid regular expression {value:?}: {e}")))?,
            )
        } else {
            None
        };
        Ok(Matcher { name, op, value, re })
    }

    pub fn matches_value(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).map(String::as_str).unwrap_or(""))
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `name="value"`, the value quoted as Go quotes strings.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.name,
            self.op.as_str(),
            pyrite_template::go_quote(&self.value)
        )
    }
}

/// Matchers that must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Parses `{a="b", c=~"d"}` or `a=b, c=~d`; an empty text is no matchers.
    pub fn parse(text: &str) -> Result<Matchers, MatcherError> {
        Parser { s: text, pos: 0 }.matchers().map(Matchers)
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Matcher> {
        self.0.iter()
    }

    pub fn extend(&mut self, other: Matchers) {
        self.0.extend(other.0)
    }
}

/// `{a="b", c=~"d"}`.
impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// As their text, `{a="b", c=~"d"}`.
impl serde::Serialize for Matchers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Matchers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Matchers::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(pub String);

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> MatcherError {
        MatcherError(format!("{}:{}: {what}", self.pos, self.s.len()))
    }

    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn matchers(&mut self) -> Result<Vec<Matcher>, MatcherError> {
        let braced = self.eat('{');
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.rest().is_empty() || (braced && self.rest().starts_with('}')) {
                break;
            }
            out.push(self.matcher()?);
            if !self.eat(',') {
                break;
            }
        }
        if braced && !self.eat('}') {
            return Err(self.err("expected close brace"));
        }
        self.skip_ws();
        if !self.rest().is_empty() {
            return Err(self.err(&format!("unexpected {:?}", self.rest())));
        }
        Ok(out)
    }

    fn matcher(&mut self) -> Result<Matcher, MatcherError> {
        self.skip_ws();
        let name = if self.rest().starts_with('"') {
            self.quoted()?
        } else {
            let end = self
                .rest()
                .find(|c: char| "=!~,{}\" \t\n".contains(c))
                .unwrap_or(self.rest().len());
            if end == 0 {
                return Err(self.err("expected label name"));
            }
            let name = self.rest()[..end].to_string();
            self.pos += end;
            name
        };
        self.skip_ws();
        let op = [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ]
        .into_iter()
        .find(|(s, _)| self.rest().starts_with(s));
        let Some((op_text, op)) = op else {
            return Err(self.err(&format!("expected an operator (=, !=, =~ or !~) after {name:?}")));
        };
        self.pos += op_text.len();
        self.skip_ws();
        let value = if self.rest().starts_with('"') {
            self.quoted()?
        } else {
            // An unquoted value runs to the next comma (or closing brace), trimmed.
            let end = self.rest().find([',', '}']).unwrap_or(self.rest().len());
            let value = self.rest()[..end].trim_end().to_string();
            self.pos += end;
            value
        };
        Matcher::new(name, op, value)
    }

    fn quoted(&mut self) -> Result<String, MatcherError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        self.pos = start;
        Err(self.err("unterminated quoted string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn both_syntaxes_parse_to_the_same_matchers() {
        let a = Matchers::parse(r#"{alertname="Watchdog", severity=~"warn|crit", team!="a,b"}"#).unwrap();
        let b = Matchers::parse(r#"alertname=Watchdog,severity =~ "warn|crit" , team!="a,b""#).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.to_string(),
            r#"{alertname="Watchdog", severity=~"warn|crit", team!="a,b"}"#
        );
        assert!(Matchers::parse("").unwrap().is_empty());
        assert!(Matchers::parse("{}").unwrap().is_empty());
        assert_eq!(Matchers::parse(r#"{"foo bar"="x\"y"}"#).unwrap().0[0].value, "x\"y");
    }

    #[test]
    fn regexes_are_anchored_and_absent_labels_are_empty() {
        let m = Matchers::parse(r#"severity=~"warn|crit""#).unwrap();
        assert!(m.matches(&labels(&[("severity", "crit")])));
        assert!(!m.matches(&labels(&[("severity", "critical")])));
        assert!(Matchers::parse(r#"team="""#).unwrap().matches(&labels(&[])));
        assert!(Matchers::parse(r#"team!~".+""#).unwrap().matches(&labels(&[])));
        assert!(!Matchers::parse(r#"team!="""#).unwrap().matches(&labels(&[])));
    }

    #[test]
    fn bad_matchers_are_refused() {
        for bad in ["foo", "{foo=\"bar\"", "=bar", r#"a=~"(""#, r#"a="b"c"#] {
            assert!(Matchers::parse(bad).is_err(), "{bad}");
        }
    }
}
