//! A group's state as the metadata group keeps it between evaluations, so that whoever
//! evaluates the group next — this ruler after a restart, or another after the group
//! moved — starts from exactly where the last evaluation left it: each rule's alerts
//! (pending since, firing since, resolved at, last sent, keep firing since), the series
//! it wrote (for their staleness markers), its health and last error.
//!
//! Rules are recorded by kind and name, and read back onto the group's rules as a
//! reload maps them ([`GroupState::for_group`]), so a record written before the rules
//! changed carries the state of the rules still there.

use std::collections::BTreeMap;

use pyrite_model::Labels;
use pyrite_rules::{RuleGroup, RuleKind};
use serde::{Deserialize, Serialize};

use crate::alerting::{Alert, AlertState, Alerts};
use crate::group::{GroupState, Health, RuleState};

/// The pool rulers form, whose records are the groups' states.
pub const POOL: &str = "ruler";

#[derive(Debug, Serialize, Deserialize)]
struct GroupRecord {
    rules: Vec<RuleRecord>,
    last_evaluation: Option<i64>,
    evaluation_seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct RuleRecord {
    alerting: bool,
    name: String,
    health: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    last_evaluation: Option<i64>,
    evaluation_seconds: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    written: Vec<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    alerts: Vec<AlertRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AlertRecord {
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    value: f64,
    state: String,
    active_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fired_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resolved_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_sent_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<i64>,
}

/// The key of a group's record: its tenant, file and name, unambiguously.
pub fn key(tenant: &str, file: &str, name: &str) -> String {
    serde_json::to_string(&[tenant, file, name]).expect("strings always serialize")
}

fn labels_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()
}

fn labels_of(m: &BTreeMap<String, String>) -> Labels {
    let pairs: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Labels::from_pairs(&pairs)
}

fn state_name(s: AlertState) -> &'static str {
    s.as_str()
}

fn state_of(s: &str) -> Option<AlertState> {
    match s {
        "inactive" => Some(AlertState::Inactive),
        "pending" => Some(AlertState::Pending),
        "firing" => Some(AlertState::Firing),
        _ => None,
    }
}

fn health_of(s: &str) -> Health {
    match s {
        "ok" => Health::Ok,
        "err" => Health::Err,
        _ => Health::Unknown,
    }
}

fn is_alerting(kind: &RuleKind) -> bool {
    matches!(kind, RuleKind::Alerting { .. })
}

/// `state` of `group` as its record holds it.
pub fn encode(group: &RuleGroup, state: &GroupState) -> String {
    let rules = group
        .rules
        .iter()
        .zip(&state.rules)
        .map(|(r, s)| RuleRecord {
            alerting: is_alerting(&r.kind),
            name: r.name().to_string(),
            health: s.health.as_str().to_string(),
            last_error: s.last_error.clone(),
            last_evaluation: s.last_evaluation,
            evaluation_seconds: s.evaluation_seconds,
            written: {
                let mut w: Vec<_> = s.written.iter().map(labels_map).collect();
                w.sort();
                w
            },
            alerts: s
                .alerts
                .iter()
                .map(|a| AlertRecord {
                    labels: labels_map(&a.labels),
                    annotations: a.annotations.clone(),
                    value: a.value,
                    state: state_name(a.state).to_string(),
                    active_at: a.active_at,
                    fired_at: a.fired_at,
                    resolved_at: a.resolved_at,
                    last_sent_at: a.last_sent_at,
                    valid_until: a.valid_until,
                    keep_firing_since: a.keep_firing_since,
                })
                .collect(),
        })
        .collect();
    let record = GroupRecord {
        rules,
        last_evaluation: state.last_evaluation,
        evaluation_seconds: state.evaluation_seconds,
    };
    serde_json::to_string(&record).expect("a group record always serializes")
}

