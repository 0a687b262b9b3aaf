//! Native histograms as PromQL computes with them: float bucket counts over either
//! exponential buckets (schemas -4..=8, bucket `i` of schema `s` ends at 2^(i·2^-s)) or
//! custom bucket bounds (schema -53, "NHCB"), with a zero bucket `[-t, t]`.
//!
//! Buckets are kept as Prometheus lays them out (spans of consecutive indices plus
//! absolute counts), so they round-trip through remote write; arithmetic works on the
//! buckets as index → count maps at a common schema and rebuilds the spans.

use std::collections::BTreeMap;

/// The schema of histograms with custom bucket bounds.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// What the producer said about counter resets (remote write carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    #[default]
    Unknown,
    Reset,
    NotReset,
    Gauge,
}

/// `length` consecutive buckets starting `offset` after the previous span's end (the
/// first span's offset is the first bucket's index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

/// One bucket with its bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub count: f64,
    pub index: i32,
}

/// A quantile estimate, and what NaN observations did to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantile {
    pub value: f64,
    pub nan_observations: NanObservations,
}

impl Quantile {
    fn value(value: f64) -> Self {
        Self {
            value,
            nan_observations: NanObservations::None,
        }
    }
}

/// NaN observations land in no bucket (only the count and the NaN sum show them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NanObservations {
    None,
    /// The quantile falls among the NaN observations.
    ResultIsNan,
    /// Some observations were NaN, so the estimate is skewed higher.
    SkewedHigher,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistogramError {
    #[error("histograms with exponential and custom bucket schemas cannot be combined")]
    IncompatibleSchema,
}

/// What adding or subtracting two histograms ran into, beside the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Combined {
    /// Custom bucket bounds differed and were reconciled to the ones both share.
    pub reconciled: bool,
    /// One side said "counter reset" and the other "no counter reset".
    pub reset_collision: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    pub counter_reset_hint: CounterResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub positive_buckets: Vec<f64>,
    pub negative_spans: Vec<Span>,
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets (schema [`CUSTOM_BUCKETS_SCHEMA`] only).
    pub custom_values: Vec<f64>,
}

/// Upper bound of exponential bucket `idx` in `schema`.
fn exponential_bound(idx: i32, schema: i32) -> f64 {
    // The bucket just below the one counting ±Inf would end past f64::MAX; it ends at
    // f64::MAX instead, leaving +Inf to the overflow bucket.
    if schema < 0 {
        let exp = (idx as i64) << (-schema);
        if exp == 1024 {
            return f64::MAX;
        }
        return 2f64.powi(exp.clamp(-2000, 2000) as i32);
    }
    let exp = (idx as i64 >> schema) + 1;
    let frac_idx = idx & ((1 << schema) - 1);
    let frac = 0.5 * 2f64.powf(frac_idx as f64 / (1u32 << schema) as f64);
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    frac * 2f64.powi(exp.clamp(-2000, 2000) as i32)
}

/// The index at `target` (coarser) schema of bucket `idx` at `origin` schema.
fn target_index(idx: i32, origin: i32, target: i32) -> i32 {
    ((idx - 1) >> (origin - target)) + 1
}

fn to_map(spans: &[Span], buckets: &[f64]) -> BTreeMap<i32, f64> {
    let mut out = BTreeMap::new();
    let mut idx = 0i32;
    let mut b = buckets.iter();
    // The first offset is the first index; later ones are gaps after the previous span.
    for s in spans {
        idx += s.offset;
        for _ in 0..s.length {
            if let Some(&c) = b.next() {
                out.insert(idx, c);
            }
            idx += 1;
        }
    }
    out
}

fn from_map(m: &BTreeMap<i32, f64>) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut buckets = Vec::with_capacity(m.len());
    let mut next: Option<i32> = None;
    for (&idx, &c) in m {
        match next {
            Some(n) if n == idx => spans.last_mut().expect("a span is open").length += 1,
            Some(n) => spans.push(Span {
                offset: idx - n,
                length: 1,
            }),
            None => spans.push(Span { offset: idx, length: 1 }),
        }
        buckets.push(c);
        next = Some(idx + 1);
    }
    (spans, buckets)
}

