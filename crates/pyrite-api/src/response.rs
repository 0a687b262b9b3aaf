//! The JSON shapes of the Prometheus HTTP API: the success/error envelope and the
//! encodings of vectors, matrices, scalars and strings.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pyrite_model::FloatHistogram;
use pyrite_promql::{InstantSample, QueryError, QueryResult, QueryStats, RangeSeries, Value};
use serde::Serialize;
use serde_json::{json, Value as Json};

/// An API failure with its Prometheus `errorType` and HTTP status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error_type: "bad_data",
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error_type: "internal",
            message: message.into(),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        Self {
            status: StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            error_type: e.error_type(),
            message: e.to_string(),
        }
    }
}

impl From<pyrite_storage::StorageError> for ApiError {
    fn from(e: pyrite_storage::StorageError) -> Self {
        QueryError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.error_type, "error": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    status: &'static str,
    data: T,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    infos: &'a [String],
}

/// A successful answer: `{"status":"success","data":…}` plus optional annotations,
/// serialized straight into the response body.
pub fn success(data: impl Serialize, warnings: &[String], infos: &[String]) -> Response {
    axum::Json(Envelope {
        status: "success",
        data,
        warnings,
        infos,
    })
    .into_response()
}

/// A float as Prometheus writes it in JSON (without the quotes): `NaN`, `+Inf`, `-Inf`, or
/// the shortest digits that read back as the same double, in plain decimal notation when
/// `1e-6 <= |v| < 1e21` (or `v` is zero) and otherwise in exponent notation with a signed,
/// at least two-digit exponent (`1e-07`, `1.234e+25`), as Go's `strconv.FormatFloat` spells
/// its `'e'` format.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        // Rust's `Display` never switches to exponent notation and, like Go's `'f'`
        // format with precision -1, prints the shortest round-tripping digits ("-0" too).
        return format!("{v}");
    }
    // `LowerExp` prints the same shortest digits as `1.5e-10` / `1e21`; only the
    // exponent's spelling differs from Go's.
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    let pad = if digits.len() < 2 { "0" } else { "" };
    format!("{mantissa}e{sign}{pad}{digits}")
}

/// A millisecond timestamp as JSON seconds with millisecond precision.
pub fn format_time(t: i64) -> Json {
    serde_json::to_value(Time(t)).unwrap_or(Json::Null)
}

/// Seconds as Prometheus writes them: an integer when whole, else with milliseconds.
/// `t / 1000.0` is the double nearest the decimal, and JSON floats print the shortest
/// text that reads back as the same double, so 1435781451.781 prints exactly.
struct Time(i64);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

/// One `[time, "value"]` pair.
struct Point(i64, f64);

impl Serialize for Point {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&Time(self.0))?;
        t.serialize_element(&format_value(self.1))?;
        t.end()
    }
}

/// A native histogram as Prometheus's API writes it: count, sum, and the non-empty
/// buckets as `[boundary rule, lower, upper, count]`, where the rule says which ends are
/// closed (0: upper only, 1: lower only, 3: both — the zero bucket).
struct Histogram<'a>(&'a FloatHistogram);

impl Serialize for Histogram<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let h = self.0;
        let zt = h.zero_threshold;
        let mut buckets: Vec<(u8, f64, f64, f64)> = Vec::new();
        for b in h.negative().iter().rev().filter(|b| b.count != 0.0) {
            buckets.push((1, b.lower, b.upper, b.count));
        }
        if h.zero_count != 0.0 {
            buckets.push((3, -zt, zt, h.zero_count));
        }
        for b in h.positive().iter().filter(|b| b.count != 0.0) {
            buckets.push((0, b.lower, b.upper, b.count));
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("count", &format_value(h.count))?;
        m.serialize_entry("sum", &format_value(h.sum))?;
        if !buckets.is_empty() {
            let rows: Vec<(u8, String, String, String)> = buckets
                .into_iter()
                .map(|(rule, lo, hi, c)| (rule, format_value(lo), format_value(hi), format_value(c)))
                .collect();
            m.serialize_entry("buckets", &rows)?;
        }
        m.end()
    }
}

/// One `[time, {histogram}]` pair.
struct HistogramPoint<'a>(i64, &'a FloatHistogram);

