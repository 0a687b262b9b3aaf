//! Any byte string as a PromQL query, evaluated instant and range over a small store:
//! errors are fine, panics and internal errors are not.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use pyrite_model::{Labels, STALE_NAN};
use pyrite_promql::{Engine, EngineOptions};
use pyrite_storage::{MemQueryable, Queryable};

struct Fixture {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn Queryable>,
    engine: Engine,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // Let panics unwind (the engine turns a parser panic into a bad-data error) instead
        // of aborting at once; a panic that reaches this target still counts as a crash.
        let _ = std::panic::take_hook();
        let s = MemQueryable::new();
        for (i, name) in ["a", "b_total", "c_bucket"].iter().enumerate() {
            for j in 0..3 {
                let mut pts: Vec<(i64, f64)> = (0..40i64).map(|k| (k * 15_000, (k * (i + j + 1) as i64) as f64)).collect();
                pts[20].1 = STALE_NAN;
                pts[7].1 = f64::NAN;
                let le = ["0.1", "1", "+Inf"][j];
                s.add("t", Labels::from_pairs(&[("__name__", *name), ("j", &j.to_string()), ("le", le)]), &pts);
            }
        }
        let opts = EngineOptions {
            enable_experimental_functions: true,
            max_samples: 200_000,
            timeout: std::time::Duration::from_secs(2),
            ..EngineOptions::default()
        };
        Fixture {
            rt: tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap(),
            store: Arc::new(s),
            engine: Engine::new(opts),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else { return };
    let f = fixture();
    f.rt.block_on(async {
        for r in [
            f.engine.instant_query(f.store.clone(), "t", q, 300_000).await,
            f.engine.range_query(f.store.clone(), "t", q, 0, 600_000, 30_000).await,
        ] {
            if let Err(e) = r {
                assert_ne!(e.error_type(), "internal", "{q:?}: {e}");
            }
        }
    });
});
