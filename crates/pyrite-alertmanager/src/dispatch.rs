//! Aggregation groups: alerts gathered per route and group labels, and when each group
//! is due to be flushed — `group_wait` after it forms (at once when its first alert is
//! already older than that), then every `group_interval`.
//!
//! The dispatcher is a state machine over instants given to it: nothing here reads a
//! clock or sends, so replicas replaying the same inserts and instants agree on every
//! flush.
//!
//! The invariant: a resolved alert leaves its group only after a flush that carried
//! it, and only if no newer report of it arrived meanwhile, so a resolution is never
//! dropped unsent and a re-firing never lost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Alert, Fingerprint, LabelSet};
use crate::route::{group_key, Route};

/// A group's identity in the tree: its route's ID and its group labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct GroupId {
    pub route_id: String,
    pub labels: LabelSet,
}

#[derive(Debug, Clone)]
pub struct AggrGroup {
    pub key: String,
    pub route: Route,
    pub alerts: BTreeMap<Fingerprint, Alert>,
    pub next_flush: DateTime<Utc>,
    pub has_flushed: bool,
}

/// A group's alerts at a flush, for the notification pipeline.
#[derive(Debug, Clone)]
pub struct Flush {
    pub id: GroupId,
    pub key: String,
    pub route: Route,
    pub at: DateTime<Utc>,
    /// In Alertmanager's order: by `job`, then `instance`, then labels.
    pub alerts: Vec<Alert>,
}

pub struct Dispatcher {
    root: Arc<Route>,
    groups: BTreeMap<GroupId, AggrGroup>,
}

fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Dispatcher {
    pub fn new(root: Arc<Route>) -> Dispatcher {
        Dispatcher {
            root,
            groups: BTreeMap::new(),
        }
    }

    /// Puts a new or updated alert into the group of each route that takes it.
    pub fn insert(&mut self, alert: &Alert, now: DateTime<Utc>) {
        for route in self.root.matching(&alert.labels) {
            let labels = route.group_labels(&alert.labels);
            let id = GroupId {
                route_id: route.id().to_string(),
                labels,
            };
            let group = self.groups.entry(id.clone()).or_insert_with(|| AggrGroup {
                key: group_key(route, &id.labels),
                route: route.clone(),
                alerts: BTreeMap::new(),
                next_flush: later(now, route.group_wait),
                has_flushed: false,
            });
            if !group.has_flushed && later(alert.starts_at, group.route.group_wait) < now {
                group.next_flush = group.next_flush.min(now);
            }
            group.alerts.insert(alert.fingerprint(), alert.clone());
        }
    }

    /// When the next group is due, if any group exists.
    pub fn next_flush(&self) -> Option<DateTime<Utc>> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// The groups due at `now`, each scheduled for its next interval.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Flush> {
        let mut out = Vec::new();
        for (id, g) in self.groups.iter_mut().filter(|(_, g)| g.next_flush <= now) {
            g.next_flush = later(now, g.route.group_interval);
            g.has_flushed = true;
            let mut alerts: Vec<Alert> = g.alerts.values().cloned().collect();
            alerts.sort_by(alert_order);
            out.push(Flush {
                id: id.clone(),
                key: g.key.clone(),
                route: g.route.clone(),
                at: now,
                alerts,
            });
        }
        out
    }

    /// After a flush was notified: drops its resolved alerts that were not updated
    /// since, and the group if that empties it.
    pub fn flushed(&mut self, flush: &Flush) {
        let Some(g) = self.groups.get_mut(&flush.id) else {
            return;
        };
        for a in flush.alerts.iter().filter(|a| a.resolved_at(flush.at)) {
            let fp = a.fingerprint();
            if g.alerts.get(&fp).is_some_and(|cur| cur.updated_at == a.updated_at) {
                g.alerts.remove(&fp);
            }
        }
        if g.alerts.is_empty() {
            self.groups.remove(&flush.id);
        }
    }

    /// Each group's next flush and whether it has flushed, to carry across processes.
    pub fn timers(&self) -> Vec<(GroupId, DateTime<Utc>, bool)> {
        self.groups
            .iter()
            .map(|(id, g)| (id.clone(), g.next_flush, g.has_flushed))
            .collect()
    }

    /// Sets a group's timer as another process left it, if the group exists here.
    pub fn restore_timer(&mut self, id: &GroupId, next_flush: DateTime<Utc>, has_flushed: bool) {
        if let Some(g) = self.groups.get_mut(id) {
            g.next_flush = next_flush;
            g.has_flushed = has_flushed;
        }
    }

    pub fn groups(&self) -> impl Iterator<Item = (&GroupId, &AggrGroup)> {
        self.groups.iter()
    }

    pub fn root(&self) -> &Arc<Route> {
        &self.root
    }
}

