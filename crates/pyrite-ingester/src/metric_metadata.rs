//! A shard's metric metadata: every tenant's descriptions (`TYPE`, `HELP`, `UNIT`) of
//! the metric families the ring places on the shard, each with the time it was last
//! sent. Descriptions come through the shard's log (a `metadata` command carries its
//! proposer's clock), so every replica keeps the same ones and a snapshot carries them;
//! one not sent again for [`RETAIN_MS`] is forgotten, as senders repeat theirs every
//! minute (Prometheus's remote write, and Pyrite's scrape loops).

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use pyrite_storage::{MetadataQuery, MetricMetadata, MetricType};
use serde::{Deserialize, Serialize};

/// How long a description is kept after it was last sent.
pub const RETAIN_MS: i64 = 10 * 60 * 1000;

/// At most this many descriptions of one family are kept per tenant (the most recently
/// sent), so a sender that varies its help text cannot grow a shard without bound.
pub const MAX_PER_METRIC: usize = 10;

/// How often, in log time, descriptions past [`RETAIN_MS`] are dropped.
const PRUNE_EVERY_MS: i64 = 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Description {
    kind: MetricType,
    help: String,
    unit: String,
    /// Log time it was last sent at.
    seen_ms: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Tenant → family → descriptions.
    tenants: HashMap<String, BTreeMap<String, Vec<Description>>>,
    last_prune_ms: i64,
}

/// One shard's metadata, changed only by applying log commands.
#[derive(Debug, Default)]
pub(crate) struct MetadataStore {
    state: Mutex<State>,
}

impl MetadataStore {
    /// Applies a `metadata` command proposed at `at_ms`.
    pub(crate) fn apply(&self, at_ms: i64, tenant: &str, metadata: &[MetricMetadata]) {
        let mut st = self.state.lock();
        let families = st.tenants.entry(tenant.to_string()).or_default();
        for m in metadata {
            let kept = families.entry(m.metric.clone()).or_default();
            match kept
                .iter_mut()
                .find(|d| d.kind == m.kind && d.help == m.help && d.unit == m.unit)
            {
                Some(d) => d.seen_ms = d.seen_ms.max(at_ms),
                None => kept.push(Description {
                    kind: m.kind,
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                    seen_ms: at_ms,
                }),
            }
            if kept.len() > MAX_PER_METRIC {
                kept.sort_by_key(|d| std::cmp::Reverse(d.seen_ms));
                kept.truncate(MAX_PER_METRIC);
            }
        }
        if at_ms - st.last_prune_ms >= PRUNE_EVERY_MS {
            st.last_prune_ms = at_ms;
            let horizon = at_ms - RETAIN_MS;
            st.tenants.retain(|_, families| {
                families.retain(|_, kept| {
                    kept.retain(|d| d.seen_ms >= horizon);
                    !kept.is_empty()
                });
                !families.is_empty()
            });
        }
    }

    /// The tenant's descriptions sent within [`RETAIN_MS`] of `now_ms`, newest first
    /// within a family.
    pub(crate) fn read(&self, tenant: &str, query: &MetadataQuery, now_ms: i64) -> Vec<MetricMetadata> {
        let st = self.state.lock();
        let Some(families) = st.tenants.get(tenant) else {
            return Vec::new();
        };
        let horizon = now_ms - RETAIN_MS;
        let wanted: Box<dyn Iterator<Item = (&String, &Vec<Description>)>> = match &query.metric {
            Some(name) => Box::new(families.get_key_value(name).into_iter()),
            None => Box::new(families.iter()),
        };
        let mut out = Vec::new();
        for (name, kept) in wanted {
            let mut live: Vec<&Description> = kept.iter().filter(|d| d.seen_ms >= horizon).collect();
            live.sort_by_key(|d| std::cmp::Reverse(d.seen_ms));
            if let Some(n) = query.limit_per_metric {
                live.truncate(n);
            }
            out.extend(live.into_iter().map(|d| MetricMetadata {
                metric: name.clone(),
                kind: d.kind,
                help: d.help.clone(),
                unit: d.unit.clone(),
            }));
        }
        out
    }

    /// The whole state, for a snapshot.
    pub(crate) fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec(&*self.state.lock()).expect("metric metadata always serializes")
    }

    /// Replaces the state with a snapshot's (empty bytes: none).
    pub(crate) fn restore(&self, bytes: &[u8]) -> Result<(), String> {
        let state = match bytes.is_empty() {
            true => State::default(),
            false => rmp_serde::from_slice(bytes).map_err(|e| format!("metric metadata in a snapshot: {e}"))?,
        };
        *self.state.lock() = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(metric: &str, help: &str) -> MetricMetadata {
        MetricMetadata {
            metric: metric.into(),
            kind: MetricType::Counter,
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn descriptions_are_kept_per_tenant_refreshed_and_forgotten() {
        let store = MetadataStore::default();
        store.apply(1_000, "a", &[md("x_total", "X."), md("y", "Y.")]);
        store.apply(2_000, "b", &[md("x_total", "Other.")]);
        let q = MetadataQuery::default();
        assert_eq!(store.read("a", &q, 2_000), vec![md("x_total", "X."), md("y", "Y.")]);
        assert_eq!(store.read("b", &q, 2_000), vec![md("x_total", "Other.")]);
        assert!(store.read("c", &q, 2_000).is_empty());

        // x_total is sent again; y is not, and ages out.
        let later = 1_000 + RETAIN_MS + 1;
        store.apply(later - 10, "a", &[md("x_total", "X.")]);
        assert_eq!(store.read("a", &q, later), vec![md("x_total", "X.")]);
        // A prune in log time removes it for good, and a snapshot carries what is left.
        store.apply(later + PRUNE_EVERY_MS, "a", &[]);
        let copy = MetadataStore::default();
        copy.restore(&store.encode()).unwrap();
        assert_eq!(copy.read("a", &q, later), vec![md("x_total", "X.")]);
        assert!(
            copy.read("b", &q, later).is_empty(),
            "tenant b's description aged out too"
        );
    }

    #[test]
    fn a_family_keeps_its_most_recent_descriptions_up_to_the_cap() {
        let store = MetadataStore::default();
        for i in 0..(MAX_PER_METRIC as i64 + 5) {
            store.apply(i, "t", &[md("m", &format!("help {i}"))]);
        }
        let all = store.read("t", &MetadataQuery::default(), 100);
        assert_eq!(all.len(), MAX_PER_METRIC);
        assert_eq!(all[0].help, format!("help {}", MAX_PER_METRIC + 4), "newest first");
        let one = MetadataQuery {
            limit_per_metric: Some(1),
            metric: Some("m".into()),
            ..MetadataQuery::default()
        };
        assert_eq!(store.read("t", &one, 100).len(), 1);
    }
}
