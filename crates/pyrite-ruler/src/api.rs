//! `/api/v1/rules` and `/api/v1/alerts` (also under `/prometheus`), in Prometheus's JSON
//! shapes, each answering for the request's tenant only: its groups, their rules with
//! health, last error, last evaluation and duration, and their alerts.
//!
//! `/api/v1/rules` takes Prometheus's filters: `type` (`alert` or `record`),
//! `rule_name[]`, `rule_group[]`, `file[]`, `exclude_alerts` and `match[]` (a rule is
//! kept when its labels match any of the selectors).
//!
//! The invariant: nothing here changes a group's state; a handler holds a group's lock
//! only to copy what it shows.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use pyrite_api::{parse_selector, reject_tenant, success, ApiError, Params};
use pyrite_model::{matches_all, Labels, Matcher};
use pyrite_rules::RuleKind;
use pyrite_tenant::{Access, Tenant, TenantLayer};
use serde_json::{json, Value as Json};

use crate::alerting::{Alert, AlertState};
use crate::group::GroupState;
use crate::manager::{GroupView, Manager};

/// The ruler's read APIs under `/prometheus/api/v1`, and under `/api/v1` too — except
/// `/api/v1/alerts` when `alertmanager_beside` says an alertmanager in the same process
/// serves its configuration API there, as in Mimir.
pub fn routes(manager: Arc<Manager>, alertmanager_beside: bool) -> Router {
    let layer = TenantLayer::new(Access::Read, reject_tenant);
    let api = Router::new()
        .route("/rules", get(rules))
        .route("/alerts", get(alerts))
        .route_layer(layer)
        .with_state(manager.clone());
    let bare = match alertmanager_beside {
        true => Router::new()
            .route("/rules", get(rules))
            .route_layer(layer)
            .with_state(manager),
        false => api.clone(),
    };
    Router::new().nest("/api/v1", bare).nest("/prometheus/api/v1", api)
}

