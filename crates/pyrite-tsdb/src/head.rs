//! The head: every tenant's recent series in memory, appended to by a single applier
//! and read concurrently.
//!
//! [`Head::apply`] is deterministic: the same sequence of writes always yields the same
//! head and the same refusals. That is what lets a write-ahead log — or a Raft log whose
//! state machine is this head — rebuild it by replaying. Keep it free of clocks and
//! randomness.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use pyrite_model::{Labels, TimeSeries};
use pyrite_storage::AppendOutcome;
use serde::{Deserialize, Serialize};

mod known;
mod read;
mod snapshot;

use crate::index::Index;
use crate::series::{Appended, SeriesData};

pub use snapshot::{HeadCapture, SnapshotError};

/// One sample of a write, either kind.
enum Sample<'a> {
    F(f64),
    H(&'a pyrite_model::FloatHistogram),
}

/// A series' float and histogram samples in one time-ordered stream (each input is in
/// order; at equal timestamps floats come first, so the histogram is then refused).
fn merge_by_time<'a>(
    floats: impl Iterator<Item = (i64, Sample<'a>)>,
    hists: impl Iterator<Item = (i64, Sample<'a>)>,
) -> impl Iterator<Item = (i64, Sample<'a>)> {
    let mut f = floats.peekable();
    let mut h = hists.peekable();
    std::iter::from_fn(move || match (f.peek(), h.peek()) {
        (Some(a), Some(b)) if b.0 < a.0 => h.next(),
        (Some(_), _) => f.next(),
        (None, _) => h.next(),
    })
}

/// A write being applied: the tenant, its appendable window as the write began, the
/// newest sample so far, and what was taken and refused.
struct Applying {
    th: Arc<TenantHead>,
    min_valid: i64,
    batch_newest: i64,
    outcome: AppendOutcome,
}

/// Head settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadOptions {
    /// How far behind a series' newest sample an older sample may still be accepted, in
    /// milliseconds. 0 refuses every out-of-order sample, as Prometheus does by default.
    pub out_of_order_window_ms: i64,
    /// Most series one tenant may hold in the head; 0 means no limit.
    pub max_series_per_tenant: usize,
    /// How far behind a tenant's newest sample its head still appends, in milliseconds
    /// (half the block range, as Prometheus's head): older samples are "out of bounds"
    /// unless the out-of-order window reaches further. 0: no bound but the seal. Set by
    /// the ingester from the block range, not configured on its own.
    #[serde(skip)]
    pub appendable_window_ms: i64,
}

type MemSeries = Mutex<SeriesData>;

/// One tenant's series and its own place in time: how far its blocks are cut, and its
/// newest sample, which its appendable window follows.
struct TenantHead {
    index: RwLock<Index<MemSeries>>,
    /// Samples older than this are refused: their range is (being) cut into a block.
    min_valid_time: AtomicI64,
    /// Data older than this was dropped: it is in blocks.
    truncated_before: AtomicI64,
    /// The newest sample timestamp ever appended (kept when the series leave).
    newest: AtomicI64,
}

impl Default for TenantHead {
    fn default() -> Self {
        Self {
            index: RwLock::default(),
            min_valid_time: AtomicI64::new(i64::MIN),
            truncated_before: AtomicI64::new(i64::MIN),
            newest: AtomicI64::new(i64::MIN),
        }
    }
}

/// Where one tenant's head stands in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantBounds {
    /// Samples older than this are refused (sealed: being cut into blocks).
    pub min_valid_time: i64,
    /// Everything older than this is in blocks and gone from the head.
    pub truncated_before: i64,
}

impl TenantHead {
    fn bounds(&self) -> TenantBounds {
        TenantBounds {
            min_valid_time: self.min_valid_time.load(Ordering::Acquire),
            truncated_before: self.truncated_before.load(Ordering::Acquire),
        }
    }

    /// Every series, listed under the index lock and handed out without it.
    fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let index = self.index.read();
        (0..index.num_series() as u32)
            .map(|id| index.series(id).clone())
            .collect()
    }
}

/// Size figures of the head, for `/metrics` and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadStats {
    pub tenants: usize,
    pub series: usize,
    pub samples: usize,
    /// Encoded bytes of every chunk (sealed and open), without out-of-order buffers.
    pub chunk_bytes: usize,
    pub symbols: usize,
}

