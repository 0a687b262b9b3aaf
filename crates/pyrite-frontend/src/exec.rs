//! Running a sharded query: the shard queries go to the queriers in parallel, their
//! answers become the series an in-frontend engine reads for the rest of the query.
//!
//! A shard answer is read back sample for sample: the float strings the queriers write
//! read back as the same doubles. Where a series has a point at one step and none at
//! the next, a stale marker goes at the next step, so the engine's lookback never
//! carries a point onto a step that had none. Native histograms are not read back:
//! a query whose shard answers hold any runs whole instead ([`Sharded::Unsupported`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use pyrite_chunk::{Chunk, SAMPLES_PER_CHUNK};
use pyrite_model::{Labels, Matcher, STALE_NAN};
use pyrite_promql::Engine;
use pyrite_storage::{Queryable, SelectHints, Series, StorageError};

use crate::downstream::{Downstream, Reply, Request};
use crate::matrix::{encode_answer, float_point, RawAnswer};
use crate::query_shard::{EmbeddedSeries, Plan, EMBEDDED_ID, SHARD_TAG};
use crate::FrontendError;

/// When a sharded query is evaluated: one instant, or a range of steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

/// How a sharded run ended.
pub enum Sharded {
    /// The combined answer.
    Done(Reply),
    /// The shards' answers cannot be combined (or one failed): run the query whole.
    Unsupported,
}

/// A store over the shard answers: a selector naming an embedded aggregation gets
/// its series.
struct EmbeddedStore(EmbeddedSeries);

#[async_trait]
impl Queryable for EmbeddedStore {
    async fn select(&self, _: &str, _: SelectHints, matchers: &[Matcher]) -> Result<Vec<Series>, StorageError> {
        let id = matchers
            .iter()
            .find(|m| m.name == EMBEDDED_ID)
            .and_then(|m| m.value.parse::<usize>().ok());
        Ok(id.and_then(|id| self.0.get(&id).cloned()).unwrap_or_default())
    }

