//! One series' samples in memory: sealed chunks, the open chunk being appended to, and a
//! small sorted side buffer for out-of-order samples.
//!
//! Invariant: sealed chunks and the open chunk hold strictly increasing timestamps, in
//! order and without overlap; every sample older than the newest one lives in the
//! out-of-order buffer until it is merged on read.

use std::collections::BTreeMap;

use pyrite_chunk::{Chunk, ChunkBuilder, SAMPLES_PER_CHUNK};

/// Why one sample was refused. Each is the sender's problem (a 400), never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleRejection {
    /// Older than the series' newest sample and out-of-order ingestion is off.
    OutOfOrder,
    /// Older than the series' newest sample by more than the out-of-order window.
    TooOld,
    /// Same timestamp as an existing sample, different value.
    DuplicateTimestamp,
}

impl SampleRejection {
    pub fn reason(&self) -> &'static str {
        match self {
            SampleRejection::OutOfOrder => "out of order sample",
            SampleRejection::TooOld => "too old sample: older than the out-of-order window",
            SampleRejection::DuplicateTimestamp => "duplicate sample for timestamp with a different value",
        }
    }

    /// Short label for the discarded-samples metric.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            SampleRejection::OutOfOrder => "sample_out_of_order",
            SampleRejection::TooOld => "sample_too_old",
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
}

/// What an append did, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    New,
    /// An identical sample was already there; nothing changed.
    Duplicate,
}

impl SeriesData {
    pub fn append(&mut self, t: i64, v: f64, ooo_window: i64) -> Result<Appended, SampleRejection> {
        let bits = v.to_bits();
        match self.last {
            Some((last_t, last_bits)) if t == last_t => {
                if bits == last_bits {
                    Ok(Appended::Duplicate)
                } else {
                    Err(SampleRejection::DuplicateTimestamp)
                }
            }
            Some((last_t, _)) if t < last_t => self.append_out_of_order(t, v, last_t, ooo_window),
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

    pub fn has_data_in(&self, start: i64, end: i64) -> bool {
        let in_order = match (self.first_time(), self.last) {
            (Some(min), Some((max, _))) => min <= end && max >= start,
            _ => false,
        };
        in_order || self.ooo.as_ref().is_some_and(|o| o.range(start..=end).next().is_some())
    }

    fn first_time(&self) -> Option<i64> {
        self.sealed
            .first()
            .map(Chunk::min_time)
            .or_else(|| self.open.min_time())
    }

    pub fn num_samples(&self) -> usize {
        self.sealed.iter().map(Chunk::len).sum::<usize>() + self.open.len() + self.ooo.as_ref().map_or(0, |o| o.len())
    }

    pub fn chunk_bytes(&self) -> usize {
        self.sealed.iter().map(|c| c.bytes().len()).sum::<usize>() + self.open.size_bytes()
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
