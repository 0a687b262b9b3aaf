//! The routing tree: which routes an alert goes down, with what grouping and timing,
//! and which of a route's time intervals hold its notifications back at an instant.
//!
//! A route matches an alert when its matchers do; the alert then goes down the first
//! matching child (and further ones while a matched child says `continue`), and a
//! route none of whose children match takes the alert itself. Options a route leaves
//! unset are its parent's, except its time intervals, which are its own.
//!
//! The invariant: [`Route::key`] and [`group_key`] are Alertmanager's strings
//! (`{}/{severity="critical"}:{alertname="Disk"}`), because receivers see them as
//! `groupKey` and deduplicate on them.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, GroupBy, RouteConfig};
use crate::matchers::Matchers;
use crate::model::LabelSet;

/// One route with every option resolved.
#[derive(Debug, Clone)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    pub matchers: Matchers,
    pub continue_: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<Route>,
    key: String,
    /// The key with positions, unique in the tree (Alertmanager's route ID).
    id: String,
}

const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 60 * 60);

impl Route {
    /// The tree of a configuration's root route.
    pub fn new(root: &RouteConfig) -> Route {
        let defaults = Route {
            receiver: String::new(),
            group_by: GroupBy::Labels(Vec::new()),
            matchers: Matchers::default(),
            continue_: false,
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            routes: Vec::new(),
            key: String::new(),
            id: String::new(),
        };
        Route::child(root, &defaults, None, 0)
    }

    fn child(cfg: &RouteConfig, parent: &Route, parent_key: Option<(&str, &str)>, index: usize) -> Route {
        let mut sorted = cfg.matchers.0.clone();
        sorted.sort_by(|a, b| (&a.name, &a.value, a.op as u8).cmp(&(&b.name, &b.value, b.op as u8)));
        let own = sorted.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let (key, id) = match parent_key {
            None => (format!("{{{own}}}"), format!("{{{own}}}")),
            Some((pkey, pid)) => (format!("{pkey}/{{{own}}}"), format!("{pid}/{{{own}}}/{index}")),
        };
        let mut route = Route {
            receiver: cfg.receiver.clone().unwrap_or_else(|| parent.receiver.clone()),
            group_by: cfg.group_by.clone().unwrap_or_else(|| parent.group_by.clone()),
            matchers: Matchers(sorted),
            continue_: cfg.continue_,
            group_wait: cfg.group_wait.unwrap_or(parent.group_wait),
            group_interval: cfg.group_interval.unwrap_or(parent.group_interval),
            repeat_interval: cfg.repeat_interval.unwrap_or(parent.repeat_interval),
            mute_time_intervals: cfg.mute_time_intervals.clone(),
            active_time_intervals: cfg.active_time_intervals.clone(),
            routes: Vec::new(),
            key,
            id,
        };
        route.routes = cfg
            .routes
            .iter()
            .enumerate()
            .map(|(i, c)| Route::child(c, &route, Some((&route.key, &route.id)), i))
            .collect();
        route
    }

    /// Alertmanager's route key: the matchers of every route from the root.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key with each route's position among its siblings: unique in the tree.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The routes that take an alert with these labels, in tree order.
    pub fn matching<'a>(&'a self, labels: &LabelSet) -> Vec<&'a Route> {
        let mut out = Vec::new();
        self.walk(labels, &mut out);
        out
    }

    fn walk<'a>(&'a self, labels: &LabelSet, out: &mut Vec<&'a Route>) -> bool {
        if !self.matchers.matches(labels) {
            return false;
        }
        let mut taken = false;
        for child in &self.routes {
            if child.walk(labels, out) {
                taken = true;
                if !child.continue_ {
                    break;
                }
            }
        }
        if !taken {
            out.push(self);
        }
        true
    }

    /// The labels an alert is grouped by on this route.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }

    /// The names of the time intervals muting this route's groups at `now` (empty: none
    /// does), as the API reports them in `mutedBy`: outside all of its
    /// `active_time_intervals` (when it names any), every one of those; otherwise those
    /// of its `mute_time_intervals` that hold `now`. `config` defines the names.
    pub fn muted_by(&self, config: &Config, now: DateTime<Utc>) -> Vec<String> {
        let holds = |name: &String| {
            config
                .time_interval(name)
                .is_some_and(|ti| ti.time_intervals.iter().any(|i| i.contains(now)))
        };
        if !self.active_time_intervals.is_empty() && !self.active_time_intervals.iter().any(holds) {
            return self.active_time_intervals.clone();
        }
        self.mute_time_intervals.iter().filter(|n| holds(n)).cloned().collect()
    }

    /// Every route of the tree, depth first.
    pub fn all(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for c in &self.routes {
            out.extend(c.all());
        }
        out
    }
}

