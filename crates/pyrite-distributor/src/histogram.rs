//! Native histograms as remote write carries them, turned into [`FloatHistogram`]s:
//! integer histograms send bucket counts as deltas from the previous bucket, float
//! histograms send absolute counts; both send spans that must account for every bucket.

use pyrite_model::histogram::{CounterResetHint, FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA};

/// The fields of a remote-write histogram (1.0 and 2.0 share them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WireHistogram {
    pub count_int: Option<u64>,
    pub count_float: Option<f64>,
    pub sum: f64,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count_int: Option<u64>,
    pub zero_count_float: Option<f64>,
    pub negative_spans: Vec<Span>,
    pub negative_deltas: Vec<i64>,
    pub negative_counts: Vec<f64>,
    pub positive_spans: Vec<Span>,
    pub positive_deltas: Vec<i64>,
    pub positive_counts: Vec<f64>,
    /// 0 unknown, 1 reset, 2 not a reset, 3 gauge.
    pub reset_hint: i32,
    pub timestamp: i64,
    pub custom_values: Vec<f64>,
}

/// Converts a generated remote-write `Histogram` into a [`WireHistogram`]. Remote write
/// 1.0 and 2.0 generate distinct types of the same shape; `$proto` names the module.
macro_rules! wire_histogram {
    ($h:expr, $proto:ident) => {{
        use $proto::histogram::{Count, ZeroCount};
        let h = $h;
        let spans = |s: Vec<$proto::BucketSpan>| {
            s.into_iter()
                .map(|x| pyrite_model::histogram::Span {
                    offset: x.offset,
                    length: x.length,
                })
                .collect()
        };
        $crate::histogram::WireHistogram {
            count_int: match h.count {
                Some(Count::CountInt(n)) => Some(n),
                _ => None,
            },
            count_float: match h.count {
                Some(Count::CountFloat(n)) => Some(n),
                _ => None,
            },
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count_int: match h.zero_count {
                Some(ZeroCount::ZeroCountInt(n)) => Some(n),
                _ => None,
            },
            zero_count_float: match h.zero_count {
                Some(ZeroCount::ZeroCountFloat(n)) => Some(n),
                _ => None,
            },
            negative_spans: spans(h.negative_spans),
            negative_deltas: h.negative_deltas,
            negative_counts: h.negative_counts,
            positive_spans: spans(h.positive_spans),
            positive_deltas: h.positive_deltas,
            positive_counts: h.positive_counts,
            reset_hint: h.reset_hint,
            timestamp: h.timestamp,
            custom_values: h.custom_values,
        }
    }};
}
pub(crate) use wire_histogram;

fn absolute(deltas: &[i64]) -> Result<Vec<f64>, String> {
    let mut cur: i64 = 0;
    deltas
        .iter()
        .map(|d| {
            cur = cur.checked_add(*d).ok_or("bucket delta overflows")?;
            if cur < 0 {
                return Err(format!("bucket count {cur} is negative"));
            }
            Ok(cur as f64)
        })
        .collect()
}

fn check_spans(spans: &[Span], buckets: usize, side: &str) -> Result<(), String> {
    let n: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if n != buckets as u64 {
        return Err(format!(
            "{side} spans cover {n} buckets but {buckets} bucket counts were sent"
        ));
    }
    Ok(())
}

impl WireHistogram {
    /// A float histogram (a scraped one) as the write path takes one: float counts,
    /// absolute.
    pub fn from_float(timestamp: i64, h: FloatHistogram) -> WireHistogram {
        WireHistogram {
            count_int: None,
            count_float: Some(h.count),
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count_int: None,
            zero_count_float: Some(h.zero_count),
            negative_spans: h.negative_spans,
            negative_deltas: Vec::new(),
            negative_counts: h.negative_buckets,
            positive_spans: h.positive_spans,
            positive_deltas: Vec::new(),
            positive_counts: h.positive_buckets,
            reset_hint: match h.counter_reset_hint {
                CounterResetHint::Unknown => 0,
                CounterResetHint::Reset => 1,
                CounterResetHint::NotReset => 2,
                CounterResetHint::Gauge => 3,
            },
            timestamp,
            custom_values: h.custom_values,
        }
    }

