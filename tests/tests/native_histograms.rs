//! Native histograms end to end: remote write stores them, they survive `kill -9`, and
//! the query API answers with them (and with PromQL over them) in Prometheus's shapes.

use std::net::Ipv4Addr;

use pyrite_cluster_tests::http::{api_get, enc};
use pyrite_cluster_tests::remote_write::{encode, push, series};
use pyrite_cluster_tests::Pyrite;
use pyrite_proto::prometheus::{histogram, BucketSpan, Histogram};

const BASE: i64 = 1_700_000_000_000;

/// An integer exponential histogram (schema 0) with `n` observations spread over the
/// buckets (1,2] and (2,4], and `n` in the zero bucket.
fn hist(t: i64, n: u64) -> Histogram {
    Histogram {
        count: Some(histogram::Count::CountInt(3 * n)),
        sum: 2.5 * n as f64,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(n)),
        positive_spans: vec![BucketSpan { offset: 1, length: 2 }],
        // Deltas: first bucket n, second bucket n (delta 0).
        positive_deltas: vec![n as i64, 0],
        timestamp: t,
        ..Default::default()
    }
}

#[test]
fn native_histograms_are_stored_survive_restarts_and_are_queried() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut pyrite = Pyrite::start(Ipv4Addr::new(127, 0, 0, 31), &tmp.path().join("data"), &[])?;
    let client = reqwest::blocking::Client::new();
    let mut s = series(&[("__name__", "request_duration_seconds"), ("job", "api")], &[]);
    s.histograms = (0..10).map(|i| hist(BASE + i * 15_000, 10 * (i as u64 + 1))).collect();
    let (status, body) = push(&client, &pyrite.url("/api/v1/push"), None, encode(vec![s]))?;
    assert_eq!(status, 204, "{body}");

    // A malformed histogram (spans that do not account for the buckets) is the sender's fault.
    let mut bad = series(&[("__name__", "broken")], &[]);
    let mut h = hist(BASE, 1);
    h.positive_deltas.pop();
    bad.histograms = vec![h];
    let (status, body) = push(&client, &pyrite.url("/api/v1/push"), None, encode(vec![bad]))?;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid native histogram"), "{body}");

    pyrite.kill9_and_restart()?;

    let at = (BASE + 9 * 15_000) as f64 / 1000.0;
    let q = |query: &str| api_get(&pyrite.url(&format!("/api/v1/query?query={}&time={at}", enc(query))));
    let v = q("request_duration_seconds")?;
    let h = &v["result"][0]["histogram"];
    assert_eq!(h[1]["count"], "300", "{v}");
    assert_eq!(h[1]["sum"], "250", "{v}");
    assert_eq!(
        h[1]["buckets"],
        serde_json::json!([
            [3, "-0.001", "0.001", "100"],
            [0, "1", "2", "100"],
            [0, "2", "4", "100"]
        ]),
        "{v}"
    );
    // 30 more observations every 15 s: 2 per second.
    let v = q("histogram_count(rate(request_duration_seconds[1m]))")?;
    let rate: f64 = v["result"][0]["value"][1].as_str().unwrap_or("NaN").parse()?;
    assert!((rate - 2.0).abs() < 1e-9, "{v}");
    let v = q("histogram_quantile(0.5, request_duration_seconds)")?;
    let median: f64 = v["result"][0]["value"][1].as_str().unwrap_or("NaN").parse()?;
    assert!((1.0..=2.0).contains(&median), "{v}");

    let range = api_get(&pyrite.url(&format!(
        "/api/v1/query_range?query={}&start={}&end={at}&step=15",
        enc("request_duration_seconds"),
        BASE / 1000
    )))?;
    let series = &range["result"][0];
    assert!(series.get("values").is_none(), "{range}");
    assert_eq!(series["histograms"].as_array().map(Vec::len), Some(10), "{range}");
    Ok(())
}
