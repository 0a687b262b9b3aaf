//! The one place that wires components together by target, like a module registry:
//! each component is an entry with its dependencies, a target names entries, and
//! `all` is every entry that can run in one process. Each module has a file of its own
//! whose `init` builds it from the shared [`Context`] and registers its HTTP routes,
//! gRPC services, metrics and background tasks there; slow steps (opening shards,
//! joining) wait until the servers are up.
//!
//! Adding a component means adding its entry, its file and its `init` arm here; nothing
//! else in the binary changes.

mod alertmanager;
mod compactor;
pub mod context;
mod distributor;
mod ingester;
mod pool;
mod querier;
pub mod query_frontend;
mod reload;
mod rule_sources;
mod ruler;
mod scrape;
mod store_gateway;

use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::time::Instant;

use anyhow::{bail, Context as _};
use axum::Router;
use prometheus_client::registry::Registry;
use pyrite_api::BuildInfo;
use pyrite_ingester::ShardHost;

use crate::config::Config;
use context::{Context, GrpcServer, Tasks};

/// Every component the binary knows, whether it runs yet or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Module {
    Ingester,
    Distributor,
    Querier,
    QueryFrontend,
    StoreGateway,
    Compactor,
    Ruler,
    Alertmanager,
}

struct Entry {
    module: Module,
    name: &'static str,
    deps: &'static [Module],
    /// Whether the component can run in this release; the rest are named so targets
    /// are stable, and refused with a clear message until they land.
    available: bool,
    /// Whether `all` runs it.
    in_all: bool,
}

const REGISTRY: &[Entry] = &[
    Entry {
        module: Module::Ingester,
        name: "ingester",
        deps: &[],
        available: true,
        in_all: true,
    },
    Entry {
        module: Module::Distributor,
        name: "distributor",
        deps: &[Module::Ingester],
        available: true,
        in_all: true,
    },
    Entry {
        module: Module::Querier,
        name: "querier",
        deps: &[Module::Ingester],
        available: true,
        in_all: true,
    },
    Entry {
        module: Module::QueryFrontend,
        name: "query-frontend",
        // A frontend needs no querier beside it: queriers anywhere pull its work.
        deps: &[],
        available: true,
        // `all` answers queries straight from its querier; `--target=all,query-frontend`
        // puts the frontend in front of it.
        in_all: false,
    },
    Entry {
        module: Module::StoreGateway,
        name: "store-gateway",
        deps: &[],
        available: true,
        in_all: true,
    },
    Entry {
        module: Module::Compactor,
        name: "compactor",
        deps: &[],
        available: true,
        in_all: true,
    },
    Entry {
        module: Module::Ruler,
        name: "ruler",
        // It queries and writes through paths of its own (the read path, a
        // distributor pipeline); in one process those need the ingester.
        deps: &[Module::Ingester],
        available: true,
        in_all: true,
    },
    Entry {
        module: Module::Alertmanager,
        name: "alertmanager",
        deps: &[],
        available: true,
        in_all: true,
    },
];

fn entry(m: Module) -> &'static Entry {
    REGISTRY
        .iter()
        .find(|e| e.module == m)
        .expect("every module has a registry entry")
}

/// Expands a `--target` value into the modules to start, dependencies first. In a
/// cluster, components reach each other over gRPC, so none pulls in another.
pub fn resolve(target: &str, clustered: bool) -> anyhow::Result<Vec<Module>> {
    let mut wanted = BTreeSet::new();
    for name in target.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name == "all" {
            wanted.extend(REGISTRY.iter().filter(|e| e.available && e.in_all).map(|e| e.module));
            continue;
        }
        let Some(e) = REGISTRY.iter().find(|e| e.name == name) else {
            let known: Vec<&str> = REGISTRY.iter().map(|e| e.name).collect();
            bail!("unknown target {name:?}; known targets: all, {}", known.join(", "));
        };
        if !e.available {
            bail!("target {name:?} is not available in this release yet; run --target=all");
        }
        wanted.insert(e.module);
    }
    if wanted.is_empty() {
        bail!("no target given");
    }
    // In one process the write and read paths need the ingester beside them.
    let mut order: Vec<Module> = Vec::new();
    fn visit(m: Module, order: &mut Vec<Module>, clustered: bool) {
        if !clustered {
            for d in entry(m).deps {
                visit(*d, order, clustered);
            }
        }
        if !order.contains(&m) {
            order.push(m);
        }
    }
    for m in wanted {
        visit(m, &mut order, clustered);
    }
    Ok(order)
}

