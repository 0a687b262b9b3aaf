//! Wiring for a cluster: ingesters host Raft shard replicas and serve gRPC; distributors
//! and queriers reach them through the ring. Every component can run alone
//! (`--target=distributor`) or with others in one process. A standalone process (no
//! `--cluster.ingesters`) is a one-ingester cluster whose distributor and querier reach
//! its shards in-process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::RwLock;
use prometheus_client::registry::Registry;
use pyrite_api::ApiState;
use pyrite_client::{Channels, ShardClient};
use pyrite_compactor::{Compactor, CompactorOptions};
use pyrite_distributor::ShardRouter;
use pyrite_ingester::membership::load_ring;
use pyrite_ingester::{HostSettings, IngesterService, LocalShards, RaftOptions, ShardHost};
use pyrite_promql::Engine;
use pyrite_proto::ingester::ingester_server::IngesterServer;
use pyrite_proto::ingester::raft_server::RaftServer;
use pyrite_proto::ingester::store_gateway_server::StoreGatewayServer;
use pyrite_querier::{Consistency, ShardedQueryable};
use pyrite_raft::log_store::FsyncPolicy;
use pyrite_raft::network::RaftService;
use pyrite_ring::change::RingChange;
use pyrite_ring::Ring;
use pyrite_storage::{Appendable, Fanout, QueryShards, Queryable};
use pyrite_storegateway::service::GatewayService;
use pyrite_storegateway::{BucketStore, GatewayQueryable};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::admin::{require_admin, AdminToken, TOKEN_ENV};
use crate::config::{Config, ReadConsistency};
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

/// How often every process looks for a newer ring.
const RING_REFRESH: Duration = Duration::from_millis(500);

/// `GET /ring` is open (read-only); `POST /ring/changes` needs the admin token.
fn ring_routes(state: RingState, admin: AdminToken) -> Router {
    let changes = post(change_ring).layer(axum::middleware::from_fn_with_state(admin, require_admin));
    Router::new()
        .route("/ring", get(ring_page))
        .route("/ring/changes", changes)
        .with_state(state)
}

