//! The text format's parser: one pass over each line, by byte, borrowing everything.

use std::borrow::Cow;

/// What a `# TYPE` line declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
    /// OpenMetrics only, as are the three below.
    GaugeHistogram,
    StateSet,
    Info,
    Unknown,
}

/// One line of meaning in a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    Help {
        metric: &'a str,
        text: Cow<'a, str>,
    },
    Type {
        metric: &'a str,
        kind: MetricType,
    },
    /// OpenMetrics only.
    Unit {
        metric: &'a str,
        unit: &'a str,
    },
    Sample(Sample<'a>),
}

/// A sample line: the metric name, its labels (read through [`Sample::labels`]), the
/// value, and the timestamp and exemplar if the line gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    /// What lies between the braces, already checked.
    pub(crate) labels: &'a str,
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// OpenMetrics only: the exemplar the line carries.
    pub exemplar: Option<Exemplar<'a>>,
}

/// An exemplar: labels (read through [`Exemplar::labels`]), value, optional timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    pub(crate) labels: &'a str,
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
}

impl<'a> Exemplar<'a> {
    pub fn labels(&self) -> Labels<'a> {
        Labels { rest: self.labels }
    }
}

impl<'a> Sample<'a> {
    /// The labels in the order the line gives them, values unescaped.
    pub fn labels(&self) -> Labels<'a> {
        Labels { rest: self.labels }
    }

    /// The text between the braces as written (escapes kept): with the name, the key a
    /// scraper caches a series under, since a target writes a series the same way on
    /// every scrape.
    pub fn raw_labels(&self) -> &'a str {
        self.labels
    }
}

/// A sample's labels, each `(name, value)`.
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Labels<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        // The span was checked when the line was parsed: name, `=`, quoted value, and
        // separators, with blanks anywhere between.
        let rest = self.rest.trim_start_matches(is_blank_or_comma);
        if rest.is_empty() {
            return None;
        }
        let name_end = rest.find(|c: char| !is_name_char(c as u8, false)).unwrap_or(rest.len());
        let name = &rest[..name_end];
        let after = rest[name_end..].trim_start_matches(is_blank);
        let after = after.strip_prefix('=')?.trim_start_matches(is_blank);
        let body = after.strip_prefix('"')?;
        let end = closing_quote(body.as_bytes())?;
        self.rest = &body[end + 1..];
        Some((name, unescape(&body[..end], true)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not UTF-8 (at byte {0})")]
    NotUtf8(usize),
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
}

/// A body read line by line, counting lines, until it is done (read whole, or stopped
/// by an error): what both formats' parsers walk.
pub(crate) struct Lines<'a> {
    input: &'a str,
    pos: usize,
    /// The number of the line last read (1-based).
    pub(crate) line: usize,
    pub(crate) done: bool,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(input: &'a str) -> Lines<'a> {
        Lines {
            input,
            pos: 0,
            line: 0,
            done: false,
        }
    }

    /// A body that must be UTF-8.
    pub(crate) fn utf8(body: &'a [u8]) -> Result<&'a str, ParseError> {
        std::str::from_utf8(body).map_err(|e| ParseError::NotUtf8(e.valid_up_to()))
    }

    /// The next line, without its newline; `None` at the end or once done.
    pub(crate) fn next_line(&mut self) -> Option<&'a str> {
        if self.done || self.pos >= self.input.len() {
            return None;
        }
        let rest = &self.input[self.pos..];
        let end = rest.find('\n').unwrap_or(rest.len());
        self.pos += end + 1;
        self.line += 1;
        Some(&rest[..end])
    }

    /// Whether anything is left after the lines read so far.
    pub(crate) fn is_at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Stops at an error on the current line.
    pub(crate) fn fail<T>(&mut self, message: impl Into<String>) -> Option<Result<T, ParseError>> {
        self.done = true;
        Some(Err(ParseError::Line {
            line: self.line,
            message: message.into(),
        }))
    }
}

/// Reads entries from a body, in order; stops at the first error.
pub struct Parser<'a> {
    lines: Lines<'a>,
}

