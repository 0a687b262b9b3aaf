//! Series validation as Prometheus and Mimir do it. A series that fails is dropped
//! with a reason (the metric label of `discarded_samples`) and a message naming it; the
//! request's other series still go through.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use pyrite_model::{
    is_reserved_label_name, is_valid_label_name, is_valid_metric_name, Label, Labels, TimeSeries, METRIC_NAME,
};

use crate::decode::RawSeries;

/// The limits one series is checked against: the tenant's, read once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesLimits {
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    pub creation_grace_period_seconds: u64,
    pub past_grace_period_seconds: u64,
}

impl SeriesLimits {
    /// `tenant`'s limits, all from one version of the overrides.
    pub fn of(limits: &pyrite_limits::Limits, tenant: &str) -> Self {
        let l = limits.tenant(tenant);
        Self {
            max_label_names_per_series: l.max_label_names_per_series,
            max_label_name_length: l.max_label_name_length,
            max_label_value_length: l.max_label_value_length,
            creation_grace_period_seconds: l.creation_grace_period.get().as_secs(),
            past_grace_period_seconds: l.past_grace_period.get().as_secs(),
        }
    }
}

impl SeriesLimits {
    /// A stamp (never 0) naming the limits [`check_labels`] applies, the same for equal
    /// limits within this process and different for different ones: a series that
    /// passed under a stamp need not be checked again while its tenant's limits are the
    /// same.
    pub(crate) fn label_stamp(&self) -> u64 {
        static STAMPS: LazyLock<Mutex<HashMap<[usize; 3], u64>>> = LazyLock::new(Mutex::default);
        let key = [
            self.max_label_names_per_series,
            self.max_label_name_length,
            self.max_label_value_length,
        ];
        let mut stamps = STAMPS.lock().unwrap_or_else(PoisonError::into_inner);
        let next = stamps.len() as u64 + 1;
        *stamps.entry(key).or_insert(next)
    }
}

impl Default for SeriesLimits {
    fn default() -> Self {
        Self::of(&pyrite_limits::Limits::default(), "")
    }
}

/// Why a series was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Short reason, as in Mimir's `discarded_samples_total{reason}`.
    pub reason: &'static str,
    pub message: String,
}

pub(crate) fn describe(labels: &[Label]) -> String {
    let mut s = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("{}={:?}", l.name, l.value));
        if s.len() > 200 {
            s.push_str(", …");
            break;
        }
    }
    s.push('}');
    s
}

/// Refuses a series with a sample stamped further ahead of `now_ms` than the creation
/// grace period allows (a sender with a broken clock would otherwise write the future),
/// or further behind it than the past grace period allows.
pub fn check_timestamps(raw: &RawSeries, limits: &SeriesLimits, now_ms: i64) -> Result<(), Invalid> {
    let times = raw
        .samples
        .iter()
        .map(|s| s.t)
        .chain(raw.histograms.iter().map(|h| h.timestamp));
    check_times(times, &raw.labels, limits, now_ms)
}

/// [`check_timestamps`] of the sample times `times` of the series `labels`.
pub(crate) fn check_times(
    mut times: impl Iterator<Item = i64>,
    labels: &[Label],
    limits: &SeriesLimits,
    now_ms: i64,
) -> Result<(), Invalid> {
    let seconds = |s: u64| (s as i64).saturating_mul(1000);
    let latest = match limits.creation_grace_period_seconds {
        0 => i64::MAX,
        s => now_ms.saturating_add(seconds(s)),
    };
    let earliest = match limits.past_grace_period_seconds {
        0 => i64::MIN,
        s => now_ms.saturating_sub(seconds(s)),
    };
    match times.find(|t| *t > latest || *t < earliest) {
        None => Ok(()),
        Some(t) if t > latest => Err(Invalid {
            reason: "too_far_in_future",
            message: format!(
                "sample timestamp {} is more than {} s ahead of the receiver's clock (creation_grace_period_seconds) for series {}",
                t,
                limits.creation_grace_period_seconds,
                describe(labels)
            ),
        }),
        Some(t) => Err(Invalid {
            reason: "sample_timestamp_too_old",
            message: format!(
                "sample timestamp {} is more than {} s behind the receiver's clock (past_grace_period_seconds) for series {}",
                t,
                limits.past_grace_period_seconds,
                describe(labels)
            ),
        }),
    }
}

