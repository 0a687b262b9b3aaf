//! PromQL strings are byte strings: `"\xff"` is one byte that is not UTF-8. Rust
//! strings cannot hold such bytes, so before parsing, `\x` escapes that do not form
//! valid UTF-8 are rewritten to private-use code points (one per byte). Names holding
//! them are not valid label names, and errors print them back as `\xHH`.

const BASE: u32 = 0x10_FF00;

/// Rewrites the query text so the parser keeps raw bytes distinguishable.
pub(crate) fn encode(query: &str) -> String {
    let b = query.as_bytes();
    let mut out = String::with_capacity(query.len());
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            None => {
                if c == b'"' || c == b'\'' {
                    quote = Some(c);
                } else if c == b'`' {
                    // Raw strings have no escapes: copy through the closing backtick.
                    let end = query[i + 1..].find('`').map_or(b.len(), |j| i + 1 + j + 1);
                    out.push_str(&query[i..end]);
                    i = end;
                    continue;
                }
            }
            Some(q) => {
                if c == b'\\' && b.get(i + 1) == Some(&b'x') {
                    // Collect a run of `\xHH` escapes and decode it as UTF-8 where it is.
                    let mut bytes = Vec::new();
                    let mut j = i;
                    while j + 3 < b.len() && b[j] == b'\\' && b.get(j + 1) == Some(&b'x') {
                        let Some(v) = query.get(j + 2..j + 4).and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                            break;
                        };
                        bytes.push(v);
                        j += 4;
                    }
                    if bytes.is_empty() {
                        out.push('\\');
                        i += 1;
                        continue;
                    }
                    for chunk in bytes.utf8_chunks() {
                        for ch in chunk.valid().chars() {
                            out.push_str(&format!("\\U{:08x}", ch as u32));
                        }
                        for &raw in chunk.invalid() {
                            out.push_str(&format!("\\U{:08x}", BASE + raw as u32));
                        }
                    }
                    i = j;
                    continue;
                }
                if c == b'\\' {
                    // Copy the escape and the whole (possibly multi-byte) character it escapes.
                    out.push('\\');
                    i += 1;
                    if let Some(ch) = query[i..].chars().next() {
                        out.push(ch);
                        i += ch.len_utf8();
                    }
                    continue;
                }
                if c == q {
                    quote = None;
                }
            }
        }
        let ch = query[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn is_raw_byte(c: char) -> bool {
    (BASE + 0x80..=BASE + 0xff).contains(&(c as u32))
}

/// A label name is valid when it is non-empty UTF-8 (Prometheus 3 rules).
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(is_raw_byte)
}

/// Quotes a string the way Go's `strconv.Quote` does, raw bytes as `\xHH`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if is_raw_byte(c) => out.push_str(&format!("\\x{:02x}", c as u32 - BASE)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_survive_and_valid_sequences_decode() {
        let q = encode(r#"label_join(up, "\xff", "\xc3\xa9", 'a\x41')"#);
        let parsed = promql_parser::parser::parse(&q).unwrap().to_string();
        assert!(parsed.contains('é'), "{parsed}");
        assert!(parsed.contains("aA"), "{parsed}");
        let raw = char::from_u32(BASE + 0xff).unwrap().to_string();
        assert!(!is_valid_label_name(&raw));
        assert_eq!(quote(&format!("a{raw}z")), r#""a\xffz""#);
        assert!(is_valid_label_name("é"));
    }

    #[test]
    fn escapes_of_multibyte_characters_are_copied_whole() {
        // Found by the fuzz target: a backslash before a two-byte character.
        let q = "ӆ\"\\ͅ";
        assert_eq!(encode(q), q);
        assert_eq!(encode("\"a\\é\" \"\\"), "\"a\\é\" \"\\");
    }
}
