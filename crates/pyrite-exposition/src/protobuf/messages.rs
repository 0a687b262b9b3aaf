//! The `io.prometheus.client` messages (proto2) as exporters send them, written out by
//! hand with `prost` derives: no build script, no `.proto` file compiled.
//!
//! The invariant: every field number, wire type and label here is the one the
//! `io.prometheus.client` definition gives (cited beside each field), so bodies written
//! by any client library decode here and bodies encoded here decode there. Repeated
//! numbers are written unpacked, as proto2 writes them; decoding takes both forms.

/// `google.protobuf.Timestamp`: seconds and nanoseconds since the epoch.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct Timestamp {
    /// Field 1.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Field 2.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `LabelPair`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct LabelPair {
    /// Field 1.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Field 2.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// `MetricType`: which of a metric's value fields counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// The metric's `counter` field.
    Counter = 0,
    /// The metric's `gauge` field.
    Gauge = 1,
    /// The metric's `summary` field.
    Summary = 2,
    /// The metric's `untyped` field.
    Untyped = 3,
    /// The metric's `histogram` field.
    Histogram = 4,
    /// The metric's `histogram` field, as a gauge.
    GaugeHistogram = 5,
}

/// `Gauge`.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct Gauge {
    /// Field 1.
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

/// `Counter`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Counter {
    /// Field 1.
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
    /// Field 2.
    #[prost(message, optional, tag = "2")]
    pub exemplar: Option<Exemplar>,
    /// Field 3.
    #[prost(message, optional, tag = "3")]
    pub created_timestamp: Option<Timestamp>,
}

/// `Quantile`.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct Quantile {
    /// Field 1.
    #[prost(double, optional, tag = "1")]
    pub quantile: Option<f64>,
    /// Field 2.
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
}

/// `Summary`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Summary {
    /// Field 1.
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    /// Field 2.
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
    /// Field 4.
    #[prost(message, optional, tag = "4")]
    pub created_timestamp: Option<Timestamp>,
}

/// `Untyped`.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct Untyped {
    /// Field 1.
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

/// `Histogram`: classic buckets (fields 1–4, 15) and native buckets (fields 5–14, 16).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Histogram {
    /// Field 1.
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    /// Field 4; overrides `sample_count` when above zero.
    #[prost(double, optional, tag = "4")]
    pub sample_count_float: Option<f64>,
    /// Field 2.
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    /// Field 3: classic buckets by increasing upper bound; the `+Inf` one is optional.
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// Field 15.
    #[prost(message, optional, tag = "15")]
    pub created_timestamp: Option<Timestamp>,
    /// Field 5 (sint32): the exponential schema, -4..=8.
    #[prost(sint32, optional, tag = "5")]
    pub schema: Option<i32>,
    /// Field 6: the zero bucket's half-width.
    #[prost(double, optional, tag = "6")]
    pub zero_threshold: Option<f64>,
    /// Field 7.
    #[prost(uint64, optional, tag = "7")]
    pub zero_count: Option<u64>,
    /// Field 8; overrides `zero_count` when above zero.
    #[prost(double, optional, tag = "8")]
    pub zero_count_float: Option<f64>,
    /// Field 9.
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    /// Field 10 (sint64): each bucket's count minus the previous bucket's.
    #[prost(sint64, repeated, packed = "false", tag = "10")]
    pub negative_delta: Vec<i64>,
    /// Field 11: absolute counts (float histograms).
    #[prost(double, repeated, packed = "false", tag = "11")]
    pub negative_count: Vec<f64>,
    /// Field 12; a span of offset 0 and length 0 marks a native histogram that has no
    /// buckets yet.
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    /// Field 13 (sint64).
    #[prost(sint64, repeated, packed = "false", tag = "13")]
    pub positive_delta: Vec<i64>,
    /// Field 14.
    #[prost(double, repeated, packed = "false", tag = "14")]
    pub positive_count: Vec<f64>,
    /// Field 16: exemplars of the native histogram (each should carry a timestamp).
    #[prost(message, repeated, tag = "16")]
    pub exemplars: Vec<Exemplar>,
}

/// `Bucket`: one classic bucket.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Bucket {
    /// Field 1: cumulative.
    #[prost(uint64, optional, tag = "1")]
    pub cumulative_count: Option<u64>,
    /// Field 4; overrides `cumulative_count` when above zero.
    #[prost(double, optional, tag = "4")]
    pub cumulative_count_float: Option<f64>,
    /// Field 2: inclusive.
    #[prost(double, optional, tag = "2")]
    pub upper_bound: Option<f64>,
    /// Field 3.
    #[prost(message, optional, tag = "3")]
    pub exemplar: Option<Exemplar>,
}

/// `BucketSpan`.
#[derive(Clone, Copy, PartialEq, ::prost::Message)]
pub struct BucketSpan {
    /// Field 1 (sint32): the gap after the previous span, or the first bucket's index.
    #[prost(sint32, optional, tag = "1")]
    pub offset: Option<i32>,
    /// Field 2.
    #[prost(uint32, optional, tag = "2")]
    pub length: Option<u32>,
}

/// `Exemplar`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Exemplar {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Field 2.
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
    /// Field 3.
    #[prost(message, optional, tag = "3")]
    pub timestamp: Option<Timestamp>,
}

/// `Metric`: labels, one value field (the family's type says which), a timestamp.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Metric {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Field 2.
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    /// Field 3.
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    /// Field 4.
    #[prost(message, optional, tag = "4")]
    pub summary: Option<Summary>,
    /// Field 5.
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    /// Field 7.
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
    /// Field 6: milliseconds since the epoch.
    #[prost(int64, optional, tag = "6")]
    pub timestamp_ms: Option<i64>,
}

/// `MetricFamily`: what one length-delimited message of a body holds.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MetricFamily {
    /// Field 1.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Field 2.
    #[prost(string, optional, tag = "2")]
    pub help: Option<String>,
    /// Field 3.
    #[prost(enumeration = "MetricType", optional, tag = "3")]
    pub r#type: Option<i32>,
    /// Field 4.
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
    /// Field 5.
    #[prost(string, optional, tag = "5")]
    pub unit: Option<String>,
}
