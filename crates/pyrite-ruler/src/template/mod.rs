//! Alert templates as Prometheus expands them: the labels and annotations of alerting
//! rules, run through [`pyrite_template`] with the data (`.Labels`, `.ExternalLabels`,
//! `.ExternalURL`, `.Value` and the `$labels`, `$externalLabels`, `$externalURL`,
//! `$value` variables) and the functions (`query`, `humanize`, `toTime`, …) that
//! Prometheus gives them.
//!
//! [`check`] is `promtool check rules`'s parse-only check, fit for
//! [`pyrite_rules::TemplateCheck`]; [`Expander::expand`] is what an evaluation does to
//! each text, a failure becoming `<error expanding template: …>` as in Prometheus. This
//! module does not evaluate queries: `query` calls the [`QueryFn`] the ruler gives it,
//! which runs PromQL at the evaluation's instant.
//!
//! The invariant: the template named `__alert_<rule>` is the variable definitions and the
//! user's text *on one line*, as Prometheus builds it, so every line and column in a
//! message is the one Prometheus would print.
//!
//! Layout: `funcs` holds the functions; Go's `time.Time` and `time.Duration` values are
//! [`pyrite_template::gotime`]'s.

mod funcs;

use std::sync::{Arc, OnceLock};

use pyrite_model::Labels;
use pyrite_template::{Funcs, Map, MissingKey, Object, Template, Value};

use self::funcs::{prometheus_funcs, Context};

/// One series of an instant query's answer: what `query` hands to templates, and what
/// a rule's evaluation reads.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    pub labels: Labels,
    pub value: f64,
    /// A native histogram sample instead of a float one (templates see only `value`).
    pub histogram: Option<pyrite_model::FloatHistogram>,
}

/// Runs a PromQL instant query at the evaluation's instant: the samples of its vector,
/// or the engine's message.
pub type QueryFn = Arc<dyn Fn(&str) -> Result<Vec<QuerySample>, String> + Send + Sync>;

/// The variables Prometheus defines before an alert template's text.
const DEFS: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Go's type of the data, as messages name it.
const DATA_TYPE: &str =
    "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

/// A span of milliseconds as Go's `time.Duration` prints it (`0s`, `1m30s`, `1h0m0s`,
/// `500ms`), as rule unit tests word evaluation instants.
pub(crate) fn go_duration(ms: i64) -> String {
    pyrite_template::gotime::GoDuration(ms.saturating_mul(1_000_000)).go_string()
}

/// The template name Prometheus gives the texts of the alerting rule `rule_name`.
pub fn template_name(rule_name: &str) -> String {
    format!("__alert_{rule_name}")
}

fn parse(funcs: &Funcs, rule_name: &str, text: &str) -> Result<Template, String> {
    let name = template_name(rule_name);
    Template::parse(&name, &format!("{DEFS}{text}"), funcs)
        .map(|t| t.with_missing_key(MissingKey::Zero))
        .map_err(|e| e.message().to_string())
}

/// Checks that `text`, a label's or an annotation's value of the alerting rule
/// `rule_name`, parses, as `promtool check rules` does: `Err` with Go's message, e.g.
/// `template: __alert_Down:1: function "nosuch" not defined`.
pub fn check(rule_name: &str, text: &str) -> Result<(), String> {
    static FUNCS: OnceLock<Funcs> = OnceLock::new();
    let funcs = FUNCS.get_or_init(|| {
        prometheus_funcs(Arc::new(Context {
            query: Arc::new(|_| Ok(Vec::new())),
            eval_ms: 0,
            external_url: String::new(),
        }))
    });
    parse(funcs, rule_name, text).map(|_| ())
}

/// The data of an alert template: Go's anonymous struct of Prometheus's
/// `AlertTemplateData`.
struct AlertData {
    labels: Value,
    external_labels: Value,
    external_url: Value,
    value: f64,
}

impl Object for AlertData {
    fn type_name(&self) -> &str {
        DATA_TYPE
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Labels" => self.labels.clone(),
            "ExternalLabels" => self.external_labels.clone(),
            "ExternalURL" => self.external_url.clone(),
            "Value" => Value::Float(self.value),
            _ => return None,
        })
    }

    fn to_go_string(&self) -> Option<String> {
        Some(format!(
            "{{{} {} {} {}}}",
            self.labels,
            self.external_labels,
            self.external_url,
            Value::Float(self.value)
        ))
    }
}

fn string_map(labels: &Labels) -> Value {
    Value::Map(Map::strings(
        labels.iter().map(|l| (l.name.to_string(), l.value.clone())),
    ))
}

/// Expands the templates of alerting rules for one ruler: its external labels and URL,
/// and the query function for `query`. `now` answers the evaluation instant set with
/// [`Expander::at`] (the Unix epoch until then).
#[derive(Clone)]
pub struct Expander {
    external_labels: Value,
    external_url: String,
    query: QueryFn,
    funcs: Funcs,
}

impl std::fmt::Debug for Expander {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expander")
            .field("external_labels", &self.external_labels)
            .field("external_url", &self.external_url)
            .finish_non_exhaustive()
    }
}

impl Expander {
    pub fn new(external_labels: &Labels, external_url: impl Into<String>, query: QueryFn) -> Expander {
        Expander::build(string_map(external_labels), external_url.into(), query, 0)
    }

    fn build(external_labels: Value, external_url: String, query: QueryFn, eval_ms: i64) -> Expander {
        let funcs = prometheus_funcs(Arc::new(Context {
            query: query.clone(),
            eval_ms,
            external_url: external_url.clone(),
        }));
        Expander {
            external_labels,
            external_url,
            query,
            funcs,
        }
    }

    /// The same expander for an evaluation at `eval_ms` (Unix milliseconds), which
    /// `now` returns in seconds.
    pub fn at(&self, eval_ms: i64) -> Expander {
        Expander::build(
            self.external_labels.clone(),
            self.external_url.clone(),
            self.query.clone(),
            eval_ms,
        )
    }

    /// [`check`], with this expander's functions (the same names).
    pub fn check(&self, rule_name: &str, text: &str) -> Result<(), String> {
        parse(&self.funcs, rule_name, text).map(|_| ())
    }

    /// Expands `text` of the alerting rule `rule_name` for the alert of a series with
    /// `labels` and `value`: the output, or Prometheus's message
    /// (`error parsing template __alert_X: …`, `error executing template __alert_X: …`).
    pub fn try_expand(&self, rule_name: &str, text: &str, labels: &Labels, value: f64) -> Result<String, String> {
        let name = template_name(rule_name);
        let template =
            parse(&self.funcs, rule_name, text).map_err(|e| format!("error parsing template {name}: {e}"))?;
        let data = Value::object(AlertData {
            labels: string_map(labels),
            external_labels: self.external_labels.clone(),
            external_url: Value::from(self.external_url.as_str()),
            value,
        });
        template
            .execute_main(&data)
            .map_err(|e| format!("error executing template {name}: {}", e.message()))
    }

    /// Expands as an evaluation does: the output, or `<error expanding template: …>`.
    pub fn expand(&self, rule_name: &str, text: &str, labels: &Labels, value: f64) -> String {
        self.try_expand(rule_name, text, labels, value)
            .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
    }
}

#[cfg(test)]
mod tests;
