//! Durations as rule files write them (Prometheus's `model.Duration`): units from years
//! down to milliseconds, each at most once and largest first (`1h30m`, `5m`, `1d`,
//! `500ms`), or a bare `0`. Unlike flags and scrape configs, a rule file takes no plain
//! seconds: promtool refuses `for: 15`, and so does Pyrite. The parser is
//! `pyrite_config`'s, which reads every Prometheus duration.

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Milliseconds of a rule-file duration.
pub use pyrite_config::parse_model_duration as parse_duration;

/// A duration as rule files write it: `0s`, or its units largest first (`1h30m`), years
/// and weeks only when they divide it (`8d`, not `1w1d`), as Prometheus prints it.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms.unsigned_abs();
    if ms < 0 {
        out.push('-');
    }
    for (unit, size) in UNITS {
        let size = size as u64;
        let whole_only = matches!(unit, "y" | "w");
        if whole_only && rest % size != 0 {
            continue;
        }
        if rest >= size {
            out.push_str(&(rest / size).to_string());
            out.push_str(unit);
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_largest_first() {
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1d2h"), Ok(93_600_000));
        assert_eq!(parse_duration("1w"), Ok(604_800_000));
        assert_eq!(parse_duration("1y"), Ok(31_536_000_000));
        assert_eq!(parse_duration("1m500ms"), Ok(60_500));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("0s"), Ok(0));
    }

    #[test]
    fn refuses_what_promtool_refuses() {
        for bad in ["15", "1.5m", "5m1h", "1m1m", "m", "5 m", "-5m", "5M"] {
            assert_eq!(
                parse_duration(bad),
                Err(format!("not a valid duration string: {bad:?}")),
                "{bad}"
            );
        }
        assert_eq!(parse_duration(""), Err("empty duration string".into()));
    }

    #[test]
    fn prints_back_the_same_value() {
        for (ms, text) in [
            (0, "0s"),
            (300_000, "5m"),
            (5_400_000, "1h30m"),
            (90_000, "1m30s"),
            (1, "1ms"),
            (8 * 86_400_000, "8d"),
            (14 * 86_400_000, "2w"),
            (366 * 86_400_000, "366d"),
        ] {
            assert_eq!(format_duration(ms), text);
            assert_eq!(parse_duration(text), Ok(ms));
        }
    }
}