/// Counters of what the head took and refused since start.
#[derive(Debug, Default)]
pub struct HeadCounters {
    pub samples_appended: AtomicU64,
    pub samples_duplicate: AtomicU64,
    pub samples_out_of_order: AtomicU64,
    pub samples_too_old: AtomicU64,
    pub samples_out_of_bounds: AtomicU64,
    pub samples_duplicate_timestamp: AtomicU64,
    pub series_limited: AtomicU64,
    pub series_created: AtomicU64,
}

/// In-memory series of every tenant. Each tenant is sealed, cut and truncated on its
/// own, so one tenant catching up from behind is never refused because another is
/// current.
pub struct Head {
    opts: HeadOptions,
    tenants: RwLock<HashMap<String, Arc<TenantHead>>>,
    counters: HeadCounters,
}

impl Default for Head {
    fn default() -> Self {
        Self::new(HeadOptions::default())
    }
}

impl Head {
    pub fn new(opts: HeadOptions) -> Self {
        Self {
            opts,
            tenants: RwLock::default(),
            counters: HeadCounters::default(),
        }
    }

    /// Where a tenant stands: sealed and truncated bounds (`i64::MIN` for both when
    /// it has none).
    pub fn tenant_bounds(&self, tenant: &str) -> TenantBounds {
        self.tenant(tenant).map_or(
            TenantBounds {
                min_valid_time: i64::MIN,
                truncated_before: i64::MIN,
            },
            |th| th.bounds(),
        )
    }

    /// Refuses a tenant's samples older than `t` from now on (never moves back). Called
    /// in log order, so every replica refuses the same samples.
    pub fn seal_before(&self, tenant: &str, t: i64) {
        self.tenant_or_create(tenant)
            .min_valid_time
            .fetch_max(t, Ordering::AcqRel);
    }

    /// Seals a tenant before `t` and drops its data wholly before it (it is in blocks
    /// now): whole chunks that end before `t` go, a chunk that straddles `t` stays, and
    /// series left empty leave the index. The tenant itself stays, with its bounds.
    pub fn truncate_before(&self, tenant: &str, t: i64) {
        let th = self.tenant_or_create(tenant);
        th.min_valid_time.fetch_max(t, Ordering::AcqRel);
        th.truncated_before.fetch_max(t, Ordering::AcqRel);
        let mut index = th.index.write();
        let kept = index.retain(|s| s.lock().drop_before(t));
        *index = kept;
    }

    /// [`Head::seal_before`] for every tenant (log entries from before seals were per
    /// tenant).
    pub fn seal_all_before(&self, t: i64) {
        for tenant in self.tenant_names() {
            self.seal_before(&tenant, t);
        }
    }

    /// [`Head::truncate_before`] for every tenant.
    pub fn truncate_all_before(&self, t: i64) {
        for tenant in self.tenant_names() {
            self.truncate_before(&tenant, t);
        }
    }

    /// The tenants the head knows, with or without series.
    pub fn tenant_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tenants.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// A tenant's oldest and newest sample timestamps in the head (walks its series).
    pub fn time_bounds(&self, tenant: &str) -> Option<(i64, i64)> {
        let th = self.tenant(tenant)?;
        th.all_series()
            .iter()
            .filter_map(|s| s.lock().time_bounds())
            .reduce(|(a, b), (lo, hi)| (a.min(lo), b.max(hi)))
    }

    /// A tenant's oldest sample at or after `t`, so a walk over time ranges can leap
    /// over the empty ones (walks its series).
    pub fn first_time_from(&self, tenant: &str, t: i64) -> Option<i64> {
        let th = self.tenant(tenant)?;
        th.all_series().iter().filter_map(|s| s.lock().first_time_from(t)).min()
    }

    pub fn options(&self) -> &HeadOptions {
        &self.opts
    }

    pub fn counters(&self) -> &HeadCounters {
        &self.counters
    }

    fn tenant(&self, tenant: &str) -> Option<Arc<TenantHead>> {
        self.tenants.read().get(tenant).cloned()
    }

    fn tenant_or_create(&self, tenant: &str) -> Arc<TenantHead> {
        if let Some(t) = self.tenant(tenant) {
            return t;
        }
        self.tenants.write().entry(tenant.to_string()).or_default().clone()
    }

