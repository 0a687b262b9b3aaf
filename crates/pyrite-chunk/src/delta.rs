//! Integer-delta chunks: a compact encoding for float chunks whose values are all
//! integers (most counters and many gauges), used only inside blocks. The head and the
//! wire keep Prometheus's XOR chunks; a block reader turns these back into them.
//!
//! Layout (varints are LEB128, signed ones zig-zag encoded first):
//!
//! ```text
//! uvarint n                 sample count (at most 65,535)
//! varint  t0, varint v0     the first timestamp and the first value as an integer
//! groups of the n-1 timestamp deltas, then groups of the n-1 value deltas:
//!   up to 64 deltas per group: varint min, u8 width, then each delta minus min in
//!   `width` bits, least significant bit first, the group padded to a whole byte
//! ```
//!
//! Subtracting each group's minimum (frame of reference) removes a steady scrape interval
//! or counter rate, so a regular timestamp stream costs two bytes per 64 samples and a
//! value stream only the bits its spread needs.
//!
//! The invariant: [`decode`] returns exactly what [`encode`] accepted, bit for bit.
//! [`encode`] refuses any chunk holding a value it cannot carry exactly (NaN, stale
//! markers, infinities, `-0.0`, fractions, magnitudes above 2^53), so such chunks stay
//! XOR. Decoding never trusts its input: corrupt bytes give an error, never a panic.

/// Deltas per bit-packed group.
pub const GROUP: usize = 64;

/// The largest magnitude every integer up to which a float holds exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeltaError {
    #[error("integer chunk ends early")]
    Truncated,
    #[error("integer chunk claims {0} samples, more than a chunk holds")]
    TooLong(u64),
    #[error("integer chunk has a {0}-bit group")]
    Width(u8),
    #[error("integer chunk timestamps go backwards at sample {0}")]
    Unordered(usize),
    #[error("integer chunk has {0} bytes after its samples")]
    Trailing(usize),
}

/// `v` as an integer, when the integer converts back to exactly the same float bits.
#[inline]
pub fn integral(v: f64) -> Option<i64> {
    if v.is_nan() || v.abs() > MAX_EXACT || v.trunc() != v {
        return None;
    }
    let i = v as i64;
    ((i as f64).to_bits() == v.to_bits()).then_some(i)
}

/// Appends `samples` (timestamps non-decreasing) to `out` as an integer chunk. Returns
/// false, leaving `out` as it was, when a value is not an exact integer or there are
/// more samples than a chunk holds.
pub fn encode(samples: &[(i64, f64)], out: &mut Vec<u8>) -> bool {
    if samples.len() > u16::MAX as usize || samples.iter().any(|(_, v)| integral(*v).is_none()) {
        return false;
    }
    put_uvarint(out, samples.len() as u64);
    let Some(&(t0, v0)) = samples.first() else {
        return true;
    };
    put_varint(out, t0);
    put_varint(out, v0 as i64);
    let deltas = samples.len() - 1;
    put_groups(out, deltas, |i| samples[i + 1].0.wrapping_sub(samples[i].0));
    put_groups(out, deltas, |i| {
        (samples[i + 1].1 as i64).wrapping_sub(samples[i].1 as i64)
    });
    true
}

fn put_groups(out: &mut Vec<u8>, n: usize, delta: impl Fn(usize) -> i64) {
    let mut start = 0;
    while start < n {
        let end = (start + GROUP).min(n);
        let min = (start..end).map(&delta).min().unwrap_or(0);
        let spread = (start..end)
            .map(|i| delta(i).wrapping_sub(min) as u64)
            .max()
            .unwrap_or(0);
        let width = (64 - spread.leading_zeros()) as u8;
        put_varint(out, min);
        out.push(width);
        let (mut acc, mut bits) = (0u128, 0u32);
        if width > 0 {
            for i in start..end {
                acc |= u128::from(delta(i).wrapping_sub(min) as u64) << bits;
                bits += u32::from(width);
                while bits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    bits -= 8;
                }
            }
        }
        if bits > 0 {
            out.push(acc as u8);
        }
        start = end;
    }
}

/// The sample count an integer chunk starts with, if it is readable.
pub fn sample_count(bytes: &[u8]) -> Option<u16> {
    let mut r = Reader { bytes, pos: 0 };
    r.uvarint().ok().and_then(|n| u16::try_from(n).ok())
}