/// The state of `group` a record holds: rules matched by kind and name, each rule's
/// state in the place the group has it now.
pub fn decode(group: &RuleGroup, value: &str) -> Result<GroupState, String> {
    let record: GroupRecord = serde_json::from_str(value).map_err(|e| format!("undecodable group record: {e}"))?;
    let mut recorded: BTreeMap<(bool, String), Vec<RuleState>> = BTreeMap::new();
    for r in record.rules.into_iter().rev() {
        let mut alerts = Vec::with_capacity(r.alerts.len());
        for a in r.alerts {
            let state = state_of(&a.state).ok_or_else(|| format!("unknown alert state {:?}", a.state))?;
            alerts.push(Alert {
                labels: labels_of(&a.labels),
                annotations: a.annotations,
                value: a.value,
                state,
                active_at: a.active_at,
                fired_at: a.fired_at,
                resolved_at: a.resolved_at,
                last_sent_at: a.last_sent_at,
                valid_until: a.valid_until,
                keep_firing_since: a.keep_firing_since,
            });
        }
        let state = RuleState {
            health: health_of(&r.health),
            last_error: r.last_error,
            last_evaluation: r.last_evaluation,
            evaluation_seconds: r.evaluation_seconds,
            written: r.written.iter().map(labels_of).collect(),
            alerts: Alerts::from_alerts(alerts),
        };
        recorded.entry((r.alerting, r.name)).or_default().push(state);
    }
    let rules = group
        .rules
        .iter()
        .map(|r| {
            recorded
                .get_mut(&(is_alerting(&r.kind), r.name().to_string()))
                .and_then(Vec::pop)
                .unwrap_or_default()
        })
        .collect();
    Ok(GroupState {
        rules,
        last_evaluation: record.last_evaluation,
        evaluation_seconds: record.evaluation_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::{AlertingSettings, Candidate};

    fn group(yaml: &str) -> RuleGroup {
        let file = pyrite_rules::RuleFile::parse(yaml.as_bytes(), &|_, _| Ok(())).unwrap();
        file.groups.into_iter().next().unwrap()
    }

    #[test]
    fn a_state_round_trips_and_follows_its_rules_when_they_change() {
        let g = group(
            "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n  - alert: A\n    expr: up == 0\n    for: 1m\n",
        );
        let mut state = GroupState::for_group(&g, None);
        state.last_evaluation = Some(60_000);
        state.rules[0].health = Health::Ok;
        state.rules[0]
            .written
            .insert(Labels::from_pairs(&[("__name__", "r"), ("job", "a")]));
        let labels = Labels::from_pairs(&[("alertname", "A"), ("job", "a")]);
        let candidate = Candidate {
            labels: labels.clone(),
            annotations: BTreeMap::from([("summary".to_string(), "down".to_string())]),
            value: 0.0,
        };
        let settings = AlertingSettings {
            for_ms: 60_000,
            ..Default::default()
        };
        state.rules[1]
            .alerts
            .evaluate(1_000, settings, vec![candidate.clone()])
            .unwrap();
        state.rules[1]
            .alerts
            .evaluate(61_000, settings, vec![candidate])
            .unwrap();
        state.rules[1].alerts.due(61_000, 60_000, 15_000);
        state.rules[1].health = Health::Err;
        state.rules[1].last_error = Some("boom".into());

        let back = decode(&g, &encode(&g, &state)).unwrap();
        assert_eq!(back, state);

        // The alerting rule moved first and a new rule came in: each keeps its own.
        let changed = group(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 1m\n  - record: new\n    expr: up\n  - record: r\n    expr: up\n",
        );
        let moved = decode(&changed, &encode(&g, &state)).unwrap();
        assert_eq!(moved.rules[0], state.rules[1]);
        assert_eq!(moved.rules[1], RuleState::default());
        assert_eq!(moved.rules[2], state.rules[0]);
        assert_eq!(moved.last_evaluation, Some(60_000));
        assert!(decode(&g, "{").is_err());
    }

    #[test]
    fn keys_tell_every_group_apart() {
        assert_ne!(key("a", "b/c", "d"), key("a/b", "c", "d"));
        assert_eq!(key("t", "f.yml", "g"), r#"["t","f.yml","g"]"#);
    }
}
