use std::collections::BTreeMap;

use proptest::prelude::*;
use pyrite_model::Labels;

use super::*;

fn labels(name: &str) -> Labels {
    Labels::from_pairs(&[("__name__", name)])
}

fn series(name: &str, samples: &[(i64, f64)]) -> Series {
    Series::new(labels(name), Chunk::encode_all(samples, 120))
}

fn hist(count: f64) -> FloatHistogram {
    FloatHistogram {
        count,
        sum: count,
        ..FloatHistogram::default()
    }
}

/// Chunks in time order, non-overlapping, no duplicate timestamps.
fn assert_invariant(s: &Series) {
    for w in s.chunks.windows(2) {
        assert!(w[0].max_time() < w[1].min_time(), "float chunks overlap");
    }
    for w in s.histograms.windows(2) {
        assert!(w[0].max_time() < w[1].min_time(), "histogram chunks overlap");
    }
    let ts: Vec<i64> = s.iter().map(|(t, _)| t).collect();
    assert!(
        ts.windows(2).all(|w| w[0] < w[1]),
        "float timestamps not strictly rising"
    );
    for c in &s.chunks {
        assert!(c.iter().all(|(t, _)| (c.min_time()..=c.max_time()).contains(&t)));
    }
}

/// The reference: every sample into one map, the earliest source's kept.
fn naive(sources: &[Vec<(i64, f64)>]) -> Vec<(i64, u64)> {
    let mut all = BTreeMap::new();
    for s in sources {
        for &(t, v) in s {
            all.entry(t).or_insert(v.to_bits());
        }
    }
    all.into_iter().collect()
}

fn bits(s: &Series) -> Vec<(i64, u64)> {
    s.iter().map(|(t, v)| (t, v.to_bits())).collect()
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

#[test]
fn chunks_that_overlap_nothing_pass_through_untouched() {
    // Ten blocks of one series, each its own range (two chunks each), plus a head that
    // overlaps only the last block's second chunk.
    let mut sources: Vec<Series> = (0..10)
        .map(|b| {
            let samples: Vec<(i64, f64)> = (0..240).map(|i| (b * 10_000 + i * 10, i as f64)).collect();
            series("m", &samples)
        })
        .collect();
    let head: Vec<(i64, f64)> = (0..200).map(|i| (9 * 10_000 + 1200 + i * 10 + 5, -1.0)).collect();
    sources.push(series("m", &head));
    let inputs: Vec<Chunk> = sources.iter().flat_map(|s| s.chunks.clone()).collect();
    let want = naive(&sources.iter().map(|s| s.iter().collect()).collect::<Vec<_>>());

    let merged = merge_series(sources);
    assert_eq!(merged.len(), 1);
    assert_invariant(&merged[0]);
    assert_eq!(bits(&merged[0]), want);
    let untouched = merged[0]
        .chunks
        .iter()
        .filter(|c| inputs.iter().any(|i| i.bytes().as_ptr() == c.bytes().as_ptr()))
        .count();
    assert_eq!(
        untouched, 20,
        "every chunk but the two that overlap is handed on as it is"
    );
}

#[test]
fn identical_copies_collapse_to_one_and_the_first_source_wins() {
    let a: Vec<(i64, f64)> = (0..300).map(|i| (i * 15, i as f64)).collect();
    let mut b = a.clone();
    b[7].1 = 99.0;
    let merged = merge_series(vec![series("m", &a), series("m", &b), series("m", &a)]);
    assert_eq!(merged.len(), 1);
    assert_invariant(&merged[0]);
    assert_eq!(merged[0].iter().collect::<Vec<_>>(), a);
}

#[test]
fn a_histogram_wins_a_timestamp_a_float_also_has() {
    let floats = series("m", &[(10, 1.0), (20, 2.0), (30, 3.0)]);
    let hists = Series::new(labels("m"), vec![])
        .with_histograms(HistogramChunk::encode_all(&[(20, hist(5.0)), (40, hist(6.0))], 120));
    // A float chunk that overlaps only the same source's histograms is left alone.
    let own = Series::new(labels("m"), Chunk::encode_all(&[(100, 1.0), (120, 1.0)], 120))
        .with_histograms(HistogramChunk::encode_all(&[(110, hist(7.0))], 120));
    let own_float = own.chunks[0].clone();
    let merged = merge_series(vec![floats, hists, own]);
    assert_eq!(merged.len(), 1);
    assert_invariant(&merged[0]);
    assert_eq!(
        merged[0].iter().collect::<Vec<_>>(),
        [(10, 1.0), (30, 3.0), (100, 1.0), (120, 1.0)]
    );
    let h: Vec<(i64, f64)> = merged[0]
        .histograms_in(i64::MIN, i64::MAX)
        .into_iter()
        .map(|(t, h)| (t, h.count))
        .collect();
    assert_eq!(h, [(20, 5.0), (40, 6.0), (110, 7.0)]);
    assert_eq!(
        merged[0].chunks.last().unwrap().bytes().as_ptr(),
        own_float.bytes().as_ptr()
    );
}

proptest! {
    #[test]
    fn k_way_merge_matches_the_naive_merge(
        sources in prop::collection::vec(
            prop::collection::btree_map(0i64..2_000, -3i32..3, 0..400),
            1..7,
        ),
        per_chunk in 1usize..150,
    ) {
        let sources: Vec<Vec<(i64, f64)>> = sources
            .into_iter()
            .map(|m| m.into_iter().map(|(t, v)| (t * 7, v as f64)).collect())
            .collect();
        let want = naive(&sources);
        let series: Vec<Series> = sources
            .iter()
            .map(|s| Series::new(labels("m"), Chunk::encode_all(s, per_chunk)))
            .collect();
        let merged = merge_series(series);
        let got = merged.iter().map(bits).next().unwrap_or_default();
        prop_assert_eq!(got, want);
        for s in &merged {
            assert_invariant(s);
        }
    }
}
