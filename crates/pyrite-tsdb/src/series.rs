//! One series' samples in memory: sealed chunks, the open chunk being appended to, and a
//! small sorted side buffer for out-of-order samples.
//!
//! Invariant: sealed chunks and the open chunk hold strictly increasing timestamps, in
//! order and without overlap; every sample older than the newest one lives in the
//! out-of-order buffer until it is merged on read.

use std::collections::BTreeMap;

use pyrite_chunk::{Chunk, ChunkBuilder, ChunkError, HistogramChunk, HistogramChunkBuilder, SAMPLES_PER_CHUNK};
use pyrite_model::FloatHistogram;
use serde::{Deserialize, Serialize};

/// Why one sample was refused. Each is the sender's problem (a 400), never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleRejection {
    /// Older than the series' newest sample and out-of-order ingestion is off.
    OutOfOrder,
    /// Older than the series' newest sample by more than the out-of-order window.
    TooOld,
    /// Older than the head keeps: that time range is cut into a block already.
    OutOfBounds,
    /// Same timestamp as an existing sample, different value.
    DuplicateTimestamp,
}

impl SampleRejection {
    pub fn reason(&self) -> &'static str {
        match self {
            SampleRejection::OutOfOrder => "out of order sample",
            SampleRejection::TooOld => "too old sample: older than the out-of-order window",
            SampleRejection::OutOfBounds => "out of bounds: older than the time range the head still holds",
            SampleRejection::DuplicateTimestamp => "duplicate sample for timestamp",
        }
    }

    /// Short label for the discarded-samples metric.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            SampleRejection::OutOfOrder => "sample_out_of_order",
            SampleRejection::TooOld => "sample_too_old",
            SampleRejection::OutOfBounds => "sample_out_of_bounds",
            SampleRejection::DuplicateTimestamp => "sample_duplicate_timestamp",
        }
    }
}

#[derive(Default)]
pub(crate) struct SeriesData {
    sealed: Vec<Chunk>,
    open: ChunkBuilder,
    /// Newest in-order sample.
    last: Option<(i64, u64)>,
    // Boxed so series without out-of-order samples (nearly all) pay one pointer, not a map.
    #[allow(clippy::box_collection)]
    ooo: Option<Box<BTreeMap<i64, f64>>>,
    /// Native-histogram samples, for the series that have any.
    hist: Option<Box<HistogramData>>,
}

/// A series' native-histogram samples: in order only (no out-of-order window).
#[derive(Default)]
struct HistogramData {
    sealed: Vec<HistogramChunk>,
    open: HistogramChunkBuilder,
    /// The newest histogram sample, for duplicates and reset hints.
    last: Option<(i64, FloatHistogram)>,
}

/// What an append did, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    New,
    /// An identical sample was already there; nothing changed.
    Duplicate,
}

impl SeriesData {
    /// Where the next float sample's bits go, to fetch ahead of an append.
    pub(crate) fn tail(&self) -> *const u8 {
        self.open.tail()
    }

    /// Drops every chunk (and out-of-order sample) wholly before `t`: that data is in a
    /// block now. A chunk that reaches `t` or later stays whole. Returns whether the
    /// series still holds anything.
    pub(crate) fn drop_before(&mut self, t: i64) -> bool {
        self.sealed.retain(|c| c.max_time() >= t);
        if self.open.max_time().is_some_and(|m| m < t) {
            self.open = ChunkBuilder::default();
        }
        if let Some(ooo) = &mut self.ooo {
            ooo.retain(|ts, _| *ts >= t);
            if ooo.is_empty() {
                self.ooo = None;
            }
        }
        if let Some(h) = &mut self.hist {
            h.sealed.retain(|c| c.max_time() >= t);
            if !h.open.is_empty() && h.open.snapshot().max_time() < t {
                h.open = HistogramChunkBuilder::default();
            }
            if h.sealed.is_empty() && h.open.is_empty() {
                self.hist = None;
            }
        }
        !self.sealed.is_empty() || !self.open.is_empty() || self.ooo.is_some() || self.hist.is_some()
    }

