//! The results cache: finished step ranges ("extents") of range-query parts, per
//! tenant, query, step and split interval, behind a pluggable byte store. The default
//! store is an in-process LRU with a byte budget; anything that can get and put bytes
//! by key (a memcached client, say) can take its place through [`CacheBackend`].
//!
//! Invariant: an extent only ever holds steps older than the freshness cutoff at the
//! time it was stored, so every cached step's inputs were final (for data that
//! arrives in time order; a backfill into a cached range is not seen until the entry
//! is evicted).

use std::collections::{BTreeMap, HashMap};

use crate::matrix::{bin, Matrix};
use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

/// A byte store the results cache keeps its entries in.
#[async_trait]
pub trait CacheBackend: Send + Sync {
    async fn get(&self, key: &str) -> Option<Bytes>;
    async fn put(&self, key: &str, value: Bytes);
}

/// An in-process LRU bounded by the bytes of its keys and values.
pub struct LruCache {
    max_bytes: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, (Bytes, u64)>,
    by_use: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
}

impl LruCache {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Lru::default()),
        }
    }

    /// Bytes held now.
    pub fn size_bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

#[async_trait]
impl CacheBackend for LruCache {
    async fn get(&self, key: &str) -> Option<Bytes> {
        let mut g = self.inner.lock();
        g.tick += 1;
        let tick = g.tick;
        let (value, old) = {
            let e = g.entries.get_mut(key)?;
            let old = std::mem::replace(&mut e.1, tick);
            (e.0.clone(), old)
        };
        g.by_use.remove(&old);
        g.by_use.insert(tick, key.to_string());
        Some(value)
    }

    async fn put(&self, key: &str, value: Bytes) {
        let size = key.len() + value.len();
        if size > self.max_bytes {
            return;
        }
        let mut g = self.inner.lock();
        g.tick += 1;
        let tick = g.tick;
        if let Some((old, used)) = g.entries.insert(key.to_string(), (value, tick)) {
            g.bytes -= key.len() + old.len();
            g.by_use.remove(&used);
        }
        g.by_use.insert(tick, key.to_string());
        g.bytes += size;
        while g.bytes > self.max_bytes {
            let Some((_, victim)) = g.by_use.pop_first() else { break };
            if let Some((v, _)) = g.entries.remove(&victim) {
                g.bytes -= victim.len() + v.len();
            }
        }
    }
}

/// A cached step range `[start, end]` and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Extent {
    pub start: i64,
    pub end: i64,
    pub matrix: Matrix,
}

/// What answering `[start, end]` needs: pieces in time order, cached or to compute.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Cached(Matrix),
    Missing(i64, i64),
}

/// The cache key of one part: everything that decides its answer.
pub fn key(tenant: &str, query: &str, step: i64, part_start: i64, interval: i64) -> String {
    let bucket = if interval > 0 {
        part_start.div_euclid(interval)
    } else {
        0
    };
    format!(
        "fe:v1:{tenant}:{step}:{}:{interval}:{bucket}:{query}",
        part_start.rem_euclid(step)
    )
}

/// The first byte of an entry: the version of its layout.
const FORMAT: u8 = 1;

