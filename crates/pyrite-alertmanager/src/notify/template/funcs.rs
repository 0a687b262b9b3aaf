//! The functions Alertmanager adds to Go's for notification templates: `toUpper`,
//! `toLower`, `title`, `trimSpace`, `join`, `match`, `safeHtml`, `reReplaceAll`,
//! `stringSlice`, `date`, `tz`, `since`, `humanizeDuration` (Alertmanager 0.28), and
//! `safeUrl`, `urlUnescape` and `toJson` (added by later releases).
//!
//! Argument types are checked by hand as Go's reflection would, with Go's message
//! (`wrong type for value; expected string; got int`), reported by the engine as
//! `error calling NAME: …`. The invariant: no function panics, whatever its arguments.

use pyrite_template::humanize_duration;
use pyrite_template::{Arity, Funcs, List, Value};

use super::data::{time_json, JSON_METHOD};
use pyrite_template::gotime::{duration_arg, time_arg, GoTime, TIME_TYPE};

fn wrong_type(expected: &str, got: &Value) -> String {
    match got {
        Value::Nil => format!("invalid value; expected {expected}"),
        other => format!("wrong type for value; expected {expected}; got {}", other.type_name()),
    }
}

fn string_arg(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| wrong_type("string", v))
}

fn strings_arg(v: &Value) -> Result<Vec<&str>, String> {
    match v {
        Value::List(l) => l
            .items()
            .iter()
            .map(|i| i.as_str().ok_or_else(|| wrong_type("[]string", v)))
            .collect(),
        Value::Nil => Ok(Vec::new()),
        other => Err(wrong_type("[]string", other)),
    }
}

fn go_time_arg(v: &Value) -> Result<GoTime, String> {
    time_arg(v).ok_or_else(|| wrong_type(TIME_TYPE, v))
}

/// Go's regexp syntax as the `regex` crate reads it, with Go's message prefix.
fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("error parsing regexp: {e}"))
}

/// Go's `strings.ToUpper`/`ToLower`: rune by rune, a rune whose case mapping is more
/// than one rune (`ß`) left as it is.
pub(super) fn map_runes(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            let mut m: Vec<char> = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            match m.len() {
                1 => m.pop().unwrap_or(c),
                _ => c,
            }
        })
        .collect()
}

/// `cases.Title`: each word's first letter in upper case, its other letters in lower.
pub(super) fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    let mut prev_letter = false;
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // An apostrophe between letters stays inside the word (`don't`).
        let joins = c == '\'' && prev_letter && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        let word_char = c.is_alphanumeric() || c == '_' || joins;
        if word_char && !in_word {
            out.extend(c.to_uppercase());
        } else if word_char {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        in_word = word_char;
        prev_letter = c.is_alphabetic();
    }
    out
}