/// Checks one series; on success returns it with labels as a [`Labels`] (empty-valued
/// labels dropped: an empty value means the label is absent).
pub fn validate_series(raw: RawSeries, limits: &SeriesLimits) -> Result<TimeSeries, Invalid> {
    check_labels(&raw.labels, limits)?;
    let bad = |reason: &'static str, what: String| Invalid {
        reason,
        message: format!("{what} for series {}", describe(&raw.labels)),
    };
    let mut histograms = Vec::with_capacity(raw.histograms.len());
    for h in &raw.histograms {
        match h.clone().into_float() {
            Ok(th) => histograms.push(th),
            Err(why) => {
                return Err(bad(
                    "invalid_native_histogram",
                    format!("invalid native histogram: {why}"),
                ))
            }
        }
    }
    // A sender may list histogram samples out of order; the store wants them sorted.
    histograms.sort_by_key(|h| h.0);
    let labels = Labels::from_sorted_unchecked(raw.labels.into_iter().filter(|l| !l.value.is_empty()).collect());
    Ok(TimeSeries {
        labels,
        samples: raw.samples,
        histograms,
    })
}

/// The label rules alone (metric name, label names, their lengths and count, order):
/// what [`validate_series`] checks of a series' labels.
pub(crate) fn check_labels(labels: &[Label], limits: &SeriesLimits) -> Result<(), Invalid> {
    let bad = |reason: &'static str, what: String| Invalid {
        reason,
        message: format!("{what} for series {}", describe(labels)),
    };
    let name = labels.iter().find(|l| &*l.name == METRIC_NAME).map(|l| &*l.value);
    match name {
        None | Some("") => return Err(bad("missing_metric_name", "sample without metric name".into())),
        Some(n) if !is_valid_metric_name(n) => {
            return Err(bad("metric_name_invalid", format!("metric name {n:?} is not valid")))
        }
        _ => {}
    }
    let max = limits.max_label_names_per_series;
    if max > 0 && labels.len() > max {
        return Err(bad(
            "max_label_names_per_series",
            format!(
                "series has {} labels, more than the limit of {max} (max_label_names_per_series)",
                labels.len()
            ),
        ));
    }
    for (i, l) in labels.iter().enumerate() {
        if !is_valid_label_name(&l.name) && &*l.name != METRIC_NAME {
            return Err(bad("label_invalid", format!("label name {:?} is not valid", l.name)));
        }
        if is_reserved_label_name(&l.name) {
            return Err(bad(
                "label_name_reserved",
                format!(
                    "label name {:?} is reserved by Pyrite (reserved: {})",
                    l.name,
                    pyrite_model::RESERVED_LABEL_NAMES.join(", ")
                ),
            ));
        }
        if limits.max_label_name_length > 0 && l.name.len() > limits.max_label_name_length {
            return Err(bad(
                "label_name_too_long",
                format!(
                    "label name {:?} is longer than {} bytes (max_label_name_length)",
                    l.name, limits.max_label_name_length
                ),
            ));
        }
        if limits.max_label_value_length > 0 && l.value.len() > limits.max_label_value_length {
            return Err(bad(
                "label_value_too_long",
                format!(
                    "value of label {:?} is {} bytes, longer than {} (max_label_value_length)",
                    l.name,
                    l.value.len(),
                    limits.max_label_value_length
                ),
            ));
        }
        if i > 0 {
            let prev = &labels[i - 1].name;
            if *prev == l.name {
                return Err(bad(
                    "duplicate_label_names",
                    format!("label name {:?} appears twice", l.name),
                ));
            }
            if *prev > l.name {
                return Err(bad(
                    "labels_not_sorted",
                    format!("labels are not sorted by name ({prev:?} before {:?})", l.name),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawSeries {
        RawSeries {
            labels: pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
            samples: vec![pyrite_model::Sample::new(1, 1.0)],
            histograms: Vec::new(),
            exemplars: 0,
        }
    }

    fn reason(pairs: &[(&str, &str)], limits: &SeriesLimits) -> &'static str {
        validate_series(raw(pairs), limits).unwrap_err().reason
    }

    #[test]
    fn samples_from_the_future_are_refused_beyond_the_grace_period() {
        let l = SeriesLimits::default();
        let now = 1_000_000_000;
        let mut r = raw(&[("__name__", "up")]);
        r.samples = vec![pyrite_model::Sample::new(now + 599_000, 1.0)];
        assert!(check_timestamps(&r, &l, now).is_ok());
        r.samples.push(pyrite_model::Sample::new(now + 601_000, 1.0));
        assert_eq!(check_timestamps(&r, &l, now).unwrap_err().reason, "too_far_in_future");
        let off = SeriesLimits {
            creation_grace_period_seconds: 0,
            ..SeriesLimits::default()
        };
        assert!(check_timestamps(&r, &off, now).is_ok());
    }

    #[test]
    fn samples_from_the_past_are_refused_beyond_the_past_grace_period() {
        let now = 1_800_000_000_000;
        let mut r = raw(&[("__name__", "up")]);
        r.samples = vec![pyrite_model::Sample::new(i64::MIN, 1.0)];
        assert!(
            check_timestamps(&r, &SeriesLimits::default(), now).is_ok(),
            "off by default: the head's window bounds the past"
        );
        let l = SeriesLimits {
            past_grace_period_seconds: 3600,
            ..SeriesLimits::default()
        };
        let err = check_timestamps(&r, &l, now).unwrap_err();
        assert_eq!(err.reason, "sample_timestamp_too_old");
        assert!(err.message.contains("past_grace_period_seconds"), "{}", err.message);
        r.samples = vec![pyrite_model::Sample::new(now - 3_600_000, 1.0)];
        assert!(check_timestamps(&r, &l, now).is_ok());
        r.samples.push(pyrite_model::Sample::new(0, 1.0));
        assert_eq!(
            check_timestamps(&r, &l, now).unwrap_err().reason,
            "sample_timestamp_too_old"
        );
    }

    #[test]
    fn accepts_valid_and_drops_empty_values() {
        let ts = validate_series(
            raw(&[("__name__", "up"), ("empty", ""), ("job", "a")]),
            &SeriesLimits::default(),
        )
        .unwrap();
        assert_eq!(ts.labels, Labels::from_pairs(&[("__name__", "up"), ("job", "a")]));
    }

    #[test]
    fn every_rule_has_its_reason() {
        let l = SeriesLimits::default();
        assert_eq!(reason(&[("job", "a")], &l), "missing_metric_name");
        assert_eq!(reason(&[("__name__", "")], &l), "missing_metric_name");
        assert_eq!(reason(&[("__name__", "a-b")], &l), "metric_name_invalid");
        assert_eq!(reason(&[("__name__", "up"), ("1x", "a")], &l), "label_invalid");
        assert_eq!(
            reason(&[("__chunk__", "a"), ("__name__", "up")], &l),
            "label_name_reserved"
        );
        assert_eq!(
            reason(&[("__name__", "up"), ("a", "1"), ("a", "2")], &l),
            "duplicate_label_names"
        );
        assert_eq!(
            reason(&[("__name__", "up"), ("b", "1"), ("a", "2")], &l),
            "labels_not_sorted"
        );
        let long = "x".repeat(2049);
        assert_eq!(reason(&[("__name__", "up"), ("a", &long)], &l), "label_value_too_long");
        let tight = SeriesLimits {
            max_label_names_per_series: 1,
            max_label_name_length: 3,
            ..Default::default()
        };
        assert_eq!(
            reason(&[("__name__", "up"), ("a", "1")], &tight),
            "max_label_names_per_series"
        );
        let tight = SeriesLimits {
            max_label_name_length: 3,
            ..Default::default()
        };
        assert_eq!(
            reason(&[("__name__", "up"), ("abcd", "1")], &tight),
            "label_name_too_long"
        );
        // A well-formed native histogram is accepted; one whose spans do not account
        // for its buckets is refused.
        let mut h = raw(&[("__name__", "up")]);
        h.histograms = vec![crate::histogram::WireHistogram {
            count_int: Some(3),
            positive_spans: vec![pyrite_model::histogram::Span { offset: 0, length: 2 }],
            positive_deltas: vec![1, 1],
            timestamp: 5,
            ..Default::default()
        }];
        let ts = validate_series(h.clone(), &l).unwrap();
        assert_eq!(ts.histograms.len(), 1);
        assert_eq!(ts.histograms[0].0, 5);
        assert_eq!(ts.histograms[0].1.positive_buckets, [1.0, 2.0]);
        h.histograms[0].positive_deltas = vec![1];
        assert_eq!(validate_series(h, &l).unwrap_err().reason, "invalid_native_histogram");
    }

    #[test]
    fn equal_label_limits_share_a_stamp() {
        let l = SeriesLimits::default();
        let past = SeriesLimits {
            past_grace_period_seconds: 60,
            ..l
        };
        let longer = SeriesLimits {
            max_label_value_length: l.max_label_value_length + 1,
            ..l
        };
        assert_ne!(l.label_stamp(), 0);
        assert_eq!(l.label_stamp(), past.label_stamp(), "timestamps are checked every time");
        assert_ne!(l.label_stamp(), longer.label_stamp());
        assert_eq!(longer.label_stamp(), longer.label_stamp());
    }

    #[test]
    fn messages_name_the_series() {
        let e = validate_series(
            raw(&[("__name__", "up"), ("b", "1"), ("a", "2")]),
            &SeriesLimits::default(),
        )
        .unwrap_err();
        assert!(e.message.contains(r#"__name__="up""#), "{}", e.message);
    }
}