    /// The oldest and newest timestamps held, of either kind.
    pub(crate) fn time_bounds(&self) -> Option<(i64, i64)> {
        let mut lo = self.sealed.first().map(|c| c.min_time()).or(self.open.min_time());
        let mut hi = self.last.map(|l| l.0);
        if let Some(ooo) = &self.ooo {
            lo = lo.into_iter().chain(ooo.keys().next().copied()).min();
            hi = hi.into_iter().chain(ooo.keys().next_back().copied()).max();
        }
        if let Some(h) = &self.hist {
            let hlo = h
                .sealed
                .first()
                .map(|c| c.min_time())
                .or_else(|| (!h.open.is_empty()).then(|| h.open.snapshot().min_time()));
            lo = lo.into_iter().chain(hlo).min();
            hi = hi.into_iter().chain(h.last.as_ref().map(|l| l.0)).max();
        }
        Some((lo?, hi?))
    }

    /// The bits of the in-order float sample at `t`, if there is one.
    fn in_order_at(&self, t: i64) -> Option<u64> {
        let i = self.sealed.partition_point(|c| c.max_time() < t);
        let found = match self.sealed.get(i) {
            Some(c) if c.min_time() <= t => c.iter().take_while(|s| s.0 <= t).find(|s| s.0 == t),
            Some(_) => None,
            None => self.open.iter().take_while(|s| s.0 <= t).find(|s| s.0 == t),
        };
        found.map(|s| s.1.to_bits())
    }

    /// The histogram sample stored at `t`, if there is one.
    fn histogram_at(&self, t: i64) -> Option<FloatHistogram> {
        let d = self.hist.as_ref()?;
        let i = d.sealed.partition_point(|c| c.max_time() < t);
        let found = match d.sealed.get(i) {
            Some(c) if c.min_time() <= t => c.iter().take_while(|s| s.0 <= t).find(|s| s.0 == t),
            Some(_) => None,
            None if d.open.is_empty() => None,
            None => d.open.snapshot().iter().take_while(|s| s.0 <= t).find(|s| s.0 == t),
        };
        found.map(|s| s.1)
    }

    /// The oldest sample timestamp at or after `t`, of either kind.
    pub(crate) fn first_time_from(&self, t: i64) -> Option<i64> {
        fn in_chunk(min: i64, t: i64, iter: impl Iterator<Item = i64>) -> Option<i64> {
            if min >= t {
                Some(min)
            } else {
                iter.into_iter().find(|&s| s >= t)
            }
        }
        let i = self.sealed.partition_point(|c| c.max_time() < t);
        let in_order = match self.sealed.get(i) {
            Some(c) => in_chunk(c.min_time(), t, c.iter().map(|s| s.0)),
            None => self.open.iter().map(|s| s.0).find(|&s| s >= t),
        };
        let ooo = self.ooo.as_ref().and_then(|o| o.range(t..).next().map(|(k, _)| *k));
        let hist = self.hist.as_ref().and_then(|d| {
            let i = d.sealed.partition_point(|c| c.max_time() < t);
            match d.sealed.get(i) {
                Some(c) => in_chunk(c.min_time(), t, c.iter().map(|s| s.0)),
                None if d.open.is_empty() => None,
                None => d.open.snapshot().iter().map(|s| s.0).find(|&s| s >= t),
            }
        });
        [in_order, ooo, hist].into_iter().flatten().min()
    }

    /// Timestamp of the newest histogram sample, if any.
    fn last_histogram_t(&self) -> Option<i64> {
        self.hist.as_ref().and_then(|h| h.last.as_ref().map(|l| l.0))
    }