pub async fn init(
    cfg: &Config,
    modules: &[Module],
    standalone: bool,
    registry: &mut Registry,
) -> anyhow::Result<Cluster> {
    // The flags give the ring a new cluster starts with; an ingester that has followed
    // the ring before resumes from the one it kept.
    let mut initial = cfg.cluster.ring().context("building the ring")?;
    let shards_dir = cfg.data.dir.join("shards");
    if modules.contains(&Module::Ingester) {
        if let Some(saved) = load_ring(&shards_dir).context("reading the kept ring")? {
            if saved.version > initial.desc().version {
                initial = Ring::new(saved).context("the kept ring")?;
            }
        }
    }
    let ring = Arc::new(RwLock::new(initial));
    // The frontend's queue exists from the start: an ingester in the same process
    // serves the frontend's gRPC on its own server.
    let limits = Arc::new(cfg.limits());
    let frontend = if modules.contains(&Module::QueryFrontend) {
        Some(crate::frontend::Parts::new(cfg, limits.clone(), registry)?)
    } else {
        None
    };
    let bucket = crate::blocks::open_bucket(cfg, !standalone)?;
    let channels = Channels::default();
    let client = ShardClient::new(ring.clone(), channels.clone());
    let admin = AdminToken::load(&cfg.cluster.admin_token_file, std::env::var(TOKEN_ENV).ok())?;
    match (admin.is_configured(), cfg.cluster.admin_token_file.is_empty()) {
        (false, _) => tracing::info!(
            "no admin token (--cluster.admin-token-file or {TOKEN_ENV}): POST /ring/changes is refused here"
        ),
        (true, false) => tracing::info!(file = %cfg.cluster.admin_token_file, "ring changes need the admin token"),
        (true, true) => tracing::info!("ring changes need the admin token (from {TOKEN_ENV})"),
    }
    let mut cluster = Cluster {
        router: ring_routes(
            RingState {
                client: client.clone(),
                host: None,
            },
            admin.clone(),
        ),
        shards: None,
        grpc_stop: None,
    };
    if !modules.contains(&Module::Ingester) && !standalone {
        // Learn the current ring before serving, then keep following it.
        match tokio::time::timeout(Duration::from_secs(5), client.refresh_ring()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e.message(), "could not fetch the ring yet; using the flags' ring"),
            Err(_) => tracing::warn!("could not fetch the ring yet; using the flags' ring"),
        }
        tokio::spawn(client.clone().follow_ring(RING_REFRESH));
    }
    for m in modules {
        match m {
            Module::Ingester => {
                let node_id = cfg.cluster.node_id;
                let listed = ring.read().desc().ingesters.get(&node_id).map(|i| i.addr.clone());
                let advertise = match (cfg.cluster.advertise_address.as_str(), listed.as_ref()) {
                    ("", Some(addr)) => addr.clone(),
                    ("", None) => format!("{}:{}", cfg.server.grpc_listen_address, cfg.server.grpc_listen_port),
                    (addr, _) => addr.to_string(),
                };
                if advertise.starts_with("0.0.0.0:") {
                    bail!("ingester {node_id} is not in --cluster.ingesters: give it --cluster.advertise-address");
                }
                if node_id == 0 {
                    bail!("--cluster.node-id must be set (and unique) on an ingester");
                }
                let opts = RaftOptions {
                    heartbeat_ms: cfg.cluster.raft_heartbeat.0.as_millis() as u64,
                    election_timeout_min_ms: cfg.cluster.raft_election_timeout.0.as_millis() as u64,
                    election_timeout_max_ms: 2 * cfg.cluster.raft_election_timeout.0.as_millis() as u64,
                    fsync: if cfg.cluster.raft_fsync {
                        FsyncPolicy::Always
                    } else {
                        FsyncPolicy::Never
                    },
                    snapshot_entries: cfg.cluster.raft_snapshot_entries,
                };
                let settings = HostSettings {
                    dir: shards_dir.clone(),
                    head: pyrite_tsdb::HeadOptions {
                        // As Prometheus's head: appendable back to half a block range.
                        appendable_window_ms: cfg.blocks.range.0.as_millis() as i64 / 2,
                        ..cfg.ingester.head.clone()
                    },
                    raft: opts,
                    blocks: bucket.clone().map(|b| crate::blocks::block_settings(cfg, b)),
                };
                let host = ShardHost::new(node_id, client.clone(), settings);
                let ingester = IngesterServer::new(IngesterService::new(host.clone()))
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
                let raft = RaftServer::new(RaftService::new(host.groups()))
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
                let mut grpc = tonic::transport::Server::builder()
                    .add_service(ingester)
                    .add_service(raft);
                if let Some(f) = &frontend {
                    grpc = grpc.add_service(f.grpc_service());
                }
                let (addr, stop) = serve_grpc(cfg, grpc).await?;
                tracing::info!(%addr, node_id, "serving gRPC");
                host.open_meta().await.context("opening the metadata group")?;
                host.open_shards().await.context("opening shard replicas")?;
                if listed.is_none() {
                    tracing::info!(node_id, %advertise, "joining the cluster");
                    host.join(&advertise, Duration::from_secs(120))
                        .await
                        .map_err(|e| anyhow::anyhow!("joining the cluster: {}", e.message()))?;
                }
                if standalone {
                    host.wait_to_lead_all(Duration::from_secs(60))
                        .await
                        .context("electing this process leader of its own shards")?;
                }
                tokio::spawn(host.clone().follow_ring(RING_REFRESH));
                tokio::spawn(host.clone().cut_blocks());
                host.register_metrics(registry);
                let heads_of = host.clone();
                registry.register_collector(Box::new(crate::metrics::HeadCollector(Box::new(move || {
                    heads_of.heads().into_iter().map(|(_, h)| h).collect()
                }))));
                cluster.router = ring_routes(
                    RingState {
                        client: client.clone(),
                        host: Some(host.clone()),
                    },
                    admin.clone(),
                );
                cluster.shards = Some(host);
                cluster.grpc_stop = Some(stop);
            }
            Module::Distributor => {
                let store: Arc<dyn Appendable> = match (&cluster.shards, standalone) {
                    (Some(host), true) => Arc::new(LocalShards::new(host.clone())),
                    _ => Arc::new(ShardRouter::new(client.clone(), pyrite_ingester::encode_record)),
                };
                let dist = pyrite_distributor::Distributor::with_limits(
                    cfg.distributor.clone(),
                    limits.clone(),
                    store,
                    registry,
                );
                cluster.router = cluster.router.merge(pyrite_distributor::routes(Arc::new(dist)));
            }
            Module::Querier => {
                let consistency = match cfg.cluster.read_consistency {
                    ReadConsistency::Linearizable => Consistency::Linearizable,
                    ReadConsistency::Follower => Consistency::Follower,
                };
                let mut store: Arc<dyn Queryable> = match (&cluster.shards, standalone) {
                    (Some(host), true) => Arc::new(LocalShards::new(host.clone())),
                    _ => Arc::new(ShardedQueryable::new(client.clone(), consistency)),
                };
                if let Some(bucket) = &bucket {
                    // Recent data from the heads, older data from the blocks (through the
                    // store gateways when there are any), merged.
                    let blocks = Arc::new(BucketStore::new(bucket.clone(), cfg.blocks.sync_interval.0));
                    let gateways = cfg.store_gateway.addresses();
                    let blocks: Arc<dyn Queryable> = if gateways.is_empty() || standalone {
                        blocks
                    } else {
                        let rf = cfg.store_gateway.replication_factor;
                        Arc::new(GatewayQueryable::new(blocks, gateways, rf, channels.clone()))
                    };
                    // Object storage being unreachable leaves the blocks out of an
                    // answer, with a warning, instead of failing what the heads hold.
                    store = Arc::new(Fanout::new(vec![store]).or_partial(blocks, "object storage"));
                }
                // Selectors may name a query shard (`__query_shard__`): the frontend's
                // sharded queries read only their shard's series.
                let store: Arc<dyn Queryable> = Arc::new(QueryShards::new(store));
                let state = ApiState {
                    store,
                    engine: Engine::new(cfg.querier.engine_options()),
                    build_info: build_info(),
                };
                let api = pyrite_api::routes(Arc::new(state));
                crate::frontend::start_querier_workers(cfg, modules, api.clone(), registry);
                // Beside a frontend, the frontend answers the API and this querier works
                // for it.
                if !modules.contains(&Module::QueryFrontend) {
                    cluster.router = cluster.router.merge(api);
                }
            }
            Module::QueryFrontend => {
                let Some(f) = &frontend else {
                    bail!("the frontend's parts were not set up");
                };
                cluster.router = cluster.router.merge(f.routes());
                if !modules.contains(&Module::Ingester) {
                    let (addr, stop) =
                        serve_grpc(cfg, tonic::transport::Server::builder().add_service(f.grpc_service())).await?;
                    tracing::info!(%addr, "query frontend serving gRPC for querier workers");
                    cluster.grpc_stop = Some(stop);
                }
            }
            // Beside an ingester (one process, or `all` in a cluster) the querier reads the
            // bucket itself; gateways serve from processes of their own.
            Module::StoreGateway if modules.contains(&Module::Ingester) => {
                tracing::info!("no separate store gateway here: this process's querier reads the bucket itself");
            }
            Module::StoreGateway => {
                let Some(bucket) = &bucket else {
                    bail!("the store gateway needs a bucket (--blocks.backend)");
                };
                let store = Arc::new(BucketStore::new(bucket.clone(), cfg.blocks.sync_interval.0));
                let service = StoreGatewayServer::new(GatewayService::new(store))
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
                let (addr, stop) = serve_grpc(cfg, tonic::transport::Server::builder().add_service(service)).await?;
                tracing::info!(%addr, "store gateway serving gRPC");
                cluster.grpc_stop = Some(stop);
            }
            // `all` without a bucket keeps its blocks nowhere: nothing to compact.
            Module::Compactor if bucket.is_none() && modules.contains(&Module::Ingester) => {
                tracing::info!("no bucket (--blocks.backend=none): no compactor");
            }
            Module::Compactor => {
                let Some(bucket) = &bucket else {
                    bail!("the compactor needs a bucket (--blocks.backend)");
                };
                let opts = CompactorOptions {
                    ranges: cfg.compactor.ranges(cfg.blocks.range.0).map_err(anyhow::Error::msg)?,
                    limits: limits.clone(),
                    deletion_delay: cfg.compactor.deletion_delay.0,
                };
                let compactor = Compactor::new(bucket.clone(), opts);
                compactor.register_metrics(registry);
                tokio::spawn(compactor.run(cfg.compactor.interval.0));
            }
            other => bail!("component {other:?} cannot start in this release"),
        }
    }
    Ok(cluster)
}

