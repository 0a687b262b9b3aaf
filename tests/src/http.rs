//! Reading through the Prometheus HTTP API.

use anyhow::{bail, Context};
use serde_json::Value;

/// GETs `url` and returns the `data` of a successful Prometheus API answer.
pub fn api_get(url: &str) -> anyhow::Result<Value> {
    let resp = reqwest::blocking::get(url).with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body: Value = resp.json().with_context(|| format!("decoding answer of {url}"))?;
    if !status.is_success() || body["status"] != "success" {
        bail!("GET {url}: {status}: {body}");
    }
    Ok(body["data"].clone())
}

/// URL-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One series of a matrix answer: its labels as JSON, and (time, value string) points.
pub type MatrixSeries = (String, Vec<(f64, String)>);

/// The samples of every series a range-vector query returns, keyed by the series'
/// label set printed as JSON; values kept as the API's strings.
pub fn matrix_samples(data: &Value) -> anyhow::Result<Vec<MatrixSeries>> {
    if data["resultType"] != "matrix" {
        bail!("expected a matrix, got {data}");
    }
    let mut out = Vec::new();
    for s in data["result"].as_array().context("result is not a list")? {
        let mut points = Vec::new();
        for p in s["values"].as_array().context("values is not a list")? {
            let t = p[0].as_f64().context("timestamp is not a number")?;
            let v = p[1].as_str().context("value is not a string")?.to_string();
            points.push((t, v));
        }
        out.push((s["metric"].to_string(), points));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
