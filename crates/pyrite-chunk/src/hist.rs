//! Chunks of native-histogram samples (Pyrite's own format; Prometheus's histogram chunk
//! layout is not needed because blocks carry their own encoding).
//!
//! Layout: a 2-byte big-endian sample count, then per sample: the timestamp (first as a
//! zig-zag varint, then deltas-of-deltas as zig-zag varints), the counter-reset hint
//! (2 bits), a bit saying whether the bucket layout changed, the layout when it did
//! (schema, zero threshold, custom bounds, spans), and then count, sum, zero count and
//! every bucket count as XOR streams against the previous sample's (a changed layout
//! restarts the bucket streams). Scrapes of one histogram rarely change layout, so most
//! samples cost a few bits per bucket.

use bytes::Bytes;
use pyrite_model::histogram::{CounterResetHint, FloatHistogram, Span};

use crate::bits::{open_chunk, put_uvarint, put_varint, read_xor, write_xor, BitReader, BitWriter, XorState};
use crate::ChunkError;

const HEADER: usize = 2;

/// The parts of a histogram that change rarely.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    schema: i32,
    zero_threshold: f64,
    custom_values: Vec<f64>,
    positive: Vec<Span>,
    negative: Vec<Span>,
}

impl Layout {
    fn of(h: &FloatHistogram) -> Self {
        Self {
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            custom_values: h.custom_values.clone(),
            positive: h.positive_spans.clone(),
            negative: h.negative_spans.clone(),
        }
    }

    fn buckets(&self) -> (usize, usize) {
        let n = |s: &[Span]| s.iter().map(|x| x.length as usize).sum();
        (n(&self.positive), n(&self.negative))
    }
}

fn hint_bits(h: CounterResetHint) -> u64 {
    match h {
        CounterResetHint::Unknown => 0,
        CounterResetHint::Reset => 1,
        CounterResetHint::NotReset => 2,
        CounterResetHint::Gauge => 3,
    }
}

