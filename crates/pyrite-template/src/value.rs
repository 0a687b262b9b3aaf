//! The values templates compute with: Go's basic kinds, lists and string-keyed maps that
//! remember their element type, functions for `call`, and [`Object`], through which a
//! caller exposes a Go-like named type with fields and methods (Alertmanager's
//! `.Alerts.Firing`, a label set's `.SortedPairs`, a query result's `.Value`).
//!
//! Invariant: a [`Value`] is cheap to clone (everything heavy sits behind an `Arc`) and
//! immutable once built; `Nil` stands for Go's missing value (an unset interface), which
//! an action prints as `<no value>` and `fmt` prints as `<nil>`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The element type of a list or map, which decides the zero value a missing map key
/// yields (`""` for a string map, `<no value>` for a map of arbitrary values) and the Go
/// type name printed in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kind {
    /// `interface {}`: any value; its zero value is `Nil`.
    #[default]
    Any,
    Bool,
    Int,
    Float,
    String,
    List,
    Map,
}

impl Kind {
    /// Go's zero value of this type.
    pub fn zero(self) -> Value {
        match self {
            Kind::Any => Value::Nil,
            Kind::Bool => Value::Bool(false),
            Kind::Int => Value::Int(0),
            Kind::Float => Value::Float(0.0),
            Kind::String => Value::String(Arc::from("")),
            Kind::List => Value::List(List::new(Kind::Any, Vec::new())),
            Kind::Map => Value::Map(Map::new(Kind::Any, BTreeMap::new())),
        }
    }

    /// The Go spelling of the type, as `%T` and error messages print it.
    pub fn go_name(self) -> &'static str {
        match self {
            Kind::Any => "interface {}",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float64",
            Kind::String => "string",
            Kind::List => "[]interface {}",
            Kind::Map => "map[string]interface {}",
        }
    }
}

/// A list (Go slice) of values with a declared element type.
#[derive(Clone)]
pub struct List {
    items: Arc<Vec<Value>>,
    elem: Kind,
}

impl List {
    pub fn new(elem: Kind, items: Vec<Value>) -> List {
        List {
            items: Arc::new(items),
            elem,
        }
    }

    /// A `[]string`.
    pub fn strings<I, S>(items: I) -> List
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        List::new(
            Kind::String,
            items.into_iter().map(|s| Value::String(s.into())).collect(),
        )
    }

    pub fn items(&self) -> &[Value] {
        &self.items
    }

    pub fn elem(&self) -> Kind {
        self.elem
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A map from strings to values with a declared element type, kept in key order (the
/// order `range` and printing use).
#[derive(Clone)]
pub struct Map {
    entries: Arc<BTreeMap<String, Value>>,
    elem: Kind,
}

impl Map {
    pub fn new(elem: Kind, entries: BTreeMap<String, Value>) -> Map {
        Map {
            entries: Arc::new(entries),
            elem,
        }
    }

    /// A `map[string]string`, such as a label set.
    pub fn strings<I, K, V>(entries: I) -> Map
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Arc<str>>,
    {
        Map::new(
            Kind::String,
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), Value::String(v.into())))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key)
    }

    pub fn entries(&self) -> &BTreeMap<String, Value> {
        &self.entries
    }

    pub fn elem(&self) -> Kind {
        self.elem
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How many arguments a function or method takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exact(usize),
    AtLeast(usize),
}

impl Arity {
    pub(crate) fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exact(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }
}

/// Why a method call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The method takes a different number of arguments; reported as Go reports it
    /// (`wrong number of args for Remove: want 1 got 0`).
    WrongArgs { want: Arity, got: usize },
    /// The method ran and failed; reported as `error calling NAME: MESSAGE`.
    Failed(String),
}

impl From<String> for CallError {
    fn from(s: String) -> CallError {
        CallError::Failed(s)
    }
}

impl From<&str> for CallError {
    fn from(s: &str) -> CallError {
        CallError::Failed(s.to_string())
    }
}

