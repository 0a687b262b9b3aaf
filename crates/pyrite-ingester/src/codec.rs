//! The encoding of one write (tenant + series + samples) as a log record.
//!
//! Layout before compression: tenant, series count, and per series its labels and its
//! samples (zig-zag varint timestamp deltas, raw little-endian value bits). A write that
//! carries native histograms is marked by a leading zero byte (no tenant is empty) and a
//! format version, and each series then also lists its histogram samples. The whole
//! record is snappy-compressed. Decoding never trusts lengths it reads: every count is
//! checked against the bytes left, so a torn or corrupt record is an error, not a panic.

use pyrite_model::histogram::{CounterResetHint, Span};
use pyrite_model::{FloatHistogram, Label, Labels, Sample, TimeSeries};
use pyrite_storage::{KnownValue, KnownWrite};

/// Format version of records that carry histograms.
const WITH_HISTOGRAMS: u8 = 2;

/// A write as recorded in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRecord {
    pub tenant: String,
    pub series: Vec<TimeSeries>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    #[error("log record is not valid snappy: {0}")]
    Snappy(String),
    #[error("log record truncated or corrupt: {0}")]
    Corrupt(&'static str),
}

pub fn encode(tenant: &str, series: &[TimeSeries]) -> Vec<u8> {
    let histograms = series.iter().any(|s| !s.histograms.is_empty());
    let mut raw = begin(tenant, series.len(), histograms, 64 + series.len() * 64);
    for ts in series {
        put_series(&mut raw, &ts.labels, &ts.samples, &ts.histograms, histograms);
    }
    finish(raw)
}

/// A write to known series, encoded as exactly the bytes [`encode`] gives for
/// [`KnownWrite::to_series`] (one series per sample), without building those series.
pub fn encode_known(tenant: &str, write: &KnownWrite) -> Vec<u8> {
    let histograms = write.has_histograms();
    let mut raw = begin(tenant, write.len(), histograms, 64 + write.len() * 96);
    for k in &write.samples {
        match &k.value {
            KnownValue::Float(v) => {
                raw.extend_from_slice(k.series.encoded_labels());
                put_uvarint(&mut raw, 1);
                put_uvarint(&mut raw, zigzag(k.t));
                raw.extend_from_slice(&v.to_bits().to_le_bytes());
                if histograms {
                    put_uvarint(&mut raw, 0);
                }
            }
            KnownValue::Histogram(h) => {
                raw.extend_from_slice(k.series.encoded_labels());
                put_uvarint(&mut raw, 0);
                put_uvarint(&mut raw, 1);
                put_uvarint(&mut raw, zigzag(k.t));
                put_histogram(&mut raw, h);
            }
        }
    }
    finish(raw)
}

/// A record's header: its format, tenant and series count.
fn begin(tenant: &str, n_series: usize, histograms: bool, capacity: usize) -> Vec<u8> {
    let mut raw = Vec::with_capacity(capacity);
    if histograms {
        raw.extend_from_slice(&[0, WITH_HISTOGRAMS]);
    }
    put_bytes(&mut raw, tenant.as_bytes());
    put_uvarint(&mut raw, n_series as u64);
    raw
}

fn put_labels(raw: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(raw, labels.len() as u64);
    for l in labels {
        put_bytes(raw, l.name.as_bytes());
        put_bytes(raw, l.value.as_bytes());
    }
}

fn put_series(
    raw: &mut Vec<u8>,
    labels: &Labels,
    samples: &[Sample],
    hists: &[(i64, FloatHistogram)],
    histograms: bool,
) {
    put_labels(raw, labels);
    put_uvarint(raw, samples.len() as u64);
    let mut prev = 0i64;
    for s in samples {
        put_uvarint(raw, zigzag(s.t.wrapping_sub(prev)));
        prev = s.t;
        raw.extend_from_slice(&s.v.to_bits().to_le_bytes());
    }
    if histograms {
        put_uvarint(raw, hists.len() as u64);
        let mut prev = 0i64;
        for (t, h) in hists {
            put_uvarint(raw, zigzag(t.wrapping_sub(prev)));
            prev = *t;
            put_histogram(raw, h);
        }
    }
}

/// The record, compressed.
fn finish(raw: Vec<u8>) -> Vec<u8> {
    // Compressing a Vec we built ourselves cannot fail short of allocation failure.
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or(raw)
}

