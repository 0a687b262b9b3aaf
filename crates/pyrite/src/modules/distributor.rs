//! The distributor module: the remote-write receiver in front of the write path, and
//! the scraper, which writes through the same path.

use std::sync::Arc;

use super::context::Context;

pub fn init(ctx: &mut Context) -> anyhow::Result<()> {
    let dist = pyrite_distributor::Distributor::with_limits(
        ctx.cfg.distributor.clone(),
        ctx.limits.clone(),
        ctx.write_path(),
        &mut ctx.registry,
    );
    let dist = Arc::new(dist);
    ctx.serve_http(pyrite_distributor::routes(dist.clone()));
    super::scrape::init(ctx, dist)
}
