//! Merging answers from several stores that may hold the same series (shards around a
//! ring change, the head and a block around a flush): one [`Series`] per label set,
//! sorted, with samples from every source and each timestamp once.

use std::collections::BTreeMap;

use pyrite_chunk::{Chunk, HistogramChunk, SAMPLES_PER_CHUNK};

use crate::Series;

/// Sorts by labels and merges series that share a label set.
pub fn merge_series(mut all: Vec<Series>) -> Vec<Series> {
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<Series> = Vec::with_capacity(all.len());
    for s in all {
        match out.last_mut() {
            Some(last) if last.labels == s.labels => *last = merge_two(last, &s),
            _ => out.push(s),
        }
    }
    out
}

/// One series from two with the same labels; where both have a sample at a
/// timestamp, `a`'s wins.
fn merge_two(a: &Series, b: &Series) -> Series {
    let mut floats: BTreeMap<i64, f64> = b.iter().collect();
    floats.extend(a.iter());
    let mut hists: BTreeMap<i64, _> = b.histograms_in(i64::MIN, i64::MAX).into_iter().collect();
    hists.extend(a.histograms_in(i64::MIN, i64::MAX));
    // A timestamp is a float or a histogram, never both: the histogram's source wins
    // only where the float did not come from `a`.
    for t in hists.keys() {
        floats.remove(t);
    }
    let floats: Vec<(i64, f64)> = floats.into_iter().collect();
    let hists: Vec<_> = hists.into_iter().collect();
    Series::new(a.labels.clone(), Chunk::encode_all(&floats, SAMPLES_PER_CHUNK))
        .with_histograms(HistogramChunk::encode_all(&hists, SAMPLES_PER_CHUNK))
}

#[cfg(test)]
mod tests {
    use pyrite_model::Labels;

    use super::*;

    fn series(name: &str, samples: &[(i64, f64)]) -> Series {
        Series::new(
            Labels::from_pairs(&[("__name__", name)]),
            Chunk::encode_all(samples, 120),
        )
    }

    #[test]
    fn same_series_from_two_sources_merge() {
        let merged = merge_series(vec![
            series("b", &[(1, 1.0)]),
            series("a", &[(10, 1.0), (30, 3.0)]),
            series("a", &[(20, 2.0), (30, 9.0)]),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].labels.metric_name(), "a");
        assert_eq!(merged[0].iter().collect::<Vec<_>>(), [(10, 1.0), (20, 2.0), (30, 3.0)]);
        assert_eq!(merged[1].iter().collect::<Vec<_>>(), [(1, 1.0)]);
    }
}
