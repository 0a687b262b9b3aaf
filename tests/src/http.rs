//! Reading through the Prometheus HTTP API.

use anyhow::{bail, Context};
use serde_json::Value;

/// The active targets `base`'s `/api/v1/targets?state=active` lists.
pub fn active_targets(base: &str) -> anyhow::Result<Vec<Value>> {
    let data = api_get(&format!("{base}/api/v1/targets?state=active"))?;
    Ok(data["activeTargets"].as_array().context("activeTargets")?.clone())
}

/// What `base`'s `/api/v1/metadata` lists: each description of each family, as
/// `metric "type" "help" "unit"`.
pub fn metadata_families(base: &str) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let data = api_get(&format!("{base}/api/v1/metadata"))?;
    let mut out = std::collections::BTreeSet::new();
    for (name, list) in data.as_object().context("metadata")? {
        for m in list.as_array().context("descriptions")? {
            out.insert(format!("{name} {} {} {}", m["type"], m["help"], m["unit"]));
        }
    }
    Ok(out)
}

/// GETs `url` and returns the `data` of a successful Prometheus API answer.
pub fn api_get(url: &str) -> anyhow::Result<Value> {
    api_get_as(url, None)
}

/// [`api_get`] as a tenant (`X-Scope-OrgID`), or the default tenant with `None`.
pub fn api_get_as(url: &str, tenant: Option<&str>) -> anyhow::Result<Value> {
    let mut req = reqwest::blocking::Client::new().get(url);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = req.send().with_context(|| format!("GET {url}"))?;
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

/// One series' labels and its (time ms, value) points.
pub type SeriesPoints = (Value, Vec<(i64, f64)>);

/// Every series' samples of `selector` in the `range_s` seconds up to `at_ms`, read with
/// an instant query at exactly that millisecond.
pub fn samples_before(base: &str, selector: &str, range_s: i64, at_ms: i64) -> anyhow::Result<Vec<SeriesPoints>> {
    let q = format!("{selector}[{range_s}s]");
    let at = format!("{}.{:03}", at_ms.div_euclid(1000), at_ms.rem_euclid(1000));
    let data = api_get(&format!("{base}/api/v1/query?query={}&time={at}", enc(&q)))?;
    let mut out = Vec::new();
    for s in data["result"].as_array().context("result")? {
        let points = s["values"]
            .as_array()
            .context("values")?
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
                let v: f64 = p[1].as_str().unwrap_or("NaN").parse().unwrap_or(f64::NAN);
                (t, v)
            })
            .collect();
        out.push((s["metric"].clone(), points));
    }
    Ok(out)
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

/// Checks that every acknowledged batch `k` of a load wrote, to each series
/// `{series="i"}` (`0 ≤ i < series`), the value `k * 100 + i` at `base + k` seconds:
/// the shape the durability tests write.
pub fn assert_all_acknowledged(
    found: Vec<MatrixSeries>,
    acked: &[i64],
    base: i64,
    series: usize,
) -> anyhow::Result<()> {
    use std::collections::BTreeMap;
    if found.len() != series {
        bail!("expected {series} series, found {}", found.len());
    }
    let mut by_series: BTreeMap<usize, BTreeMap<i64, String>> = BTreeMap::new();
    for (metric, points) in found {
        let m: Value = serde_json::from_str(&metric)?;
        let i: usize = m["series"].as_str().unwrap_or_default().parse()?;
        for (t, v) in points {
            by_series.entry(i).or_default().insert((t * 1000.0).round() as i64, v);
        }
    }
    for k in acked {
        let t = base + k * 1000;
        for i in 0..series {
            let want = (k * 100 + i as i64).to_string();
            let got = by_series.get(&i).and_then(|s| s.get(&t));
            if got != Some(&want) {
                bail!("acknowledged sample k={k} series={i} at {t}: expected {want}, found {got:?}");
            }
        }
    }
    Ok(())
}