/// An entry's extents; none if it is not one this version wrote (a miss, then).
pub fn decode(bytes: &[u8]) -> Vec<Extent> {
    let read = || {
        let (&version, rest) = bytes.split_first()?;
        if version != FORMAT {
            return None;
        }
        let mut r = bin::Reader(rest);
        let extents = (0..r.u32()?)
            .map(|_| {
                Some(Extent {
                    start: r.i64()?,
                    end: r.i64()?,
                    matrix: r.matrix()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        r.0.is_empty().then_some(extents)
    };
    read().unwrap_or_default()
}

pub fn encode(extents: &[Extent]) -> Bytes {
    let mut out = vec![FORMAT];
    bin::put_u32(&mut out, extents.len());
    for x in extents {
        bin::put_i64(&mut out, x.start);
        bin::put_i64(&mut out, x.end);
        bin::put_matrix(&mut out, &x.matrix);
    }
    Bytes::from(out)
}

/// Splits `[start, end]` (steps `step` apart, on the extents' grid) into cached and
/// missing pieces.
pub fn plan(extents: &[Extent], start: i64, end: i64, step: i64) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut t = start;
    for x in extents {
        if t > end {
            break;
        }
        if x.end < t || x.start > end {
            continue;
        }
        if x.start > t {
            out.push(Piece::Missing(t, x.start - step));
        }
        let (s, e) = (x.start.max(t), x.end.min(end));
        out.push(Piece::Cached(x.matrix.slice(s, e)));
        t = e + step;
    }
    if t <= end {
        out.push(Piece::Missing(t, end));
    }
    out
}

/// Adds `new` to `extents`, keeping them sorted and joining those that touch or
/// overlap (the newer answer wins where they overlap).
pub fn insert(mut extents: Vec<Extent>, new: Extent, step: i64) -> Vec<Extent> {
    extents.push(new);
    extents.sort_by_key(|x| x.start);
    let mut out: Vec<Extent> = Vec::new();
    for x in extents {
        match out.last_mut() {
            Some(cur) if x.start <= cur.end + step => {
                let mut m = cur.matrix.slice(cur.start, x.start - step);
                let tail = (cur.end > x.end).then(|| cur.matrix.slice(x.end + step, cur.end));
                m.append(x.matrix);
                if let Some(tail) = tail {
                    m.append(tail);
                }
                cur.matrix = m;
                cur.end = cur.end.max(x.end);
            }
            _ => out.push(x),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::SeriesPoints;

    fn m(points: &[i64]) -> Matrix {
        let mut values = crate::matrix::Points::default();
        for t in points {
            values.push_raw(&format!("[{},\"{t}\"]", *t as f64 / 1000.0)).unwrap();
        }
        let mut series = BTreeMap::new();
        series.insert(
            BTreeMap::from([("a".to_string(), "1".to_string())]),
            SeriesPoints {
                values,
                histograms: Default::default(),
            },
        );
        Matrix {
            series,
            ..Matrix::default()
        }
    }

    fn ext(s: i64, e: i64) -> Extent {
        Extent {
            start: s,
            end: e,
            matrix: m(&(s..=e).step_by(10).collect::<Vec<_>>()),
        }
    }

    #[test]
    fn plans_reuse_extents_and_compute_gaps() {
        let xs = vec![ext(100, 200), ext(300, 400)];
        let p = plan(&xs, 50, 450, 10);
        assert_eq!(p.len(), 5);
        assert_eq!(p[0], Piece::Missing(50, 90));
        assert!(matches!(&p[1], Piece::Cached(_)));
        assert_eq!(p[2], Piece::Missing(210, 290));
        assert_eq!(p[4], Piece::Missing(410, 450));
        assert_eq!(plan(&xs, 120, 180, 10).len(), 1, "wholly cached");
        assert_eq!(plan(&[], 0, 10, 10), [Piece::Missing(0, 10)]);
    }

    #[test]
    fn touching_extents_join() {
        let xs = insert(vec![ext(100, 200)], ext(210, 300), 10);
        assert_eq!(xs, vec![ext(100, 300)]);
        let xs = insert(xs, ext(150, 250), 10);
        assert_eq!(xs, vec![ext(100, 300)]);
        let xs = insert(xs, ext(500, 600), 10);
        assert_eq!(xs.len(), 2);
        assert_eq!(decode(&encode(&xs)), xs, "extents survive the byte store");
        assert!(decode(b"{}").is_empty(), "an entry of another layout is a miss");
    }

    #[tokio::test]
    async fn lru_keeps_to_its_budget() {
        let c = LruCache::new(100);
        c.put("a", Bytes::from(vec![0; 40])).await;
        c.put("b", Bytes::from(vec![0; 40])).await;
        assert!(c.get("a").await.is_some(), "a is now the most recently used");
        c.put("c", Bytes::from(vec![0; 40])).await;
        assert!(c.get("b").await.is_none(), "b was least recently used");
        assert!(c.get("a").await.is_some() && c.get("c").await.is_some());
        assert!(c.size_bytes() <= 100);
        c.put("huge", Bytes::from(vec![0; 1000])).await;
        assert!(c.get("huge").await.is_none());
    }
}