fn hint_of(bits: u64) -> CounterResetHint {
    match bits {
        1 => CounterResetHint::Reset,
        2 => CounterResetHint::NotReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

fn put_spans(w: &mut BitWriter, spans: &[Span]) {
    put_uvarint(w, spans.len() as u64);
    for s in spans {
        put_varint(w, i64::from(s.offset));
        put_uvarint(w, u64::from(s.length));
    }
}

fn read_spans(r: &mut BitReader<'_>) -> Option<Vec<Span>> {
    let n = r.read_uvarint()?;
    if n > 1 << 16 {
        return None;
    }
    (0..n)
        .map(|_| {
            let offset = i32::try_from(r.read_varint()?).ok()?;
            let length = u32::try_from(r.read_uvarint()?).ok()?;
            Some(Span { offset, length })
        })
        .collect()
}

/// The per-sample value streams of a chunk.
#[derive(Debug, Clone)]
struct Streams {
    count: XorState,
    sum: XorState,
    zero: XorState,
    buckets: Vec<XorState>,
}

impl Streams {
    fn new(init: fn() -> XorState) -> Self {
        Self {
            count: init(),
            sum: init(),
            zero: init(),
            buckets: Vec::new(),
        }
    }
}

/// An open histogram chunk being appended to.
#[derive(Debug, Clone)]
pub struct HistogramChunkBuilder {
    w: BitWriter,
    count: u16,
    min_t: i64,
    t: i64,
    t_delta: i64,
    layout: Option<Layout>,
    streams: Streams,
}

impl Default for HistogramChunkBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HistogramChunkBuilder {
    pub fn new() -> Self {
        Self {
            w: BitWriter::from_bytes(vec![0; HEADER]),
            count: 0,
            min_t: 0,
            t: 0,
            t_delta: 0,
            layout: None,
            streams: Streams::new(XorState::for_writing),
        }
    }

    /// Appends a sample; the caller guarantees `t` is not before the last timestamp.
    pub fn append(&mut self, t: i64, h: &FloatHistogram) {
        let w = &mut self.w;
        match self.count {
            0 => {
                put_varint(w, t);
                self.min_t = t;
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                put_varint(w, delta.wrapping_sub(self.t_delta));
                self.t_delta = delta;
            }
        }
        self.t = t;
        w.write_bits(hint_bits(h.counter_reset_hint), 2);
        let layout = Layout::of(h);
        let changed = self.layout.as_ref() != Some(&layout);
        w.write_bit(changed);
        if changed {
            put_varint(w, i64::from(layout.schema));
            w.write_bits(layout.zero_threshold.to_bits(), 64);
            put_uvarint(w, layout.custom_values.len() as u64);
            for v in &layout.custom_values {
                w.write_bits(v.to_bits(), 64);
            }
            put_spans(w, &layout.positive);
            put_spans(w, &layout.negative);
            let (p, n) = layout.buckets();
            self.streams.buckets = vec![XorState::for_writing(); p + n];
            self.layout = Some(layout);
        }
        let st = &mut self.streams;
        write_xor(w, &mut st.count, h.count.to_bits());
        write_xor(w, &mut st.sum, h.sum.to_bits());
        write_xor(w, &mut st.zero, h.zero_count.to_bits());
        for (x, v) in st
            .buckets
            .iter_mut()
            .zip(h.positive_buckets.iter().chain(&h.negative_buckets))
        {
            write_xor(w, x, v.to_bits());
        }
        self.count = self.count.saturating_add(1);
        let [hi, lo] = self.count.to_be_bytes();
        self.w.bytes[0] = hi;
        self.w.bytes[1] = lo;
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn size_bytes(&self) -> usize {
        self.w.bytes.len()
    }

    /// The first and last timestamps written (none while empty), without a copy.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        (self.count > 0).then_some((self.min_t, self.t))
    }

    /// A copy of what is written so far.
    pub fn snapshot(&self) -> HistogramChunk {
        HistogramChunk {
            bytes: Bytes::copy_from_slice(&self.w.bytes),
            min_t: self.min_t,
            max_t: self.t,
        }
    }

    pub fn finish(self) -> HistogramChunk {
        HistogramChunk {
            bytes: Bytes::from(self.w.bytes),
            min_t: self.min_t,
            max_t: self.t,
        }
    }
}

/// An immutable histogram chunk, cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramChunk {
    bytes: Bytes,
    min_t: i64,
    max_t: i64,
}

impl HistogramChunk {
    /// A chunk from bytes and the time range its sender reported, without decoding.
    /// Bad bytes are still safe: iteration ends with an error, it never panics.
    pub fn from_parts(bytes: Bytes, min_t: i64, max_t: i64) -> HistogramChunk {
        HistogramChunk { bytes, min_t, max_t }
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        match self.bytes.as_ref() {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]) as usize,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    pub fn max_time(&self) -> i64 {
        self.max_t
    }

    pub fn iter(&self) -> HistogramChunkIter<'_> {
        HistogramChunkIter::new(&self.bytes)
    }

    /// Encodes sorted samples into chunks of at most `per_chunk` samples.
    pub fn encode_all(samples: &[(i64, FloatHistogram)], per_chunk: usize) -> Vec<HistogramChunk> {
        samples
            .chunks(per_chunk.clamp(1, u16::MAX as usize))
            .map(|part| {
                let mut b = HistogramChunkBuilder::new();
                for (t, h) in part {
                    b.append(*t, h);
                }
                b.finish()
            })
            .collect()
    }
}

/// Decodes a histogram chunk; stops with [`HistogramChunkIter::err`] set on bad input.
pub struct HistogramChunkIter<'a> {
    r: BitReader<'a>,
    total: usize,
    read: usize,
    t: i64,
    t_delta: i64,
    layout: Option<Layout>,
    streams: Streams,
    err: Option<ChunkError>,
}

impl<'a> HistogramChunkIter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let (total, r, err) = open_chunk(bytes);
        Self {
            r,
            total,
            read: 0,
            t: 0,
            t_delta: 0,
            layout: None,
            streams: Streams::new(XorState::for_reading),
            err,
        }
    }

    pub fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }

    fn decode_next(&mut self) -> Option<(i64, FloatHistogram)> {
        let r = &mut self.r;
        if self.read == 0 {
            self.t = r.read_varint()?;
        } else {
            let dod = r.read_varint()?;
            self.t_delta = self.t_delta.wrapping_add(dod);
            let t = self.t.wrapping_add(self.t_delta);
            if t < self.t {
                return None;
            }
            self.t = t;
        }
        let hint = hint_of(r.read_bits(2)?);
        if r.read_bit()? {
            let schema = i32::try_from(r.read_varint()?).ok()?;
            let zero_threshold = f64::from_bits(r.read_bits(64)?);
            let n = r.read_uvarint()?;
            if n > 1 << 16 {
                return None;
            }
            let custom_values = (0..n)
                .map(|_| r.read_bits(64).map(f64::from_bits))
                .collect::<Option<Vec<_>>>()?;
            let positive = read_spans(r)?;
            let negative = read_spans(r)?;
            let layout = Layout {
                schema,
                zero_threshold,
                custom_values,
                positive,
                negative,
            };
            let (p, n) = layout.buckets();
            if p + n > 1 << 20 {
                return None;
            }
            self.streams.buckets = vec![XorState::for_reading(); p + n];
            self.layout = Some(layout);
        }
        let layout = self.layout.as_ref()?;
        let st = &mut self.streams;
        read_xor(r, &mut st.count)?;
        read_xor(r, &mut st.sum)?;
        read_xor(r, &mut st.zero)?;
        for x in st.buckets.iter_mut() {
            read_xor(r, x)?;
        }
        let (p, _) = layout.buckets();
        let values: Vec<f64> = st.buckets.iter().map(|x| f64::from_bits(x.v)).collect();
        let h = FloatHistogram {
            counter_reset_hint: hint,
            schema: layout.schema,
            zero_threshold: layout.zero_threshold,
            zero_count: f64::from_bits(st.zero.v),
            count: f64::from_bits(st.count.v),
            sum: f64::from_bits(st.sum.v),
            positive_spans: layout.positive.clone(),
            positive_buckets: values[..p].to_vec(),
            negative_spans: layout.negative.clone(),
            negative_buckets: values[p..].to_vec(),
            custom_values: layout.custom_values.clone(),
        };
        Some((self.t, h))
    }
}

