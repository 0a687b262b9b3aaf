//! Samples, Prometheus's staleness marker, and the series a write carries.

/// Bit pattern Prometheus writes when a series disappears from a scrape.
/// It is one particular NaN; ordinary NaN values must not be mistaken for it.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True only for the exact staleness-marker bit pattern.
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample: a millisecond timestamp and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

impl Sample {
    pub fn new(t: i64, v: f64) -> Self {
        Self { t, v }
    }

    /// Bit-exact equality, so NaN payloads (and the stale marker) compare as stored.
    pub fn same_as(&self, other: &Sample) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

/// A series and samples for it, in time order: the unit of a write. Float samples and
/// native-histogram samples are kept apart; a timestamp carries one or the other.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    pub labels: crate::Labels,
    pub samples: Vec<Sample>,
    pub histograms: Vec<(i64, crate::FloatHistogram)>,
}

impl TimeSeries {
    /// A series with float samples only.
    pub fn floats(labels: crate::Labels, samples: Vec<Sample>) -> Self {
        Self {
            labels,
            samples,
            histograms: Vec::new(),
        }
    }

    /// Samples of both kinds.
    pub fn num_samples(&self) -> usize {
        self.samples.len() + self.histograms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_distinct_from_plain_nan() {
        assert!(is_stale_nan(STALE_NAN));
        assert!(STALE_NAN.is_nan());
        assert!(!is_stale_nan(f64::NAN));
        assert!(!is_stale_nan(1.0));
    }
}