/// An instant as Go's `time.Time` marshals to JSON (RFC 3339, nanoseconds trimmed),
/// and the zero time for "never".
pub(crate) fn rfc3339(ms: Option<i64>) -> String {
    match ms.and_then(DateTime::<Utc>::from_timestamp_millis) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'e', -1, 64)` writes it (`1e+00`).
fn go_exponent(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// Milliseconds as seconds the way Go marshals a `float64`: `2`, not `2.0`.
fn seconds(ms: i64) -> Json {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn label_map(labels: &Labels) -> BTreeMap<&str, &str> {
    labels.iter().map(|l| (&*l.name, &*l.value)).collect()
}

fn alert_json(a: &Alert) -> Json {
    let mut j = json!({
        "labels": label_map(&a.labels),
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(Some(a.active_at)),
        "value": go_exponent(a.value),
    });
    if let Some(since) = a.keep_firing_since {
        j["keepFiringSince"] = json!(rfc3339(Some(since)));
    }
    j
}

/// The filters of `/api/v1/rules`.
struct Filters {
    kind: Option<bool>,
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    exclude_alerts: bool,
    matchers: Vec<Vec<Matcher>>,
}

impl Filters {
    fn parse(p: &Params) -> Result<Filters, ApiError> {
        let kind = match p.get("type").map(str::to_lowercase).as_deref() {
            None | Some("") => None,
            Some("alert") => Some(true),
            Some("record") => Some(false),
            Some(other) => {
                return Err(ApiError::bad_data(format!(
                    "invalid parameter \"type\": not supported value {other:?}"
                )))
            }
        };
        let exclude_alerts = match p.get("exclude_alerts") {
            None | Some("") => false,
            Some(v) => v.parse().map_err(|_| {
                ApiError::bad_data(format!("invalid parameter \"exclude_alerts\": {v:?} is not a boolean"))
            })?,
        };
        let mut matchers = Vec::new();
        for s in p.all("match[]") {
            matchers.extend(parse_selector(s)?);
        }
        Ok(Filters {
            kind,
            names: p.all("rule_name[]").to_vec(),
            groups: p.all("rule_group[]").to_vec(),
            files: p.all("file[]").to_vec(),
            exclude_alerts,
            matchers,
        })
    }

    fn keeps(&self, alerting: bool, name: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.kind.is_some_and(|k| k != alerting) {
            return false;
        }
        if !self.names.is_empty() && !self.names.iter().any(|n| n == name) {
            return false;
        }
        if self.matchers.is_empty() {
            return true;
        }
        let labels = Labels::from_pairs(&labels.iter().collect::<Vec<_>>());
        self.matchers.iter().any(|ms| matches_all(ms, &labels))
    }
}

async fn rules(
    State(manager): State<Arc<Manager>>,
    tenant: Tenant,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let filters = Filters::parse(&Params::parse(q.as_deref(), None))?;
    let mut groups = Vec::new();
    for GroupView {
        key,
        loaded,
        state,
        interval_ms,
    } in manager.groups()
    {
        if key.tenant != *tenant
            || (!filters.groups.is_empty() && !filters.groups.contains(&key.name))
            || (!filters.files.is_empty() && !filters.files.contains(&key.file))
        {
            continue;
        }
        let state: GroupState = state.lock().await.clone();
        let mut rules = Vec::new();
        for (i, rule) in loaded.group.rules.iter().enumerate() {
            let rs = state.rules.get(i).cloned().unwrap_or_default();
            let alerting = matches!(rule.kind, RuleKind::Alerting { .. });
            if !filters.keeps(alerting, rule.name(), &rule.labels) {
                continue;
            }
            let mut j = match &rule.kind {
                RuleKind::Recording { record } => {
                    let mut j = json!({"name": record, "query": rule.expr, "type": "recording"});
                    if !rule.labels.is_empty() {
                        j["labels"] = json!(rule.labels);
                    }
                    j
                }
                RuleKind::Alerting {
                    alert,
                    for_ms,
                    keep_firing_for_ms,
                    annotations,
                } => {
                    let active: Vec<&Alert> = rs.alerts.iter().filter(|a| a.state != AlertState::Inactive).collect();
                    let state = active
                        .iter()
                        .map(|a| a.state)
                        .max_by_key(|s| *s as u8)
                        .unwrap_or(AlertState::Inactive);
                    let mut j = json!({
                        "state": state.as_str(),
                        "name": alert,
                        "query": rule.expr,
                        "duration": seconds(*for_ms),
                        "keepFiringFor": seconds(*keep_firing_for_ms),
                        "labels": rule.labels,
                        "annotations": annotations,
                        "type": "alerting",
                    });
                    if !filters.exclude_alerts {
                        j["alerts"] = active.into_iter().map(alert_json).collect();
                    }
                    j
                }
            };
            j["health"] = json!(rs.health.as_str());
            if let Some(e) = &rs.last_error {
                j["lastError"] = json!(e);
            }
            j["evaluationTime"] = json!(rs.evaluation_seconds);
            j["lastEvaluation"] = json!(rfc3339(rs.last_evaluation));
            rules.push(j);
        }
        if rules.is_empty() && (filters.kind.is_some() || !filters.names.is_empty() || !filters.matchers.is_empty()) {
            continue;
        }
        groups.push(json!({
            "name": key.name,
            "file": key.file,
            "rules": rules,
            "interval": seconds(interval_ms),
            "limit": loaded.group.limit,
            "evaluationTime": state.evaluation_seconds,
            "lastEvaluation": rfc3339(state.last_evaluation),
        }));
    }
    Ok(success(json!({ "groups": groups }), &[], &[]))
}

async fn alerts(State(manager): State<Arc<Manager>>, tenant: Tenant) -> Response {
    let mut out = Vec::new();
    for GroupView { key, state, .. } in manager.groups() {
        if key.tenant != *tenant {
            continue;
        }
        let state = state.lock().await;
        for rule in &state.rules {
            out.extend(
                rule.alerts
                    .iter()
                    .filter(|a| a.state != AlertState::Inactive)
                    .map(alert_json),
            );
        }
    }
    success(json!({ "alerts": out }), &[], &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_and_times_as_go_writes_them() {
        assert_eq!(go_exponent(1.0), "1e+00");
        assert_eq!(go_exponent(1.5), "1.5e+00");
        assert_eq!(go_exponent(-0.00012), "-1.2e-04");
        assert_eq!(go_exponent(1e100), "1e+100");
        assert_eq!(go_exponent(0.0), "0e+00");
        assert_eq!(go_exponent(f64::INFINITY), "+Inf");
        assert_eq!(rfc3339(Some(1_500_000_000_123)), "2017-07-14T02:40:00.123Z");
        assert_eq!(rfc3339(Some(1_500_000_000_000)), "2017-07-14T02:40:00Z");
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(seconds(2000).to_string(), "2");
        assert_eq!(seconds(1500).to_string(), "1.5");
    }
}