/// Alertmanager's order of alerts in a notification: by `job`, then `instance` (alerts
/// without one after those with), then by their labels.
pub fn alert_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    a.labels.iter().cmp(b.labels.iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GroupBy, RouteConfig};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn alert(name: &str, instance: &str, start: i64, end: i64, updated: i64) -> Alert {
        Alert {
            labels: [
                ("alertname".to_string(), name.to_string()),
                ("instance".to_string(), instance.to_string()),
            ]
            .into(),
            annotations: LabelSet::new(),
            starts_at: t(start),
            ends_at: t(end),
            generator_url: String::new(),
            updated_at: t(updated),
            timeout: false,
        }
    }

    fn dispatcher() -> Dispatcher {
        let root = RouteConfig {
            receiver: Some("r".into()),
            group_by: Some(GroupBy::Labels(vec!["alertname".into()])),
            group_wait: Some(Duration::from_secs(10)),
            group_interval: Some(Duration::from_secs(60)),
            ..RouteConfig::default()
        };
        Dispatcher::new(Arc::new(Route::new(&root)))
    }

    #[test]
    fn groups_wait_then_flush_every_interval_and_drop_sent_resolutions() {
        let mut d = dispatcher();
        d.insert(&alert("Disk", "b", 0, 1000, 0), t(0));
        d.insert(&alert("Disk", "a", 0, 1000, 1), t(1));
        d.insert(&alert("Cpu", "a", 0, 1000, 2), t(2));
        assert_eq!(d.next_flush(), Some(t(10)));
        assert!(d.take_due(t(9)).is_empty());
        let flushes = d.take_due(t(10));
        assert_eq!(flushes.len(), 1, "Cpu waits until 12");
        assert_eq!(flushes[0].key, r#"{}:{alertname="Disk"}"#);
        let instances: Vec<_> = flushes[0].alerts.iter().map(|a| a.labels["instance"].clone()).collect();
        assert_eq!(instances, ["a", "b"]);
        assert_eq!(d.next_flush(), Some(t(12)));
        d.take_due(t(12));
        assert_eq!(d.next_flush(), Some(t(70)));

        // Resolved at 20; re-reported at 75 after the flush at 70 took it: kept.
        d.insert(&alert("Disk", "a", 0, 20, 20), t(20));
        let flush = d.take_due(t(70)).into_iter().find(|f| f.key.contains("Disk")).unwrap();
        d.insert(&alert("Disk", "a", 0, 20, 75), t(75));
        d.flushed(&flush);
        assert_eq!(
            d.groups().find(|(_, g)| g.key.contains("Disk")).unwrap().1.alerts.len(),
            2
        );
        // The next flush carries it unchanged: it goes, and the group keeps only b.
        let flush = d.take_due(t(130)).into_iter().find(|f| f.key.contains("Disk")).unwrap();
        d.flushed(&flush);
        assert_eq!(
            d.groups().find(|(_, g)| g.key.contains("Disk")).unwrap().1.alerts.len(),
            1
        );
    }

    #[test]
    fn an_old_alert_flushes_a_new_group_at_once() {
        let mut d = dispatcher();
        d.insert(&alert("Disk", "a", -3600, 1000, 0), t(0));
        assert_eq!(d.next_flush(), Some(t(0)));
    }
}