impl Serialize for HistogramPoint<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&Time(self.0))?;
        t.serialize_element(&Histogram(self.1))?;
        t.end()
    }
}

/// The `data` object of a query answer, serialized without building a JSON tree; with
/// `with_stats`, it carries the query's statistics as `stats` (Prometheus's `stats`
/// request parameter).
pub struct QueryData<'a> {
    pub result: &'a QueryResult,
    pub with_stats: bool,
}

/// `data.stats` as Prometheus writes it: `timings` in seconds and `samples` counts.
/// (Per-step counts, which Prometheus adds only behind a feature flag, are never given.)
#[derive(Serialize)]
struct StatsJson {
    timings: TimingsJson,
    samples: SamplesJson,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimingsJson {
    eval_total_time: f64,
    result_sort_time: f64,
    query_preparation_time: f64,
    inner_eval_time: f64,
    exec_queue_time: f64,
    exec_total_time: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SamplesJson {
    total_queryable_samples: i64,
    samples_read: i64,
    peak_samples: usize,
}

impl From<&QueryStats> for StatsJson {
    fn from(s: &QueryStats) -> Self {
        StatsJson {
            timings: TimingsJson {
                eval_total_time: s.eval_total_time,
                result_sort_time: s.result_sort_time,
                query_preparation_time: s.query_preparation_time,
                inner_eval_time: s.inner_eval_time,
                exec_queue_time: s.exec_queue_time,
                exec_total_time: s.exec_total_time,
            },
            samples: SamplesJson {
                total_queryable_samples: s.total_queryable_samples,
                samples_read: s.samples_read,
                peak_samples: s.peak_samples,
            },
        }
    }
}

/// A vector element: `value` for a float, `histogram` for a native histogram.
struct VectorItem<'a>(&'a InstantSample);

impl Serialize for VectorItem<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let x = self.0;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &x.labels)?;
        match &x.h {
            Some(h) => m.serialize_entry("histogram", &HistogramPoint(x.t, h))?,
            None => m.serialize_entry("value", &Point(x.t, x.v))?,
        }
        m.end()
    }
}

/// A matrix series: `values` and `histograms`, each only when it has points.
struct MatrixItem<'a>(&'a RangeSeries);

impl Serialize for MatrixItem<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let x = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("metric", &x.labels)?;
        if !x.samples.is_empty() || x.histograms.is_empty() {
            m.serialize_entry("values", &Points(&x.samples))?;
        }
        if !x.histograms.is_empty() {
            let hs: Vec<HistogramPoint> = x.histograms.iter().map(|(t, h)| HistogramPoint(*t, h)).collect();
            m.serialize_entry("histograms", &hs)?;
        }
        m.end()
    }
}

struct Points<'a>(&'a [(i64, f64)]);

impl Serialize for Points<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&(t, v)| Point(t, v)))
    }
}

impl Serialize for QueryData<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match &self.result.value {
            Value::Scalar { t, v } => {
                m.serialize_entry("resultType", "scalar")?;
                m.serialize_entry("result", &Point(*t, *v))?;
            }
            Value::String { t, s } => {
                m.serialize_entry("resultType", "string")?;
                m.serialize_entry("result", &(Time(*t), s))?;
            }
            Value::Vector(samples) => {
                m.serialize_entry("resultType", "vector")?;
                let items: Vec<VectorItem> = samples.iter().map(VectorItem).collect();
                m.serialize_entry("result", &items)?;
            }
            Value::Matrix(series) => {
                m.serialize_entry("resultType", "matrix")?;
                let items: Vec<MatrixItem> = series.iter().map(MatrixItem).collect();
                m.serialize_entry("result", &items)?;
            }
        }
        if self.with_stats {
            m.serialize_entry("stats", &StatsJson::from(&self.result.stats))?;
        }
        m.end()
    }
}

