//! The engine's working values. Every instant-vector or scalar node evaluates to a
//! [`Matrix`] aligned to the evaluation steps (a scalar is one label-less series with a
//! point at every step), exactly as a range query needs it; an instant query is a
//! range of one step.

use std::sync::Arc;

use pyrite_model::{FloatHistogram, Labels};

/// A native-histogram value, shared between the steps and series that hold it;
/// operations that change it copy on write.
pub(crate) type H = Arc<FloatHistogram>;

/// One element of an instant vector at one step: a float, or with `h` a native
/// histogram (then `f` is unused).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub metric: Labels,
    pub t: i64,
    pub f: f64,
    pub h: Option<H>,
    /// The metric name is removed when the query finishes (Prometheus 3's delayed
    /// name removal, so `label_replace` can still read it).
    pub drop_name: bool,
}

impl Sample {
    pub fn scalar(t: i64, f: f64) -> Self {
        Self::float(Labels::empty(), t, f, false)
    }

    pub fn float(metric: Labels, t: i64, f: f64, drop_name: bool) -> Self {
        Self {
            metric,
            t,
            f,
            h: None,
            drop_name,
        }
    }
}

/// One series' points, in time order: floats and native histograms kept apart (the
/// float paths never look at histograms), never both at one timestamp.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Series {
    pub metric: Labels,
    pub points: Vec<(i64, f64)>,
    pub hists: Vec<(i64, H)>,
    pub drop_name: bool,
}

impl Series {
    pub fn floats(metric: Labels, points: Vec<(i64, f64)>, drop_name: bool) -> Self {
        Self {
            metric,
            points,
            hists: Vec::new(),
            drop_name,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty() && self.hists.is_empty()
    }

    pub fn len(&self) -> usize {
        self.points.len() + self.hists.len()
    }

    /// Appends a sample's value at `t`.
    pub fn push(&mut self, t: i64, f: f64, h: Option<H>) {
        match h {
            Some(h) => self.hists.push((t, h)),
            None => self.points.push((t, f)),
        }
    }
}

pub(crate) type Vector = Vec<Sample>;
pub(crate) type Matrix = Vec<Series>;

/// What a node evaluates to.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// An instant vector or a scalar, one point per step where it has a value.
    Steps(Matrix),
    /// A range vector (only at the top of an instant query).
    Range(Matrix),
    String(String),
}

/// Labels that describe a metric rather than identify a series; removed when an
/// operation changes what the value means.
pub(crate) fn drop_metadata(l: &Labels) -> Labels {
    if !l.iter().any(|l| is_metadata_label(&l.name)) {
        return l.clone();
    }
    Labels::from_sorted_unchecked(l.iter().filter(|l| !is_metadata_label(&l.name)).cloned().collect())
}

pub(crate) fn is_metadata_label(name: &str) -> bool {
    matches!(name, "__name__" | "__type__" | "__unit__")
}

/// Walks step-aligned series in step order: one cursor per series for floats and one
/// for histograms.
pub(crate) struct StepCursors(Vec<usize>, Vec<usize>);

impl StepCursors {
    pub fn new(series: usize) -> Self {
        Self(vec![0; series], vec![0; series])
    }

    /// The histogram series `i` has at step `ts`, moving past it.
    #[inline]
    pub fn take_h(&mut self, i: usize, s: &Series, ts: i64) -> Option<H> {
        match s.hists.get(self.1[i]) {
            Some((t, h)) if *t == ts => {
                self.1[i] += 1;
                Some(h.clone())
            }
            _ => None,
        }
    }

    /// The value series `i` (that is `s`) has at step `ts`, moving past it.
    #[inline]
    pub fn take(&mut self, i: usize, s: &Series, ts: i64) -> Option<f64> {
        match s.points.get(self.0[i]) {
            Some(&(t, f)) if t == ts => {
                self.0[i] += 1;
                Some(f)
            }
            _ => None,
        }
    }
}
