//! The Prometheus protobuf exposition format
//! (`application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
//! encoding=delimited`), the one native histograms are scraped in: a body is a sequence
//! of `MetricFamily` messages, each after its length as a varint.
//!
//! [`parse`] decodes a whole body into owned [`Family`] values: labels, optional
//! timestamp and one [`Value`] per metric, with native histograms already turned into
//! [`FloatHistogram`]s (integer deltas summed into absolute counts, spans as sent, the
//! counter-reset hint unknown, or gauge for gauge histograms). [`Family::series`] then
//! lays a family out as the flat series Prometheus's protobuf parser yields (`_count`,
//! `_sum`, `_bucket{le=…}`, `{quantile=…}`, native histograms as one series). It does
//! not relabel, sort labels or check for duplicate label names: that is the scrape
//! loop's work, as it is for the text formats.
//!
//! Where this differs from Prometheus, on purpose: whether a histogram is native is
//! decided per metric (Prometheus goes by the family's first metric, which agrees
//! whenever a family's histograms are of one kind, as client libraries write them);
//! native buckets are kept as sent, not compacted; a native histogram whose spans do
//! not cover its buckets, with a negative bucket count, a schema outside -4..=8 or
//! bucket indices past 32 bits fails the parse here instead of failing later at
//! append; metric and label names must have the classic syntax, as in the text formats.
//!
//! The invariant: no input makes [`parse`] panic or allocate more than the body's size
//! suggests; every length is checked against what is left before anything is read, and
//! a bad body gives an error naming the family's index in the body and what was wrong.

use prost::Message as _;
use pyrite_model::histogram::{CounterResetHint, Span};
use pyrite_model::{is_valid_label_name, is_valid_metric_name, FloatHistogram};

use crate::MetricType;

pub mod messages;
mod series;

pub use series::{format_label_float, Series, SeriesValue};

/// The content type a scraper asks for, as Prometheus sends it in `Accept`.
pub const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// One metric family: its metadata and its metrics, in body order.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    /// Empty when the body gives none.
    pub help: String,
    /// Counter, Gauge, Summary, Untyped, Histogram or GaugeHistogram.
    pub metric_type: MetricType,
    /// Empty when the body gives none.
    pub unit: String,
    pub metrics: Vec<Metric>,
}

/// One metric of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// In body order, without `__name__`.
    pub labels: Vec<(String, String)>,
    /// Milliseconds since the epoch; a timestamp of 0 counts as none, as Prometheus
    /// counts it.
    pub timestamp_ms: Option<i64>,
    pub value: Value,
}

/// A metric's value, of the kind its family's type says; a missing value field reads as
/// zeros, as Prometheus reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Counter(Counter),
    Gauge(f64),
    Untyped(f64),
    Summary(Summary),
    /// Histograms and gauge histograms.
    Histogram(Histogram),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Counter {
    pub value: f64,
    pub exemplar: Option<Exemplar>,
    /// Milliseconds since the epoch.
    pub created_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub sum: f64,
    pub quantiles: Vec<Quantile>,
    /// Milliseconds since the epoch.
    pub created_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantile {
    pub quantile: f64,
    pub value: f64,
}

/// A histogram: its classic form, and its native form when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `sample_count_float` when above zero, else `sample_count`.
    pub count: f64,
    pub sum: f64,
    /// The classic buckets as sent (cumulative; the `+Inf` one may be missing).
    pub buckets: Vec<Bucket>,
    /// Milliseconds since the epoch.
    pub created_ms: Option<i64>,
    /// Present when Prometheus would ingest this histogram as a native one: it has a
    /// bucket span (an empty one marks a native histogram with no buckets yet), a zero
    /// threshold above zero or an integer zero count above zero.
    pub native: Option<FloatHistogram>,
    /// The native histogram's exemplars, as sent.
    pub exemplars: Vec<Exemplar>,
}

/// One classic bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Inclusive.
    pub upper_bound: f64,
    /// `cumulative_count_float` when above zero, else `cumulative_count`.
    pub cumulative_count: f64,
    pub exemplar: Option<Exemplar>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Milliseconds since the epoch (truncated).
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtobufError {
    #[error("metric family {index} (at byte {offset}): {message}")]
    Length {
        index: usize,
        offset: usize,
        message: String,
    },
    #[error("metric family {index}: {source}")]
    Decode {
        index: usize,
        #[source]
        source: prost::DecodeError,
    },
    #[error("metric family {index} ({name:?}): {message}")]
    Invalid {
        index: usize,
        name: String,
        message: String,
    },
}

/// Decodes a whole body. Families without metrics are left out, as Prometheus leaves
/// them out; the first bad family stops the parse.
pub fn parse(body: &[u8]) -> Result<Vec<Family>, ProtobufError> {
    let mut out = Vec::new();
    for (index, message) in Messages::new(body).enumerate() {
        let message = message?;
        let mf = messages::MetricFamily::decode(message).map_err(|source| ProtobufError::Decode { index, source })?;
        if mf.metric.is_empty() {
            continue;
        }
        let name = mf.name.clone().unwrap_or_default();
        let family = family(mf).map_err(|message| ProtobufError::Invalid { index, name, message })?;
        out.push(family);
    }
    Ok(out)
}