/// The `data` object of a query answer as a JSON value.
pub fn query_data(result: &QueryResult) -> Json {
    let data = QueryData {
        result,
        with_stats: false,
    };
    serde_json::to_value(data).unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_format_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(-2.5e-7), "-2.5e-07");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_time(1_435_781_451_781).to_string(), "1435781451.781");
        assert_eq!(format_time(1_435_781_451_000).to_string(), "1435781451");
        assert_eq!(format_time(5).to_string(), "0.005");
        assert_eq!(format_time(-1500).to_string(), "-1.5");
        assert_eq!(format_time(1_500).to_string(), "1.5");
    }

    /// Each value beside the text Go's `strconv.FormatFloat` gives with the format
    /// Prometheus's `jsonutil.MarshalFloat` picks for it.
    #[test]
    fn values_format_byte_for_byte_like_prometheus() {
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (1e-7, "1e-07"),
            (-1e-7, "-1e-07"),
            (1.5e-10, "1.5e-10"),
            (0.000001, "0.000001"),
            // The doubles either side of each switch-over.
            (f64::from_bits(1e-6f64.to_bits() - 1), "9.999999999999997e-07"),
            (f64::from_bits(1e21f64.to_bits() - 1), "999999999999999900000"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (1.234e25, "1.234e+25"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e100, "1e+100"),
            (1.5e-100, "1.5e-100"),
            (5e-324, "5e-324"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN, "-1.7976931348623157e+308"),
            (1234567.125, "1234567.125"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(v, want) in table {
            assert_eq!(format_value(v), want, "formatting {v:e}");
        }
    }

    #[test]
    fn histogram_boundaries_and_counts_use_the_same_formatting() {
        let h = FloatHistogram {
            count: 2e21,
            sum: 3e-7,
            zero_threshold: 1e-128,
            zero_count: 2e21,
            ..FloatHistogram::default()
        };
        let got = serde_json::to_string(&Histogram(&h)).unwrap();
        assert_eq!(
            got,
            r#"{"count":"2e+21","sum":"3e-07","buckets":[[3,"-1e-128","1e-128","2e+21"]]}"#
        );
    }

    #[test]
    fn stats_follow_the_result_in_prometheus_order() {
        let r = QueryResult {
            value: Value::Scalar { t: 1_000, v: 1.0 },
            warnings: vec![],
            infos: vec![],
            stats: QueryStats {
                eval_total_time: 0.5,
                total_queryable_samples: 7,
                samples_read: 3,
                peak_samples: 2,
                ..QueryStats::default()
            },
        };
        let text = serde_json::to_string(&QueryData {
            result: &r,
            with_stats: true,
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"resultType":"scalar","result":[1,"1"],"stats":{"timings":{"evalTotalTime":0.5,"resultSortTime":0.0,"queryPreparationTime":0.0,"innerEvalTime":0.0,"execQueueTime":0.0,"execTotalTime":0.0},"samples":{"totalQueryableSamples":7,"samplesRead":3,"peakSamples":2}}}"#
        );
    }

    #[test]
    fn histograms_render_in_prometheus_shape() {
        use pyrite_model::histogram::Span;
        use pyrite_model::Labels;
        let h = FloatHistogram {
            count: 6.0,
            sum: 3.5,
            zero_threshold: 0.001,
            zero_count: 1.0,
            positive_spans: vec![Span { offset: 0, length: 2 }],
            positive_buckets: vec![2.0, 0.0],
            negative_spans: vec![Span { offset: 1, length: 1 }],
            negative_buckets: vec![3.0],
            ..FloatHistogram::default()
        };
        let r = QueryResult {
            value: Value::Vector(vec![InstantSample {
                labels: Labels::from_pairs(&[("__name__", "h")]),
                t: 1_000,
                v: 0.0,
                h: Some(h.clone()),
            }]),
            warnings: vec![],
            infos: vec![],
            stats: Default::default(),
        };
        assert_eq!(
            query_data(&r),
            serde_json::json!({"resultType": "vector", "result": [{"metric": {"__name__": "h"},
                "histogram": [1, {"count": "6", "sum": "3.5", "buckets": [
                    [1, "-2", "-1", "3"], [3, "-0.001", "0.001", "1"], [0, "0.5", "1", "2"]]}]}]})
        );
        let r = QueryResult {
            value: Value::Matrix(vec![RangeSeries {
                labels: Labels::empty(),
                samples: vec![],
                histograms: vec![(2_000, h)],
            }]),
            warnings: vec![],
            infos: vec![],
            stats: Default::default(),
        };
        let got = query_data(&r);
        assert!(got["result"][0].get("values").is_none(), "{got}");
        assert_eq!(got["result"][0]["histograms"][0][1]["count"], "6");
    }
}
