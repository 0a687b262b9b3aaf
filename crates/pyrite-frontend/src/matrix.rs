//! Range-query answers as the frontend handles them: the series of a `matrix` answer
//! with each point kept as the exact JSON text the querier wrote (`[time,"value"]` or
//! `[time,{histogram}]`) beside its timestamp, so splitting, caching and merging copy
//! bytes and never re-encode a value.
//!
//! Invariant: within a [`Matrix`], each series' points are in time order and a matrix
//! covers one contiguous step range; merging assumes the parts it joins do not overlap.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::FrontendError;

/// A run of points in time order, each as its JSON text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Points {
    times: Vec<i64>,
    /// Where each point's text ends in `text`.
    ends: Vec<u32>,
    text: Vec<u8>,
}

impl Points {
    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Adds one point's JSON text; `None` if it is not `[time, …]`.
    pub fn push_raw(&mut self, raw: &str) -> Option<()> {
        self.times.push(raw_time(raw)?);
        self.text.extend_from_slice(raw.as_bytes());
        self.ends.push(u32::try_from(self.text.len()).ok()?);
        Some(())
    }

    fn start_of(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1] as usize
        }
    }

    /// The points with timestamps in `[start, end]`.
    pub fn slice(&self, start: i64, end: i64) -> Points {
        let from = self.times.partition_point(|&t| t < start);
        let to = self.times.partition_point(|&t| t <= end);
        if from >= to {
            return Points::default();
        }
        let base = self.start_of(from);
        let stop = self.ends[to - 1] as usize;
        Points {
            times: self.times[from..to].to_vec(),
            ends: self.ends[from..to].iter().map(|e| e - base as u32).collect(),
            text: self.text[base..stop].to_vec(),
        }
    }

    /// Appends points that all come later.
    pub fn append(&mut self, later: Points) {
        if self.is_empty() {
            *self = later;
            return;
        }
        let base = self.text.len() as u32;
        self.times.extend_from_slice(&later.times);
        self.ends.extend(later.ends.iter().map(|e| e + base));
        self.text.extend_from_slice(&later.text);
    }

    /// Writes the points as a JSON array.
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        let mut at = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.text[at..end as usize]);
            at = end as usize;
        }
        out.push(b']');
    }

    pub fn times(&self) -> &[i64] {
        &self.times
    }
}

/// The timestamp (in milliseconds) of a point's text `[seconds, …]`.
fn raw_time(raw: &str) -> Option<i64> {
    let rest = raw.trim_start().strip_prefix('[')?;
    let secs: f64 = rest[..rest.find(',')?].trim().parse().ok()?;
    Some((secs * 1000.0).round() as i64)
}

/// One series of a matrix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesPoints {
    pub values: Points,
    pub histograms: Points,
}

pub type Metric = BTreeMap<String, String>;

/// A matrix answer (or part of one) with its annotations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matrix {
    /// Keyed by the label set, which orders series as the querier does.
    pub series: BTreeMap<Metric, SeriesPoints>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    status: String,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

#[derive(Deserialize)]
struct RawData<'a> {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(borrow)]
    result: Vec<RawSeries<'a>>,
}

/// One series of a vector or matrix answer, its points as their JSON text.
#[derive(Deserialize)]
pub struct RawSeries<'a> {
    pub metric: Metric,
    #[serde(borrow, default)]
    pub value: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub histogram: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub values: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    pub histograms: Vec<&'a RawValue>,
}

/// A successful vector or matrix answer, read without decoding its points.
pub struct RawAnswer<'a> {
    pub result_type: String,
    pub result: Vec<RawSeries<'a>>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl<'a> RawAnswer<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, FrontendError> {
        let bad = |e: serde_json::Error| FrontendError::BadAnswer(e.to_string());
        let e: Envelope = serde_json::from_slice(body).map_err(bad)?;
        let (true, Some(data)) = (e.status == "success", e.data) else {
            return Err(FrontendError::BadAnswer("answer is not a success".into()));
        };
        let data: RawData = serde_json::from_str(data.get()).map_err(bad)?;
        Ok(RawAnswer {
            result_type: data.result_type,
            result: data.result,
            warnings: e.warnings,
            infos: e.infos,
        })
    }
}

/// A float point's text `[seconds,"value"]` as milliseconds and value.
pub fn float_point(raw: &RawValue) -> Option<(i64, f64)> {
    let (secs, v): (f64, &str) = serde_json::from_str(raw.get()).ok()?;
    let v = match v {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().ok()?,
    };
    Some(((secs * 1000.0).round() as i64, v))
}

/// The body of a successful API answer with `data` as given.
pub fn encode_answer(data: &Value, warnings: &[String], infos: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    write_envelope(&mut out, warnings, infos, |out| {
        serde_json::to_writer(out, data).expect("writing JSON to a Vec cannot fail")
    });
    out
}