/// Go's `url.QueryUnescape`.
pub(super) fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => {
                        out.push(byte);
                        i += 3;
                    }
                    _ => {
                        let bad: String = s[i..].chars().take(3).collect();
                        return Err(format!("invalid URL escape {}", pyrite_template::go_quote(&bad)));
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// prometheus/common's `ConvertToFloat`.
fn to_float(v: &Value) -> Result<f64, String> {
    if let Some(d) = duration_arg(v) {
        return Ok(d.seconds());
    }
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::String(s) => s
            .trim()
            .eq(s.as_ref())
            .then(|| s.parse::<f64>().ok())
            .flatten()
            .ok_or_else(|| {
                format!(
                    "strconv.ParseFloat: parsing {}: invalid syntax",
                    pyrite_template::go_quote(s)
                )
            }),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// A template value as Go's `json.Marshal` writes it (`<`, `>` and `&` escaped).
pub(super) fn to_json(v: &Value) -> Result<String, String> {
    let json = json_value(v)?;
    let text = serde_json::to_string(&json).map_err(|e| e.to_string())?;
    Ok(text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029"))
}

fn json_value(v: &Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Nil => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) if f.is_finite() => J::from(*f),
        Value::Float(f) => return Err(format!("json: unsupported value: {}", Value::Float(*f))),
        Value::String(s) => J::String(s.to_string()),
        Value::List(l) => J::Array(l.items().iter().map(json_value).collect::<Result<_, _>>()?),
        Value::Map(m) => J::Object(
            m.entries()
                .iter()
                .map(|(k, v)| Ok((k.clone(), json_value(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Func(_) => return Err("json: unsupported type: func(...interface {}) (interface {}, error)".into()),
        Value::Object(o) => {
            if let Some(t) = time_arg(v) {
                return Ok(J::String(time_json(&t)));
            }
            if let Some(Ok(Value::String(raw))) = o.method(JSON_METHOD, &[]) {
                return serde_json::from_str(&raw).map_err(|e| e.to_string());
            }
            match o.underlying() {
                Some(u) => json_value(&u)?,
                None => J::Object(serde_json::Map::new()),
            }
        }
    })
}

/// Go's predefined functions and Alertmanager's.
pub(super) fn alertmanager_funcs() -> Funcs {
    let mut f = Funcs::builtin();
    f.add("toUpper", Arity::Exact(1), |a| {
        Ok(Value::from(map_runes(string_arg(&a[0])?, true)))
    });
    f.add("toLower", Arity::Exact(1), |a| {
        Ok(Value::from(map_runes(string_arg(&a[0])?, false)))
    });
    f.add("title", Arity::Exact(1), |a| Ok(Value::from(title(string_arg(&a[0])?))));
    f.add("trimSpace", Arity::Exact(1), |a| {
        Ok(Value::from(string_arg(&a[0])?.trim()))
    });
    f.add("join", Arity::Exact(2), |a| {
        let sep = string_arg(&a[0])?;
        Ok(Value::from(strings_arg(&a[1])?.join(sep)))
    });
    f.add("match", Arity::Exact(2), |a| {
        let re = compile(string_arg(&a[0])?)?;
        Ok(Value::Bool(re.is_match(string_arg(&a[1])?)))
    });
    // In a text template, Go's `template.HTML` and `template.URL` print as their text.
    f.add("safeHtml", Arity::Exact(1), |a| Ok(Value::from(string_arg(&a[0])?)));
    f.add("safeUrl", Arity::Exact(1), |a| Ok(Value::from(string_arg(&a[0])?)));
    f.add("urlUnescape", Arity::Exact(1), |a| {
        Ok(Value::from(query_unescape(string_arg(&a[0])?)?))
    });
    f.add("reReplaceAll", Arity::Exact(3), |a| {
        let re = compile(string_arg(&a[0])?)?;
        let repl = string_arg(&a[1])?;
        Ok(Value::from(re.replace_all(string_arg(&a[2])?, repl).into_owned()))
    });
    f.add("stringSlice", Arity::AtLeast(0), |a| {
        let items: Vec<&str> = a.iter().map(string_arg).collect::<Result<_, _>>()?;
        Ok(Value::List(List::strings(items)))
    });
    f.add("date", Arity::Exact(2), |a| {
        let layout = string_arg(&a[0])?;
        Ok(Value::from(go_time_arg(&a[1])?.format(layout)))
    });
    f.add("tz", Arity::Exact(2), |a| {
        let name = string_arg(&a[0])?;
        let t = go_time_arg(&a[1])?;
        let zone = match name {
            "" | "UTC" | "Local" => chrono_tz::Tz::UTC,
            other => other
                .parse::<chrono_tz::Tz>()
                .map_err(|_| format!("unknown time zone {other}"))?,
        };
        Ok(Value::object(t.in_zone(zone)))
    });
    f.add("since", Arity::Exact(1), |a| {
        let t = go_time_arg(&a[0])?;
        let now = GoTime::from_chrono(Some(chrono::Utc::now()));
        Ok(Value::object(t.since(now)))
    });
    f.add("humanizeDuration", Arity::Exact(1), |a| {
        Ok(Value::from(humanize_duration(to_float(&a[0])?)))
    });
    f.add("toJson", Arity::Exact(1), |a| Ok(Value::from(to_json(&a[0])?)));
    f
}