    /// Applies one write. Refused samples are counted and described in the outcome; the
    /// rest are in the head when this returns. Calls must be serialised by the caller
    /// (one applier) for replays to be faithful.
    pub fn apply(&self, tenant: &str, batch: &[TimeSeries]) -> AppendOutcome {
        let mut w = self.begin(tenant);
        for ts in batch {
            let series = self
                .get_or_create(&w.th, ts.labels.stable_hash(), &ts.labels)
                .map(|(_, s)| s);
            let series = series.as_deref();
            let floats = ts.samples.iter().map(|s| (s.t, Sample::F(s.v)));
            let hists = ts.histograms.iter().map(|(t, h)| (*t, Sample::H(h)));
            self.append(
                &mut w,
                series,
                &ts.labels,
                ts.num_samples(),
                merge_by_time(floats, hists),
            );
        }
        self.finish(w)
    }

    /// A write begins: the tenant's appendable window, as the write starts, is after its
    /// seal, and within the window of its newest sample (or the out-of-order window, if
    /// wider).
    fn begin(&self, tenant: &str) -> Applying {
        let th = self.tenant_or_create(tenant);
        let newest = th.newest.load(Ordering::Acquire);
        let window = self.opts.appendable_window_ms.max(self.opts.out_of_order_window_ms);
        let min_valid = match self.opts.appendable_window_ms {
            w if w > 0 && newest != i64::MIN => newest.saturating_sub(window),
            _ => i64::MIN,
        }
        .max(th.min_valid_time.load(Ordering::Acquire));
        Applying {
            th,
            min_valid,
            batch_newest: newest,
            outcome: AppendOutcome::default(),
        }
    }