/// `{"status":"success","data":…,"warnings":[…],"infos":[…]}` with `data` written by
/// `data`; empty annotation lists are left out.
fn write_envelope(out: &mut Vec<u8>, warnings: &[String], infos: &[String], data: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(br#"{"status":"success","data":"#);
    data(out);
    for (name, list) in [("warnings", warnings), ("infos", infos)] {
        if !list.is_empty() {
            out.extend_from_slice(format!(r#","{name}":"#).as_bytes());
            serde_json::to_writer(&mut *out, list).expect("writing JSON to a Vec cannot fail");
        }
    }
    out.push(b'}');
}

impl Matrix {
    /// Reads a range query's answer; `Ok(None)` when it is not a matrix or a point is
    /// not `[time, …]`.
    pub fn parse(body: &[u8]) -> Result<Option<Matrix>, FrontendError> {
        let RawAnswer {
            result_type,
            result,
            warnings,
            infos,
        } = RawAnswer::parse(body)?;
        if result_type != "matrix" {
            return Ok(None);
        }
        let mut series = BTreeMap::new();
        for s in result {
            let mut p = SeriesPoints::default();
            for (raw, into) in [(&s.values, &mut p.values), (&s.histograms, &mut p.histograms)] {
                for v in raw {
                    if into.push_raw(v.get()).is_none() {
                        return Ok(None);
                    }
                }
            }
            series.insert(s.metric, p);
        }
        Ok(Some(Matrix {
            series,
            warnings,
            infos,
        }))
    }

    /// The body of the API answer holding this matrix.
    pub fn body(&self) -> Vec<u8> {
        let size: usize = self
            .series
            .values()
            .map(|p| p.values.text.len() + p.histograms.text.len() + 2 * (p.values.len() + p.histograms.len()))
            .sum();
        let mut out = Vec::with_capacity(size + 64 * self.series.len() + 128);
        write_envelope(&mut out, &self.warnings, &self.infos, |out| {
            out.extend_from_slice(br#"{"resultType":"matrix","result":["#);
            for (i, (metric, p)) in self.series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                serde_json::to_writer(&mut *out, metric).expect("writing JSON to a Vec cannot fail");
                if !p.values.is_empty() || p.histograms.is_empty() {
                    out.extend_from_slice(br#","values":"#);
                    p.values.write_json(out);
                }
                if !p.histograms.is_empty() {
                    out.extend_from_slice(br#","histograms":"#);
                    p.histograms.write_json(out);
                }
                out.push(b'}');
            }
            out.extend_from_slice(b"]}");
        });
        out
    }

    /// Appends `later`, whose points all come after this matrix's. Annotations are
    /// kept once each.
    pub fn append(&mut self, later: Matrix) {
        for (metric, p) in later.series {
            let e = self.series.entry(metric).or_default();
            e.values.append(p.values);
            e.histograms.append(p.histograms);
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
        let series = self
            .series
            .iter()
            .filter_map(|(m, p)| {
                let s = SeriesPoints {
                    values: p.values.slice(start, end),
                    histograms: p.histograms.slice(start, end),
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
}

/// The cache's byte form of matrices: length-prefixed, little-endian, read back with
/// every length checked.
pub mod bin {
    use super::{Matrix, Metric, Points, SeriesPoints};

    pub fn put_u32(out: &mut Vec<u8>, v: usize) {
        out.extend_from_slice(&(v as u32).to_le_bytes());
    }

    pub fn put_i64(out: &mut Vec<u8>, v: i64) {
        out.extend_from_slice(&v.to_le_bytes());
    }

    fn put_str(out: &mut Vec<u8>, s: &str) {
        put_u32(out, s.len());
        out.extend_from_slice(s.as_bytes());
    }

    fn put_strings(out: &mut Vec<u8>, list: &[String]) {
        put_u32(out, list.len());
        list.iter().for_each(|s| put_str(out, s));
    }

    fn put_points(out: &mut Vec<u8>, p: &Points) {
        put_u32(out, p.times.len());
        p.times.iter().for_each(|&t| put_i64(out, t));
        p.ends.iter().for_each(|&e| put_u32(out, e as usize));
        put_u32(out, p.text.len());
        out.extend_from_slice(&p.text);
    }

    pub fn put_matrix(out: &mut Vec<u8>, m: &Matrix) {
        put_strings(out, &m.warnings);
        put_strings(out, &m.infos);
        put_u32(out, m.series.len());
        for (metric, p) in &m.series {
            put_u32(out, metric.len());
            for (k, v) in metric {
                put_str(out, k);
                put_str(out, v);
            }
            put_points(out, &p.values);
            put_points(out, &p.histograms);
        }
    }

    /// Reads what the `put_` functions wrote.
    pub struct Reader<'a>(pub &'a [u8]);

    impl Reader<'_> {
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            if n > self.0.len() {
                return None;
            }
            let (head, rest) = self.0.split_at(n);
            self.0 = rest;
            Some(head)
        }

        pub fn u32(&mut self) -> Option<usize> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
        }

        pub fn i64(&mut self) -> Option<i64> {
            Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
        }

        fn string(&mut self) -> Option<String> {
            let n = self.u32()?;
            String::from_utf8(self.take(n)?.to_vec()).ok()
        }

        fn strings(&mut self) -> Option<Vec<String>> {
            (0..self.u32()?).map(|_| self.string()).collect()
        }

        fn points(&mut self) -> Option<Points> {
            let n = self.u32()?;
            let times: Vec<i64> = self.take(n.checked_mul(8)?)?.chunks_exact(8).map(le_i64).collect();
            let ends: Vec<u32> = self.take(n.checked_mul(4)?)?.chunks_exact(4).map(le_u32).collect();
            let len = self.u32()?;
            let text = self.take(len)?.to_vec();
            let ordered = ends.windows(2).all(|w| w[0] <= w[1]) && ends.last().is_none_or(|&e| e as usize == len);
            (ordered && std::str::from_utf8(&text).is_ok()).then_some(Points { times, ends, text })
        }

        pub fn matrix(&mut self) -> Option<Matrix> {
            let warnings = self.strings()?;
            let infos = self.strings()?;
            let mut m = Matrix {
                warnings,
                infos,
                ..Matrix::default()
            };
            for _ in 0..self.u32()? {
                let metric: Metric = (0..self.u32()?)
                    .map(|_| Some((self.string()?, self.string()?)))
                    .collect::<Option<_>>()?;
                let values = self.points()?;
                let histograms = self.points()?;
                m.series.insert(metric, SeriesPoints { values, histograms });
            }
            Some(m)
        }
    }

    fn le_i64(b: &[u8]) -> i64 {
        i64::from_le_bytes(b.try_into().unwrap_or_default())
    }

    fn le_u32(b: &[u8]) -> u32 {
        u32::from_le_bytes(b.try_into().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Matrix {
        Matrix::parse(body.as_bytes()).unwrap().unwrap()
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
        assert_eq!(s.series.values().next().unwrap().values.times(), [2000, 3000]);
        assert_eq!(raw_time(r#"[3.5,"1"]"#), Some(3500));
        assert_eq!(raw_time(r#" [ 1.001 , {"count":"1"}]"#), Some(1001));
        let raw = |s: &str| float_point(&RawValue::from_string(s.to_string()).unwrap());
        assert_eq!(raw(r#"[1.5,"-Inf"]"#), Some((1500, f64::NEG_INFINITY)));
        assert_eq!(raw(r#"[2,"0.1"]"#), Some((2000, 0.1)));
        assert_eq!(raw(r#"[2,{"count":"1"}]"#), None);
    }

    /// Values in Prometheus's exponent notation pass through as the querier wrote them,
    /// and read back (for sharded queries) to doubles that format to the same text.
    #[test]
    fn exponent_notation_values_keep_their_text() {
        let text = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[1,"1e-07"],[2,"1.234e+25"],[3,"-0"],[4,"5e-324"],[5,"-1.7976931348623157e+308"]]}]}}"#;
        let m = answer(text);
        assert_eq!(String::from_utf8(m.body()).unwrap(), text);
        for v in [
            "1e-07",
            "1.5e-10",
            "1e+21",
            "1.234e+25",
            "0.000001",
            "-0",
            "5e-324",
            "1.7976931348623157e+308",
        ] {
            let raw = RawValue::from_string(format!("[1,\"{v}\"]")).unwrap();
            let (_, f) = float_point(&raw).unwrap();
            assert_eq!(pyrite_api::format_value(f), v);
        }
    }

    #[test]
    fn histograms_and_values_keep_their_text() {
        let text = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"h"},"values":[[1,"2"]],"histograms":[[2,{"count":"3","sum":"1.5","buckets":[[0,"0","1","3"]]}]]}]}}"#;
        let m = answer(text);
        assert_eq!(String::from_utf8(m.body()).unwrap(), text);
        let mut bytes = Vec::new();
        bin::put_matrix(&mut bytes, &m);
        assert_eq!(bin::Reader(&bytes).matrix(), Some(m));
        assert_eq!(
            bin::Reader(&bytes[..bytes.len() - 1]).matrix(),
            None,
            "a cut entry is no entry"
        );
    }

    #[test]
    fn what_is_not_a_matrix_is_told_apart() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(Matrix::parse(vector.as_bytes()).unwrap().is_none());
        let bad_point = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[5]}]}}"#;
        assert!(Matrix::parse(bad_point.as_bytes()).unwrap().is_none());
        assert!(Matrix::parse(br#"{"status":"error","error":"x"}"#).is_err());
    }
}