/// Decodes an integer chunk into `out` (cleared first; reuse it across chunks).
pub fn decode(bytes: &[u8], out: &mut Vec<(i64, f64)>) -> Result<(), DeltaError> {
    out.clear();
    let mut r = Reader { bytes, pos: 0 };
    let n = r.uvarint()?;
    if n > u64::from(u16::MAX) {
        return Err(DeltaError::TooLong(n));
    }
    let n = n as usize;
    if n == 0 {
        return r.finish();
    }
    out.reserve(n);
    let mut t = r.varint()?;
    let mut v = r.varint()?;
    out.push((t, v as f64));
    let mut i = 1;
    r.groups(n - 1, |d| {
        let next = t.wrapping_add(d);
        if next < t {
            return Err(DeltaError::Unordered(i));
        }
        t = next;
        out.push((t, 0.0));
        i += 1;
        Ok(())
    })?;
    let mut rest = out.iter_mut().skip(1);
    r.groups(n - 1, |d| {
        v = v.wrapping_add(d);
        if let Some(s) = rest.next() {
            s.1 = v as f64;
        }
        Ok(())
    })?;
    r.finish()
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, DeltaError> {
        let b = *self.bytes.get(self.pos).ok_or(DeltaError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn uvarint(&mut self) -> Result<u64, DeltaError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DeltaError::Truncated)
    }

    fn varint(&mut self) -> Result<i64, DeltaError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads `n` deltas in groups, handing each to `f`.
    fn groups(&mut self, n: usize, mut f: impl FnMut(i64) -> Result<(), DeltaError>) -> Result<(), DeltaError> {
        let mut left = n;
        while left > 0 {
            let len = left.min(GROUP);
            let min = self.varint()?;
            let width = self.byte()?;
            if width > 64 {
                return Err(DeltaError::Width(width));
            }
            let bytes = (len * usize::from(width)).div_ceil(8);
            let packed = self
                .bytes
                .get(self.pos..self.pos + bytes)
                .ok_or(DeltaError::Truncated)?;
            self.pos += bytes;
            let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let (mut acc, mut bits, mut at) = (0u128, 0u32, 0usize);
            for _ in 0..len {
                while bits < u32::from(width) {
                    acc |= u128::from(packed[at]) << bits;
                    at += 1;
                    bits += 8;
                }
                let x = (acc as u64) & mask;
                if width > 0 {
                    acc >>= width;
                    bits -= u32::from(width);
                }
                f(min.wrapping_add(x as i64))?;
            }
            left -= len;
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), DeltaError> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            extra => Err(DeltaError::Trailing(extra)),
        }
    }
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut bytes = Vec::new();
        assert!(encode(samples, &mut bytes));
        let mut back = Vec::new();
        decode(&bytes, &mut back).unwrap();
        let bits = |s: &[(i64, f64)]| s.iter().map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(samples));
        bytes
    }

    #[test]
    fn only_exact_integers_are_integral() {
        for v in [0.0, 1.0, -1.0, 1e15, -9_007_199_254_740_992.0, 9_007_199_254_740_992.0] {
            assert_eq!(integral(v).map(|i| i as f64), Some(v));
        }
        for v in [
            -0.0,
            0.5,
            f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0002), // the stale marker
            f64::INFINITY,
            f64::NEG_INFINITY,
            18_014_398_509_481_984.0, // 2^54: exact, but beyond where every integer is
            f64::MAX,
        ] {
            assert_eq!(integral(v), None, "{v}");
        }
        let mut out = vec![7];
        assert!(!encode(&[(0, 1.0), (1, f64::NAN)], &mut out));
        assert_eq!(out, [7], "a refused chunk leaves the buffer alone");
    }

    #[test]
    fn edges_round_trip() {
        assert_eq!(round_trip(&[]), [0]);
        round_trip(&[(-5, 3.0)]);
        round_trip(&[
            (i64::MIN, -9_007_199_254_740_992.0),
            (i64::MAX, 9_007_199_254_740_992.0),
        ]);
        round_trip(&[(0, 1.0), (0, 1.0), (0, 2.0), (1 << 40, 0.0)]);
        let long: Vec<(i64, f64)> = (0..u16::MAX as i64).map(|i| (i, (i % 7) as f64)).collect();
        round_trip(&long);
        let mut too_long = long.clone();
        too_long.push((1 << 20, 0.0));
        assert!(!encode(&too_long, &mut Vec::new()));
    }

    #[test]
    fn a_steady_counter_is_small() {
        let samples: Vec<(i64, f64)> = (0..240)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * 3) as f64))
            .collect();
        // Steady interval and rate: every group is width 0.
        assert!(round_trip(&samples).len() < 40);
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let samples: Vec<(i64, f64)> = (0..100).map(|i| (i * 10 + i % 3, (i * i) as f64)).collect();
        let mut bytes = Vec::new();
        assert!(encode(&samples, &mut bytes));
        let mut out = Vec::new();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], &mut out).is_err(), "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(decode(&extra, &mut out), Err(DeltaError::Trailing(1)));
        assert_eq!(decode(&[0xff, 0xff, 0x04], &mut out), Err(DeltaError::TooLong(81_919)));
        // Two samples, the timestamp delta -1 (min -1, width 0).
        assert_eq!(decode(&[2, 0, 0, 1, 0, 0, 0], &mut out), Err(DeltaError::Unordered(1)));
        assert_eq!(decode(&[2, 0, 0, 0, 65], &mut out), Err(DeltaError::Width(65)));
    }

    proptest! {
        #[test]
        fn integer_chunks_round_trip(
            start in any::<i64>(),
            gaps in proptest::collection::vec(prop_oneof![Just(15_000i64), 0i64..100, 14_000i64..16_000, 0i64..1 << 40], 0..300),
            first in -(1i64 << 53)..=1i64 << 53,
            steps in proptest::collection::vec(prop_oneof![Just(0i64), -5i64..5, 0i64..1 << 20, -(1i64 << 53)..=1i64 << 53], 300),
        ) {
            let mut t = start;
            let mut v = first;
            let mut samples = vec![(t, v as f64)];
            for (g, s) in gaps.iter().zip(&steps) {
                t = t.saturating_add(*g);
                v = (v + s).clamp(-(1i64 << 53), 1i64 << 53);
                samples.push((t, v as f64));
            }
            round_trip(&samples);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut out = Vec::new();
            let _ = decode(&bytes, &mut out);
        }
    }
}
