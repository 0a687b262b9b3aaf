//! `load_with_nhcb`: classic histogram series (`_bucket` with `le`, `_count`, `_sum`)
//! loaded a second time as native histograms with custom buckets, one per base name and
//! timestamp, the way the scripts expect.

use std::collections::BTreeMap;

use pyrite_model::histogram::{Span, CUSTOM_BUCKETS_SCHEMA};
use pyrite_model::{FloatHistogram, Labels};

use super::script::{Point, SeriesDesc};

#[derive(Default)]
struct Partial {
    /// `(le, cumulative count)`, sorted by `le`.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
    bad: bool,
}

impl Partial {
    fn set_bucket(&mut self, le: f64, count: f64) {
        if count < 0.0 {
            self.bad = true;
            return;
        }
        let i = self.buckets.partition_point(|b| b.0 < le);
        if self.buckets.get(i).is_some_and(|b| b.0 == le) {
            return;
        }
        let below = i.checked_sub(1).map(|j| self.buckets[j].1);
        let above = self.buckets.get(i).map(|b| b.1);
        if below.is_some_and(|c| count < c) || above.is_some_and(|c| count > c) {
            self.bad = true;
            return;
        }
        self.buckets.insert(i, (le, count));
    }

    fn into_histogram(mut self) -> Option<FloatHistogram> {
        if self.bad {
            return None;
        }
        let count = self.count.or(self.buckets.last().map(|b| b.1)).unwrap_or(0.0);
        if self.buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
            self.buckets.push((f64::INFINITY, count));
        }
        let mut prev = 0.0;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (_, c) in &self.buckets {
            buckets.push(c - prev);
            prev = *c;
        }
        Some(FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: self.sum,
            positive_spans: vec![Span {
                offset: 0,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets,
            custom_values: self.buckets[..self.buckets.len() - 1].iter().map(|b| b.0).collect(),
            ..FloatHistogram::default()
        })
    }
}

/// The native histogram series the classic ones among `series` convert to.
pub fn convert(series: &[SeriesDesc], interval: i64) -> Vec<(Labels, Vec<(i64, FloatHistogram)>)> {
    let mut by_base: BTreeMap<Labels, BTreeMap<i64, Partial>> = BTreeMap::new();
    for s in series {
        let name = s.labels.metric_name();
        let (base, part) = if let Some(b) = name.strip_suffix("_bucket") {
            match s.labels.get("le").parse::<f64>() {
                Ok(le) if !le.is_nan() => (b, Some(le)),
                _ => continue,
            }
        } else if let Some(b) = name.strip_suffix("_count") {
            (b, None)
        } else if let Some(b) = name.strip_suffix("_sum") {
            (b, None)
        } else {
            continue;
        };
        let mut lb = s.labels.without(&["le"]).to_builder();
        lb.set("__name__", base);
        let per_t = by_base.entry(lb.build()).or_default();
        for (i, p) in s.points.iter().enumerate() {
            let Point::Float(v) = p else { continue };
            let h = per_t.entry(i as i64 * interval).or_default();
            match part {
                Some(le) => h.set_bucket(le, *v),
                None if name.ends_with("_count") => {
                    if *v < 0.0 {
                        h.bad = true;
                    }
                    h.count = Some(*v);
                }
                None => h.sum = *v,
            }
        }
    }
    by_base
        .into_iter()
        .map(|(labels, per_t)| {
            let samples = per_t
                .into_iter()
                .filter_map(|(t, p)| p.into_histogram().map(|h| (t, h)))
                .collect();
            (labels, samples)
        })
        .collect()
}
