//! Prometheus's series notation, as PromQL test scripts and `promtool test rules` files
//! write input series: a series `name{label="value", …}` followed by values in
//! expanding notation — `1+2x3` (1, 3, 5, 7), `5x2` (5, 5, 5), `_` (no sample), `_x3`
//! (three omitted samples), `stale` (a staleness marker), and native histograms such as
//! `{{schema:1 sum:3 count:22 buckets:[5 10 7]}}`, alone or expanded
//! (`{{…}}+{{…}}x3`).
//!
//! This module owns the notation only: [`parse_series_line`] and [`parse_points`] turn
//! text into [`Point`]s, one per step, and [`SeriesDesc::samples`] places them at
//! instants. What is loaded, into which store, is the caller's.
//!
//! The invariant: a description of `n` tokens expands to exactly the points Prometheus
//! expands it to, one [`Point`] per step, omitted steps included, so the `i`-th point
//! always belongs at `start + i * interval`.

use pyrite_model::histogram::{CounterResetHint, FloatHistogram, Span};
use pyrite_model::{Labels, STALE_NAN};

/// Why a series description does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotationError(pub String);

impl From<String> for NotationError {
    fn from(message: String) -> Self {
        NotationError(message)
    }
}

impl From<&str> for NotationError {
    fn from(message: &str) -> Self {
        NotationError(message.to_string())
    }
}

/// One point of a series description.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    Omitted,
    Float(f64),
    /// A native histogram, and whether its text set a counter-reset hint (only then
    /// is the hint compared).
    Histogram(Box<FloatHistogram>, bool),
}

/// A series and its points, one per step.
#[derive(Debug, Clone)]
pub struct SeriesDesc {
    pub labels: Labels,
    pub points: Vec<Point>,
}

impl SeriesDesc {
    /// The points that are samples, each at `start + i * interval` for the `i`-th step
    /// (omitted steps leave their instant empty).
    pub fn samples(&self, start: i64, interval: i64) -> impl Iterator<Item = (i64, &Point)> + '_ {
        self.points
            .iter()
            .enumerate()
            .filter(|(_, p)| !matches!(p, Point::Omitted))
            .map(move |(i, p)| (start + i as i64 * interval, p))
    }
}

/// Parses a number as the scripts write them (`1`, `-2.5e3`, `Inf`, `NaN`, `0x1f`).
pub fn parse_number(s: &str) -> Option<f64> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ if lower.starts_with("0x") => i64::from_str_radix(&lower[2..], 16).ok()? as f64,
        _ => {
            if !body.bytes().next()?.is_ascii_digit() && !body.starts_with('.') {
                return None;
            }
            body.parse::<f64>().ok()?
        }
    };
    Some(sign * v)
}

/// Splits a series line into its label-set part and its points part.
pub fn split_series_line(line: &str) -> Result<(String, String), NotationError> {
    let line = line.trim();
    let b = line.as_bytes();
    let mut i = 0;
    // Metric name (possibly absent).
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'{' {
        i += 1;
    }
    if i < b.len() && b[i] == b'{' {
        let mut in_quote: Option<u8> = None;
        while i < b.len() {
            let c = b[i];
            match in_quote {
                Some(q) => {
                    if c == b'\\' {
                        i += 1;
                    } else if c == q {
                        in_quote = None;
                    }
                }
                None => {
                    if c == b'"' || c == b'\'' || c == b'`' {
                        in_quote = Some(c);
                    } else if c == b'}' {
                        i += 1;
                        break;
                    }
                }
            }
            i += 1;
        }
    }
    Ok((line[..i].to_string(), line[i..].trim().to_string()))
}

/// Parses `name{a="b", …}` into labels.
pub fn parse_labels(s: &str) -> Result<Labels, NotationError> {
    parse_labels_text(s).map_err(NotationError)
}

fn parse_labels_text(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    let (name, rest) = match s.find('{') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.to_string()));
    }
    if rest.is_empty() {
        return Ok(Labels::from_pairs(&pairs));
    }
    let inner = rest
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or(format!("bad labels {s:?}"))?;
    let chars: Vec<char> = inner.chars().collect();
    let mut i = 0;
    let read_quoted = |i: &mut usize| -> Result<String, String> {
        let q = chars[*i];
        *i += 1;
        let mut out = String::new();
        while *i < chars.len() && chars[*i] != q {
            if chars[*i] == '\\' && q != '`' {
                *i += 1;
                match chars.get(*i) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some('\'') => out.push('\''),
                    Some(c) => {
                        out.push('\\');
                        out.push(*c)
                    }
                    None => return Err("unterminated escape".into()),
                }
            } else {
                out.push(chars[*i]);
            }
            *i += 1;
        }
        *i += 1;
        Ok(out)
    };
    loop {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let lname = if chars[i] == '"' || chars[i] == '\'' {
            read_quoted(&mut i)?
        } else {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.' || chars[i] == ':')
            {
                i += 1;
            }
            chars[start..i].iter().collect()
        };
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            let v = read_quoted(&mut i)?;
            pairs.push((lname, v));
        } else {
            // A quoted metric name alone: `{"my.metric", a="b"}`.
            pairs.push(("__name__".into(), lname));
        }
    }
    Ok(Labels::from_pairs(&pairs))
}

