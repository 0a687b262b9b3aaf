//! The one place that wires components together by target, like a module registry:
//! each component is an entry with its dependencies, a target names entries, and
//! `all` is every entry that can run in one process.
//!
//! Adding a component means adding its entry here and its `init` arm; nothing else in
//! the binary changes.

use anyhow::bail;
use axum::Router;
use prometheus_client::registry::Registry;
use pyrite_api::BuildInfo;
use std::collections::BTreeSet;

use crate::config::Config;

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
        // `all` answers queries straight from its querier, as before the frontend
        // existed; `--target=all,query-frontend` puts the frontend in front of it.
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
        deps: &[Module::Querier],
        available: false,
        in_all: true,
    },
    Entry {
        module: Module::Alertmanager,
        name: "alertmanager",
        deps: &[],
        available: false,
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

/// Started components: the routes they serve and what must be shut down.
pub struct Services {
    pub router: Router,
    cluster: crate::cluster::Cluster,
}

impl Services {
    pub async fn shutdown(self) {
        self.cluster.shutdown().await;
    }
}

/// Starts `modules` in order. Slow starts (log replay) happen here, before readiness.
/// Without `--cluster.ingesters` the process is a cluster of its own: one ingester
/// holding every shard as a one-replica Raft group, reached in-process.
pub async fn init(cfg: &Config, modules: &[Module], registry: &mut Registry) -> anyhow::Result<Services> {
    let mut cluster = if cfg.cluster.enabled() {
        crate::cluster::init(cfg, modules, false, registry).await?
    } else {
        let mut cfg = cfg.clone();
        cfg.cluster = cfg.cluster.standalone(&standalone_grpc_addr(&cfg));
        crate::cluster::init(&cfg, modules, true, registry).await?
    };
    let router = std::mem::take(&mut cluster.router);
    Ok(Services { router, cluster })
}

/// Where a single process's own gRPC is reached: its listen address, or loopback when
/// it listens on every interface.
fn standalone_grpc_addr(cfg: &Config) -> String {
    let host = match cfg.server.grpc_listen_address.as_str() {
        "" | "0.0.0.0" | "::" => "127.0.0.1",
        h => h,
    };
    format!("{host}:{}", cfg.server.grpc_listen_port)
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
                Module::Compactor
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
        assert!(resolve("ruler", false)
            .unwrap_err()
            .to_string()
            .contains("not available"));
        assert!(resolve("bogus", false)
            .unwrap_err()
            .to_string()
            .contains("known targets"));
        assert!(resolve("", false).is_err());
    }
}
