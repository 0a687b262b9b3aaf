//! Bodies cut short, bytes flipped, lengths that lie: errors, never panics.

use super::*;

#[test]
fn bad_length_prefixes() {
    let ok = body(&[family("ok", pb::MetricType::Gauge, vec![pb::Metric::default()])]);
    let mut long = ok.clone();
    long.extend([0x85, 0x01, 1, 2]);
    assert_eq!(
        parse(&long).expect_err("too long").to_string(),
        format!(
            "metric family 1 (at byte {}): the length prefix says 133 bytes, but 2 are left",
            ok.len()
        )
    );
    assert_eq!(
        parse(&[0x80]).expect_err("cut").to_string(),
        "metric family 0 (at byte 0): the length prefix is cut off"
    );
    assert_eq!(
        parse(&[0xff; 11]).expect_err("long").to_string(),
        "metric family 0 (at byte 0): the length prefix is longer than 10 bytes"
    );
    let mut huge = vec![0xff; 9];
    huge.push(0x7f);
    assert!(parse(&huge).is_err());
    // A message that is not a MetricFamily.
    let err = parse(&[2, 0x0a, 0x05]).expect_err("garbage");
    assert!(matches!(err, ProtobufError::Decode { index: 0, .. }), "{err}");
}

/// A body of every kind, for the robustness tests.
fn every_kind() -> Vec<u8> {
    let mut h = native_histogram();
    h.bucket = vec![classic_bucket(1.0, 5)];
    h.exemplars = vec![pb_exemplar("x", 1.0, ts(2, 0))];
    body(&[
        family(
            "c_total",
            pb::MetricType::Counter,
            vec![pb::Metric {
                label: vec![pair("a", "b")],
                counter: Some(pb::Counter {
                    value: Some(1.0),
                    exemplar: Some(pb_exemplar("t", 1.0, ts(1, 2))),
                    created_timestamp: ts(1, 0),
                }),
                ..Default::default()
            }],
        ),
        family(
            "s",
            pb::MetricType::Summary,
            vec![pb::Metric {
                summary: Some(pb::Summary {
                    sample_count: Some(1),
                    sample_sum: Some(2.0),
                    quantile: vec![pb::Quantile {
                        quantile: Some(0.5),
                        value: Some(1.0),
                    }],
                    created_timestamp: None,
                }),
                ..Default::default()
            }],
        ),
        histogram_family(h),
    ])
}

#[test]
fn every_prefix_of_a_body_parses_or_fails_cleanly() {
    let body = every_kind();
    let full = parse(&body).expect("valid");
    assert_eq!(full.len(), 3);
    // Where each message ends.
    let mut ends = vec![0];
    let mut pos = 0;
    while pos < body.len() {
        let (len, prefix) = crate::protobuf::varint(&body[pos..]).expect("valid prefix");
        pos += prefix + len as usize;
        ends.push(pos);
    }
    for cut in 0..=body.len() {
        match parse(&body[..cut]) {
            Ok(families) => {
                let whole = ends.iter().position(|&e| e == cut);
                assert_eq!(Some(families.len()), whole, "prefix of {cut} bytes");
                assert_eq!(families[..], full[..families.len()]);
            }
            Err(e) => assert!(!ends.contains(&cut), "prefix of {cut} bytes: {e}"),
        }
    }
}

#[test]
fn flipped_and_random_bytes_never_panic() {
    let body = every_kind();
    let mut errors = 0;
    for i in 0..body.len() {
        for bit in 0..8 {
            let mut b = body.clone();
            b[i] ^= 1 << bit;
            if let Ok(families) = parse(&b) {
                exercise(&families);
            } else {
                errors += 1;
            }
        }
    }
    assert!(errors > 0);
    // Random bodies from a fixed xorshift sequence.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        let mut garbage = Vec::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 64) as usize;
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            garbage.push(state as u8);
        }
        if let Ok(families) = parse(&garbage) {
            for f in &families {
                let _ = f.series(true);
            }
        }
    }
}

/// Everything a consumer would do with a parsed body, including walking the buckets of
/// native histograms.
fn exercise(families: &[Family]) {
    for f in families {
        for s in f.series(true) {
            if let SeriesValue::Histogram(h) = s.value {
                let _ = h.to_string();
            }
        }
    }
}

#[test]
fn spans_past_32_bit_indices_are_refused() {
    let mut h = native_histogram();
    h.positive_span = vec![span(i32::MAX, 2), span(0, 1)];
    let err = parse(&body(&[histogram_family(h)])).expect_err("too far");
    assert_eq!(
        err.to_string(),
        "metric family 0 (\"h\"): metric 0: positive spans reach past the bucket indices of 32 bits"
    );
    let mut h = native_histogram();
    h.positive_span = vec![span(i32::MIN, 2), span(0, 1)];
    assert!(parse(&body(&[histogram_family(h)])).is_err());
    // The last index that fits is fine.
    let mut h = native_histogram();
    h.positive_span = vec![span(i32::MAX - 3, 3)];
    h.negative_span = vec![span(i32::MIN + 1, 1)];
    let parsed = parse(&body(&[histogram_family(h)])).expect("fits");
    exercise(&parsed);
}
