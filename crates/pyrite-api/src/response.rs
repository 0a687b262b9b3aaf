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

/// The `data` object of a query answer, serialized without building a JSON tree.
pub struct QueryData<'a>(pub &'a QueryResult);

#[derive(Serialize)]
struct VectorItem<'a> {
    metric: &'a Labels,
    value: Point,
}

#[derive(Serialize)]
struct MatrixItem<'a> {
    metric: &'a Labels,
    values: Points<'a>,
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
        let mut m = s.serialize_map(Some(2))?;
        match &self.0.value {
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
                let items: Vec<VectorItem> = samples
                    .iter()
                    .map(|x| VectorItem {
                        metric: &x.labels,
                        value: Point(x.t, x.v),
                    })
                    .collect();
                m.serialize_entry("result", &items)?;
            }
            Value::Matrix(series) => {
                m.serialize_entry("resultType", "matrix")?;
                let items: Vec<MatrixItem> = series
                    .iter()
                    .map(|x| MatrixItem {
                        metric: &x.labels,
                        values: Points(&x.samples),
                    })
                    .collect();
                m.serialize_entry("result", &items)?;
            }
        }
        m.end()
    }
}

/// The `data` object of a query answer as a JSON value.
pub fn query_data(result: &QueryResult) -> Json {
    serde_json::to_value(QueryData(result)).unwrap_or(Json::Null)
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
