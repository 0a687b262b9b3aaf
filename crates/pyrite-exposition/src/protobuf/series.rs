//! A parsed family laid out as the flat series Prometheus's protobuf parser yields, so
//! the scrape loop stores what Prometheus would store from the same body.

use std::borrow::Cow;

use pyrite_model::histogram::go_float;
use pyrite_model::FloatHistogram;

use super::{Exemplar, Family, Histogram, Metric, Value};

/// One series of a family as Prometheus's protobuf parser yields it.
#[derive(Debug, Clone, PartialEq)]
pub struct Series<'a> {
    /// The metric name, with `_count`, `_sum` or `_bucket` where one belongs.
    pub name: Cow<'a, str>,
    /// The metric's own labels, in body order.
    pub metric_labels: &'a [(String, String)],
    /// `le` or `quantile` and its value, formatted as Prometheus formats it.
    pub extra_label: Option<(&'static str, String)>,
    pub timestamp_ms: Option<i64>,
    pub value: SeriesValue<'a>,
    /// What Prometheus takes as this series' exemplars: a counter's, a classic bucket's,
    /// or a native histogram's (only those with timestamps, and from its buckets when it
    /// lists none of its own).
    pub exemplars: Vec<&'a Exemplar>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeriesValue<'a> {
    Float(f64),
    Histogram(&'a FloatHistogram),
}

impl Series<'_> {
    /// The labels without `__name__`: the metric's, then `le` or `quantile`.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.metric_labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(self.extra_label.as_ref().map(|(n, v)| (*n, v.as_str())))
    }
}

impl Family {
    /// The family as flat series, in the order Prometheus's protobuf parser yields them.
    /// Per metric: counters, gauges and untyped metrics give one series; summaries
    /// `_count`, `_sum`, then one series per quantile; classic histograms `_count`,
    /// `_sum`, then `_bucket` per bucket up to the first `+Inf` one (added, with the
    /// count, when missing). A native histogram gives one series, followed by its
    /// classic form only with `scrape_classic_histograms` and when it has classic
    /// buckets. Created timestamps give no `_created` series: Prometheus's protobuf
    /// parser hands them to the scrape loop instead (the `created_ms` fields here).
    pub fn series(&self, scrape_classic_histograms: bool) -> Vec<Series<'_>> {
        let mut out = Vec::new();
        for m in &self.metrics {
            match &m.value {
                Value::Counter(c) => {
                    let mut s = self.one(m, None, c.value);
                    s.exemplars.extend(c.exemplar.as_ref());
                    out.push(s);
                }
                Value::Gauge(v) | Value::Untyped(v) => out.push(self.one(m, None, *v)),
                Value::Summary(s) => {
                    out.push(self.one(m, Some("_count"), s.count as f64));
                    out.push(self.one(m, Some("_sum"), s.sum));
                    for q in &s.quantiles {
                        let mut series = self.one(m, None, q.value);
                        series.extra_label = Some(("quantile", format_label_float(q.quantile)));
                        out.push(series);
                    }
                }
                Value::Histogram(h) => {
                    if let Some(native) = &h.native {
                        let mut series = self.one(m, None, 0.0);
                        series.value = SeriesValue::Histogram(native);
                        series.exemplars = native_exemplars(h);
                        out.push(series);
                        if !scrape_classic_histograms || h.buckets.is_empty() {
                            continue;
                        }
                    }
                    self.classic(m, h, &mut out);
                }
            }
        }
        out
    }

    fn one<'a>(&'a self, m: &'a Metric, suffix: Option<&str>, value: f64) -> Series<'a> {
        Series {
            name: match suffix {
                None => Cow::Borrowed(&self.name),
                Some(suffix) => Cow::Owned(format!("{}{suffix}", self.name)),
            },
            metric_labels: &m.labels,
            extra_label: None,
            timestamp_ms: m.timestamp_ms,
            value: SeriesValue::Float(value),
            exemplars: Vec::new(),
        }
    }

    fn classic<'a>(&'a self, m: &'a Metric, h: &'a Histogram, out: &mut Vec<Series<'a>>) {
        out.push(self.one(m, Some("_count"), h.count));
        out.push(self.one(m, Some("_sum"), h.sum));
        for b in &h.buckets {
            let mut s = self.one(m, Some("_bucket"), b.cumulative_count);
            s.extra_label = Some(("le", format_label_float(b.upper_bound)));
            s.exemplars.extend(b.exemplar.as_ref());
            out.push(s);
            if b.upper_bound == f64::INFINITY {
                return;
            }
        }
        let mut s = self.one(m, Some("_bucket"), h.count);
        s.extra_label = Some(("le", "+Inf".into()));
        out.push(s);
    }
}

/// A native histogram's exemplars as Prometheus takes them: its own list when it has
/// one, else its classic buckets' exemplars; either way only those with a timestamp.
fn native_exemplars(h: &Histogram) -> Vec<&Exemplar> {
    let timed = |e: &&Exemplar| e.timestamp_ms.is_some();
    if h.exemplars.is_empty() {
        h.buckets
            .iter()
            .filter_map(|b| b.exemplar.as_ref())
            .filter(timed)
            .collect()
    } else {
        h.exemplars.iter().filter(timed).collect()
    }
}

/// A bound or quantile as Prometheus's protobuf parser writes it in `le` and `quantile`
/// labels: Go's shortest form, with `.0` added when that has neither `.` nor an
/// exponent (`1.0`, `0.0`, `0.25`, `1e-05`, `+Inf`).
pub fn format_label_float(v: f64) -> String {
    if v == 0.0 {
        return "0.0".into();
    }
    let s = go_float(v);
    if v.is_finite() && !s.contains(['.', 'e']) {
        return s + ".0";
    }
    s
}
