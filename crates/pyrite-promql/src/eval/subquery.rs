//! Subqueries: the inner expression is evaluated once, on its own step grid aligned to
//! multiples of its step, over every window the outer steps need.

use promql_parser::parser::SubqueryExpr;

use super::selectors::{RangeArg, RangeSource};
use super::{millis, offset_ms, Evaluator};
use crate::value::Matrix;
use crate::QueryError;

impl Evaluator<'_> {
    /// Evaluates a subquery into a range argument for a function.
    pub fn range_arg_from_subquery(&mut self, sq: &SubqueryExpr) -> Result<RangeArg, QueryError> {
        let at = self.at_time(&sq.at);
        let offset = offset_ms(&sq.offset);
        let range = millis(&sq.range);
        let step = match &sq.step {
            Some(d) if !d.is_zero() => millis(d),
            _ => millis(&self.q.opts.default_subquery_step).max(1),
        };
        let (outer_start, outer_end) = match at {
            Some(t) => (t, t),
            None => {
                let aligned_end = self.start + ((self.end - self.start) / self.interval) * self.interval;
                (self.start, aligned_end)
            }
        };
        let end = outer_end - offset;
        let from = outer_start - offset - range;
        let mut start = step * (from / step);
        if start <= from {
            start += step;
        }
        // The inner evaluation's samples looked at are not the outer query's: a function
        // over the subquery counts its windows of the result instead, as Prometheus does.
        // What the inner evaluation read stays counted.
        let q = self.q;
        let counters = &q.counters;
        let before = counters.total_samples.load(std::sync::atomic::Ordering::Relaxed);
        let matrix: Matrix = if end < start {
            Vec::new()
        } else {
            let mut child = Evaluator::new(self.q, start, end, step);
            child.samples = self.samples;
            let mut m = child.eval_steps(&sq.expr)?;
            self.samples = child.samples;
            self.annos.merge(std::mem::take(&mut child.annos));
            forget_reset_hints(&mut m);
            m
        };
        let inner_samples = counters.total_samples.load(std::sync::atomic::Ordering::Relaxed) - before;
        counters.add(-inner_samples, 0);
        Ok(RangeArg {
            source: RangeSource::Computed(matrix),
            range,
            offset,
            at,
            inner_samples,
        })
    }

    /// A subquery as a value (the top of an instant query).
    pub fn eval_subquery_range(&mut self, sq: &SubqueryExpr) -> Result<Matrix, QueryError> {
        if !self.is_instant() {
            return Err(QueryError::BadData(
                "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
            ));
        }
        let arg = self.range_arg_from_subquery(sq)?;
        self.windows_as_matrix(arg)
    }
}

/// A subquery may skip the sample a reset hint was recorded on, or return it at several
/// steps: its histograms' reset and not-reset hints no longer describe the sequence it
/// yields, so they become unknown and resets are detected from the counts, as for floats.
fn forget_reset_hints(m: &mut Matrix) {
    use pyrite_model::histogram::CounterResetHint;
    for s in m {
        for (_, h) in &mut s.hists {
            if matches!(
                h.counter_reset_hint,
                CounterResetHint::Reset | CounterResetHint::NotReset
            ) {
                std::sync::Arc::make_mut(h).counter_reset_hint = CounterResetHint::Unknown;
            }
        }
    }
}
