//! A target's series cache, kept in the order its last good scrape listed them.
//!
//! A target lists the same series in the same order scrape after scrape, so a scrape
//! walks the cache as it walks the body: each series is first looked for at the place
//! after the last one found, and by its key only when it is not there. A scrape that
//! lists what the last one did, in the same order, reads the cache front to back and
//! never touches the key index, whose buckets are scattered memory a hundred targets'
//! scrapes no longer keep in the processor's caches. A scrape that lists anything else
//! (a series new, gone, repeated or moved) rebuilds the cache in its own order.
//!
//! Keys are 128-bit seeded hashes of a series' text as the body writes it (see
//! [`super::Scraper`]); the cache never sees the text.
//!
//! The invariant: after a good scrape the cache holds exactly that scrape's series, in
//! its order, each marked seen by it, and `index` gives every slot's place.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use pyrite_storage::KnownSeries;

/// A series the target exposed.
#[derive(Clone)]
pub(crate) struct Slot {
    key: u128,
    /// After honor_labels and metric relabeling, built once and written by reference
    /// from then on; `None` when relabeling drops it.
    pub(crate) series: Option<Arc<KnownSeries>>,
    /// The scrape that last wrote it.
    pub(crate) seen: u64,
    /// Whether its last sample carried the target's own timestamp.
    pub(crate) own_timestamp: bool,
}

type Index = HashMap<u128, u32, BuildHasherDefault<Folded>>;

/// How far ahead of the scrape a series' own memory is fetched.
const FAR: usize = 12;
/// How far ahead its label bytes are fetched.
const NEAR: usize = 4;

/// Hashes a key that is already a uniform hash: its two halves folded together.
#[derive(Default)]
struct Folded(u64);

impl Hasher for Folded {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Default)]
pub(crate) struct SeriesCache {
    slots: Vec<Slot>,
    index: Index,
}

/// Where a series of this scrape is: a slot of the cache, or new in this scrape.
#[derive(Clone, Copy)]
enum Place {
    Old(u32),
    Fresh(u32),
}

/// One scrape's walk over the cache. New series wait in it until the scrape is known
/// to be good.
pub(crate) struct Pass {
    iteration: u64,
    /// The place after the last series found.
    cursor: usize,
    /// How many series were found in order before the first that was not; `None`
    /// while all were.
    in_order: Option<usize>,
    /// This scrape's series from the first out of order on.
    order: Vec<Place>,
    fresh: Vec<Slot>,
    fresh_index: Index,
}

/// What a scrape finds for a key.
pub(crate) enum Found<'a> {
    /// A series of an earlier scrape, now marked seen by this one.
    Cached(&'a mut Slot),
    /// A series this scrape listed already: the first one counts.
    Repeat,
    /// A series no scrape listed before.
    New,
}

impl SeriesCache {
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn begin(&self, iteration: u64) -> Pass {
        Pass {
            iteration,
            cursor: 0,
            in_order: None,
            order: Vec::new(),
            fresh: Vec::new(),
            fresh_index: Index::default(),
        }
    }

