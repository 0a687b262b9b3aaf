//! Writes to known series ([`KnownWrite`]): applied as the labeled series they stand
//! for, but a series found once is found again by the place it remembers.

use std::sync::Arc;

use pyrite_storage::{AppendOutcome, KnownSeries, KnownValue, KnownWrite};

use super::{Head, MemSeries, Sample, TenantHead};

impl Head {
    /// Applies a write to known series: the very same as [`Head::apply`] of
    /// [`KnownWrite::to_series`] (same head, same outcome), but a series found before is
    /// found again by the place it remembers, not by its labels, as long as the index it
    /// was found in is the tenant's index still.
    pub fn apply_known(&self, tenant: &str, write: &KnownWrite) -> AppendOutcome {
        let mut w = self.begin(tenant);
        for k in &write.samples {
            let series = self.find_known(&w.th, &k.series);
            let sample = match &k.value {
                KnownValue::Float(v) => (k.t, Sample::F(*v)),
                KnownValue::Histogram(h) => (k.t, Sample::H(h)),
            };
            self.append(&mut w, series, k.series.labels(), 1, std::iter::once(sample));
        }
        self.finish(w)
    }

    /// A known series: at the place it remembers when that is in the tenant's index as
    /// it is now (ids are never reused within one index), else by its labels, and its
    /// place is remembered for next time.
    fn find_known(&self, th: &TenantHead, k: &KnownSeries) -> Option<Arc<MemSeries>> {
        {
            let index = th.index.read();
            if let Some(s) = k.place_in(index.stamp()).and_then(|id| index.get(id)) {
                return Some(s.clone());
            }
        }
        let (id, series) = self.get_or_create(th, k.stable_hash(), k.labels())?;
        k.set_place(id.0, id.1);
        Some(series)
    }
}

#[cfg(test)]
mod tests;
