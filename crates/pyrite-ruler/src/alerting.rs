//! One alerting rule's alerts, moved at each evaluation as Prometheus moves them.
//!
//! An evaluation at instant `t` gets the rule's query result as [`Candidate`]s (each
//! series already given its alert labels and annotations by the caller's templates):
//! - a series not yet alerting starts a *pending* alert, active from `t`;
//! - a pending alert whose series stayed `for` long (`t - active_at >= for`) *fires*,
//!   in the same evaluation when `for` is zero;
//! - a firing alert whose series left the result keeps firing until `keep_firing_for`
//!   has passed since it left, then is *resolved* at `t` (a pending one is dropped at
//!   once); a resolved alert is kept, and sent as resolved, for fifteen minutes;
//! - a series back in the result revives its alert only if it was resolved: it starts
//!   pending again from `t`.
//!
//! The invariant: the state is a pure function of the evaluations applied to it (their
//! instants and results) and of the rule's settings; nothing here reads a clock.

use std::collections::{BTreeMap, HashSet};

use pyrite_model::{Labels, LabelsBuilder};

/// How long a resolved alert is kept, and sent as resolved.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The label naming an alert.
pub const ALERT_NAME: &str = "alertname";
/// The label of `ALERTS` giving the alert's state.
pub const ALERT_STATE: &str = "alertstate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    /// As Prometheus's APIs and the `alertstate` label write it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One series of an evaluation's result, as the alert it makes: its labels (the
/// series' without `__name__`, the rule's labels, `alertname`), its annotations and
/// its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub value: f64,
}

/// One alert of a rule. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub value: f64,
    pub state: AlertState,
    /// When its series entered the result (the start of its pending time).
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    /// Until when Alertmanager may take it as firing without hearing again.
    pub valid_until: Option<i64>,
    /// When its series left the result while it kept firing (`keep_firing_for`).
    pub keep_firing_since: Option<i64>,
}

/// What an alerting rule is told to do besides its query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertingSettings {
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    /// Most alerts (pending or firing) at once; 0: no limit.
    pub limit: u64,
}

/// Why an evaluation changed nothing or dropped the rule's alerts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertingError {
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateLabels,
    #[error("exceeded limit of {limit} with {alerts} alerts")]
    LimitExceeded { limit: u64, alerts: usize },
}

/// The alerts of one alerting rule, by label set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alerts {
    active: BTreeMap<Labels, Alert>,
}

/// An alert as sent to Alertmanager: firing until `ends_at` unless heard of again, or
/// resolved at `ends_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub resolved: bool,
    /// The page its rule's expression is graphed on (`generatorURL`); empty until the
    /// ruler sets it.
    pub generator_url: String,
}

/// A result series' labels made an alert's: without `__name__`, with the rule's
/// (expanded) labels set over them — an empty value removes the label — and
/// `alertname` last.
pub fn alert_labels<'a>(
    series: &Labels,
    rule_labels: impl IntoIterator<Item = (&'a str, String)>,
    alert_name: &str,
) -> Labels {
    let mut b: LabelsBuilder = series.to_builder();
    b.del(pyrite_model::METRIC_NAME);
    for (name, value) in rule_labels {
        if value.is_empty() {
            b.del(name);
        } else {
            b.set(name, &value);
        }
    }
    b.set(ALERT_NAME, alert_name);
    b.build()
}

impl Alerts {
    /// Alerts as a record kept them.
    pub fn from_alerts(alerts: Vec<Alert>) -> Alerts {
        Alerts {
            active: alerts.into_iter().map(|a| (a.labels.clone(), a)).collect(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Applies one evaluation at `t` of the rule's query, whose result made
    /// `candidates`. An error leaves the alerts as they were (duplicate label sets) or
    /// drops them all (over the limit), as Prometheus does.
    pub fn evaluate(
        &mut self,
        t: i64,
        settings: AlertingSettings,
        candidates: Vec<Candidate>,
    ) -> Result<(), AlertingError> {
        let mut in_result = HashSet::with_capacity(candidates.len());
        for c in &candidates {
            if !in_result.insert(c.labels.clone()) {
                return Err(AlertingError::DuplicateLabels);
            }
        }
        for c in candidates {
            match self.active.get_mut(&c.labels) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = c.value;
                    a.annotations = c.annotations;
                }
                _ => {
                    self.active.insert(
                        c.labels.clone(),
                        Alert {
                            labels: c.labels,
                            annotations: c.annotations,
                            value: c.value,
                            state: AlertState::Pending,
                            active_at: t,
                            fired_at: None,
                            resolved_at: None,
                            last_sent_at: None,
                            valid_until: None,
                            keep_firing_since: None,
                        },
                    );
                }
            }
        }
        let keep_firing_for = settings.keep_firing_for_ms;
        self.active.retain(|labels, a| {
            if !in_result.contains(labels) {
                if a.state == AlertState::Firing && keep_firing_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(t);
                    if t - since < keep_firing_for {
                        return true;
                    }
                }
                if a.state == AlertState::Pending || a.resolved_at.is_some_and(|r| t - r > RESOLVED_RETENTION_MS) {
                    return false;
                }
                if a.state != AlertState::Inactive {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(t);
                }
                return true;
            }
            a.keep_firing_since = None;
            if a.state == AlertState::Pending && t - a.active_at >= settings.for_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(t);
            }
            true
        });
        let alerting = self.active.values().filter(|a| a.state != AlertState::Inactive).count();
        if settings.limit > 0 && alerting as u64 > settings.limit {
            self.active.clear();
            return Err(AlertingError::LimitExceeded {
                limit: settings.limit,
                alerts: alerting,
            });
        }
        Ok(())
    }

    /// The `ALERTS` and `ALERTS_FOR_STATE` samples of the pending and firing alerts,
    /// as an evaluation writes them.
    pub fn series(&self) -> Vec<(Labels, f64)> {
        let mut out = Vec::with_capacity(self.active.len() * 2);
        for a in self.active.values().filter(|a| a.state != AlertState::Inactive) {
            let mut b = a.labels.to_builder();
            b.set(pyrite_model::METRIC_NAME, "ALERTS");
            b.set(ALERT_STATE, a.state.as_str());
            out.push((b.build(), 1.0));
            let mut b = a.labels.to_builder();
            b.set(pyrite_model::METRIC_NAME, "ALERTS_FOR_STATE");
            out.push((b.build(), (a.active_at.div_euclid(1000)) as f64));
        }
        out
    }

    /// The alerts due to be sent at `t`: firing ones not sent within `resend_delay_ms`,
    /// and resolved ones not sent since they resolved. Each is marked sent at `t`, and
    /// valid for four times the longer of the resend delay and the group's interval.
    pub fn due(&mut self, t: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Notification> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            let due = match a.state {
                AlertState::Pending => false,
                _ if a.resolved_at.is_some_and(|r| a.last_sent_at.is_none_or(|s| r > s)) => true,
                _ => a.last_sent_at.is_none_or(|s| s + resend_delay_ms < t),
            };
            if !due {
                continue;
            }
            a.last_sent_at = Some(t);
            let valid_until = t + 4 * resend_delay_ms.max(interval_ms);
            a.valid_until = Some(valid_until);
            out.push(Notification {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.fired_at.unwrap_or(a.active_at),
                ends_at: a.resolved_at.unwrap_or(valid_until),
                resolved: a.resolved_at.is_some(),
                generator_url: String::new(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