impl FloatHistogram {
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Upper bound of bucket `idx`.
    pub fn bound(&self, idx: i32) -> f64 {
        if self.uses_custom_buckets() {
            let len = self.custom_values.len() as i32;
            return match idx {
                i if i >= len => f64::INFINITY,
                i if i < 0 => f64::NEG_INFINITY,
                i => self.custom_values[i as usize],
            };
        }
        exponential_bound(idx, self.schema)
    }

    /// Positive buckets in ascending order of bounds.
    pub fn positive(&self) -> Vec<Bucket> {
        to_map(&self.positive_spans, &self.positive_buckets)
            .into_iter()
            .map(|(index, count)| Bucket {
                lower: self.bound(index - 1),
                upper: self.bound(index),
                count,
                index,
            })
            .collect()
    }

    /// Negative buckets, from the one nearest zero outwards (bounds are negative).
    pub fn negative(&self) -> Vec<Bucket> {
        to_map(&self.negative_spans, &self.negative_buckets)
            .into_iter()
            .map(|(index, count)| Bucket {
                lower: -self.bound(index),
                upper: -self.bound(index - 1),
                count,
                index,
            })
            .collect()
    }

    /// Every bucket from the lowest bound up: negative buckets, the zero bucket (when it
    /// holds anything), positive buckets.
    /// Bounds are clipped to the zero bucket's edges where a bucket reaches into it.
    pub fn all_buckets(&self) -> Vec<Bucket> {
        let zt = self.zero_threshold;
        let clip = |mut b: Bucket| {
            if b.upper < 0.0 && b.upper > -zt {
                b.upper = -zt;
            }
            if b.lower > 0.0 && b.lower < zt {
                b.lower = zt;
            }
            b
        };
        let mut out: Vec<Bucket> = self.negative().into_iter().rev().map(clip).collect();
        if self.zero_count > 0.0 {
            out.push(Bucket {
                lower: -zt,
                upper: zt,
                count: self.zero_count,
                index: 0,
            });
        }
        out.extend(self.positive().into_iter().map(clip));
        out
    }

    /// The estimated fraction of observations in `[lower, upper]`, as
    /// `histogram_fraction` computes it; the flag says NaN observations were left out.
    pub fn fraction(&self, lower: f64, upper: f64) -> (f64, bool) {
        if self.count == 0.0 || lower.is_nan() || upper.is_nan() {
            return (f64::NAN, false);
        }
        if lower >= upper {
            return (0.0, false);
        }
        let buckets = self.all_buckets();
        let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
        let (mut lower_set, mut upper_set) = (false, false);
        for b in &buckets {
            let mut b = *b;
            let zero_bucket = b.lower <= 0.0 && b.upper >= 0.0;
            if zero_bucket {
                if self.negative_buckets.is_empty() && !self.positive_buckets.is_empty() {
                    b.lower = 0.0;
                } else if self.positive_buckets.is_empty() && !self.negative_buckets.is_empty() {
                    b.upper = 0.0;
                }
            }
            let linear = self.uses_custom_buckets() || zero_bucket;
            let below = |v: f64| -> f64 {
                if linear {
                    if b.lower == f64::NEG_INFINITY {
                        return b.count;
                    }
                    return rank + b.count * (v - b.lower) / (b.upper - b.lower);
                }
                let (lo, hi, lv) = (b.lower.abs().log2(), b.upper.abs().log2(), v.abs().log2());
                let f = if v > 0.0 {
                    (lv - lo) / (hi - lo)
                } else {
                    1.0 - (lv - hi) / (lo - hi)
                };
                rank + b.count * f
            };
            if !lower_set && b.lower >= lower {
                lower_rank = rank;
                lower_set = true;
            }
            if !upper_set && b.lower >= upper {
                upper_rank = rank;
                upper_set = true;
            }
            if lower_set && upper_set {
                break;
            }
            if !lower_set && b.lower < lower && b.upper > lower {
                lower_rank = below(lower);
                lower_set = true;
            }
            if !upper_set && b.lower < upper && b.upper > upper {
                upper_rank = below(upper);
                upper_set = true;
            }
            if lower_set && upper_set {
                break;
            }
            rank += b.count;
        }
        // With a NaN sum some observations were NaN: they sit in no bucket.
        let (count, nans_excluded) = if self.sum.is_nan() {
            let in_buckets: f64 = buckets.iter().map(|b| b.count).sum();
            (in_buckets, in_buckets < self.count)
        } else {
            (self.count, false)
        };
        if !lower_set || lower_rank > count {
            lower_rank = count;
        }
        if !upper_set || upper_rank > count {
            upper_rank = count;
        }
        ((upper_rank - lower_rank) / self.count, nans_excluded)
    }

