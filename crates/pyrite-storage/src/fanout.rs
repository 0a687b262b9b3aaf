//! One [`Queryable`] over several: each is asked at once, and the answers are merged
//! (the head and the bucket both hold a range for a while around a flush; a series
//! found in both comes back once, each timestamp once).

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::try_join_all;
use pyrite_model::{Labels, Matcher};

use crate::{merge_series, sorted_labels, Queryable, SelectHints, Series, StorageError};

pub struct Fanout {
    stores: Vec<Arc<dyn Queryable>>,
}

impl Fanout {
    pub fn new(stores: Vec<Arc<dyn Queryable>>) -> Self {
        Self { stores }
    }
}

/// The sorted, distinct strings of several lists (label names or values of several
/// stores).
pub fn sorted_union(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[async_trait]
impl Queryable for Fanout {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        let answers = try_join_all(self.stores.iter().map(|s| s.select(tenant, hints, matchers))).await?;
        if answers.len() == 1 {
            return Ok(answers.into_iter().next().unwrap_or_default());
        }
        Ok(merge_series(answers.into_iter().flatten().collect()))
    }

    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        let lists = try_join_all(self.stores.iter().map(|s| s.series(tenant, start, end, matchers))).await?;
        if lists.len() == 1 {
            return Ok(lists.into_iter().next().unwrap_or_default());
        }
        Ok(sorted_labels(lists.into_iter().flatten().collect()))
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let lists = try_join_all(self.stores.iter().map(|s| s.label_names(tenant, start, end, matchers))).await?;
        Ok(sorted_union(lists))
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let lists = try_join_all(
            self.stores
                .iter()
                .map(|s| s.label_values(tenant, name, start, end, matchers)),
        )
        .await?;
        Ok(sorted_union(lists))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemQueryable;

    /// A store whose chunks cannot be read: only its labels can.
    struct LabelsOnly(MemQueryable);

    #[async_trait]
    impl Queryable for LabelsOnly {
        async fn select(&self, _: &str, _: SelectHints, _: &[Matcher]) -> Result<Vec<Series>, StorageError> {
            Err(StorageError::Internal("chunks were read".into()))
        }
        async fn series(&self, t: &str, s: i64, e: i64, m: &[Matcher]) -> Result<Vec<Labels>, StorageError> {
            self.0.series(t, s, e, m).await
        }
        async fn label_names(&self, _: &str, _: i64, _: i64, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
            Ok(Vec::new())
        }
        async fn label_values(
            &self,
            _: &str,
            _: &str,
            _: i64,
            _: i64,
            _: &[Matcher],
        ) -> Result<Vec<String>, StorageError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn series_are_listed_from_every_store_without_chunks() {
        let (a, b) = (MemQueryable::new(), MemQueryable::new());
        let l = |i: &str| Labels::from_pairs(&[("__name__", "up"), ("i", i)]);
        a.add("t", l("1"), &[(10, 1.0)]);
        a.add("t", l("3"), &[(50, 1.0)]);
        b.add("t", l("1"), &[(20, 1.0)]);
        b.add("t", l("2"), &[(20, 1.0)]);
        b.add("t", Labels::from_pairs(&[("__name__", "down")]), &[(20, 1.0)]);
        let f = Fanout::new(vec![Arc::new(LabelsOnly(a)), Arc::new(LabelsOnly(b))]);
        let up = [Matcher::equal("__name__", "up")];
        assert_eq!(f.series("t", 0, 30, &up).await.unwrap(), [l("1"), l("2")]);
        assert_eq!(f.series("t", 0, 100, &up).await.unwrap(), [l("1"), l("2"), l("3")]);
        assert!(f.select("t", SelectHints::all(), &up).await.is_err());
        // The default answer, from a store that only selects, is the same.
        let m = MemQueryable::new();
        m.add("t", l("2"), &[(20, 1.0)]);
        m.add("t", l("1"), &[(20, 1.0)]);
        let plain = QueryableBySelect(m);
        assert_eq!(plain.series("t", 0, 30, &up).await.unwrap(), [l("1"), l("2")]);
        assert!(plain.series("t", 21, 30, &up).await.unwrap().is_empty());
    }

    /// A store that implements only what the trait requires.
    struct QueryableBySelect(MemQueryable);

    #[async_trait]
    impl Queryable for QueryableBySelect {
        async fn select(&self, t: &str, h: SelectHints, m: &[Matcher]) -> Result<Vec<Series>, StorageError> {
            self.0.select(t, h, m).await
        }
        async fn label_names(&self, _: &str, _: i64, _: i64, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
            Ok(Vec::new())
        }
        async fn label_values(
            &self,
            _: &str,
            _: &str,
            _: i64,
            _: i64,
            _: &[Matcher],
        ) -> Result<Vec<String>, StorageError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn answers_of_every_store_are_merged() {
        let head = Arc::new(MemQueryable::new());
        let blocks = Arc::new(MemQueryable::new());
        let up = Labels::from_pairs(&[("__name__", "up")]);
        blocks.add("t", up.clone(), &[(1, 1.0), (2, 2.0)]);
        head.add("t", up.clone(), &[(2, 2.0), (3, 3.0)]);
        head.add("t", Labels::from_pairs(&[("__name__", "other")]), &[(3, 1.0)]);
        let f = Fanout::new(vec![head, blocks]);
        let got = f
            .select("t", SelectHints::all(), &[Matcher::equal("__name__", "up")])
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].iter().collect::<Vec<_>>(), [(1, 1.0), (2, 2.0), (3, 3.0)]);
        let names = f.label_values("t", "__name__", i64::MIN, i64::MAX, &[]).await.unwrap();
        assert_eq!(names, ["other", "up"]);
    }
}
