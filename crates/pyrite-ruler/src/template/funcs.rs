//! The functions Prometheus adds to Go's for alert templates — `query` and its helpers,
//! the `humanize` family, times and durations, strings, regexes, links — with
//! Prometheus's output byte for byte and its messages (`first() called on vector with
//! no elements`, `strconv.ParseFloat: parsing "one": invalid syntax`, `can't convert
//! bool to float`).
//!
//! What Go's type system does for Prometheus here is done by hand: an argument of the
//! wrong type is refused with Go's `wrong type for value; expected T; got U`, reported
//! as `error calling NAME: …` since the template engine sees these as ordinary
//! functions. Invariant: no function panics, whatever its arguments.

use std::sync::Arc;

use pyrite_relabel::Regex;
use pyrite_template::gotime::{GoDuration, GoTime, Pointer};
use pyrite_template::humanize_duration;
use pyrite_template::{go_quote, query_escape, sprintf, Arity, Funcs, Kind, List, Map, Object, Value};

use super::QueryFn;

/// What the functions need from the expander: where queries go, when they run, and
/// the external URL.
pub(super) struct Context {
    pub query: QueryFn,
    pub eval_ms: i64,
    pub external_url: String,
}

/// Go's type name of a query result, `template.queryResult`.
const QUERY_RESULT: &str = "template.queryResult";
/// Go's type name of one sample of it.
const SAMPLE: &str = "*template.sample";

/// One sample of a query result: `.Labels` and `.Value`.
struct Sample {
    labels: Value,
    value: f64,
}

impl Object for Sample {
    fn type_name(&self) -> &str {
        SAMPLE
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Labels" => Some(self.labels.clone()),
            "Value" => Some(Value::Float(self.value)),
            _ => None,
        }
    }

    fn to_go_string(&self) -> Option<String> {
        Some(format!("&{{{} {}}}", self.labels, Value::Float(self.value)))
    }
}

/// A query result, Go's `template.queryResult`: a list of samples.
struct QueryResult(List);

impl Object for QueryResult {
    fn type_name(&self) -> &str {
        QUERY_RESULT
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::List(self.0.clone()))
    }
}

fn query_result(samples: Vec<Value>) -> Value {
    Value::object(QueryResult(List::new(Kind::Any, samples)))
}

fn wrong_type(expected: &str, got: &Value) -> String {
    match got {
        Value::Nil => format!("invalid value; expected {expected}"),
        other => format!("wrong type for value; expected {expected}; got {}", other.type_name()),
    }
}

fn string_arg(v: &Value) -> Result<&str, String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(wrong_type("string", other)),
    }
}

/// The samples of a query result argument (a nil one has none).
fn samples_arg(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Object(o) if o.type_name() == QUERY_RESULT => match o.underlying() {
            Some(Value::List(l)) => Ok(l.items().to_vec()),
            _ => Ok(Vec::new()),
        },
        // What `slice` and `index` make of a query result.
        Value::List(l) => Ok(l.items().to_vec()),
        other => Err(wrong_type(QUERY_RESULT, other)),
    }
}

/// The `(labels, value)` of a sample argument.
fn sample_arg(v: &Value) -> Result<(Value, Value), String> {
    match v {
        Value::Object(o) if o.type_name() == SAMPLE => Ok((
            o.field("Labels").unwrap_or_default(),
            o.field("Value").unwrap_or_default(),
        )),
        Value::Nil => Err("runtime error: invalid memory address or nil pointer dereference".to_string()),
        other => Err(wrong_type(SAMPLE, other)),
    }
}

