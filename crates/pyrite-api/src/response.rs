//! The JSON shapes of the Prometheus HTTP API: the success/error envelope and the
//! encodings of vectors, matrices, scalars and strings.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pyrite_model::Labels;
use pyrite_promql::{QueryError, QueryResult, Value};
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

/// A successful answer: `{"status":"success","data":…}` plus optional annotations.
pub fn success(data: impl Serialize, warnings: &[String], infos: &[String]) -> Response {
    let mut body = json!({"status": "success", "data": data});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    if !infos.is_empty() {
        body["infos"] = json!(infos);
    }
    axum::Json(body).into_response()
}

/// A float as Prometheus writes it in JSON: a string, `NaN`, `+Inf` or `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A millisecond timestamp as JSON seconds with millisecond precision.
pub fn format_time(t: i64) -> Json {
    let abs = t.unsigned_abs();
    let (secs, ms) = (abs / 1000, abs % 1000);
    let sign = if t < 0 { "-" } else { "" };
    if ms == 0 {
        return json!(t / 1000);
    }
    // Built from text so 1435781451.781 prints exactly, not as a rounded binary float.
    let frac = format!("{ms:03}");
    let text = format!("{sign}{secs}.{}", frac.trim_end_matches('0'));
    serde_json::from_str(&text).unwrap_or_else(|_| json!(t as f64 / 1000.0))
}

fn point(t: i64, v: f64) -> Json {
    json!([format_time(t), format_value(v)])
}

fn metric(labels: &Labels) -> Json {
    serde_json::to_value(labels).unwrap_or_else(|_| json!({}))
}

/// The `data` object of a query answer.
pub fn query_data(result: &QueryResult) -> Json {
    match &result.value {
        Value::Scalar { t, v } => json!({"resultType": "scalar", "result": point(*t, *v)}),
        Value::String { t, s } => json!({"resultType": "string", "result": [format_time(*t), s]}),
        Value::Vector(samples) => json!({
            "resultType": "vector",
            "result": samples.iter().map(|s| json!({"metric": metric(&s.labels), "value": point(s.t, s.v)})).collect::<Vec<_>>(),
        }),
        Value::Matrix(series) => json!({
            "resultType": "matrix",
            "result": series.iter().map(|s| json!({
                "metric": metric(&s.labels),
                "values": s.samples.iter().map(|(t, v)| point(*t, *v)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_format_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(-2.5e-7), "-0.00000025");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_time(1_435_781_451_781).to_string(), "1435781451.781");
        assert_eq!(format_time(1_435_781_451_000).to_string(), "1435781451");
        assert_eq!(format_time(5).to_string(), "0.005");
        assert_eq!(format_time(-1500).to_string(), "-1.5");
        assert_eq!(format_time(1_500).to_string(), "1.5");
    }
}