    /// The series under `key`, marked seen by this scrape if it was cached.
    pub(crate) fn find<'a>(&'a mut self, pass: &mut Pass, key: u128) -> Found<'a> {
        let at = match self.slots.get(pass.cursor) {
            Some(s) if s.key == key => Some(pass.cursor),
            _ => self.index.get(&key).map(|&i| i as usize),
        };
        let Some(at) = at else {
            return if pass.fresh_index.contains_key(&key) {
                Found::Repeat
            } else {
                Found::New
            };
        };
        if self.slots[at].seen == pass.iteration {
            return Found::Repeat;
        }
        if at != pass.cursor && pass.in_order.is_none() {
            pass.in_order = Some(pass.cursor);
        }
        if pass.in_order.is_some() {
            pass.order.push(Place::Old(at as u32));
        }
        pass.cursor = at + 1;
        self.prefetch_ahead(at);
        let slot = &mut self.slots[at];
        slot.seen = pass.iteration;
        Found::Cached(slot)
    }

    /// Asks the processor for the memory of the series a steady scrape writes next, so
    /// that it is at hand when the scrape gets there. A hundred targets' series do not
    /// stay in the processor's caches between two scrapes of one target, and each series
    /// is read at scattered addresses: its reference count here, its label bytes when
    /// the write is encoded, its validation stamp and place when it is checked and
    /// applied. Waiting on those reads one by one was over a fifth of the scrape path's
    /// time. The series [`FAR`] ahead has its own memory fetched; the one [`NEAR`] ahead,
    /// whose memory has arrived by then, has its label bytes fetched.
    fn prefetch_ahead(&self, at: usize) {
        if let Some(Slot { series: Some(s), .. }) = self.slots.get(at + FAR) {
            KnownSeries::prefetch(s);
        }
        if let Some(Slot { series: Some(s), .. }) = self.slots.get(at + NEAR) {
            s.prefetch_labels();
        }
    }

    /// A series new in this scrape, cached if the scrape turns out good.
    pub(crate) fn add(&self, pass: &mut Pass, key: u128, series: Option<Arc<KnownSeries>>, own_timestamp: bool) {
        if pass.in_order.is_none() {
            pass.in_order = Some(pass.cursor);
        }
        let i = pass.fresh.len() as u32;
        pass.fresh.push(Slot {
            key,
            series,
            seen: pass.iteration,
            own_timestamp,
        });
        pass.fresh_index.insert(key, i);
        pass.order.push(Place::Fresh(i));
    }

    /// A good scrape: the cache becomes its series, in its order. `gone` hears of each
    /// series the previous good scrape wrote and this one did not.
    pub(crate) fn commit(&mut self, pass: Pass, mut gone: impl FnMut(&Slot)) {
        if pass.in_order.is_none() && pass.cursor == self.slots.len() {
            // Everything listed again, in the same order: nothing to rebuild.
            return;
        }
        let iteration = pass.iteration;
        for s in self
            .slots
            .iter()
            .filter(|s| s.seen != iteration && s.seen + 1 == iteration)
        {
            gone(s);
        }
        let prefix = pass.in_order.unwrap_or(pass.cursor);
        let mut slots = Vec::with_capacity(prefix + pass.order.len());
        slots.extend_from_slice(&self.slots[..prefix]);
        let mut fresh = pass.fresh.into_iter().map(Some).collect::<Vec<_>>();
        for place in pass.order {
            let slot = match place {
                Place::Old(i) => Some(self.slots[i as usize].clone()),
                Place::Fresh(i) => fresh[i as usize].take(),
            };
            slots.extend(slot);
        }
        self.index = slots.iter().enumerate().map(|(i, s)| (s.key, i as u32)).collect();
        self.slots = slots;
    }

    /// A failed scrape: slots it marked seen count as seen by the last good one, and its
    /// new series are forgotten.
    pub(crate) fn rollback(&mut self, pass: Pass) {
        for s in &mut self.slots {
            if s.seen == pass.iteration {
                s.seen = pass.iteration - 1;
            }
        }
    }

    /// Forgets every series; `gone` hears of each the last good scrape wrote
    /// (`iteration` is the one after it).
    pub(crate) fn clear(&mut self, iteration: u64, mut gone: impl FnMut(&Slot)) {
        for s in self.slots.iter().filter(|s| s.seen + 1 == iteration) {
            gone(s);
        }
        self.slots.clear();
        self.index.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyrite_model::Labels;

    fn series(name: &str) -> Option<Arc<KnownSeries>> {
        Some(KnownSeries::new(Labels::from_pairs(&[("__name__", name)])))
    }

    /// One scrape listing `keys`: what it found of each, and the keys it left behind.
    fn scrape(cache: &mut SeriesCache, iteration: u64, keys: &[u128]) -> (String, Vec<u128>) {
        let mut pass = cache.begin(iteration);
        let mut found = String::new();
        for &k in keys {
            match cache.find(&mut pass, k) {
                Found::Cached(_) => found.push('c'),
                Found::Repeat => found.push('r'),
                Found::New => {
                    found.push('n');
                    cache.add(&mut pass, k, series(&format!("s{k}")), false);
                }
            }
        }
        let mut gone = Vec::new();
        cache.commit(pass, |s| gone.push(s.key));
        (found, gone)
    }

    fn keys(cache: &SeriesCache) -> Vec<u128> {
        cache.slots.iter().map(|s| s.key).collect()
    }

    #[test]
    fn follows_the_bodys_order_and_forgets_what_it_left_out() {
        let mut cache = SeriesCache::default();
        assert_eq!(scrape(&mut cache, 1, &[1, 2, 3, 2]), ("nnnr".into(), vec![]));
        assert_eq!(keys(&cache), [1, 2, 3]);
        assert_eq!(scrape(&mut cache, 2, &[1, 2, 3]), ("ccc".into(), vec![]));
        // A new series in the middle, one gone, one moved: rebuilt in the new order.
        assert_eq!(scrape(&mut cache, 3, &[3, 1, 4]), ("ccn".into(), vec![2]));
        assert_eq!(keys(&cache), [3, 1, 4]);
        for (k, i) in [(3, 0), (1, 1), (4, 2)] {
            assert_eq!(cache.index[&k], i);
        }
        assert!(cache.slots.iter().all(|s| s.seen == 3));
        // A shorter body in order: the tail is gone.
        assert_eq!(scrape(&mut cache, 4, &[3, 1]), ("cc".into(), vec![4]));
        assert_eq!(keys(&cache), [3, 1]);
    }

    #[test]
    fn a_failed_scrape_changes_nothing() {
        let mut cache = SeriesCache::default();
        scrape(&mut cache, 1, &[1, 2]);
        let mut pass = cache.begin(2);
        assert!(matches!(cache.find(&mut pass, 1), Found::Cached(_)));
        assert!(matches!(cache.find(&mut pass, 5), Found::New));
        cache.add(&mut pass, 5, None, false);
        cache.rollback(pass);
        assert_eq!(keys(&cache), [1, 2]);
        assert!(cache.slots.iter().all(|s| s.seen == 1));
        // The next good scrape still sees both as the last good one's.
        assert_eq!(scrape(&mut cache, 2, &[2]), ("c".into(), vec![1]));
        let mut gone = Vec::new();
        cache.clear(3, |s| gone.push(s.key));
        assert_eq!((gone, cache.len()), (vec![2], 0));
    }
}
