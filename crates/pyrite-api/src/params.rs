//! Request parameters the way Prometheus reads them: from the query string and, for
//! POST, a form body; times as RFC 3339 or Unix seconds; durations as seconds or
//! PromQL durations (`5m`, `1h30m`).

use std::collections::HashMap;

use chrono::DateTime;

use crate::ApiError;

/// Every parameter of a request, repeated keys kept in order.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, Vec<String>>);

impl Params {
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        let sources = query.map(str::as_bytes).into_iter().chain(form_body);
        for src in sources {
            for (k, v) in form_urlencoded::parse(src) {
                map.entry(k.into_owned()).or_default().push(v.into_owned());
            }
        }
        Self(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key)
            .ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"{key}\": parameter is missing")))
    }

    /// A timestamp in milliseconds, or `default` when absent.
    pub fn time_or(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(s) => parse_time(s).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{key}\": {e}"))),
        }
    }

    /// A timestamp that must be given.
    pub fn required_time(&self, key: &str) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Err(ApiError::bad_data(format!(
                "invalid parameter \"{key}\": parameter is missing"
            ))),
            Some(_) => self.time_or(key, 0),
        }
    }

    /// A duration in milliseconds.
    pub fn duration(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|s| parse_duration(s).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{key}\": {e}"))))
            .transpose()
    }
}

/// Earliest and latest times Prometheus accepts as "no bound".
pub const MIN_TIME: i64 = -9_223_309_901_257_974;
pub const MAX_TIME: i64 = 9_223_309_901_257_974;

/// Parses RFC 3339 or (fractional) Unix seconds into milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        let ms = (secs * 1000.0).round();
        return Ok(ms.clamp(MIN_TIME as f64, MAX_TIME as f64) as i64);
    }
    // Go clients send these for "unbounded".
    match s {
        "0001-01-01T00:00:00Z" | "-292273086-05-16T16:47:06Z" => return Ok(MIN_TIME),
        "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME),
        _ => {}
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

pub use pyrite_config::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("2015-07-01T20:10:51.781Z").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("2015-07-01T22:10:51.781+02:00").unwrap(), 1_435_781_451_781);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("NaN").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15").unwrap(), 15_000);
        assert_eq!(parse_duration("0.5").unwrap(), 500);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500);
        assert_eq!(parse_duration("1m5s").unwrap(), 65_000);
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn params_merge_query_and_form() {
        let p = Params::parse(Some("match[]=a&match[]=b&start=1"), Some(b"match[]=c&end=2"));
        assert_eq!(p.all("match[]"), ["a", "b", "c"]);
        assert_eq!(p.get("end"), Some("2"));
        assert!(p.required("query").is_err());
    }
}
