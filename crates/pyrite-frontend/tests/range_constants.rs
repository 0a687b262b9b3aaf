//! Queries that read the range of the whole query — the functions `start()`, `end()`
//! and `range()`, and the modifiers `@ start()` and `@ end()` — answered through a
//! frontend that splits by the hour, shards and caches: each goes to the querier in
//! one piece, is never cached per part, and answers exactly what the querier alone
//! answers, also when a later query's range overlaps an earlier one's.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pyrite_api::Params;
use pyrite_frontend::{
    CacheBackend, Downstream, Frontend, FrontendConfig, FrontendMetrics, LruCache, QueryStats, Request,
};
use pyrite_model::Labels;
use pyrite_promql::EngineOptions;
use pyrite_storage::MemQueryable;

const TENANT: &str = "t";
const HOUR: i64 = 3_600_000;
const STEP: i64 = 60_000;

#[test]
fn queries_over_their_own_range_are_neither_split_nor_cached() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(MemQueryable::new());
    for job in ["a", "b"] {
        let samples: Vec<(i64, f64)> = (0..=6 * HOUR / 30_000).map(|k| (k * 30_000, k as f64)).collect();
        store.add(TENANT, Labels::from_pairs(&[("__name__", "x"), ("job", job)]), &samples);
    }
    let opts = EngineOptions {
        enable_experimental_functions: true,
        ..EngineOptions::default()
    };
    let local = Arc::new(common::Local::new(store, opts.clone()));
    let cache: Arc<dyn CacheBackend> = Arc::new(LruCache::new(1 << 24));
    let cfg = FrontendConfig {
        split_interval: pyrite_config::Duration::from_millis(HOUR as u64),
        cache_results: true,
        max_cache_freshness: pyrite_config::Duration::ZERO,
        query_shards: 2,
        ..FrontendConfig::default()
    };
    let frontend = Frontend::new(cfg, opts, local.clone(), Some(cache), FrontendMetrics::default());
    let queries = [
        "start()",
        "end()",
        "range()",
        "time() - start()",
        "sum(x) + end()",
        "sum by (job) (x) * range()",
        "x - x @ start()",
        "sum(rate(x[5m] @ end()))",
    ];
    // The second range overlaps the first's last hours, as a refreshed dashboard does.
    for (start, end) in [(7_000, 5 * HOUR), (2 * HOUR + 7_000, 6 * HOUR)] {
        for q in queries {
            let req = Request::range(TENANT, q, start, end, STEP);
            let p = Params::parse(Some(&req.params), None);
            let stats = QueryStats::default();
            let (alone, through) = rt.block_on(async {
                let alone = local.run(req.clone()).await.unwrap();
                let through = frontend.range(TENANT, &p, req.clone(), true, &stats).await;
                (alone, through)
            });
            assert_eq!(alone.status, 200, "{q}: {:?}", alone.body);
            let (a, b): (serde_json::Value, serde_json::Value) = (
                serde_json::from_slice(&alone.body).unwrap(),
                serde_json::from_slice(&through.body).unwrap(),
            );
            assert_eq!(a["data"], b["data"], "{q} over [{start}, {end}]");
            assert_eq!(stats.split_queries.load(Ordering::Relaxed), 0, "{q} was split");
            assert_eq!(
                stats.cache_hits.load(Ordering::Relaxed),
                0,
                "{q} was read from the cache"
            );
            assert_eq!(
                stats.cache_misses.load(Ordering::Relaxed),
                0,
                "{q} was looked up in the cache"
            );
        }
    }
    // The same queries without the range's bounds are split (the test's frontend does split).
    let req = Request::range(TENANT, "sum(x) + step()", 7_000, 5 * HOUR, STEP);
    let p = Params::parse(Some(&req.params), None);
    let stats = QueryStats::default();
    rt.block_on(frontend.range(TENANT, &p, req.clone(), true, &stats));
    assert_eq!(stats.split_queries.load(Ordering::Relaxed), 5);
}
