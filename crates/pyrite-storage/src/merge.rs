//! Merging answers from several stores that may hold the same series (shards around a
//! ring change, replicas, the head and a bucket's blocks around a flush): one [`Series`]
//! per label set, sorted, with samples from every source and each timestamp once.
//!
//! A series found in n sources is merged in one pass, not pairwise: each kind's chunks
//! (floats, histograms) are swept in time order with a heap over the sources, and grouped
//! into runs of chunks that overlap one another. A chunk that overlaps no other source's
//! chunk is handed on as it is, bytes untouched; only the chunks of an overlapping run are
//! decoded, merged sample by sample (again with a heap by time) and re-encoded. So merging
//! n blocks that each hold their own time range decodes nothing, and n copies of one range
//! decode each sample once.
//!
//! Where sources disagree at a timestamp, the earlier source (in the order given) wins;
//! where a float and a histogram share a timestamp, the histogram wins. The output keeps
//! the [`Series`] invariant: chunks in time order, non-overlapping, no duplicate
//! timestamps.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use pyrite_chunk::{Chunk, HistogramChunk, SAMPLES_PER_CHUNK};
use pyrite_model::FloatHistogram;

use crate::Series;

/// Sorts by labels and merges series that share a label set; among series with the same
/// labels, the one given first wins a timestamp both hold.
pub fn merge_series(mut all: Vec<Series>) -> Vec<Series> {
    // Stable: series with equal labels keep their given order, which is their priority.
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<Series> = Vec::with_capacity(all.len());
    let mut group: Vec<Series> = Vec::new();
    for s in all {
        if group.first().is_some_and(|g| g.labels != s.labels) {
            out.push(merge_group(std::mem::take(&mut group)));
        }
        group.push(s);
    }
    if !group.is_empty() {
        out.push(merge_group(group));
    }
    out
}

/// One series from `group` (same labels, at least one), earlier ones first.
fn merge_group(mut group: Vec<Series>) -> Series {
    if group.len() == 1 {
        return group.pop().expect("one series");
    }
    let labels = group[0].labels.clone();
    let mut floats: Vec<Vec<Chunk>> = Vec::with_capacity(group.len());
    let mut hists: Vec<Vec<HistogramChunk>> = Vec::with_capacity(group.len());
    for s in group {
        floats.push(s.chunks);
        hists.push(s.histograms);
    }
    let merged_hists = merge_kind(&hists, |_, _, _| None);
    let merged_floats = merge_kind(&floats, |source, lo, hi| histogram_times(&hists, source, lo, hi));
    Series::new(labels, merged_floats).with_histograms(merged_hists)
}

/// The timestamps of histogram samples in `[lo, hi]` held by sources other than
/// `source` (every source when `None`), sorted; `None` when there are none to look at.
/// A float at one of these timestamps gives way to the histogram.
fn histogram_times(hists: &[Vec<HistogramChunk>], source: Option<usize>, lo: i64, hi: i64) -> Option<Vec<i64>> {
    let mut times = Vec::new();
    let mut any = false;
    for (i, chunks) in hists.iter().enumerate() {
        if source == Some(i) {
            continue; // a source never holds a float and a histogram at one timestamp
        }
        let first = chunks.partition_point(|c| c.max_time() < lo);
        for c in chunks[first..].iter().take_while(|c| c.min_time() <= hi) {
            any = true;
            times.extend(c.iter().map(|(t, _)| t).filter(|t| (lo..=hi).contains(t)));
        }
    }
    any.then(|| {
        times.sort_unstable();
        times
    })
}

/// What the merge needs of a chunk kind.
trait Piece: Clone {
    type Value: Clone;
    fn min_time(&self) -> i64;
    fn max_time(&self) -> i64;
    fn decode_into(&self, out: &mut Vec<(i64, Self::Value)>);
    fn encode(samples: &[(i64, Self::Value)]) -> Vec<Self>;
}

impl Piece for Chunk {
    type Value = f64;
    fn min_time(&self) -> i64 {
        Chunk::min_time(self)
    }
    fn max_time(&self) -> i64 {
        Chunk::max_time(self)
    }
    fn decode_into(&self, out: &mut Vec<(i64, f64)>) {
        out.extend(self.iter());
    }
    fn encode(samples: &[(i64, f64)]) -> Vec<Self> {
        Chunk::encode_all(samples, SAMPLES_PER_CHUNK)
    }
}

impl Piece for HistogramChunk {
    type Value = FloatHistogram;
    fn min_time(&self) -> i64 {
        HistogramChunk::min_time(self)
    }
    fn max_time(&self) -> i64 {
        HistogramChunk::max_time(self)
    }
    fn decode_into(&self, out: &mut Vec<(i64, FloatHistogram)>) {
        out.extend(self.iter());
    }
    fn encode(samples: &[(i64, FloatHistogram)]) -> Vec<Self> {
        HistogramChunk::encode_all(samples, SAMPLES_PER_CHUNK)
    }
}

