//! A hand-written decoder for remote write 1.0's `prometheus.WriteRequest`, the hottest
//! path of ingestion. It reads label strings straight out of the request buffer into
//! shared strings (each distinct string allocated once per request), where a generated
//! decoder would allocate an owned `String` per label name and value first. Fields it
//! does not use (metadata, exemplar and histogram contents) are skipped; exemplars and
//! histograms are counted so validation can report them.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Buf;
use prost::encoding::decode_varint;
use pyrite_model::{Label, Sample};

use crate::decode::RawSeries;

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

/// Decodes an uncompressed `prometheus.WriteRequest`.
pub fn decode(mut buf: &[u8]) -> Result<Vec<RawSeries>, DecodeError> {
    let mut strings = Strings::default();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (field, wire) = key(&mut buf)?;
        if field == 1 && wire == LEN {
            out.push(series(len_delimited(&mut buf)?, &mut strings)?);
        } else {
            skip(&mut buf, wire)?;
        }
    }
    Ok(out)
}

fn series<'a>(mut buf: &'a [u8], strings: &mut Strings<'a>) -> Result<RawSeries, DecodeError> {
    let mut s = RawSeries {
        labels: Vec::new(),
        samples: Vec::new(),
        histograms: 0,
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
            (4, LEN) => {
                len_delimited(&mut buf)?;
                s.histograms += 1;
            }
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
                histograms: ts.histograms.len(),
                exemplars: ts.exemplars.len(),
            })
            .collect()
    }

    fn request() -> impl Strategy<Value = v1::WriteRequest> {
        let label = ("[a-z_]{0,6}", "\\PC{0,6}").prop_map(|(name, value)| v1::Label { name, value });
        let sample = (any::<i64>(), any::<f64>()).prop_map(|(timestamp, value)| v1::Sample { value, timestamp });
        let series = (
            prop::collection::vec(label, 0..5),
            prop::collection::vec(sample, 0..4),
            0..2usize,
        )
            .prop_map(|(labels, samples, n_exemplars)| v1::TimeSeries {
                labels,
                samples,
                exemplars: vec![v1::Exemplar::default(); n_exemplars],
                ..Default::default()
            });
        prop::collection::vec(series, 0..6).prop_map(|timeseries| v1::WriteRequest {
            timeseries,
            ..Default::default()
        })
    }

    proptest! {
        #[test]
        fn agrees_with_the_generated_decoder(req in request()) {
            let bytes = req.encode_to_vec();
            let got = decode(&bytes).unwrap();
            let want = reference(&bytes);
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(&g.labels, &w.labels);
                prop_assert_eq!(g.samples.len(), w.samples.len());
                for (a, b) in g.samples.iter().zip(&w.samples) {
                    prop_assert!(a.t == b.t && (a.v == b.v || (a.v.is_nan() && b.v.is_nan())));
                }
                prop_assert_eq!(g.exemplars, w.exemplars);
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
