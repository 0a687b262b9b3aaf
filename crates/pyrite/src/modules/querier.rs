//! The querier module: the Prometheus query API over the read path, answered here or,
//! when there is a query frontend, as work pulled from it.

use std::sync::Arc;

use pyrite_api::ApiState;
use pyrite_promql::Engine;

use super::context::Context;
use super::Module;

pub fn init(ctx: &mut Context) -> anyhow::Result<()> {
    let state = ApiState {
        store: ctx.read_path(),
        metadata: ctx.metadata_path(),
        engine: Engine::new(ctx.cfg.querier.engine_options()),
        build_info: super::build_info(),
    };
    let api = pyrite_api::routes(Arc::new(state));
    super::query_frontend::start_querier_workers(ctx, api.clone());
    // Beside a frontend, the frontend answers the API and this querier works for it.
    if !ctx.runs(Module::QueryFrontend) {
        ctx.serve_http(api);
    }
    Ok(())
}
