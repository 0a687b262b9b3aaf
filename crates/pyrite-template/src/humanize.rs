//! prometheus/common's `HumanizeDuration`, which the ruler's and the alertmanager's
//! `humanizeDuration` both are.

use crate::{sprintf, Value};

fn g4(v: f64) -> String {
    sprintf("%.4g", &[Value::Float(v)])
}

/// A number of seconds as `1d 2h 3m 4s`, `5.5s` or `120ms`, as Go's
/// `HumanizeDuration` writes it: whole seconds by Go's `int64` conversion (truncating,
/// and out of range the minimum, as on amd64), under a second in SI prefixes.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = if v < 9.223_372_036_854_776e18 {
            v as i64
        } else {
            i64::MIN
        };
        let (secs, mins, hours, days) = (d % 60, d / 60 % 60, d / 3600 % 24, d / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {mins}m {secs}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {mins}m {secs}s")
        } else if mins != 0 {
            format!("{sign}{mins}m {secs}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

#[cfg(test)]
mod tests {
    use super::humanize_duration;

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(90.0), "1m 30s");
        assert_eq!(humanize_duration(93_784.0), "1d 2h 3m 4s");
        assert_eq!(humanize_duration(-3_600.0), "-1h 0m 0s");
        assert_eq!(humanize_duration(0.012), "12ms");
        // Beyond int64 Go's conversion gives the minimum, as on amd64.
        assert_eq!(humanize_duration(1e19), "-106751991167300d -15h -30m -8s");
    }
}