/// Serves `services` on the configured gRPC address until the returned sender is used or
/// dropped.
async fn serve_grpc(
    cfg: &Config,
    services: tonic::transport::server::Router,
) -> anyhow::Result<(SocketAddr, oneshot::Sender<()>)> {
    let addr: SocketAddr = format!("{}:{}", cfg.server.grpc_listen_address, cfg.server.grpc_listen_port)
        .parse()
        .with_context(|| format!("invalid gRPC listen address {}", cfg.server.grpc_listen_address))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding gRPC on {addr}"))?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let served = services
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
    Ok((addr, stop))
}

#[derive(Clone)]
struct RingState {
    client: ShardClient,
    host: Option<Arc<ShardHost>>,
}

/// `POST /ring/changes` (behind the admin token): commits a ring change given as JSON,
/// e.g. `{"op": "set_replicas", "shard": 0, "replicas": [2, 3, 4]}`,
/// `{"op": "add_shard", "replicas": [4, 1, 2]}` or
/// `{"op": "set_metadata_voters", "ingesters": [3, 4, 5]}`; answers the new ring. A
/// change the ring refuses (it could lose data, see `pyrite_ring::change`) is 400.
async fn change_ring(State(s): State<RingState>, body: axum::body::Bytes) -> Response {
    let change: RingChange = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid ring change: {e}\n")).into_response(),
    };
    if !change.is_operator_change() {
        return (
            StatusCode::BAD_REQUEST,
            "bootstrap, settled, drained and metadata_settled are the cluster's own changes\n",
        )
            .into_response();
    }
    match s.client.change_ring(&change).await {
        Ok(desc) => Json(desc).into_response(),
        Err(e) if e.code() == tonic::Code::InvalidArgument => {
            (StatusCode::BAD_REQUEST, format!("{}\n", e.message())).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", e.message())).into_response(),
    }
}

