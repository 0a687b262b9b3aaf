use super::*;

/// Every entry of `body`, with labels collected, or the first error.
fn parse(body: &str) -> Result<Vec<Entry<'_>>, ParseError> {
    Parser::from_text(body).collect()
}

/// A sample, owned: name, labels, value, timestamp.
type Owned = (String, Vec<(String, String)>, f64, Option<i64>);

fn samples(body: &str) -> Vec<Owned> {
    parse(body)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some((
                s.name.to_string(),
                s.labels().map(|(n, v)| (n.to_string(), v.into_owned())).collect(),
                s.value,
                s.timestamp,
            )),
            _ => None,
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// The example of Prometheus's exposition format documentation.
const DOCUMENTED: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;

#[test]
fn the_documented_example_reads_as_documented() {
    let entries = parse(DOCUMENTED).unwrap();
    assert_eq!(
        entries[0],
        Entry::Help {
            metric: "http_requests_total",
            text: "The total number of HTTP requests.".into()
        }
    );
    assert_eq!(
        entries[1],
        Entry::Type {
            metric: "http_requests_total",
            kind: MetricType::Counter
        }
    );
    let s = samples(DOCUMENTED);
    assert_eq!(s.len(), 12);
    assert_eq!(
        s[0],
        (
            "http_requests_total".into(),
            pairs(&[("method", "post"), ("code", "200")]),
            1027.0,
            Some(1395066363000)
        )
    );
    assert_eq!(s[1].2, 3.0, "blanks before the value");
    assert_eq!(
        s[2].1,
        pairs(&[
            ("path", r"C:\DIR\FILE.TXT"),
            ("error", "Cannot find file:\n\"FILE.TXT\"")
        ])
    );
    assert_eq!(s[2].2, 1.458255915e9);
    assert_eq!(
        s[3],
        ("metric_without_timestamp_and_labels".into(), vec![], 12.47, None)
    );
    assert_eq!((s[4].2, s[4].3), (f64::INFINITY, Some(-3982045)));
    assert_eq!(s[6].1, pairs(&[("le", "+Inf")]));
    assert_eq!(s[10].2, 1.7560473e7);
    let types: Vec<MetricType> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Type { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(types, [MetricType::Counter, MetricType::Histogram, MetricType::Summary]);
}

#[test]
fn values_names_and_separators_as_exporters_write_them() {
    let s = samples("a_b:c{x=\"1\",} NaN\n  indented -Inf\nspaced { x = \"1\" , y=\"\" } 1e-3 17\nlast 5");
    assert_eq!(s[0].0, "a_b:c");
    assert_eq!(s[0].1, pairs(&[("x", "1")]), "a trailing comma");
    assert!(s[0].2.is_nan());
    assert_eq!((s[1].0.as_str(), s[1].2), ("indented", f64::NEG_INFINITY));
    assert_eq!(s[2].1, pairs(&[("x", "1"), ("y", "")]));
    assert_eq!((s[2].2, s[2].3), (1e-3, Some(17)));
    assert_eq!(s[3], ("last".into(), vec![], 5.0, None), "no newline at the end");
    let unknown_escape = samples(r#"m{a="x\ty"} 1"#);
    assert_eq!(
        unknown_escape[0].1,
        pairs(&[("a", r"x\ty")]),
        "other escapes stay as written"
    );
}

#[test]
fn help_text_is_unescaped_and_comments_are_skipped() {
    let entries =
        parse("# HELP m line one\\nline two \\\\ \\x\n# just a comment\n#TYPE m gauge\n# UNIT m seconds\n").unwrap();
    assert_eq!(
        entries,
        [
            Entry::Help {
                metric: "m",
                text: "line one\nline two \\ \\x".into()
            },
            Entry::Type {
                metric: "m",
                kind: MetricType::Gauge
            }
        ]
    );
}

#[test]
fn nothing_is_copied_for_plain_values() {
    let body = r#"m{a="plain",b="esc\"aped"} 1"#;
    let Some(Ok(Entry::Sample(s))) = Parser::from_text(body).next() else {
        panic!("a sample")
    };
    let labels: Vec<_> = s.labels().collect();
    assert!(matches!(labels[0].1, Cow::Borrowed("plain")));
    assert!(matches!(labels[1].1, Cow::Owned(_)));
}

#[test]
fn errors_name_the_line_and_stop_the_parse() {
    let fails = |body: &str, line: usize, needle: &str| {
        let err = parse(body).unwrap_err();
        let text = err.to_string();
        assert_eq!(
            err,
            ParseError::Line {
                line,
                message: text[text.find(": ").unwrap() + 2..].to_string()
            }
        );
        assert!(text.contains(needle), "{body:?}: {text}");
    };
    fails("ok 1\nm{a=\"1\" 2", 2, "expected , or }");
    fails("m{a=\"1\"", 1, "labels are not closed");
    fails("m{a=\"1} 2", 1, "not closed");
    fails("m{1a=\"1\"} 2", 1, "invalid label name");
    fails("m{a=1} 2", 1, "expected a quoted value");
    fails("m{a} 2", 1, "expected = after label");
    fails("m{,a=\"1\"} 2", 1, "invalid label name");
    fails("m", 1, "expected a value");
    fails("m ", 1, "no value");
    fails("m one", 1, "invalid value");
    fails("m 1 1.5", 1, "invalid timestamp");
    fails("m 1 2 3", 1, "unexpected");
    fails("m{}1", 1, "expected a value");
    fails("1m 1", 1, "expected a metric name");
    fails("\n\n# TYPE m gaugey", 3, "unknown type");
    fails("# HELP", 1, "needs a metric name");
    fails("# TYPE m-x counter", 1, "invalid metric name");
    let mut p = Parser::from_text("bad\nm 1");
    assert!(p.next().unwrap().is_err());
    assert!(p.next().is_none(), "nothing after the first error");
    assert_eq!(Parser::new(b"m 1\n\xff").err(), Some(ParseError::NotUtf8(4)));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Every prefix and single-byte corruption of a realistic body.
    let body = DOCUMENTED.as_bytes();
    for cut in 0..body.len() {
        if let Ok(p) = Parser::new(&body[..cut]) {
            for e in p.flatten() {
                if let Entry::Sample(s) = e {
                    s.labels().for_each(drop);
                }
            }
        }
    }
    for at in (0..body.len()).step_by(7) {
        for b in [b'"', b'\\', b'{', b'}', b'=', b',', b' ', b'\n', b'#'] {
            let mut bytes = body.to_vec();
            bytes[at] = b;
            if let Ok(p) = Parser::new(&bytes) {
                for e in p.flatten() {
                    if let Entry::Sample(s) = e {
                        s.labels().for_each(drop);
                    }
                }
            }
        }
    }
}
