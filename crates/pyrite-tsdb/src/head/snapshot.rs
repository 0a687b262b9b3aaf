//! Head snapshots: the whole head at one point in the log, captured cheaply (sealed
//! chunks and label sets shared) and encoded afterwards, and restored so the head takes
//! and refuses later writes exactly as the one snapshotted.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use pyrite_model::Labels;
use serde::{Deserialize, Serialize};

use super::{Head, TenantBounds, TenantHead};
use crate::series::{SeriesData, SeriesSnap};

/// Format 3 keeps each tenant's bounds; format 2 had one pair for the whole head, which
/// a restore applies to every tenant.
const SNAPSHOT_FORMAT: u32 = 3;

#[derive(Serialize, Deserialize)]
struct HeadSnap {
    format: u32,
    /// Format 2's head-wide bounds; `i64::MIN` from format 3 on.
    min_valid_time: i64,
    truncated_before: i64,
    tenants: Vec<TenantSnap>,
}

fn no_bound() -> i64 {
    i64::MIN
}

#[derive(Serialize, Deserialize)]
struct TenantSnap {
    tenant: String,
    series: Vec<(Vec<(String, String)>, SeriesSnap)>,
    #[serde(default = "no_bound")]
    min_valid_time: i64,
    #[serde(default = "no_bound")]
    truncated_before: i64,
    #[serde(default = "no_bound")]
    newest: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("undecodable head snapshot: {0}")]
    Decode(String),
    #[error("head snapshot format {0} is not known")]
    Format(u32),
    #[error("corrupt chunk in a head snapshot: {0}")]
    Chunk(#[from] pyrite_chunk::ChunkError),
}

/// A head captured at one point in the log, to be encoded as a snapshot later (see
/// [`Head::capture`]).
pub struct HeadCapture {
    tenants: Vec<CapturedTenant>,
}

struct CapturedTenant {
    tenant: String,
    series: Vec<(Labels, SeriesSnap)>,
    bounds: TenantBounds,
    newest: i64,
}

impl HeadCapture {
    /// The snapshot's bytes, as [`Head::restore`] reads them.
    pub fn encode(self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out).expect("writing to memory cannot fail");
        out
    }

    /// Writes the snapshot's bytes to `w` as they are encoded, borrowing every label set
    /// and chunk from the capture (nothing is copied into an intermediate form).
    pub fn encode_into(self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let snap = HeadSnapOut {
            format: SNAPSHOT_FORMAT,
            min_valid_time: i64::MIN,
            truncated_before: i64::MIN,
            tenants: &self.tenants,
        };
        let mut w = w;
        rmp_serde::encode::write(&mut w, &snap).map_err(std::io::Error::other)
    }
}

// The encoding side of `HeadSnap`/`TenantSnap`: the same fields in the same order (the
// format is positional), borrowing the capture.
#[derive(Serialize)]
struct HeadSnapOut<'a> {
    format: u32,
    min_valid_time: i64,
    truncated_before: i64,
    #[serde(serialize_with = "tenants_out")]
    tenants: &'a [CapturedTenant],
}

fn tenants_out<S: serde::Serializer>(tenants: &&[CapturedTenant], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(tenants.iter().map(|t| TenantSnapOut {
        tenant: &t.tenant,
        series: SeriesOut(&t.series),
        min_valid_time: t.bounds.min_valid_time,
        truncated_before: t.bounds.truncated_before,
        newest: t.newest,
    }))
}

#[derive(Serialize)]
struct TenantSnapOut<'a> {
    tenant: &'a str,
    series: SeriesOut<'a>,
    min_valid_time: i64,
    truncated_before: i64,
    newest: i64,
}

struct SeriesOut<'a>(&'a [(Labels, SeriesSnap)]);

impl Serialize for SeriesOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(labels, data)| (PairsOut(labels), data)))
    }
}

/// A label set as the sequence of `(name, value)` pairs `TenantSnap` reads back.
struct PairsOut<'a>(&'a Labels);

impl Serialize for PairsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|l| (&*l.name, &*l.value)))
    }
}

