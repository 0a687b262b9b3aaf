//! The query paths: a range query is aligned, split, looked up in the cache, its
//! missing pieces computed (sharded where the query allows), merged and cached; an
//! instant query is sharded or passed through; every other request passes through.
//!
//! Anything the frontend cannot handle exactly — parameters the querier would refuse,
//! a query the parser crate does not read, answers it cannot merge — goes to a querier
//! whole, so errors and edge cases come back exactly as the querier gives them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt};
use promql_parser::parser::Expr;
use pyrite_api::Params;
use pyrite_config::Duration;
use pyrite_limits::Limits;
use pyrite_promql::{Engine, EngineOptions};

use crate::cache::{self, CacheBackend, Extent, Piece};
use crate::downstream::{Downstream, Reply, Request};
use crate::exec::{self, Sharded, When};
use crate::matrix::Matrix;
use crate::metrics::{tenant as tl, FrontendMetrics};
use crate::split;
use crate::{error_reply, FrontendConfig, FrontendError};

/// What the frontend did for one query (`stats=all` shows it).
#[derive(Debug, Default)]
pub struct QueryStats {
    pub split_queries: AtomicU64,
    pub sharded_queries: AtomicU64,
    pub shard_queries: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub downstream_requests: AtomicU64,
}

impl QueryStats {
    pub fn json(&self, seconds: f64) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "splitQueries": g(&self.split_queries),
            "shardedQueries": g(&self.sharded_queries),
            "shardQueries": g(&self.shard_queries),
            "resultsCacheHits": g(&self.cache_hits),
            "resultsCacheMisses": g(&self.cache_misses),
            "querierRequests": g(&self.downstream_requests),
            "wallTimeSeconds": seconds,
        })
    }
}

/// The frontend over some [`Downstream`] (the queue in production).
pub struct Frontend {
    cfg: FrontendConfig,
    limits: Arc<Limits>,
    down: Arc<dyn Downstream>,
    cache: Option<Arc<dyn CacheBackend>>,
    engine: Engine,
    metrics: FrontendMetrics,
    now: fn() -> i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A piece's result: a matrix, or an answer to pass on as it is (an error).
type PieceResult = Result<Matrix, Reply>;

impl Frontend {
    /// `engine` is the queriers' engine settings: the frontend applies the same
    /// resolution limit and evaluates sharded queries' combining step with them.
    pub fn new(
        cfg: FrontendConfig,
        engine: EngineOptions,
        down: Arc<dyn Downstream>,
        cache: Option<Arc<dyn CacheBackend>>,
        metrics: FrontendMetrics,
    ) -> Self {
        Self {
            limits: Arc::new(cfg.limits()),
            cfg,
            down,
            cache,
            engine: Engine::new(engine),
            metrics,
            now: now_ms,
        }
    }

    /// Reads each tenant's query limits from `limits` (shared with the process's other
    /// components) instead of this configuration's own.
    pub fn with_limits(mut self, limits: Arc<Limits>) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the clock (tests move time forward).
    pub fn with_clock(mut self, now: fn() -> i64) -> Self {
        self.now = now;
        self
    }

    pub fn metrics(&self) -> &FrontendMetrics {
        &self.metrics
    }

    async fn send(&self, req: Request, stats: &QueryStats) -> Reply {
        stats.downstream_requests.fetch_add(1, Ordering::Relaxed);
        match self.down.run(req).await {
            Ok(r) => r,
            Err(e) => e.reply(),
        }
    }

    /// Passes a request to a querier unchanged.
    pub async fn pass(&self, req: Request, stats: &QueryStats) -> Reply {
        self.send(req, stats).await
    }

    fn parse(query: &str) -> Option<Expr> {
        std::panic::catch_unwind(|| promql_parser::parser::parse(query))
            .ok()?
            .ok()
    }