pub fn decode(record: &[u8]) -> Result<WriteRecord, CodecError> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(record)
        .map_err(|e| CodecError::Snappy(e.to_string()))?;
    let mut r = Reader { buf: &raw };
    let histograms = raw.first() == Some(&0);
    if histograms {
        r.array::<1>()?;
        if r.array::<1>()? != [WITH_HISTOGRAMS] {
            return Err(CodecError::Corrupt("unknown record version"));
        }
    }
    let tenant = r.string()?;
    let n_series = r.count(2)?;
    let mut series = Vec::with_capacity(n_series);
    for _ in 0..n_series {
        let n_labels = r.count(2)?;
        let mut labels = Vec::with_capacity(n_labels);
        for _ in 0..n_labels {
            let name = r.string()?;
            let value = r.string()?;
            labels.push(Label::new(name, value));
        }
        if labels.windows(2).any(|w| w[0].name >= w[1].name) {
            return Err(CodecError::Corrupt("labels out of order"));
        }
        let n_samples = r.count(9)?;
        let mut samples = Vec::with_capacity(n_samples);
        let mut t = 0i64;
        for _ in 0..n_samples {
            t = t.wrapping_add(unzigzag(r.uvarint()?));
            let v = f64::from_bits(u64::from_le_bytes(r.array()?));
            samples.push(Sample { t, v });
        }
        let mut hists = Vec::new();
        if histograms {
            let n = r.count(40)?;
            let mut t = 0i64;
            for _ in 0..n {
                t = t.wrapping_add(unzigzag(r.uvarint()?));
                hists.push((t, r.histogram()?));
            }
        }
        series.push(TimeSeries {
            labels: Labels::from_sorted_unchecked(labels),
            samples,
            histograms: hists,
        });
    }
    if !r.buf.is_empty() {
        return Err(CodecError::Corrupt("trailing bytes"));
    }
    Ok(WriteRecord { tenant, series })
}