impl Iterator for HistogramChunkIter<'_> {
    type Item = (i64, FloatHistogram);

    fn next(&mut self) -> Option<Self::Item> {
        if self.read >= self.total || self.err.is_some() {
            return None;
        }
        match self.decode_next() {
            Some(s) => {
                self.read += 1;
                Some(s)
            }
            None => {
                self.err = Some(ChunkError::Truncated {
                    decoded: self.read,
                    expected: self.total,
                });
                self.read = self.total;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use pyrite_model::histogram::CUSTOM_BUCKETS_SCHEMA;

    use super::*;

    fn hist(i: usize) -> FloatHistogram {
        let b = i as f64;
        FloatHistogram {
            schema: 1,
            zero_threshold: 0.001,
            zero_count: b,
            count: 10.0 * b,
            sum: 3.5 * b,
            positive_spans: vec![Span { offset: -1, length: 2 }, Span { offset: 3, length: 1 }],
            positive_buckets: vec![b, 2.0 * b, 3.0 * b],
            negative_spans: vec![Span { offset: 0, length: 1 }],
            negative_buckets: vec![4.0 * b],
            counter_reset_hint: if i == 0 {
                CounterResetHint::Reset
            } else {
                CounterResetHint::NotReset
            },
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn round_trips_and_compresses_steady_layouts() {
        let mut b = HistogramChunkBuilder::new();
        let want: Vec<(i64, FloatHistogram)> = (0..120).map(|i| (i as i64 * 15_000, hist(i))).collect();
        for (t, h) in &want {
            b.append(*t, h);
        }
        let chunk = b.finish();
        let got: Vec<_> = chunk.iter().collect();
        assert_eq!(got, want);
        assert_eq!(chunk.len(), 120);
        // Seven values per sample; far less than 7 x 8 bytes each once the layout is known.
        assert!(chunk.bytes().len() < 120 * 20, "{} bytes", chunk.bytes().len());
    }

    #[test]
    fn layout_changes_and_custom_buckets_round_trip() {
        let mut c = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 3.0,
            sum: 1.5,
            custom_values: vec![0.1, 1.0],
            positive_spans: vec![Span { offset: 0, length: 3 }],
            positive_buckets: vec![1.0, 1.0, 1.0],
            counter_reset_hint: CounterResetHint::Gauge,
            ..FloatHistogram::default()
        };
        let mut b = HistogramChunkBuilder::new();
        b.append(1, &hist(1));
        b.append(2, &c);
        let second = c.clone();
        c.custom_values.push(5.0);
        c.positive_spans[0].length = 4;
        c.positive_buckets.push(f64::NAN);
        b.append(2, &c);
        let got: Vec<_> = b.snapshot().iter().collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1, hist(1));
        assert_eq!(got[1].1, second);
        assert_eq!(got[2].1.custom_values, [0.1, 1.0, 5.0]);
        assert!(got[2].1.positive_buckets[3].is_nan());
        assert_eq!(got[2].0, 2);
    }

    proptest! {
        #[test]
        fn corrupt_chunks_end_with_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let chunk = HistogramChunk { bytes: Bytes::from(bytes), min_t: 0, max_t: 0 };
            let mut it = chunk.iter();
            for _ in it.by_ref() {}
        }
    }
}
