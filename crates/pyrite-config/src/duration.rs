//! Durations as Prometheus writes them, for configuration files, flags and HTTP
//! parameters: `30s`, `5m`, `1h30m`, `7d`, `500ms`, or plain (fractional) seconds (`15`,
//! `0.5`). [`parse_duration`] is the one parser; [`Duration`] is the one type every
//! component's configuration uses for a span of time, printed back in the same form
//! (`1h30m500ms`, `0s`), so `/config` output reads back as the same value.
//!
//! Its invariant: a [`Duration`] is never negative, and printing then parsing it gives
//! the same value to the millisecond.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parses float seconds or a PromQL duration (`1h30m`, `500ms`) into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        let ms = secs * 1000.0;
        if !ms.is_finite() || ms.abs() > i64::MAX as f64 {
            return Err(format!("cannot parse {s:?} to a valid duration. It overflows int64"));
        }
        return Ok(ms.round() as i64);
    }
    sum_units(s, false).map_err(|()| format!("cannot parse {s:?} to a valid duration"))
}

/// A duration as Prometheus's `model.Duration` reads it (rule files): units only, each at
/// most once and largest first, or a bare `0`; no plain seconds.
pub fn parse_model_duration(s: &str) -> Result<i64, String> {
    match s {
        "" => Err("empty duration string".into()),
        "0" => Ok(0),
        _ => sum_units(s, true).map_err(|()| format!("not a valid duration string: {s:?}")),
    }
}

/// Units largest first, as `model.Duration` requires them in order.
const UNITS: [(&str, i64); 7] = [
    ("y", 31_536_000_000),
    ("w", 604_800_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// The milliseconds of `5m`, `1h30m`, `500ms`: numbers each followed by a unit (the
/// longest that matches, so `ms` before `m`); with `ordered`, each unit smaller than the
/// one before it.
fn sum_units(s: &str, ordered: bool) -> Result<i64, ()> {
    if s.is_empty() {
        return Err(());
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| ())?;
        rest = &rest[digits..];
        let (i, (unit, ms)) = UNITS
            .iter()
            .enumerate()
            .skip(if ordered { next_unit } else { 0 })
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())
            .ok_or(())?;
        rest = &rest[unit.len()..];
        next_unit = i + 1;
        total = n.checked_mul(*ms).and_then(|v| total.checked_add(v)).ok_or(())?;
    }
    Ok(total)
}

/// A span of time in the configuration: never negative, millisecond precision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    /// The standard library's duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    /// Milliseconds, as the timestamps it is compared with count them.
    pub fn as_millis(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let ms = parse_duration(s.trim())?;
        if ms < 0 {
            return Err(format!("duration {s:?} is negative"));
        }
        Ok(Duration::from_millis(ms as u64))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        let mut rest = ms;
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Takes a string (`30s`, `1h30m`, `15`) or a plain number of seconds (YAML `15`).
impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m, 1h30m or 7d")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Duration, E> {
                s.parse().map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, s: u64) -> Result<Duration, E> {
                Ok(Duration::from_secs(s))
            }

            fn visit_i64<E: serde::de::Error>(self, s: i64) -> Result<Duration, E> {
                u64::try_from(s)
                    .map(Duration::from_secs)
                    .map_err(|_| E::custom(format!("duration {s} is negative")))
            }

            fn visit_f64<E: serde::de::Error>(self, s: f64) -> Result<Duration, E> {
                self.visit_str(&s.to_string())
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_parses() {
        assert_eq!(parse_duration("15").unwrap(), 15_000);
        assert_eq!(parse_duration("0.5").unwrap(), 500);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500);
        assert_eq!(parse_duration("1m5s").unwrap(), 65_000);
        assert_eq!(parse_duration("1d").unwrap(), 86_400_000);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400_000);
        assert_eq!(parse_duration("1y").unwrap(), 365 * 86_400_000);
        for bad in ["5x", "", "m", "1h30", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!("-5".parse::<Duration>().unwrap_err().contains("negative"));
    }

    #[test]
    fn prints_back_to_the_same_value() {
        let d = Duration::from_millis(5_400_500);
        assert_eq!(d.to_string(), "1h30m500ms");
        assert_eq!(Duration::ZERO.to_string(), "0s");
        for s in ["1h30m500ms", "0s", "7d", "36h", "15", "250ms"] {
            let d: Duration = s.parse().unwrap();
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d, "{s}");
        }
    }

    #[test]
    fn yaml_takes_strings_and_plain_seconds() {
        let d: Duration = serde_yaml::from_str("1h").unwrap();
        assert_eq!(d, Duration::from_secs(3600));
        let d: Duration = serde_yaml::from_str("90").unwrap();
        assert_eq!(d, Duration::from_secs(90));
        let d: Duration = serde_yaml::from_str("0.25").unwrap();
        assert_eq!(d, Duration::from_millis(250));
        assert!(serde_yaml::from_str::<Duration>("-3").is_err());
        assert!(serde_yaml::from_str::<Duration>("soon").is_err());
        assert_eq!(serde_yaml::to_string(&Duration::from_secs(90)).unwrap().trim(), "1m30s");
    }
}