/// A group's key as receivers see it: its route's key and its group labels. Two
/// routes written alike share keys; [`Route::id`] tells their groups apart.
pub fn group_key(route: &Route, group_labels: &LabelSet) -> String {
    format!("{}:{}", route.key(), label_set_string(group_labels))
}

/// `{a="b", c="d"}`, as Prometheus's `model.LabelSet` prints.
pub fn label_set_string(labels: &LabelSet) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", pyrite_template::go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn route(matchers: &str, receiver: Option<&str>, cont: bool, routes: Vec<RouteConfig>) -> RouteConfig {
        RouteConfig {
            receiver: receiver.map(String::from),
            matchers: Matchers::parse(matchers).unwrap(),
            continue_: cont,
            routes,
            ..RouteConfig::default()
        }
    }

    #[test]
    fn alerts_take_the_first_matching_child_and_continue_past_it() {
        let mut root = route(
            "",
            Some("default"),
            false,
            vec![
                route(
                    r#"team="db""#,
                    Some("db"),
                    true,
                    vec![route(r#"severity="page""#, Some("db-pager"), false, vec![])],
                ),
                route(r#"severity=~"page|crit""#, Some("pager"), false, vec![]),
                route(r#"team="db""#, Some("never"), false, vec![]),
            ],
        );
        root.group_by = Some(GroupBy::Labels(vec!["alertname".into()]));
        root.group_wait = Some(Duration::from_secs(10));
        let tree = Route::new(&root);
        let names = |l: &LabelSet| tree.matching(l).iter().map(|r| r.receiver.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&labels(&[("team", "db"), ("severity", "page")])),
            ["db-pager", "pager"]
        );
        assert_eq!(names(&labels(&[("team", "db")])), ["db", "never"]);
        assert_eq!(names(&labels(&[("team", "web")])), ["default"]);
        let db = &tree.routes[0].routes[0];
        assert_eq!(db.group_wait, Duration::from_secs(10), "inherited");
        assert_eq!(db.repeat_interval, DEFAULT_REPEAT_INTERVAL);
        assert_eq!(db.key(), r#"{}/{team="db"}/{severity="page"}"#);
        assert_eq!(tree.routes[0].id(), r#"{}/{team="db"}/0"#);
        assert_eq!(tree.routes[2].id(), r#"{}/{team="db"}/2"#);
        assert_eq!(db.id(), r#"{}/{team="db"}/0/{severity="page"}/0"#);
        let l = labels(&[("alertname", "Disk"), ("team", "db"), ("severity", "page")]);
        assert_eq!(
            group_key(db, &db.group_labels(&l)),
            r#"{}/{team="db"}/{severity="page"}:{alertname="Disk"}"#
        );
    }

    #[test]
    fn a_route_is_muted_by_its_holding_mute_intervals_or_all_its_active_ones() {
        let config = Config::parse(
            r#"
route:
  receiver: x
  routes:
    - {matchers: ['r="mute"'], mute_time_intervals: [nights, office, nights]}
    - {matchers: ['r="active"'], active_time_intervals: [office, weekends]}
    - {matchers: ['r="both"'], active_time_intervals: [nights], mute_time_intervals: [nights, office]}
    - {matchers: ['r="none"']}
receivers: [{name: x}]
time_intervals:
  - name: office
    time_intervals: [{weekdays: ['monday:friday'], times: [{start_time: '09:00', end_time: '17:00'}]}]
  - name: weekends
    time_intervals: [{weekdays: ['saturday', 'sunday']}]
mute_time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: '20:00', end_time: '24:00'}]}]
"#,
        )
        .unwrap();
        let tree = Route::new(&config.route);
        let muted = |i: usize, at: &str| tree.routes[i].muted_by(&config, at.parse().unwrap());
        // A Tuesday night: in `nights` only.
        let night = "2023-11-14T22:13:20Z";
        assert_eq!(muted(0, night), ["nights", "nights"]);
        assert_eq!(muted(1, night), ["office", "weekends"], "outside every active interval");
        assert_eq!(muted(2, night), ["nights"], "active, then muted");
        assert!(muted(3, night).is_empty());
        // A Tuesday morning: in `office` only.
        let morning = "2023-11-14T10:00:00Z";
        assert_eq!(muted(0, morning), ["office"]);
        assert!(muted(1, morning).is_empty());
        assert_eq!(muted(2, morning), ["nights"], "outside its active interval");
        assert!(tree.muted_by(&config, morning.parse().unwrap()).is_empty());
    }
}
