//! Reading the PromQL test-script format: `load`, `clear`, `eval instant|range` and the
//! `expect …` lines. Series and their points (`1+2x3`, `_`, `stale`, native histograms)
//! are [`pyrite_promql::series_notation`]'s.

pub use pyrite_promql::series_notation::{parse_number, parse_series_line, split_series_line, Point, SeriesDesc};

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
        series.push(parse_series_line(l).map_err(|e| e.to_string())?);
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
