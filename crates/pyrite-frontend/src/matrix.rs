//! Range-query answers as the frontend handles them: the series of a `matrix` answer
//! with their points kept exactly as the querier wrote them (`[time, "value"]` and
//! `[time, {histogram}]`), so splitting, caching and merging never re-encode a value.
//!
//! Invariant: within a [`Matrix`], each series' points are in time order and a matrix
//! covers one contiguous step range; merging assumes the parts it joins do not overlap.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::FrontendError;

/// One series of a matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoints {
    pub values: Vec<Value>,
    pub histograms: Vec<Value>,
}

/// A matrix answer (or part of one) with its annotations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// Keyed by the label set, which orders series as the querier does.
    #[serde(with = "series_list")]
    pub series: BTreeMap<BTreeMap<String, String>, SeriesPoints>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// Series keyed by label sets, kept (in the cache) as a list of pairs: JSON map keys
/// are strings only.
mod series_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::SeriesPoints;

    type Series = BTreeMap<BTreeMap<String, String>, SeriesPoints>;

    pub fn serialize<S: Serializer>(m: &Series, s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(&BTreeMap<String, String>, &SeriesPoints)> = m.iter().collect();
        pairs.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Series, D::Error> {
        let pairs: Vec<(BTreeMap<String, String>, SeriesPoints)> = Vec::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

/// A point's timestamp in milliseconds.
pub fn point_time(p: &Value) -> i64 {
    p.get(0)
        .and_then(Value::as_f64)
        .map_or(i64::MIN, |s| (s * 1000.0).round() as i64)
}

/// A successful answer's body, split into `data` and annotations.
pub struct Answer {
    pub data: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

impl Answer {
    pub fn parse(body: &[u8]) -> Result<Answer, FrontendError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| FrontendError::BadAnswer(e.to_string()))?;
        if v["status"] != "success" {
            return Err(FrontendError::BadAnswer("answer is not a success".into()));
        }
        Ok(Answer {
            data: v["data"].clone(),
            warnings: strings(&v["warnings"]),
            infos: strings(&v["infos"]),
        })
    }

    /// The body of a successful API answer, as the querier writes it.
    pub fn encode(data: &Value, warnings: &[String], infos: &[String]) -> Vec<u8> {
        let mut m = serde_json::Map::new();
        m.insert("status".into(), "success".into());
        m.insert("data".into(), data.clone());
        if !warnings.is_empty() {
            m.insert("warnings".into(), warnings.into());
        }
        if !infos.is_empty() {
            m.insert("infos".into(), infos.into());
        }
        // serde_json orders keys; the envelope's order does not matter to clients.
        serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
    }
}

impl Matrix {
    /// Reads the `data` of a range query's answer; `None` when it is not a matrix.
    pub fn from_answer(a: &Answer) -> Option<Matrix> {
        if a.data["resultType"] != "matrix" {
            return None;
        }
        let mut series = BTreeMap::new();
        for s in a.data["result"].as_array()? {
            let metric: BTreeMap<String, String> = serde_json::from_value(s["metric"].clone()).ok()?;
            let points = SeriesPoints {
                values: s["values"].as_array().cloned().unwrap_or_default(),
                histograms: s["histograms"].as_array().cloned().unwrap_or_default(),
            };
            series.insert(metric, points);
        }
        Some(Matrix {
            series,
            warnings: a.warnings.clone(),
            infos: a.infos.clone(),
        })
    }

    /// The `data` object of this matrix.
    pub fn data(&self) -> Value {
        let result: Vec<Value> = self
            .series
            .iter()
            .map(|(metric, p)| {
                let mut m = serde_json::Map::new();
                m.insert("metric".into(), serde_json::to_value(metric).unwrap_or_default());
                if !p.values.is_empty() || p.histograms.is_empty() {
                    m.insert("values".into(), Value::Array(p.values.clone()));
                }
                if !p.histograms.is_empty() {
                    m.insert("histograms".into(), Value::Array(p.histograms.clone()));
                }
                Value::Object(m)
            })
            .collect();
        serde_json::json!({"resultType": "matrix", "result": result})
    }

    pub fn body(&self) -> Vec<u8> {
        Answer::encode(&self.data(), &self.warnings, &self.infos)
    }

    /// Appends `later`, whose points all come after this matrix's. Annotations are
    /// kept once each.
    pub fn append(&mut self, later: Matrix) {
        for (metric, p) in later.series {
            let e = self.series.entry(metric).or_insert_with(|| SeriesPoints {
                values: Vec::new(),
                histograms: Vec::new(),
            });
            e.values.extend(p.values);
            e.histograms.extend(p.histograms);
        }
        for w in later.warnings {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        for i in later.infos {
            if !self.infos.contains(&i) {
                self.infos.push(i);
            }
        }
    }

    /// The points with timestamps in `[start, end]`; series left without points go.
    pub fn slice(&self, start: i64, end: i64) -> Matrix {
        let keep = |pts: &[Value]| -> Vec<Value> {
            pts.iter()
                .filter(|p| (start..=end).contains(&point_time(p)))
                .cloned()
                .collect()
        };
        let series = self
            .series
            .iter()
            .filter_map(|(m, p)| {
                let s = SeriesPoints {
                    values: keep(&p.values),
                    histograms: keep(&p.histograms),
                };
                (!s.values.is_empty() || !s.histograms.is_empty()).then(|| (m.clone(), s))
            })
            .collect();
        Matrix {
            series,
            warnings: self.warnings.clone(),
            infos: self.infos.clone(),
        }
    }

    /// Rough size in bytes, for the cache's budget.
    pub fn size_bytes(&self) -> usize {
        serde_json::to_vec(self).map_or(0, |v| v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Matrix {
        Matrix::from_answer(&Answer::parse(body.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn parts_append_slice_and_encode_back() {
        let a = answer(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"1"},"values":[[1,"1"],[2,"2"]]}]},"warnings":["w"]}"#,
        );
        let b = answer(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"1"},"values":[[3,"3"]]},{"metric":{"a":"0"},"values":[[3.5,"NaN"]]}]},"warnings":["w"]}"#,
        );
        let mut m = a.clone();
        m.append(b);
        let body: Value = serde_json::from_slice(&m.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"status":"success","warnings":["w"],"data":{"resultType":"matrix","result":[
                {"metric":{"a":"0"},"values":[[3.5,"NaN"]]},
                {"metric":{"a":"1"},"values":[[1,"1"],[2,"2"],[3,"3"]]}]}})
        );
        let s = m.slice(2000, 3000);
        assert_eq!(s.series.len(), 1);
        assert_eq!(s.series.values().next().unwrap().values.len(), 2);
        assert_eq!(point_time(&serde_json::json!([3.5, "1"])), 3500);
    }
}
