//! OpenMetrics 1.0 text, the stricter sibling of the text format: every line is
//! metadata (`# HELP`, `# TYPE`, `# UNIT`) or a sample, single spaces separate fields,
//! timestamps are seconds (kept as milliseconds, truncated, as Prometheus keeps them),
//! a sample may carry an exemplar (`… # {trace_id="…"} 1 1520879607.789`), and the body
//! ends with `# EOF`, after which nothing may follow.

use crate::text::{excerpt, label_span, name, parse_value, unescape, Lines};
use crate::{Entry, Exemplar, MetricType, ParseError, Sample};

/// Reads an OpenMetrics body's entries, in order; stops at the first error, and reports
/// a body that does not end with `# EOF` as one.
pub struct OpenMetricsParser<'a> {
    lines: Lines<'a>,
}

impl<'a> OpenMetricsParser<'a> {
    pub fn new(body: &'a [u8]) -> Result<OpenMetricsParser<'a>, ParseError> {
        Ok(OpenMetricsParser::from_text(Lines::utf8(body)?))
    }

    pub fn from_text(input: &'a str) -> OpenMetricsParser<'a> {
        OpenMetricsParser {
            lines: Lines::new(input),
        }
    }
}

impl<'a> Iterator for OpenMetricsParser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.lines.done {
            return None;
        }
        let Some(line) = self.lines.next_line() else {
            self.lines.line += 1;
            return self.lines.fail("the body does not end with # EOF");
        };
        if line == "# EOF" {
            if !self.lines.is_at_end() {
                self.lines.line += 1;
                return self.lines.fail("nothing may follow # EOF");
            }
            self.lines.done = true;
            return None;
        }
        let parsed = match line.strip_prefix("# ") {
            Some(meta) => metadata(meta),
            None if line.is_empty() => Err("empty lines are not allowed".into()),
            None => sample(line).map(Entry::Sample),
        };
        match parsed {
            Ok(entry) => Some(Ok(entry)),
            Err(message) => self.lines.fail(message),
        }
    }
}

/// `HELP`, `TYPE` or `UNIT`, after `# `.
fn metadata(s: &str) -> Result<Entry<'_>, String> {
    let (keyword, rest) = s.split_once(' ').unwrap_or((s, ""));
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return Err(format!(
            "expected # HELP, # TYPE, # UNIT or # EOF, got {:?}",
            excerpt(s)
        ));
    }
    let (metric, rest) = name(rest, true).ok_or_else(|| format!("# {keyword} needs a metric name"))?;
    let value = match rest.strip_prefix(' ') {
        Some(v) => v,
        None if rest.is_empty() && keyword != "TYPE" => "",
        None => return Err(format!("# {keyword} {metric}: expected a space and a value")),
    };
    Ok(match keyword {
        "HELP" => Entry::Help {
            metric,
            text: unescape(value, true),
        },
        "UNIT" => Entry::Unit { metric, unit: value },
        _ => Entry::Type {
            metric,
            kind: match value {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "gaugehistogram" => MetricType::GaugeHistogram,
                "stateset" => MetricType::StateSet,
                "info" => MetricType::Info,
                "summary" => MetricType::Summary,
                "unknown" => MetricType::Unknown,
                other => return Err(format!("# TYPE {metric}: unknown type {other:?}")),
            },
        },
    })
}

/// `{labels}` at the start of `s`, if any: the span inside the braces and what follows.
fn braces(s: &str) -> Result<(&str, &str), String> {
    match s.strip_prefix('{') {
        Some(inner) => {
            let len = label_span(inner)?;
            Ok((&inner[..len], &inner[len + 1..]))
        }
        None => Ok(("", s)),
    }
}

/// A timestamp in seconds, as milliseconds (truncated, as Prometheus does).
fn timestamp(s: &str) -> Result<i64, String> {
    match s.parse::<f64>() {
        Ok(t) if t.is_finite() => Ok((t * 1000.0) as i64),
        _ => Err(format!("invalid timestamp {s:?}")),
    }
}

fn sample(line: &str) -> Result<Sample<'_>, String> {
    let (metric, rest) = name(line, true).ok_or_else(|| format!("expected a metric name at {:?}", excerpt(line)))?;
    let (labels, rest) = braces(rest).map_err(|m| format!("{metric}: {m}"))?;
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("{metric}: expected a space and a value after the name and labels"))?;
    let (fields, exemplar) = match rest.split_once(" # ") {
        Some((fields, exemplar)) => (fields, Some(exemplar)),
        None => (rest, None),
    };
    let mut parts = fields.split(' ');
    let value = parts.next().unwrap_or("");
    let value = parse_value(value).ok_or_else(|| format!("{metric}: invalid value {value:?}"))?;
    let ts = match parts.next() {
        None => None,
        Some(t) => Some(timestamp(t).map_err(|m| format!("{metric}: {m}"))?),
    };
    if let Some(extra) = parts.next() {
        return Err(format!("{metric}: unexpected {extra:?}"));
    }
    let exemplar = match exemplar {
        None => None,
        Some(e) => Some(parse_exemplar(e).map_err(|m| format!("{metric}: exemplar: {m}"))?),
    };
    Ok(Sample {
        name: metric,
        labels,
        value,
        timestamp: ts,
        exemplar,
    })
}

/// `{labels} value [timestamp]`, after ` # `.
fn parse_exemplar(s: &str) -> Result<Exemplar<'_>, String> {
    if !s.starts_with('{') {
        return Err("expected {labels}".into());
    }
    let (labels, rest) = braces(s)?;
    let rest = rest.strip_prefix(' ').ok_or("expected a space and a value")?;
    let mut parts = rest.split(' ');
    let value = parts.next().unwrap_or("");
    let value = parse_value(value).ok_or_else(|| format!("invalid value {value:?}"))?;
    let ts = parts.next().map(timestamp).transpose()?;
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected {extra:?}"));
    }
    Ok(Exemplar {
        labels,
        value,
        timestamp: ts,
    })
}

#[cfg(test)]
mod tests;
