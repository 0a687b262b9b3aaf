//! Alerts as Alertmanager sees them: label sets, their fingerprints, and an alert's
//! time span. No I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Labels or annotations, sorted by name.
pub type LabelSet = BTreeMap<String, String>;

/// A label set's identity: FNV-1a over the sorted names and values, each followed by
/// `0xff`, as Prometheus's `model.LabelSet.Fingerprint` computes it, so fingerprints
/// and the group keys built on them read the same as Alertmanager's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fingerprint(pub u64);

const OFFSET: u64 = 14695981039346656037;
const PRIME: u64 = 1099511628211;

impl Fingerprint {
    pub fn of(labels: &LabelSet) -> Fingerprint {
        let mut h = OFFSET;
        let mut add = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(PRIME);
            }
        };
        for (name, value) in labels {
            add(name.as_bytes());
            add(&[0xff]);
            add(value.as_bytes());
            add(&[0xff]);
        }
        Fingerprint(h)
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One alert, as posted by a rule evaluator and kept until it is resolved and sent.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: DateTime<Utc>,
    /// When the alert stops firing: set by the sender when it resolves the alert, or
    /// `resolve_timeout` after the last update when the sender gave none.
    pub ends_at: DateTime<Utc>,
    pub generator_url: String,
    pub updated_at: DateTime<Utc>,
    /// The sender gave no end; `ends_at` is this alertmanager's `resolve_timeout`.
    pub timeout: bool,
}

impl Alert {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.labels)
    }

    pub fn name(&self) -> &str {
        self.labels.get("alertname").map(String::as_str).unwrap_or("")
    }

    /// Resolved at `now`: its end has passed.
    pub fn resolved_at(&self, now: DateTime<Utc>) -> bool {
        self.ends_at <= now
    }

    /// Merges a newer report of the same alert into this one, as Alertmanager does: the
    /// earlier start is kept while the alert is still firing, and an explicit end from
    /// the sender wins over a timeout.
    pub fn merge(&mut self, newer: Alert) {
        let mut merged = newer;
        if self.starts_at < merged.starts_at && !self.resolved_at(merged.updated_at) {
            merged.starts_at = self.starts_at;
        }
        // A resolved report never becomes firing again through a stale timeout.
        if !self.timeout && merged.timeout && self.ends_at > merged.ends_at {
            merged.ends_at = self.ends_at;
        }
        *self = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_prometheus_model() {
        assert_eq!(Fingerprint::of(&LabelSet::new()).0, OFFSET);
        let ls: LabelSet = [
            ("name".to_string(), "garland, briggs".to_string()),
            ("fear".to_string(), "love is not enough".to_string()),
        ]
        .into();
        // FNV-1a of "fear\xfflove is not enough\xffname\xffgarland, briggs\xff".
        assert_eq!(Fingerprint::of(&ls).0, 5799056148416392346);
        assert_eq!(Fingerprint::of(&ls).to_string(), "507a62d79ee76c9a");
    }
}
