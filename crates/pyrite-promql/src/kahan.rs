//! Compensated (Neumaier) summation and the quantile helpers shared by aggregations
//! and functions.

use pyrite_model::histogram::{Combined, HistogramError};
use pyrite_model::FloatHistogram;

/// Adds `inc` to the running `sum` with compensation `c`; returns the new pair.
#[inline]
pub(crate) fn inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Orders NaN first, then ascending: the order Prometheus's quantile helpers sort by.
pub(crate) fn nan_first_cmp(a: &f64, b: &f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// The φ-quantile of `values` with linear interpolation between closest ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(nan_first_cmp);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Relative float comparison with Prometheus's tolerance rules.
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_recovers_lost_bits() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = inc(v, s, c);
        }
        assert_eq!(s + c, 2.0);
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(0.5, &mut [3.0, 1.0, 2.0, 4.0]), 2.5);
        assert_eq!(quantile(0.0, &mut [3.0, 1.0]), 1.0);
        assert!(quantile(0.5, &mut []).is_nan());
        assert_eq!(quantile(2.0, &mut [1.0]), f64::INFINITY);
    }
}

/// A running compensated sum, or mean, of native histograms. A mean is kept as a sum
/// until that overflows, then incrementally, exactly as for floats.
#[derive(Clone)]
pub(crate) struct HistogramAcc {
    sum: FloatHistogram,
    comp: Option<FloatHistogram>,
    /// Set once the mean is computed incrementally.
    mean: Option<FloatHistogram>,
    count: f64,
}

impl HistogramAcc {
    pub fn new(first: &FloatHistogram) -> Self {
        Self {
            sum: first.clone(),
            comp: None,
            mean: None,
            count: 1.0,
        }
    }

    /// Adds `h` to the sum.
    pub fn add(&mut self, h: &FloatHistogram) -> Result<Combined, HistogramError> {
        self.count += 1.0;
        self.sum.kahan_add(h, &mut self.comp)
    }

    /// Adds `h` to the mean.
    pub fn add_to_mean(&mut self, h: &FloatHistogram) -> Result<Combined, HistogramError> {
        self.count += 1.0;
        let n = self.count;
        if self.mean.is_none() {
            let (mut sum, mut comp) = (self.sum.clone(), self.comp.clone());
            let r = sum.kahan_add(h, &mut comp)?;
            if !sum.has_overflow() {
                (self.sum, self.comp) = (sum, comp);
                return Ok(r);
            }
            let mut mean = self.sum.clone();
            mean.div(n - 1.0);
            self.mean = Some(mean);
            if let Some(c) = &mut self.comp {
                c.div(n - 1.0);
            }
        }
        let q = (n - 1.0) / n;
        if let Some(c) = &mut self.comp {
            c.mul(q);
        }
        let mut part = h.clone();
        part.div(n);
        let mean = self.mean.as_mut().expect("set above");
        mean.mul(q);
        mean.kahan_add(&part, &mut self.comp)
    }

    pub fn sum(self) -> FloatHistogram {
        let mut sum = self.sum;
        if let Some(c) = &self.comp {
            let _ = sum.add(c);
        }
        sum
    }

    pub fn mean(self) -> FloatHistogram {
        if let Some(mut mean) = self.mean {
            if let Some(c) = &self.comp {
                let _ = mean.add(c);
            }
            return mean;
        }
        let mut sum = self.sum;
        sum.div(self.count);
        if let Some(mut c) = self.comp {
            c.div(self.count);
            let _ = sum.add(&c);
        }
        sum
    }
}
