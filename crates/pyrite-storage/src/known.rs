//! Writes to series the writer keeps between writes (a scrape loop's series): each
//! [`KnownSeries`] is built once, with its labels and their hash, and then written by
//! reference, scrape after scrape, instead of being copied into a fresh labeled series
//! every time.
//!
//! A known series also remembers two things on behalf of the write path, so that work
//! done once is not done again: the label limits it last passed validation under (the
//! distributor checks it again only when a tenant's limits change), and where a store
//! last found it (the head looks it up by labels only when that place no longer holds).
//! Neither is ever written anywhere: a [`KnownWrite`] means exactly the labeled series
//! [`KnownWrite::to_series`] gives, and stores record it as such.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pyrite_model::{FloatHistogram, Labels, Sample, TimeSeries};

/// A series whose labels are final (sorted, no empty values), shared by every write of it.
#[derive(Debug)]
pub struct KnownSeries {
    labels: Labels,
    hash: u64,
    /// The labels in their length-prefixed form ([`KnownSeries::encoded_labels`]).
    encoded: Box<[u8]>,
    /// The label limits it last passed validation under, as a nonzero stamp; 0: never.
    checked: AtomicU64,
    /// Where a store last found it: the store's stamp for the index it looked in (high
    /// half; 0: nowhere) and the series' place there (low half).
    place: AtomicU64,
}

impl KnownSeries {
    pub fn new(labels: Labels) -> Arc<KnownSeries> {
        let mut encoded =
            Vec::with_capacity(1 + labels.iter().map(|l| l.name.len() + l.value.len() + 2).sum::<usize>());
        put_uvarint(&mut encoded, labels.len() as u64);
        for l in &labels {
            for s in [&*l.name, &*l.value] {
                put_uvarint(&mut encoded, s.len() as u64);
                encoded.extend_from_slice(s.as_bytes());
            }
        }
        Arc::new(KnownSeries {
            hash: labels.stable_hash(),
            labels,
            encoded: encoded.into(),
            checked: AtomicU64::new(0),
            place: AtomicU64::new(0),
        })
    }

    /// The labels as a record lays them out, made once: their number, then each name
    /// and value as its length and its bytes, every number an unsigned LEB128 varint
    /// (the layout of a label set in a shard's log records).
    pub fn encoded_labels(&self) -> &[u8] {
        &self.encoded
    }

    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// [`Labels::stable_hash`] of its labels, computed once.
    pub fn stable_hash(&self) -> u64 {
        self.hash
    }

    /// Whether it passed validation under the limits stamped `limits` (nonzero).
    pub fn checked_under(&self, limits: u64) -> bool {
        limits != 0 && self.checked.load(Ordering::Relaxed) == limits
    }

    /// Records that it passed validation under the limits stamped `limits`.
    pub fn mark_checked(&self, limits: u64) {
        self.checked.store(limits, Ordering::Relaxed);
    }

    /// The place a store recorded under `index` (its stamp for one version of one
    /// index, nonzero), if it is the last one recorded.
    pub fn place_in(&self, index: u64) -> Option<u32> {
        let recorded = self.place.load(Ordering::Relaxed);
        (index != 0 && index <= u64::from(u32::MAX) && recorded >> 32 == index).then_some(recorded as u32)
    }

    /// Records where a store found it. Stamps beyond 32 bits are not remembered (the
    /// store then finds the series by its labels, as it would without a place).
    pub fn set_place(&self, index: u64, place: u32) {
        if let Ok(index) = u32::try_from(index) {
            self.place
                .store(u64::from(index) << 32 | u64::from(place), Ordering::Relaxed);
        }
    }
}

impl KnownSeries {
    /// Asks the processor to load this series' own memory (its reference counts, its
    /// stamps and place) ahead of a use a few series later. A write reads its series at
    /// scattered addresses that a hundred targets' scrapes no longer keep in the
    /// processor's caches; waiting on each in turn is most of what a steady scrape
    /// costs per sample.
    #[inline]
    pub fn prefetch(this: &Arc<KnownSeries>) {
        prefetch_arc(this);
    }

    /// Asks the processor to load this series' encoded labels (which read the series'
    /// own memory to find them, so call it once [`KnownSeries::prefetch`] had time).
    #[inline]
    pub fn prefetch_labels(&self) {
        let bytes = &*self.encoded;
        prefetch_line(bytes.as_ptr());
        if bytes.len() > 64 {
            prefetch_line(bytes.as_ptr().wrapping_add(64));
        }
    }
}

