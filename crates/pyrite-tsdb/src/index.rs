//! The head's inverted index for one tenant: interned strings, the series table and
//! postings (label pair → sorted series ids).
//!
//! Series ids are handed out in increasing order and never reused, so every postings
//! list stays sorted by construction; intersections and differences are linear merges.
//! Nothing here touches samples.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pyrite_model::{Label, Labels, MatchOp, Matcher};

/// An interned string.
pub(crate) type Sym = u32;

/// Interned label pairs of one series, sorted by name.
pub(crate) type SymLabels = Box<[(Sym, Sym)]>;

/// Strings seen in label names and values, stored once.
#[derive(Default)]
pub(crate) struct Symbols {
    strings: Vec<Arc<str>>,
    lookup: HashMap<Arc<str>, Sym>,
}

impl Symbols {
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.lookup.get(s).copied()
    }

    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(id) = self.lookup.get(s) {
            return *id;
        }
        let id = self.strings.len() as Sym;
        let s: Arc<str> = Arc::from(s);
        self.strings.push(s.clone());
        self.lookup.insert(s, id);
        id
    }

    pub fn resolve(&self, id: Sym) -> &str {
        &self.strings[id as usize]
    }

    /// The shared string itself, for label sets that reference it without copying.
    pub fn shared(&self, id: Sym) -> Arc<str> {
        self.strings[id as usize].clone()
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }
}

/// Hashes a key that is already a good 64-bit hash (a label set's) as itself.
#[derive(Default)]
pub(crate) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with this; fold anything else in all the same.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The series ids sharing one label-set hash: nearly always exactly one.
enum HashIds {
    One(u32),
    Colliding(Vec<u32>),
}

impl HashIds {
    fn ids(&self) -> &[u32] {
        match self {
            HashIds::One(id) => std::slice::from_ref(id),
            HashIds::Colliding(ids) => ids,
        }
    }

    fn push(&mut self, id: u32) {
        match self {
            HashIds::One(first) => *self = HashIds::Colliding(vec![*first, id]),
            HashIds::Colliding(ids) => ids.push(id),
        }
    }
}

/// Stamps of index versions: each index gets its own, process-wide, never 0.
static NEXT_STAMP: AtomicU64 = AtomicU64::new(1);

/// Postings of one tenant, and the series table they point into.
pub(crate) struct Index<S> {
    /// Names this version of the index for places remembered outside it: a series id
    /// found here stays the same series for as long as the index lives (ids are only
    /// added); an index rebuilt with fewer series is a new index with a new stamp.
    stamp: u64,
    pub symbols: Symbols,
    /// Series by id; ids are indexes into this table.
    series: Vec<(SymLabels, Arc<S>)>,
    /// Series ids by label-set hash (collisions resolved by comparing labels).
    by_hash: HashMap<u64, HashIds, BuildHasherDefault<Prehashed>>,
    /// name → value → sorted series ids.
    postings: HashMap<Sym, HashMap<Sym, Vec<u32>>>,
}

impl<S> Default for Index<S> {
    fn default() -> Self {
        Index {
            stamp: NEXT_STAMP.fetch_add(1, Ordering::Relaxed),
            symbols: Symbols::default(),
            series: Vec::new(),
            by_hash: HashMap::default(),
            postings: HashMap::new(),
        }
    }
}

impl<S> Index<S> {
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// This version of the index, for places remembered outside it.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The id of the series with exactly these labels, if any.
    pub fn find_id(&self, hash: u64, labels: &Labels) -> Option<u32> {
        let ids = self.by_hash.get(&hash)?;
        ids.ids()
            .iter()
            .copied()
            .find(|id| self.same_labels(&self.series[*id as usize].0, labels))
    }

    /// The series with this id, if there is one.
    pub fn get(&self, id: u32) -> Option<&Arc<S>> {
        self.series.get(id as usize).map(|(_, s)| s)
    }

    fn same_labels(&self, syms: &[(Sym, Sym)], labels: &Labels) -> bool {
        syms.len() == labels.len()
            && syms
                .iter()
                .zip(labels.iter())
                .all(|((n, v), l)| self.symbols.resolve(*n) == &*l.name && self.symbols.resolve(*v) == &*l.value)
    }

    /// An index of the series `keep` retains, the same series objects under new ids
    /// (symbols of dropped series are left behind).
    pub fn retain(&self, mut keep: impl FnMut(&S) -> bool) -> Index<S> {
        let mut out = Index::default();
        for id in 0..self.series.len() as u32 {
            if keep(self.series(id)) {
                let labels = self.labels(id);
                out.insert_shared(labels.stable_hash(), &labels, self.series(id).clone());
            }
        }
        out
    }

    /// Adds a new series; the caller checked it is absent.
    pub fn insert(&mut self, hash: u64, labels: &Labels, make: impl FnOnce(u32) -> S) -> Arc<S> {
        let id = self.series.len() as u32;
        self.insert_shared(hash, labels, Arc::new(make(id)))
    }

