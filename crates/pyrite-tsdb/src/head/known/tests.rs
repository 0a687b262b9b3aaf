use pyrite_model::{FloatHistogram, Labels, Matcher};
use pyrite_storage::SelectHints;

use super::*;
use crate::HeadOptions;

fn known(name: &str, job: &str) -> Arc<KnownSeries> {
    KnownSeries::new(Labels::from_pairs(&[("__name__", name), ("job", job)]))
}

/// A series as a reader sees it: labels, float samples, number of histograms.
type Seen = (Labels, Vec<(i64, f64)>, usize);

/// Every series of a tenant with every sample, as a reader sees them.
fn contents(head: &Head, tenant: &str) -> Vec<Seen> {
    let all = [Matcher::new(pyrite_model::MatchOp::Regex, "__name__", ".+").unwrap()];
    head.select_series(tenant, SelectHints::all(), &all)
        .into_iter()
        .map(|s| {
            let hists = s.histograms_in(i64::MIN, i64::MAX).len();
            (s.labels.clone(), s.iter().collect(), hists)
        })
        .collect()
}

#[test]
fn a_known_write_makes_the_head_and_answer_its_labeled_series_make() {
    let opts = HeadOptions {
        max_series_per_tenant: 3,
        ..HeadOptions::default()
    };
    let labeled = Head::new(opts.clone());
    let by_place = Head::new(opts);
    let (a, b, c, d) = (known("a", "x"), known("b", "x"), known("c", "x"), known("d", "x"));
    let writes: Vec<Vec<(&Arc<KnownSeries>, i64)>> = vec![
        vec![(&a, 10), (&b, 10), (&a, 10)],
        // A new series, one over the series limit, then out of order: refusals are
        // listed in the write's order, whichever series were found by their place.
        vec![(&c, 20), (&d, 20), (&a, 5), (&b, 20)],
        vec![(&a, 30), (&b, 30), (&c, 30), (&d, 30)],
    ];
    let write_of = |samples: &[(&Arc<KnownSeries>, i64)]| {
        let mut w = KnownWrite::new();
        for (s, t) in samples {
            w.push_float(s, *t, *t as f64);
        }
        w
    };
    for samples in &writes {
        let w = write_of(samples);
        assert_eq!(by_place.apply_known("t", &w), labeled.apply("t", &w.to_series()));
    }

    assert_eq!(contents(&by_place, "t"), contents(&labeled, "t"));

    // Truncation rebuilds the index: the places remembered are of the old one, and
    // a series that left the head comes back as a new one.
    for h in [&labeled, &by_place] {
        h.truncate_before("t", 25);
    }
    let mut w = write_of(&[(&a, 40), (&b, 40)]);
    w.push_histogram(&d, 40, FloatHistogram::default());
    assert_eq!(by_place.apply_known("t", &w), labeled.apply("t", &w.to_series()));
    assert_eq!(contents(&by_place, "t"), contents(&labeled, "t"));
    assert_eq!(by_place.stats(), labeled.stats());

    // So does a restore from a snapshot, and another tenant has its own index.
    by_place.restore(&labeled.snapshot()).unwrap();
    let w = write_of(&[(&a, 50), (&c, 50)]);
    assert_eq!(by_place.apply_known("t", &w), labeled.apply("t", &w.to_series()));
    assert_eq!(by_place.apply_known("u", &w), labeled.apply("u", &w.to_series()));
    for tenant in ["t", "u"] {
        assert_eq!(contents(&by_place, tenant), contents(&labeled, tenant));
    }
}
