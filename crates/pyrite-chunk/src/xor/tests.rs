use proptest::prelude::*;

use super::*;

fn encode(samples: &[(i64, u64)]) -> Chunk {
    let mut b = ChunkBuilder::new();
    for (t, v) in samples {
        b.append(*t, f64::from_bits(*v));
    }
    b.finish()
}

fn decode_bits(c: &Chunk) -> Vec<(i64, u64)> {
    let mut it = c.iter();
    let out: Vec<(i64, u64)> = it.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
    assert!(it.err().is_none(), "{:?}", it.err());
    out
}

#[test]
fn edge_values_round_trip_bit_exactly() {
    let values = [
        0.0f64,
        -0.0,
        1.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from_bits(0x7ff0_0000_0000_0002), // Prometheus's stale marker
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        1e-300,
        12345.678,
    ];
    let samples: Vec<(i64, u64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64 * 15_000, v.to_bits()))
        .collect();
    assert_eq!(decode_bits(&encode(&samples)), samples);
}

#[test]
fn equal_timestamps_and_large_gaps() {
    let samples = vec![
        (-1_000i64, 1.0f64.to_bits()),
        (-1_000, 2.0f64.to_bits()),
        (-1_000, 2.0f64.to_bits()),
        (5_000_000, 3.0f64.to_bits()),      // gap > 2^20 ms
        (10_000_000_000, 4.0f64.to_bits()), // gap > 2^32 ms
        (10_000_000_001, 5.0f64.to_bits()),
        (i64::MAX / 4, 6.0f64.to_bits()),
    ];
    assert_eq!(decode_bits(&encode(&samples)), samples);
}

#[test]
fn delta_of_delta_bucket_boundaries() {
    for dod in [
        8191i64,
        8192,
        8193,
        -8191,
        -8192,
        65535,
        65536,
        65537,
        -65535,
        -65536,
        524287,
        524288,
        524289,
        -524287,
        -524288,
        1 << 40,
        -(1 << 40),
    ] {
        let base = 1_000_000_000_000i64;
        // First delta large enough that negative dods keep timestamps increasing.
        let d1 = 1i64 << 41;
        let samples = vec![
            (base, 1u64),
            (base + d1, 2),
            (base + 2 * d1 + dod, 3),
            (base + 3 * d1 + dod, 4),
        ];
        assert_eq!(decode_bits(&encode(&samples)), samples, "dod {dod}");
    }
}

#[test]
fn golden_bytes_match_the_format() {
    // Derived by hand from the format: count 3 → 00 03; t0 = 1000 → zig-zag 2000 →
    // varint d0 0f; v0 = 1.0 → 3f f0 00 00 00 00 00 00; t1 delta 15 → 0f; v1 = 1.0 → one
    // 0 bit; t2 dod 0 → 0 bit; v2 = 1.0 → 0 bit; the last byte holds those three zero
    // bits and padding: 00.
    let mut b = ChunkBuilder::new();
    b.append(1000, 1.0);
    b.append(1015, 1.0);
    b.append(1030, 1.0);
    assert_eq!(
        b.finish().bytes().as_ref(),
        [0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x0f, 0x00]
    );
}

#[test]
fn single_sample_and_empty() {
    let c = encode(&[(42, 7.0f64.to_bits())]);
    assert_eq!((c.len(), c.min_time(), c.max_time()), (1, 42, 42));
    assert_eq!(decode_bits(&c), [(42, 7.0f64.to_bits())]);
    let empty = ChunkBuilder::new();
    assert!(empty.is_empty());
    assert_eq!(empty.iter().count(), 0);
    assert_eq!(empty.min_time(), None);
}

#[test]
fn seek_finds_first_at_or_after() {
    let samples: Vec<(i64, f64)> = (0..120).map(|i| (i * 10, i as f64)).collect();
    let c = Chunk::encode_all(&samples, 120).remove(0);
    let mut it = c.iter();
    it.seek(55);
    assert_eq!(it.next(), Some((60, 6.0)));
    it.seek(60);
    assert_eq!(it.next(), Some((70, 7.0)));
    it.seek(80);
    it.seek(75); // no going back
    assert_eq!(it.next(), Some((80, 8.0)));
    it.seek(10_000);
    assert_eq!(it.next(), None);
}

#[test]
fn builder_reads_while_open_and_snapshots() {
    let mut b = ChunkBuilder::new();
    for i in 0..50 {
        b.append(i * 1000, (i * i) as f64);
    }
    let snap = b.snapshot();
    b.append(50_000, 1.0);
    assert_eq!(snap.len(), 50);
    assert_eq!(b.iter().count(), 51);
    assert_eq!(b.last(), Some((50_000, 1.0)));
    assert_eq!(Chunk::from_bytes(snap.bytes().clone()).unwrap(), snap);
}

#[test]
fn corrupt_input_is_an_error() {
    assert_eq!(Chunk::from_bytes(Bytes::from_static(&[0])), Err(ChunkError::NoHeader));
    let c = Chunk::encode_all(&[(1, 1.5), (2, 2.5), (3, 3.5)], 120).remove(0);
    let cut = c.bytes().slice(..c.bytes().len() - 2);
    assert!(matches!(Chunk::from_bytes(cut), Err(ChunkError::Truncated { .. })));
}

proptest! {
    #[test]
    fn round_trip(start in -1i64 << 50..1i64 << 50,
                  gaps in proptest::collection::vec(prop_oneof![0i64..100, 14_000i64..16_000, 0i64..1 << 33], 0..300),
                  values in proptest::collection::vec(any::<u64>(), 300)) {
        let mut t = start;
        let mut samples = vec![(t, values[0])];
        for (i, g) in gaps.iter().enumerate() {
            t += g;
            samples.push((t, values[(i + 1) % values.len()]));
        }
        for c in Chunk::encode_all(&samples.iter().map(|(t, v)| (*t, f64::from_bits(*v))).collect::<Vec<_>>(), 120) {
            let back = decode_bits(&c);
            prop_assert_eq!(back.len(), c.len());
        }
        let all: Vec<(i64, u64)> = Chunk::encode_all(&samples.iter().map(|(t, v)| (*t, f64::from_bits(*v))).collect::<Vec<_>>(), 120)
            .iter().flat_map(decode_bits).collect();
        prop_assert_eq!(all, samples);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Chunk::from_bytes(Bytes::from(bytes.clone()));
        let mut b = ChunkBuilder::new();
        b.append(0, 0.0);
        let mut it = ChunkIter::new(&bytes);
        for _ in it.by_ref() {}
        let _ = it.err();
    }
}

#[test]
fn integer_chunks_iterate_and_seek_like_xor_ones() {
    let samples: Vec<(i64, f64)> = (0..240).map(|i| (1_000 + i * 15_000, (i * i) as f64)).collect();
    let mut dense = Vec::new();
    assert!(crate::delta::encode(&samples, &mut dense));
    let c = Chunk::from_integer_parts(Bytes::from(dense), samples[0].0, samples[239].0);
    assert_eq!(c.encoding(), Encoding::IntegerDelta);
    assert_eq!(c.len(), 240);
    assert_eq!(c.iter().collect::<Vec<_>>(), samples);
    let mut it = c.iter();
    it.seek(1_000 + 100 * 15_000 - 1);
    assert_eq!(it.next(), Some(samples[100]));
    assert_eq!(it.count(), 139);
    // Damaged bytes end iteration with an error instead of samples.
    let bad = Chunk::from_integer_parts(Bytes::from_static(&[5, 1]), 0, 0);
    let mut it = bad.iter();
    assert_eq!(it.next(), None);
    assert!(it.err().is_some());
}
