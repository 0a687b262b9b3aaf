//! The ruler module: loads `--ruler.rules-dir` at init (a broken file stops the process
//! from starting, and a reload that finds one keeps the rules running), evaluates its
//! groups with the PromQL engine over the read path, writes recording rules' output and
//! alerts' series through a distributor pipeline of its own (so they are validated,
//! limited and replicated as any write), and serves `/api/v1/rules` and
//! `/api/v1/alerts`. Alerts due go to `--ruler.alertmanager-url`'s Alertmanagers, or
//! to the alertmanager in this process when neither that nor an alerting file is given.
//! A reload reads `--ruler.alerting-config-file` again: the notifier takes its
//! Alertmanagers, relabeling and external labels, and evaluations read the external
//! labels from the notifier, so templates and alerts follow the same file (a broken one
//! keeps the running configuration).
//! Groups kept through the rule configuration API run beside the directory's
//! ([`super::rule_sources`]).
//!
//! Rulers share the groups out as members of the metadata group's `ruler` pool (one
//! process is a pool of one), and keep each group's state in its record there, so a
//! group evaluated by another ruler after a restart or a move goes on from its last
//! evaluation. A ruler shutting down leaves the pool and evaluates on until the others
//! take over.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use pyrite_distributor::{Distributor, RawSeries, Source};
use pyrite_model::TimeSeries;
use pyrite_promql::Engine;
use pyrite_ruler::group::{instant_query, Expansion, QuerySample, RuleEnv};
use pyrite_ruler::manager::Manager;
use pyrite_ruler::notifier::{AlertingFile, Notifier, NotifierMetrics};
use pyrite_ruler::template::Expander;
use pyrite_storage::Queryable;

use super::context::Context;
use super::{pool, Module};

/// Queries, writes and template expansion for rule evaluation.
struct Env {
    engine: Engine,
    store: Arc<dyn Queryable>,
    dist: Arc<Distributor>,
    external_url: String,
    /// Holds the alerting file's external labels, which a reload replaces.
    notifier: Arc<Notifier>,
}

#[async_trait::async_trait]
impl RuleEnv for Env {
    async fn query(&self, tenant: &str, expr: &str, t: i64) -> Result<Vec<QuerySample>, String> {
        instant_query(&self.engine, self.store.clone(), tenant, expr, t).await
    }

    async fn write(&self, tenant: &str, series: Vec<TimeSeries>) -> Result<(), String> {
        if series.is_empty() {
            return Ok(());
        }
        let raw = series.into_iter().map(RawSeries::from_series).collect();
        let outcome = self
            .dist
            .push(tenant, raw, Source::Ruler)
            .await
            .map_err(|e| e.to_string())?;
        match outcome.refused {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        }
    }

    fn expand(&self, at: &Expansion<'_>, text: &str) -> String {
        // Templates run `query` synchronously, as Go's templates do; the evaluation's
        // thread waits for it.
        let handle = tokio::runtime::Handle::current();
        let (engine, store, tenant, t) = (self.engine.clone(), self.store.clone(), at.tenant.to_string(), at.t);
        let query = Arc::new(move |expr: &str| {
            tokio::task::block_in_place(|| handle.block_on(instant_query(&engine, store.clone(), &tenant, expr, t)))
        });
        Expander::new(&self.notifier.external_labels(), self.external_url.clone(), query)
            .at(at.t)
            .expand(at.rule, text, at.labels, at.value)
    }
}

