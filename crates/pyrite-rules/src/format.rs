//! The rule file format: its YAML shape, the checks promtool makes, and the typed groups
//! that pass them.

use std::collections::{BTreeMap, HashSet};

use pyrite_model::{is_valid_label_name, is_valid_metric_name, METRIC_NAME};
use serde::{Deserialize, Serialize};

use crate::duration::{format_duration, parse_duration};
use crate::{RuleFileError, TemplateCheck};

/// A rule file: its groups, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated together, in order, at one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    /// Milliseconds between evaluations; `None`: the ruler's default.
    pub interval_ms: Option<i64>,
    /// How far behind the evaluation instant the group's queries look; `None`: the
    /// ruler's default.
    pub query_offset_ms: Option<i64>,
    /// Most series an alerting rule may alert on, or a recording rule record, in one
    /// evaluation; 0: no limit (as is a negative `limit` in the file).
    pub limit: u64,
    pub rules: Vec<Rule>,
}

/// One rule: its expression, the labels it adds, and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub expr: String,
    pub labels: BTreeMap<String, String>,
    pub kind: RuleKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// Writes the expression's result under the metric name `record`.
    Recording { record: String },
    /// Alerts on each series of the expression's result.
    Alerting {
        alert: String,
        /// How long a series must be in the result before its alert fires.
        for_ms: i64,
        /// How long an alert keeps firing after its series left the result.
        keep_firing_for_ms: i64,
        annotations: BTreeMap<String, String>,
    },
}

impl Rule {
    /// The recording rule's metric name or the alert's name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }
}

/// A rule file as YAML writes it, before any check. Every scalar promtool would take as
/// a string (a number, a boolean) is taken as its text, as YAML decoding into a Go string
/// does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNode {
    #[serde(default)]
    groups: Vec<GroupNode>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct GroupNode {
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(default, deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    query_offset: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    limit: i64,
    #[serde(default)]
    rules: Vec<RuleNode>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RuleNode {
    #[serde(default, deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    record: Option<String>,
    #[serde(default, deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    alert: Option<String>,
    #[serde(default, deserialize_with = "text")]
    expr: String,
    #[serde(
        default,
        rename = "for",
        deserialize_with = "opt_text",
        skip_serializing_if = "Option::is_none"
    )]
    for_: Option<String>,
    #[serde(default, deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    keep_firing_for: Option<String>,
    #[serde(default, deserialize_with = "text_map", skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "text_map", skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A YAML scalar's text (`~` and a missing value: empty).
fn scalar_text(v: serde_yaml::Value) -> Result<String, String> {
    match v {
        serde_yaml::Value::Null => Ok(String::new()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::String(s) => Ok(s),
        serde_yaml::Value::Tagged(t) => scalar_text(t.value),
        other => Err(format!("cannot unmarshal {} into a string", yaml_kind(&other))),
    }
}

fn yaml_kind(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Sequence(_) => "a sequence",
        serde_yaml::Value::Mapping(_) => "a mapping",
        _ => "a scalar",
    }
}

fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar_text(serde_yaml::Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn opt_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::Null => Ok(None),
        v => scalar_text(v).map(Some).map_err(serde::de::Error::custom),
    }
}

fn text_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::Null => return Ok(BTreeMap::new()),
        serde_yaml::Value::Mapping(m) => m,
        other => {
            return Err(serde::de::Error::custom(format!(
                "cannot unmarshal {} into a map of strings",
                yaml_kind(&other)
            )))
        }
    };
    map.into_iter()
        .map(|(k, v)| Ok((scalar_text(k)?, scalar_text(v)?)))
        .collect::<Result<_, String>>()
        .map_err(serde::de::Error::custom)
}

impl RuleFile {
    /// Reads and checks a rule file. `Err` lists every problem, as promtool lists them.
    pub fn parse(bytes: &[u8], templates: TemplateCheck<'_>) -> Result<RuleFile, RuleFileError> {
        let node: FileNode = serde_yaml::from_slice(bytes).map_err(|e| RuleFileError(vec![yaml_error(&e)]))?;
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        let mut groups = Vec::with_capacity(node.groups.len());
        for g in node.groups {
            if !g.name.is_empty() && !seen.insert(g.name.clone()) {
                errors.push(format!("groupname: {:?} is repeated in the same file", g.name));
            }
            match check_group(g, templates) {
                Ok(g) => groups.push(g),
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(RuleFile { groups })
        } else {
            Err(RuleFileError(errors))
        }
    }
}

impl RuleGroup {
    /// Reads and checks one group as the rule configuration API receives it: a group's
    /// YAML on its own (`name:`, `interval:`, `rules:`), not a whole file.
    pub fn parse(bytes: &[u8], templates: TemplateCheck<'_>) -> Result<RuleGroup, RuleFileError> {
        let node: GroupNode = serde_yaml::from_slice(bytes).map_err(|e| RuleFileError(vec![yaml_error(&e)]))?;
        check_group(node, templates).map_err(RuleFileError)
    }

    /// The group as rule files write it, ready to parse back to the same group.
    pub fn to_yaml(&self) -> String {
        // Serializing plain strings, maps and sequences cannot fail.
        serde_yaml::to_string(&self.to_node()).unwrap_or_default()
    }

    /// Groups as a rule file writes them (`groups:` and the list).
    pub fn file_yaml(groups: &[RuleGroup]) -> String {
        #[derive(Serialize)]
        struct File {
            groups: Vec<GroupNode>,
        }
        let file = File {
            groups: groups.iter().map(RuleGroup::to_node).collect(),
        };
        serde_yaml::to_string(&file).unwrap_or_default()
    }