    /// The estimated variance of the observations, each bucket's observations placed at
    /// its midpoint (geometric for exponential buckets), as `histogram_stdvar` computes.
    pub fn variance(&self) -> f64 {
        let mean = self.sum / self.count;
        let (mut var, mut c) = (0.0f64, 0.0f64);
        for b in self.all_buckets() {
            if b.count == 0.0 {
                continue;
            }
            let val = if self.uses_custom_buckets() {
                (b.upper + b.lower) / 2.0
            } else if b.lower <= 0.0 && b.upper >= 0.0 {
                0.0
            } else {
                let m = (b.upper * b.lower).sqrt();
                if b.upper < 0.0 {
                    -m
                } else {
                    m
                }
            };
            let delta = val - mean;
            // Compensated (Neumaier) summation, as every sum PromQL takes.
            let inc = b.count * delta * delta;
            let t = var + inc;
            if t.is_infinite() {
                c = 0.0;
            } else if var.abs() >= inc.abs() {
                c += (var - t) + inc;
            } else {
                c += (inc - t) + var;
            }
            var = t;
        }
        (var + c) / self.count
    }

    /// The φ-quantile, interpolating exponentially within exponential buckets and
    /// linearly within custom ones (and within the zero bucket), as `histogram_quantile`
    /// does for native histograms.
    pub fn quantile(&self, q: f64) -> Quantile {
        if q < 0.0 {
            return Quantile::value(f64::NEG_INFINITY);
        }
        if q > 1.0 {
            return Quantile::value(f64::INFINITY);
        }
        if self.count == 0.0 || q.is_nan() {
            return Quantile::value(f64::NAN);
        }
        let nan_sum = self.sum.is_nan();
        let forward = nan_sum || q < 0.5;
        let mut buckets = self.all_buckets();
        if !forward {
            buckets.reverse();
        }
        let mut rank = if forward {
            q * self.count
        } else {
            (1.0 - q) * self.count
        };
        let mut count = 0.0;
        let mut pos = 0;
        let mut bucket = Bucket {
            lower: 0.0,
            upper: 0.0,
            count: 0.0,
            index: 0,
        };
        for (i, b) in buckets.iter().enumerate() {
            pos = i + 1;
            if b.count == 0.0 {
                continue;
            }
            bucket = *b;
            count += b.count;
            if count >= rank {
                break;
            }
        }
        if !self.uses_custom_buckets() && bucket.lower < 0.0 && bucket.upper > 0.0 {
            if self.negative_buckets.is_empty() && !self.positive_buckets.is_empty() {
                bucket.lower = 0.0;
            } else if self.positive_buckets.is_empty() && !self.negative_buckets.is_empty() {
                bucket.upper = 0.0;
            }
        } else if self.uses_custom_buckets() {
            if bucket.lower == f64::NEG_INFINITY {
                if bucket.upper <= 0.0 {
                    return Quantile::value(bucket.upper);
                }
                bucket.lower = 0.0;
            } else if bucket.upper == f64::INFINITY {
                return Quantile::value(bucket.lower);
            }
        }
        count = count.min(self.count);
        if count < rank {
            if nan_sum {
                return Quantile {
                    value: f64::NAN,
                    nan_observations: NanObservations::ResultIsNan,
                };
            }
            return Quantile::value(bucket.upper);
        }
        if forward {
            rank -= count - bucket.count;
        } else {
            rank = count - rank;
        }
        let mut note = NanObservations::None;
        if nan_sum {
            let rest: f64 = buckets[pos..].iter().map(|b| b.count).sum();
            if count + rest < self.count {
                note = NanObservations::SkewedHigher;
            }
        }
        let fraction = rank / bucket.count;
        let value = if self.uses_custom_buckets() || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
            bucket.lower + (bucket.upper - bucket.lower) * fraction
        } else {
            let (lo, hi) = (bucket.lower.abs().log2(), bucket.upper.abs().log2());
            if bucket.lower > 0.0 {
                (lo + (hi - lo) * fraction).exp2()
            } else {
                -(hi + (lo - hi) * (1.0 - fraction)).exp2()
            }
        };
        Quantile {
            value,
            nan_observations: note,
        }
    }

    /// Scales every count and the sum (`rate` divides, `increase` extrapolates); a
    /// negative factor makes a gauge.
    pub fn mul(&mut self, factor: f64) -> &mut Self {
        self.zero_count *= factor;
        self.count *= factor;
        self.sum *= factor;
        self.positive_buckets.iter_mut().for_each(|b| *b *= factor);
        self.negative_buckets.iter_mut().for_each(|b| *b *= factor);
        if factor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Divides every count and the sum; dividing by zero leaves infinite totals and no
    /// buckets, and a negative divisor makes a gauge.
    pub fn div(&mut self, divisor: f64) -> &mut Self {
        self.zero_count /= divisor;
        self.count /= divisor;
        self.sum /= divisor;
        if divisor == 0.0 {
            self.positive_spans.clear();
            self.positive_buckets.clear();
            self.negative_spans.clear();
            self.negative_buckets.clear();
            return self;
        }
        self.positive_buckets.iter_mut().for_each(|b| *b /= divisor);
        self.negative_buckets.iter_mut().for_each(|b| *b /= divisor);
        if divisor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Drops empty buckets and merges the spans that leaves adjacent.
    pub fn compact(&mut self) -> &mut Self {
        for neg in [false, true] {
            let (spans, buckets) = if neg {
                (&mut self.negative_spans, &mut self.negative_buckets)
            } else {
                (&mut self.positive_spans, &mut self.positive_buckets)
            };
            let mut m = to_map(spans, buckets);
            m.retain(|_, c| *c != 0.0);
            (*spans, *buckets) = from_map(&m);
        }
        self
    }

    /// The same counts at a coarser schema (exponential buckets only).
    pub fn reduce_resolution(&mut self, target: i32) {
        if self.uses_custom_buckets() || target >= self.schema {
            return;
        }
        for neg in [false, true] {
            let (spans, buckets) = if neg {
                (&mut self.negative_spans, &mut self.negative_buckets)
            } else {
                (&mut self.positive_spans, &mut self.positive_buckets)
            };
            let mut m: BTreeMap<i32, f64> = BTreeMap::new();
            for (idx, c) in to_map(spans, buckets) {
                *m.entry(target_index(idx, self.schema, target)).or_default() += c;
            }
            (*spans, *buckets) = from_map(&m);
        }
        self.schema = target;
    }

    /// Widens the zero bucket to at least `threshold`, absorbing the buckets it then
    /// covers; a bucket straddling the new threshold is absorbed whole and the threshold
    /// moves to its edge.
    pub fn widen_zero_bucket(&mut self, threshold: f64) {
        if threshold <= self.zero_threshold {
            return;
        }
        let mut t = threshold;
        loop {
            let mut moved = false;
            let pos = self.positive();
            let neg = self.negative();
            for b in &pos {
                if b.lower < t && b.upper > t && b.count != 0.0 {
                    t = b.upper;
                    moved = true;
                }
            }
            for b in &neg {
                if b.upper > -t && b.lower < -t && b.count != 0.0 {
                    t = -b.lower;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        let mut zero = self.zero_count;
        let mut pos = to_map(&self.positive_spans, &self.positive_buckets);
        pos.retain(|&idx, c| {
            let inside = self.bound(idx - 1) < t;
            if inside {
                zero += *c;
            }
            !inside
        });
        let mut neg = to_map(&self.negative_spans, &self.negative_buckets);
        neg.retain(|&idx, c| {
            let inside = self.bound(idx - 1) < t;
            if inside {
                zero += *c;
            }
            !inside
        });
        (self.positive_spans, self.positive_buckets) = from_map(&pos);
        (self.negative_spans, self.negative_buckets) = from_map(&neg);
        self.zero_count = zero;
        self.zero_threshold = t;
    }

    /// Brings `self` and `other` to one layout: the custom bounds both have, the coarser
    /// schema, the wider zero bucket. `true` when custom bounds had to be reconciled.
    fn align(&mut self, other: &mut FloatHistogram) -> bool {
        let reconcile = self.uses_custom_buckets() && self.custom_values != other.custom_values;
        if reconcile {
            // Mismatched custom bounds: keep the bounds both have, merging the others.
            let common: Vec<f64> = self
                .custom_values
                .iter()
                .copied()
                .filter(|v| other.custom_values.contains(v))
                .collect();
            self.rebucket_custom(&common);
            other.rebucket_custom(&common);
        }
        let target = self.schema.min(other.schema);
        self.reduce_resolution(target);
        other.reduce_resolution(target);
        let t = self.zero_threshold.max(other.zero_threshold);
        self.widen_zero_bucket(t);
        other.widen_zero_bucket(self.zero_threshold);
        self.widen_zero_bucket(other.zero_threshold);
        reconcile
    }

    fn combine(&mut self, other: &FloatHistogram, sign: f64) -> Result<Combined, HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        let reset_collision = self.adjust_counter_reset(other);
        let mut other = other.clone();
        let reconcile = self.align(&mut other);
        self.zero_count += sign * other.zero_count;
        self.count += sign * other.count;
        self.sum += sign * other.sum;
        for neg in [false, true] {
            let (mine, theirs) = if neg {
                (
                    (&mut self.negative_spans, &mut self.negative_buckets),
                    (&other.negative_spans, &other.negative_buckets),
                )
            } else {
                (
                    (&mut self.positive_spans, &mut self.positive_buckets),
                    (&other.positive_spans, &other.positive_buckets),
                )
            };
            let mut m = to_map(mine.0, mine.1);
            for (idx, c) in to_map(theirs.0, theirs.1) {
                *m.entry(idx).or_default() += sign * c;
            }
            (*mine.0, *mine.1) = from_map(&m);
        }
        Ok(Combined {
            reconciled: reconcile,
            reset_collision,
        })
    }

    /// The hint of a sum: equal hints stay, a gauge makes a gauge, anything else
    /// becomes unknown; `true` when a reset met a not-reset (a conflict worth a warning).
    fn adjust_counter_reset(&mut self, other: &FloatHistogram) -> bool {
        use CounterResetHint::*;
        match (self.counter_reset_hint, other.counter_reset_hint) {
            (a, b) if a == b => false,
            (Gauge, _) => false,
            (_, Gauge) => {
                self.counter_reset_hint = Gauge;
                false
            }
            (Unknown, _) => false,
            (_, Unknown) => {
                self.counter_reset_hint = Unknown;
                false
            }
            _ => {
                self.counter_reset_hint = Unknown;
                true
            }
        }
    }

    /// Merges custom buckets so only `bounds` (a subset of the current ones) remain.
    fn rebucket_custom(&mut self, bounds: &[f64]) {
        let mut m: BTreeMap<i32, f64> = BTreeMap::new();
        for b in self.positive() {
            let idx = bounds.partition_point(|&x| x < b.upper) as i32;
            *m.entry(idx).or_default() += b.count;
        }
        (self.positive_spans, self.positive_buckets) = from_map(&m);
        self.custom_values = bounds.to_vec();
    }

    /// `self += other`, at the coarser of the two schemas and the wider zero bucket.
    pub fn add(&mut self, other: &FloatHistogram) -> Result<Combined, HistogramError> {
        self.combine(other, 1.0)
    }

    /// `self -= other`; the result is a gauge histogram.
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<Combined, HistogramError> {
        let c = self.combine(other, -1.0)?;
        self.counter_reset_hint = CounterResetHint::Gauge;
        Ok(c)
    }

    /// Same schema, zero bucket, count, sum and bucket counts (empty buckets ignored).
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        let nonzero = |m: BTreeMap<i32, f64>| m.into_iter().filter(|(_, c)| *c != 0.0).collect::<Vec<_>>();
        self.schema == other.schema
            && self.zero_threshold == other.zero_threshold
            && same(self.zero_count, other.zero_count)
            && same(self.count, other.count)
            && same(self.sum, other.sum)
            && self.custom_values == other.custom_values
            && nonzero(to_map(&self.positive_spans, &self.positive_buckets))
                == nonzero(to_map(&other.positive_spans, &other.positive_buckets))
            && nonzero(to_map(&self.negative_spans, &self.negative_buckets))
                == nonzero(to_map(&other.negative_spans, &other.negative_buckets))
    }

    /// The counter-reset hint this sample carries once stored after `previous` (the
    /// series' preceding sample if that was a histogram), as Prometheus's TSDB hands it
    /// back: gauges stay gauges and explicit resets stay resets; a series' first
    /// histogram, and one whose counts went down (it starts a new chunk, whose first
    /// sample reads back as unknown), know nothing; any other is not a reset.
    pub fn stored_hint(&self, previous: Option<&FloatHistogram>) -> CounterResetHint {
        match (self.counter_reset_hint, previous) {
            (CounterResetHint::Gauge, _) => CounterResetHint::Gauge,
            (CounterResetHint::Reset, _) => CounterResetHint::Reset,
            (_, None) => CounterResetHint::Unknown,
            (_, Some(prev)) => {
                let mut probe = self.clone();
                probe.counter_reset_hint = CounterResetHint::Unknown;
                if probe.detect_reset(prev) {
                    CounterResetHint::Unknown
                } else {
                    CounterResetHint::NotReset
                }
            }
        }
    }

    /// Whether going from `previous` to `self` means the counter was reset: a hint says
    /// so, or the count, the zero bucket or any bucket went down, or the resolution rose.
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::Reset => return true,
            CounterResetHint::NotReset => return false,
            _ => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() != previous.uses_custom_buckets() {
            return true;
        }
        if self.schema > previous.schema || self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let mut prev = previous.clone();
        if self.uses_custom_buckets() && self.custom_values != prev.custom_values {
            let common: Vec<f64> = self
                .custom_values
                .iter()
                .copied()
                .filter(|v| prev.custom_values.contains(v))
                .collect();
            let mut cur = self.clone();
            cur.rebucket_custom(&common);
            prev.rebucket_custom(&common);
            return cur.buckets_decreased(&prev);
        }
        prev.reduce_resolution(self.schema);
        prev.widen_zero_bucket(self.zero_threshold);
        if prev.zero_threshold != self.zero_threshold || self.zero_count < prev.zero_count {
            return true;
        }
        self.buckets_decreased(&prev)
    }

    fn buckets_decreased(&self, prev: &FloatHistogram) -> bool {
        for (cur_side, prev_side) in [
            (
                to_map(&self.positive_spans, &self.positive_buckets),
                to_map(&prev.positive_spans, &prev.positive_buckets),
            ),
            (
                to_map(&self.negative_spans, &self.negative_buckets),
                to_map(&prev.negative_spans, &prev.negative_buckets),
            ),
        ] {
            for (idx, c) in prev_side {
                if cur_side.get(&idx).copied().unwrap_or(0.0) < c {
                    return true;
                }
            }
        }
        false
    }
}

mod display;
mod kahan;
mod trim;

pub use display::go_float;

#[cfg(test)]
mod tests;