    /// One series' samples of a write (`None`: the series could not be created).
    fn append<'a>(
        &self,
        w: &mut Applying,
        series: Option<&MemSeries>,
        labels: &Labels,
        num_samples: usize,
        samples: impl Iterator<Item = (i64, Sample<'a>)>,
    ) {
        let Some(series) = series else {
            self.counters
                .series_limited
                .fetch_add(num_samples as u64, Ordering::Relaxed);
            for _ in 0..num_samples {
                w.outcome.reject(|| {
                    format!(
                        "per-tenant series limit of {} reached, series {} refused",
                        self.opts.max_series_per_tenant, labels
                    )
                });
            }
            return;
        };
        let mut data = series.lock();
        for (t, sample) in samples {
            let histogram = matches!(sample, Sample::H(_));
            let appended = if t < w.min_valid {
                Err(crate::SampleRejection::OutOfBounds)
            } else {
                match sample {
                    Sample::F(v) => data.append(t, v, self.opts.out_of_order_window_ms),
                    Sample::H(h) => data.append_histogram(t, h),
                }
            };
            if appended.is_ok() {
                w.outcome.samples_written += 1;
                w.outcome.histograms_written += u64::from(histogram);
            }
            match appended {
                Ok(Appended::New) => w.batch_newest = w.batch_newest.max(t),
                Ok(Appended::Duplicate) => {
                    self.counters.samples_duplicate.fetch_add(1, Ordering::Relaxed);
                }
                Err(r) => {
                    let counter = match r {
                        crate::SampleRejection::OutOfOrder => &self.counters.samples_out_of_order,
                        crate::SampleRejection::TooOld => &self.counters.samples_too_old,
                        crate::SampleRejection::OutOfBounds => &self.counters.samples_out_of_bounds,
                        crate::SampleRejection::DuplicateTimestamp => &self.counters.samples_duplicate_timestamp,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    w.outcome
                        .reject(|| format!("{} at timestamp {t} for series {}", r.reason(), labels));
                }
            }
        }
    }

    fn finish(&self, w: Applying) -> AppendOutcome {
        w.th.newest.fetch_max(w.batch_newest, Ordering::AcqRel);
        self.counters
            .samples_appended
            .fetch_add(w.outcome.samples_written, Ordering::Relaxed);
        w.outcome
    }

    /// The series with these labels (`hash` their stable hash), created if need be:
    /// with the stamp of the index it is in and its id there. `None` when the tenant's
    /// series limit forbids creating it.
    fn get_or_create(&self, th: &TenantHead, hash: u64, labels: &Labels) -> Option<((u64, u32), Arc<MemSeries>)> {
        {
            let index = th.index.read();
            if let Some(id) = index.find_id(hash, labels) {
                return Some(((index.stamp(), id), index.series(id).clone()));
            }
        }
        let mut index = th.index.write();
        if let Some(id) = index.find_id(hash, labels) {
            return Some(((index.stamp(), id), index.series(id).clone()));
        }
        let limit = self.opts.max_series_per_tenant;
        if limit > 0 && index.num_series() >= limit {
            return None;
        }
        self.counters.series_created.fetch_add(1, Ordering::Relaxed);
        let id = index.num_series() as u32;
        let series = index.insert(hash, labels, |_| Mutex::new(SeriesData::default()));
        Some(((index.stamp(), id), series))
    }

    /// Walks every series to total up sizes; meant for metrics scrapes and benchmarks,
    /// not hot paths. The index lock is held only to list the series, so a scrape never
    /// holds up series creation while it walks; each series is locked on its own.
    pub fn stats(&self) -> HeadStats {
        let tenants: Vec<Arc<TenantHead>> = self.tenants.read().values().cloned().collect();
        let mut st = HeadStats {
            tenants: tenants.len(),
            ..Default::default()
        };
        for th in tenants {
            let series: Vec<Arc<MemSeries>> = {
                let index = th.index.read();
                st.symbols += index.symbols.len();
                (0..index.num_series() as u32)
                    .map(|id| index.series(id).clone())
                    .collect()
            };
            st.series += series.len();
            for s in series {
                let data = s.lock();
                st.samples += data.num_samples();
                st.chunk_bytes += data.chunk_bytes();
            }
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use pyrite_model::{MatchOp, Matcher, Sample};
    use pyrite_storage::SelectHints;

    use super::*;

    fn ts(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries::floats(
            Labels::from_pairs(pairs),
            samples.iter().map(|(t, v)| Sample::new(*t, *v)).collect(),
        )
    }

    #[test]
    fn tenants_are_isolated() {
        let head = Head::default();
        head.apply("a", &[ts(&[("__name__", "up")], &[(1, 1.0)])]);
        head.apply("b", &[ts(&[("__name__", "up")], &[(1, 2.0)])]);
        let m = [Matcher::equal("__name__", "up")];
        let a = head.select_series("a", SelectHints::all(), &m);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].iter().collect::<Vec<_>>(), [(1, 1.0)]);
        assert!(head.select_series("c", SelectHints::all(), &m).is_empty());
        assert_eq!(head.label_values("b", "__name__", i64::MIN, i64::MAX, &[]), ["up"]);
    }

    #[test]
    fn a_query_shard_selects_its_part_of_the_series() {
        let head = Head::default();
        let series: Vec<TimeSeries> = (0..40)
            .map(|i| ts(&[("__name__", "x"), ("i", &i.to_string())], &[(1, 1.0)]))
            .collect();
        head.apply("t", &series);
        let m = [Matcher::equal("__name__", "x")];
        let mut seen = Vec::new();
        for index in 0..3 {
            let shard = pyrite_model::QueryShard { index, count: 3 };
            let part = head.select_series("t", SelectHints::all().with_shard(Some(shard)), &m);
            assert!(!part.is_empty() && part.len() < 40, "shard {index} holds a part");
            assert!(part.iter().all(|s| shard.contains(&s.labels)));
            seen.extend(part.into_iter().map(|s| s.labels));
        }
        seen.sort();
        let all: Vec<Labels> = head
            .select_series("t", SelectHints::all(), &m)
            .into_iter()
            .map(|s| s.labels)
            .collect();
        assert_eq!(seen, all, "every series in exactly one shard");
    }

    #[test]
    fn sealing_refuses_old_samples_and_truncating_drops_flushed_chunks() {
        let head = Head::default();
        let long: Vec<(i64, f64)> = (0..600).map(|i| (i * 10, i as f64)).collect();
        head.apply("t", &[ts(&[("__name__", "long")], &long)]);
        head.apply("t", &[ts(&[("__name__", "old")], &[(5, 1.0), (15, 2.0)])]);
        head.apply("u", &[ts(&[("__name__", "old")], &[(7, 1.0)])]);
        assert_eq!(head.time_bounds("t"), Some((0, 5990)));
        assert_eq!(head.tenant_names(), ["t", "u"]);

        head.seal_before("t", 3000);
        let out = head.apply("t", &[ts(&[("__name__", "long")], &[(2990, 1.0), (6000, 2.0)])]);
        assert_eq!((out.samples_written, out.samples_rejected), (1, 1));
        assert!(out.rejections[0].contains("out of bounds"));
        assert_eq!(head.counters().samples_out_of_bounds.load(Ordering::Relaxed), 1);
        head.seal_before("t", 100); // never moves back
        assert_eq!(head.tenant_bounds("t").min_valid_time, 3000);
        // Another tenant's seal is its own: u still takes old samples.
        let out = head.apply("u", &[ts(&[("__name__", "late")], &[(8, 1.0)])]);
        assert_eq!(out.samples_rejected, 0);

        head.truncate_before("t", 3000);
        head.truncate_before("u", 3000);
        // u's series are gone, the tenant and its bounds stay; "long" keeps the chunks
        // reaching 3000.
        assert_eq!(head.time_bounds("u"), None);
        assert_eq!(head.tenant_bounds("u").truncated_before, 3000);
        let all = head.select_series("t", SelectHints::all(), &[]);
        assert_eq!(all.len(), 1);
        let kept: Vec<(i64, f64)> = all[0].iter().collect();
        assert_eq!(kept.last(), Some(&(6000, 2.0)));
        assert!(kept.first().unwrap().0 <= 3000, "the chunk straddling 3000 stays whole");
        assert!(kept.first().unwrap().0 > 0, "chunks wholly before 3000 are gone");
        // Later writes find the surviving series; the series index still works.
        head.apply("t", &[ts(&[("__name__", "long")], &[(6010, 3.0)])]);
        head.apply("t", &[ts(&[("__name__", "new")], &[(6010, 3.0)])]);
        assert_eq!(
            head.label_values("t", "__name__", i64::MIN, i64::MAX, &[]),
            ["long", "new"]
        );

        // The bounds travel in snapshots.
        let copy = Head::default();
        copy.restore(&head.snapshot()).unwrap();
        for t in ["t", "u"] {
            assert_eq!(copy.tenant_bounds(t), head.tenant_bounds(t));
        }
        assert_eq!(copy.tenant_bounds("t").truncated_before, 3000);
        let out = copy.apply("u", &[ts(&[("__name__", "x")], &[(10, 1.0)])]);
        assert_eq!(out.samples_rejected, 1, "a flushed range is not written again");
    }

    #[test]
    fn a_capture_is_the_head_at_its_moment_while_writes_go_on() {
        let head = Head::default();
        let many: Vec<(i64, f64)> = (0..500).map(|i| (i * 10, i as f64)).collect();
        head.apply("t", &[ts(&[("__name__", "m")], &many)]);
        let captured = head.capture();
        // Writes after the capture (new samples, a new series, a truncation) do not
        // reach the snapshot encoded from it.
        head.apply("t", &[ts(&[("__name__", "m")], &[(5000, 1.0)])]);
        head.apply("t", &[ts(&[("__name__", "later")], &[(5000, 1.0)])]);
        head.truncate_before("t", 2000);
        let copy = Head::default();
        copy.restore(&captured.encode()).unwrap();
        let got = copy.select_series("t", SelectHints::all(), &[]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].iter().collect::<Vec<_>>(), many);
        assert_eq!(copy.tenant_bounds("t").truncated_before, i64::MIN);
    }