/// The messages of a body, each checked to fit in what is left; stops after an error.
struct Messages<'a> {
    body: &'a [u8],
    pos: usize,
    index: usize,
    failed: bool,
}

impl<'a> Messages<'a> {
    fn new(body: &'a [u8]) -> Self {
        Messages {
            body,
            pos: 0,
            index: 0,
            failed: false,
        }
    }

    fn fail(&mut self, message: String) -> Option<Result<&'a [u8], ProtobufError>> {
        self.failed = true;
        Some(Err(ProtobufError::Length {
            index: self.index,
            offset: self.pos,
            message,
        }))
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<&'a [u8], ProtobufError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.body.len() {
            return None;
        }
        let rest = &self.body[self.pos..];
        let (len, prefix) = match varint(rest) {
            Ok(v) => v,
            Err(message) => return self.fail(message.into()),
        };
        let left = rest.len() - prefix;
        if len > left as u64 {
            return self.fail(format!("the length prefix says {len} bytes, but {left} are left"));
        }
        let message = &rest[prefix..prefix + len as usize];
        self.pos += prefix + len as usize;
        self.index += 1;
        Some(Ok(message))
    }
}

/// A varint at the start of `b`, and how many bytes it took.
fn varint(b: &[u8]) -> Result<(u64, usize), &'static str> {
    let mut value = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return Err("the length prefix overflows 64 bits");
            }
            return Ok((value, i + 1));
        }
    }
    if b.len() < 10 {
        Err("the length prefix is cut off")
    } else {
        Err("the length prefix is longer than 10 bytes")
    }
}