/// Started modules: the routes they serve, their metrics, and what shutdown stops.
pub struct Started {
    pub router: Router,
    pub registry: Registry,
    grpc: Option<GrpcServer>,
    tasks: Tasks,
    host: Option<Arc<ShardHost>>,
}

impl Started {
    /// Stops serving gRPC while it stops the background tasks and then the shard
    /// replicas; gRPC calls and tasks still running at `deadline` are cut off. The
    /// replicas do not wait for gRPC calls: a write cut off is retried by its sender,
    /// and its id makes the retry apply once.
    pub async fn shutdown(self, deadline: Instant) {
        let grpc = async {
            if let Some(grpc) = self.grpc {
                grpc.shutdown(deadline).await;
            }
        };
        let rest = async {
            self.tasks
                .shutdown(deadline.saturating_duration_since(Instant::now()))
                .await;
            if let Some(host) = &self.host {
                host.shutdown().await;
            }
        };
        tokio::join!(grpc, rest);
    }
}

/// Builds `modules` in order, serves their gRPC, then runs their slow starts (log
/// replay, joining) in order, all before the process reports ready.
pub async fn start(cfg: &Config, modules: Vec<Module>) -> anyhow::Result<Started> {
    let mut ctx = Context::new(cfg, modules).await?;
    for m in ctx.modules.clone() {
        init(&mut ctx, m).with_context(|| format!("starting the {} module", entry(m).name))?;
    }
    let ring = crate::ring_http::routes(ctx.client.clone(), ctx.host.clone(), ctx.admin.clone());
    ctx.serve_http(ring);
    let reloaders = Arc::new(std::mem::take(&mut ctx.reloaders));
    ctx.serve_http(reload::routes(reloaders.clone()));
    ctx.tasks.spawn(reload::on_sighup(reloaders));
    let grpc = match ctx.grpc_services() {
        0 => None,
        _ => Some(GrpcServer::start(&ctx.cfg, std::mem::take(&mut ctx.grpc).routes()).await?),
    };
    for (m, start) in ctx.take_starts() {
        start
            .await
            .with_context(|| format!("starting the {} module", entry(m).name))?;
    }
    Ok(Started {
        router: std::mem::take(&mut ctx.http),
        registry: std::mem::take(&mut ctx.registry),
        grpc,
        tasks: ctx.tasks.clone(),
        host: ctx.host.clone(),
    })
}

fn init(ctx: &mut Context, m: Module) -> anyhow::Result<()> {
    match m {
        Module::Ingester => ingester::init(ctx),
        Module::Distributor => distributor::init(ctx),
        Module::Querier => querier::init(ctx),
        Module::QueryFrontend => query_frontend::init(ctx),
        Module::StoreGateway => store_gateway::init(ctx),
        Module::Compactor => compactor::init(ctx),
        Module::Ruler => ruler::init(ctx),
        Module::Alertmanager => alertmanager::init(ctx),
    }
}

pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        revision: option_env!("PYRITE_GIT_REVISION").unwrap_or("unknown").to_string(),
        branch: option_env!("PYRITE_GIT_BRANCH").unwrap_or("unknown").to_string(),
        build_user: String::new(),
        build_date: String::new(),
        go_version: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_to_available_components_in_dependency_order() {
        assert_eq!(
            resolve("all", false).unwrap(),
            [
                Module::Ingester,
                Module::Distributor,
                Module::Querier,
                Module::StoreGateway,
                Module::Compactor,
                Module::Ruler,
                Module::Alertmanager
            ]
        );
        assert_eq!(resolve("querier", false).unwrap(), [Module::Ingester, Module::Querier]);
        assert_eq!(resolve("querier", true).unwrap(), [Module::Querier]);
        assert_eq!(resolve("query-frontend", false).unwrap(), [Module::QueryFrontend]);
        let both = resolve("all,query-frontend", false).unwrap();
        let at = |m| both.iter().position(|x| *x == m).unwrap();
        assert!(
            at(Module::QueryFrontend) > at(Module::Querier),
            "the frontend starts after the querier it fronts"
        );
        assert_eq!(resolve("alertmanager", true).unwrap(), [Module::Alertmanager]);
        assert!(resolve("bogus", false)
            .unwrap_err()
            .to_string()
            .contains("known targets"));
        assert!(resolve("", false).is_err());
    }
}