impl Head {
    /// The whole head as bytes: every tenant's series with their chunks, newest samples
    /// and out-of-order buffers (see [`Head::restore`]). Writes must be held off while
    /// it runs for the copy to be one point in the log.
    pub fn snapshot(&self) -> Vec<u8> {
        self.capture().encode()
    }

    /// The head as it is now, cheaply: sealed chunks and label sets are shared, not
    /// copied (only open chunks and out-of-order buffers are), so writes need be held
    /// off only while this walks the series; [`HeadCapture::encode`] does the costly
    /// part afterwards, while writes go on.
    pub fn capture(&self) -> HeadCapture {
        let mut tenants: Vec<(String, Arc<TenantHead>)> = self
            .tenants
            .read()
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        tenants.sort_by(|a, b| a.0.cmp(&b.0));
        let tenants = tenants
            .into_iter()
            .map(|(tenant, th)| {
                let index = th.index.read();
                let series = (0..index.num_series() as u32)
                    .map(|id| (index.labels(id), index.series(id).lock().snapshot()))
                    .collect();
                CapturedTenant {
                    tenant,
                    series,
                    bounds: th.bounds(),
                    newest: th.newest.load(Ordering::Acquire),
                }
            })
            .collect();
        HeadCapture { tenants }
    }

    /// Replaces the whole head with a snapshot's (empty bytes: an empty head). The
    /// restored head accepts and refuses later writes exactly as the one snapshotted.
    pub fn restore(&self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let mut tenants = HashMap::new();
        if !bytes.is_empty() {
            let snap: HeadSnap = rmp_serde::from_slice(bytes).map_err(|e| SnapshotError::Decode(e.to_string()))?;
            if snap.format != SNAPSHOT_FORMAT && snap.format != 2 {
                return Err(SnapshotError::Format(snap.format));
            }
            for t in snap.tenants {
                let th = TenantHead::default();
                let mut newest = t.newest;
                {
                    let mut index = th.index.write();
                    for (pairs, data) in t.series {
                        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                        let labels = Labels::from_pairs(&pairs);
                        let data = SeriesData::restore(data)?;
                        if let Some((_, hi)) = data.time_bounds() {
                            newest = newest.max(hi);
                        }
                        index.insert(labels.stable_hash(), &labels, |_| Mutex::new(data));
                    }
                }
                th.min_valid_time
                    .store(t.min_valid_time.max(snap.min_valid_time), Ordering::Release);
                th.truncated_before
                    .store(t.truncated_before.max(snap.truncated_before), Ordering::Release);
                th.newest.store(newest, Ordering::Release);
                tenants.insert(t.tenant, Arc::new(th));
            }
        }
        *self.tenants.write() = tenants;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyrite_model::{Sample, TimeSeries};

    /// The streamed encoding is byte for byte the owned `HeadSnap` one, so snapshots
    /// written either way restore alike.
    #[test]
    fn streamed_encoding_matches_the_snapshot_format() {
        let head = Head::default();
        let series = |name: &str, n: i64| {
            TimeSeries::floats(
                Labels::from_pairs(&[("__name__", name), ("job", "j")]),
                (0..n).map(|i| Sample::new(i * 15, i as f64)).collect(),
            )
        };
        head.apply("t1", &[series("a", 300), series("b", 3)]);
        head.apply("t2", &[series("c", 1)]);

        let capture = head.capture();
        let owned = HeadSnap {
            format: SNAPSHOT_FORMAT,
            min_valid_time: i64::MIN,
            truncated_before: i64::MIN,
            tenants: head
                .capture()
                .tenants
                .into_iter()
                .map(|t| TenantSnap {
                    tenant: t.tenant,
                    series: t
                        .series
                        .into_iter()
                        .map(|(l, d)| (l.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect(), d))
                        .collect(),
                    min_valid_time: t.bounds.min_valid_time,
                    truncated_before: t.bounds.truncated_before,
                    newest: t.newest,
                })
                .collect(),
        };
        let streamed = capture.encode();
        assert_eq!(streamed, rmp_serde::to_vec(&owned).unwrap());
        let restored = Head::default();
        restored.restore(&streamed).unwrap();
        assert_eq!(restored.stats().series, 3);
    }
}
