//! The alertmanager module: reads `--alertmanager.config-file` at init (a broken file
//! stops the process from starting, and a reload that finds one keeps the running
//! configuration), and serves Alertmanager's API v2 per tenant at `/api/v2` and
//! `/alertmanager/api/v2`.
//!
//! Alertmanagers are members of the metadata group's `alertmanager` pool (one process
//! is a pool of one); the member owning the state notifies and commits every change
//! there, so alerts, silences, the notification log and group timers outlive the
//! process, and the others follow it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use pyrite_alertmanager::config::Config as AmConfig;
use pyrite_alertmanager::state::POOL;
use pyrite_alertmanager::tenants::{Alertmanagers, Replication};
use pyrite_alertmanager::FALLBACK_CONFIG;

use super::context::Context;
use super::{pool, Module};

/// How often a replica that does not own the state reads what the owner committed.
const FOLLOW_PERIOD: Duration = Duration::from_secs(1);
/// How long start waits to hear of the pool before serving anyway.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration file, read and checked, its templates with it.
fn read(file: &str) -> Result<AmConfig, String> {
    let config = match file {
        "" => AmConfig::parse(FALLBACK_CONFIG).map_err(|e| e.to_string())?,
        file => AmConfig::load_file(Path::new(file)).map_err(|e| format!("loading {file}: {e}"))?,
    };
    pyrite_alertmanager::notify::Templates::load(&config).map_err(|e| format!("loading {file}'s templates: {e}"))?;
    Ok(config)
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
    let member = pool::Member::new(
        POOL,
        pool::member_id(ctx, &opts.instance_id),
        pool::http_addr(ctx),
        opts.timing(),
    );
    let replication = Replication {
        records: Arc::new(ctx.client.clone()),
        ownership: member.ownership.clone(),
        fail_open_after: opts.fail_open_after.0,
    };
    let dir = ctx.cfg.data.dir.join("alertmanager");
    let ams = Alertmanagers::new(config, &external_url, &member.hb.id, dir, Some(replication));
    ctx.serve_http(pyrite_alertmanager::api::routes(ams.clone()));
    if !opts.config_file.is_empty() {
        let (ams, file) = (ams.clone(), opts.config_file.clone());
        ctx.reloaders.push(Arc::new(move || {
            let (ams, file) = (ams.clone(), file.clone());
            Box::pin(async move { ams.reload(read(&file)?) })
        }));
    }
    let tasks = ctx.tasks.clone();
    let registry: Arc<dyn pyrite_members::Registry> = Arc::new(ctx.client.clone());
    ctx.on_start(Module::Alertmanager, async move {
        let leaver = member.start(&tasks, registry);
        ams.wait_for_pool(JOIN_TIMEOUT).await;
        let tenants = ams
            .restore()
            .await
            .map_err(anyhow::Error::msg)
            .context("reading the alertmanager state")?;
        tracing::info!(tenants, "alertmanager state restored");
        tasks.spawn(ams.clone().follow(FOLLOW_PERIOD));
        tasks.spawn_graceful(move |stopping| async move {
            stopping.cancelled().await;
            leaver.hand_over().await;
            drop(ams);
        });
        Ok(())
    });
    Ok(())
}
