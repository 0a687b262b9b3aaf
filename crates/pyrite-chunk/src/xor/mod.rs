//! The XOR chunk: builder (appends), immutable chunk, and streaming iterator. A chunk
//! read from a block may instead hold an integer-delta encoding ([`crate::delta`]); it
//! carries its [`Encoding`], and its iterator decodes either, so readers never pay to
//! turn one into the other.

use bytes::Bytes;

use crate::bits::{open_chunk, put_uvarint, put_varint, read_xor, write_xor, BitReader, BitWriter, XorState};

/// Samples per chunk before the head cuts a new one.
pub const SAMPLES_PER_CHUNK: usize = 120;

const HEADER: usize = 2;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChunkError {
    #[error("chunk is shorter than its {HEADER}-byte header")]
    NoHeader,
    #[error("chunk data ends after {decoded} of {expected} samples")]
    Truncated { decoded: usize, expected: usize },
    #[error("chunk timestamps go backwards at sample {0}")]
    Unordered(usize),
    #[error(transparent)]
    Delta(#[from] crate::delta::DeltaError),
}

/// How a chunk's bytes encode its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// Prometheus's XOR chunk format: every chunk the head builds, and the wire's.
    #[default]
    Xor,
    /// Integer deltas ([`crate::delta`]): only chunks read from blocks.
    IntegerDelta,
}

/// Encoder state shared by the builder; kept so appends are O(1).
#[derive(Debug, Clone, Copy)]
struct State {
    t: i64,
    t_delta: i64,
    val: XorState,
}

/// An open chunk being appended to.
#[derive(Debug, Clone)]
pub struct ChunkBuilder {
    w: BitWriter,
    count: u16,
    min_t: i64,
    state: State,
}

impl Default for ChunkBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn bit_range(x: i64, nbits: u8) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

impl ChunkBuilder {
    pub fn new() -> Self {
        Self {
            w: BitWriter::from_bytes(vec![0; HEADER]),
            count: 0,
            min_t: 0,
            state: State {
                t: 0,
                t_delta: 0,
                val: XorState::for_writing(),
            },
        }
    }

    /// Appends a sample. The caller guarantees `t` is not before the last timestamp.
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        let st = &mut self.state;
        match self.count {
            0 => {
                debug_assert!(self.w.bytes.len() == HEADER);
                put_varint(&mut self.w, t);
                self.w.write_bits(bits, 64);
                self.min_t = t;
            }
            1 => {
                debug_assert!(t >= st.t, "timestamps must not decrease");
                let delta = t.wrapping_sub(st.t);
                put_uvarint(&mut self.w, delta as u64);
                write_xor(&mut self.w, &mut st.val, bits);
                st.t_delta = delta;
            }
            _ => {
                debug_assert!(t >= st.t, "timestamps must not decrease");
                let delta = t.wrapping_sub(st.t);
                let dod = delta.wrapping_sub(st.t_delta);
                let w = &mut self.w;
                if dod == 0 {
                    w.write_bit(false);
                } else if bit_range(dod, 14) {
                    w.write_bits(0b10, 2);
                    w.write_bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    w.write_bits(0b110, 3);
                    w.write_bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    w.write_bits(0b1110, 4);
                    w.write_bits(dod as u64, 20);
                } else {
                    w.write_bits(0b1111, 4);
                    w.write_bits(dod as u64, 64);
                }
                write_xor(w, &mut st.val, bits);
                st.t_delta = delta;
            }
        }
        st.t = t;
        st.val.v = bits;
        self.count = self.count.saturating_add(1);
        let [hi, lo] = self.count.to_be_bytes();
        self.w.bytes[0] = hi;
        self.w.bytes[1] = lo;
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Where the next sample's bits go: the address to fetch ahead of an append.
    pub fn tail(&self) -> *const u8 {
        self.w.bytes.as_ptr().wrapping_add(self.w.bytes.len().saturating_sub(1))
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn min_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.min_t)
    }

    pub fn max_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.state.t)
    }

    pub fn last(&self) -> Option<(i64, f64)> {
        (self.count > 0).then(|| (self.state.t, f64::from_bits(self.state.val.v)))
    }

    /// Encoded bytes so far, header included.
    pub fn size_bytes(&self) -> usize {
        self.w.bytes.len()
    }

    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(&self.w.bytes)
    }

    /// An immutable copy of what is there now.
    pub fn snapshot(&self) -> Chunk {
        self.to_chunk(Bytes::copy_from_slice(&self.w.bytes))
    }

    /// Seals the chunk without copying.
    pub fn finish(self) -> Chunk {
        let mut bytes = self.w.bytes.clone();
        bytes.shrink_to_fit();
        self.to_chunk(Bytes::from(bytes))
    }

    fn to_chunk(&self, bytes: Bytes) -> Chunk {
        Chunk {
            bytes,
            count: self.count,
            min_t: self.min_t,
            max_t: self.state.t,
            encoding: Encoding::Xor,
        }
    }
}

/// An immutable encoded chunk, cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    bytes: Bytes,
    count: u16,
    min_t: i64,
    max_t: i64,
    encoding: Encoding,
}

impl Chunk {
    /// Validates encoded bytes by decoding them once.
    pub fn from_bytes(bytes: Bytes) -> Result<Chunk, ChunkError> {
        if bytes.len() < HEADER {
            return Err(ChunkError::NoHeader);
        }
        let mut it = ChunkIter::new(&bytes);
        let (mut min_t, mut max_t, mut n) = (0, 0, 0usize);
        for (t, _) in it.by_ref() {
            if n == 0 {
                min_t = t;
            } else if t < max_t {
                return Err(ChunkError::Unordered(n));
            }
            max_t = t;
            n += 1;
        }
        if let Some(e) = it.err() {
            return Err(e.clone());
        }
        Ok(Chunk {
            count: n as u16,
            bytes,
            min_t,
            max_t,
            encoding: Encoding::Xor,
        })
    }

