//! A hand-written decoder for remote write 1.0's `prometheus.WriteRequest`, the hottest
//! path of ingestion. It reads label strings straight out of the request buffer into
//! shared strings (each distinct string allocated once per request), where a generated
//! decoder would allocate an owned `String` per label name and value first. Metric
//! metadata is decoded; exemplars are counted and their contents skipped.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Buf;
use prost::encoding::decode_varint;
use pyrite_model::{Label, Sample};
use pyrite_storage::{MetricMetadata, MetricType};

use crate::decode::RawSeries;
use crate::histogram::WireHistogram;
use pyrite_model::histogram::Span;

/// Why a body is not a valid `WriteRequest`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

fn err(msg: impl Into<String>) -> DecodeError {
    DecodeError(msg.into())
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// Reads one field key: (field number, wire type).
fn key(buf: &mut &[u8]) -> Result<(u64, u64), DecodeError> {
    let k = decode_varint(buf).map_err(|e| err(e.to_string()))?;
    Ok((k >> 3, k & 7))
}

/// Splits off a length-delimited field's bytes.
fn len_delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let n = decode_varint(buf).map_err(|e| err(e.to_string()))? as usize;
    if n > buf.len() {
        return Err(err(format!("field of {n} bytes overruns the message")));
    }
    let (field, rest) = buf.split_at(n);
    *buf = rest;
    Ok(field)
}

fn skip(buf: &mut &[u8], wire: u64) -> Result<(), DecodeError> {
    match wire {
        VARINT => {
            decode_varint(buf).map_err(|e| err(e.to_string()))?;
        }
        FIXED64 | FIXED32 => {
            let n = if wire == FIXED64 { 8 } else { 4 };
            if buf.len() < n {
                return Err(err("truncated fixed-width field"));
            }
            buf.advance(n);
        }
        LEN => {
            len_delimited(buf)?;
        }
        other => return Err(err(format!("unsupported wire type {other}"))),
    }
    Ok(())
}

/// Shares each distinct label string of one request.
#[derive(Default)]
struct Strings<'a>(HashMap<&'a str, Arc<str>>);

impl<'a> Strings<'a> {
    fn get(&mut self, bytes: &'a [u8]) -> Result<Arc<str>, DecodeError> {
        let s = std::str::from_utf8(bytes).map_err(|_| err("label is not valid UTF-8"))?;
        Ok(self.0.entry(s).or_insert_with(|| Arc::from(s)).clone())
    }
}

/// Decodes an uncompressed `prometheus.WriteRequest`: its series and its metadata.
pub fn decode(mut buf: &[u8]) -> Result<(Vec<RawSeries>, Vec<MetricMetadata>), DecodeError> {
    let mut strings = Strings::default();
    let mut out = Vec::new();
    let mut metadata = Vec::new();
    while !buf.is_empty() {
        let (field, wire) = key(&mut buf)?;
        match (field, wire) {
            (1, LEN) => out.push(series(len_delimited(&mut buf)?, &mut strings)?),
            (3, LEN) => metadata.push(metric_metadata(len_delimited(&mut buf)?)?),
            _ => skip(&mut buf, wire)?,
        }
    }
    Ok((out, metadata))
}

/// `prometheus.MetricMetadata`.
fn metric_metadata(mut buf: &[u8]) -> Result<MetricMetadata, DecodeError> {
    let mut m = MetricMetadata::default();
    let text = |b: &[u8], what: &str| {
        String::from_utf8(b.to_vec()).map_err(|_| err(format!("metadata {what} is not valid UTF-8")))
    };
    while !buf.is_empty() {
        let (field, wire) = key(&mut buf)?;
        match (field, wire) {
            (1, VARINT) => m.kind = MetricType::from_number(varint(&mut buf)?),
            (2, LEN) => m.metric = text(len_delimited(&mut buf)?, "metric family name")?,
            (4, LEN) => m.help = text(len_delimited(&mut buf)?, "help")?,
            (5, LEN) => m.unit = text(len_delimited(&mut buf)?, "unit")?,
            _ => skip(&mut buf, wire)?,
        }
    }
    Ok(m)
}

fn series<'a>(mut buf: &'a [u8], strings: &mut Strings<'a>) -> Result<RawSeries, DecodeError> {
    let mut s = RawSeries {
        labels: Vec::new(),
        samples: Vec::new(),
        histograms: Vec::new(),
        exemplars: 0,
    };
    while !buf.is_empty() {
        let (field, wire) = key(&mut buf)?;
        match (field, wire) {
            (1, LEN) => s.labels.push(label(len_delimited(&mut buf)?, strings)?),
            (2, LEN) => s.samples.push(sample(len_delimited(&mut buf)?)?),
            (3, LEN) => {
                len_delimited(&mut buf)?;
                s.exemplars += 1;
            }
            (4, LEN) => s.histograms.push(histogram(len_delimited(&mut buf)?)?),
            _ => skip(&mut buf, wire)?,
        }
    }
    Ok(s)
}