/// A hint to load the cache line at `p` into the processor's caches. Nothing is read
/// that the program sees, so any address will do.
#[inline(always)]
pub fn prefetch_line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no effect the program can observe and cannot fault,
    // whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Loads an `Arc`'s reference counts and the first 64 bytes after them: the counts
/// sit just before the value in its allocation, so two lines cover both whatever the
/// alignment.
#[inline(always)]
pub fn prefetch_arc<T>(this: &Arc<T>) {
    let p = Arc::as_ptr(this).cast::<u8>();
    prefetch_line(p.wrapping_sub(16));
    prefetch_line(p.wrapping_add(48));
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// One sample's value.
#[derive(Debug, Clone, PartialEq)]
pub enum KnownValue {
    Float(f64),
    Histogram(Box<FloatHistogram>),
}

/// One sample of a known series.
#[derive(Debug, Clone)]
pub struct KnownSample {
    pub series: Arc<KnownSeries>,
    pub t: i64,
    pub value: KnownValue,
}

/// A write of one sample to each of a list of known series, in order: the same write
/// as [`KnownWrite::to_series`], one labeled series per sample. A series may appear
/// more than once.
#[derive(Debug, Clone, Default)]
pub struct KnownWrite {
    pub samples: Vec<KnownSample>,
}

impl KnownWrite {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            samples: Vec::with_capacity(n),
        }
    }

    pub fn push_float(&mut self, series: &Arc<KnownSeries>, t: i64, v: f64) {
        self.samples.push(KnownSample {
            series: series.clone(),
            t,
            value: KnownValue::Float(v),
        });
    }

    pub fn push_histogram(&mut self, series: &Arc<KnownSeries>, t: i64, h: FloatHistogram) {
        self.samples.push(KnownSample {
            series: series.clone(),
            t,
            value: KnownValue::Histogram(Box::new(h)),
        });
    }

    /// Appends another write's samples after this one's.
    pub fn extend(&mut self, other: KnownWrite) {
        self.samples.extend(other.samples);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Whether any sample is a native histogram.
    pub fn has_histograms(&self) -> bool {
        self.samples.iter().any(|s| matches!(s.value, KnownValue::Histogram(_)))
    }

    /// The same write as labeled series, one per sample, in order.
    pub fn to_series(&self) -> Vec<TimeSeries> {
        self.samples.iter().map(KnownSample::to_series).collect()
    }
}

impl KnownSample {
    /// This sample as a labeled series of one sample.
    pub fn to_series(&self) -> TimeSeries {
        let labels = self.series.labels.clone();
        match &self.value {
            KnownValue::Float(v) => TimeSeries::floats(labels, vec![Sample::new(self.t, *v)]),
            KnownValue::Histogram(h) => TimeSeries {
                labels,
                samples: Vec::new(),
                histograms: vec![(self.t, (**h).clone())],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_write_is_one_labeled_series_per_sample() {
        let up = KnownSeries::new(Labels::from_pairs(&[("__name__", "up"), ("job", "a")]));
        let h = KnownSeries::new(Labels::from_pairs(&[("__name__", "h")]));
        assert_eq!(up.stable_hash(), up.labels().stable_hash());
        assert_eq!(up.encoded_labels(), b"\x02\x08__name__\x02up\x03job\x01a");
        let mut w = KnownWrite::new();
        w.push_float(&up, 10, 1.0);
        let mut more = KnownWrite::with_capacity(2);
        more.push_histogram(&h, 10, FloatHistogram::default());
        more.push_float(&up, 20, 0.0);
        w.extend(more);
        assert_eq!((w.len(), w.has_histograms()), (3, true));
        let series = w.to_series();
        assert_eq!(
            series[0],
            TimeSeries::floats(up.labels().clone(), vec![Sample::new(10, 1.0)])
        );
        assert_eq!(series[1].histograms, [(10, FloatHistogram::default())]);
        assert!(series[1].samples.is_empty());
        assert_eq!(series[2].samples, [Sample::new(20, 0.0)]);
    }

    #[test]
    fn stamps_of_zero_never_match() {
        let s = KnownSeries::new(Labels::from_pairs(&[("__name__", "up")]));
        assert!(!s.checked_under(0));
        assert!(!s.checked_under(7));
        s.mark_checked(7);
        assert!(s.checked_under(7) && !s.checked_under(8));
        assert_eq!(s.place_in(0), None);
        s.set_place(3, 12);
        assert_eq!((s.place_in(3), s.place_in(4)), (Some(12), None));
        s.set_place(1 << 32, 5);
        assert_eq!(s.place_in(1 << 32), None, "too large a stamp is not kept");
        assert_eq!(s.place_in(3), Some(12));
    }
}
