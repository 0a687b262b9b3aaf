//! The read and write contracts between Pyrite's components and its stores.
//!
//! Reads: the PromQL engine (and the HTTP series/labels API) talk to every store through
//! [`Queryable`]: the head, object-storage blocks, a store gateway's client and the
//! querier's fan-out over ingesters all implement [`Queryable`], and readers never know
//! which one they talk to.
//!
//! A store answers with compressed chunks, not decoded samples, so answers stay small
//! on the wire and readers decode lazily. The invariant readers rely on: within one
//! [`Series`], chunks are in time order, do not overlap, and hold no duplicate
//! timestamps; a store whose data overlaps (out-of-order samples, replicas, a block and
//! the head around a flush) merges before it answers. Readers that want only labels
//! (the series API) ask [`Queryable::series`], which a store answers without reading
//! or building a single chunk.
//!
//! A store that can answer only in part (object storage unreachable) says so through
//! [`warnings`], a side channel beside the results that readers collect per request.
//!
//! Writes: validated series go to an [`Appendable`], which acknowledges only what is
//! durable; so does the [`metadata`] of metric families, which is kept apart from the
//! series and read through a [`MetadataReader`]. A writer that writes the same series again and again (a scrape loop) can
//! hand them over as [`known`] series, built once and written by reference; such a
//! write means exactly the labeled series it stands for.

mod fanout;
pub mod known;
mod mem;
mod merge;
pub mod metadata;
pub mod query_shard;
pub mod warnings;
pub mod wire;
mod write;

use async_trait::async_trait;
use pyrite_chunk::{Chunk, ChunkIter, HistogramChunk};
use pyrite_model::{FloatHistogram, Labels, Matcher, QueryShard};

pub use fanout::{sorted_union, Fanout};
pub use known::{prefetch_arc, prefetch_line, KnownSample, KnownSeries, KnownValue, KnownWrite};
pub use mem::MemQueryable;
pub use merge::merge_series;
pub use metadata::{MetadataQuery, MetadataReader, MetricMetadata, MetricType};
pub use query_shard::QueryShards;
pub use write::{AppendError, AppendOutcome, Appendable};

/// What a reader wants from a selector: the inclusive time range whose samples it will
/// look at, and maybe one query shard of the series. Stores may return samples outside
/// the range (whole chunks); readers filter. A store should leave out the series outside
/// the shard before it reads their chunks; one that cannot is still correct, because
/// [`QueryShards`] drops them after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectHints {
    pub start: i64,
    pub end: i64,
    pub shard: Option<QueryShard>,
}

impl SelectHints {
    pub fn new(start: i64, end: i64) -> Self {
        Self {
            start,
            end,
            shard: None,
        }
    }

    /// The whole time axis.
    pub fn all() -> Self {
        Self::new(i64::MIN, i64::MAX)
    }

    /// The same hints for the series of one query shard.
    pub fn with_shard(self, shard: Option<QueryShard>) -> Self {
        Self { shard, ..self }
    }

    /// Whether a series with these labels is wanted (it is in the shard, if one is named).
    pub fn wants(&self, labels: &Labels) -> bool {
        self.shard.is_none_or(|s| s.contains(labels))
    }
}

/// Why a store could not answer. The variants map onto HTTP status classes: a bad
/// request is the caller's fault (4xx), a limit is 422/429, the rest are ours (5xx).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum StorageError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("internal storage error: {0}")]
    Internal(String),
    #[error("query canceled")]
    Canceled,
}

/// One series and its chunks for the requested range.
///
/// A series holds float samples, native-histogram samples, or both at different times
/// (a scrape target may switch a metric between the two). Each kind has its own chunks;
/// no timestamp appears in both. Stale markers are always float samples.
#[derive(Debug, Clone)]
pub struct Series {
    pub labels: Labels,
    /// Float samples: in time order, non-overlapping, no duplicate timestamps.
    pub chunks: Vec<Chunk>,
    /// Native-histogram samples, with the same ordering rules.
    pub histograms: Vec<HistogramChunk>,
}

impl Series {
    pub fn new(labels: Labels, chunks: Vec<Chunk>) -> Self {
        Self {
            labels,
            chunks,
            histograms: Vec::new(),
        }
    }

    pub fn with_histograms(mut self, histograms: Vec<HistogramChunk>) -> Self {
        self.histograms = histograms;
        self
    }

