//! The routing tree, inhibition rules and named time intervals: read as written (the
//! classic `match`/`match_re` beside `matchers`), checked as Alertmanager checks each node
//! when it reads it, and kept in one form — every way of writing a matcher merged into
//! [`Matchers`].
//!
//! The invariant: a [`RouteConfig`] or [`InhibitRule`] that exists has valid label names,
//! compiled matchers and a `group_by` without duplicates; the checks that need the whole
//! file (receivers and time intervals defined, root route rules) are in `validate`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fields::{is_false, opt_model_duration, ser_matchers, valid_label_name};
use crate::matchers::{MatchOp, Matcher, Matchers};
use crate::timeinterval::TimeInterval;

/// Alertmanager's root route timings, used when the root route does not set them.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 60 * 60);

/// What alerts are grouped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `['...']`: every label.
    All,
    Labels(Vec<String>),
}

impl Serialize for GroupBy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GroupBy::All => s.collect_seq(["..."]),
            GroupBy::Labels(labels) => s.collect_seq(labels),
        }
    }
}

/// A node of the routing tree. Absent timings and `group_by` are inherited from the
/// parent; the root's timings are always set once the configuration is loaded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouteConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<GroupBy>,
    /// `matchers`, `match` and `match_re` together, sorted as Alertmanager sorts them.
    #[serde(serialize_with = "ser_matchers", skip_serializing_if = "Matchers::is_empty")]
    pub matchers: Matchers,
    #[serde(rename = "continue", skip_serializing_if = "is_false")]
    pub continue_: bool,
    #[serde(with = "opt_model_duration", skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<Duration>,
    #[serde(with = "opt_model_duration", skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<Duration>,
    #[serde(with = "opt_model_duration", skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<Duration>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub active_time_intervals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
}

/// A route as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default)]
    receiver: Option<String>,
    #[serde(default)]
    group_by: Vec<String>,
    #[serde(default, rename = "match")]
    match_: BTreeMap<String, String>,
    #[serde(default)]
    match_re: BTreeMap<String, String>,
    #[serde(default)]
    matchers: Vec<String>,
    #[serde(default)]
    mute_time_intervals: Vec<String>,
    #[serde(default)]
    active_time_intervals: Vec<String>,
    #[serde(default, rename = "continue")]
    continue_: bool,
    #[serde(default)]
    routes: Vec<RouteConfig>,
    #[serde(default, with = "opt_model_duration")]
    group_wait: Option<Duration>,
    #[serde(default, with = "opt_model_duration")]
    group_interval: Option<Duration>,
    #[serde(default, with = "opt_model_duration")]
    repeat_interval: Option<Duration>,
}

/// The order Alertmanager sorts matchers in: by name, then value, then operator.
fn op_rank(op: MatchOp) -> u8 {
    match op {
        MatchOp::Equal => 0,
        MatchOp::NotEqual => 1,
        MatchOp::Regex => 2,
        MatchOp::NotRegex => 3,
    }
}

/// The classic maps and the `matchers` lines as one sorted [`Matchers`]. A `match_re`
/// value becomes `^(?:value)$`, the text of the regex Alertmanager compiles, because that
/// is the value its route and group keys show.
fn merge_matchers(
    equal: BTreeMap<String, String>,
    regex: BTreeMap<String, String>,
    lines: &[String],
) -> Result<Matchers, String> {
    let mut out = Vec::new();
    for (name, value) in equal {
        if !valid_label_name(&name) {
            return Err(format!("invalid label name {name:?}"));
        }
        out.push(Matcher::new(name, MatchOp::Equal, value).map_err(|e| e.to_string())?);
    }
    for (name, value) in regex {
        if !valid_label_name(&name) {
            return Err(format!("invalid label name {name:?}"));
        }
        let m = Matcher::new(name.clone(), MatchOp::Regex, format!("^(?:{value})$"))
            .map_err(|e| format!("invalid regexp value for {name:?}: {e}"))?;
        out.push(m);
    }
    for line in lines {
        let parsed = Matchers::parse(line).map_err(|e| format!("bad matcher format: {line}: {e}"))?;
        out.extend(parsed.0);
    }
    out.sort_by(|a, b| {
        (a.name.as_str(), a.value.as_str(), op_rank(a.op)).cmp(&(b.name.as_str(), b.value.as_str(), op_rank(b.op)))
    });
    Ok(Matchers(out))
}