    /// `/api/v1/query`.
    pub async fn instant(&self, tenant: &str, p: &Params, raw: Request, stats: &QueryStats) -> Reply {
        let (Some(q), Ok(t)) = (p.get("query"), p.time_or("time", (self.now)())) else {
            return self.pass(raw, stats).await;
        };
        if let Some(expr) = Self::parse(q) {
            let parallelism = self.limits.max_query_parallelism(tenant);
            if let Some(plan) = crate::query_shard::plan(&expr, self.cfg.query_shards) {
                match exec::run(
                    self.down.as_ref(),
                    &self.engine,
                    tenant,
                    q,
                    &plan,
                    When::Instant(t),
                    parallelism,
                )
                .await
                {
                    Ok(Sharded::Done(reply)) => {
                        self.count_sharded(tenant, plan.shard_queries(), stats);
                        return reply;
                    }
                    Ok(Sharded::Unsupported) => {}
                    Err(e) => return e.reply(),
                }
            }
        }
        self.pass(raw, stats).await
    }

    fn count_sharded(&self, tenant: &str, shard_queries: usize, stats: &QueryStats) {
        self.metrics.sharded_queries.get_or_create(&tl(tenant)).inc();
        self.metrics
            .shard_queries
            .get_or_create(&tl(tenant))
            .inc_by(shard_queries as u64);
        stats.sharded_queries.fetch_add(1, Ordering::Relaxed);
        stats.shard_queries.fetch_add(shard_queries as u64, Ordering::Relaxed);
        stats
            .downstream_requests
            .fetch_add(shard_queries as u64, Ordering::Relaxed);
    }

    /// `/api/v1/query_range`. `use_cache` is false when the client asked for no caching.
    pub async fn range(&self, tenant: &str, p: &Params, raw: Request, use_cache: bool, stats: &QueryStats) -> Reply {
        let parsed = (|| {
            let q = p.get("query")?;
            let start = p.required_time("start").ok()?;
            let end = p.required_time("end").ok()?;
            let step = p.duration("step").ok()??;
            Some((q, start, end, step))
        })();
        let Some((q, mut start, mut end, step)) = parsed else {
            return self.pass(raw, stats).await;
        };
        let max_points = self.engine.options().max_points_per_series as i64;
        if step <= 0 || end < start || (end - start) / step >= max_points {
            return self.pass(raw, stats).await;
        }
        let Some(expr) = Self::parse(q) else {
            return self.pass(raw, stats).await;
        };
        let max_length = self.limits.max_total_query_length(tenant);
        if !max_length.is_zero() && end - start > max_length.as_millis() {
            return error_reply(
                400,
                "bad_data",
                &format!(
                    "the query time range exceeds the limit (query length: {}, limit: {})",
                    Duration::from_millis((end - start).max(0) as u64),
                    max_length
                ),
            );
        }
        if self.cfg.align_queries_with_step {
            (start, end) = split::align(start, end, step);
        }
        let traits = split::traits(&expr);
        let interval = if traits.uses_range_bounds {
            0
        } else {
            self.cfg.split_interval.as_millis()
        };
        let parts = split::split(start, end, step, interval);
        if parts.len() > 1 {
            self.metrics
                .split_queries
                .get_or_create(&tl(tenant))
                .inc_by(parts.len() as u64);
            stats.split_queries.fetch_add(parts.len() as u64, Ordering::Relaxed);
        }
        let cache = self
            .cache
            .as_ref()
            .filter(|_| self.cfg.cache_results && use_cache && !traits.time_dependent && !traits.uses_range_bounds);

        // Each part's pieces: cached, or to compute.
        let mut planned: Vec<(String, Vec<Extent>, Vec<Piece>)> = Vec::new();
        for &(s, e) in &parts {
            let key = cache::key(tenant, q, step, s, interval);
            let extents = match cache {
                Some(c) => {
                    self.metrics.cache_requests.get_or_create(&tl(tenant)).inc();
                    c.get(&key).await.map(|b| cache::decode(&b)).unwrap_or_default()
                }
                None => Vec::new(),
            };
            let pieces = if cache.is_some() {
                cache::plan(&extents, s, e, step)
            } else {
                vec![Piece::Missing(s, e)]
            };
            if cache.is_some() && pieces.iter().all(|p| matches!(p, Piece::Cached(_))) {
                self.metrics.cache_hits.get_or_create(&tl(tenant)).inc();
                stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            } else if cache.is_some() {
                stats.cache_misses.fetch_add(1, Ordering::Relaxed);
            }
            planned.push((key, extents, pieces));
        }

        // Compute the missing pieces, in parallel within the tenant's limit.
        let missing: Vec<(i64, i64)> = planned
            .iter()
            .flat_map(|(_, _, pieces)| pieces.iter())
            .filter_map(|p| match p {
                Piece::Missing(s, e) => Some((*s, *e)),
                Piece::Cached(_) => None,
            })
            .collect();
        let shards = self.cfg.query_shards.max(1) as usize;
        let parallelism = self.limits.max_query_parallelism(tenant);
        let piece_parallelism = (parallelism / shards).max(1);
        let expr = &expr;
        let mut computed: std::collections::HashMap<(i64, i64), PieceResult> = stream::iter(missing)
            .map(|(s, e)| async move {
                (
                    (s, e),
                    self.compute(tenant, q, expr, s, e, step, parallelism, stats).await,
                )
            })
            .buffer_unordered(piece_parallelism)
            .collect()
            .await;

        let cutoff = (self.now)() - self.cfg.max_cache_freshness.as_millis();
        let mut out = Matrix::default();
        for (key, extents, pieces) in planned {
            let mut new_extents = Vec::new();
            for piece in pieces {
                match piece {
                    Piece::Cached(m) => out.append(m),
                    Piece::Missing(s, e) => match computed.remove(&(s, e)) {
                        Some(Ok(m)) => {
                            // Only steps older than the freshness cutoff are final.
                            let last = if cutoff < s {
                                None
                            } else {
                                Some(e.min(s + (cutoff - s) / step * step))
                            };
                            if let Some(last) = last {
                                new_extents.push(Extent {
                                    start: s,
                                    end: last,
                                    matrix: m.slice(s, last),
                                });
                            }
                            out.append(m);
                        }
                        Some(Err(reply)) => return reply,
                        None => return error_reply(500, "internal", "a part of the query was not computed"),
                    },
                }
            }
            if let (Some(c), false) = (cache, new_extents.is_empty()) {
                let mut all = extents;
                for x in new_extents {
                    all = cache::insert(all, x, step);
                }
                c.put(&key, cache::encode(&all)).await;
            }
        }
        Reply {
            status: 200,
            body: out.body().into(),
        }
    }