/// Reads `{{schema:1 sum:3 count:22 z_bucket:1 z_bucket_w:0.001 buckets:[5 10 7] offset:1
/// n_buckets:[…] n_offset:… custom_values:[…] counter_reset_hint:gauge}}`.
fn parse_histogram(s: &str) -> Result<FloatHistogram, String> {
    let inner = s
        .trim()
        .strip_prefix("{{")
        .and_then(|r| r.strip_suffix("}}"))
        .ok_or(format!("bad histogram {s:?}"))?;
    let mut fields = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or(format!("bad histogram field in {s:?}"))?;
        let key = rest[..colon].trim().to_string();
        rest = rest[colon + 1..].trim_start();
        let value;
        if rest.starts_with('[') {
            let end = rest.find(']').ok_or(format!("unterminated list in {s:?}"))?;
            value = rest[..=end].to_string();
            rest = rest[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = rest[..end].to_string();
            rest = rest[end..].trim_start();
        }
        fields.push((key, value));
    }
    let num = |v: &str| parse_number(v).ok_or(format!("bad number {v:?} in {s:?}"));
    let list = |v: &str| -> Result<Vec<f64>, String> {
        v.trim_start_matches('[')
            .trim_end_matches(']')
            .split_whitespace()
            .map(num)
            .collect()
    };
    let mut h = FloatHistogram::default();
    let (mut pos, mut neg, mut offset, mut n_offset) = (Vec::new(), Vec::new(), 0i32, 0i32);
    let mut count = None;
    for (k, v) in &fields {
        match k.as_str() {
            "schema" => h.schema = v.parse().map_err(|_| format!("bad schema in {s:?}"))?,
            "sum" => h.sum = num(v)?,
            "count" => count = Some(num(v)?),
            "z_bucket" => h.zero_count = num(v)?,
            "z_bucket_w" => h.zero_threshold = num(v)?,
            "buckets" => pos = list(v)?,
            "n_buckets" => neg = list(v)?,
            "offset" => offset = v.parse().map_err(|_| format!("bad offset in {s:?}"))?,
            "n_offset" => n_offset = v.parse().map_err(|_| format!("bad n_offset in {s:?}"))?,
            "custom_values" => h.custom_values = list(v)?,
            "counter_reset_hint" => {
                h.counter_reset_hint = match v.as_str() {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::Reset,
                    "not_reset" => CounterResetHint::NotReset,
                    "gauge" => CounterResetHint::Gauge,
                    other => return Err(format!("bad counter_reset_hint {other:?}")),
                }
            }
            other => return Err(format!("unknown histogram field {other:?} in {s:?}")),
        }
    }
    if !pos.is_empty() {
        h.positive_spans = vec![Span {
            offset,
            length: pos.len() as u32,
        }];
        h.positive_buckets = pos;
    }
    if !neg.is_empty() {
        h.negative_spans = vec![Span {
            offset: n_offset,
            length: neg.len() as u32,
        }];
        h.negative_buckets = neg;
    }
    // An unwritten count is zero, whatever the buckets hold (as Prometheus parses it).
    h.count = count.unwrap_or(0.0);
    Ok(h)
}

