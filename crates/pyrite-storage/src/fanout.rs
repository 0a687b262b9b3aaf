//! One [`Queryable`] over several: each is asked at once, and the answers are merged
//! (the head and the bucket both hold a range for a while around a flush; a series
//! found in both comes back once, each timestamp once).

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::try_join_all;
use pyrite_model::Matcher;

use crate::{merge_series, Queryable, SelectHints, Series, StorageError};

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
    use pyrite_model::Labels;

    use super::*;
    use crate::MemQueryable;

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