    #[test]
    fn each_tenant_appends_within_its_own_window() {
        let head = Head::new(HeadOptions {
            appendable_window_ms: 3_600_000,
            ..Default::default()
        });
        let now = 1_800_000_000_000;
        head.apply("current", &[ts(&[("__name__", "m")], &[(now, 1.0)])]);
        // A tenant catching up from a day behind is judged by its own newest sample.
        let day = 86_400_000;
        let out = head.apply("behind", &[ts(&[("__name__", "m")], &[(now - day, 1.0)])]);
        assert_eq!(out.samples_rejected, 0);
        let out = head.apply(
            "behind",
            &[ts(
                &[("__name__", "n")],
                &[(now - day - 1000, 1.0), (now - day + 1000, 2.0)],
            )],
        );
        assert_eq!(out.samples_rejected, 0, "{:?}", out.rejections);
        // Far behind a tenant's newest sample is out of bounds, even for a new series,
        // and the very oldest timestamp does not overflow anything.
        for t in [0, i64::MIN, now - 3_600_001] {
            let out = head.apply("current", &[ts(&[("__name__", "new")], &[(t, 1.0)])]);
            assert_eq!(out.samples_rejected, 1, "t={t}");
            assert!(out.rejections[0].contains("out of bounds"), "{:?}", out.rejections);
        }
        let out = head.apply("current", &[ts(&[("__name__", "new")], &[(now - 3_600_000, 1.0)])]);
        assert_eq!(out.samples_rejected, 0);
        // The window travels in snapshots.
        let copy = Head::new(head.options().clone());
        copy.restore(&head.snapshot()).unwrap();
        let out = copy.apply("current", &[ts(&[("__name__", "x")], &[(0, 1.0)])]);
        assert_eq!(out.samples_rejected, 1);
    }

