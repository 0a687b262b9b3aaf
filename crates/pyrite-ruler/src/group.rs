//! One rule group's evaluation, as Prometheus evaluates a group: its rules in order,
//! each rule's query at the evaluation instant less the group's query offset, each
//! rule's output written before the next rule queries (so a rule reads the output of
//! the rules before it in the same evaluation), and staleness markers for the series a
//! rule wrote last time and not this time.
//!
//! The group's [`GroupState`] is what an evaluation reads and changes: per rule, the
//! series it wrote last and its alerts, and its health. A failed rule changes nothing
//! of its state but its health, as in Prometheus: its series go stale only once it
//! succeeds again without them.
//!
//! The invariant: [`GroupState::evaluate`] at an instant `t` depends only on the state,
//! `t`, the group and what the queries answer, so two rulers that hold the same state
//! and evaluate the same instant write the same samples and reach the same state.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use pyrite_model::{Labels, Sample, TimeSeries, STALE_NAN};
use pyrite_rules::{RuleGroup, RuleKind};

use crate::alerting::{alert_labels, AlertingSettings, Alerts, Candidate};
pub use crate::template::QuerySample;

/// The answer of `expr` at `t` for `tenant` by `engine` over `store`, as a rule reads
/// it: an instant vector, or a scalar as one series without labels.
pub async fn instant_query(
    engine: &pyrite_promql::Engine,
    store: std::sync::Arc<dyn pyrite_storage::Queryable>,
    tenant: &str,
    expr: &str,
    t: i64,
) -> Result<Vec<QuerySample>, String> {
    let answer = engine
        .instant_query(store, tenant, expr, t)
        .await
        .map_err(|e| e.to_string())?;
    match answer.value {
        pyrite_promql::Value::Vector(samples) => Ok(samples
            .into_iter()
            .map(|s| QuerySample {
                labels: s.labels,
                value: s.v,
                histogram: s.h,
            })
            .collect()),
        pyrite_promql::Value::Scalar { v, .. } => Ok(vec![QuerySample {
            labels: Labels::empty(),
            value: v,
            histogram: None,
        }]),
        _ => Err("rule result is not a vector or scalar".to_string()),
    }
}

/// What a rule evaluation needs from the rest of Pyrite.
#[async_trait::async_trait]
pub trait RuleEnv: Send + Sync {
    /// The instant-vector answer of `expr` at `t` for `tenant`, seeing every write
    /// acknowledged before the call (a scalar answer is one series without labels).
    async fn query(&self, tenant: &str, expr: &str, t: i64) -> Result<Vec<QuerySample>, String>;

    /// Writes series through Pyrite's write path; `Err` when the write path refused
    /// or failed it.
    async fn write(&self, tenant: &str, series: Vec<TimeSeries>) -> Result<(), String>;

    /// Expands a label or annotation template of an alerting rule for one series.
    fn expand(&self, at: &Expansion<'_>, text: &str) -> String;
}

/// What a template is expanded for: the tenant and instant of the evaluation, the
/// alerting rule, and the series of its result.
#[derive(Debug, Clone, Copy)]
pub struct Expansion<'a> {
    pub tenant: &'a str,
    /// The instant the rule's query ran at (Unix ms).
    pub t: i64,
    pub rule: &'a str,
    pub labels: &'a Labels,
    pub value: f64,
}

/// A rule's health, as `/api/v1/rules` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// What an evaluation knows of one rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleState {
    pub health: Health,
    pub last_error: Option<String>,
    /// The instant of its last evaluation (Unix ms).
    pub last_evaluation: Option<i64>,
    /// How long its last evaluation took, in seconds.
    pub evaluation_seconds: f64,
    /// The series its last successful evaluation wrote.
    pub written: HashSet<Labels>,
    pub alerts: Alerts,
}

/// What an evaluation knows of its group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupState {
    pub rules: Vec<RuleState>,
    pub last_evaluation: Option<i64>,
    pub evaluation_seconds: f64,
}

/// The group's settings an evaluation applies beyond the rules themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalSettings {
    /// The group's query offset, or the ruler's default.
    pub query_offset_ms: i64,
}

impl GroupState {
    /// A state for `group`, keeping what `previous` knew of rules that are still there
    /// (same place, kind and name), as Prometheus keeps it across a reload.
    pub fn for_group(group: &RuleGroup, previous: Option<(&RuleGroup, GroupState)>) -> GroupState {
        let mut rules = vec![RuleState::default(); group.rules.len()];
        let mut last_evaluation = None;
        if let Some((old_group, old)) = previous {
            last_evaluation = old.last_evaluation;
            let mut old_rules: BTreeMap<(bool, &str), Vec<RuleState>> = BTreeMap::new();
            for (r, s) in old_group.rules.iter().zip(old.rules).rev() {
                old_rules.entry((is_alerting(&r.kind), r.name())).or_default().push(s);
            }
            for (r, s) in group.rules.iter().zip(rules.iter_mut()) {
                if let Some(kept) = old_rules.get_mut(&(is_alerting(&r.kind), r.name())).and_then(Vec::pop) {
                    *s = kept;
                }
            }
        }
        GroupState {
            rules,
            last_evaluation,
            evaluation_seconds: 0.0,
        }
    }