/// A caller-defined value: a Go named type with fields and methods.
///
/// Field access `.Name` asks [`Object::method`] first (as Go looks up methods before
/// fields), then [`Object::field`], then the key `Name` of the underlying map if there
/// is one. A type whose underlying value is a list or map (Go's `type Alerts []Alert`,
/// `type KV map[string]string`) returns it from [`Object::underlying`], and then ranges,
/// indexes, has a length and prints like it.
pub trait Object: Send + Sync {
    /// The Go type name shown in messages, e.g. `template.Data`.
    fn type_name(&self) -> &str;

    /// The field `name`, or `None` if the type has no such field.
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    /// Calls the method `name` with `args`, or answers `None` if there is no such method.
    fn method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, CallError>> {
        None
    }

    /// The value this type is built on, if it is a list, map, string or number.
    fn underlying(&self) -> Option<Value> {
        None
    }

    /// The text of a `String()` method, if the type has one; `%v`, `%s` and `%q` print it.
    fn to_go_string(&self) -> Option<String> {
        None
    }
}

/// A function value, invoked by the `call` builtin.
#[derive(Clone)]
pub struct Func(pub(crate) FuncImpl);

/// The signature of functions: the arguments in, a value or a message out.
pub type FuncImpl = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

impl Func {
    pub fn new(f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static) -> Func {
        Func(Arc::new(f))
    }
}

/// A value a template works on.
#[derive(Clone, Default)]
pub enum Value {
    /// No value: a missing key, an unset interface, `nil`.
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Arc<str>),
    List(List),
    Map(Map),
    Object(Arc<dyn Object>),
    Func(Func),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }

    /// An object value.
    pub fn object(o: impl Object + 'static) -> Value {
        Value::Object(Arc::new(o))
    }

    /// A `[]interface {}`.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(List::new(Kind::Any, items))
    }

    /// A `map[string]interface {}`.
    pub fn map<I, K>(entries: I) -> Value
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Map(Map::new(
            Kind::Any,
            entries.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ))
    }

    /// A `map[string]string`.
    pub fn string_map<I, K, V>(entries: I) -> Value
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Arc<str>>,
    {
        Value::Map(Map::strings(entries))
    }

    /// Go's truth, as `if`, `with`, `and`, `or` and `not` see it: false, 0, nil and empty
    /// strings, lists and maps are false; everything else is true.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(o) => o.underlying().is_none_or(|u| u.is_true()),
            Value::Func(_) => true,
        }
    }

    /// The Go type name, as `%T` and error messages print it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".to_string(),
            Value::Bool(_) => "bool".to_string(),
            Value::Int(_) => "int".to_string(),
            Value::Float(_) => "float64".to_string(),
            Value::String(_) => "string".to_string(),
            Value::List(l) => format!("[]{}", l.elem().go_name()),
            Value::Map(m) => format!("map[string]{}", m.elem().go_name()),
            Value::Object(o) => o.type_name().to_string(),
            Value::Func(_) => "func(...interface {}) (interface {}, error)".to_string(),
        }
    }

    /// The string inside a string value (or a named string type).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// For an object built on a basic value or collection, that value; otherwise itself.
    pub(crate) fn resolved(&self) -> Value {
        match self {
            Value::Object(o) => o.underlying().unwrap_or_else(|| self.clone()),
            _ => self.clone(),
        }
    }
}

impl fmt::Display for Value {
    /// Go's `%v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::fmt::sprint(std::slice::from_ref(self)))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::fmt::sprintf("%#v", std::slice::from_ref(self)))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Value {
        Value::Int(i64::from(i))
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(Arc::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Arc::from(s))
    }
}

impl From<List> for Value {
    fn from(l: List) -> Value {
        Value::List(l)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Map(m)
    }
}

impl From<Func> for Value {
    fn from(f: Func) -> Value {
        Value::Func(f)
    }
}
