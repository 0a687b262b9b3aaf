//! Go's `text/template`, interpreted: the one template engine of Pyrite, shared by the
//! ruler (labels and annotations of alerting rules) and the alertmanager (notification
//! templates). It owns the language — lexing, parsing, executing, Go's predefined
//! functions and Go's `fmt` printing of values — and Go's `time.Time` and
//! `time.Duration` values ([`gotime`]), which both components hand to templates, and the
//! one function both define alike, [`humanize_duration`]. The other functions and data
//! those components add (`humanize`, `query`, `tz`, `.Alerts.Firing`, …) stay with them and come in through [`Funcs`] and [`Object`].
//!
//! The invariant a reader must not break: for everything it accepts, a template behaves
//! exactly as under Go 1.22+'s `text/template` — the same output byte for byte, the same
//! templates refused at parse time, the same messages (`template: NAME:LINE: …` when
//! parsing, `template: NAME:LINE:COL: executing "NAME" at <NODE>: …` when executing) —
//! and no template or data can make it panic.
//!
//! # Layout
//! - `lex`: text to items, with trim markers and comments.
//! - `parse` and `ast`: items to trees; Go's parse-time checks.
//! - `exec`: walking a tree over a [`Value`]; fields, methods, variables, calls.
//! - `funcs`: the function registry and the predefined functions.
//! - `value`: [`Value`], [`List`], [`Map`], [`Object`].
//! - `fmt` and `float`: Go's `fmt` verbs and `strconv` float formatting.
//! - `quote`: Go's string and rune literal rules.
//! - `humanize`: prometheus/common's `HumanizeDuration`.
//! - [`gotime`]: Go's `time.Time` (zone-aware, from the tz database), `time.Duration`
//!   and pointers to them, with Go's printing, layouts and methods.
//!
//! # Example
//! ```
//! use pyrite_template::{Funcs, Template, Value};
//!
//! let t = Template::parse("t", "{{range $i, $e := .}}{{$i}}={{$e}} {{end}}", &Funcs::builtin())?;
//! let data = Value::list(vec![Value::from("a"), Value::from(1.5)]);
//! assert_eq!(t.execute_main(&data)?, "0=a 1=1.5 ");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ast;
mod error;
mod exec;
mod float;
mod fmt;
mod funcs;
pub mod gotime;
mod humanize;
mod lex;
mod parse;
mod quote;
mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

pub use crate::error::{ExecError, ParseError};
pub use crate::fmt::sprintf;
pub use crate::funcs::{html_escape, query_escape, Funcs};
pub use crate::humanize::humanize_duration;
pub use crate::value::{Arity, CallError, Func, FuncImpl, Kind, List, Map, Object, Value};

use crate::parse::Tree;

/// Go's `strconv.Quote`, for messages that quote text as Go's do.
pub fn go_quote(s: &str) -> String {
    quote::quote(s, false)
}

/// What a field access on a map does when the key is missing (Go's `missingkey` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// Go's default: the missing value, which prints as `<no value>`.
    #[default]
    Default,
    /// `missingkey=zero`: the map element type's zero value — `""` for a string map,
    /// still `<no value>` for a map of arbitrary values. Prometheus and Alertmanager
    /// execute with this.
    Zero,
    /// `missingkey=error`: execution stops with `map has no entry for key "k"`.
    Error,
}

/// A set of named templates parsed from one or more texts, with the functions they may
/// call. Cheap to clone; executing never changes it, so it may be shared across threads.
#[derive(Clone)]
pub struct Template {
    name: String,
    set: Arc<HashMap<String, Arc<Tree>>>,
    funcs: Funcs,
    missing_key: MissingKey,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.set.keys().collect();
        names.sort();
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("templates", &names)
            .field("missing_key", &self.missing_key)
            .finish()
    }
}

impl Template {
    /// Parses `text` as the template `name`, with every `{{define}}` and `{{block}}` in it.
    pub fn parse(name: &str, text: &str, funcs: &Funcs) -> Result<Template, ParseError> {
        let mut t = Template {
            name: name.to_string(),
            set: Arc::new(HashMap::new()),
            funcs: funcs.clone(),
            missing_key: MissingKey::Default,
        };
        t.add(name, text)?;
        Ok(t)
    }

    /// Parses more text into the set, as Go's `t.New(name).Parse(text)`: its definitions
    /// replace earlier ones of the same name (an empty definition never replaces a
    /// non-empty one), which is how a later `{{define}}` overrides a `{{block}}`. On error
    /// the set is unchanged.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), ParseError> {
        let trees = parse::parse(name, text, &self.funcs)?;
        let set = Arc::make_mut(&mut self.set);
        for tree in trees {
            let keep_old = set.get(&tree.name).is_some_and(|_| parse::is_empty(&tree.root));
            if !keep_old {
                set.insert(tree.name.clone(), Arc::new(tree));
            }
        }
        Ok(())
    }

    /// Sets what a missing map key yields.
    pub fn with_missing_key(mut self, missing_key: MissingKey) -> Template {
        self.missing_key = missing_key;
        self
    }

    /// The name given to [`Template::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the set holds a template of this name.
    pub fn contains(&self, name: &str) -> bool {
        self.set.contains_key(name)
    }

    /// The names of the templates in the set, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.set.keys().cloned().collect();
        names.sort();
        names
    }

    /// Executes the template `name` of the set with `data` as dot (and `$`).
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, ExecError> {
        let Some(tree) = self.set.get(name) else {
            return Err(ExecError {
                name: name.to_string(),
                message: format!(
                    "template: no template {} associated with template {}",
                    quote::quote(name, false),
                    quote::quote(&self.name, false)
                ),
            });
        };
        let mut exec = exec::Exec::new(&self.set, &self.funcs, self.missing_key, data);
        exec.run(tree, data)?;
        Ok(exec.out)
    }

    /// Executes the template named at [`Template::parse`].
    pub fn execute_main(&self, data: &Value) -> Result<String, ExecError> {
        self.execute(&self.name, data)
    }
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn everything_is_send_and_sync() {
        assert_send_sync::<super::Template>();
        assert_send_sync::<super::Value>();
        assert_send_sync::<super::Funcs>();
        assert_send_sync::<super::ParseError>();
        assert_send_sync::<super::ExecError>();
    }
}