/// Tokenises a points string; histogram literals stay one token.
fn point_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            depth += 1;
            cur.push_str("{{");
            i += 2;
            continue;
        }
        if c == '}' && chars.get(i + 1) == Some(&'}') && depth > 0 {
            depth -= 1;
            cur.push_str("}}");
            i += 2;
            continue;
        }
        if c.is_whitespace() && depth == 0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The points of a values text, one per step (`_` and `_xN` included as
/// [`Point::Omitted`]).
pub fn parse_points(s: &str) -> Result<Vec<Point>, NotationError> {
    parse_points_text(s).map_err(NotationError)
}

fn parse_points_text(s: &str) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for tok in point_tokens(s) {
        if tok.starts_with("{{") {
            // `{{h}}`, `{{h}}xN`, `{{a}}+{{b}}xN`, `{{a}}-{{b}}xN`.
            let first_end = tok.find("}}").map(|i| i + 2).ok_or("bad histogram")?;
            let first = parse_histogram(&tok[..first_end])?;
            let hint_set = tok[..first_end].contains("counter_reset_hint");
            let rest = &tok[first_end..];
            if rest.is_empty() {
                out.push(Point::Histogram(Box::new(first), hint_set));
            } else if let Some(n) = rest.strip_prefix('x') {
                let n: usize = n.parse().map_err(|_| format!("bad repeat in {tok:?}"))?;
                for _ in 0..=n {
                    out.push(Point::Histogram(Box::new(first.clone()), hint_set));
                }
            } else {
                // `{{a}}+{{b}}xN` / `{{a}}-{{b}}xN`: a, then b added (subtracted) N times.
                let inc_end = rest.rfind("}}").map(|i| i + 2).ok_or("bad histogram increment")?;
                let increment = parse_histogram(&rest[1..inc_end])?;
                let n: usize = rest[inc_end..]
                    .strip_prefix('x')
                    .and_then(|n| n.parse().ok())
                    .ok_or(format!("bad repeat in {tok:?}"))?;
                let mut cur = first;
                out.push(Point::Histogram(Box::new(cur.clone()), hint_set));
                for _ in 0..n {
                    let r = if rest.starts_with('-') {
                        cur.sub(&increment)
                    } else {
                        cur.add(&increment)
                    };
                    r.map_err(|e| format!("{tok:?}: {e}"))?;
                    cur.counter_reset_hint = first_hint(&tok[..first_end]);
                    out.push(Point::Histogram(Box::new(cur.clone()), hint_set));
                }
            }
            continue;
        }
        if tok == "_" {
            out.push(Point::Omitted);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad repeat in {tok:?}"))?;
            out.extend(std::iter::repeat_n(Point::Omitted, n));
            continue;
        }
        if tok == "stale" {
            out.push(Point::Float(STALE_NAN));
            continue;
        }
        // `a`, `axN`, `a+bxN`, `a-bxN`.
        // Series descriptions have no hex numbers: `0x59` is 0 repeated.
        let (head, times) = match tok.rfind('x') {
            Some(i) => match tok[i + 1..].parse::<usize>() {
                Ok(n) => (tok[..i].to_string(), Some(n)),
                Err(_) => (tok.clone(), None),
            },
            None => (tok.clone(), None),
        };
        let Some(n) = times else {
            out.push(Point::Float(parse_number(&head).ok_or(format!("bad number {tok:?}"))?));
            continue;
        };
        // Find the sign that separates start and increment (not the leading sign or an exponent's).
        let hb = head.as_bytes();
        let split = (1..hb.len())
            .rev()
            .find(|&i| (hb[i] == b'+' || hb[i] == b'-') && !matches!(hb[i - 1], b'e' | b'E'));
        let (start, step) = match split {
            Some(i) => (
                parse_number(&head[..i]).ok_or(format!("bad number {tok:?}"))?,
                parse_number(&head[i..]).ok_or(format!("bad number {tok:?}"))?,
            ),
            None => (parse_number(&head).ok_or(format!("bad number {tok:?}"))?, 0.0),
        };
        let mut v = start;
        out.push(Point::Float(v));
        for _ in 0..n {
            v += step;
            out.push(Point::Float(v));
        }
    }
    Ok(out)
}

/// One `series values…` line: its labels and its points.
pub fn parse_series_line(line: &str) -> Result<SeriesDesc, NotationError> {
    let (labels, points) = split_series_line(line)?;
    Ok(SeriesDesc {
        labels: parse_labels(&labels)?,
        points: parse_points(&points)?,
    })
}

/// The counter-reset hint written on the first histogram of a series expression (the
/// expanded points keep it).
fn first_hint(first: &str) -> CounterResetHint {
    parse_histogram(first).map(|h| h.counter_reset_hint).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(points: &[Point]) -> Vec<Option<f64>> {
        points
            .iter()
            .map(|p| match p {
                Point::Float(v) => Some(*v),
                Point::Omitted => None,
                Point::Histogram(..) => panic!("a histogram"),
            })
            .collect()
    }

    #[test]
    fn expanding_notation_expands_as_prometheus_does() {
        let s = parse_series_line(r#"up{job="a"} -2+4x3 1-2x2 5x1 _x2 _ 0x2"#).unwrap();
        assert_eq!(s.labels, Labels::from_pairs(&[("__name__", "up"), ("job", "a")]));
        let nan_free: Vec<Option<f64>> = floats(&s.points);
        assert_eq!(
            nan_free,
            [
                Some(-2.0),
                Some(2.0),
                Some(6.0),
                Some(10.0),
                Some(1.0),
                Some(-1.0),
                Some(-3.0),
                Some(5.0),
                Some(5.0),
                None,
                None,
                None,
                Some(0.0),
                Some(0.0),
                Some(0.0)
            ]
        );
    }

    #[test]
    fn stale_is_a_staleness_marker_and_omitted_steps_keep_their_instants() {
        let s = parse_series_line("x 1 _ stale").unwrap();
        let placed: Vec<(i64, bool)> = s
            .samples(0, 60_000)
            .map(|(t, p)| (t, matches!(p, Point::Float(v) if v.to_bits() == STALE_NAN.to_bits())))
            .collect();
        assert_eq!(placed, [(0, false), (120_000, true)]);
    }

    #[test]
    fn histograms_are_one_token() {
        let points = parse_points("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}x1").unwrap();
        assert_eq!(points.len(), 2);
        let Point::Histogram(h, _) = &points[1] else {
            panic!("a histogram")
        };
        assert_eq!(
            (h.sum, h.count, h.positive_buckets.clone()),
            (5.0, 4.0, vec![1.0, 2.0, 1.0])
        );
    }

    #[test]
    fn a_bad_value_is_refused() {
        assert!(parse_points("1 two").is_err());
    }
}