pub fn init(ctx: &mut Context) -> anyhow::Result<()> {
    let mut cfg = ctx.cfg.ruler.clone();
    if cfg.external_url.is_empty() {
        // As Prometheus does: this process's own address.
        cfg.external_url = format!("http://{}", pool::http_addr(ctx));
    }
    let dist = Arc::new(Distributor::with_limits(
        ctx.cfg.distributor.clone(),
        ctx.limits.clone(),
        ctx.write_path(),
        &mut prometheus_client::registry::Registry::default(),
    ));
    let alerting_file = (!cfg.alerting_config_file.is_empty()).then(|| PathBuf::from(&cfg.alerting_config_file));
    let (alerting, base_dir) = match &alerting_file {
        None => (AlertingFile::default(), PathBuf::from(".")),
        Some(path) => read_alerting_file(path).context("ruler.alerting-config-file")?,
    };
    let mut alertmanagers = cfg.alertmanagers();
    if alertmanagers.is_empty() && cfg.alerting_config_file.is_empty() && ctx.modules.contains(&Module::Alertmanager) {
        // Pyrite's own alertmanager, beside the ruler in this process.
        alertmanagers.push(format!("http://{}/alertmanager", pool::http_addr(ctx)));
    }
    let notifier = Notifier::new(
        &alerting,
        alertmanagers,
        cfg.notification_queue_capacity,
        &base_dir,
        NotifierMetrics::register(&mut ctx.registry),
    )
    .context("ruler.alerting-config-file")?;
    if let Some(path) = alerting_file {
        let notifier = notifier.clone();
        ctx.reloaders.push(Arc::new(move || {
            let (notifier, path) = (notifier.clone(), path.clone());
            Box::pin(async move {
                let (file, base_dir) =
                    read_alerting_file(&path).map_err(|e| format!("ruler.alerting-config-file: {e}"))?;
                notifier
                    .apply(&file, &base_dir)
                    .map_err(|e| format!("ruler.alerting-config-file: {}: {e}", path.display()))
            })
        }));
    }
    let env = Arc::new(Env {
        engine: Engine::new(ctx.cfg.querier.engine_options()),
        store: ctx.read_path(),
        dist,
        external_url: cfg.external_url.clone(),
        notifier: notifier.clone(),
    });
    let member = pool::Member::new(
        pyrite_ruler::record::POOL,
        pool::member_id(ctx, &cfg.instance_id),
        pool::http_addr(ctx),
        cfg.timing(),
    );
    let records: Arc<dyn pyrite_members::Records> = Arc::new(ctx.client.clone());
    let manager = Manager::new(
        env,
        notifier.clone(),
        member.ownership.clone(),
        records,
        cfg.manager_options(),
    );
    let alertmanager_beside = ctx.modules.contains(&Module::Alertmanager);
    ctx.serve_http(pyrite_ruler::api::routes(manager.clone(), alertmanager_beside));
    ctx.serve_http(pyrite_ruler::page::routes(manager.clone()));
    let (sources, changed) = super::rule_sources::serve_config_api(ctx, manager.clone())?;
    let dir = (!cfg.rules_dir.is_empty()).then(|| PathBuf::from(&cfg.rules_dir));
    let groups = match &dir {
        Some(dir) => {
            pyrite_ruler::loader::load_dir(dir).with_context(|| format!("loading the rules in {}", dir.display()))?
        }
        None => Vec::new(),
    };
    if let Some(dir) = dir.clone() {
        let reloading = sources.clone();
        ctx.reloaders.push(Arc::new(move || {
            let (sources, dir) = (reloading.clone(), dir.clone());
            Box::pin(async move {
                let groups = pyrite_ruler::loader::load_dir(&dir).map_err(|e| e.to_string())?;
                sources.set_dir(groups).await;
                Ok(())
            })
        }));
    }
    let tasks = ctx.tasks.clone();
    let registry: Arc<dyn pyrite_members::Registry> = Arc::new(ctx.client.clone());
    let poll = cfg.poll_interval.0;
    ctx.on_start(Module::Ruler, async move {
        tracing::info!(groups = groups.len(), "evaluating rules");
        let leaver = member.start(&tasks, registry);
        super::rule_sources::start(sources, groups, changed, poll, &tasks).await;
        tasks.spawn(notifier.run());
        tasks.spawn_graceful(move |stopping| async move {
            stopping.cancelled().await;
            leaver.hand_over().await;
            manager.stop();
        });
        Ok(())
    });
    Ok(())
}

/// The alerting file at `path`, and the directory its relative file names are taken from.
fn read_alerting_file(path: &Path) -> Result<(AlertingFile, PathBuf), pyrite_ruler::notifier::ConfigError> {
    let file = pyrite_ruler::notifier::config::read(path)?;
    Ok((file, path.parent().map(PathBuf::from).unwrap_or_default()))
}
