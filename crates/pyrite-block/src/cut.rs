//! Cutting: the part of each series that falls in a block's range, re-encoded into
//! fresh chunks, so a block holds exactly its range whatever chunk boundaries the head
//! had, and every replica cutting the same data writes the same bytes.

use pyrite_chunk::{Chunk, HistogramChunk};
use pyrite_storage::Series;

/// Samples per chunk in a block. Larger than the head's 120: fewer chunk headers and
/// rows, still small enough that a short query decodes little it does not need.
pub const BLOCK_SAMPLES_PER_CHUNK: usize = 240;

/// The samples of `s` in `[min_time, max_time)`, re-encoded; `None` when there are none.
pub fn trim(s: &Series, min_time: i64, max_time: i64) -> Option<Series> {
    let floats: Vec<(i64, f64)> = s
        .iter()
        .skip_while(|(t, _)| *t < min_time)
        .take_while(|(t, _)| *t < max_time)
        .collect();
    let hists = s.histograms_in(min_time, max_time - 1);
    if floats.is_empty() && hists.is_empty() {
        return None;
    }
    Some(
        Series::new(s.labels.clone(), Chunk::encode_all(&floats, BLOCK_SAMPLES_PER_CHUNK))
            .with_histograms(HistogramChunk::encode_all(&hists, BLOCK_SAMPLES_PER_CHUNK)),
    )
}

#[cfg(test)]
mod tests {
    use pyrite_model::Labels;

    use super::*;

    #[test]
    fn trimming_keeps_exactly_the_range() {
        let samples: Vec<(i64, f64)> = (0..1000).map(|i| (i * 10, i as f64)).collect();
        let s = Series::new(
            Labels::from_pairs(&[("__name__", "m")]),
            Chunk::encode_all(&samples, 120),
        );
        let t = trim(&s, 2000, 5000).unwrap();
        let got: Vec<(i64, f64)> = t.iter().collect();
        assert_eq!(got.first(), Some(&(2000, 200.0)));
        assert_eq!(got.last(), Some(&(4990, 499.0)));
        assert_eq!(got.len(), 300);
        assert_eq!(t.chunks.len(), 2);
        assert!(trim(&s, 20_000, 30_000).is_none());
    }
}