fn label<'a>(mut buf: &'a [u8], strings: &mut Strings<'a>) -> Result<Label, DecodeError> {
    let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
    while !buf.is_empty() {
        let (field, wire) = key(&mut buf)?;
        match (field, wire) {
            (1, LEN) => name = len_delimited(&mut buf)?,
            (2, LEN) => value = len_delimited(&mut buf)?,
            _ => skip(&mut buf, wire)?,
        }
    }
    Ok(Label::new(strings.get(name)?, strings.get(value)?))
}

fn varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    decode_varint(buf).map_err(|e| err(e.to_string()))
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn f64_le(buf: &mut &[u8]) -> Result<f64, DecodeError> {
    if buf.len() < 8 {
        return Err(err("truncated double"));
    }
    Ok(buf.get_f64_le())
}

/// A repeated `sint64`, packed or not.
fn sint64s(buf: &mut &[u8], wire: u64, out: &mut Vec<i64>) -> Result<(), DecodeError> {
    if wire == LEN {
        let mut packed = len_delimited(buf)?;
        while !packed.is_empty() {
            out.push(zigzag(varint(&mut packed)?));
        }
    } else {
        out.push(zigzag(varint(buf)?));
    }
    Ok(())
}

/// A repeated `double`, packed or not.
fn doubles(buf: &mut &[u8], wire: u64, out: &mut Vec<f64>) -> Result<(), DecodeError> {
    if wire == LEN {
        let mut packed = len_delimited(buf)?;
        while !packed.is_empty() {
            out.push(f64_le(&mut packed)?);
        }
    } else {
        out.push(f64_le(buf)?);
    }
    Ok(())
}

fn span(mut buf: &[u8]) -> Result<Span, DecodeError> {
    let mut s = Span { offset: 0, length: 0 };
    while !buf.is_empty() {
        let (field, wire) = key(&mut buf)?;
        match (field, wire) {
            (1, VARINT) => s.offset = zigzag(varint(&mut buf)?) as i32,
            (2, VARINT) => s.length = varint(&mut buf)? as u32,
            _ => skip(&mut buf, wire)?,
        }
    }
    Ok(s)
}

fn histogram(mut buf: &[u8]) -> Result<WireHistogram, DecodeError> {
    let mut h = WireHistogram::default();
    while !buf.is_empty() {
        let (field, wire) = key(&mut buf)?;
        match (field, wire) {
            (1, VARINT) => h.count_int = Some(varint(&mut buf)?),
            (2, FIXED64) => h.count_float = Some(f64_le(&mut buf)?),
            (3, FIXED64) => h.sum = f64_le(&mut buf)?,
            (4, VARINT) => h.schema = zigzag(varint(&mut buf)?) as i32,
            (5, FIXED64) => h.zero_threshold = f64_le(&mut buf)?,
            (6, VARINT) => h.zero_count_int = Some(varint(&mut buf)?),
            (7, FIXED64) => h.zero_count_float = Some(f64_le(&mut buf)?),
            (8, LEN) => h.negative_spans.push(span(len_delimited(&mut buf)?)?),
            (9, _) => sint64s(&mut buf, wire, &mut h.negative_deltas)?,
            (10, _) => doubles(&mut buf, wire, &mut h.negative_counts)?,
            (11, LEN) => h.positive_spans.push(span(len_delimited(&mut buf)?)?),
            (12, _) => sint64s(&mut buf, wire, &mut h.positive_deltas)?,
            (13, _) => doubles(&mut buf, wire, &mut h.positive_counts)?,
            (14, VARINT) => h.reset_hint = varint(&mut buf)? as i32,
            (15, VARINT) => h.timestamp = varint(&mut buf)? as i64,
            (16, _) => doubles(&mut buf, wire, &mut h.custom_values)?,
            _ => skip(&mut buf, wire)?,
        }
    }
    Ok(h)
}

