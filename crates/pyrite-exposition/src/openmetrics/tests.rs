use super::*;

fn parse(body: &str) -> Result<Vec<Entry<'_>>, ParseError> {
    OpenMetricsParser::from_text(body).collect()
}

fn only_sample(body: &str) -> Sample<'_> {
    match parse(body).unwrap().into_iter().next() {
        Some(Entry::Sample(s)) => s,
        other => panic!("{other:?}"),
    }
}

/// The shape of OpenMetrics's own example: metadata, a counter with `_total` and
/// `_created`, a histogram with an exemplar, an info metric, seconds timestamps.
const EXAMPLE: &str = r#"# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE go_goroutines gauge
go_goroutines 69
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
process_cpu_seconds_total 4.20072246e+06
# TYPE foo histogram
foo_bucket{le="0.01"} 0
foo_bucket{le="0.1"} 8 # {trace_id="KOO5S4vxi0o"} 0.067 1520879607.789
foo_bucket{le="+Inf"} 17 1520879607.789
foo_count 17
foo_sum 324789.3
foo_created 1520430000.123
# TYPE build info
build_info{version="1.0",escaped="a\"b\\c\nd"} 1
# EOF
"#;

#[test]
fn the_example_reads_whole() {
    let entries = parse(EXAMPLE).unwrap();
    assert_eq!(
        entries[1],
        Entry::Unit {
            metric: "acme_http_router_request_seconds",
            unit: "seconds"
        }
    );
    let kinds: Vec<MetricType> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Type { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    use MetricType::*;
    assert_eq!(kinds, [Summary, Gauge, Counter, Histogram, Info]);
    let samples: Vec<&Sample> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(samples.len(), 12);
    let bucket = samples[6];
    assert_eq!((bucket.name, bucket.value, bucket.timestamp), ("foo_bucket", 8.0, None));
    let ex = bucket.exemplar.as_ref().expect("an exemplar");
    assert_eq!(
        ex.labels().map(|(n, v)| (n, v.into_owned())).collect::<Vec<_>>(),
        [("trace_id", "KOO5S4vxi0o".to_string())]
    );
    assert_eq!((ex.value, ex.timestamp), (0.067, Some(1520879607789)));
    assert_eq!(
        samples[7].timestamp,
        Some(1520879607789),
        "seconds, kept as milliseconds"
    );
    let info: Vec<(String, String)> = samples[11]
        .labels()
        .map(|(n, v)| (n.to_string(), v.into_owned()))
        .collect();
    assert_eq!(info[1], ("escaped".to_string(), "a\"b\\c\nd".to_string()));
}

#[test]
fn timestamps_are_truncated_to_milliseconds_and_must_be_finite() {
    assert_eq!(only_sample("m 1 1.0009\n# EOF\n").timestamp, Some(1000));
    assert_eq!(
        only_sample("m 1 -1.5\n# EOF").timestamp,
        Some(-1500),
        "no newline after # EOF"
    );
    for bad in ["m 1 NaN\n# EOF\n", "m 1 +Inf\n# EOF\n"] {
        assert!(
            parse(bad).unwrap_err().to_string().contains("invalid timestamp"),
            "{bad}"
        );
    }
}

#[test]
fn the_end_is_marked_and_nothing_follows_it() {
    let err = |body: &str| parse(body).unwrap_err().to_string();
    assert!(err("m 1\n").contains("does not end with # EOF"));
    assert!(err("").contains("does not end with # EOF"));
    assert!(err("m 1\n# EOF\nm 2\n").contains("nothing may follow # EOF"));
    assert!(err("m 1\n# EOF\n\n").contains("nothing may follow # EOF"));
    assert_eq!(parse("# EOF\n").unwrap(), []);
}

#[test]
fn the_stricter_grammar_is_enforced() {
    let err = |body: &str| parse(body).unwrap_err().to_string();
    assert!(err("\n# EOF\n").contains("line 1: empty lines"));
    assert!(err("m 1\n# a comment\n# EOF\n").contains("line 2: expected # HELP"));
    assert!(err("# TYPE m gaugey\n# EOF\n").contains("unknown type"));
    assert!(err("# TYPE m\n# EOF\n").contains("expected a space and a value"));
    assert!(err("m  1\n# EOF\n").contains("invalid value"), "one space only");
    assert!(err("m{a=\"1\"}1\n# EOF\n").contains("expected a space"));
    assert!(err("m 1 # trace\n# EOF\n").contains("exemplar: expected {labels}"));
    assert!(err("m 1 # {a=\"b\"}\n# EOF\n").contains("exemplar: expected a space and a value"));
    assert!(err("m 1 2 3\n# EOF\n").contains("unexpected"));
    // HELP without text, and unit for a metric, read fine.
    assert_eq!(
        parse("# HELP m\n# EOF\n").unwrap(),
        [Entry::Help {
            metric: "m",
            text: "".into()
        }]
    );
}

#[test]
fn arbitrary_cuts_never_panic() {
    let body = EXAMPLE.as_bytes();
    for cut in 0..body.len() {
        if let Ok(p) = OpenMetricsParser::new(&body[..cut]) {
            for e in p.flatten() {
                if let Entry::Sample(s) = e {
                    s.labels().for_each(drop);
                    if let Some(x) = s.exemplar {
                        x.labels().for_each(drop);
                    }
                }
            }
        }
    }
}