fn family(mf: messages::MetricFamily) -> Result<Family, String> {
    let name = mf.name.unwrap_or_default();
    if !is_valid_metric_name(&name) {
        return Err("invalid metric name".into());
    }
    let raw_type = mf.r#type.unwrap_or_default();
    let metric_type = match messages::MetricType::try_from(raw_type) {
        Ok(messages::MetricType::Counter) => MetricType::Counter,
        Ok(messages::MetricType::Gauge) => MetricType::Gauge,
        Ok(messages::MetricType::Summary) => MetricType::Summary,
        Ok(messages::MetricType::Untyped) => MetricType::Untyped,
        Ok(messages::MetricType::Histogram) => MetricType::Histogram,
        Ok(messages::MetricType::GaugeHistogram) => MetricType::GaugeHistogram,
        Err(_) => return Err(format!("unknown metric type {raw_type}")),
    };
    let metrics = mf
        .metric
        .into_iter()
        .enumerate()
        .map(|(i, m)| metric(m, metric_type).map_err(|e| format!("metric {i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Family {
        name,
        help: mf.help.unwrap_or_default(),
        metric_type,
        unit: mf.unit.unwrap_or_default(),
        metrics,
    })
}

fn labels(pairs: Vec<messages::LabelPair>) -> Result<Vec<(String, String)>, String> {
    pairs
        .into_iter()
        .map(|p| {
            let name = p.name.unwrap_or_default();
            if !is_valid_label_name(&name) {
                return Err(format!("invalid label name {name:?}"));
            }
            Ok((name, p.value.unwrap_or_default()))
        })
        .collect()
}

/// Milliseconds, truncated, wrapping as Prometheus's arithmetic wraps.
fn millis(t: messages::Timestamp) -> i64 {
    t.seconds
        .wrapping_mul(1000)
        .wrapping_add(i64::from(t.nanos / 1_000_000))
}

fn exemplar(e: messages::Exemplar) -> Result<Exemplar, String> {
    Ok(Exemplar {
        labels: labels(e.label).map_err(|m| format!("exemplar: {m}"))?,
        value: e.value.unwrap_or_default(),
        timestamp_ms: e.timestamp.map(millis),
    })
}

fn metric(m: messages::Metric, metric_type: MetricType) -> Result<Metric, String> {
    let value = match metric_type {
        MetricType::Counter => {
            let c = m.counter.unwrap_or_default();
            Value::Counter(Counter {
                value: c.value.unwrap_or_default(),
                exemplar: c.exemplar.map(exemplar).transpose()?,
                created_ms: c.created_timestamp.map(millis),
            })
        }
        MetricType::Gauge => Value::Gauge(m.gauge.unwrap_or_default().value.unwrap_or_default()),
        MetricType::Summary => {
            let s = m.summary.unwrap_or_default();
            Value::Summary(Summary {
                count: s.sample_count.unwrap_or_default(),
                sum: s.sample_sum.unwrap_or_default(),
                quantiles: s
                    .quantile
                    .iter()
                    .map(|q| Quantile {
                        quantile: q.quantile.unwrap_or_default(),
                        value: q.value.unwrap_or_default(),
                    })
                    .collect(),
                created_ms: s.created_timestamp.map(millis),
            })
        }
        MetricType::Histogram | MetricType::GaugeHistogram => Value::Histogram(histogram(
            m.histogram.unwrap_or_default(),
            metric_type == MetricType::GaugeHistogram,
        )?),
        _ => Value::Untyped(m.untyped.unwrap_or_default().value.unwrap_or_default()),
    };
    Ok(Metric {
        labels: labels(m.label)?,
        timestamp_ms: m.timestamp_ms.filter(|&t| t != 0),
        value,
    })
}

/// A count field pair: the float one when above zero, else the integer one.
fn count(float: Option<f64>, int: Option<u64>) -> f64 {
    match float {
        Some(f) if f > 0.0 => f,
        _ => int.unwrap_or_default() as f64,
    }
}

/// Whether Prometheus ingests this histogram as a native one.
fn is_native(h: &messages::Histogram) -> bool {
    !h.positive_span.is_empty()
        || !h.negative_span.is_empty()
        || h.zero_threshold.unwrap_or_default() > 0.0
        || h.zero_count.unwrap_or_default() > 0
}

fn histogram(mut h: messages::Histogram, gauge: bool) -> Result<Histogram, String> {
    let native = if is_native(&h) {
        Some(native(&mut h, gauge)?)
    } else {
        None
    };
    let buckets = h
        .bucket
        .into_iter()
        .map(|b| {
            Ok(Bucket {
                upper_bound: b.upper_bound.unwrap_or_default(),
                cumulative_count: count(b.cumulative_count_float, b.cumulative_count),
                exemplar: b.exemplar.map(exemplar).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Histogram {
        count: count(h.sample_count_float, h.sample_count),
        sum: h.sample_sum.unwrap_or_default(),
        buckets,
        created_ms: h.created_timestamp.map(millis),
        native,
        exemplars: h.exemplars.into_iter().map(exemplar).collect::<Result<_, _>>()?,
    })
}

/// The native form; takes the bucket vectors out of `h`.
fn native(h: &mut messages::Histogram, gauge: bool) -> Result<FloatHistogram, String> {
    let schema = h.schema.unwrap_or_default();
    if !(-4..=8).contains(&schema) {
        return Err(format!("native histogram schema {schema} is outside -4..=8"));
    }
    // A float histogram says so with a float count; otherwise counts come as deltas.
    let float = h.sample_count_float.unwrap_or_default() > 0.0 || h.zero_count_float.unwrap_or_default() > 0.0;
    let (count, zero_count) = if float {
        (
            h.sample_count_float.unwrap_or_default(),
            h.zero_count_float.unwrap_or_default(),
        )
    } else {
        (
            h.sample_count.unwrap_or_default() as f64,
            h.zero_count.unwrap_or_default() as f64,
        )
    };
    let side = |spans: &[messages::BucketSpan],
                deltas: &mut Vec<i64>,
                counts: &mut Vec<f64>,
                which: &str|
     -> Result<(Vec<Span>, Vec<f64>), String> {
        let buckets = if float {
            std::mem::take(counts)
        } else {
            absolute(deltas).map_err(|m| format!("{which} buckets: {m}"))?
        };
        if let Some(c) = buckets.iter().find(|c| **c < 0.0) {
            return Err(format!("{which} buckets: a negative count ({c})"));
        }
        let spans: Vec<Span> = spans
            .iter()
            .map(|s| Span {
                offset: s.offset.unwrap_or_default(),
                length: s.length.unwrap_or_default(),
            })
            .collect();
        // Bucket indices, one below each span and one past it, must fit in i32, as every
        // histogram computation assumes.
        let fits = |i: i64| i > i64::from(i32::MIN) && i <= i64::from(i32::MAX);
        let mut next = 0i64;
        for s in &spans {
            next += i64::from(s.offset);
            let start = next;
            next += i64::from(s.length);
            if !fits(start) || !fits(next) {
                return Err(format!("{which} spans reach past the bucket indices of 32 bits"));
            }
        }
        let covered: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
        if covered != buckets.len() as u64 {
            return Err(format!(
                "{which} spans cover {covered} buckets, but {} are given",
                buckets.len()
            ));
        }
        Ok((spans, buckets))
    };
    let (positive_spans, positive_buckets) = side(
        &h.positive_span,
        &mut h.positive_delta,
        &mut h.positive_count,
        "positive",
    )?;
    let (negative_spans, negative_buckets) = side(
        &h.negative_span,
        &mut h.negative_delta,
        &mut h.negative_count,
        "negative",
    )?;
    Ok(FloatHistogram {
        counter_reset_hint: if gauge {
            CounterResetHint::Gauge
        } else {
            CounterResetHint::Unknown
        },
        schema,
        zero_threshold: h.zero_threshold.unwrap_or_default(),
        zero_count,
        count,
        sum: h.sample_sum.unwrap_or_default(),
        positive_spans,
        positive_buckets,
        negative_spans,
        negative_buckets,
        custom_values: Vec::new(),
    })
}

/// Absolute counts from deltas (each bucket's count minus the previous one's).
fn absolute(deltas: &[i64]) -> Result<Vec<f64>, String> {
    let mut current = 0i64;
    deltas
        .iter()
        .map(|&d| {
            current = current.checked_add(d).ok_or("the counts overflow 64 bits")?;
            Ok(current as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests;