    /// Evaluates every rule of `group` at `t` (Unix ms). Each rule's output, and the
    /// staleness markers of the series it no longer writes, are written before the next
    /// rule's query.
    pub async fn evaluate(
        &mut self,
        env: &dyn RuleEnv,
        tenant: &str,
        group: &RuleGroup,
        t: i64,
        settings: EvalSettings,
    ) {
        let started = Instant::now();
        if self.rules.len() != group.rules.len() {
            self.rules.resize_with(group.rules.len(), RuleState::default);
        }
        let at = t - settings.query_offset_ms;
        for (rule, state) in group.rules.iter().zip(self.rules.iter_mut()) {
            let rule_started = Instant::now();
            let outcome = match &rule.kind {
                RuleKind::Recording { record } => record_rule(env, tenant, rule, record, at, group.limit).await,
                RuleKind::Alerting {
                    alert,
                    for_ms,
                    keep_firing_for_ms,
                    annotations,
                } => {
                    let settings = AlertingSettings {
                        for_ms: *for_ms,
                        keep_firing_for_ms: *keep_firing_for_ms,
                        limit: group.limit,
                    };
                    alert_rule(
                        env,
                        tenant,
                        rule,
                        alert,
                        annotations,
                        at,
                        t,
                        settings,
                        &mut state.alerts,
                    )
                    .await
                }
            };
            state.last_evaluation = Some(t);
            match outcome {
                Ok(series) => {
                    let written: HashSet<Labels> = series.iter().map(|s| s.labels.clone()).collect();
                    let mut out = series;
                    for gone in state.written.difference(&written) {
                        out.push(TimeSeries::floats(gone.clone(), vec![Sample::new(at, STALE_NAN)]));
                    }
                    state.written = written;
                    match env.write(tenant, out).await {
                        Ok(()) => {
                            state.health = Health::Ok;
                            state.last_error = None;
                        }
                        Err(e) => {
                            state.health = Health::Err;
                            state.last_error = Some(e);
                        }
                    }
                }
                Err(e) => {
                    state.health = Health::Err;
                    state.last_error = Some(e);
                }
            }
            state.evaluation_seconds = rule_started.elapsed().as_secs_f64();
        }
        self.last_evaluation = Some(t);
        self.evaluation_seconds = started.elapsed().as_secs_f64();
    }

    /// Staleness markers at `t` for every series the group's rules last wrote: the
    /// group was removed, or its rules changed their output names.
    pub fn stale_markers(&self, t: i64) -> Vec<TimeSeries> {
        self.rules
            .iter()
            .flat_map(|r| r.written.iter())
            .map(|l| TimeSeries::floats(l.clone(), vec![Sample::new(t, STALE_NAN)]))
            .collect()
    }
}

fn is_alerting(kind: &RuleKind) -> bool {
    matches!(kind, RuleKind::Alerting { .. })
}

/// A recording rule's output at `at`: each series renamed to `record`, with the rule's
/// labels set over it.
async fn record_rule(
    env: &dyn RuleEnv,
    tenant: &str,
    rule: &pyrite_rules::Rule,
    record: &str,
    at: i64,
    limit: u64,
) -> Result<Vec<TimeSeries>, String> {
    let answer = env.query(tenant, &rule.expr, at).await?;
    let mut seen = HashSet::with_capacity(answer.len());
    let mut out = Vec::with_capacity(answer.len());
    for s in answer {
        let mut b = s.labels.to_builder();
        b.set(pyrite_model::METRIC_NAME, record);
        for (name, value) in &rule.labels {
            if value.is_empty() {
                b.del(name);
            } else {
                b.set(name, value);
            }
        }
        let labels = b.build();
        if !seen.insert(labels.clone()) {
            return Err("vector contains metrics with the same labelset after applying rule labels".into());
        }
        out.push(match s.histogram {
            Some(h) => TimeSeries {
                labels,
                samples: Vec::new(),
                histograms: vec![(at, h)],
            },
            None => TimeSeries::floats(labels, vec![Sample::new(at, s.value)]),
        });
    }
    if limit > 0 && out.len() as u64 > limit {
        return Err(format!("exceeded limit {limit} with {} series", out.len()));
    }
    Ok(out)
}

/// An alerting rule's evaluation: its alerts moved at `t` by the answer at `at`, and
/// the `ALERTS`/`ALERTS_FOR_STATE` series they make, at `at`.
#[allow(clippy::too_many_arguments)]
async fn alert_rule(
    env: &dyn RuleEnv,
    tenant: &str,
    rule: &pyrite_rules::Rule,
    alert: &str,
    annotations: &BTreeMap<String, String>,
    at: i64,
    t: i64,
    settings: AlertingSettings,
    alerts: &mut Alerts,
) -> Result<Vec<TimeSeries>, String> {
    let answer = env.query(tenant, &rule.expr, at).await?;
    let candidates = answer
        .into_iter()
        .map(|s| {
            let at = Expansion {
                tenant,
                t: at,
                rule: alert,
                labels: &s.labels,
                value: s.value,
            };
            let expand = |text: &String| env.expand(&at, text);
            let labels = rule.labels.iter().map(|(n, v)| (n.as_str(), expand(v)));
            Candidate {
                labels: alert_labels(&s.labels, labels, alert),
                annotations: annotations.iter().map(|(n, v)| (n.clone(), expand(v))).collect(),
                value: s.value,
            }
        })
        .collect();
    alerts.evaluate(t, settings, candidates).map_err(|e| e.to_string())?;
    Ok(alerts
        .series()
        .into_iter()
        .map(|(labels, v)| TimeSeries::floats(labels, vec![Sample::new(at, v)]))
        .collect())
}

#[cfg(test)]
mod tests;