fn sample(mut buf: &[u8]) -> Result<Sample, DecodeError> {
    let mut s = Sample::new(0, 0.0);
    while !buf.is_empty() {
        let (field, wire) = key(&mut buf)?;
        match (field, wire) {
            (1, FIXED64) => {
                if buf.len() < 8 {
                    return Err(err("truncated sample value"));
                }
                s.v = buf.get_f64_le();
            }
            (2, VARINT) => s.t = decode_varint(&mut buf).map_err(|e| err(e.to_string()))? as i64,
            _ => skip(&mut buf, wire)?,
        }
    }
    Ok(s)
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;
    use prost::Message;
    use pyrite_proto::prometheus as v1;

    use super::*;

    /// What the generated decoder makes of the same bytes.
    fn reference(bytes: &[u8]) -> Vec<RawSeries> {
        v1::WriteRequest::decode(bytes)
            .unwrap()
            .timeseries
            .into_iter()
            .map(|ts| RawSeries {
                labels: ts.labels.into_iter().map(|l| Label::new(l.name, l.value)).collect(),
                samples: ts.samples.iter().map(|s| Sample::new(s.timestamp, s.value)).collect(),
                histograms: ts
                    .histograms
                    .into_iter()
                    .map(|h| crate::histogram::wire_histogram!(h, v1))
                    .collect(),
                exemplars: ts.exemplars.len(),
            })
            .collect()
    }

    fn histogram_strategy() -> impl Strategy<Value = v1::Histogram> {
        (
            any::<bool>(),
            any::<u32>(),
            -4i32..=8,
            prop::collection::vec(-5i64..5, 0..4),
            prop::collection::vec(0.0f64..100.0, 0..4),
            any::<i64>(),
            0i32..4,
        )
            .prop_map(|(int, n, schema, deltas, counts, timestamp, hint)| {
                let len = if int { deltas.len() } else { counts.len() } as u32;
                v1::Histogram {
                    count: Some(if int {
                        v1::histogram::Count::CountInt(u64::from(n))
                    } else {
                        v1::histogram::Count::CountFloat(f64::from(n))
                    }),
                    sum: f64::from(n) / 3.0,
                    schema,
                    zero_threshold: 0.001,
                    zero_count: Some(v1::histogram::ZeroCount::ZeroCountInt(1)),
                    positive_spans: vec![v1::BucketSpan {
                        offset: -1,
                        length: len,
                    }],
                    positive_deltas: if int { deltas } else { Vec::new() },
                    positive_counts: if int { Vec::new() } else { counts.clone() },
                    negative_counts: if int { Vec::new() } else { counts },
                    reset_hint: hint,
                    timestamp,
                    custom_values: Vec::new(),
                    ..Default::default()
                }
            })
    }

    fn request() -> impl Strategy<Value = v1::WriteRequest> {
        let label = ("[a-z_]{0,6}", "\\PC{0,6}").prop_map(|(name, value)| v1::Label { name, value });
        let sample = (any::<i64>(), any::<f64>()).prop_map(|(timestamp, value)| v1::Sample { value, timestamp });
        let series = (
            prop::collection::vec(label, 0..5),
            prop::collection::vec(sample, 0..4),
            0..2usize,
            prop::collection::vec(histogram_strategy(), 0..2),
        )
            .prop_map(|(labels, samples, n_exemplars, histograms)| v1::TimeSeries {
                labels,
                samples,
                exemplars: vec![v1::Exemplar::default(); n_exemplars],
                histograms,
            });
        let metadata = (0i32..9, "[a-z_]{0,6}", "\\PC{0,8}", "[a-z]{0,3}").prop_map(|(r#type, name, help, unit)| {
            v1::MetricMetadata {
                r#type,
                metric_family_name: name,
                help,
                unit,
            }
        });
        (
            prop::collection::vec(series, 0..6),
            prop::collection::vec(metadata, 0..3),
        )
            .prop_map(|(timeseries, metadata)| v1::WriteRequest { timeseries, metadata })
    }

    proptest! {
        #[test]
        fn agrees_with_the_generated_decoder(req in request()) {
            let bytes = req.encode_to_vec();
            let (got, metadata) = decode(&bytes).unwrap();
            let want = reference(&bytes);
            prop_assert_eq!(metadata.len(), req.metadata.len());
            for (g, w) in metadata.iter().zip(&req.metadata) {
                prop_assert_eq!(&g.metric, &w.metric_family_name);
                prop_assert_eq!((&g.help, &g.unit), (&w.help, &w.unit));
                prop_assert_eq!(g.kind.number() as i32, if w.r#type < 8 { w.r#type } else { 0 });
            }
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(&g.labels, &w.labels);
                prop_assert_eq!(g.samples.len(), w.samples.len());
                for (a, b) in g.samples.iter().zip(&w.samples) {
                    prop_assert!(a.t == b.t && (a.v == b.v || (a.v.is_nan() && b.v.is_nan())));
                }
                prop_assert_eq!(g.exemplars, w.exemplars);
                prop_assert_eq!(&g.histograms, &w.histograms);
            }
        }

        #[test]
        fn never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }

    /// One series `up` with one sample at `t`, as remote write 1.0 sends it.
    pub(crate) fn up_request(t: i64) -> v1::WriteRequest {
        v1::WriteRequest {
            timeseries: vec![v1::TimeSeries {
                labels: vec![v1::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![v1::Sample {
                    value: 1.0,
                    timestamp: t,
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn truncated_and_malformed_input_is_an_error() {
        let req = up_request(5);
        let bytes = req.encode_to_vec();
        assert!(decode(&bytes[..bytes.len() - 3]).is_err());
        // A label value that is not UTF-8.
        let bad = [0x0a, 0x06, 0x0a, 0x04, 0x12, 0x02, 0xff, 0xfe];
        assert!(decode(&bad).is_err());
    }
}