fn put_f64(buf: &mut Vec<u8>, v: f64) {
    buf.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn put_spans(buf: &mut Vec<u8>, spans: &[Span], buckets: &[f64]) {
    put_uvarint(buf, spans.len() as u64);
    for s in spans {
        put_uvarint(buf, zigzag(i64::from(s.offset)));
        put_uvarint(buf, u64::from(s.length));
    }
    put_uvarint(buf, buckets.len() as u64);
    for b in buckets {
        put_f64(buf, *b);
    }
}

fn put_histogram(buf: &mut Vec<u8>, h: &FloatHistogram) {
    buf.push(match h.counter_reset_hint {
        CounterResetHint::Unknown => 0,
        CounterResetHint::Reset => 1,
        CounterResetHint::NotReset => 2,
        CounterResetHint::Gauge => 3,
    });
    put_uvarint(buf, zigzag(i64::from(h.schema)));
    for v in [h.zero_threshold, h.zero_count, h.count, h.sum] {
        put_f64(buf, v);
    }
    put_spans(buf, &h.positive_spans, &h.positive_buckets);
    put_spans(buf, &h.negative_spans, &h.negative_buckets);
    put_uvarint(buf, h.custom_values.len() as u64);
    for v in &h.custom_values {
        put_f64(buf, *v);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn uvarint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for (i, b) in self.buf.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(v);
            }
        }
        Err(CodecError::Corrupt("bad varint"))
    }

    /// A count of items each taking at least `min_size` bytes: bounded by what is left,
    /// so a corrupt count cannot make us allocate wildly.
    fn count(&mut self, min_size: usize) -> Result<usize, CodecError> {
        let n = self.uvarint()?;
        if n > (self.buf.len() / min_size.max(1)) as u64 + 1 {
            return Err(CodecError::Corrupt("count larger than the record"));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let n = self.uvarint()?;
        if n > self.buf.len() as u64 {
            return Err(CodecError::Corrupt("string longer than the record"));
        }
        let (s, rest) = self.buf.split_at(n as usize);
        self.buf = rest;
        String::from_utf8(s.to_vec()).map_err(|_| CodecError::Corrupt("string is not UTF-8"))
    }

    fn f64(&mut self) -> Result<f64, CodecError> {
        Ok(f64::from_bits(u64::from_le_bytes(self.array()?)))
    }

    fn floats(&mut self) -> Result<Vec<f64>, CodecError> {
        let n = self.count(8)?;
        (0..n).map(|_| self.f64()).collect()
    }

    fn spans(&mut self) -> Result<(Vec<Span>, Vec<f64>), CodecError> {
        let n = self.count(2)?;
        let mut spans = Vec::with_capacity(n);
        for _ in 0..n {
            let offset = i32::try_from(unzigzag(self.uvarint()?)).map_err(|_| CodecError::Corrupt("span offset"))?;
            let length = u32::try_from(self.uvarint()?).map_err(|_| CodecError::Corrupt("span length"))?;
            spans.push(Span { offset, length });
        }
        Ok((spans, self.floats()?))
    }

    fn histogram(&mut self) -> Result<FloatHistogram, CodecError> {
        let hint = match self.array::<1>()?[0] {
            0 => CounterResetHint::Unknown,
            1 => CounterResetHint::Reset,
            2 => CounterResetHint::NotReset,
            3 => CounterResetHint::Gauge,
            _ => return Err(CodecError::Corrupt("counter reset hint")),
        };
        let schema = i32::try_from(unzigzag(self.uvarint()?)).map_err(|_| CodecError::Corrupt("schema"))?;
        let (zero_threshold, zero_count, count, sum) = (self.f64()?, self.f64()?, self.f64()?, self.f64()?);
        let (positive_spans, positive_buckets) = self.spans()?;
        let (negative_spans, negative_buckets) = self.spans()?;
        Ok(FloatHistogram {
            counter_reset_hint: hint,
            schema,
            zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans,
            positive_buckets,
            negative_spans,
            negative_buckets,
            custom_values: self.floats()?,
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        if self.buf.len() < N {
            return Err(CodecError::Corrupt("value cut short"));
        }
        let (a, rest) = self.buf.split_at(N);
        self.buf = rest;
        a.try_into().map_err(|_| CodecError::Corrupt("value cut short"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample_write() -> Vec<TimeSeries> {
        vec![
            TimeSeries::floats(
                Labels::from_pairs(&[("__name__", "up"), ("job", "node")]),
                vec![
                    Sample::new(1000, 1.0),
                    Sample::new(16000, f64::NAN),
                    Sample::new(-5, pyrite_model::STALE_NAN),
                ],
            ),
            TimeSeries::floats(
                Labels::from_pairs(&[("__name__", "x")]),
                vec![Sample::new(i64::MIN, f64::INFINITY), Sample::new(i64::MAX, -0.0)],
            ),
        ]
    }

    #[test]
    fn histograms_round_trip() {
        let h = FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            schema: -53,
            count: 5.0,
            sum: 12.5,
            positive_spans: vec![Span { offset: 0, length: 2 }],
            positive_buckets: vec![2.0, 3.0],
            custom_values: vec![1.0],
            ..FloatHistogram::default()
        };
        let mut series = sample_write();
        series[1].histograms = vec![(7, h.clone()), (9, FloatHistogram::default())];
        let enc = encode("t", &series);
        let rec = decode(&enc).unwrap();
        assert_eq!(rec.series[1].histograms, series[1].histograms);
        assert!(rec.series[0].histograms.is_empty());
        assert_eq!(rec.series[0].samples.len(), 3);
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let series = sample_write();
        let rec = decode(&encode("tenant-1", &series)).unwrap();
        assert_eq!(rec.tenant, "tenant-1");
        assert_eq!(rec.series.len(), 2);
        for (a, b) in rec.series.iter().zip(&series) {
            assert_eq!(a.labels, b.labels);
            let bits = |s: &TimeSeries| s.samples.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(a), bits(b));
        }
    }

    #[test]
    fn a_known_write_encodes_as_its_labeled_series() {
        use pyrite_storage::KnownSeries;
        let up = KnownSeries::new(Labels::from_pairs(&[("__name__", "up"), ("job", "node")]));
        let x = KnownSeries::new(Labels::from_pairs(&[("__name__", "x")]));
        let mut w = KnownWrite::new();
        w.push_float(&up, 1000, 1.0);
        w.push_float(&x, -5, pyrite_model::STALE_NAN);
        w.push_float(&up, 2000, 2.0);
        assert_eq!(encode_known("t", &w), encode("t", &w.to_series()));
        let h = FloatHistogram {
            count: 3.0,
            positive_spans: vec![Span { offset: 1, length: 1 }],
            positive_buckets: vec![3.0],
            ..FloatHistogram::default()
        };
        w.push_histogram(&x, 3000, h);
        assert_eq!(encode_known("t", &w), encode("t", &w.to_series()));
        let decoded = decode(&encode_known("t", &w)).unwrap();
        assert_eq!(encode("t", &decoded.series), encode("t", &w.to_series()));
        assert_eq!(encode_known("t", &KnownWrite::new()), encode("t", &[]));
    }

    #[test]
    fn truncation_is_an_error() {
        let enc = encode("t", &sample_write());
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
            let compressed = snap::raw::Encoder::new().compress_vec(&bytes).unwrap();
            let _ = decode(&compressed);
        }
    }
}