fn label_of(labels: &Value, name: &str) -> String {
    match labels {
        Value::Map(m) => m.get(name).and_then(Value::as_str).unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// Go's `strconv.ParseFloat(s, 64)`, with its messages. (Hexadecimal floats and
/// digit-separating underscores, rare in alert templates, are refused.)
pub(super) fn parse_float(s: &str) -> Result<f64, String> {
    let err = |why: &str| format!("strconv.ParseFloat: parsing {}: {why}", go_quote(s));
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = unsigned.to_ascii_lowercase();
    let is_inf = lower == "inf" || lower == "infinity";
    let is_nan = lower == "nan";
    if is_nan && unsigned.len() != s.len() {
        return Err(err("invalid syntax"));
    }
    let plain = unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !(is_inf || is_nan || plain) {
        return Err(err("invalid syntax"));
    }
    let v: f64 = s.parse().map_err(|_| err("invalid syntax"))?;
    if v.is_infinite() && !is_inf {
        return Err(err("value out of range"));
    }
    Ok(v)
}

/// Prometheus's `convertToFloat`: floats, integers and numeric strings; a
/// `time.Duration` as its seconds.
pub(super) fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::String(s) => parse_float(s),
        Value::Object(o) if o.type_name() == "time.Duration" => match o.method("Seconds", &[]) {
            Some(Ok(Value::Float(f))) => Ok(f),
            _ => Err("can't convert time.Duration to float".to_string()),
        },
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// Go's `%.4g`.
fn g4(v: f64) -> String {
    sprintf("%.4g", &[Value::Float(v)])
}

pub(super) fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

pub(super) fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

pub(super) fn humanize_percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

/// Prometheus's `floatToTime`: seconds to a UTC time of millisecond precision, as
/// `model.TimeFromUnixNano(ns).Time()` keeps.
pub(super) fn float_to_time(v: f64) -> Result<GoTime, String> {
    if !v.is_finite() {
        return Err("value is NaN or Inf".to_string());
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            Value::Float(v)
        ));
    }
    let ms = ns as i64 / 1_000_000;
    Ok(GoTime::unix(ms / 1000, (ms % 1000) * 1_000_000))
}

pub(super) fn humanize_timestamp(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Ok(g4(v));
    }
    Ok(float_to_time(v)?.go_string())
}

