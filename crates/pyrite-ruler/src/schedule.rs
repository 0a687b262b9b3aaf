//! When a group is evaluated: every `interval`, at an offset within the interval fixed
//! by the group's hash, so that groups spread over their interval and a group keeps
//! its instants across restarts and moves. The hash and the offset are Prometheus's
//! (XXH64 of the label set `{file, name}`, modulo the interval in nanoseconds), so a
//! group evaluated by Pyrite and by Prometheus, under the same file path and name,
//! is evaluated at the same instants.
//!
//! The invariant: instants depend on the group's file, name and interval only, never
//! on when or where evaluation started.

use xxhash_rust::xxh64::xxh64;

const NANOS_PER_MS: i128 = 1_000_000;

/// Prometheus's hash of a group: its labels `file` and `name`, in that (sorted) order.
pub fn group_hash(file: &str, name: &str) -> u64 {
    let mut b = Vec::with_capacity(file.len() + name.len() + 12);
    for (label, value) in [("file", file), ("name", name)] {
        b.extend_from_slice(label.as_bytes());
        b.push(0xff);
        b.extend_from_slice(value.as_bytes());
        b.push(0xff);
    }
    xxh64(&b, 0)
}

/// The group's evaluation instants, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    interval_ns: i128,
    offset_ns: i128,
}

impl Schedule {
    pub fn new(file: &str, name: &str, interval_ms: i64) -> Schedule {
        let interval_ns = i128::from(interval_ms.max(1)) * NANOS_PER_MS;
        let offset_ns = (group_hash(file, name) % interval_ns as u64) as i128;
        Schedule { interval_ns, offset_ns }
    }

    /// The latest instant at or before `now_ns`.
    pub fn at_or_before(&self, now_ns: i128) -> i128 {
        let adjusted = now_ns - self.offset_ns;
        adjusted - adjusted.rem_euclid(self.interval_ns) + self.offset_ns
    }

    /// The first instant after `now_ns`.
    pub fn after(&self, now_ns: i128) -> i128 {
        self.at_or_before(now_ns) + self.interval_ns
    }

    /// The first instant after the one whose sample timestamp is `t_ms` (an instant's
    /// timestamp drops its nanoseconds, so the instant lies within that millisecond).
    pub fn after_ms(&self, t_ms: i64) -> i128 {
        self.after((i128::from(t_ms) + 1) * NANOS_PER_MS - 1)
    }

    pub fn interval_ns(&self) -> i128 {
        self.interval_ns
    }
}

/// An instant in nanoseconds as a sample timestamp (milliseconds, rounded down as
/// Prometheus rounds).
pub fn to_ms(ns: i128) -> i64 {
    ns.div_euclid(NANOS_PER_MS) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_as_prometheus_labels_hash() {
        // XXH64 of "file\xffrules.yml\xffname\xffexample\xff", seed 0.
        let expected = xxh64(b"file\xffrules.yml\xffname\xffexample\xff", 0);
        assert_eq!(group_hash("rules.yml", "example"), expected);
        assert_ne!(group_hash("rules.yml", "other"), expected);
    }

    #[test]
    fn instants_keep_their_offset_in_the_interval() {
        let s = Schedule::new("f", "g", 15_000);
        let interval = s.interval_ns();
        let now = 1_700_000_000_123_456_789i128;
        let at = s.at_or_before(now);
        assert!(at <= now && now - at < interval);
        assert_eq!(at.rem_euclid(interval), s.offset_ns);
        // The instant after one known only by its timestamp is the next, not itself.
        assert_eq!(s.after_ms(to_ms(at)), at + interval);
        assert_eq!(s.after_ms(to_ms(at) - 1), at);
        assert_eq!(s.at_or_before(at), at);
        assert_eq!(s.after(at), at + interval);
        assert_eq!(s.at_or_before(now + 3 * interval), at + 3 * interval);
        assert_eq!(to_ms(1_500_999_999), 1500);
    }
}
