//! A plain in-memory [`Queryable`], for tests of readers (the engine, the HTTP API) that
//! should not depend on the head's internals.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use parking_lot::RwLock;
use pyrite_chunk::{Chunk, HistogramChunk, SAMPLES_PER_CHUNK};
use pyrite_model::{matches_all, FloatHistogram, Labels, Matcher};

use crate::{Queryable, SelectHints, Series, StorageError};

#[derive(Debug, Clone)]
enum MemSample {
    Float(f64),
    Histogram(Box<FloatHistogram>),
}

type TenantSeries = BTreeMap<Labels, BTreeMap<i64, MemSample>>;

/// Series kept as sorted sample vectors, per tenant.
#[derive(Default)]
pub struct MemQueryable {
    tenants: RwLock<HashMap<String, TenantSeries>>,
}

impl MemQueryable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to a series; a sample at an existing timestamp replaces it.
    pub fn add(&self, tenant: &str, labels: Labels, samples: &[(i64, f64)]) {
        self.insert(tenant, labels, samples.iter().map(|&(t, v)| (t, MemSample::Float(v))));
    }

    /// Adds native-histogram samples; a sample at an existing timestamp replaces it.
    pub fn add_histograms(&self, tenant: &str, labels: Labels, samples: &[(i64, FloatHistogram)]) {
        let samples = samples
            .iter()
            .map(|(t, h)| (*t, MemSample::Histogram(Box::new(h.clone()))));
        self.insert(tenant, labels, samples);
    }

    fn insert(&self, tenant: &str, labels: Labels, samples: impl Iterator<Item = (i64, MemSample)>) {
        let mut tenants = self.tenants.write();
        let series = tenants
            .entry(tenant.to_string())
            .or_default()
            .entry(labels)
            .or_default();
        series.extend(samples);
    }

    /// Drops every series of every tenant.
    pub fn clear(&self) {
        self.tenants.write().clear();
    }

    fn matching<R>(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        mut f: impl FnMut(&Labels, &BTreeMap<i64, MemSample>) -> Option<R>,
    ) -> Vec<R> {
        let tenants = self.tenants.read();
        let Some(series) = tenants.get(tenant) else {
            return Vec::new();
        };
        series
            .iter()
            .filter(|(l, s)| matches_all(matchers, l) && s.range(start..=end).next().is_some())
            .filter_map(|(l, s)| f(l, s))
            .collect()
    }
}

#[async_trait]
impl Queryable for MemQueryable {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        Ok(
            self.matching(tenant, matchers, hints.start, hints.end, |labels, samples| {
                if !hints.wants(labels) {
                    return None;
                }
                let mut floats = Vec::new();
                let mut histograms = Vec::new();
                // Hints are those the series' own sequence gives, so start from its
                // beginning (as a store's chunks would have recorded them).
                let mut prev: Option<&FloatHistogram> = None;
                for (t, s) in samples.range(..=hints.end) {
                    match s {
                        MemSample::Float(v) => {
                            prev = None;
                            if *t >= hints.start {
                                floats.push((*t, *v));
                            }
                        }
                        MemSample::Histogram(h) => {
                            if *t >= hints.start {
                                let mut stored = (**h).clone();
                                stored.counter_reset_hint = h.stored_hint(prev);
                                histograms.push((*t, stored));
                            }
                            prev = Some(h);
                        }
                    }
                }
                Some(
                    Series::new(labels.clone(), Chunk::encode_all(&floats, SAMPLES_PER_CHUNK))
                        .with_histograms(HistogramChunk::encode_all(&histograms, SAMPLES_PER_CHUNK)),
                )
            }),
        )
    }

    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        // The map is sorted by labels already.
        Ok(self.matching(tenant, matchers, start, end, |labels, _| Some(labels.clone())))
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let mut names = BTreeSet::new();
        self.matching(tenant, matchers, start, end, |labels, _| {
            names.extend(labels.iter().map(|l| l.name.to_string()));
            None::<()>
        });
        Ok(names.into_iter().collect())
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let mut values = BTreeSet::new();
        self.matching(tenant, matchers, start, end, |labels, _| {
            let v = labels.get(name);
            if !v.is_empty() {
                values.insert(v.to_string());
            }
            None::<()>
        });
        Ok(values.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn select_filters_by_matcher_range_and_tenant() {
        let q = MemQueryable::new();
        q.add(
            "t1",
            Labels::from_pairs(&[("__name__", "a"), ("x", "1")]),
            &[(10, 1.0), (20, 2.0)],
        );
        q.add("t1", Labels::from_pairs(&[("__name__", "b")]), &[(10, 1.0)]);
        q.add("t2", Labels::from_pairs(&[("__name__", "a")]), &[(10, 1.0)]);
        let got = q
            .select("t1", SelectHints::new(15, 30), &[Matcher::equal("__name__", "a")])
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].iter().collect::<Vec<_>>(), [(20, 2.0)]);
        assert!(q
            .select("t1", SelectHints::new(15, 30), &[Matcher::equal("__name__", "b")])
            .await
            .unwrap()
            .is_empty());
        assert_eq!(q.label_values("t1", "__name__", 0, 100, &[]).await.unwrap(), ["a", "b"]);
        assert_eq!(q.label_names("t2", 0, 100, &[]).await.unwrap(), ["__name__"]);
    }

    #[tokio::test]
    async fn histogram_and_float_samples_come_back_in_their_own_chunks() {
        let q = MemQueryable::new();
        let l = Labels::from_pairs(&[("__name__", "h")]);
        let h = FloatHistogram {
            count: 3.0,
            sum: 4.5,
            ..FloatHistogram::default()
        };
        q.add("t", l.clone(), &[(10, 1.0), (40, 2.0)]);
        q.add_histograms("t", l.clone(), &[(20, h.clone()), (30, h.clone())]);
        let got = q
            .select("t", SelectHints::new(0, 35), &[Matcher::equal("__name__", "h")])
            .await
            .unwrap();
        assert_eq!(got[0].iter().collect::<Vec<_>>(), [(10, 1.0)]);
        // Hints read back as a TSDB records them: nothing known after a float sample,
        // "not a reset" after an equal histogram.
        let after = FloatHistogram {
            counter_reset_hint: pyrite_model::histogram::CounterResetHint::NotReset,
            ..h.clone()
        };
        assert_eq!(got[0].histograms_in(0, 100), [(20, h.clone()), (30, after.clone())]);
        assert_eq!(got[0].histograms_in(25, 100), [(30, after)]);
        assert_eq!(got[0].num_samples(), 3);
    }
}
