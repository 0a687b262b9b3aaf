//! Membership of a pool of the metadata group ([`pyrite_members`]), for the modules
//! whose work is shared out among their live instances (scraping distributors, rulers):
//! the member's name and address, its heartbeats, the ownership its loops ask, and its
//! leaving, which hands its work over without a gap.

use std::sync::Arc;
use std::time::Duration;

use pyrite_members::ownership::PoolOwnership;
use pyrite_members::{run_heartbeats, Heartbeat, Registry, Timing, View, ViewTx};

use super::context::Context;

/// A member of a pool, before and after it starts heartbeating.
pub struct Member {
    pub hb: Heartbeat,
    pub timing: Timing,
    pub ownership: Arc<PoolOwnership>,
    view: ViewTx,
}

impl Member {
    /// Member `id` of `pool`, serving at `addr`; it owns nothing until it heartbeats.
    pub fn new(pool: &str, id: String, addr: String, timing: Timing) -> Member {
        let hb = Heartbeat {
            pool: pool.to_string(),
            id: id.clone(),
            addr,
            timeout_ms: timing.timeout.as_millis() as i64,
            handoff_ms: timing.handoff().as_millis() as i64,
            leave: false,
        };
        let (view, rx) = View::channel();
        Member {
            hb,
            timing,
            ownership: PoolOwnership::new(id, rx),
            view,
        }
    }

    /// Heartbeats from now on, until the process ends.
    pub fn start(self, tasks: &super::context::Tasks, registry: Arc<dyn Registry>) -> Leaver {
        tasks.spawn(run_heartbeats(
            registry.clone(),
            self.hb.clone(),
            self.timing,
            self.view,
        ));
        Leaver { registry, hb: self.hb }
    }
}

/// How a started member leaves its pool.
pub struct Leaver {
    registry: Arc<dyn Registry>,
    hb: Heartbeat,
}

impl Leaver {
    /// Leaves the pool and returns once the others have taken the work over (the leave's
    /// epoch is in force), so that no instant goes unworked; the caller works on until
    /// then.
    pub async fn hand_over(&self) {
        let pool = &self.hb.pool;
        let left = tokio::time::timeout(Duration::from_secs(2), pyrite_members::leave(&*self.registry, &self.hb)).await;
        let pool_after = match left {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                return tracing::warn!(pool, error = %e, "leaving the pool; the others take over once this member expires")
            }
            Err(_) => {
                return tracing::warn!(
                    pool,
                    "leaving the pool timed out; the others take over once this member expires"
                )
            }
        };
        let until = pool_after.epochs.last().map_or(0, |e| e.effective_ms);
        let wait = (until - pyrite_members::now_ms()).clamp(0, self.hb.handoff_ms);
        tracing::info!(
            pool,
            wait_ms = wait,
            "left the pool; working until the others take over"
        );
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

/// This process's name in a pool: `configured`, or its HTTP address.
pub fn member_id(ctx: &Context, configured: &str) -> String {
    match configured {
        "" => http_addr(ctx),
        id => id.to_string(),
    }
}

/// The address others reach this process's HTTP at.
pub fn http_addr(ctx: &Context) -> String {
    format!("{}:{}", advertised_host(ctx), ctx.cfg.server.http_listen_port)
}

/// The host others reach this process's HTTP at: its listen address, or the host's
/// name when it listens on every interface.
fn advertised_host(ctx: &Context) -> String {
    match ctx.cfg.server.http_listen_address.as_str() {
        "" | "0.0.0.0" | "::" => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string()),
        h => h.to_string(),
    }
}
