//! Wiring for a cluster (`cluster.ingesters` set): ingesters host Raft shard replicas
//! and serve gRPC; distributors and queriers reach them through the ring. Every
//! component can run alone (`--target=distributor`) or with others in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::RwLock;
use prometheus_client::registry::Registry;
use pyrite_api::ApiState;
use pyrite_client::{Channels, ShardClient};
use pyrite_ingester::{IngesterService, RaftOptions, ShardHost};
use pyrite_promql::Engine;
use pyrite_proto::ingester::ingester_server::IngesterServer;
use pyrite_proto::ingester::raft_server::RaftServer;
use pyrite_querier::{Consistency, ShardedQueryable};
use pyrite_raft::log_store::FsyncPolicy;
use pyrite_raft::network::RaftService;
use pyrite_ring::Ring;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::modules::{build_info, Module};

/// What a clustered process started.
pub struct Cluster {
    pub router: Router,
    pub shards: Option<Arc<ShardHost>>,
    grpc_stop: Option<oneshot::Sender<()>>,
}

impl Cluster {
    /// Stops serving gRPC and shuts the shard replicas down.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.grpc_stop.take() {
            let _ = stop.send(());
        }
        if let Some(host) = &self.shards {
            host.shutdown().await;
        }
    }
}

pub async fn init(cfg: &Config, modules: &[Module], registry: &mut Registry) -> anyhow::Result<Cluster> {
    let ring = Arc::new(RwLock::new(cfg.cluster.ring().context("building the ring")?));
    let channels = Channels::default();
    let client = ShardClient::new(ring.clone(), channels.clone());
    let mut cluster = Cluster {
        router: Router::new().route("/ring", get(ring_page)).with_state(RingState {
            ring: ring.clone(),
            host: None,
        }),
        shards: None,
        grpc_stop: None,
    };
    for m in modules {
        match m {
            Module::Ingester => {
                let node_id = cfg.cluster.node_id;
                if !ring.read().desc().ingesters.contains_key(&node_id) {
                    bail!("--cluster.node-id={node_id} is not among --cluster.ingesters");
                }
                let host = ShardHost::new(node_id, ring.clone());
                let addr: SocketAddr = format!("{}:{}", cfg.server.grpc_listen_address, cfg.server.grpc_listen_port)
                    .parse()
                    .with_context(|| format!("invalid gRPC listen address {}", cfg.server.grpc_listen_address))?;
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding gRPC on {addr}"))?;
                let (stop, stopped) = oneshot::channel::<()>();
                let ingester = IngesterServer::new(IngesterService::new(host.clone()))
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
                let raft = RaftServer::new(RaftService::new(host.groups()))
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
                tokio::spawn(async move {
                    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
                    let served = tonic::transport::Server::builder()
                        .add_service(ingester)
                        .add_service(raft)
                        .serve_with_incoming_shutdown(incoming, async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "gRPC server failed");
                    }
                });
                tracing::info!(%addr, node_id, "serving gRPC");
                let opts = RaftOptions {
                    heartbeat_ms: cfg.cluster.raft_heartbeat.0.as_millis() as u64,
                    election_timeout_min_ms: cfg.cluster.raft_election_timeout.0.as_millis() as u64,
                    election_timeout_max_ms: 2 * cfg.cluster.raft_election_timeout.0.as_millis() as u64,
                    fsync: if cfg.cluster.raft_fsync {
                        FsyncPolicy::Always
                    } else {
                        FsyncPolicy::Never
                    },
                };
                host.open_shards(&cfg.data.dir.join("shards"), &cfg.ingester.head, &opts, &channels)
                    .await
                    .context("opening shard replicas")?;
                let heads_of = host.clone();
                registry.register_collector(Box::new(crate::metrics::HeadCollector(Box::new(move || {
                    heads_of.heads().into_iter().map(|(_, h)| h).collect()
                }))));
                cluster.router = Router::new().route("/ring", get(ring_page)).with_state(RingState {
                    ring: ring.clone(),
                    host: Some(host.clone()),
                });
                cluster.shards = Some(host);
                cluster.grpc_stop = Some(stop);
            }
            Module::Distributor => {
                let router = pyrite_distributor::ShardRouter::new(client.clone(), pyrite_ingester::encode_record);
                let dist = pyrite_distributor::Distributor::new(cfg.distributor.clone(), Arc::new(router), registry);
                cluster.router = cluster.router.merge(pyrite_distributor::routes(Arc::new(dist)));
            }
            Module::Querier => {
                let consistency = match cfg.cluster.read_consistency.as_str() {
                    "linearizable" => Consistency::Linearizable,
                    "follower" => Consistency::Follower,
                    other => bail!("--cluster.read-consistency={other:?}: use linearizable or follower"),
                };
                let state = ApiState {
                    store: Arc::new(ShardedQueryable::new(client.clone(), consistency)),
                    engine: Engine::new(cfg.querier.engine_options()),
                    build_info: build_info(),
                };
                cluster.router = cluster.router.merge(pyrite_api::routes(Arc::new(state)));
            }
            other => bail!("component {other:?} cannot start in this release"),
        }
    }
    Ok(cluster)
}

#[derive(Clone)]
struct RingState {
    ring: Arc<RwLock<Ring>>,
    host: Option<Arc<ShardHost>>,
}

#[derive(Deserialize)]
struct RingQuery {
    format: Option<String>,
}

/// `GET /ring`: the ring as JSON, or `?format=html` as a page; on an ingester also the
/// leader of each local shard as this node sees it.
async fn ring_page(State(s): State<RingState>, Query(q): Query<RingQuery>) -> Response {
    let desc = s.ring.read().desc().clone();
    let mut leaders = Vec::new();
    if let Some(host) = &s.host {
        let probe = tokio::time::timeout(Duration::from_secs(2), host.leaders()).await;
        leaders = probe.unwrap_or_default();
    }
    if q.format.as_deref() == Some("html") {
        let mut html = String::from("<!doctype html><title>Pyrite ring</title><h1>Ring</h1>");
        html.push_str(&format!(
            "<p>version {}, {} tokens per shard</p>",
            desc.version, desc.tokens_per_shard
        ));
        html.push_str("<table border=1><tr><th>shard</th><th>replicas</th><th>leader (as seen here)</th></tr>");
        for shard in desc.shards.values() {
            let replicas: Vec<String> = shard
                .replicas
                .iter()
                .map(|id| {
                    let addr = desc.ingesters.get(id).map_or("?", |i| i.addr.as_str());
                    format!("{id} ({})", html_escape(addr))
                })
                .collect();
            let leader = leaders
                .iter()
                .find(|(s, _)| *s == shard.id)
                .map_or("-".to_string(), |(_, l)| l.map_or("none".into(), |l| l.to_string()));
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                shard.id,
                replicas.join(", "),
                leader
            ));
        }
        html.push_str("</table>");
        return Html(html).into_response();
    }
    let leaders: Vec<serde_json::Value> = leaders
        .into_iter()
        .map(|(shard, leader)| serde_json::json!({"shard": shard, "leader": leader}))
        .collect();
    Json(serde_json::json!({"ring": desc, "local_leaders": leaders})).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