    /// Appends a native-histogram sample. Histograms are accepted in order only: after
    /// the series' newest sample of either kind. Its counter-reset hint becomes the one a
    /// reader is told (see [`FloatHistogram::stored_hint`]).
    pub fn append_histogram(&mut self, t: i64, h: &FloatHistogram) -> Result<Appended, SampleRejection> {
        let last_float = self.last.map(|l| l.0);
        if let Some((lt, lh)) = self.hist.as_ref().and_then(|d| d.last.as_ref()) {
            if t == *lt {
                let mut probe = h.clone();
                probe.counter_reset_hint = lh.counter_reset_hint;
                return if lh.equals(&probe) {
                    Ok(Appended::Duplicate)
                } else {
                    Err(SampleRejection::DuplicateTimestamp)
                };
            }
        }
        if let Some(stored) = self.histogram_at(t) {
            let mut probe = h.clone();
            probe.counter_reset_hint = stored.counter_reset_hint;
            return if stored.equals(&probe) {
                Ok(Appended::Duplicate)
            } else {
                Err(SampleRejection::DuplicateTimestamp)
            };
        }
        let newest = last_float.max(self.last_histogram_t());
        match newest {
            Some(n) if t == n => return Err(SampleRejection::DuplicateTimestamp),
            Some(n) if t < n => return Err(SampleRejection::OutOfOrder),
            _ => {}
        }
        let data = self.hist.get_or_insert_with(Default::default);
        // The previous sample counts for reset detection only if it was a histogram.
        let prev = match (&data.last, last_float) {
            (Some((ht, ph)), lf) if lf.is_none_or(|f| f < *ht) => Some(ph),
            _ => None,
        };
        let mut stored = h.clone();
        stored.counter_reset_hint = h.stored_hint(prev);
        if data.open.len() >= SAMPLES_PER_CHUNK {
            let full = std::mem::take(&mut data.open);
            data.sealed.push(full.finish());
        }
        data.open.append(t, &stored);
        data.last = Some((t, stored));
        Ok(Appended::New)
    }

    /// Histogram chunks covering `[start, end]`.
    pub fn histogram_chunks_in(&self, start: i64, end: i64) -> Vec<HistogramChunk> {
        let Some(d) = &self.hist else { return Vec::new() };
        let first = d.sealed.partition_point(|c| c.max_time() < start);
        let mut out: Vec<HistogramChunk> = d.sealed[first..]
            .iter()
            .take_while(|c| c.min_time() <= end)
            .cloned()
            .collect();
        if !d.open.is_empty() {
            let snap = d.open.snapshot();
            if snap.max_time() >= start && snap.min_time() <= end {
                out.push(snap);
            }
        }
        out
    }

    pub fn append(&mut self, t: i64, v: f64, ooo_window: i64) -> Result<Appended, SampleRejection> {
        if let Some(ht) = self.last_histogram_t() {
            // After a histogram, a float must be newer too (no mixing at one timestamp).
            if t <= ht && self.last.is_none_or(|l| l.0 < ht) {
                return Err(if t == ht {
                    SampleRejection::DuplicateTimestamp
                } else {
                    SampleRejection::OutOfOrder
                });
            }
        }
        let bits = v.to_bits();
        match self.last {
            Some((last_t, last_bits)) if t == last_t => {
                if bits == last_bits {
                    Ok(Appended::Duplicate)
                } else {
                    Err(SampleRejection::DuplicateTimestamp)
                }
            }
            Some((last_t, _)) if t < last_t => match self.in_order_at(t) {
                // A retried write meets its own samples: the same value is no change,
                // another value is refused, whatever the out-of-order window.
                Some(stored) if stored == bits => Ok(Appended::Duplicate),
                Some(_) => Err(SampleRejection::DuplicateTimestamp),
                None => self.append_out_of_order(t, v, last_t, ooo_window),
            },
            _ => {
                if self.open.len() >= SAMPLES_PER_CHUNK {
                    let full = std::mem::take(&mut self.open);
                    self.sealed.push(full.finish());
                }
                self.open.append(t, v);
                self.last = Some((t, bits));
                Ok(Appended::New)
            }
        }
    }