/// Go's `unicode.ToUpper` of one rune: the simple mapping, so `ß` stays `ß`.
fn upper(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Go's `unicode.ToLower` of one rune (`İ` becomes `i`).
fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Go's `unicode.ToTitle` of one rune: the upper case, but title case for the digraphs.
fn title_case(c: char) -> char {
    match c {
        '\u{1C4}'..='\u{1C6}' => '\u{1C5}',
        '\u{1C7}'..='\u{1C9}' => '\u{1C8}',
        '\u{1CA}'..='\u{1CC}' => '\u{1CB}',
        '\u{1F1}'..='\u{1F3}' => '\u{1F2}',
        c => upper(c),
    }
}

/// Go's `strings.Title`: the first letter of each word in title case, a word starting
/// after anything but an ASCII letter, digit or `_`, or a non-ASCII letter or digit.
pub(super) fn title(s: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphabetic() || c.is_numeric() {
            return false;
        }
        c.is_whitespace()
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) { title_case(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

/// Go's `net.SplitHostPort`, or `None` where it fails.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k) = if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hp[1..end], 1, end + 1)
    } else {
        let host = &hp[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

fn strip_port(hp: &str) -> String {
    split_host_port(hp).map_or(hp, |(h, _)| h).to_string()
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if is_ip(host) {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or_default();
    match (port.is_empty(), host.contains(':')) {
        (true, _) => host.to_string(),
        (false, true) => format!("[{host}]:{port}"),
        (false, false) => format!("{host}:{port}"),
    }
}

/// The path of a URL, decoded, as Go's `url.URL.Path`.
fn url_path(url: &str) -> String {
    let rest = url.split(['?', '#']).next().unwrap_or_default();
    let path = match rest.find("://") {
        Some(i) => rest[i + 3..].find('/').map_or("", |p| &rest[i + 3 + p..]),
        None => rest,
    };
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|&b| hex(b)),
            bytes.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Prometheus's `parseDuration` (3.x: negative durations allowed): seconds.
fn parse_duration_seconds(s: &str) -> Result<f64, String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let ms = pyrite_rules::parse_duration(body)?;
    let secs = ms as f64 / 1000.0;
    Ok(if neg { -secs } else { secs })
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::unanchored(pattern).map_err(|e| {
        let text = e.to_string();
        let why = text.lines().last().unwrap_or_default().trim();
        let why = why.strip_prefix("error: ").unwrap_or(why);
        format!("error parsing regexp: {why}: `{pattern}`")
    })
}

/// A function of one string to a string.
type StrFn = fn(&str) -> String;
/// A function of one number to its text.
type NumFn = fn(f64) -> String;

/// Every function Prometheus adds, over Go's predefined ones.
pub(super) fn prometheus_funcs(ctx: Arc<Context>) -> Funcs {
    let mut f = Funcs::builtin();
    let one = Arity::Exact(1);
    let two = Arity::Exact(2);

    let c = ctx.clone();
    f.add("query", one, move |a| {
        let q = string_arg(&a[0])?;
        let samples = (c.query)(q)?;
        Ok(query_result(
            samples
                .into_iter()
                .map(|s| {
                    let labels = Value::Map(Map::strings(
                        s.labels.iter().map(|l| (l.name.to_string(), l.value.clone())),
                    ));
                    Value::object(Sample { labels, value: s.value })
                })
                .collect(),
        ))
    });
    f.add("first", one, |a| {
        samples_arg(&a[0])?
            .into_iter()
            .next()
            .ok_or_else(|| "first() called on vector with no elements".to_string())
    });
    f.add("label", two, |a| {
        let name = string_arg(&a[0])?;
        let (labels, _) = sample_arg(&a[1])?;
        Ok(Value::from(label_of(&labels, name)))
    });
    f.add("value", one, |a| Ok(sample_arg(&a[0])?.1));
    f.add("strvalue", one, |a| {
        let (labels, _) = sample_arg(&a[0])?;
        Ok(Value::from(label_of(&labels, "__value__")))
    });
    f.add("sortByLabel", two, |a| {
        let name = string_arg(&a[0])?;
        let mut keyed: Vec<(String, Value)> = samples_arg(&a[1])?
            .into_iter()
            .map(|s| (sample_arg(&s).map(|(l, _)| label_of(&l, name)).unwrap_or_default(), s))
            .collect();
        // Stable, as Go's `sort.Stable`.
        keyed.sort_by(|x, y| x.0.cmp(&y.0));
        Ok(query_result(keyed.into_iter().map(|(_, s)| s).collect()))
    });
    f.add("args", Arity::AtLeast(0), |a| {
        Ok(Value::map(
            a.iter().enumerate().map(|(i, v)| (format!("arg{i}"), v.clone())),
        ))
    });
    f.add("reReplaceAll", Arity::Exact(3), |a| {
        let (pattern, repl, text) = (string_arg(&a[0])?, string_arg(&a[1])?, string_arg(&a[2])?);
        let re = compile(pattern).map_err(|e| format!("regexp: Compile(`{pattern}`): {e}"))?;
        Ok(Value::from(re.replace_all(text, repl)))
    });
    f.add("match", two, |a| {
        let (pattern, text) = (string_arg(&a[0])?, string_arg(&a[1])?);
        Ok(Value::Bool(compile(pattern)?.is_match(text)))
    });
    let strings: [(&str, StrFn); 9] = [
        ("safeHtml", str::to_string),
        ("title", title),
        ("toUpper", |s| s.chars().map(upper).collect()),
        ("toLower", |s| s.chars().map(lower).collect()),
        ("graphLink", |s| format!("/graph?g0.expr={}&g0.tab=0", query_escape(s))),
        ("tableLink", |s| format!("/graph?g0.expr={}&g0.tab=1", query_escape(s))),
        ("stripPort", strip_port),
        ("stripDomain", strip_domain),
        ("urlQueryEscape", query_escape),
    ];
    for (name, func) in strings {
        f.add(name, one, move |a| Ok(Value::from(func(string_arg(&a[0])?))));
    }
    let numbers: [(&str, NumFn); 4] = [
        ("humanize", humanize),
        ("humanize1024", humanize1024),
        ("humanizeDuration", humanize_duration),
        ("humanizePercentage", humanize_percentage),
    ];
    for (name, func) in numbers {
        f.add(name, one, move |a| Ok(Value::from(func(to_float(&a[0])?))));
    }
    f.add("humanizeTimestamp", one, |a| {
        Ok(Value::from(humanize_timestamp(to_float(&a[0])?)?))
    });
    // Prometheus's `toTime` returns a `*time.Time`.
    f.add("toTime", one, |a| {
        Ok(Value::object(Pointer::new(float_to_time(to_float(&a[0])?)?)))
    });
    f.add("toDuration", one, |a| {
        let ns = to_float(&a[0])? * 1e9;
        // Go's int64 conversion on amd64: out of range (or NaN) gives the minimum.
        let ns = if ns.is_finite() && ns > i64::MIN as f64 && ns < i64::MAX as f64 {
            ns as i64
        } else {
            i64::MIN
        };
        Ok(Value::object(Pointer::new(GoDuration(ns))))
    });
    let c = ctx.clone();
    f.add("now", Arity::Exact(0), move |_| {
        Ok(Value::Float(c.eval_ms as f64 / 1000.0))
    });
    let c = ctx.clone();
    f.add("pathPrefix", Arity::Exact(0), move |_| {
        Ok(Value::from(url_path(&c.external_url)))
    });
    let c = ctx;
    f.add("externalURL", Arity::Exact(0), move |_| {
        Ok(Value::from(c.external_url.as_str()))
    });
    f.add("parseDuration", one, |a| {
        Ok(Value::Float(parse_duration_seconds(string_arg(&a[0])?)?))
    });
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_parse_as_strconv_parses_them() {
        assert_eq!(parse_float("1234567.0"), Ok(1_234_567.0));
        assert_eq!(parse_float(".12"), Ok(0.12));
        assert_eq!(parse_float("1e3"), Ok(1000.0));
        assert_eq!(parse_float("+Inf"), Ok(f64::INFINITY));
        assert_eq!(parse_float("-infinity"), Ok(f64::NEG_INFINITY));
        assert!(parse_float("NaN").is_ok_and(f64::is_nan));
        let bad = |s: &str, why: &str| format!("strconv.ParseFloat: parsing {}: {why}", go_quote(s));
        assert_eq!(parse_float("one"), Err(bad("one", "invalid syntax")));
        assert_eq!(parse_float(""), Err(bad("", "invalid syntax")));
        assert_eq!(parse_float(" 1"), Err(bad(" 1", "invalid syntax")));
        assert_eq!(parse_float("-nan"), Err(bad("-nan", "invalid syntax")));
        assert_eq!(parse_float("1e400"), Err(bad("1e400", "value out of range")));
        assert_eq!(go_quote("a\"b\n\u{1}"), r#""a\"b\n\x01""#);
    }

    #[test]
    fn conversions_refuse_what_prometheus_refuses() {
        assert_eq!(to_float(&Value::Int(3)), Ok(3.0));
        assert_eq!(to_float(&Value::Bool(true)), Err("can't convert bool to float".into()));
        assert_eq!(to_float(&Value::Nil), Err("can't convert <nil> to float".into()));
        let d = Value::object(GoDuration(1_500_000_000));
        assert_eq!(to_float(&d), Ok(1.5));
        let pd = Value::object(Pointer::new(GoDuration(1_500_000_000)));
        assert_eq!(to_float(&pd), Err("can't convert *time.Duration to float".into()));
    }

    #[test]
    fn strings_change_case_as_go() {
        assert_eq!(title("aa bb CC"), "Aa Bb CC");
        assert_eq!(title("hello-world foo_bar x.y don't"), "Hello-World Foo_bar X.Y Don'T");
        assert_eq!(title("ǆemal émile"), "ǅemal Émile");
        let up: String = "straße".chars().map(upper).collect();
        assert_eq!(up, "STRAßE");
        let low: String = "İI".chars().map(lower).collect();
        assert_eq!(low, "ii");
    }

    #[test]
    fn hosts_and_ports_split_as_go() {
        let cases = [
            ("foo.example.com", "foo.example.com", "foo"),
            ("foo.example.com:12345", "foo.example.com", "foo:12345"),
            ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
            ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
            ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
            ("[2001:0DB8::1]:12345", "2001:0DB8::1", "[2001:0DB8::1]:12345"),
            (
                "[2001:0DB8::1]::12345",
                "[2001:0DB8::1]::12345",
                "[2001:0DB8::1]::12345",
            ),
            ("[a:b.c]:80", "a:b.c", "[a:b]:80"),
        ];
        for (input, port, domain) in cases {
            assert_eq!(strip_port(input), port, "stripPort {input}");
            assert_eq!(strip_domain(input), domain, "stripDomain {input}");
        }
    }

    #[test]
    fn urls_give_their_decoded_path() {
        assert_eq!(url_path("http://testhost:9090/path/prefix"), "/path/prefix");
        assert_eq!(url_path("http://h/a%20b?x=1#f"), "/a b");
        assert_eq!(url_path("http://h"), "");
        assert_eq!(url_path("/rel"), "/rel");
    }

    #[test]
    fn durations_parse_in_seconds_and_may_be_negative() {
        assert_eq!(parse_duration_seconds("1h2m10ms"), Ok(3720.01));
        assert_eq!(parse_duration_seconds("-30m"), Ok(-1800.0));
        assert_eq!(
            parse_duration_seconds("x"),
            Err("not a valid duration string: \"x\"".to_string())
        );
    }
}