    async fn label_names(&self, _: &str, _: i64, _: i64, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    async fn label_values(&self, _: &str, _: &str, _: i64, _: i64, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

/// The series of one shard answer, or `None` if it cannot be read back exactly.
fn read_back(answer: &RawAnswer, shard: usize, tag: bool, when: When) -> Option<Vec<Series>> {
    let mut out = Vec::with_capacity(answer.result.len());
    for s in &answer.result {
        if s.histogram.is_some() || !s.histograms.is_empty() {
            return None;
        }
        let shard_text = shard.to_string();
        let mut pairs: Vec<(&str, &str)> = s.metric.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if tag {
            pairs.push((SHARD_TAG, &shard_text));
        }
        let labels = Labels::from_pairs(&pairs);
        let samples: Vec<(i64, f64)> = match (when, answer.result_type.as_str()) {
            (When::Instant(_), "vector") => vec![float_point(s.value?)?],
            (When::Range { end, step, .. }, "matrix") => {
                let mut with_stale = Vec::with_capacity(s.values.len() + 1);
                let mut points = s.values.iter().map(|p| float_point(p)).peekable();
                while let Some(p) = points.next() {
                    let (t, v) = p?;
                    with_stale.push((t, v));
                    let next = points.peek().and_then(|p| p.map(|p| p.0));
                    if next != Some(t + step) && t + step <= end {
                        with_stale.push((t + step, STALE_NAN));
                    }
                }
                with_stale
            }
            _ => return None,
        };
        out.push(Series::new(labels, Chunk::encode_all(&samples, SAMPLES_PER_CHUNK)));
    }
    Some(out)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == ':'
}

/// The first whole-token occurrence of `needle` in `text`, as the engine finds the
/// node an annotation is about.
fn find_token(text: &str, needle: &str) -> Option<usize> {
    let word = needle.chars().all(is_ident);
    let mut from = 0;
    while let Some(i) = text[from..].find(needle) {
        let at = from + i;
        let before = !word || text[..at].chars().next_back().is_none_or(|c| !is_ident(c));
        let after = !word || text[at + needle.len()..].chars().next().is_none_or(|c| !is_ident(c));
        if before && after {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}

/// An annotation's `(line:column)` points into the query that produced it (a shard
/// query, or the frontend's combining query); this points it at the same token of the
/// query the client sent.
fn remap(msg: &str, from: &str, to: &str) -> String {
    let remapped = (|| {
        let body = msg.strip_suffix(')')?;
        let open = body.rfind(" (")?;
        let (line, col) = body[open + 2..].split_once(':')?;
        let (line, col): (usize, usize) = (line.parse().ok()?, col.parse().ok()?);
        let line_start = if line <= 1 {
            0
        } else {
            from.match_indices('\n').nth(line - 2)?.0 + 1
        };
        let at = line_start + col.checked_sub(1)?;
        let rest = from.get(at..)?;
        let first = rest.chars().next()?;
        let token: &str = if is_ident(first) {
            let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            &rest[..end]
        } else {
            &rest[..first.len_utf8()]
        };
        let offset = find_token(to, token).unwrap_or(0);
        let line = to[..offset].matches('\n').count() + 1;
        let col = offset - to[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
        Some(format!("{} ({line}:{col})", &body[..open]))
    })();
    remapped.unwrap_or_else(|| msg.to_string())
}

fn add_unique(into: &mut Vec<String>, msgs: Vec<String>, from: &str, to: &str) {
    for m in msgs {
        let m = remap(&m, from, to);
        if !into.contains(&m) {
            into.push(m);
        }
    }
}

/// Runs `plan`'s shard queries (at most `parallelism` at once) and evaluates the
/// rest of the query over their answers.
pub async fn run(
    down: &dyn Downstream,
    engine: &Engine,
    tenant: &str,
    query: &str,
    plan: &Plan,
    when: When,
    parallelism: usize,
) -> Result<Sharded, FrontendError> {
    let mut requests = Vec::new();
    for e in &plan.embedded {
        for (shard, q) in e.shard_queries.iter().enumerate() {
            let req = match when {
                When::Instant(t) => Request::instant(tenant, q, t),
                When::Range { start, end, step } => Request::range(tenant, q, start, end, step),
            };
            requests.push((e.id, shard, e.tag_shard, q.clone(), req));
        }
    }
    let replies: Vec<_> = stream::iter(requests)
        .map(|(id, shard, tag, text, req)| async move { (id, shard, tag, text, down.run(req).await) })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    let mut embedded: EmbeddedSeries = BTreeMap::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut infos: Vec<String> = Vec::new();
    for (id, shard, tag, text, reply) in replies {
        let reply = reply?;
        if !reply.ok() {
            return Ok(Sharded::Unsupported);
        }
        let answer = RawAnswer::parse(&reply.body)?;
        let Some(series) = read_back(&answer, shard, tag, when) else {
            return Ok(Sharded::Unsupported);
        };
        embedded.entry(id).or_default().extend(series);
        add_unique(&mut warnings, answer.warnings, &text, query);
        add_unique(&mut infos, answer.infos, &text, query);
    }
    for series in embedded.values_mut() {
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        if series.windows(2).any(|w| w[0].labels == w[1].labels) {
            // Two shards answered the same series: not a partition after all.
            return Ok(Sharded::Unsupported);
        }
    }
    let store: Arc<dyn Queryable> = Arc::new(EmbeddedStore(embedded));
    let result = match when {
        When::Instant(t) => engine.instant_query(store, tenant, &plan.outer, t).await,
        When::Range { start, end, step } => engine.range_query(store, tenant, &plan.outer, start, end, step).await,
    };
    let Ok(result) = result else {
        return Ok(Sharded::Unsupported);
    };
    let data = pyrite_api::query_data(&result);
    add_unique(&mut warnings, result.warnings, &plan.outer, query);
    add_unique(&mut infos, result.infos, &plan.outer, query);
    Ok(Sharded::Done(Reply {
        status: 200,
        body: encode_answer(&data, &warnings, &infos).into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_positions_point_into_the_clients_query() {
        let m = "PromQL info: ignored histogram in topk aggregation (1:1)";
        assert_eq!(
            remap(m, "topk (1000, {a=\"b\"})", "count(topk(1000, {a=\"b\"}))"),
            "PromQL info: ignored histogram in topk aggregation (1:7)"
        );
        assert_eq!(remap("no position", "a", "b"), "no position");
        assert_eq!(remap("x (2:3)", "a\nb c", "\n\n  c"), "x (3:3)");
    }
}