    /// One missing piece: sharded if the query allows, else whole.
    #[allow(clippy::too_many_arguments)]
    async fn compute(
        &self,
        tenant: &str,
        q: &str,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
        parallelism: usize,
        stats: &QueryStats,
    ) -> PieceResult {
        if let Some(plan) = crate::query_shard::plan(expr, self.cfg.query_shards) {
            let when = When::Range { start, end, step };
            match exec::run(self.down.as_ref(), &self.engine, tenant, q, &plan, when, parallelism).await {
                Ok(Sharded::Done(reply)) => {
                    self.count_sharded(tenant, plan.shard_queries(), stats);
                    return to_matrix(reply);
                }
                Ok(Sharded::Unsupported) => {}
                Err(e) => return Err(e.reply()),
            }
        }
        let reply = self.send(Request::range(tenant, q, start, end, step), stats).await;
        to_matrix(reply)
    }

    /// Records a finished query's duration.
    pub fn observe(&self, tenant: &str, endpoint: &str, started: Instant) {
        self.metrics
            .query_duration
            .get_or_create(&vec![
                ("tenant".to_string(), tenant.to_string()),
                ("endpoint".to_string(), endpoint.to_string()),
            ])
            .observe(started.elapsed().as_secs_f64());
    }
}

fn to_matrix(reply: Reply) -> PieceResult {
    if !reply.ok() {
        return Err(reply);
    }
    match Matrix::parse(&reply.body) {
        Ok(Some(m)) => Ok(m),
        _ => Err(reply),
    }
}

impl From<FrontendError> for Reply {
    fn from(e: FrontendError) -> Reply {
        e.reply()
    }
}
