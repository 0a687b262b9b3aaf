use super::*;

fn h(schema: i32, spans: &[(i32, u32)], buckets: &[f64]) -> FloatHistogram {
    let count = buckets.iter().sum();
    FloatHistogram {
        schema,
        count,
        sum: count,
        positive_spans: spans.iter().map(|&(offset, length)| Span { offset, length }).collect(),
        positive_buckets: buckets.to_vec(),
        ..FloatHistogram::default()
    }
}

#[test]
fn quantiles_interpolate_exponentially_and_linearly() {
    // Schema 0: buckets (0.5,1], (1,2], (2,4] with 1, 2, 1 observations.
    let x = h(0, &[(0, 3)], &[1.0, 2.0, 1.0]);
    assert_eq!(x.quantile(0.5).value, 2f64.powf(0.5)); // middle of (1,2] in log space
    assert_eq!(x.quantile(1.0).value, 4.0);
    assert!(x.quantile(f64::NAN).value.is_nan());
    assert_eq!(x.quantile(-1.0).value, f64::NEG_INFINITY);
    let mut c = h(CUSTOM_BUCKETS_SCHEMA, &[(0, 3)], &[2.0, 2.0, 0.0]);
    c.custom_values = vec![10.0, 20.0];
    assert_eq!(c.quantile(0.75).value, 15.0); // linear within (10,20]
    assert_eq!(c.quantile(0.25).value, 5.0); // first bucket interpolates from 0
}

#[test]
fn fractions_interpolate_within_buckets() {
    // Schema 0: (0.5,1], (1,2], (2,4] with 1, 2, 1 observations.
    let x = h(0, &[(0, 3)], &[1.0, 2.0, 1.0]);
    assert_eq!(x.fraction(0.0, 4.0).0, 1.0);
    assert_eq!(x.fraction(1.0, 2.0).0, 0.5);
    assert_eq!(x.fraction(2.0, 1.0).0, 0.0);
    assert!(x.fraction(f64::NAN, 1.0).0.is_nan());
    // Half of (1,2] in log space lies below √2.
    assert!((x.fraction(0.0, 2f64.sqrt()).0 - 0.5).abs() < 1e-12);
}

#[test]
fn variance_places_observations_at_bucket_midpoints() {
    let mut c = h(CUSTOM_BUCKETS_SCHEMA, &[(0, 2)], &[1.0, 1.0]);
    c.custom_values = vec![10.0, 20.0];
    c.sum = 20.0;
    // The first custom bucket reaches down to -Inf, so its midpoint does: variance is Inf.
    assert!(c.variance().is_infinite());
    let x = h(0, &[(1, 1)], &[2.0]); // both in (1,2], sum 2, mean 1
    assert!((x.variance() - (2f64.sqrt() - 1.0).powi(2)).abs() < 1e-12);
}

#[test]
fn exponential_bounds_follow_the_schema() {
    assert_eq!(exponential_bound(0, 0), 1.0);
    assert_eq!(exponential_bound(1, 0), 2.0);
    assert_eq!(exponential_bound(-1, 0), 0.5);
    assert_eq!(exponential_bound(1, 1), 2f64.sqrt());
    assert_eq!(exponential_bound(2, 1), 2.0);
    assert_eq!(exponential_bound(1, -1), 4.0);
    assert_eq!(exponential_bound(1024, 0), f64::MAX);
    assert!((exponential_bound(3, 3) - 2f64.powf(3.0 / 8.0)).abs() < 1e-15);
}

#[test]
fn spans_round_trip_through_bucket_maps() {
    let x = h(0, &[(-2, 2), (3, 1)], &[1.0, 2.0, 3.0]);
    let idx: Vec<i32> = x.positive().iter().map(|b| b.index).collect();
    assert_eq!(idx, [-2, -1, 3]);
    let (spans, buckets) = from_map(&to_map(&x.positive_spans, &x.positive_buckets));
    assert_eq!((spans, buckets), (x.positive_spans.clone(), x.positive_buckets.clone()));
}

#[test]
fn adding_aligns_schemas_and_sums_buckets() {
    let mut a = h(1, &[(1, 2)], &[1.0, 2.0]); // (1,√2] and (√2,2]
    let b = h(0, &[(1, 1)], &[5.0]); // (1,2]
    a.add(&b).unwrap();
    assert_eq!(a.schema, 0);
    assert_eq!(
        a.positive(),
        vec![Bucket {
            lower: 1.0,
            upper: 2.0,
            count: 8.0,
            index: 1
        }]
    );
    assert_eq!(a.count, 8.0);
}

#[test]
fn subtracting_gives_a_gauge_and_resets_are_detected() {
    let prev = h(0, &[(0, 2)], &[1.0, 2.0]);
    let mut cur = h(0, &[(0, 2)], &[3.0, 2.0]);
    assert!(!cur.detect_reset(&prev));
    let dropped = h(0, &[(0, 2)], &[3.0, 1.0]);
    assert!(dropped.detect_reset(&prev));
    cur.sub(&prev).unwrap();
    assert_eq!(cur.counter_reset_hint, CounterResetHint::Gauge);
    assert_eq!(cur.positive_buckets, [2.0, 0.0]);
    cur.compact();
    assert_eq!(cur.positive_buckets, [2.0]);
}

#[test]
fn custom_and_exponential_do_not_mix() {
    let mut a = h(0, &[(0, 1)], &[1.0]);
    let mut b = h(CUSTOM_BUCKETS_SCHEMA, &[(0, 1)], &[1.0]);
    b.custom_values = vec![10.0];
    assert_eq!(a.add(&b), Err(HistogramError::IncompatibleSchema));
}

#[test]
fn mismatched_custom_bounds_reconcile_to_the_common_ones() {
    let mut a = h(CUSTOM_BUCKETS_SCHEMA, &[(0, 3)], &[1.0, 2.0, 3.0]);
    a.custom_values = vec![1.0, 5.0];
    let mut b = h(CUSTOM_BUCKETS_SCHEMA, &[(0, 2)], &[4.0, 6.0]);
    b.custom_values = vec![5.0];
    a.add(&b).unwrap();
    assert_eq!(a.custom_values, [5.0]);
    assert_eq!(a.positive_buckets, [7.0, 9.0]);
}

#[test]
fn widening_the_zero_bucket_absorbs_covered_buckets() {
    let mut a = h(0, &[(-1, 2)], &[1.0, 2.0]); // (0.25,0.5] and (0.5,1]
    a.zero_threshold = 0.1;
    a.widen_zero_bucket(0.5);
    assert_eq!(a.zero_threshold, 0.5);
    assert_eq!(a.zero_count, 1.0);
    assert_eq!(a.positive_buckets, [2.0]);
}