    #[test]
    fn the_first_time_from_leaps_over_empty_time() {
        let head = Head::default();
        head.apply("t", &[ts(&[("__name__", "a")], &[(i64::MIN, 1.0), (0, 1.0)])]);
        head.apply("t", &[ts(&[("__name__", "b")], &[(5, 1.0), (1 << 50, 1.0)])]);
        assert_eq!(head.first_time_from("t", i64::MIN), Some(i64::MIN));
        assert_eq!(head.first_time_from("t", i64::MIN + 1), Some(0));
        assert_eq!(head.first_time_from("t", 6), Some(1 << 50));
        assert_eq!(head.first_time_from("t", (1 << 50) + 1), None);
        assert_eq!(head.first_time_from("nobody", 0), None);
    }

    #[test]
    fn apply_counts_the_histograms_it_stores() {
        let head = Head::default();
        let h = |count: f64| pyrite_model::FloatHistogram {
            count,
            sum: count,
            ..pyrite_model::FloatHistogram::default()
        };
        let mut s = ts(&[("__name__", "h")], &[(5, 1.0)]);
        s.histograms = vec![(10, h(1.0)), (20, h(2.0))];
        let out = head.apply("t", &[s]);
        assert_eq!((out.samples_written, out.histograms_written), (3, 2));
        // A refused histogram is not counted; an identical duplicate is, as for floats.
        let mut s = ts(&[("__name__", "h")], &[]);
        s.histograms = vec![(15, h(1.5)), (20, h(2.0)), (30, h(3.0))];
        let out = head.apply("t", &[s]);
        assert_eq!(
            (out.samples_written, out.histograms_written, out.samples_rejected),
            (2, 2, 1)
        );
    }

    #[test]
    fn apply_reports_refusals_and_keeps_the_rest() {
        let head = Head::default();
        let out = head.apply("t", &[ts(&[("__name__", "m")], &[(10, 1.0), (20, 2.0)])]);
        assert_eq!(out.samples_written, 2);
        let out = head.apply("t", &[ts(&[("__name__", "m")], &[(15, 1.5), (30, 3.0), (30, 3.0)])]);
        assert_eq!(out.samples_written, 2, "the new sample and the identical duplicate");
        assert_eq!(out.samples_rejected, 1);
        assert!(
            out.rejections[0].contains("out of order sample"),
            "{:?}",
            out.rejections
        );
        assert!(out.rejections[0].contains("m{}"));
        let got = head.select_series("t", SelectHints::all(), &[Matcher::equal("__name__", "m")]);
        assert_eq!(got[0].iter().collect::<Vec<_>>(), [(10, 1.0), (20, 2.0), (30, 3.0)]);
    }

    #[test]
    fn series_limit_refuses_new_series_only() {
        let head = Head::new(HeadOptions {
            max_series_per_tenant: 1,
            ..Default::default()
        });
        assert_eq!(
            head.apply("t", &[ts(&[("__name__", "a")], &[(1, 1.0)])])
                .samples_rejected,
            0
        );
        let out = head.apply(
            "t",
            &[
                ts(&[("__name__", "b")], &[(1, 1.0)]),
                ts(&[("__name__", "a")], &[(2, 1.0)]),
            ],
        );
        assert_eq!((out.samples_written, out.samples_rejected), (1, 1));
        assert!(out.rejections[0].contains("series limit"));
    }

