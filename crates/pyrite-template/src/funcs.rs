//! Functions: the registry a template's names are checked against at parse time
//! ([`Funcs`]), and Go's predefined functions that need nothing from the executor:
//! `index`, `slice`, `len`, `not`, the comparisons and the escapers. (`and`, `or`,
//! `call` and `printf`'s typed first argument live in the executor, which evaluates
//! arguments.)
//!
//! Invariant: every builtin answers `Err(message)` with Go's message where Go's builtin
//! returns an error or panics inside its call, never a Rust panic.

use std::collections::HashMap;
use std::sync::Arc;

use crate::fmt::sprint;
use crate::value::{Arity, FuncImpl, Value};

/// Go's predefined functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    And,
    Or,
    Not,
    Len,
    Index,
    Slice,
    Print,
    Printf,
    Println,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Html,
    Js,
    UrlQuery,
    Call,
}

impl Builtin {
    const ALL: [(&'static str, Builtin, Arity); 19] = [
        ("and", Builtin::And, Arity::AtLeast(1)),
        ("or", Builtin::Or, Arity::AtLeast(1)),
        ("not", Builtin::Not, Arity::Exact(1)),
        ("len", Builtin::Len, Arity::Exact(1)),
        ("index", Builtin::Index, Arity::AtLeast(1)),
        ("slice", Builtin::Slice, Arity::AtLeast(1)),
        ("print", Builtin::Print, Arity::AtLeast(0)),
        ("printf", Builtin::Printf, Arity::AtLeast(1)),
        ("println", Builtin::Println, Arity::AtLeast(0)),
        ("eq", Builtin::Eq, Arity::AtLeast(1)),
        ("ne", Builtin::Ne, Arity::Exact(2)),
        ("lt", Builtin::Lt, Arity::Exact(2)),
        ("le", Builtin::Le, Arity::Exact(2)),
        ("gt", Builtin::Gt, Arity::Exact(2)),
        ("ge", Builtin::Ge, Arity::Exact(2)),
        ("html", Builtin::Html, Arity::AtLeast(0)),
        ("js", Builtin::Js, Arity::AtLeast(0)),
        ("urlquery", Builtin::UrlQuery, Arity::AtLeast(0)),
        ("call", Builtin::Call, Arity::AtLeast(1)),
    ];
}

#[derive(Clone)]
pub(crate) enum Entry {
    Builtin(Builtin, Arity),
    User(Arity, FuncImpl),
}

/// The functions a template may call: Go's predefined ones plus those the caller adds
/// (the ruler's `humanize`, `query`, the alertmanager's `toUpper`, …). Names are checked
/// when a template is parsed, as Go checks them, so an unknown function is a parse error.
#[derive(Clone)]
pub struct Funcs {
    entries: Arc<HashMap<String, Entry>>,
}

impl Default for Funcs {
    fn default() -> Funcs {
        Funcs::builtin()
    }
}

impl Funcs {
    /// Go's predefined functions: `and call html index slice js len not or print printf
    /// println urlquery eq ne lt le gt ge`.
    pub fn builtin() -> Funcs {
        let entries = Builtin::ALL
            .iter()
            .map(|&(name, b, arity)| (name.to_string(), Entry::Builtin(b, arity)))
            .collect();
        Funcs {
            entries: Arc::new(entries),
        }
    }