    fn insert_shared(&mut self, hash: u64, labels: &Labels, series: Arc<S>) -> Arc<S> {
        let id = self.series.len() as u32;
        let syms: SymLabels = labels
            .iter()
            .map(|l| (self.symbols.intern(&l.name), self.symbols.intern(&l.value)))
            .collect();
        for (n, v) in syms.iter() {
            self.postings.entry(*n).or_default().entry(*v).or_default().push(id);
        }
        self.series.push((syms, series.clone()));
        self.by_hash
            .entry(hash)
            .and_modify(|ids| ids.push(id))
            .or_insert(HashIds::One(id));
        series
    }

    pub fn series(&self, id: u32) -> &Arc<S> {
        &self.series[id as usize].1
    }

    /// Re-materialises a series' labels.
    pub fn labels(&self, id: u32) -> Labels {
        Labels::from_sorted_unchecked(
            self.series[id as usize]
                .0
                .iter()
                .map(|(n, v)| Label::new(self.symbols.shared(*n), self.symbols.shared(*v)))
                .collect(),
        )
    }

    /// Label names carried by the given series (all series when `ids` is `None`).
    pub fn label_names(&self, ids: Option<&[u32]>) -> Vec<String> {
        let mut names: Vec<String> = match ids {
            None => self
                .postings
                .keys()
                .map(|n| self.symbols.resolve(*n).to_string())
                .collect(),
            Some(ids) => {
                let mut syms: Vec<Sym> = ids
                    .iter()
                    .flat_map(|id| self.series[*id as usize].0.iter().map(|(n, _)| *n))
                    .collect();
                syms.sort_unstable();
                syms.dedup();
                syms.into_iter().map(|n| self.symbols.resolve(n).to_string()).collect()
            }
        };
        names.sort_unstable();
        names
    }

    /// Values of label `name` among the given series (all series when `None`).
    pub fn label_values(&self, name: &str, ids: Option<&[u32]>) -> Vec<String> {
        let Some(name_sym) = self.symbols.get(name) else {
            return Vec::new();
        };
        let mut values: Vec<String> = match ids {
            None => self
                .postings
                .get(&name_sym)
                .map(|vals| vals.keys().map(|v| self.symbols.resolve(*v).to_string()).collect())
                .unwrap_or_default(),
            Some(ids) => {
                let mut syms: Vec<Sym> = ids
                    .iter()
                    .filter_map(|id| {
                        let labels = &self.series[*id as usize].0;
                        labels.iter().find(|(n, _)| *n == name_sym).map(|(_, v)| *v)
                    })
                    .collect();
                syms.sort_unstable();
                syms.dedup();
                syms.into_iter().map(|v| self.symbols.resolve(v).to_string()).collect()
            }
        };
        values.sort_unstable();
        values
    }

