use super::messages as pb;
use super::*;
use prost::Message;

fn body(families: &[pb::MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in families {
        f.encode_length_delimited(&mut out).expect("a Vec grows");
    }
    out
}

fn family(name: &str, t: pb::MetricType, metric: Vec<pb::Metric>) -> pb::MetricFamily {
    pb::MetricFamily {
        name: Some(name.into()),
        help: Some(format!("Help for {name}.")),
        r#type: Some(t as i32),
        metric,
        unit: None,
    }
}

fn pair(name: &str, value: &str) -> pb::LabelPair {
    pb::LabelPair {
        name: Some(name.into()),
        value: Some(value.into()),
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn ts(seconds: i64, nanos: i32) -> Option<pb::Timestamp> {
    Some(pb::Timestamp { seconds, nanos })
}

fn span(offset: i32, length: u32) -> pb::BucketSpan {
    pb::BucketSpan {
        offset: Some(offset),
        length: Some(length),
    }
}

fn pb_exemplar(trace: &str, value: f64, at: Option<pb::Timestamp>) -> pb::Exemplar {
    pb::Exemplar {
        label: vec![pair("trace_id", trace)],
        value: Some(value),
        timestamp: at,
    }
}

fn exemplar(trace: &str, value: f64, timestamp_ms: Option<i64>) -> Exemplar {
    Exemplar {
        labels: owned(&[("trace_id", trace)]),
        value,
        timestamp_ms,
    }
}

/// Flat series as `name{labels} value`, for comparing with Prometheus's view.
fn flat(f: &Family, classic: bool) -> Vec<String> {
    f.series(classic)
        .iter()
        .map(|s| {
            let labels: Vec<String> = s.labels().map(|(n, v)| format!("{n}={v:?}")).collect();
            let value = match s.value {
                SeriesValue::Float(v) => go_float_str(v),
                SeriesValue::Histogram(h) => format!("{h}"),
            };
            let ts = s.timestamp_ms.map(|t| format!(" @{t}")).unwrap_or_default();
            format!("{}{{{}}} {value}{ts}", s.name, labels.join(","))
        })
        .collect()
}

fn go_float_str(v: f64) -> String {
    pyrite_model::histogram::go_float(v)
}

fn parse_one(f: pb::MetricFamily) -> Family {
    let mut all = parse(&body(&[f])).expect("a valid body");
    assert_eq!(all.len(), 1);
    all.remove(0)
}

#[test]
fn counters_gauges_and_untyped() {
    let counter = family(
        "requests_total",
        pb::MetricType::Counter,
        vec![pb::Metric {
            label: vec![pair("path", "/a\"b"), pair("code", "200")],
            counter: Some(pb::Counter {
                value: Some(17.5),
                exemplar: Some(pb_exemplar("abc", 0.25, ts(1_700_000_000, 123_456_789))),
                created_timestamp: ts(1_600_000_000, 5_000_000),
            }),
            timestamp_ms: Some(1_700_000_001_000),
            ..Default::default()
        }],
    );
    let mut gauge = family(
        "temperature_celsius",
        pb::MetricType::Gauge,
        vec![pb::Metric {
            gauge: Some(pb::Gauge { value: Some(-3.5) }),
            // Zero means "no timestamp", as in Prometheus.
            timestamp_ms: Some(0),
            ..Default::default()
        }],
    );
    gauge.unit = Some("celsius".into());
    let untyped = family(
        "something",
        pb::MetricType::Untyped,
        vec![
            pb::Metric {
                untyped: Some(pb::Untyped { value: Some(f64::NAN) }),
                ..Default::default()
            },
            // No value field at all reads as zero.
            pb::Metric::default(),
        ],
    );
    let parsed = parse(&body(&[counter, gauge, untyped])).expect("valid");
    assert_eq!(
        parsed[0],
        Family {
            name: "requests_total".into(),
            help: "Help for requests_total.".into(),
            metric_type: MetricType::Counter,
            unit: String::new(),
            metrics: vec![Metric {
                labels: owned(&[("path", "/a\"b"), ("code", "200")]),
                timestamp_ms: Some(1_700_000_001_000),
                value: Value::Counter(Counter {
                    value: 17.5,
                    exemplar: Some(exemplar("abc", 0.25, Some(1_700_000_000_123))),
                    created_ms: Some(1_600_000_000_005),
                }),
            }],
        }
    );
    assert_eq!(
        parsed[1],
        Family {
            name: "temperature_celsius".into(),
            help: "Help for temperature_celsius.".into(),
            metric_type: MetricType::Gauge,
            unit: "celsius".into(),
            metrics: vec![Metric {
                labels: vec![],
                timestamp_ms: None,
                value: Value::Gauge(-3.5),
            }],
        }
    );
    assert_eq!(parsed[2].metric_type, MetricType::Untyped);
    assert!(matches!(parsed[2].metrics[0].value, Value::Untyped(v) if v.is_nan()));
    assert_eq!(parsed[2].metrics[1].value, Value::Untyped(0.0));

    assert_eq!(
        flat(&parsed[0], false),
        ["requests_total{path=\"/a\\\"b\",code=\"200\"} 17.5 @1700000001000"]
    );
    let series = parsed[0].series(false);
    assert_eq!(series[0].exemplars, [&exemplar("abc", 0.25, Some(1_700_000_000_123))]);
    assert_eq!(flat(&parsed[1], false), ["temperature_celsius{} -3.5"]);
    assert_eq!(flat(&parsed[2], false), ["something{} NaN", "something{} 0"]);
}

#[test]
fn summaries() {
    let f = family(
        "rpc_seconds",
        pb::MetricType::Summary,
        vec![
            pb::Metric {
                label: vec![pair("service", "a")],
                summary: Some(pb::Summary {
                    sample_count: Some(42),
                    sample_sum: Some(8.25),
                    quantile: [(0.0, 0.01), (0.5, 0.2), (0.99, 1.5), (1.0, 2.0), (0.00001, 0.001)]
                        .iter()
                        .map(|&(q, v)| pb::Quantile {
                            quantile: Some(q),
                            value: Some(v),
                        })
                        .collect(),
                    created_timestamp: ts(1_000, 999_999_999),
                }),
                ..Default::default()
            },
            pb::Metric {
                label: vec![pair("service", "b")],
                summary: Some(pb::Summary {
                    sample_count: Some(0),
                    sample_sum: Some(0.0),
                    quantile: vec![],
                    created_timestamp: None,
                }),
                ..Default::default()
            },
        ],
    );
    let parsed = parse_one(f);
    assert_eq!(
        parsed.metrics[0].value,
        Value::Summary(Summary {
            count: 42,
            sum: 8.25,
            quantiles: vec![
                Quantile {
                    quantile: 0.0,
                    value: 0.01
                },
                Quantile {
                    quantile: 0.5,
                    value: 0.2
                },
                Quantile {
                    quantile: 0.99,
                    value: 1.5
                },
                Quantile {
                    quantile: 1.0,
                    value: 2.0
                },
                Quantile {
                    quantile: 0.00001,
                    value: 0.001
                },
            ],
            created_ms: Some(1_000_999),
        })
    );
    assert_eq!(
        flat(&parsed, false),
        [
            "rpc_seconds_count{service=\"a\"} 42",
            "rpc_seconds_sum{service=\"a\"} 8.25",
            "rpc_seconds{service=\"a\",quantile=\"0.0\"} 0.01",
            "rpc_seconds{service=\"a\",quantile=\"0.5\"} 0.2",
            "rpc_seconds{service=\"a\",quantile=\"0.99\"} 1.5",
            "rpc_seconds{service=\"a\",quantile=\"1.0\"} 2",
            "rpc_seconds{service=\"a\",quantile=\"1e-05\"} 0.001",
            "rpc_seconds_count{service=\"b\"} 0",
            "rpc_seconds_sum{service=\"b\"} 0",
        ]
    );
}

fn classic_bucket(upper: f64, count: u64) -> pb::Bucket {
    pb::Bucket {
        cumulative_count: Some(count),
        cumulative_count_float: None,
        upper_bound: Some(upper),
        exemplar: None,
    }
}

#[test]
fn classic_histograms() {
    let mut with_float = classic_bucket(0.5, 0);
    with_float.cumulative_count_float = Some(2.5);
    with_float.exemplar = Some(pb_exemplar("t1", 0.3, None));
    let f = family(
        "latency_seconds",
        pb::MetricType::Histogram,
        vec![
            // No +Inf bucket: one is added with the count.
            pb::Metric {
                label: vec![pair("path", "/")],
                histogram: Some(pb::Histogram {
                    sample_count: Some(7),
                    sample_sum: Some(3.5),
                    bucket: vec![classic_bucket(0.1, 1), with_float, classic_bucket(100000.0, 6)],
                    created_timestamp: ts(5, 0),
                    // A schema and deltas without spans do not make a native histogram.
                    schema: Some(3),
                    positive_delta: vec![1, 2],
                    ..Default::default()
                }),
                timestamp_ms: Some(1234),
                ..Default::default()
            },
            // A +Inf bucket: nothing after it is read; float count overrides.
            pb::Metric {
                label: vec![pair("path", "/x")],
                histogram: Some(pb::Histogram {
                    sample_count: Some(3),
                    sample_count_float: Some(3.5),
                    sample_sum: Some(1.0),
                    bucket: vec![
                        classic_bucket(1.0, 2),
                        classic_bucket(f64::INFINITY, 3),
                        classic_bucket(5.0, 9),
                    ],
                    ..Default::default()
                }),
                ..Default::default()
            },
            // No buckets at all.
            pb::Metric {
                label: vec![pair("path", "/y")],
                histogram: Some(pb::Histogram::default()),
                ..Default::default()
            },
        ],
    );
    let parsed = parse_one(f);
    assert_eq!(
        parsed.metrics[0].value,
        Value::Histogram(Histogram {
            count: 7.0,
            sum: 3.5,
            buckets: vec![
                Bucket {
                    upper_bound: 0.1,
                    cumulative_count: 1.0,
                    exemplar: None
                },
                Bucket {
                    upper_bound: 0.5,
                    cumulative_count: 2.5,
                    exemplar: Some(exemplar("t1", 0.3, None)),
                },
                Bucket {
                    upper_bound: 100000.0,
                    cumulative_count: 6.0,
                    exemplar: None
                },
            ],
            created_ms: Some(5000),
            native: None,
            exemplars: vec![],
        })
    );
    assert_eq!(
        flat(&parsed, true),
        [
            "latency_seconds_count{path=\"/\"} 7 @1234",
            "latency_seconds_sum{path=\"/\"} 3.5 @1234",
            "latency_seconds_bucket{path=\"/\",le=\"0.1\"} 1 @1234",
            "latency_seconds_bucket{path=\"/\",le=\"0.5\"} 2.5 @1234",
            "latency_seconds_bucket{path=\"/\",le=\"100000.0\"} 6 @1234",
            "latency_seconds_bucket{path=\"/\",le=\"+Inf\"} 7 @1234",
            "latency_seconds_count{path=\"/x\"} 3.5",
            "latency_seconds_sum{path=\"/x\"} 1",
            "latency_seconds_bucket{path=\"/x\",le=\"1.0\"} 2",
            "latency_seconds_bucket{path=\"/x\",le=\"+Inf\"} 3",
            "latency_seconds_count{path=\"/y\"} 0",
            "latency_seconds_sum{path=\"/y\"} 0",
            "latency_seconds_bucket{path=\"/y\",le=\"+Inf\"} 0",
        ]
    );
    // Classic bucket exemplars go with their bucket, with or without a timestamp.
    let series = parsed.series(false);
    assert_eq!(series[3].exemplars, [&exemplar("t1", 0.3, None)]);
    assert!(series[2].exemplars.is_empty() && series[0].exemplars.is_empty());
}

fn native_histogram() -> pb::Histogram {
    pb::Histogram {
        sample_count: Some(12),
        sample_sum: Some(-1.5),
        schema: Some(1),
        zero_threshold: Some(0.001),
        zero_count: Some(2),
        negative_span: vec![span(0, 1)],
        negative_delta: vec![3],
        positive_span: vec![span(-1, 2), span(3, 1)],
        positive_delta: vec![2, -1, 3],
        ..Default::default()
    }
}

#[test]
fn native_integer_histograms_become_float_histograms() {
    let mut h = native_histogram();
    h.bucket = vec![classic_bucket(1.0, 5), classic_bucket(10.0, 12)];
    h.bucket[1].exemplar = Some(pb_exemplar("b", 9.0, ts(10, 0)));
    h.exemplars = vec![pb_exemplar("x", 1.0, ts(20, 500_000_000)), pb_exemplar("y", 2.0, None)];
    let f = family(
        "rpc_duration_seconds",
        pb::MetricType::Histogram,
        vec![pb::Metric {
            histogram: Some(h),
            timestamp_ms: Some(99),
            ..Default::default()
        }],
    );
    let parsed = parse_one(f);
    let Value::Histogram(h) = &parsed.metrics[0].value else {
        panic!("a histogram")
    };
    assert_eq!(
        h.native,
        Some(FloatHistogram {
            counter_reset_hint: CounterResetHint::Unknown,
            schema: 1,
            zero_threshold: 0.001,
            zero_count: 2.0,
            count: 12.0,
            sum: -1.5,
            positive_spans: vec![Span { offset: -1, length: 2 }, Span { offset: 3, length: 1 }],
            positive_buckets: vec![2.0, 1.0, 4.0],
            negative_spans: vec![Span { offset: 0, length: 1 }],
            negative_buckets: vec![3.0],
            custom_values: vec![],
        })
    );
    assert_eq!(h.count, 12.0);
    assert_eq!(h.buckets.len(), 2);
    assert_eq!(
        h.exemplars,
        [exemplar("x", 1.0, Some(20_500)), exemplar("y", 2.0, None)]
    );

    // Without scrape_classic_histograms only the native series; with it, the classic
    // series follow.
    let native = flat(&parsed, false);
    assert_eq!(native.len(), 1);
    assert!(
        native[0].starts_with("rpc_duration_seconds{} {count:12, sum:-1.5"),
        "{}",
        native[0]
    );
    assert!(native[0].ends_with(" @99"));
    let both = flat(&parsed, true);
    assert_eq!(
        both[1..],
        [
            "rpc_duration_seconds_count{} 12 @99",
            "rpc_duration_seconds_sum{} -1.5 @99",
            "rpc_duration_seconds_bucket{le=\"1.0\"} 5 @99",
            "rpc_duration_seconds_bucket{le=\"10.0\"} 12 @99",
            "rpc_duration_seconds_bucket{le=\"+Inf\"} 12 @99",
        ]
    );
    // The native series carries the histogram's own timestamped exemplars only.
    let series = parsed.series(true);
    assert_eq!(series[0].exemplars, [&exemplar("x", 1.0, Some(20_500))]);
    assert_eq!(series[4].exemplars, [&exemplar("b", 9.0, Some(10_000))]);
}

#[test]
fn native_exemplars_fall_back_to_timestamped_bucket_exemplars() {
    let mut h = native_histogram();
    h.bucket = vec![classic_bucket(1.0, 5), classic_bucket(2.0, 6)];
    h.bucket[0].exemplar = Some(pb_exemplar("untimed", 0.5, None));
    h.bucket[1].exemplar = Some(pb_exemplar("timed", 1.5, ts(3, 0)));
    let parsed = parse_one(family(
        "h",
        pb::MetricType::Histogram,
        vec![pb::Metric {
            histogram: Some(h),
            ..Default::default()
        }],
    ));
    assert_eq!(parsed.series(false)[0].exemplars, [&exemplar("timed", 1.5, Some(3000))]);
}

#[test]
fn float_and_gauge_native_histograms() {
    let h = pb::Histogram {
        sample_count: Some(1000),
        sample_count_float: Some(6.5),
        sample_sum: Some(4.0),
        schema: Some(-2),
        zero_count_float: Some(0.5),
        positive_span: vec![span(2, 2)],
        positive_count: vec![1.5, 4.5],
        // Deltas are ignored in a float histogram.
        positive_delta: vec![7, 7],
        ..Default::default()
    };
    let parsed = parse_one(family(
        "g",
        pb::MetricType::GaugeHistogram,
        vec![pb::Metric {
            histogram: Some(h),
            ..Default::default()
        }],
    ));
    assert_eq!(parsed.metric_type, MetricType::GaugeHistogram);
    let Value::Histogram(h) = &parsed.metrics[0].value else {
        panic!("a histogram")
    };
    assert_eq!(
        h.native,
        Some(FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            schema: -2,
            zero_threshold: 0.0,
            zero_count: 0.5,
            count: 6.5,
            sum: 4.0,
            positive_spans: vec![Span { offset: 2, length: 2 }],
            positive_buckets: vec![1.5, 4.5],
            negative_spans: vec![],
            negative_buckets: vec![],
            custom_values: vec![],
        })
    );
    // A gauge histogram's classic form keeps the suffixes.
    let classic = pb::Histogram {
        bucket: vec![classic_bucket(1.0, 1)],
        sample_count: Some(1),
        ..Default::default()
    };
    let parsed = parse_one(family(
        "g",
        pb::MetricType::GaugeHistogram,
        vec![pb::Metric {
            histogram: Some(classic),
            ..Default::default()
        }],
    ));
    assert_eq!(
        flat(&parsed, false),
        [
            "g_count{} 1",
            "g_sum{} 0",
            "g_bucket{le=\"1.0\"} 1",
            "g_bucket{le=\"+Inf\"} 1"
        ]
    );
}

#[test]
fn what_makes_a_histogram_native() {
    let native_of = |h: pb::Histogram| {
        let parsed = parse_one(family(
            "h",
            pb::MetricType::Histogram,
            vec![pb::Metric {
                histogram: Some(h),
                ..Default::default()
            }],
        ));
        match parsed.metrics[0].value.clone() {
            Value::Histogram(h) => h.native,
            other => panic!("{other:?}"),
        }
    };
    // The no-op span of a native histogram with no observations yet.
    let empty = native_of(pb::Histogram {
        positive_span: vec![span(0, 0)],
        ..Default::default()
    })
    .expect("native");
    assert_eq!(empty.count, 0.0);
    assert_eq!(empty.positive_spans, [Span { offset: 0, length: 0 }]);
    assert!(empty.positive_buckets.is_empty());
    // A zero threshold alone, an integer zero count alone.
    assert!(native_of(pb::Histogram {
        zero_threshold: Some(1e-128),
        ..Default::default()
    })
    .is_some());
    assert!(native_of(pb::Histogram {
        zero_count: Some(1),
        ..Default::default()
    })
    .is_some());
    // Not: a schema alone, deltas alone, a float zero count alone (Prometheus's rule).
    for h in [
        pb::Histogram {
            schema: Some(3),
            ..Default::default()
        },
        pb::Histogram {
            positive_delta: vec![1],
            ..Default::default()
        },
        pb::Histogram {
            zero_count_float: Some(2.0),
            ..Default::default()
        },
    ] {
        assert_eq!(native_of(h), None);
    }
}

#[test]
fn packed_repeated_fields_decode_too() {
    /// The histogram's span and delta fields, written packed.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Packed {
        #[prost(uint64, optional, tag = "1")]
        sample_count: Option<u64>,
        #[prost(message, repeated, tag = "12")]
        positive_span: Vec<pb::BucketSpan>,
        #[prost(sint64, repeated, packed = "true", tag = "13")]
        positive_delta: Vec<i64>,
    }
    let h = Packed {
        sample_count: Some(3),
        positive_span: vec![span(0, 2)],
        positive_delta: vec![1, 1],
    };
    let decoded = pb::Histogram::decode(h.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(decoded.positive_delta, [1, 1]);
}

#[test]
fn empty_families_are_left_out_and_a_body_may_be_empty() {
    assert_eq!(parse(b""), Ok(vec![]));
    let empty = family("nothing", pb::MetricType::Gauge, vec![]);
    let one = family(
        "one",
        pb::MetricType::Gauge,
        vec![pb::Metric {
            gauge: Some(pb::Gauge { value: Some(1.0) }),
            ..Default::default()
        }],
    );
    let parsed = parse(&body(&[empty, one])).expect("valid");
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].name, "one");
}