    fn to_node(&self) -> GroupNode {
        GroupNode {
            name: self.name.clone(),
            interval: self.interval_ms.map(format_duration),
            query_offset: self.query_offset_ms.map(format_duration),
            limit: self.limit as i64,
            rules: self.rules.iter().map(Rule::to_node).collect(),
        }
    }
}

impl Rule {
    fn to_node(&self) -> RuleNode {
        let mut node = RuleNode {
            record: None,
            alert: None,
            expr: self.expr.clone(),
            for_: None,
            keep_firing_for: None,
            labels: self.labels.clone(),
            annotations: BTreeMap::new(),
        };
        match &self.kind {
            RuleKind::Recording { record } => node.record = Some(record.clone()),
            RuleKind::Alerting {
                alert,
                for_ms,
                keep_firing_for_ms,
                annotations,
            } => {
                node.alert = Some(alert.clone());
                node.for_ = (*for_ms != 0).then(|| format_duration(*for_ms));
                node.keep_firing_for = (*keep_firing_for_ms != 0).then(|| format_duration(*keep_firing_for_ms));
                node.annotations = annotations.clone();
            }
        }
        node
    }
}

fn yaml_error(e: &serde_yaml::Error) -> String {
    format!("yaml: unmarshal errors:\n  {e}")
}

fn check_group(g: GroupNode, templates: TemplateCheck<'_>) -> Result<RuleGroup, Vec<String>> {
    let mut errors = Vec::new();
    if g.name.is_empty() {
        errors.push("Groupname must not be empty".to_string());
    }
    let mut duration = |what: &str, text: Option<&String>| match text.map(|t| parse_duration(t)) {
        None => None,
        Some(Ok(ms)) => Some(ms),
        Some(Err(e)) => {
            errors.push(format!("group {:?}: {what}: {e}", g.name));
            None
        }
    };
    let interval_ms = duration("interval", g.interval.as_ref());
    let query_offset_ms = duration("query_offset", g.query_offset.as_ref());
    let mut rules = Vec::with_capacity(g.rules.len());
    for (i, r) in g.rules.into_iter().enumerate() {
        let name = r
            .alert
            .clone()
            .filter(|a| !a.is_empty())
            .or_else(|| r.record.clone())
            .unwrap_or_default();
        match check_rule(r, templates) {
            Ok(rule) => rules.push(rule),
            Err(problems) => errors.extend(
                problems
                    .into_iter()
                    .map(|p| format!("group {:?}, rule {}, {:?}: {p}", g.name, i + 1, name)),
            ),
        }
    }
    if errors.is_empty() {
        Ok(RuleGroup {
            name: g.name,
            interval_ms,
            query_offset_ms,
            limit: g.limit.max(0) as u64,
            rules,
        })
    } else {
        Err(errors)
    }
}

/// The checks of one rule, in promtool's order; every problem is listed.
fn check_rule(r: RuleNode, templates: TemplateCheck<'_>) -> Result<Rule, Vec<String>> {
    let mut errors = Vec::new();
    let record = r.record.filter(|s| !s.is_empty());
    let alert = r.alert.filter(|s| !s.is_empty());
    match (&record, &alert) {
        (Some(_), Some(_)) => errors.push("only one of 'record' and 'alert' must be set".to_string()),
        (None, None) => errors.push("one of 'record' or 'alert' must be set".to_string()),
        _ => {}
    }
    if r.expr.is_empty() {
        errors.push("field 'expr' must be set in rule".to_string());
    } else if let Err(e) = pyrite_promql::check_query(&r.expr) {
        errors.push(format!("could not parse expression: {e}"));
    }
    let mut duration = |what: &str, text: Option<&String>| match text.map(|t| parse_duration(t)) {
        None => 0,
        Some(Ok(ms)) => ms,
        Some(Err(e)) => {
            errors.push(format!("{what}: {e}"));
            0
        }
    };
    let for_ms = duration("for", r.for_.as_ref());
    let keep_firing_for_ms = duration("keep_firing_for", r.keep_firing_for.as_ref());
    if let Some(record) = &record {
        if !r.annotations.is_empty() {
            errors.push("invalid field 'annotations' in recording rule".to_string());
        }
        if for_ms != 0 {
            errors.push("invalid field 'for' in recording rule".to_string());
        }
        if keep_firing_for_ms != 0 {
            errors.push("invalid field 'keep_firing_for' in recording rule".to_string());
        }
        if !is_valid_metric_name(record) {
            errors.push(format!("invalid recording rule name: {record}"));
        }
    }
    for name in r.labels.keys() {
        if !is_valid_label_name(name) || name == METRIC_NAME {
            errors.push(format!("invalid label name: {name}"));
        }
    }
    for name in r.annotations.keys() {
        if !is_valid_label_name(name) {
            errors.push(format!("invalid annotation name: {name}"));
        }
    }
    if let Some(alert) = &alert {
        for (what, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
            for (key, text) in map {
                if let Err(e) = templates(alert, text) {
                    errors.push(format!("{what} {key:?}: {e}"));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let kind = match (record, alert) {
        (Some(record), _) => RuleKind::Recording { record },
        (None, Some(alert)) => RuleKind::Alerting {
            alert,
            for_ms,
            keep_firing_for_ms,
            annotations: r.annotations,
        },
        (None, None) => unreachable!("a rule without record or alert was refused above"),
    };
    Ok(Rule {
        expr: r.expr,
        labels: r.labels,
        kind,
    })
}

#[cfg(test)]
mod tests;
