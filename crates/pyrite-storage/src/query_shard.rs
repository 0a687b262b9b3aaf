//! Query sharding's read side: a selector carrying the pseudo-matcher
//! `__query_shard__="<i>_of_<n>"` reads only the series whose label hash falls in shard
//! `i` of `n` (1-based, as the query frontend writes it). [`QueryShards`] wraps any store:
//! it takes the pseudo-matcher out and hands the store the shard in its
//! [`SelectHints`], so heads and blocks skip the other shards' series before reading their
//! chunks; it keeps only the shard's series of whatever the store answers. See
//! [`QueryShard`] for why shard-local answers add up.

use std::sync::Arc;

use async_trait::async_trait;
use pyrite_model::{Labels, MatchOp, Matcher, QueryShard};

use crate::{Queryable, SelectHints, Series, StorageError};

/// The pseudo-label naming a query shard.
pub const QUERY_SHARD_LABEL: &str = "__query_shard__";

/// The matcher value for shard `index` (0-based) of `count`: `"<index+1>_of_<count>"`.
pub fn query_shard_value(index: u32, count: u32) -> String {
    format!("{}_of_{count}", index + 1)
}

/// The other matchers, and the shard if one was named.
pub type WithoutShard = (Vec<Matcher>, Option<QueryShard>);

/// Splits the shard pseudo-matcher off `matchers`.
pub fn take_query_shard(matchers: &[Matcher]) -> Result<WithoutShard, StorageError> {
    let mut rest = Vec::with_capacity(matchers.len());
    let mut shard = None;
    for m in matchers {
        if m.name != QUERY_SHARD_LABEL {
            rest.push(m.clone());
            continue;
        }
        let bad = || StorageError::BadRequest(format!("invalid {QUERY_SHARD_LABEL} matcher {:?}", m.value));
        if m.op != MatchOp::Equal {
            return Err(bad());
        }
        let (i, n) = m.value.split_once("_of_").ok_or_else(bad)?;
        let (i, n): (u32, u32) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if i == 0 || i > n {
            return Err(bad());
        }
        shard = Some(QueryShard { index: i - 1, count: n });
    }
    Ok((rest, shard))
}

/// A store that understands the shard pseudo-matcher (see the module docs).
pub struct QueryShards {
    inner: Arc<dyn Queryable>,
}

impl QueryShards {
    pub fn new(inner: Arc<dyn Queryable>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl Queryable for QueryShards {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        let (rest, shard) = take_query_shard(matchers)?;
        let hints = hints.with_shard(shard.or(hints.shard));
        let mut series = self.inner.select(tenant, hints, &rest).await?;
        series.retain(|s| hints.wants(&s.labels));
        Ok(series)
    }

    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        let (rest, shard) = take_query_shard(matchers)?;
        let hints = SelectHints::new(start, end).with_shard(shard);
        let mut series = self.inner.series(tenant, start, end, &rest).await?;
        series.retain(|l| hints.wants(l));
        Ok(series)
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let (rest, _) = take_query_shard(matchers)?;
        self.inner.label_names(tenant, start, end, &rest).await
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        let (rest, _) = take_query_shard(matchers)?;
        self.inner.label_values(tenant, name, start, end, &rest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemQueryable;

    #[tokio::test]
    async fn shards_partition_the_series() {
        let mem = Arc::new(MemQueryable::new());
        for i in 0..50 {
            mem.add(
                "t",
                Labels::from_pairs(&[("__name__", "x"), ("i", &i.to_string())]),
                &[(0, 1.0)],
            );
        }
        let store = QueryShards::new(mem);
        let name = Matcher::equal("__name__", "x");
        let mut seen = Vec::new();
        for i in 0..4 {
            let shard = Matcher::equal(QUERY_SHARD_LABEL, query_shard_value(i, 4));
            let got = store
                .select("t", SelectHints::all(), &[name.clone(), shard])
                .await
                .unwrap();
            assert!(!got.is_empty() && got.len() < 50, "shard {i} holds a part");
            seen.extend(got.into_iter().map(|s| s.labels));
        }
        seen.sort();
        let all: Vec<Labels> = store
            .select("t", SelectHints::all(), &[name])
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.labels)
            .collect();
        assert_eq!(seen, all, "every series in exactly one shard");
        let bad = Matcher::equal(QUERY_SHARD_LABEL, "5_of_4");
        assert!(store.select("t", SelectHints::all(), &[bad]).await.is_err());
    }
}
