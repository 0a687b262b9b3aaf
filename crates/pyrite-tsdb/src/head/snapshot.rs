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
        let snap = HeadSnap {
            format: SNAPSHOT_FORMAT,
            min_valid_time: i64::MIN,
            truncated_before: i64::MIN,
            tenants: self
                .tenants
                .into_iter()
                .map(|t| TenantSnap {
                    tenant: t.tenant,
                    series: t
                        .series
                        .into_iter()
                        .map(|(labels, data)| {
                            let pairs = labels
                                .iter()
                                .map(|l| (l.name.to_string(), l.value.to_string()))
                                .collect();
                            (pairs, data)
                        })
                        .collect(),
                    min_valid_time: t.bounds.min_valid_time,
                    truncated_before: t.bounds.truncated_before,
                    newest: t.newest,
                })
                .collect(),
        };
        rmp_serde::to_vec(&snap).expect("a head snapshot always serializes")
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