    /// Adds (or replaces, builtins included) the function `name`, which takes `arity`
    /// arguments. A message it returns stops execution as
    /// `error calling NAME: MESSAGE`.
    pub fn add(
        &mut self,
        name: impl Into<String>,
        arity: Arity,
        f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> &mut Funcs {
        Arc::make_mut(&mut self.entries).insert(name.into(), Entry::User(arity, Arc::new(f)));
        self
    }

    /// Whether a function of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }
}

/// Go's `indexArg`: an index below `cap` (or equal to it, which Go lets through to the
/// slice operation).
fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    match index.resolved() {
        Value::Int(x) => {
            if x < 0 || x as u64 > cap as u64 {
                return Err(format!("index out of range: {x}"));
            }
            Ok(x as usize)
        }
        Value::Nil => Err("cannot index slice/array with nil".to_string()),
        other => Err(format!("cannot index slice/array with type {}", other.type_name())),
    }
}

/// `index x 1 2 3` is `x[1][2][3]`; a missing map key gives the element's zero value.
pub(crate) fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    let mut item = item.resolved();
    if let Value::Nil = item {
        return Err("index of untyped nil".to_string());
    }
    for idx in indexes {
        item = match item.resolved() {
            Value::Nil => return Err("index of nil pointer".to_string()),
            Value::List(l) => {
                let x = index_arg(idx, l.len())?;
                l.items().get(x).cloned().ok_or("reflect: slice index out of range")?
            }
            Value::String(s) => {
                let x = index_arg(idx, s.len())?;
                let b = s
                    .as_bytes()
                    .get(x)
                    .copied()
                    .ok_or("reflect: string index out of range")?;
                Value::Int(i64::from(b))
            }
            Value::Map(m) => match idx.resolved() {
                Value::String(k) => m.get(&k).cloned().unwrap_or_else(|| m.elem().zero()),
                Value::Nil => return Err("value is nil; should be of type string".to_string()),
                other => return Err(format!("value has type {}; should be string", other.type_name())),
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

/// `slice x 1 2` is `x[1:2]`; strings slice by bytes.
pub(crate) fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    let item = item.resolved();
    if let Value::Nil = item {
        return Err("slice of untyped nil".to_string());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match &item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".to_string());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::String(s) => Value::from(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned()),
        Value::List(l) => Value::List(crate::value::List::new(l.elem(), l.items()[idx[0]..idx[1]].to_vec())),
        _ => Value::Nil,
    })
}

/// `len`: bytes of a string, entries of a list or map.
pub(crate) fn length(item: &Value) -> Result<Value, String> {
    let n = match item.resolved() {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".to_string()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// A value of one of Go's basic kinds, for the comparison functions.
enum Basic {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
}

fn basic(v: &Value) -> Option<Basic> {
    match v.resolved() {
        Value::Bool(b) => Some(Basic::Bool(b)),
        Value::Int(i) => Some(Basic::Int(i)),
        Value::Float(f) => Some(Basic::Float(f)),
        Value::String(s) => Some(Basic::Str(s)),
        _ => None,
    }
}

fn incompatible(a: &Value, b: &Value) -> String {
    format!(
        "incompatible types for comparison: {} and {}",
        a.type_name(),
        b.type_name()
    )
}

/// `eq a b c…`: whether `a` equals any of the others.
pub(crate) fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".to_string());
    }
    let ka = basic(a);
    for b in others {
        let truth = match (&ka, basic(b)) {
            (Some(Basic::Bool(x)), Some(Basic::Bool(y))) => *x == y,
            (Some(Basic::Int(x)), Some(Basic::Int(y))) => *x == y,
            (Some(Basic::Float(x)), Some(Basic::Float(y))) => *x == y,
            (Some(Basic::Str(x)), Some(Basic::Str(y))) => *x == y,
            (Some(_), Some(_)) => return Err(incompatible(a, b)),
            (Some(_), None) | (None, Some(_)) => {
                if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) {
                    return Err(incompatible(a, b));
                }
                false
            }
            (None, None) => compare_composite(a, b)?,
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Equality of two values of no basic kind: nil equals only nil; lists, maps and
/// functions are not comparable; objects are equal when they are the same object.
fn compare_composite(a: &Value, b: &Value) -> Result<bool, String> {
    let a_nil = matches!(a, Value::Nil);
    let b_nil = matches!(b, Value::Nil);
    if a_nil || b_nil {
        return Ok(a_nil && b_nil);
    }
    let same_kind = std::mem::discriminant(a) == std::mem::discriminant(b);
    if !same_kind {
        return Err(format!(
            "non-comparable types {}: {}, {}: {}",
            sprint(std::slice::from_ref(a)),
            a.type_name(),
            b.type_name(),
            sprint(std::slice::from_ref(b))
        ));
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => Ok(Arc::ptr_eq(x, y)),
        _ => Err(format!(
            "non-comparable type {}: {}",
            sprint(std::slice::from_ref(b)),
            b.type_name()
        )),
    }
}

/// `lt a b`.
pub(crate) fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let bad = || "invalid type for comparison".to_string();
    let ka = basic(a).ok_or_else(bad)?;
    let kb = basic(b).ok_or_else(bad)?;
    match (ka, kb) {
        (Basic::Int(x), Basic::Int(y)) => Ok(x < y),
        (Basic::Float(x), Basic::Float(y)) => Ok(x < y),
        (Basic::Str(x), Basic::Str(y)) => Ok(x < y),
        (Basic::Bool(_), Basic::Bool(_)) => Err(bad()),
        _ => Err(incompatible(a, b)),
    }
}

/// `le a b`: `lt` or `eq`.
pub(crate) fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

/// `evalArgs`: the text of the arguments as the escapers see it; a missing value reads
/// `<no value>`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.to_string();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::Nil => Value::from("<no value>"),
            other => other.clone(),
        })
        .collect();
    sprint(&printable)
}

/// `html`: the text with `" ' & < >` and NUL escaped.
pub(crate) fn html(args: &[Value]) -> String {
    html_escape(&eval_args(args))
}

/// Text escaped for HTML as Go's `template.HTMLEscapeString` escapes it: `"`, `'`, `&`,
/// `<` and `>` as entities, NUL as U+FFFD.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// `js`: the text escaped for a JavaScript string.
pub(crate) fn js(args: &[Value]) -> String {
    let s = eval_args(args);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if c.is_ascii() || crate::quote::is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// `urlquery`: the text escaped for a URL query, as Go's `url.QueryEscape`.
pub(crate) fn urlquery(args: &[Value]) -> String {
    query_escape(&eval_args(args))
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