/// The chunks of one kind from every source (each source's in time order), merged.
///
/// `excluded(source, lo, hi)` names timestamps in `[lo, hi]` that must not appear in the
/// output (`source`: the one source of a run, or `None` for a run of several); a run
/// with exclusions is decoded even when it is a single chunk.
fn merge_kind<C: Piece>(sources: &[Vec<C>], excluded: impl Fn(Option<usize>, i64, i64) -> Option<Vec<i64>>) -> Vec<C> {
    let total: usize = sources.iter().map(Vec::len).sum();
    let mut out: Vec<C> = Vec::with_capacity(total);
    // The next chunk of each source, smallest start first (ties: earlier source first).
    let mut next: BinaryHeap<Reverse<(i64, usize, usize)>> = sources
        .iter()
        .enumerate()
        .filter_map(|(s, cs)| cs.first().map(|c| Reverse((c.min_time(), s, 0))))
        .collect();
    let mut run: Vec<(usize, usize)> = Vec::new();
    let mut run_end = i64::MIN;
    let mut scratch = Merger::default();
    while let Some(Reverse((start, s, i))) = next.pop() {
        if !run.is_empty() && start > run_end {
            scratch.flush(sources, &run, &excluded, &mut out);
            run.clear();
        }
        let c = &sources[s][i];
        run_end = if run.is_empty() {
            c.max_time()
        } else {
            run_end.max(c.max_time())
        };
        run.push((s, i));
        if let Some(n) = sources[s].get(i + 1) {
            next.push(Reverse((n.min_time(), s, i + 1)));
        }
    }
    if !run.is_empty() {
        scratch.flush(sources, &run, &excluded, &mut out);
    }
    out
}

/// Buffers reused across the runs of one merge.
struct Merger<V> {
    decoded: Vec<(i64, V)>,
    merged: Vec<(i64, V)>,
}

impl<V> Default for Merger<V> {
    fn default() -> Self {
        Self {
            decoded: Vec::new(),
            merged: Vec::new(),
        }
    }
}

impl<V: Clone> Merger<V> {
    /// Appends a run of mutually overlapping chunks to `out`: a lone chunk as it is,
    /// several merged (earlier source first at equal timestamps) and re-encoded.
    fn flush<C: Piece<Value = V>>(
        &mut self,
        sources: &[Vec<C>],
        run: &[(usize, usize)],
        excluded: &impl Fn(Option<usize>, i64, i64) -> Option<Vec<i64>>,
        out: &mut Vec<C>,
    ) {
        let lo = run
            .iter()
            .map(|&(s, i)| sources[s][i].min_time())
            .min()
            .unwrap_or(i64::MIN);
        let hi = run
            .iter()
            .map(|&(s, i)| sources[s][i].max_time())
            .max()
            .unwrap_or(i64::MAX);
        let only = match run {
            [(s, _)] => Some(*s),
            _ => None,
        };
        let skip = excluded(only, lo, hi);
        if let ([(s, i)], None) = (run, &skip) {
            out.push(sources[*s][*i].clone());
            return;
        }
        // Decode each chunk of the run into one buffer, remembering where each begins.
        self.decoded.clear();
        let mut bounds: Vec<(usize, usize, usize)> = Vec::with_capacity(run.len());
        for &(s, i) in run {
            let from = self.decoded.len();
            sources[s][i].decode_into(&mut self.decoded);
            bounds.push((s, from, self.decoded.len()));
        }
        // Heap by (time, source): the earliest sample next, the earlier source first.
        let mut heads: BinaryHeap<Reverse<(i64, usize, usize)>> = bounds
            .iter()
            .enumerate()
            .filter(|(_, (_, from, to))| from < to)
            .map(|(k, &(s, from, _))| Reverse((self.decoded[from].0, s, k)))
            .collect();
        let mut pos: Vec<usize> = bounds.iter().map(|b| b.1).collect();
        self.merged.clear();
        let skip = skip.unwrap_or_default();
        while let Some(Reverse((t, _, k))) = heads.pop() {
            let at = pos[k];
            pos[k] += 1;
            if pos[k] < bounds[k].2 {
                heads.push(Reverse((self.decoded[pos[k]].0, bounds[k].0, k)));
            }
            if self.merged.last().is_some_and(|(last, _)| *last >= t) || skip.binary_search(&t).is_ok() {
                continue;
            }
            self.merged.push(self.decoded[at].clone());
        }
        out.extend(C::encode(&self.merged));
    }
}

#[cfg(test)]
mod tests;
