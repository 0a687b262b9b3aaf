//! Turning a remote-write HTTP body into series: content negotiation, snappy, protobuf
//! 1.0 or 2.0 (symbol references resolved). Nothing here trusts the input: every length
//! and reference is checked and every failure is a [`PushError`], never a panic.

use prost::Message;
use pyrite_model::{Label, Sample};
use pyrite_proto::write_v2 as v2;
use pyrite_storage::{MetricMetadata, MetricType};

use crate::{DistributorConfig, PushError};

/// Which remote-write protocol a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V1,
    V2,
}

/// One series as received: labels in the order sent (validated later).
#[derive(Debug, Clone, PartialEq)]
pub struct RawSeries {
    pub labels: Vec<Label>,
    pub samples: Vec<Sample>,
    /// Native-histogram samples, as sent (converted and checked in validation).
    pub histograms: Vec<crate::histogram::WireHistogram>,
    pub exemplars: usize,
}

impl RawSeries {
    /// A series Pyrite made itself (a recording rule's output, an alert's series), to
    /// go through the same pipeline as a received one.
    pub fn from_series(ts: pyrite_model::TimeSeries) -> RawSeries {
        RawSeries {
            labels: ts.labels.into_vec(),
            samples: ts.samples,
            histograms: ts
                .histograms
                .into_iter()
                .map(|(t, h)| crate::histogram::WireHistogram::from_float(t, h))
                .collect(),
            exemplars: 0,
        }
    }
}

/// A decoded, not yet validated, write.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedWrite {
    pub protocol: Protocol,
    pub series: Vec<RawSeries>,
    /// Metric metadata: 1.0's `metadata`, or what 2.0's series carry (each under its
    /// series' metric name), once per family and description.
    pub metadata: Vec<MetricMetadata>,
}

/// Picks the protocol from `Content-Type`, as the remote-write specs define it.
pub fn negotiate(content_type: Option<&str>, content_encoding: Option<&str>) -> Result<Protocol, PushError> {
    match content_encoding.map(str::trim) {
        None | Some("") | Some("snappy") => {}
        Some(other) => {
            return Err(PushError::UnsupportedMediaType(format!(
                "unsupported Content-Encoding {other:?}; remote write uses snappy"
            )))
        }
    }
    let Some(ct) = content_type.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Protocol::V1);
    };
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(PushError::UnsupportedMediaType(format!(
            "unsupported Content-Type {ct:?}; expected application/x-protobuf"
        )));
    }
    let proto = parts
        .find_map(|p| p.strip_prefix("proto="))
        .map(|p| p.trim_matches('"'));
    match proto {
        None | Some("prometheus.WriteRequest") => Ok(Protocol::V1),
        Some("io.prometheus.write.v2.Request") => Ok(Protocol::V2),
        Some(other) => Err(PushError::UnsupportedMediaType(format!(
            "unsupported remote-write message {other:?}; expected prometheus.WriteRequest or io.prometheus.write.v2.Request"
        ))),
    }
}

