//! A remote-write 1.0 client exactly as the protocol specifies: protobuf
//! `prometheus.WriteRequest`, snappy block compression, the spec's headers.

use anyhow::Context;
use prost::Message;
use pyrite_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};

/// Builds one series for a write request; labels may come in any order.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    let mut labels: Vec<Label> = labels
        .iter()
        .map(|(n, v)| Label {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries {
        labels,
        samples: samples
            .iter()
            .map(|(t, v)| Sample {
                timestamp: *t,
                value: *v,
            })
            .collect(),
        ..Default::default()
    }
}

/// Snappy-compressed protobuf body of a remote-write 1.0 request.
pub fn encode(series: Vec<TimeSeries>) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series,
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("snappy compression of an in-memory buffer")
}

/// POSTs a remote-write 1.0 request; returns the HTTP status and body text.
pub fn push(
    client: &reqwest::blocking::Client,
    url: &str,
    tenant: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<(u16, String)> {
    let mut req = client
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = req.send().with_context(|| format!("POST {url}"))?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().unwrap_or_default()))
}