    fn append_out_of_order(&mut self, t: i64, v: f64, last_t: i64, window: i64) -> Result<Appended, SampleRejection> {
        if window <= 0 {
            return Err(SampleRejection::OutOfOrder);
        }
        if t < last_t.saturating_sub(window) {
            return Err(SampleRejection::TooOld);
        }
        let ooo = self.ooo.get_or_insert_with(Default::default);
        match ooo.get(&t) {
            Some(old) if old.to_bits() == v.to_bits() => Ok(Appended::Duplicate),
            Some(_) => Err(SampleRejection::DuplicateTimestamp),
            None => {
                ooo.insert(t, v);
                Ok(Appended::New)
            }
        }
    }

    /// Chunks covering `[start, end]`: shared sealed chunks, a copy of the open one, and,
    /// when out-of-order samples fall in the range, freshly merged chunks.
    pub fn chunks_in(&self, start: i64, end: i64) -> Vec<Chunk> {
        let first = self.sealed.partition_point(|c| c.max_time() < start);
        let mut out: Vec<Chunk> = self.sealed[first..]
            .iter()
            .take_while(|c| c.min_time() <= end)
            .cloned()
            .collect();
        if let (Some(min), Some(max)) = (self.open.min_time(), self.open.max_time()) {
            if max >= start && min <= end {
                out.push(self.open.snapshot());
            }
        }
        match &self.ooo {
            Some(ooo) if ooo.range(start..=end).next().is_some() => merge_out_of_order(&out, ooo, start, end),
            _ => out,
        }
    }

    /// Whether [`SeriesData::chunks_in`] or [`SeriesData::histogram_chunks_in`] would
    /// return a chunk, from the chunks' time bounds alone: nothing is copied or decoded.
    pub fn has_chunks_in(&self, start: i64, end: i64) -> bool {
        let overlaps = |(min, max): (i64, i64)| min <= end && max >= start;
        let sealed = |chunks: &[Chunk]| {
            let first = chunks.partition_point(|c| c.max_time() < start);
            chunks.get(first).is_some_and(|c| c.min_time() <= end)
        };
        let open = self.open.min_time().zip(self.open.max_time());
        sealed(&self.sealed)
            || open.is_some_and(overlaps)
            || self.ooo.as_ref().is_some_and(|o| o.range(start..=end).next().is_some())
            || self.hist.as_ref().is_some_and(|h| {
                let first = h.sealed.partition_point(|c| c.max_time() < start);
                h.sealed.get(first).is_some_and(|c| c.min_time() <= end) || h.open.time_range().is_some_and(overlaps)
            })
    }

    pub fn has_data_in(&self, start: i64, end: i64) -> bool {
        let in_order = match (self.first_time(), self.last) {
            (Some(min), Some((max, _))) => min <= end && max >= start,
            _ => false,
        };
        in_order
            || self.ooo.as_ref().is_some_and(|o| o.range(start..=end).next().is_some())
            || !self.histogram_chunks_in(start, end).is_empty()
    }

    fn first_time(&self) -> Option<i64> {
        self.sealed
            .first()
            .map(Chunk::min_time)
            .or_else(|| self.open.min_time())
    }

    pub fn num_samples(&self) -> usize {
        let hist = self.hist.as_ref().map_or(0, |h| {
            h.sealed.iter().map(HistogramChunk::len).sum::<usize>() + h.open.len()
        });
        self.sealed.iter().map(Chunk::len).sum::<usize>()
            + self.open.len()
            + self.ooo.as_ref().map_or(0, |o| o.len())
            + hist
    }

    pub fn chunk_bytes(&self) -> usize {
        let hist = self.hist.as_ref().map_or(0, |h| {
            h.sealed.iter().map(|c| c.bytes().len()).sum::<usize>() + h.open.size_bytes()
        });
        self.sealed.iter().map(|c| c.bytes().len()).sum::<usize>() + self.open.size_bytes() + hist
    }
}

