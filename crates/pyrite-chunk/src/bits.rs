//! Bit-level writer and reader, most significant bit first.

/// Appends bits to a byte vector.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    pub bytes: Vec<u8>,
    /// Free bits left in the last byte (0 means a new byte is needed).
    free: u8,
}

impl BitWriter {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self { bytes, free: 0 }
    }

    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if bit {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 1 << (self.free - 1);
            }
        }
        self.free -= 1;
    }

    /// Writes the low `n` bits of `v` (n ≤ 64).
    #[inline]
    pub fn write_bits(&mut self, v: u64, mut n: u8) {
        while n > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (self.free - take);
            }
            self.free -= take;
            n -= take;
        }
    }

    pub fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }
}

/// Reads bits from a byte slice; reading past the end is reported, not a panic.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1 == 1;
        self.pos += 1;
        Some(bit)
    }

    /// Reads `n` bits (n ≤ 64) as the low bits of a u64.
    #[inline]
    pub fn read_bits(&mut self, mut n: u8) -> Option<u64> {
        if self.pos + n as usize > self.bytes.len() * 8 {
            return None;
        }
        let mut v = 0u64;
        while n > 0 {
            let byte = self.bytes[self.pos / 8];
            let offset = (self.pos % 8) as u8;
            let avail = 8 - offset;
            let take = n.min(avail);
            let bits = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            v = (v << take) | u64::from(bits);
            self.pos += take as usize;
            n -= take;
        }
        Some(v)
    }

    pub fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|v| v as u8)
    }

    /// Reads a Go-style unsigned varint starting on any bit boundary.
    pub fn read_uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.read_byte()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

pub(crate) fn put_uvarint(w: &mut BitWriter, mut v: u64) {
    while v >= 0x80 {
        w.write_byte((v as u8) | 0x80);
        v >>= 7;
    }
    w.write_byte(v as u8);
}

pub(crate) fn put_varint(w: &mut BitWriter, v: i64) {
    put_uvarint(w, ((v << 1) ^ (v >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let mut w = BitWriter::default();
        w.write_bit(true);
        w.write_bits(0b101, 3);
        w.write_bits(u64::MAX, 64);
        w.write_bits(0x1234, 14);
        put_uvarint(&mut w, 300);
        put_varint(&mut w, -5);
        let mut r = BitReader::new(&w.bytes);
        assert_eq!(r.read_bit(), Some(true));
        assert_eq!(r.read_bits(3), Some(0b101));
        assert_eq!(r.read_bits(64), Some(u64::MAX));
        assert_eq!(r.read_bits(14), Some(0x1234));
        assert_eq!(r.read_uvarint(), Some(300));
        assert_eq!(r.read_varint(), Some(-5));
        assert_eq!(r.read_bits(64), None);
    }
}

/// The running state of one XOR-encoded float stream: the previous value's bits and the
/// window of meaningful bits last written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XorState {
    pub v: u64,
    leading: u8,
    trailing: u8,
}

impl XorState {
    /// A writer starts with no window, so its first XOR writes one.
    pub fn for_writing() -> Self {
        Self {
            v: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    pub fn for_reading() -> Self {
        Self {
            v: 0,
            leading: 0,
            trailing: 0,
        }
    }
}

/// Writes `bits` XOR-ed with the previous value: `0` when equal; else `10` and the
/// meaningful bits in the previous window, or `11`, a new window (5 bits of leading
/// zeros, 6 of length) and the bits.
pub(crate) fn write_xor(w: &mut BitWriter, st: &mut XorState, bits: u64) {
    let delta = bits ^ st.v;
    st.v = bits;
    if delta == 0 {
        w.write_bit(false);
        return;
    }
    w.write_bit(true);
    let leading = (delta.leading_zeros() as u8).min(31);
    let trailing = delta.trailing_zeros() as u8;
    if st.leading != 0xff && leading >= st.leading && trailing >= st.trailing {
        w.write_bit(false);
        let sig = 64 - st.leading - st.trailing;
        w.write_bits(delta >> st.trailing, sig);
    } else {
        st.leading = leading;
        st.trailing = trailing;
        w.write_bit(true);
        w.write_bits(u64::from(leading), 5);
        let sig = 64 - leading - trailing;
        // 64 significant bits do not fit in 6 bits; they are written as 0.
        w.write_bits(u64::from(sig & 0x3f), 6);
        w.write_bits(delta >> trailing, sig);
    }
}

/// Reads what [`write_xor`] wrote into `st.v`; `None` on truncated or corrupt input.
pub(crate) fn read_xor(r: &mut BitReader<'_>, st: &mut XorState) -> Option<()> {
    if !r.read_bit()? {
        return Some(());
    }
    if r.read_bit()? {
        st.leading = r.read_bits(5)? as u8;
        let mut sig = r.read_bits(6)? as u8;
        if sig == 0 {
            sig = 64;
        }
        st.trailing = 64u8.checked_sub(st.leading)?.checked_sub(sig)?;
    }
    let sig = 64u8.checked_sub(st.leading)?.checked_sub(st.trailing)?;
    if sig == 0 {
        return None;
    }
    let bits = r.read_bits(sig)?;
    st.v ^= bits << st.trailing;
    Some(())
}

/// Splits a chunk into its sample count (the 2-byte big-endian header) and a reader of
/// the samples; a chunk too short for a header reads as empty, with the error.
pub(crate) fn open_chunk(bytes: &[u8]) -> (usize, BitReader<'_>, Option<crate::ChunkError>) {
    match bytes {
        [hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]) as usize, BitReader::new(rest), None),
        _ => (0, BitReader::new(&[]), Some(crate::ChunkError::NoHeader)),
    }
}