    /// Ids of series matching every matcher, sorted. With no matchers, every series.
    ///
    /// Matchers that reject the empty value narrow the candidate set through postings;
    /// those that accept it (`a!="x"`, `a=~"x|"`, `a=""`) are applied as subtractions of
    /// the series they reject, so a series lacking the label still matches.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        let (narrowing, widening): (Vec<&Matcher>, Vec<&Matcher>) = matchers.iter().partition(|m| !m.matches_empty());
        let mut result: Option<Vec<u32>> = None;
        for m in &narrowing {
            let p = self.postings_matching(m);
            result = Some(match result {
                None => p,
                Some(r) => intersect(&r, &p),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let mut result = result.unwrap_or_else(|| (0..self.series.len() as u32).collect());
        for m in &widening {
            let rejected = self.postings_rejected(m);
            result = subtract(&result, &rejected);
        }
        result
    }

    /// Series whose value for `m.name` is non-empty and matches `m`.
    fn postings_matching(&self, m: &Matcher) -> Vec<u32> {
        let Some(values) = self.symbols.get(&m.name).and_then(|n| self.postings.get(&n)) else {
            return Vec::new();
        };
        if m.op == MatchOp::Equal {
            return self
                .symbols
                .get(&m.value)
                .and_then(|v| values.get(&v))
                .cloned()
                .unwrap_or_default();
        }
        if m.op == MatchOp::Regex {
            if let Some(set) = m.set_matches() {
                let lists = set
                    .iter()
                    .filter_map(|s| self.symbols.get(s).and_then(|v| values.get(&v)));
                return union_all(lists);
            }
        }
        union_all(
            values
                .iter()
                .filter(|(v, _)| m.matches(self.symbols.resolve(**v)))
                .map(|(_, ids)| ids),
        )
    }

    /// Series that carry label `m.name` with a value `m` rejects.
    fn postings_rejected(&self, m: &Matcher) -> Vec<u32> {
        let Some(values) = self.symbols.get(&m.name).and_then(|n| self.postings.get(&n)) else {
            return Vec::new();
        };
        union_all(
            values
                .iter()
                .filter(|(v, _)| !m.matches(self.symbols.resolve(**v)))
                .map(|(_, ids)| ids),
        )
    }
}

/// Sorted intersection of two sorted lists.
pub(crate) fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Elements of sorted `a` not in sorted `b`.
pub(crate) fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Sorted union of sorted lists.
pub(crate) fn union_all<'a>(lists: impl Iterator<Item = &'a Vec<u32>>) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    let mut n = 0;
    for l in lists {
        out.extend_from_slice(l);
        n += 1;
    }
    if n > 1 {
        out.sort_unstable();
        out.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index<()> {
        let mut ix = Index::default();
        let sets = [
            vec![("__name__", "up"), ("job", "node"), ("instance", "a")],
            vec![("__name__", "up"), ("job", "node"), ("instance", "b")],
            vec![("__name__", "up"), ("job", "api")],
            vec![("__name__", "cpu"), ("job", "node"), ("mode", "idle")],
        ];
        for s in sets {
            let l = Labels::from_pairs(&s);
            ix.insert(l.stable_hash(), &l, |_| ());
        }
        ix
    }

    fn sel(ix: &Index<()>, ms: &[(MatchOp, &str, &str)]) -> Vec<u32> {
        let ms: Vec<Matcher> = ms.iter().map(|(op, n, v)| Matcher::new(*op, *n, *v).unwrap()).collect();
        ix.select(&ms)
    }

    #[test]
    fn matchers_of_every_kind() {
        use MatchOp::*;
        let ix = index();
        assert_eq!(sel(&ix, &[(Equal, "__name__", "up")]), [0, 1, 2]);
        assert_eq!(sel(&ix, &[(Equal, "__name__", "up"), (Equal, "job", "node")]), [0, 1]);
        assert_eq!(sel(&ix, &[(Equal, "__name__", "up"), (NotEqual, "job", "node")]), [2]);
        assert_eq!(sel(&ix, &[(Regex, "instance", "a|b")]), [0, 1]);
        assert_eq!(sel(&ix, &[(Regex, "instance", "[ab]")]), [0, 1]);
        assert_eq!(sel(&ix, &[(NotRegex, "job", "n.*"), (Regex, "__name__", ".+")]), [2]);
        // Empty-matching matchers select series lacking the label.
        assert_eq!(sel(&ix, &[(Equal, "__name__", "up"), (Equal, "instance", "")]), [2]);
        assert_eq!(
            sel(&ix, &[(Equal, "__name__", "up"), (Regex, "instance", "a|")]),
            [0, 2]
        );
        assert_eq!(sel(&ix, &[(NotEqual, "mode", "idle")]), [0, 1, 2]);
        assert!(sel(&ix, &[(Equal, "__name__", "nope")]).is_empty());
        assert!(sel(&ix, &[(Equal, "nolabel", "x")]).is_empty());
    }

    #[test]
    fn series_sharing_a_hash_are_told_apart() {
        let mut ix: Index<u32> = Index::default();
        let a = Labels::from_pairs(&[("__name__", "a")]);
        let b = Labels::from_pairs(&[("__name__", "b")]);
        let c = Labels::from_pairs(&[("__name__", "c")]);
        ix.insert(7, &a, |id| id);
        ix.insert(7, &b, |id| id);
        ix.insert(7, &c, |id| id);
        assert_eq!(ix.find_id(7, &a).and_then(|id| ix.get(id)).map(|s| **s), Some(0));
        assert_eq!(ix.find_id(7, &b).and_then(|id| ix.get(id)).map(|s| **s), Some(1));
        assert_eq!(ix.find_id(7, &c).and_then(|id| ix.get(id)).map(|s| **s), Some(2));
        assert!(ix.find_id(8, &a).is_none());
        assert!(ix.get(3).is_none());
    }

    #[test]
    fn every_index_and_every_rebuild_has_its_own_stamp() {
        let ix = index();
        let other = index();
        assert_ne!(ix.stamp(), other.stamp());
        let kept = ix.retain(|_| true);
        assert_ne!(kept.stamp(), ix.stamp());
        assert_eq!(kept.num_series(), ix.num_series());
    }

    #[test]
    fn find_and_labels_round_trip() {
        let ix = index();
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "api")]);
        assert_eq!(ix.find_id(l.stable_hash(), &l), Some(2));
        assert_eq!(ix.labels(2), l);
        let other = Labels::from_pairs(&[("__name__", "up"), ("job", "x")]);
        assert!(ix.find_id(other.stable_hash(), &other).is_none());
        // A colliding hash never returns the wrong series.
        assert!(ix.find_id(l.stable_hash(), &other).is_none());
    }

    #[test]
    fn label_names_and_values() {
        let ix = index();
        assert_eq!(ix.label_names(None), ["__name__", "instance", "job", "mode"]);
        assert_eq!(ix.label_names(Some(&[2])), ["__name__", "job"]);
        assert_eq!(ix.label_values("job", None), ["api", "node"]);
        assert_eq!(ix.label_values("instance", Some(&[1, 2])), ["b"]);
        assert!(ix.label_values("missing", None).is_empty());
    }

    #[test]
    fn set_operations() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5]), [3, 5]);
        assert_eq!(subtract(&[1, 3, 5, 7], &[3, 4, 5]), [1, 7]);
        assert_eq!(union_all([vec![1, 4], vec![2, 4, 9]].iter()), [1, 2, 4, 9]);
    }
}
