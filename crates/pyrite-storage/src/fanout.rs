//! One [`Queryable`] over several: each is asked at once, and the answers are merged
//! (the head and the bucket both hold a range for a while around a flush; a series
//! found in both comes back once, each timestamp once).
//!
//! A store added with [`Fanout::or_partial`] (the blocks) may be unavailable without
//! failing the answer: the others' answer stands, with a [`warn`]ing that it may be
//! incomplete, so what the heads hold stays queryable while object storage is down. Any
//! other error of any store is the answer's.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::join_all;
use pyrite_model::{Labels, Matcher};

use crate::warnings::warn;
use crate::{merge_series, sorted_labels, Queryable, SelectHints, Series, StorageError};

pub struct Fanout {
    /// Each store, and for one that may fail without failing the answer, what it is.
    stores: Vec<(Arc<dyn Queryable>, Option<String>)>,
}

impl Fanout {
    pub fn new(stores: Vec<Arc<dyn Queryable>>) -> Self {
        Self {
            stores: stores.into_iter().map(|s| (s, None)).collect(),
        }
    }

    /// Adds a store whose being unavailable leaves its part out of the answer, with a
    /// warning naming `what` it is ("object storage"), instead of failing it.
    pub fn or_partial(mut self, store: Arc<dyn Queryable>, what: impl Into<String>) -> Self {
        self.stores.push((store, Some(what.into())));
        self
    }

    /// Asks every store at once; an unavailable partial store answers nothing, with a
    /// warning.
    async fn ask<'a, T: Default, F>(&'a self, f: impl Fn(&'a dyn Queryable) -> F) -> Result<Vec<T>, StorageError>
    where
        F: std::future::Future<Output = Result<T, StorageError>> + 'a,
    {
        let answers = join_all(self.stores.iter().map(|(s, _)| f(s.as_ref()))).await;
        let mut out = Vec::with_capacity(answers.len());
        for (answer, (_, partial)) in answers.into_iter().zip(&self.stores) {
            match (answer, partial) {
                (Ok(a), _) => out.push(a),
                (Err(StorageError::Unavailable(why)), Some(what)) => {
                    tracing::warn!(store = %what, error = %why, "answering without an unavailable store");
                    warn(format!("{what} unreachable: {why}; results may be incomplete"));
                }
                (Err(e), _) => return Err(e),
            }
        }
        Ok(out)
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
        let answers = self.ask(|s| s.select(tenant, hints, matchers)).await?;
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
        let lists = self.ask(|s| s.series(tenant, start, end, matchers)).await?;
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
        let lists = self.ask(|s| s.label_names(tenant, start, end, matchers)).await?;
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
        let lists = self.ask(|s| s.label_values(tenant, name, start, end, matchers)).await?;
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

    /// A store that is always unavailable, like a bucket that cannot be reached.
    struct Down;

    #[async_trait]
    impl Queryable for Down {
        async fn select(&self, _: &str, _: SelectHints, _: &[Matcher]) -> Result<Vec<Series>, StorageError> {
            Err(StorageError::Unavailable("connection refused".into()))
        }
        async fn label_names(&self, _: &str, _: i64, _: i64, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
            Err(StorageError::Unavailable("connection refused".into()))
        }
        async fn label_values(
            &self,
            _: &str,
            _: &str,
            _: i64,
            _: i64,
            _: &[Matcher],
        ) -> Result<Vec<String>, StorageError> {
            Err(StorageError::Unavailable("connection refused".into()))
        }
    }

    #[tokio::test]
    async fn an_unavailable_partial_store_leaves_a_warning_not_an_error() {
        let head = Arc::new(MemQueryable::new());
        let up = Labels::from_pairs(&[("__name__", "up")]);
        head.add("t", up.clone(), &[(2, 2.0), (3, 3.0)]);
        let m = [Matcher::equal("__name__", "up")];

        // Required, the store's failure is the answer's.
        let strict = Fanout::new(vec![head.clone(), Arc::new(Down)]);
        assert!(strict.select("t", SelectHints::all(), &m).await.is_err());

        let f = crate::warnings::Collecting::new(Arc::new(
            Fanout::new(vec![head]).or_partial(Arc::new(Down), "object storage"),
        ));
        let got = f.select("t", SelectHints::all(), &m).await.unwrap();
        assert_eq!(got[0].iter().collect::<Vec<_>>(), [(2, 2.0), (3, 3.0)]);
        let names = f.label_values("t", "__name__", i64::MIN, i64::MAX, &[]).await.unwrap();
        assert_eq!(names, ["up"]);
        assert_eq!(
            f.warnings().take(),
            ["object storage unreachable: connection refused; results may be incomplete"]
        );
    }
}