    #[test]
    fn select_filters_time_and_sorts_by_labels() {
        let head = Head::default();
        head.apply(
            "t",
            &[
                ts(&[("__name__", "m"), ("i", "b")], &[(100, 1.0)]),
                ts(&[("__name__", "m"), ("i", "a")], &[(100, 1.0), (5000, 2.0)]),
            ],
        );
        let m = [Matcher::new(MatchOp::Regex, "__name__", "m").unwrap()];
        let all = head.select_series("t", SelectHints::all(), &m);
        assert_eq!(all.iter().map(|s| s.labels.get("i")).collect::<Vec<_>>(), ["a", "b"]);
        let late = head.select_series("t", SelectHints::new(1000, 6000), &m);
        assert_eq!(late.len(), 1);
        assert_eq!(head.label_values("t", "i", 1000, 6000, &m), ["a"]);
        assert_eq!(head.label_names("t", 1000, 6000, &[]), ["__name__", "i"]);
        let st = head.stats();
        assert_eq!((st.tenants, st.series, st.samples), (1, 2, 3));
    }

    /// One series as plain values: labels, `(t, value bits)`, `(t, histogram)`.
    type Plain = (String, Vec<(i64, u64)>, Vec<(i64, String)>);

    /// Everything a head holds for one tenant, as plain values.
    fn contents(head: &Head, tenant: &str) -> Vec<Plain> {
        head.select_series(
            tenant,
            SelectHints::all(),
            &[Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()],
        )
        .into_iter()
        .map(|s| {
            let floats = s.iter().map(|(t, v)| (t, v.to_bits())).collect();
            let hists = s
                .histograms_in(i64::MIN, i64::MAX)
                .into_iter()
                .map(|(t, h)| (t, format!("{h:?}")))
                .collect();
            (s.labels.to_string(), floats, hists)
        })
        .collect()
    }

    #[test]
    fn a_restored_snapshot_is_the_same_head() {
        let opts = HeadOptions {
            out_of_order_window_ms: 1000,
            ..Default::default()
        };
        let head = Head::new(opts.clone());
        // Sealed and open chunks, a staleness marker, out-of-order samples, histograms.
        let many: Vec<(i64, f64)> = (0..300).map(|i| (i * 10, i as f64 * 1.5)).collect();
        head.apply("a", &[ts(&[("__name__", "m"), ("i", "1")], &many)]);
        head.apply(
            "a",
            &[ts(&[("__name__", "m"), ("i", "1")], &[(2995, 7.0), (2985, 8.0)])],
        );
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        head.apply("b", &[ts(&[("__name__", "up")], &[(5, 1.0), (6, stale)])]);
        let h = |count: f64| pyrite_model::FloatHistogram {
            count,
            sum: count * 2.0,
            ..pyrite_model::FloatHistogram::default()
        };
        let mut hs = ts(&[("__name__", "h")], &[]);
        hs.histograms = (0..130).map(|i| (i * 10, h(i as f64))).collect();
        head.apply("b", &[hs]);

        let restored = Head::new(opts);
        restored.apply("stale", &[ts(&[("__name__", "gone")], &[(1, 1.0)])]);
        restored.restore(&head.snapshot()).unwrap();
        for t in ["a", "b"] {
            assert_eq!(contents(&restored, t), contents(&head, t), "tenant {t}");
        }
        assert!(contents(&restored, "stale").is_empty(), "restoring replaces everything");
        assert_eq!(restored.stats().series, head.stats().series);
        assert_eq!(restored.stats().chunk_bytes, head.stats().chunk_bytes);

        // Later writes are taken and refused the same way by both.
        let mut next = vec![
            ts(
                &[("__name__", "m"), ("i", "1")],
                &[(2990, 1.0), (2985, 8.0), (2985, 9.0), (100, 1.0), (3000, 1.0)],
            ),
            ts(&[("__name__", "up")], &[(6, 1.0), (7, 2.0)]),
        ];
        let mut more = ts(&[("__name__", "h")], &[]);
        more.histograms = vec![(1290, h(1.0)), (1300, h(0.5))];
        next.push(more);
        let (a, b) = (head.apply("a", &next), restored.apply("a", &next));
        assert_eq!((a.samples_written, a.rejections), (b.samples_written, b.rejections));
        let (a, b) = (head.apply("b", &next), restored.apply("b", &next));
        assert_eq!((a.samples_written, a.rejections), (b.samples_written, b.rejections));
        for t in ["a", "b"] {
            assert_eq!(
                contents(&restored, t),
                contents(&head, t),
                "tenant {t} after more writes"
            );
        }
        assert!(Head::default().restore(b"garbage").is_err());
        Head::default().restore(&[]).unwrap();
    }
}