    /// The histogram and its timestamp, or why it is malformed.
    pub fn into_float(self) -> Result<(i64, FloatHistogram), String> {
        let integer = self.count_int.is_some() || self.count_float.is_none();
        let (positive, negative, count, zero_count) = if integer {
            (
                absolute(&self.positive_deltas)?,
                absolute(&self.negative_deltas)?,
                self.count_int.unwrap_or(0) as f64,
                self.zero_count_int.unwrap_or(0) as f64,
            )
        } else {
            (
                self.positive_counts,
                self.negative_counts,
                self.count_float.unwrap_or(0.0),
                self.zero_count_float.unwrap_or(0.0),
            )
        };
        check_spans(&self.positive_spans, positive.len(), "positive")?;
        check_spans(&self.negative_spans, negative.len(), "negative")?;
        let custom = self.schema == CUSTOM_BUCKETS_SCHEMA;
        if !custom && !(-4..=8).contains(&self.schema) {
            return Err(format!("histogram schema {} is not supported", self.schema));
        }
        if custom && (!negative.is_empty() || self.custom_values.windows(2).any(|w| w[0] >= w[1])) {
            return Err("custom-bucket histogram needs increasing bounds and no negative buckets".into());
        }
        if !custom && !self.custom_values.is_empty() {
            return Err("only custom-bucket histograms carry custom bounds".into());
        }
        let h = FloatHistogram {
            counter_reset_hint: match self.reset_hint {
                1 => CounterResetHint::Reset,
                2 => CounterResetHint::NotReset,
                3 => CounterResetHint::Gauge,
                _ => CounterResetHint::Unknown,
            },
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count,
            count,
            sum: self.sum,
            positive_spans: self.positive_spans,
            positive_buckets: positive,
            negative_spans: self.negative_spans,
            negative_buckets: negative,
            custom_values: self.custom_values,
        };
        Ok((self.timestamp, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_deltas_become_absolute_counts() {
        let w = WireHistogram {
            count_int: Some(6),
            sum: 7.5,
            schema: 0,
            zero_count_int: Some(1),
            positive_spans: vec![Span { offset: 0, length: 3 }],
            positive_deltas: vec![1, 1, -1],
            timestamp: 42,
            reset_hint: 3,
            ..WireHistogram::default()
        };
        let (t, h) = w.into_float().unwrap();
        assert_eq!(t, 42);
        assert_eq!(h.positive_buckets, [1.0, 2.0, 1.0]);
        assert_eq!((h.count, h.zero_count, h.sum), (6.0, 1.0, 7.5));
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
    }

    #[test]
    fn malformed_histograms_are_refused() {
        let spans_mismatch = WireHistogram {
            count_float: Some(1.0),
            positive_spans: vec![Span { offset: 0, length: 2 }],
            positive_counts: vec![1.0],
            ..WireHistogram::default()
        };
        assert!(spans_mismatch.into_float().unwrap_err().contains("cover 2 buckets"));
        let negative = WireHistogram {
            count_int: Some(1),
            positive_spans: vec![Span { offset: 0, length: 2 }],
            positive_deltas: vec![1, -2],
            ..WireHistogram::default()
        };
        assert!(negative.into_float().unwrap_err().contains("negative"));
        let bad_schema = WireHistogram {
            schema: 9,
            ..WireHistogram::default()
        };
        assert!(bad_schema.into_float().is_err());
        let custom = WireHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count_float: Some(2.0),
            custom_values: vec![1.0, 0.5],
            ..WireHistogram::default()
        };
        assert!(custom.into_float().is_err());
    }
}
