//! The notification log: per group and integration, which alerts the last notification
//! told as firing and as resolved, and when — what decides whether a flush notifies.
//!
//! The invariant: an entry is written only after its notification was delivered, and a
//! flush notifies exactly when Alertmanager's dedup stage would: something newly
//! firing, everything resolved after firing, newly resolved alerts for integrations
//! that send resolutions, or `repeat_interval` since the last notification.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Which integration of which receiver, for which group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct NflogKey {
    pub group_key: String,
    pub receiver: String,
    /// `webhook`, `email`, …
    pub integration: String,
    pub index: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nflog {
    entries: BTreeMap<NflogKey, Entry>,
}

impl Nflog {
    pub fn get(&self, key: &NflogKey) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub fn log(&mut self, key: NflogKey, entry: Entry) {
        self.entries.insert(key, entry);
    }

    /// Forgets entries older than `retention`.
    pub fn gc(&mut self, now: DateTime<Utc>, retention: Duration) {
        let horizon = now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        self.entries.retain(|_, e| e.timestamp > horizon);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NflogKey, &Entry)> {
        self.entries.iter()
    }
}

/// Whether a group with these firing and resolved alerts must be notified, given the
/// last entry.
pub fn needs_update(
    last: Option<&Entry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat: Duration,
    now: DateTime<Utc>,
) -> bool {
    let Some(last) = last else { return !firing.is_empty() };
    if !firing.is_subset(&last.firing) {
        return true;
    }
    // Everything resolved: clear what the receiver was told was firing, whatever
    // `send_resolved` says; nothing if it never heard of them.
    if firing.is_empty() {
        return !last.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&last.resolved) {
        return true;
    }
    last.timestamp + chrono::Duration::from_std(repeat).unwrap_or(chrono::Duration::MAX) <= now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifies_as_alertmanagers_dedup_stage() {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        let set = |v: &[u64]| v.iter().copied().collect::<BTreeSet<u64>>();
        let repeat = Duration::from_secs(3600);
        assert!(needs_update(None, &set(&[1]), &set(&[]), true, repeat, t(0)));
        assert!(
            !needs_update(None, &set(&[]), &set(&[1]), true, repeat, t(0)),
            "only resolved, never told"
        );
        let last = Entry {
            firing: set(&[1, 2]),
            resolved: set(&[]),
            timestamp: t(0),
        };
        assert!(!needs_update(
            Some(&last),
            &set(&[1, 2]),
            &set(&[]),
            true,
            repeat,
            t(60)
        ));
        assert!(
            !needs_update(Some(&last), &set(&[1]), &set(&[]), false, repeat, t(60)),
            "a firing alert gone: no news"
        );
        assert!(needs_update(Some(&last), &set(&[1]), &set(&[2]), true, repeat, t(60)));
        assert!(!needs_update(Some(&last), &set(&[1]), &set(&[2]), false, repeat, t(60)));
        assert!(needs_update(
            Some(&last),
            &set(&[1, 3]),
            &set(&[]),
            false,
            repeat,
            t(60)
        ));
        assert!(
            needs_update(Some(&last), &set(&[]), &set(&[1, 2]), false, repeat, t(60)),
            "all resolved"
        );
        assert!(
            needs_update(Some(&last), &set(&[1, 2]), &set(&[]), false, repeat, t(3600)),
            "repeat"
        );
    }
}
