//! Regexes as Prometheus compiles them: Go's RE2 syntax, with Go's ASCII meaning of
//! `\d`, `\w`, `\s` and `\b` (Rust's are Unicode-aware by default). Relabeling's are
//! fully anchored (`^(?:…)$`, [`Regex::new`]); the template functions `match` and
//! `reReplaceAll` match anywhere in the text, as Go's `regexp.Compile` does
//! ([`Regex::unanchored`]). The pattern is translated once, when compiled; the original
//! text is what is printed back.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A compiled relabeling regex and the text it was written as.
#[derive(Clone)]
pub struct Regex {
    source: String,
    compiled: regex::Regex,
}

impl Regex {
    /// Compiles `pattern` as Prometheus does: anchored at both ends.
    pub fn new(pattern: &str) -> Result<Regex, regex::Error> {
        let compiled = regex::Regex::new(&format!("^(?:{})$", go_to_rust(pattern)))?;
        Ok(Regex {
            source: pattern.to_string(),
            compiled,
        })
    }

    /// Compiles `pattern` as Go's `regexp.Compile` does: it may match anywhere in the
    /// text.
    pub fn unanchored(pattern: &str) -> Result<Regex, regex::Error> {
        let compiled = regex::Regex::new(&go_to_rust(pattern))?;
        Ok(Regex {
            source: pattern.to_string(),
            compiled,
        })
    }

    /// Go's `ReplaceAllString`: every non-overlapping match replaced by `replacement`,
    /// with `$1`, `${1}`, `$name` expanded (the longest run of name characters after
    /// `$`; an unknown or unmatched group expands to nothing; `$$` is a `$`).
    pub fn replace_all(&self, text: &str, replacement: &str) -> String {
        self.compiled.replace_all(text, replacement).into_owned()
    }

    /// The text the regex was written as.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.compiled.is_match(s)
    }

    pub(crate) fn compiled(&self) -> &regex::Regex {
        &self.compiled
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl Serialize for Regex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Go's Perl classes, as ASCII sets: (outside a class, inside a class).
fn perl_class(c: char) -> Option<(&'static str, &'static str)> {
    Some(match c {
        'd' => ("[0-9]", "0-9"),
        'D' => ("[^0-9]", "[^0-9]"),
        'w' => ("[0-9A-Za-z_]", "0-9A-Za-z_"),
        'W' => ("[^0-9A-Za-z_]", "[^0-9A-Za-z_]"),
        's' => ("[\\t\\n\\x0C\\r ]", "\\t\\n\\x0C\\r "),
        'S' => ("[^\\t\\n\\x0C\\r ]", "[^\\t\\n\\x0C\\r ]"),
        _ => return None,
    })
}

/// Rewrites the escapes whose meaning differs between Go's RE2 and Rust's regex;
/// everything else is the same syntax and passes through.
fn go_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                match (perl_class(next), next) {
                    (Some((outside, inside)), _) => out.push_str(if in_class { inside } else { outside }),
                    (None, 'b') if !in_class => out.push_str("(?-u:\\b)"),
                    (None, 'B') if !in_class => out.push_str("(?-u:\\B)"),
                    _ => {
                        out.push('\\');
                        out.push(next);
                    }
                }
                class_start = false;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push(c);
                // A `^` and then a `]` right after the opening bracket are literal parts.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
                continue;
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class (`[:alpha:]`) inside a class: copied whole.
                out.push(c);
                for p in chars.by_ref() {
                    out.push(p);
                    if p == ']' {
                        break;
                    }
                }
                continue;
            }
            '[' if in_class => out.push_str("\\["),
            ']' if in_class && !class_start => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
        class_start = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_are_anchored_and_print_back_as_written() {
        let r = Regex::new("a|b").unwrap();
        assert!(r.is_match("a") && r.is_match("b"));
        assert!(!r.is_match("ab") && !r.is_match("xa"));
        assert_eq!(r.as_str(), "a|b");
        assert!(Regex::new("(").is_err());
    }

    #[test]
    fn unanchored_regexes_match_anywhere_and_replace_as_go() {
        let r = Regex::unanchored("a+").unwrap();
        assert!(r.is_match("baab") && !r.is_match("b"));
        assert_eq!(r.as_str(), "a+");
        let r = Regex::unanchored("(a)b").unwrap();
        assert_eq!(r.replace_all("ab cab", "x$1"), "xa cxa");
        assert_eq!(r.replace_all("ab", "${1}x"), "ax");
        assert_eq!(r.replace_all("ab", "$1x"), "", "$1x names the group `1x`, as in Go");
        assert_eq!(r.replace_all("ab", "$$1"), "$1");
        assert_eq!(r.replace_all("ab", "$9"), "");
        let empty = Regex::unanchored("x*").unwrap();
        assert_eq!(empty.replace_all("abc", "-"), "-a-b-c-");
        let d = Regex::unanchored(r"\d").unwrap();
        assert!(!d.is_match("٣"));
        assert!(Regex::unanchored("(").is_err());
    }

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        let d = Regex::new(r"\d+").unwrap();
        assert!(d.is_match("0123456789"));
        assert!(!d.is_match("٣"), "an Arabic-Indic digit is not \\d in Go");
        let w = Regex::new(r"\w+").unwrap();
        assert!(w.is_match("a_Z9"));
        assert!(!w.is_match("é"));
        let s = Regex::new(r"a\sb").unwrap();
        assert!(s.is_match("a b") && s.is_match("a\tb"));
        assert!(!s.is_match("a\u{a0}b"), "no-break space is not \\s in Go");
        assert!(!s.is_match("a\u{0b}b"), "vertical tab is not \\s in Go");
        let in_class = Regex::new(r"[\d\s-]+").unwrap();
        assert!(in_class.is_match("1 2-3"));
        assert!(!in_class.is_match("٣"));
        let negated = Regex::new(r"[^\d]+").unwrap();
        assert!(negated.is_match("abc") && !negated.is_match("a1"));
        let not_digit = Regex::new(r"\D+").unwrap();
        assert!(not_digit.is_match("ab٣"));
        let boundary = Regex::new(r".*\bfoo\b.*").unwrap();
        assert!(boundary.is_match("a foo b"));
        assert!(boundary.is_match("éfoo"), "é is not a word character in Go's \\b");
        assert!(!boundary.is_match("afoo"));
        let literal_bracket = Regex::new(r"[]a]+").unwrap();
        assert!(literal_bracket.is_match("]a]"));
        let posix = Regex::new(r"[[:alpha:]]+").unwrap();
        assert!(posix.is_match("abc") && !posix.is_match("a1"));
    }
}