/// Merges out-of-order samples into in-order chunks for one read. An in-order sample
/// wins over an out-of-order one at the same timestamp.
fn merge_out_of_order(chunks: &[Chunk], ooo: &BTreeMap<i64, f64>, start: i64, end: i64) -> Vec<Chunk> {
    let mut merged: Vec<(i64, f64)> = Vec::new();
    let mut extra = ooo.range(start..=end).peekable();
    for s in chunks.iter().flat_map(Chunk::iter) {
        while let Some((&t, &v)) = extra.peek() {
            if t > s.0 {
                break;
            }
            if t < s.0 {
                merged.push((t, v));
            }
            extra.next();
        }
        merged.push(s);
    }
    merged.extend(extra.map(|(t, v)| (*t, *v)));
    Chunk::encode_all(&merged, SAMPLES_PER_CHUNK)
}

/// A chunk as a snapshot keeps it.
#[derive(Serialize, Deserialize)]
pub(crate) struct ChunkSnap {
    /// Shared with the chunk, so capturing a snapshot copies no sealed chunk.
    bytes: bytes::Bytes,
    min_t: i64,
    max_t: i64,
}

impl ChunkSnap {
    fn of(c: &Chunk) -> ChunkSnap {
        ChunkSnap {
            bytes: c.bytes().clone(),
            min_t: c.min_time(),
            max_t: c.max_time(),
        }
    }

    fn of_hist(c: &HistogramChunk) -> ChunkSnap {
        ChunkSnap {
            bytes: c.bytes().clone(),
            min_t: c.min_time(),
            max_t: c.max_time(),
        }
    }

    fn chunk(self) -> Chunk {
        Chunk::from_parts(self.bytes, self.min_t, self.max_t)
    }

    fn hist_chunk(self) -> HistogramChunk {
        HistogramChunk::from_parts(self.bytes, self.min_t, self.max_t)
    }
}

/// A series' whole state: sealed chunks as they are, the open chunk (rebuilt on
/// restore by appending its samples again, which yields the same bytes), the newest
/// sample and the out-of-order buffer, so a restored series accepts and refuses later
/// samples exactly as the original would have.
#[derive(Serialize, Deserialize)]
pub(crate) struct SeriesSnap {
    sealed: Vec<ChunkSnap>,
    open: Option<ChunkSnap>,
    last: Option<(i64, u64)>,
    /// `(t, value bits)`.
    ooo: Vec<(i64, u64)>,
    hist: Option<HistSnap>,
}

#[derive(Serialize, Deserialize)]
struct HistSnap {
    sealed: Vec<ChunkSnap>,
    open: Option<ChunkSnap>,
}

impl SeriesData {
    pub(crate) fn snapshot(&self) -> SeriesSnap {
        let open = (!self.open.is_empty()).then(|| ChunkSnap::of(&self.open.snapshot()));
        SeriesSnap {
            sealed: self.sealed.iter().map(ChunkSnap::of).collect(),
            open,
            last: self.last,
            ooo: self
                .ooo
                .as_ref()
                .map_or_else(Vec::new, |o| o.iter().map(|(t, v)| (*t, v.to_bits())).collect()),
            hist: self.hist.as_ref().map(|h| HistSnap {
                sealed: h.sealed.iter().map(ChunkSnap::of_hist).collect(),
                open: (!h.open.is_empty()).then(|| ChunkSnap::of_hist(&h.open.snapshot())),
            }),
        }
    }