impl<'a> Parser<'a> {
    /// A parser over a body that must be UTF-8.
    pub fn new(body: &'a [u8]) -> Result<Parser<'a>, ParseError> {
        Ok(Parser::from_text(Lines::utf8(body)?))
    }

    pub fn from_text(input: &'a str) -> Parser<'a> {
        Parser {
            lines: Lines::new(input),
        }
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(line) = self.lines.next_line() {
            let line = line.trim_start_matches(is_blank);
            let parsed = match line.as_bytes().first() {
                None => continue,
                Some(b'#') => match comment(&line[1..]) {
                    Ok(None) => continue,
                    Ok(Some(entry)) => Ok(entry),
                    Err(message) => Err(message),
                },
                Some(_) => sample(line).map(Entry::Sample),
            };
            return match parsed {
                Ok(entry) => Some(Ok(entry)),
                Err(message) => self.lines.fail(message),
            };
        }
        None
    }
}

pub(crate) fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_blank_or_comma(c: char) -> bool {
    is_blank(c) || c == ','
}

/// A byte of a metric name (`colon`) or label name.
fn is_name_char(b: u8, colon: bool) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || (colon && b == b':')
}

/// The name at the start of `s` (metric names may hold colons), and what follows it.
pub(crate) fn name(s: &str, colon: bool) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || (colon && *c == b':') => {}
        _ => return None,
    }
    let end = b.iter().position(|&c| !is_name_char(c, colon)).unwrap_or(b.len());
    Some((&s[..end], &s[end..]))
}

/// A `# …` line: HELP or TYPE, or a comment (`None`).
fn comment(s: &str) -> Result<Option<Entry<'_>>, String> {
    let s = s.trim_start_matches(is_blank);
    let (keyword, rest) = s.split_at(s.find(is_blank).unwrap_or(s.len()));
    if keyword != "HELP" && keyword != "TYPE" {
        return Ok(None);
    }
    let rest = rest.trim_start_matches(is_blank);
    let (metric, rest) = name(rest, true).ok_or_else(|| format!("# {keyword} needs a metric name"))?;
    if !rest.is_empty() && !rest.starts_with(is_blank) {
        return Err(format!(
            "# {keyword}: invalid metric name {:?}",
            metric.to_string() + rest
        ));
    }
    let rest = rest.trim_start_matches(is_blank);
    if keyword == "HELP" {
        return Ok(Some(Entry::Help {
            metric,
            text: unescape(rest, false),
        }));
    }
    let kind = match rest.trim_end_matches(is_blank) {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" => MetricType::Untyped,
        other => return Err(format!("# TYPE {metric}: unknown type {other:?}")),
    };
    Ok(Some(Entry::Type { metric, kind }))
}

/// A sample line.
fn sample(line: &str) -> Result<Sample<'_>, String> {
    let (metric, rest) = name(line, true).ok_or_else(|| format!("expected a metric name at {:?}", excerpt(line)))?;
    let (labels, rest) = match rest.trim_start_matches(is_blank).strip_prefix('{') {
        Some(inner) => {
            let len = label_span(inner).map_err(|m| format!("{metric}: {m}"))?;
            (&inner[..len], &inner[len + 1..])
        }
        None => ("", rest),
    };
    if !rest.starts_with(is_blank) {
        return Err(format!("{metric}: expected a value after the name and labels"));
    }
    let mut fields = rest.split(is_blank).filter(|f| !f.is_empty());
    let value = fields.next().ok_or_else(|| format!("{metric}: no value"))?;
    let value = parse_value(value).ok_or_else(|| format!("{metric}: invalid value {value:?}"))?;
    let timestamp = match fields.next() {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| format!("{metric}: invalid timestamp {t:?}"))?,
        ),
    };
    if let Some(extra) = fields.next() {
        return Err(format!("{metric}: unexpected {extra:?} after the timestamp"));
    }
    Ok(Sample {
        name: metric,
        labels,
        value,
        timestamp,
        exemplar: None,
    })
}

/// The length of the label list before its closing brace, checked.
pub(crate) fn label_span(s: &str) -> Result<usize, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let skip_blanks = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_blanks(&mut i);
        match b.get(i) {
            Some(b'}') => return Ok(i),
            None => return Err("labels are not closed with }".into()),
            _ => {}
        }
        let (label, _) = name(&s[i..], false).ok_or_else(|| format!("invalid label name at {:?}", excerpt(&s[i..])))?;
        i += label.len();
        skip_blanks(&mut i);
        if b.get(i) != Some(&b'=') {
            return Err(format!("expected = after label {label:?}"));
        }
        i += 1;
        skip_blanks(&mut i);
        if b.get(i) != Some(&b'"') {
            return Err(format!("expected a quoted value for label {label:?}"));
        }
        i += 1;
        let close = closing_quote(&b[i..]).ok_or_else(|| format!("the value of label {label:?} is not closed"))?;
        i += close + 1;
        skip_blanks(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(i),
            None => return Err("labels are not closed with }".into()),
            _ => return Err(format!("expected , or }} after label {label:?}")),
        }
    }
}

/// Where the quoted string starting at `b` ends (the index of its closing quote).
pub(crate) fn closing_quote(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

/// `\\` and `\n` (and `\"` in label values) unescaped; any other backslash stays.
pub(crate) fn unescape(s: &str, quotes: bool) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// A value as Go's `strconv.ParseFloat` reads the forms exporters write.
pub(crate) fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

pub(crate) fn excerpt(s: &str) -> &str {
    match s.char_indices().nth(20) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests;