    /// Decodes the histogram samples with timestamps in `[mint, maxt]`, in time order.
    /// Chunks outside the range are never decoded.
    pub fn histograms_in(&self, mint: i64, maxt: i64) -> Vec<(i64, FloatHistogram)> {
        let mut out = Vec::new();
        for c in &self.histograms {
            if c.max_time() < mint || c.min_time() > maxt {
                continue;
            }
            out.extend(c.iter().filter(|(t, _)| (mint..=maxt).contains(t)));
        }
        out
    }

    /// Streams every sample of the series in time order.
    pub fn iter(&self) -> SeriesIter<'_> {
        SeriesIter {
            chunks: &self.chunks,
            next_chunk: 0,
            current: None,
            floor: i64::MIN,
        }
    }

    /// Number of samples held (both kinds), without decoding.
    pub fn num_samples(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum::<usize>()
            + self.histograms.iter().map(HistogramChunk::len).sum::<usize>()
    }
}

/// Sample iterator across a series' chunks.
pub struct SeriesIter<'a> {
    chunks: &'a [Chunk],
    next_chunk: usize,
    current: Option<ChunkIter<'a>>,
    /// Samples before this timestamp are skipped (set by [`SeriesIter::seek`]).
    floor: i64,
}

impl SeriesIter<'_> {
    /// Skips ahead so the next sample is the first with timestamp `>= t`; chunks that
    /// end before `t` are never decoded. Seeking backwards does nothing.
    pub fn seek(&mut self, t: i64) {
        if t <= self.floor {
            return;
        }
        self.floor = t;
        if let Some(cur) = &mut self.current {
            cur.seek(t);
        }
    }
}

impl Iterator for SeriesIter<'_> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<(i64, f64)> {
        loop {
            if let Some(cur) = &mut self.current {
                for s in cur.by_ref() {
                    if s.0 >= self.floor {
                        return Some(s);
                    }
                }
                self.current = None;
            }
            let chunk = loop {
                let c = self.chunks.get(self.next_chunk)?;
                self.next_chunk += 1;
                if c.max_time() >= self.floor {
                    break c;
                }
            };
            let mut it = chunk.iter();
            if chunk.min_time() < self.floor {
                it.seek(self.floor);
            }
            self.current = Some(it);
        }
    }
}

/// A store that answers selectors and label queries for one tenant at a time.
#[async_trait]
pub trait Queryable: Send + Sync {
    /// Series matching every matcher with samples in `hints`' range, sorted by labels.
    async fn select(&self, tenant: &str, hints: SelectHints, matchers: &[Matcher])
        -> Result<Vec<Series>, StorageError>;

    /// The label sets of the series [`Queryable::select`] would return for `[start, end]`,
    /// sorted and distinct, without their chunks. The default selects and drops the
    /// chunks; stores that can list series without touching chunks do so.
    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Labels>, StorageError> {
        let found = self.select(tenant, SelectHints::new(start, end), matchers).await?;
        Ok(sorted_labels(found.into_iter().map(|s| s.labels).collect()))
    }

    /// Sorted, distinct label names of series matching `matchers` (all series when empty)
    /// with data in `[start, end]`.
    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError>;

    /// Sorted, distinct values of label `name` over series matching `matchers`.
    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError>;
}

/// Label sets sorted and each once (the answer of [`Queryable::series`]).
pub fn sorted_labels(mut all: Vec<Labels>) -> Vec<Labels> {
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_iter_spans_chunks_and_seeks() {
        let samples: Vec<(i64, f64)> = (0..300).map(|i| (i * 10, i as f64)).collect();
        let s = Series::new(Labels::empty(), Chunk::encode_all(&samples, 120));
        assert_eq!(s.chunks.len(), 3);
        assert_eq!(s.iter().collect::<Vec<_>>(), samples);
        assert_eq!(s.num_samples(), 300);

        let mut it = s.iter();
        it.seek(2005);
        assert_eq!(it.next(), Some((2010, 201.0)));
        it.seek(2500);
        assert_eq!(it.next(), Some((2500, 250.0)));
        it.seek(100);
        assert_eq!(it.next(), Some((2510, 251.0)), "seeking backwards is a no-op");
        it.seek(10_000);
        assert_eq!(it.next(), None);

        // Seek from the middle of one chunk into a later one.
        let mut it = s.iter();
        assert_eq!(it.next(), Some((0, 0.0)));
        it.seek(1205);
        assert_eq!(it.next(), Some((1210, 121.0)));
    }
}