    pub(crate) fn restore(snap: SeriesSnap) -> Result<SeriesData, ChunkError> {
        let mut open = ChunkBuilder::default();
        if let Some(c) = snap.open {
            let c = c.chunk();
            let mut it = c.iter();
            for (t, v) in it.by_ref() {
                open.append(t, v);
            }
            if let Some(e) = it.err() {
                return Err(e.clone());
            }
        }
        let ooo: BTreeMap<i64, f64> = snap.ooo.into_iter().map(|(t, b)| (t, f64::from_bits(b))).collect();
        let hist = match snap.hist {
            None => None,
            Some(h) => {
                let sealed: Vec<HistogramChunk> = h.sealed.into_iter().map(ChunkSnap::hist_chunk).collect();
                let mut open = HistogramChunkBuilder::default();
                let mut last = None;
                let open_chunk = h.open.map(ChunkSnap::hist_chunk);
                if let Some(c) = &open_chunk {
                    let mut it = c.iter();
                    for (t, fh) in it.by_ref() {
                        open.append(t, &fh);
                        last = Some((t, fh));
                    }
                    if let Some(e) = it.err() {
                        return Err(e.clone());
                    }
                }
                if last.is_none() {
                    last = sealed.last().and_then(|c| c.iter().last());
                }
                Some(Box::new(HistogramData { sealed, open, last }))
            }
        };
        Ok(SeriesData {
            sealed: snap.sealed.into_iter().map(ChunkSnap::chunk).collect(),
            open,
            last: snap.last,
            ooo: (!ooo.is_empty()).then(|| Box::new(ooo)),
            hist,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &SeriesData) -> Vec<(i64, f64)> {
        d.chunks_in(i64::MIN, i64::MAX)
            .iter()
            .flat_map(|c| c.iter().collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn in_order_appends_cut_chunks() {
        let mut d = SeriesData::default();
        for i in 0..300 {
            assert_eq!(d.append(i * 15_000, i as f64, 0), Ok(Appended::New));
        }
        assert_eq!(d.sealed.len(), 2);
        assert_eq!(d.num_samples(), 300);
        assert_eq!(all(&d).len(), 300);
        // A range in the middle returns only the chunks it touches.
        assert_eq!(d.chunks_in(0, 15_000).len(), 1);
        assert_eq!(d.chunks_in(130 * 15_000, 131 * 15_000).len(), 1);
    }

    #[test]
    fn duplicates_follow_prometheus() {
        let mut d = SeriesData::default();
        d.append(10, 1.0, 0).unwrap();
        assert_eq!(d.append(10, 1.0, 0), Ok(Appended::Duplicate));
        assert_eq!(d.append(10, 2.0, 0), Err(SampleRejection::DuplicateTimestamp));
        assert_eq!(d.append(5, 2.0, 0), Err(SampleRejection::OutOfOrder));
        // Stale markers are compared by bits, so a repeated marker is a duplicate.
        d.append(20, pyrite_model::STALE_NAN, 0).unwrap();
        assert_eq!(d.append(20, pyrite_model::STALE_NAN, 0), Ok(Appended::Duplicate));
        assert_eq!(d.append(20, f64::NAN, 0), Err(SampleRejection::DuplicateTimestamp));
    }

    #[test]
    fn histograms_append_in_order_with_reset_hints() {
        use pyrite_model::histogram::CounterResetHint;
        let h = |count: f64| FloatHistogram {
            count,
            sum: count,
            ..FloatHistogram::default()
        };
        let mut d = SeriesData::default();
        d.append(10, 1.0, 0).unwrap();
        assert_eq!(d.append_histogram(20, &h(5.0)), Ok(Appended::New));
        assert_eq!(d.append_histogram(20, &h(5.0)), Ok(Appended::Duplicate));
        assert_eq!(
            d.append_histogram(20, &h(6.0)),
            Err(SampleRejection::DuplicateTimestamp)
        );
        assert_eq!(d.append_histogram(10, &h(6.0)), Err(SampleRejection::OutOfOrder));
        assert_eq!(d.append_histogram(5, &h(6.0)), Err(SampleRejection::OutOfOrder));
        assert_eq!(d.append(15, 1.0, 0), Err(SampleRejection::OutOfOrder));
        d.append_histogram(30, &h(7.0)).unwrap();
        d.append_histogram(40, &h(2.0)).unwrap();
        let got: Vec<(i64, FloatHistogram)> = d
            .histogram_chunks_in(0, 100)
            .iter()
            .flat_map(|c| c.iter().collect::<Vec<_>>())
            .collect();
        let hints: Vec<CounterResetHint> = got.iter().map(|(_, h)| h.counter_reset_hint).collect();
        // After a float nothing is known; then "not a reset"; a drop reads as unknown.
        assert_eq!(
            hints,
            [
                CounterResetHint::Unknown,
                CounterResetHint::NotReset,
                CounterResetHint::Unknown
            ]
        );
        assert_eq!(d.num_samples(), 4);
        assert!(d.has_data_in(35, 45));
    }

    #[test]
    fn a_retried_write_is_a_duplicate_on_every_path() {
        // A retry resends several samples per series after newer ones landed.
        for window in [0, 1000] {
            let mut d = SeriesData::default();
            for t in 1..=300 {
                d.append(t * 10, t as f64, window).unwrap();
            }
            for t in [10, 1200, 2990, 3000] {
                let v = (t / 10) as f64;
                assert_eq!(d.append(t, v, window), Ok(Appended::Duplicate), "t={t} window={window}");
                assert_eq!(
                    d.append(t, v + 0.5, window),
                    Err(SampleRejection::DuplicateTimestamp),
                    "a different value at t={t} is refused, not stored and hidden (window={window})"
                );
            }
            assert_eq!(d.num_samples(), 300, "nothing stored twice");
        }
        let h = |count: f64| FloatHistogram {
            count,
            sum: count,
            ..FloatHistogram::default()
        };
        let mut d = SeriesData::default();
        for t in 0..200 {
            d.append_histogram(t, &h(t as f64)).unwrap();
        }
        assert_eq!(d.append_histogram(5, &h(5.0)), Ok(Appended::Duplicate));
        assert_eq!(d.append_histogram(150, &h(150.0)), Ok(Appended::Duplicate));
        assert_eq!(d.append_histogram(5, &h(6.0)), Err(SampleRejection::DuplicateTimestamp));
    }

    #[test]
    fn the_first_sample_from_a_time_skips_empty_stretches() {
        let mut d = SeriesData::default();
        for t in [-5_000_000_000, 0, 10, 20] {
            d.append(t, 1.0, 0).unwrap();
        }
        for t in 0..200 {
            d.append(1_000_000 + t, 1.0, 0).unwrap();
        }
        assert_eq!(d.first_time_from(i64::MIN), Some(-5_000_000_000));
        assert_eq!(d.first_time_from(-4_999_999_999), Some(0));
        assert_eq!(d.first_time_from(11), Some(20));
        assert_eq!(d.first_time_from(21), Some(1_000_000));
        assert_eq!(d.first_time_from(1_000_150), Some(1_000_150));
        assert_eq!(d.first_time_from(1_000_200), None);
    }

    #[test]
    fn out_of_order_within_window_merges_on_read() {
        let mut d = SeriesData::default();
        for t in [100, 200, 300, 400] {
            d.append(t, t as f64, 0).unwrap();
        }
        assert_eq!(d.append(250, 2.5, 1000), Ok(Appended::New));
        assert_eq!(d.append(50, 0.5, 1000), Ok(Appended::New));
        assert_eq!(d.append(250, 2.5, 1000), Ok(Appended::Duplicate));
        assert_eq!(d.append(250, 9.0, 1000), Err(SampleRejection::DuplicateTimestamp));
        assert_eq!(d.append(-700, 1.0, 1000), Err(SampleRejection::TooOld));
        let got = all(&d);
        let ts: Vec<i64> = got.iter().map(|s| s.0).collect();
        assert_eq!(ts, [50, 100, 200, 250, 300, 400]);
        assert_eq!(d.num_samples(), 6);
        // The merged answer respects the range too.
        let part: Vec<i64> = d
            .chunks_in(240, 260)
            .iter()
            .flat_map(|c| c.iter().map(|s| s.0).collect::<Vec<_>>())
            .collect();
        assert!(part.contains(&250));
        assert!(d.has_data_in(40, 60));
        assert!(!d.has_data_in(500, 600));
    }
}
