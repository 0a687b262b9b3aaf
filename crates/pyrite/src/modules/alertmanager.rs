//! The alertmanager module: reads `--alertmanager.config-file` at init (a broken file
//! stops the process from starting, and a reload that finds one keeps the running
//! configuration), and serves Alertmanager's API v2 per tenant at `/api/v2` and
//! `/alertmanager/api/v2`.

use std::path::Path;

use anyhow::Context as _;
use pyrite_alertmanager::config::Config as AmConfig;
use pyrite_alertmanager::tenants::Alertmanagers;
use pyrite_alertmanager::FALLBACK_CONFIG;

use super::context::Context;
use super::pool;

fn read(file: &str) -> Result<AmConfig, String> {
    match file {
        "" => AmConfig::parse(FALLBACK_CONFIG).map_err(|e| e.to_string()),
        file => AmConfig::load_file(Path::new(file)).map_err(|e| format!("loading {file}: {e}")),
    }
}

pub fn init(ctx: &mut Context) -> anyhow::Result<()> {
    let opts = ctx.cfg.alertmanager.clone();
    let config = read(&opts.config_file)
        .map_err(anyhow::Error::msg)
        .context("alertmanager.config-file")?;
    let external_url = match opts.external_url.as_str() {
        "" => format!("http://{}/alertmanager", pool::http_addr(ctx)),
        url => url.to_string(),
    };
    let ams = Alertmanagers::new(config, &external_url, &pool::http_addr(ctx));
    ctx.serve_http(pyrite_alertmanager::api::routes(ams.clone()));
    if !opts.config_file.is_empty() {
        let file = opts.config_file.clone();
        ctx.reloaders.push(std::sync::Arc::new(move || {
            let (ams, file) = (ams.clone(), file.clone());
            Box::pin(async move { ams.reload(read(&file)?) })
        }));
    }
    Ok(())
}