fn invalid(families: Vec<pb::MetricFamily>) -> String {
    parse(&body(&families)).expect_err("invalid").to_string()
}

fn histogram_family(h: pb::Histogram) -> pb::MetricFamily {
    family(
        "h",
        pb::MetricType::Histogram,
        vec![pb::Metric {
            histogram: Some(h),
            ..Default::default()
        }],
    )
}

#[test]
fn invalid_families_are_named_by_index() {
    let ok = family("ok", pb::MetricType::Gauge, vec![pb::Metric::default()]);
    let mut bad_name = ok.clone();
    bad_name.name = Some("1abc".into());
    assert_eq!(
        invalid(vec![ok.clone(), bad_name]),
        "metric family 1 (\"1abc\"): invalid metric name"
    );
    let mut bad_type = ok.clone();
    bad_type.r#type = Some(9);
    assert_eq!(
        invalid(vec![bad_type]),
        "metric family 0 (\"ok\"): unknown metric type 9"
    );
    let mut bad_label = ok.clone();
    bad_label.metric.push(pb::Metric {
        label: vec![pair("a-b", "x")],
        ..Default::default()
    });
    assert_eq!(
        invalid(vec![bad_label]),
        "metric family 0 (\"ok\"): metric 1: invalid label name \"a-b\""
    );
    let mut mismatch = native_histogram();
    mismatch.positive_delta.pop();
    assert_eq!(
        invalid(vec![ok.clone(), ok.clone(), histogram_family(mismatch)]),
        "metric family 2 (\"h\"): metric 0: positive spans cover 3 buckets, but 2 are given"
    );
    let mut schema = native_histogram();
    schema.schema = Some(9);
    assert_eq!(
        invalid(vec![histogram_family(schema)]),
        "metric family 0 (\"h\"): metric 0: native histogram schema 9 is outside -4..=8"
    );
    let mut negative = native_histogram();
    negative.negative_delta = vec![-1];
    assert_eq!(
        invalid(vec![histogram_family(negative)]),
        "metric family 0 (\"h\"): metric 0: negative buckets: a negative count (-1)"
    );
    let mut overflow = native_histogram();
    overflow.negative_delta = vec![i64::MAX];
    overflow.negative_span = vec![span(0, 2)];
    overflow.negative_delta.push(1);
    assert_eq!(
        invalid(vec![histogram_family(overflow)]),
        "metric family 0 (\"h\"): metric 0: negative buckets: the counts overflow 64 bits"
    );
}

#[test]
fn label_floats_print_as_prometheus_prints_them() {
    let cases = [
        (0.0, "0.0"),
        (-0.0, "0.0"),
        (1.0, "1.0"),
        (-1.0, "-1.0"),
        (0.5, "0.5"),
        (0.99, "0.99"),
        (0.00001, "1e-05"),
        (0.0001, "0.0001"),
        (2.5e-7, "2.5e-07"),
        (100000.0, "100000.0"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ];
    for (v, want) in cases {
        assert_eq!(format_label_float(v), want, "{v}");
    }
}

mod node_exporter;
mod robustness;
