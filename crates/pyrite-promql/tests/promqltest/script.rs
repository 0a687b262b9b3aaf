//! Reading the PromQL test-script format: `load`, `clear`, `eval instant|range`, the
//! `expect …` lines, and the series/points syntax (`1+2x3`, `_`, `stale`, and native
//! histogram points `{{schema:1 sum:3 count:22 buckets:[5 10 7]}}`).

use pyrite_model::histogram::{CounterResetHint, FloatHistogram, Span};
use pyrite_model::{Labels, STALE_NAN};

/// One point of a series description.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    Omitted,
    Float(f64),
    /// A native histogram, and whether its text set a counter-reset hint (only then
    /// is the hint compared).
    Histogram(Box<FloatHistogram>, bool),
}

#[derive(Debug, Clone)]
pub struct SeriesDesc {
    pub labels: Labels,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExpectKind {
    Fail,
    Warn,
    Info,
    NoWarn,
    NoInfo,
    Ordered,
}

#[derive(Debug, Clone)]
pub struct Expect {
    pub kind: ExpectKind,
    /// `msg` (exact) or `regex` and the text.
    pub matcher: Option<(bool, String)>,
}

#[derive(Debug, Clone)]
pub enum Expected {
    /// A scalar answer.
    Scalar(f64),
    /// Series (instant: one point each; range or range-vector: one per step).
    Series(Vec<SeriesDesc>),
    String(String),
}

#[derive(Debug, Clone)]
pub struct Eval {
    pub line: usize,
    pub query: String,
    /// Instant: start == end, step 0.
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub expects: Vec<Expect>,
    pub expected: Expected,
    /// `expect range vector from … to … step …` for an instant query.
    pub range_vector: Option<(i64, i64, i64)>,
    pub text_has_histogram: bool,
}

#[derive(Debug, Clone)]
pub enum Command {
    Load {
        interval: i64,
        series: Vec<SeriesDesc>,
        with_nhcb: bool,
        has_start_times: bool,
    },
    Clear,
    Eval(Box<Eval>),
}

pub fn parse_duration(s: &str) -> Result<i64, String> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if s == "0" {
        return Ok(0);
    }
    let mut total: i64 = 0;
    let b = s.as_bytes();
    let mut i = 0;
    if b.is_empty() {
        return Err("empty duration".into());
    }
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!("bad duration {s:?}"));
        }
        let n: i64 = s[start..i].parse().map_err(|_| format!("bad duration {s:?}"))?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match &s[ustart..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            u => return Err(format!("bad duration unit {u:?} in {s:?}")),
        };
        total += n * unit;
    }
    Ok(if neg { -total } else { total })
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
fn split_series_line(line: &str) -> Result<(String, String), String> {
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
pub fn parse_labels(s: &str) -> Result<Labels, String> {
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

pub fn parse_points(s: &str) -> Result<Vec<Point>, String> {
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

pub fn parse_series_line(line: &str) -> Result<SeriesDesc, String> {
    let (labels, points) = split_series_line(line)?;
    Ok(SeriesDesc {
        labels: parse_labels(&labels)?,
        points: parse_points(&points)?,
    })
}

fn parse_expect(line: &str) -> Result<Option<Expect>, String> {
    let rest = line.trim().strip_prefix("expect ").ok_or("not an expect line")?;
    let (kind_s, tail) = match rest.find(' ') {
        Some(i) => (&rest[..i], rest[i + 1..].trim()),
        None => (rest, ""),
    };
    let kind = match kind_s {
        "fail" => ExpectKind::Fail,
        "warn" => ExpectKind::Warn,
        "info" => ExpectKind::Info,
        "no_warn" => ExpectKind::NoWarn,
        "no_info" => ExpectKind::NoInfo,
        "ordered" => ExpectKind::Ordered,
        "range" | "string" => return Ok(None),
        other => return Err(format!("unknown expect {other:?}")),
    };
    let matcher = match tail.strip_prefix("msg:") {
        Some(m) => Some((false, unquote_opt(m.trim()))),
        None => tail.strip_prefix("regex:").map(|r| (true, unquote_opt(r.trim()))),
    };
    Ok(Some(Expect { kind, matcher }))
}

fn unquote_opt(s: &str) -> String {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let inner = &s[1..s.len() - 1];
        return inner.replace("\\\"", "\"").replace("\\\\", "\\");
    }
    s.to_string()
}

/// Parses a whole script into commands.
pub fn parse_script(text: &str) -> Result<Vec<Command>, String> {
    // As in Prometheus's runner, a comment line counts as blank and ends a block.
    let lines: Vec<&str> = text
        .lines()
        .map(|l| if l.trim().starts_with('#') { "" } else { l })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    let is_blank = |l: &str| l.trim().is_empty();
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        if line == "clear" {
            cmds.push(Command::Clear);
            i += 1;
            continue;
        }
        if let Some(rest) = line.strip_prefix("load") {
            let (with_nhcb, rest) = match rest.strip_prefix("_with_nhcb") {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let interval = parse_duration(rest.trim()).map_err(|e| format!("line {}: {e}", i + 1))?;
            let mut series = Vec::new();
            let mut has_start_times = false;
            i += 1;
            while i < lines.len() && !is_blank(lines[i]) {
                let l = lines[i].trim();
                if !l.starts_with('#') {
                    if split_series_line(l).is_ok_and(|(labels, _)| labels.ends_with("@st")) || l.contains("}@st") {
                        has_start_times = true;
                    } else {
                        series.push(parse_series_line(l).map_err(|e| format!("line {}: {e}", i + 1))?);
                    }
                }
                i += 1;
            }
            cmds.push(Command::Load {
                interval,
                series,
                with_nhcb,
                has_start_times,
            });
            continue;
        }
        if line.starts_with("eval") {
            let eval = parse_eval(&lines, &mut i).map_err(|e| format!("line {}: {e}", i + 1))?;
            cmds.push(Command::Eval(Box::new(eval)));
            continue;
        }
        return Err(format!("line {}: unknown command {line:?}", i + 1));
    }
    Ok(cmds)
}

fn parse_eval(lines: &[&str], i: &mut usize) -> Result<Eval, String> {
    let line_no = *i + 1;
    let line = lines[*i].trim();
    let (cmd, rest) = line.split_once(' ').ok_or("bad eval")?;
    let mut expects = Vec::new();
    match cmd {
        "eval" => {}
        "eval_fail" => expects.push(Expect {
            kind: ExpectKind::Fail,
            matcher: None,
        }),
        "eval_warn" => expects.push(Expect {
            kind: ExpectKind::Warn,
            matcher: None,
        }),
        "eval_info" => expects.push(Expect {
            kind: ExpectKind::Info,
            matcher: None,
        }),
        "eval_ordered" => expects.push(Expect {
            kind: ExpectKind::Ordered,
            matcher: None,
        }),
        other => return Err(format!("unknown eval command {other:?}")),
    }
    let (start, end, step, query) = if let Some(r) = rest.strip_prefix("instant at ") {
        let (t, q) = r.split_once(' ').ok_or("bad instant eval")?;
        let t = parse_duration(t)?;
        (t, t, 0, q.trim().to_string())
    } else if let Some(r) = rest.strip_prefix("range from ") {
        let parts: Vec<&str> = r.splitn(6, ' ').collect();
        if parts.len() < 6 || parts[1] != "to" || parts[3] != "step" {
            return Err("bad range eval".into());
        }
        (
            parse_duration(parts[0])?,
            parse_duration(parts[2])?,
            parse_duration(parts[4])?,
            parts[5].trim().to_string(),
        )
    } else {
        return Err("eval needs `instant at` or `range from`".into());
    };
    let mut series = Vec::new();
    let mut scalar = None;
    let mut string = None;
    let mut range_vector = None;
    let mut text_has_histogram = false;
    *i += 1;
    while *i < lines.len() && !lines[*i].trim().is_empty() {
        let l = lines[*i].trim();
        *i += 1;
        if l.starts_with('#') {
            continue;
        }
        if let Some(m) = l.strip_prefix("expected_fail_message") {
            expects.retain(|e| e.kind != ExpectKind::Fail);
            expects.push(Expect {
                kind: ExpectKind::Fail,
                matcher: Some((false, m.trim().to_string())),
            });
            continue;
        }
        if let Some(m) = l.strip_prefix("expected_fail_regexp") {
            expects.retain(|e| e.kind != ExpectKind::Fail);
            expects.push(Expect {
                kind: ExpectKind::Fail,
                matcher: Some((true, m.trim().to_string())),
            });
            continue;
        }
        if let Some(r) = l.strip_prefix("expect range vector from ") {
            let parts: Vec<&str> = r.split_whitespace().collect();
            if parts.len() != 5 || parts[1] != "to" || parts[3] != "step" {
                return Err(format!("bad expect range vector {l:?}"));
            }
            range_vector = Some((
                parse_duration(parts[0])?,
                parse_duration(parts[2])?,
                parse_duration(parts[4])?,
            ));
            continue;
        }
        if let Some(r) = l.strip_prefix("expect string ") {
            let r = r.trim();
            string = Some(r[1..r.len() - 1].to_string());
            continue;
        }
        if l.split(' ').next() == Some("expect") {
            if let Some(e) = parse_expect(l)? {
                expects.push(e);
            }
            continue;
        }
        if l.contains("{{") {
            text_has_histogram = true;
        }
        if let Some(v) = parse_number(l) {
            scalar = Some(v);
            continue;
        }
        series.push(parse_series_line(l)?);
    }
    let expected = match (scalar, string) {
        (Some(v), _) => Expected::Scalar(v),
        (None, Some(s)) => Expected::String(s),
        _ => Expected::Series(series),
    };
    Ok(Eval {
        line: line_no,
        query,
        start,
        end,
        step,
        expects,
        expected,
        range_vector,
        text_has_histogram,
    })
}

/// The counter-reset hint written on the first histogram of a series expression (the
/// expanded points keep it).
fn first_hint(first: &str) -> CounterResetHint {
    parse_histogram(first).map(|h| h.counter_reset_hint).unwrap_or_default()
}