/// Parses a list of `matchers` lines (as in routes and inhibition rules).
pub fn parse_matcher_lines(lines: &[String]) -> Result<Matchers, String> {
    merge_matchers(BTreeMap::new(), BTreeMap::new(), lines)
}

fn group_by(list: Vec<String>) -> Result<Option<GroupBy>, String> {
    if list.is_empty() {
        return Ok(None);
    }
    let mut all = false;
    let mut labels = Vec::new();
    for label in list {
        if label == "..." {
            all = true;
        } else if !valid_label_name(&label) {
            return Err(format!("invalid label name {label:?} in group_by list"));
        } else {
            labels.push(label);
        }
    }
    if all && !labels.is_empty() {
        return Err("cannot have wildcard group_by (`...`) and other labels at the same time".into());
    }
    let mut seen = HashSet::new();
    if let Some(dup) = labels.iter().find(|l| !seen.insert(l.as_str())) {
        return Err(format!("duplicated label {dup:?} in group_by"));
    }
    Ok(Some(if all { GroupBy::All } else { GroupBy::Labels(labels) }))
}

impl TryFrom<RawRoute> for RouteConfig {
    type Error = String;

    fn try_from(raw: RawRoute) -> Result<RouteConfig, String> {
        let matchers = merge_matchers(raw.match_, raw.match_re, &raw.matchers)?;
        let group_by = group_by(raw.group_by)?;
        if raw.group_interval.is_some_and(|d| d.is_zero()) {
            return Err("group_interval cannot be zero".into());
        }
        if raw.repeat_interval.is_some_and(|d| d.is_zero()) {
            return Err("repeat_interval cannot be zero".into());
        }
        Ok(RouteConfig {
            receiver: raw.receiver.filter(|r| !r.is_empty()),
            group_by,
            matchers,
            continue_: raw.continue_,
            group_wait: raw.group_wait,
            group_interval: raw.group_interval,
            repeat_interval: raw.repeat_interval,
            mute_time_intervals: raw.mute_time_intervals,
            active_time_intervals: raw.active_time_intervals,
            routes: raw.routes,
        })
    }
}

impl<'de> Deserialize<'de> for RouteConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawRoute::deserialize(d)?.try_into().map_err(serde::de::Error::custom)
    }
}

/// Mutes alerts matching `target_matchers` while an alert matching `source_matchers`
/// fires with the same values of the `equal` labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InhibitRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `source_matchers`, `source_match` and `source_match_re` together.
    #[serde(serialize_with = "ser_matchers", skip_serializing_if = "Matchers::is_empty")]
    pub source_matchers: Matchers,
    /// `target_matchers`, `target_match` and `target_match_re` together.
    #[serde(serialize_with = "ser_matchers", skip_serializing_if = "Matchers::is_empty")]
    pub target_matchers: Matchers,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInhibitRule {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    source_match: BTreeMap<String, String>,
    #[serde(default)]
    source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_match: BTreeMap<String, String>,
    #[serde(default)]
    target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    equal: Vec<String>,
}

impl TryFrom<RawInhibitRule> for InhibitRule {
    type Error = String;

    fn try_from(raw: RawInhibitRule) -> Result<InhibitRule, String> {
        let source_matchers = merge_matchers(raw.source_match, raw.source_match_re, &raw.source_matchers)?;
        let target_matchers = merge_matchers(raw.target_match, raw.target_match_re, &raw.target_matchers)?;
        if let Some(bad) = raw.equal.iter().find(|l| !valid_label_name(l)) {
            return Err(format!("invalid label name {bad:?} in equal list"));
        }
        Ok(InhibitRule {
            name: raw.name.filter(|n| !n.is_empty()),
            source_matchers,
            target_matchers,
            equal: raw.equal,
        })
    }
}

impl<'de> Deserialize<'de> for InhibitRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawInhibitRule::deserialize(d)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

/// A named set of time intervals, from `time_intervals` or the older `mute_time_intervals`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTimeInterval {
    pub name: String,
    pub time_intervals: Vec<TimeInterval>,
}

/// A named interval as written; `kind` names the section for the "missing name" message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNamedInterval {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) time_intervals: Vec<TimeInterval>,
}
