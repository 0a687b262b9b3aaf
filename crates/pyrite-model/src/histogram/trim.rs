//! Trimming a histogram at a value (PromQL's `</` and `>/`): the observations on one
//! side are removed, a bucket the value falls into keeps its interpolated share, and
//! the count and sum are re-estimated from the surviving buckets.

use super::{FloatHistogram, Span};

/// Each stored bucket's index, in the order of the bucket array.
fn indices(spans: &[Span]) -> Vec<i32> {
    let mut out = Vec::new();
    let mut idx = 0i32;
    for s in spans {
        idx += s.offset;
        for _ in 0..s.length {
            out.push(idx);
            idx += 1;
        }
    }
    out
}

/// Where within `(lower, upper]` the value `v` lies, as the fraction below it:
/// linearly for custom buckets, on a log scale for exponential ones.
fn fraction_below(lower: f64, upper: f64, v: f64, linear: bool) -> f64 {
    if linear {
        return (v - lower) / (upper - lower);
    }
    let (ll, lu, lv) = (lower.abs().log2(), upper.abs().log2(), v.abs().log2());
    if v > 0.0 {
        (lv - ll) / (lu - ll)
    } else {
        1.0 - (lv - lu) / (ll - lu)
    }
}

/// A representative value for observations surviving in `[lo, hi]`.
fn midpoint(lo: f64, hi: f64, positive: bool, linear: bool) -> f64 {
    if lo.is_infinite() {
        if hi.is_infinite() {
            return 0.0;
        }
        return if hi > 0.0 { hi / 2.0 } else { hi };
    }
    if hi.is_infinite() {
        return lo;
    }
    if linear {
        return (lo + hi) / 2.0;
    }
    let geo = (lo * hi).abs().sqrt();
    if positive {
        geo
    } else {
        -geo
    }
}

fn zero_if_inf(x: f64) -> f64 {
    if x.is_infinite() {
        0.0
    } else {
        x
    }
}

/// The kept count and its midpoint for a bucket with an infinite bound.
fn infinite_bucket(upper_trim: bool, lower: f64, upper: f64, count: f64, rhs: f64) -> (f64, f64) {
    if lower == f64::NEG_INFINITY {
        if upper_trim {
            if rhs >= upper {
                return (count, 0.0);
            }
            if rhs > 0.0 && upper > 0.0 && upper.is_finite() {
                return (count * rhs / upper, rhs / 2.0);
            }
            if upper <= 0.0 {
                return (count, rhs);
            }
            return (0.0, zero_if_inf(upper));
        }
        if rhs <= lower {
            return (count, 0.0);
        }
        if rhs >= 0.0 && upper > rhs && upper.is_finite() {
            return (count * (1.0 - rhs / upper), (rhs + upper) / 2.0);
        }
        return (0.0, zero_if_inf(upper));
    }
    // The upper bound is +Inf.
    if upper_trim {
        return (0.0, zero_if_inf(lower));
    }
    if rhs >= lower {
        return (count, rhs);
    }
    (0.0, zero_if_inf(lower))
}

/// The kept count and its midpoint for a bucket `rhs` falls into.
fn split_bucket(
    lower: f64,
    upper: f64,
    count: f64,
    rhs: f64,
    upper_trim: bool,
    positive: bool,
    linear: bool,
) -> (f64, f64) {
    if lower.is_infinite() || upper.is_infinite() {
        return infinite_bucket(upper_trim, lower, upper, count, rhs);
    }
    let under = if rhs <= lower {
        0.0
    } else if rhs >= upper {
        count
    } else {
        count * fraction_below(lower, upper, rhs, linear)
    };
    if upper_trim {
        (under, midpoint(lower, rhs, positive, linear))
    } else {
        (count - under, midpoint(rhs, upper, positive, linear))
    }
}

impl FloatHistogram {
    /// Removes the observations above `rhs` (`upper_trim`, PromQL's `</`) or below it
    /// (`>/`). When anything was removed, count and sum are re-estimated from the
    /// buckets that remain.
    pub fn trim(&mut self, rhs: f64, upper_trim: bool) {
        let linear = self.uses_custom_buckets();
        let (mut count, mut sum, mut trimmed) = (0.0, 0.0, false);
        let (mut has_pos, mut has_neg) = (false, false);
        for positive in [true, false] {
            let idxs = indices(if positive {
                &self.positive_spans
            } else {
                &self.negative_spans
            });
            for (i, idx) in idxs.into_iter().enumerate() {
                let (lower, upper) = if positive {
                    (self.bound(idx - 1), self.bound(idx))
                } else {
                    (-self.bound(idx), -self.bound(idx - 1))
                };
                let buckets = if positive {
                    &mut self.positive_buckets
                } else {
                    &mut self.negative_buckets
                };
                let Some(c) = buckets.get(i).copied() else { break };
                if c == 0.0 {
                    continue;
                }
                if positive {
                    has_pos = true;
                } else {
                    has_neg = true;
                }
                let (keep_all, partial) = if upper_trim {
                    (upper <= rhs, lower < rhs)
                } else {
                    (lower >= rhs, upper > rhs)
                };
                if keep_all {
                    count += c;
                    sum += midpoint(lower, upper, positive, linear) * c;
                } else if partial {
                    let (keep, mid) = split_bucket(lower, upper, c, rhs, upper_trim, positive, linear);
                    count += keep;
                    sum += mid * keep;
                    if keep != c {
                        buckets[i] = keep;
                        trimmed = true;
                    }
                } else {
                    buckets[i] = 0.0;
                    trimmed = true;
                }
            }
        }
        if self.zero_count > 0.0 {
            let (keep, mid) = self.trim_zero_bucket(rhs, has_neg, has_pos, upper_trim);
            if keep != self.zero_count {
                self.zero_count = keep;
                trimmed = true;
            }
            sum += mid * keep;
            count += keep;
        }
        if trimmed {
            self.count = count;
            self.sum = sum;
            self.compact();
        }
    }

    fn trim_zero_bucket(&self, rhs: f64, has_neg: bool, has_pos: bool, upper_trim: bool) -> (f64, f64) {
        let (mut lower, mut upper) = (-self.zero_threshold, self.zero_threshold);
        if has_neg && !has_pos {
            upper = 0.0;
        }
        if has_pos && !has_neg {
            lower = 0.0;
        }
        let c = self.zero_count;
        if upper_trim {
            if rhs <= lower {
                return (0.0, 0.0);
            }
            if rhs >= upper {
                return (c, (lower + upper) / 2.0);
            }
            (c * (rhs - lower) / (upper - lower), (lower + rhs) / 2.0)
        } else {
            if rhs <= lower {
                return (c, (lower + upper) / 2.0);
            }
            if rhs >= upper {
                return (0.0, 0.0);
            }
            (c * (upper - rhs) / (upper - lower), (rhs + upper) / 2.0)
        }
    }
}
