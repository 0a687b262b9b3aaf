//! Go's literal rules for strings and runes: quoting as `strconv.Quote` does (for `%q`
//! and for the quoted names in error messages), unquoting of the template's string and
//! character constants, and Go's idea of a printable rune.
//!
//! Invariant: quoting is total (every `&str` quotes) and unquoting never panics; it
//! answers `None` where Go's `strconv` reports a syntax error.

/// Whether Go's `unicode.IsPrint` holds for `c` (letters, marks, numbers, punctuation,
/// symbols and the ASCII space). Outside ASCII this is an approximation: Rust has no
/// table of unassigned code points, so only controls, separators, format characters,
/// private use and non-characters are refused.
pub(crate) fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(
        u,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0xFFFE
            | 0xFFFF
            | 0xE000..=0xF8FF
            | 0xE0000..=0xE007F
            | 0xF0000..=0x10FFFF
    )
}

/// Appends `c` to `out` as it appears inside a Go literal delimited by `quote`.
fn push_escaped(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    let printable = if ascii_only {
        c.is_ascii() && is_print(c)
    } else {
        is_print(c)
    };
    if printable {
        out.push(c);
        return;
    }
    let u = c as u32;
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        _ if u < 0x20 || u == 0x7f => out.push_str(&format!("\\x{u:02x}")),
        _ if u < 0x10000 => out.push_str(&format!("\\u{u:04x}")),
        _ => out.push_str(&format!("\\U{u:08x}")),
    }
}

/// `strconv.Quote` (or `QuoteToASCII` when `ascii_only`).
pub(crate) fn quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

/// `strconv.QuoteRune` (or `QuoteRuneToASCII`).
pub(crate) fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

/// `strconv.CanBackquote`.
pub(crate) fn can_backquote(s: &str) -> bool {
    s.chars().all(|c| {
        let u = c as u32;
        !(c == '`' || c == '\u{FEFF}' || u == 0x7f || (u < 0x20 && c != '\t'))
    })
}

/// The `%#U` form Go's lexer uses in its messages: `U+0029 ')'`.
pub(crate) fn sharp_u(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// What one step of `strconv.UnquoteChar` produced.
enum Unit {
    Char(char),
    Byte(u8),
}

/// One step of `strconv.UnquoteChar`: the first (possibly escaped) unit of `s` inside a
/// literal delimited by `quote`, and the rest of `s`.
fn unquote_char(s: &str, quote: char) -> Option<(Unit, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote && (quote == '\'' || quote == '"') {
        return None;
    }
    if c != '\\' {
        return Some((Unit::Char(c), chars.as_str()));
    }
    let e = chars.next()?;
    let rest = chars.as_str();
    let simple = |ch: char| Some((Unit::Char(ch), rest));
    match e {
        'a' => simple('\x07'),
        'b' => simple('\x08'),
        'f' => simple('\x0c'),
        'n' => simple('\n'),
        'r' => simple('\r'),
        't' => simple('\t'),
        'v' => simple('\x0b'),
        '\\' => simple('\\'),
        '\'' | '"' => {
            if e != quote {
                return None;
            }
            simple(e)
        }
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n)?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let v = u32::from_str_radix(digits, 16).ok()?;
            let rest = &rest[n..];
            if e == 'x' {
                return Some((Unit::Byte(u8::try_from(v).ok()?), rest));
            }
            Some((Unit::Char(char::from_u32(v)?), rest))
        }
        '0'..='7' => {
            let digits = rest.get(..2)?;
            if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return None;
            }
            let v = (e as u32 - '0' as u32) * 64 + u32::from_str_radix(digits, 8).ok()?;
            Some((Unit::Byte(u8::try_from(v).ok()?), &rest[2..]))
        }
        _ => None,
    }
}

/// `strconv.Unquote` for a double-quoted or back-quoted literal. Bytes that do not form
/// UTF-8 (`"\xff"`) become U+FFFD, the one place a Rust string cannot follow Go's.
pub(crate) fn unquote(lit: &str) -> Option<String> {
    let first = lit.chars().next()?;
    if lit.len() < 2 || !lit.ends_with(first) {
        return None;
    }
    let inner = &lit[1..lit.len() - 1];
    match first {
        '`' => {
            if inner.contains('`') {
                return None;
            }
            Some(inner.replace('\r', ""))
        }
        '"' => {
            if inner.contains('\n') {
                return None;
            }
            let mut bytes = Vec::with_capacity(inner.len());
            let mut s = inner;
            while !s.is_empty() {
                let (unit, rest) = unquote_char(s, '"')?;
                match unit {
                    Unit::Char(c) => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    Unit::Byte(b) => bytes.push(b),
                }
                s = rest;
            }
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => None,
    }
}

/// Why a character constant did not parse.
pub(crate) enum CharError {
    /// Go's `invalid syntax`.
    Syntax,
    /// More than one unit between the quotes.
    Malformed,
}

/// The value of a character constant such as `'a'`, `'\n'` or `'\x41'`.
pub(crate) fn unquote_char_constant(lit: &str) -> Result<u32, CharError> {
    let body = lit.strip_prefix('\'').ok_or(CharError::Syntax)?;
    let (unit, tail) = unquote_char(body, '\'').ok_or(CharError::Syntax)?;
    if tail != "'" {
        return Err(CharError::Malformed);
    }
    Ok(match unit {
        Unit::Char(c) => c as u32,
        Unit::Byte(b) => u32::from(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(quote("a\"b", false), r#""a\"b""#);
        assert_eq!(quote("tab\there\n", false), r#""tab\there\n""#);
        assert_eq!(quote("é\u{1}\u{7f}", false), r#""é\x01\x7f""#);
        assert_eq!(quote("é", true), r#""\u00e9""#);
        assert_eq!(quote("\u{1F600}", true), r#""\U0001f600""#);
        assert_eq!(quote_rune('\'', false), r"'\''");
        assert_eq!(quote_rune('"', false), "'\"'");
        assert_eq!(sharp_u(')'), "U+0029 ')'");
        assert_eq!(sharp_u('\u{1}'), "U+0001");
    }

    #[test]
    fn unquotes_like_go() {
        assert_eq!(unquote(r#""a\tb\x41\101\u00e9""#).as_deref(), Some("a\tbAAé"));
        assert_eq!(unquote("`a\\n\r`").as_deref(), Some("a\\n"));
        assert_eq!(unquote(r#""\'""#), None);
        assert_eq!(unquote(r#""\400""#), None);
        assert_eq!(unquote(r#""\q""#), None);
        assert!(matches!(unquote_char_constant("'a'"), Ok(97)));
        assert!(matches!(unquote_char_constant(r"'\''"), Ok(39)));
        assert!(matches!(unquote_char_constant(r"'\xff'"), Ok(255)));
        assert!(matches!(unquote_char_constant("'ab'"), Err(CharError::Malformed)));
        assert!(matches!(unquote_char_constant("''"), Err(CharError::Syntax)));
    }
}