    /// A chunk from bytes and the time range its sender reported, without decoding
    /// (for chunks received from another Pyrite component). Bad bytes are still safe:
    /// iteration ends with an error, it never panics.
    pub fn from_parts(bytes: Bytes, min_t: i64, max_t: i64) -> Chunk {
        let count = match bytes.as_ref() {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            _ => 0,
        };
        Chunk {
            bytes,
            count,
            min_t,
            max_t,
            encoding: Encoding::Xor,
        }
    }

    /// An integer-delta chunk ([`crate::delta`]) from a block, with the time range the
    /// block records for it. Bad bytes are safe: iteration ends with an error.
    pub fn from_integer_parts(bytes: Bytes, min_t: i64, max_t: i64) -> Chunk {
        let count = crate::delta::sample_count(&bytes).unwrap_or(0);
        Chunk {
            bytes,
            count,
            min_t,
            max_t,
            encoding: Encoding::IntegerDelta,
        }
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    pub fn max_time(&self) -> i64 {
        self.max_t
    }

    pub fn iter(&self) -> ChunkIter<'_> {
        match self.encoding {
            Encoding::Xor => ChunkIter::new(&self.bytes),
            Encoding::IntegerDelta => ChunkIter::integers(&self.bytes),
        }
    }

    /// Encodes sorted samples into chunks of at most `per_chunk` samples.
    pub fn encode_all(samples: &[(i64, f64)], per_chunk: usize) -> Vec<Chunk> {
        samples
            .chunks(per_chunk.clamp(1, u16::MAX as usize))
            .map(|part| {
                let mut b = ChunkBuilder::new();
                for (t, v) in part {
                    b.append(*t, *v);
                }
                b.finish()
            })
            .collect()
    }
}

/// Streaming decoder; no allocation per sample (an integer-delta chunk is decoded
/// whole into one buffer when iteration starts).
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    r: BitReader<'a>,
    total: usize,
    read: usize,
    st: State,
    pending: Option<(i64, f64)>,
    err: Option<ChunkError>,
    /// An integer-delta chunk's samples, served by position (`read`).
    decoded: Option<Vec<(i64, f64)>>,
}

impl<'a> ChunkIter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let (total, r, err) = open_chunk(bytes);
        Self {
            r,
            total,
            read: 0,
            st: State {
                t: 0,
                t_delta: 0,
                val: XorState::for_reading(),
            },
            pending: None,
            err,
            decoded: None,
        }
    }

    fn integers(bytes: &'a [u8]) -> Self {
        let mut it = Self::new(&[]);
        let mut samples = Vec::new();
        match crate::delta::decode(bytes, &mut samples) {
            Ok(()) => it.err = None,
            Err(e) => {
                samples.clear();
                it.err = Some(e.into());
            }
        }
        it.total = samples.len();
        it.decoded = Some(samples);
        it
    }

    /// Advances so the next sample returned is the first with timestamp `>= t`.
    pub fn seek(&mut self, t: i64) {
        if matches!(self.pending, Some((pt, _)) if pt >= t) {
            return;
        }
        self.pending = None;
        while let Some(s) = self.decode_next() {
            if s.0 >= t {
                self.pending = Some(s);
                return;
            }
        }
    }

    /// Why decoding stopped early, if it did.
    pub fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }

    fn fail(&mut self) -> Option<(i64, f64)> {
        self.err = Some(ChunkError::Truncated {
            decoded: self.read,
            expected: self.total,
        });
        self.read = self.total;
        None
    }

    #[inline]
    fn decode_next(&mut self) -> Option<(i64, f64)> {
        if self.read >= self.total || self.err.is_some() {
            return None;
        }
        if let Some(samples) = &self.decoded {
            let s = samples[self.read];
            self.read += 1;
            return Some(s);
        }
        let r = &mut self.r;
        let st = &mut self.st;
        let ok = match self.read {
            0 => (|| {
                st.t = r.read_varint()?;
                st.val.v = r.read_bits(64)?;
                Some(())
            })(),
            1 => (|| {
                st.t_delta = r.read_uvarint()? as i64;
                st.t = st.t.wrapping_add(st.t_delta);
                read_xor(r, &mut st.val)
            })(),
            _ => (|| {
                let mut prefix = 0u8;
                while prefix < 4 {
                    if !r.read_bit()? {
                        break;
                    }
                    prefix += 1;
                }
                let dod = match prefix {
                    0 => 0,
                    4 => r.read_bits(64)? as i64,
                    p => {
                        let sz = [0u8, 14, 17, 20][p as usize];
                        let bits = r.read_bits(sz)?;
                        if bits > 1 << (sz - 1) {
                            bits as i64 - (1i64 << sz)
                        } else {
                            bits as i64
                        }
                    }
                };
                st.t_delta = st.t_delta.wrapping_add(dod);
                st.t = st.t.wrapping_add(st.t_delta);
                read_xor(r, &mut st.val)
            })(),
        };
        if ok.is_none() {
            return self.fail();
        }
        self.read += 1;
        Some((self.st.t, f64::from_bits(self.st.val.v)))
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<(i64, f64)> {
        if let Some(s) = self.pending.take() {
            return Some(s);
        }
        self.decode_next()
    }
}

#[cfg(test)]
mod tests;