#[derive(Deserialize)]
struct RingQuery {
    format: Option<String>,
}

/// `GET /ring`: the ring as JSON, or `?format=html` as a page; on an ingester also the
/// leader of each local shard as this node sees it.
async fn ring_page(State(s): State<RingState>, Query(q): Query<RingQuery>) -> Response {
    let desc = s.client.ring().read().desc().clone();
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
        html.push_str(&format!(
            "<p>metadata group: {:?} (leaving: {:?})</p>",
            desc.meta, desc.meta_leaving
        ));
        html.push_str(
            "<table border=1><tr><th>shard</th><th>replicas</th><th>leaving</th><th>state</th><th>leader (as seen here)</th></tr>",
        );
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
            let state = match (shard.draining, shard.drained) {
                (_, true) => "drained",
                (true, false) => "draining",
                _ => "serving",
            };
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
                shard.id,
                replicas.join(", "),
                shard.leaving,
                state,
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request};
    use tower::ServiceExt;

    use super::*;

    fn routes(admin: AdminToken) -> Router {
        let desc = pyrite_ring::RingDesc::even(
            vec![pyrite_ring::Ingester {
                id: 1,
                addr: "127.0.0.1:1".into(),
            }],
            1,
            1,
        );
        let ring = Arc::new(RwLock::new(Ring::new(desc).unwrap()));
        let client = ShardClient::new(ring, Channels::default());
        ring_routes(RingState { client, host: None }, admin)
    }

    async fn post(admin: &AdminToken, auth: Option<&str>, body: &str) -> (StatusCode, String, Option<String>) {
        let mut req = Request::post("/ring/changes");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let resp = routes(admin.clone())
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned(), challenge)
    }

    /// A change the handler refuses itself: reaching it means the credential passed.
    const OWN: &str = r#"{"op":"settled","shard":0,"replicas":[1]}"#;

    #[tokio::test]
    async fn ring_changes_need_the_admin_token() {
        let none = AdminToken::default();
        let (status, body, _) = post(&none, Some("Bearer anything"), OWN).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no token configured: nothing passes");
        assert!(body.contains("--cluster.admin-token-file"), "{body}");

        let admin = AdminToken::new("s3cr3t").unwrap();
        let (status, _, challenge) = post(&admin, None, OWN).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"pyrite\""));
        for missing in ["Basic czNjcjN0", "Bearer ", "s3cr3t"] {
            let (status, _, _) = post(&admin, Some(missing), OWN).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "no bearer credential: {missing}");
        }
        for wrong in [
            "Bearer s3cr3",
            "Bearer s3cr3t2",
            "Bearer S3CR3T",
            "Bearer s3cr3t s3cr3t",
        ] {
            let (status, body, _) = post(&admin, Some(wrong), OWN).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{wrong}");
            assert!(!body.contains("s3cr3t"), "the answer never shows the token");
        }
        let (status, body, _) = post(&admin, Some("Bearer s3cr3t"), OWN).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "past the check, the handler answers: {body}"
        );
        assert!(body.contains("the cluster's own changes"), "{body}");
        let (status, _, _) = post(&admin, Some("bearer s3cr3t"), "nonsense").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn the_ring_stays_readable_without_a_token() {
        for admin in [AdminToken::default(), AdminToken::new("s3cr3t").unwrap()] {
            let resp = routes(admin)
                .oneshot(Request::get("/ring").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        }
    }
}
