//! Writes to known series ([`KnownWrite`]): applied as the labeled series they stand
//! for, but a series found once is found again by the place it remembers.

use std::sync::Arc;

use pyrite_storage::{prefetch_line, AppendOutcome, KnownSeries, KnownValue, KnownWrite};

use super::{Head, MemSeries, Sample, TenantHead};

/// How far ahead of the write a known series' own memory is fetched (see
/// [`KnownSeries::prefetch`]): a write's series are scattered in memory, and the apply
/// would otherwise wait on each of them, then on its head series, in turn.
const FAR: usize = 12;
/// How far ahead the head series a known series remembers is fetched.
const NEAR: usize = 4;

/// Fetches the head series at the place `k` remembers, if it remembers one.
fn prefetch_place(th: &TenantHead, k: &KnownSeries) {
    let index = th.index.read();
    if let Some(s) = k.place_in(index.stamp()).and_then(|id| index.get(id)) {
        let p = Arc::as_ptr(s).cast::<u8>();
        prefetch_line(p.wrapping_sub(16));
        prefetch_line(p.wrapping_add(48));
    }
}

impl Head {
    /// Applies a write to known series: the very same as [`Head::apply`] of
    /// [`KnownWrite::to_series`] (same head, same outcome), but a series found before is
    /// found again by the place it remembers, not by its labels, as long as the index it
    /// was found in is the tenant's index still.
    pub fn apply_known(&self, tenant: &str, write: &KnownWrite) -> AppendOutcome {
        let mut w = self.begin(tenant);
        let samples = &write.samples;
        for (i, k) in samples.iter().enumerate() {
            if let Some(ahead) = samples.get(i + FAR) {
                KnownSeries::prefetch(&ahead.series);
            }
            if let Some(ahead) = samples.get(i + NEAR) {
                prefetch_place(&w.th, &ahead.series);
            }
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
