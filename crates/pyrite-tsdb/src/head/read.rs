//! The head's read side: selecting series with their chunks, listing label sets without
//! them, and label names and values, for the engine through [`Queryable`]. Reads lock
//! the tenant's index only to find series ids, then each series on its own, so they
//! never hold up the applier for longer than one series.

use std::sync::Arc;

use async_trait::async_trait;
use pyrite_model::{Labels, Matcher};
use pyrite_storage::{Queryable, SelectHints, Series, StorageError};

use super::{Head, MemSeries, TenantHead};

impl Head {
    /// Series matching `matchers` with data in the range, sorted by labels.
    pub fn select_series(&self, tenant: &str, hints: SelectHints, matchers: &[Matcher]) -> Vec<Series> {
        let Some(th) = self.tenant(tenant) else {
            return Vec::new();
        };
        let picked: Vec<(Labels, Arc<MemSeries>)> = {
            let index = th.index.read();
            index
                .select(matchers)
                .into_iter()
                .map(|id| (index.labels(id), index.series(id)))
                .filter(|(labels, _)| hints.wants(labels))
                .map(|(labels, s)| (labels, s.clone()))
                .collect()
        };
        let mut out: Vec<Series> = picked
            .into_iter()
            .filter_map(|(labels, s)| {
                let data = s.lock();
                let chunks = data.chunks_in(hints.start, hints.end);
                let histograms = data.histogram_chunks_in(hints.start, hints.end);
                (!chunks.is_empty() || !histograms.is_empty())
                    .then(|| Series::new(labels, chunks).with_histograms(histograms))
            })
            .collect();
        out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Label sets of the series [`Head::select_series`] would return for `[start, end]`,
    /// sorted, without touching a chunk: only the index and each series' time bounds.
    pub fn series_labels(&self, tenant: &str, start: i64, end: i64, matchers: &[Matcher]) -> Vec<Labels> {
        let Some(th) = self.tenant(tenant) else {
            return Vec::new();
        };
        let mut out: Vec<Labels> = {
            let index = th.index.read();
            index
                .select(matchers)
                .into_iter()
                .filter(|id| index.series(*id).lock().has_chunks_in(start, end))
                .map(|id| index.labels(id))
                .collect()
        };
        out.sort_unstable();
        out
    }

    /// Ids of series matching `matchers` that hold data in `[start, end]`; `None` when
    /// there is nothing to filter (no matchers, whole time axis).
    fn filtered_ids(th: &TenantHead, start: i64, end: i64, matchers: &[Matcher]) -> Option<Vec<u32>> {
        if matchers.is_empty() && start == i64::MIN && end == i64::MAX {
            return None;
        }
        let index = th.index.read();
        Some(
            index
                .select(matchers)
                .into_iter()
                .filter(|id| index.series(*id).lock().has_data_in(start, end))
                .collect(),
        )
    }

    pub fn label_names(&self, tenant: &str, start: i64, end: i64, matchers: &[Matcher]) -> Vec<String> {
        let Some(th) = self.tenant(tenant) else {
            return Vec::new();
        };
        let ids = Self::filtered_ids(&th, start, end, matchers);
        let names = th.index.read().label_names(ids.as_deref());
        names
    }

    pub fn label_values(&self, tenant: &str, name: &str, start: i64, end: i64, matchers: &[Matcher]) -> Vec<String> {
        let Some(th) = self.tenant(tenant) else {
            return Vec::new();
        };
        let ids = Self::filtered_ids(&th, start, end, matchers);
        let values = th.index.read().label_values(name, ids.as_deref());
        values
    }
}

#[async_trait]
impl Queryable for Head {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        Ok(self.select_series(tenant, hints, matchers))
    }

    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        Ok(self.series_labels(tenant, start, end, matchers))
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        Ok(Head::label_names(self, tenant, start, end, matchers))
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        Ok(Head::label_values(self, tenant, name, start, end, matchers))
    }
}

#[cfg(test)]
mod tests {
    use pyrite_model::{FloatHistogram, Sample, TimeSeries};

    use super::*;
    use crate::HeadOptions;

    fn ts(name: &str, samples: &[i64]) -> TimeSeries {
        TimeSeries::floats(
            Labels::from_pairs(&[("__name__", "m"), ("s", name)]),
            samples.iter().map(|t| Sample::new(*t, 1.0)).collect(),
        )
    }

    #[test]
    fn label_sets_are_those_a_selection_returns() {
        let head = Head::new(HeadOptions {
            out_of_order_window_ms: 1_000_000,
            ..HeadOptions::default()
        });
        // Two sealed chunks and a long gap before the open one.
        let gap: Vec<i64> = (0..300).map(|i| i * 10).chain([100_000, 100_010]).collect();
        head.apply("t", &[ts("gap", &gap)]);
        head.apply("t", &[ts("ooo", &[50_000, 60_000])]);
        head.apply("t", &[ts("ooo", &[40_000])]);
        let mut h = ts("hist", &[]);
        h.histograms = (0..200)
            .map(|i| {
                (
                    20_000 + i * 10,
                    FloatHistogram {
                        count: 1.0,
                        ..Default::default()
                    },
                )
            })
            .collect();
        head.apply("t", &[h, ts("other", &[1])]);
        let points = [
            i64::MIN,
            -5,
            0,
            5,
            1195,
            1200,
            2995,
            3000,
            5_000,
            20_000,
            21_995,
            22_000,
            40_000,
            45_000,
            55_000,
            60_000,
            100_005,
            200_000,
            i64::MAX,
        ];
        let m = [Matcher::equal("__name__", "m")];
        for &start in &points {
            for &end in points.iter().filter(|e| **e >= start) {
                let selected: Vec<Labels> = head
                    .select_series("t", SelectHints::new(start, end), &m)
                    .into_iter()
                    .map(|s| s.labels)
                    .collect();
                assert_eq!(head.series_labels("t", start, end, &m), selected, "[{start}, {end}]");
            }
        }
        let ooo = [Matcher::equal("s", "ooo")];
        assert!(head.series_labels("t", 45_000, 45_000, &ooo).is_empty());
        assert_eq!(head.series_labels("t", 40_000, 40_000, &ooo).len(), 1, "out of order");
        let hist = [Matcher::equal("s", "hist")];
        assert_eq!(head.series_labels("t", 21_990, 30_000, &hist).len(), 1, "histograms");
        assert!(head.series_labels("t", 21_991, 30_000, &hist).is_empty());
        assert!(head.series_labels("nobody", i64::MIN, i64::MAX, &m).is_empty());
    }
}
