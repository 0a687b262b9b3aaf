//! Writes to known series ([`KnownWrite`]): applied as the labeled series they stand
//! for, but a series found once is found again by the place it remembers.

use std::sync::Arc;

use pyrite_storage::{prefetch_arc, prefetch_line, AppendOutcome, KnownSample, KnownSeries, KnownValue, KnownWrite};

use super::{Head, MemSeries, Sample, TenantHead};

/// How far ahead of the write a known series' own memory is fetched (see
/// [`KnownSeries::prefetch`]): a write's series are scattered in memory, and the apply
/// would otherwise wait on each of them, then on its head series, then on the end of
/// that series' open chunk, in turn.
const FAR: usize = 12;
/// How far ahead the head series a known series remembers is fetched.
const NEAR: usize = 4;
/// How far ahead the end of that head series' open chunk is fetched.
const NEXT: usize = 2;

impl Head {
    /// Applies a write to known series: the very same as [`Head::apply`] of
    /// [`KnownWrite::to_series`] (same head, same outcome), but a series found before is
    /// found again by the place it remembers, not by its labels, as long as the index it
    /// was found in is the tenant's index still.
    pub fn apply_known(&self, tenant: &str, write: &KnownWrite) -> AppendOutcome {
        let mut w = self.begin(tenant);
        let samples = &write.samples;
        // Series found at their place are appended under one read of the index, up to
        // the first that is not (new, or placed in an index since replaced); from there
        // on each is found on its own, so samples are still taken in the write's order.
        let mut rest = samples.len();
        {
            let th = w.th.clone();
            let index = th.index.read();
            let placed = |k: &KnownSeries| k.place_in(index.stamp()).and_then(|id| index.get(id));
            for (i, k) in samples.iter().enumerate() {
                if let Some(ahead) = samples.get(i + FAR) {
                    KnownSeries::prefetch(&ahead.series);
                }
                if let Some(s) = samples.get(i + NEAR).and_then(|a| placed(&a.series)) {
                    prefetch_arc(s);
                }
                if let Some(s) = samples.get(i + NEXT).and_then(|a| placed(&a.series)) {
                    // Only a look: a series someone else holds is simply not fetched.
                    if let Some(data) = s.try_lock() {
                        prefetch_line(data.tail());
                    }
                }
                let Some(series) = placed(&k.series) else {
                    rest = i;
                    break;
                };
                self.append(&mut w, Some(series), k.series.labels(), 1, sample(k));
            }
        }
        for k in &samples[rest..] {
            let series = self.find_known(&w.th, &k.series);
            self.append(&mut w, series.as_deref(), k.series.labels(), 1, sample(k));
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

fn sample(k: &KnownSample) -> std::iter::Once<(i64, Sample<'_>)> {
    std::iter::once(match &k.value {
        KnownValue::Float(v) => (k.t, Sample::F(*v)),
        KnownValue::Histogram(h) => (k.t, Sample::H(h)),
    })
}

#[cfg(test)]
mod tests;