/// Decompresses and decodes a request body under `limits`.
pub fn decode_write_request(
    protocol: Protocol,
    body: &[u8],
    limits: &DistributorConfig,
) -> Result<DecodedWrite, PushError> {
    if body.len() > limits.max_request_body_bytes {
        return Err(PushError::bad(format!(
            "request body of {} bytes exceeds the limit of {} bytes (max_request_body_bytes)",
            body.len(),
            limits.max_request_body_bytes
        )));
    }
    let len =
        snap::raw::decompress_len(body).map_err(|e| PushError::bad(format!("body is not snappy-compressed: {e}")))?;
    if len > limits.max_decompressed_body_bytes {
        return Err(PushError::bad(format!(
            "decompressed request of {len} bytes exceeds the limit of {} bytes (max_decompressed_body_bytes)",
            limits.max_decompressed_body_bytes
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| PushError::bad(format!("body is not valid snappy: {e}")))?;
    let (series, metadata) = match protocol {
        Protocol::V1 => crate::decode_v1::decode(&raw)
            .map_err(|e| PushError::bad(format!("cannot decode prometheus.WriteRequest: {e}")))?,
        Protocol::V2 => {
            let req = v2::Request::decode(raw.as_slice())
                .map_err(|e| PushError::bad(format!("cannot decode io.prometheus.write.v2.Request: {e}")))?;
            if req.symbols.first().is_some_and(|s| !s.is_empty()) {
                return Err(PushError::bad(
                    "symbols[0] of a remote-write 2.0 request must be the empty string",
                ));
            }
            // Each symbol is allocated once and shared by every label that refers to it.
            let symbols: Vec<std::sync::Arc<str>> = req.symbols.into_iter().map(Into::into).collect();
            let mut metadata = Vec::new();
            let series = req
                .timeseries
                .into_iter()
                .map(|ts| from_v2(&symbols, ts, &mut metadata))
                .collect::<Result<Vec<_>, _>>()?;
            metadata.sort();
            metadata.dedup();
            (series, metadata)
        }
    };
    Ok(DecodedWrite {
        protocol,
        series,
        metadata,
    })
}

fn from_v2(
    symbols: &[std::sync::Arc<str>],
    ts: v2::TimeSeries,
    metadata: &mut Vec<MetricMetadata>,
) -> Result<RawSeries, PushError> {
    if !ts.labels_refs.len().is_multiple_of(2) {
        return Err(PushError::bad(format!(
            "labels_refs of a remote-write 2.0 series has odd length {}",
            ts.labels_refs.len()
        )));
    }
    let sym = |r: u32| {
        symbols.get(r as usize).cloned().ok_or_else(|| {
            PushError::bad(format!(
                "symbol reference {r} is out of range (the request has {} symbols)",
                symbols.len()
            ))
        })
    };
    let labels = ts
        .labels_refs
        .chunks_exact(2)
        .map(|p| {
            Ok(Label {
                name: sym(p[0])?,
                value: sym(p[1])?,
            })
        })
        .collect::<Result<Vec<_>, PushError>>()?;
    let name = labels.iter().find(|l| &*l.name == "__name__");
    if let (Some(m), Some(name)) = (&ts.metadata, name) {
        if m.r#type != 0 || m.help_ref != 0 || m.unit_ref != 0 {
            metadata.push(MetricMetadata {
                metric: name.value.to_string(),
                kind: MetricType::from_number(m.r#type.max(0) as u64),
                help: sym(m.help_ref)?.to_string(),
                unit: sym(m.unit_ref)?.to_string(),
            });
        }
    }
    Ok(RawSeries {
        labels,
        samples: ts.samples.iter().map(|s| Sample::new(s.timestamp, s.value)).collect(),
        histograms: ts
            .histograms
            .into_iter()
            .map(|h| crate::histogram::wire_histogram!(h, v2))
            .collect(),
        exemplars: ts.exemplars.len(),
    })
}

#[cfg(test)]
mod tests {
    use pyrite_proto::prometheus as v1;

    use super::*;

    fn compress(b: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(b).unwrap()
    }

    #[test]
    fn negotiation_follows_the_specs() {
        assert_eq!(negotiate(None, None).unwrap(), Protocol::V1);
        assert_eq!(
            negotiate(Some("application/x-protobuf"), Some("snappy")).unwrap(),
            Protocol::V1
        );
        assert_eq!(
            negotiate(Some("application/x-protobuf;proto=prometheus.WriteRequest"), None).unwrap(),
            Protocol::V1
        );
        assert_eq!(
            negotiate(
                Some("application/x-protobuf; proto=io.prometheus.write.v2.Request"),
                None
            )
            .unwrap(),
            Protocol::V2
        );
        for (ct, ce) in [
            (Some("application/json"), None),
            (Some("application/x-protobuf;proto=foo.Bar"), None),
            (None, Some("gzip")),
        ] {
            assert!(
                matches!(negotiate(ct, ce), Err(PushError::UnsupportedMediaType(_))),
                "{ct:?} {ce:?}"
            );
        }
    }

    #[test]
    fn v1_round_trip() {
        let req = crate::decode_v1::tests::up_request(10);
        let d = decode_write_request(
            Protocol::V1,
            &compress(&req.encode_to_vec()),
            &DistributorConfig::default(),
        )
        .unwrap();
        assert_eq!(d.series.len(), 1);
        assert_eq!(&*d.series[0].labels[0].value, "up");
        assert_eq!(d.series[0].samples, [Sample::new(10, 1.0)]);
    }

    #[test]
    fn v2_symbols_resolve_and_are_bounds_checked() {
        let mut req = v2::Request {
            symbols: vec!["".into(), "__name__".into(), "up".into()],
            timeseries: vec![v2::TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![v2::Sample {
                    value: 2.0,
                    timestamp: 5,
                }],
                ..Default::default()
            }],
        };
        let d = decode_write_request(
            Protocol::V2,
            &compress(&req.encode_to_vec()),
            &DistributorConfig::default(),
        )
        .unwrap();
        assert_eq!(d.series[0].labels, [Label::new("__name__", "up")]);
        req.timeseries[0].labels_refs = vec![1, 9];
        let e = decode_write_request(
            Protocol::V2,
            &compress(&req.encode_to_vec()),
            &DistributorConfig::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        req.timeseries[0].labels_refs = vec![1];
        assert!(decode_write_request(
            Protocol::V2,
            &compress(&req.encode_to_vec()),
            &DistributorConfig::default()
        )
        .is_err());
        req.symbols[0] = "x".into();
        assert!(decode_write_request(
            Protocol::V2,
            &compress(&req.encode_to_vec()),
            &DistributorConfig::default()
        )
        .is_err());
    }

    #[test]
    fn size_limits_apply_before_work() {
        let limits = DistributorConfig {
            max_request_body_bytes: 10,
            ..Default::default()
        };
        let e = decode_write_request(Protocol::V1, &[0u8; 11], &limits).unwrap_err();
        assert!(e.to_string().contains("max_request_body_bytes"));
        let limits = DistributorConfig {
            max_decompressed_body_bytes: 100,
            ..Default::default()
        };
        let e = decode_write_request(Protocol::V1, &compress(&[0u8; 1000]), &limits).unwrap_err();
        assert!(e.to_string().contains("max_decompressed_body_bytes"));
    }

    #[test]
    fn garbage_is_bad_data() {
        assert!(matches!(
            decode_write_request(Protocol::V1, b"not snappy at all", &DistributorConfig::default()),
            Err(PushError::BadRequest(_))
        ));
        let truncated = v1::WriteRequest {
            timeseries: vec![v1::TimeSeries {
                labels: vec![v1::Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
        .encode_to_vec();
        let cut = compress(&truncated[..truncated.len() - 2]);
        assert!(matches!(
            decode_write_request(Protocol::V1, &cut, &DistributorConfig::default()),
            Err(PushError::BadRequest(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            for p in [Protocol::V1, Protocol::V2] {
                let _ = decode_write_request(p, &bytes, &DistributorConfig::default());
                let _ = decode_write_request(p, &compress(&bytes), &DistributorConfig::default());
            }
        }
    }
}
