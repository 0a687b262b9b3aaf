//! The compactor module: merges, retains and deletes blocks in the bucket, in the
//! background.

use anyhow::bail;
use pyrite_compactor::{Compactor, CompactorOptions};

use super::context::Context;
use super::Module;

pub fn init(ctx: &mut Context) -> anyhow::Result<()> {
    let Some(bucket) = &ctx.bucket else {
        // `all` without a bucket keeps its blocks nowhere: nothing to compact.
        if ctx.runs(Module::Ingester) {
            tracing::info!("no bucket (--blocks.backend=none): no compactor");
            return Ok(());
        }
        bail!("the compactor needs a bucket (--blocks.backend)");
    };
    let cfg = &ctx.cfg;
    let opts = CompactorOptions {
        ranges: cfg.compactor.ranges(cfg.blocks.range.0).map_err(anyhow::Error::msg)?,
        limits: ctx.limits.clone(),
        deletion_delay: cfg.compactor.deletion_delay.0,
    };
    let compactor = Compactor::new(bucket.clone(), opts);
    compactor.register_metrics(&mut ctx.registry);
    ctx.tasks.spawn(compactor.run(cfg.compactor.interval.0));
    Ok(())
}
