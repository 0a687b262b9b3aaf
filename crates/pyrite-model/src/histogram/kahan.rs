//! Compensated addition of histograms, so sums over many histograms (and their means)
//! lose no more precision than PromQL's float sums do.

use std::collections::BTreeMap;

use super::{from_map, to_map, Combined, FloatHistogram, HistogramError};

/// Adds `inc` to `sum` with Neumaier compensation `c`.
fn neumaier(inc: f64, sum: &mut f64, c: &mut f64) {
    let t = *sum + inc;
    if t.is_infinite() {
        *c = 0.0;
    } else if sum.abs() >= inc.abs() {
        *c += (*sum - t) + inc;
    } else {
        *c += (inc - t) + *sum;
    }
    *sum = t;
}

impl FloatHistogram {
    /// `self += other` with compensation: `comp` collects the low-order bits each
    /// addition loses (start with `None`); the sum is `self + comp` once all are added.
    pub fn kahan_add(
        &mut self,
        other: &FloatHistogram,
        comp: &mut Option<FloatHistogram>,
    ) -> Result<Combined, HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        let reset_collision = self.adjust_counter_reset(other);
        let mut other = other.clone();
        let reconciled = self.align(&mut other);
        let c = comp.get_or_insert_with(|| FloatHistogram {
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            custom_values: self.custom_values.clone(),
            ..FloatHistogram::default()
        });
        // The compensation follows the sum's layout.
        if c.uses_custom_buckets() && c.custom_values != self.custom_values {
            c.rebucket_custom(&self.custom_values);
        }
        c.reduce_resolution(self.schema);
        c.widen_zero_bucket(self.zero_threshold);
        neumaier(other.count, &mut self.count, &mut c.count);
        neumaier(other.sum, &mut self.sum, &mut c.sum);
        neumaier(other.zero_count, &mut self.zero_count, &mut c.zero_count);
        for neg in [false, true] {
            let (mine, theirs, comp) = if neg {
                (
                    (&mut self.negative_spans, &mut self.negative_buckets),
                    (&other.negative_spans, &other.negative_buckets),
                    (&mut c.negative_spans, &mut c.negative_buckets),
                )
            } else {
                (
                    (&mut self.positive_spans, &mut self.positive_buckets),
                    (&other.positive_spans, &other.positive_buckets),
                    (&mut c.positive_spans, &mut c.positive_buckets),
                )
            };
            let mut m = to_map(mine.0, mine.1);
            let mut cm: BTreeMap<i32, f64> = to_map(comp.0, comp.1);
            for (idx, v) in to_map(theirs.0, theirs.1) {
                let sum = m.entry(idx).or_default();
                let cv = cm.entry(idx).or_default();
                neumaier(v, sum, cv);
            }
            (*mine.0, *mine.1) = from_map(&m);
            (*comp.0, *comp.1) = from_map(&cm);
        }
        c.counter_reset_hint = self.counter_reset_hint;
        Ok(Combined {
            reconciled,
            reset_collision,
        })
    }

    /// Whether any count or the sum overflowed to an infinity.
    pub fn has_overflow(&self) -> bool {
        [self.zero_count, self.count, self.sum]
            .iter()
            .chain(&self.positive_buckets)
            .chain(&self.negative_buckets)
            .any(|v| v.is_infinite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensation_keeps_what_large_terms_cancel() {
        let h = |sum: f64| FloatHistogram {
            count: 1.0,
            sum,
            ..FloatHistogram::default()
        };
        let mut acc = h(1.0);
        let mut comp = None;
        for s in [1e100, 1.0, -1e100] {
            acc.kahan_add(&h(s), &mut comp).unwrap();
        }
        acc.add(&comp.unwrap()).unwrap();
        assert_eq!(acc.sum, 2.0);
        assert_eq!(acc.count, 4.0);
        assert!(!acc.has_overflow());
        assert!(h(f64::INFINITY).has_overflow());
    }
}
