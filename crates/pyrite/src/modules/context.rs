//! What modules share while they start: the configuration, the bucket, the ring and the
//! client that follows it, the write and read paths, the one HTTP router and the one
//! gRPC server every module adds to, and the background tasks they leave running.
//!
//! The standalone-or-cluster decision is made here, once: without
//! `--cluster.ingesters` the process is a cluster of its own, one ingester holding every
//! shard as a one-replica group, and the write and read paths reach its shards
//! in-process; in a cluster they reach the ring's shards over gRPC.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use object_store::ObjectStore;
use parking_lot::{Mutex, RwLock};
use prometheus_client::registry::Registry;
use pyrite_client::{Channels, ShardClient};
use pyrite_distributor::{CommandEncoders, ShardRouter};
use pyrite_ingester::membership::load_ring;
use pyrite_ingester::{LocalShards, ShardHost};
use pyrite_querier::{Blocks, ShardedQueryable};
use pyrite_ring::Ring;
use pyrite_storage::{Appendable, MetadataReader, Queryable};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Module;
use crate::admin::AdminToken;
use crate::config::Config;

/// How often every process looks for a newer ring.
pub const RING_REFRESH: Duration = Duration::from_millis(500);

/// Background tasks that run until shutdown, all stopped by one token.
#[derive(Clone, Default)]
pub struct Tasks {
    stop: CancellationToken,
    running: Arc<Mutex<JoinSet<()>>>,
}

impl Tasks {
    /// Runs `task` until it ends or shutdown begins.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        self.running.lock().spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Runs the task `start` makes of the shutdown token: a task with steps to take
    /// when shutdown begins (saying goodbye to peers) watches the token itself and
    /// ends within the grace period.
    pub fn spawn_graceful<F, Fut>(&self, start: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let task = start(self.stop.clone());
        self.running.lock().spawn(task);
    }

    /// Stops every task, waiting at most `grace` for them to finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.cancel();
        let mut running = std::mem::take(&mut *self.running.lock());
        let drained = tokio::time::timeout(grace, async { while running.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                ?grace,
                "background tasks still running after the grace period; stopping them"
            );
            running.abort_all();
        }
    }
}

/// Slow steps a module takes once the servers are up (opening shards, joining).
type Start = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

pub struct Context {
    /// The configuration, with a standalone process's own one-ingester cluster filled in.
    pub cfg: Config,
    pub modules: Vec<Module>,
    /// No `--cluster.ingesters`: this process is the whole cluster.
    pub standalone: bool,
    /// Metrics the modules register.
    pub registry: Registry,
    /// The blocks' bucket, if blocks are on; the same one for every module.
    pub bucket: Option<Arc<dyn ObjectStore>>,
    pub channels: Channels,
    /// Reaches shards and the metadata group; shares the ring every module sees.
    pub client: ShardClient,
    pub admin: AdminToken,
    /// Per-tenant limits, shared by every module that enforces one.
    pub limits: Arc<pyrite_limits::Limits>,
    /// This process's shard replicas, once the ingester module has made them.
    pub host: Option<Arc<ShardHost>>,
    /// The frontend's queue and routes, made before any module starts (a querier in
    /// the same process works for it).
    pub frontend: Option<super::query_frontend::Parts>,
    /// Every module's HTTP routes.
    pub http: Router,
    /// Every module's gRPC services, served on one port.
    pub(super) grpc: tonic::service::RoutesBuilder,
    grpc_services: usize,
    pub tasks: Tasks,
    /// What `POST /-/reload` and SIGHUP reload.
    pub reloaders: Vec<super::reload::Reloader>,
    starts: Vec<(Module, Start)>,
}

impl Context {
    pub async fn new(cfg: &Config, modules: Vec<Module>) -> anyhow::Result<Context> {
        let standalone = !cfg.cluster.enabled();
        let mut cfg = cfg.clone();
        if standalone {
            cfg.cluster = cfg.cluster.standalone(&local_grpc_addr(&cfg));
        }
        let ring = Arc::new(RwLock::new(initial_ring(&cfg, &modules)?));
        let bucket = crate::blocks::open_bucket(&cfg, !standalone)?;
        let channels = Channels::default();
        let client = ShardClient::new(ring, channels.clone());
        let admin = AdminToken::load(
            &cfg.cluster.admin_token_file,
            std::env::var(crate::admin::TOKEN_ENV).ok(),
        )?;
        admin.log_where_from(&cfg.cluster.admin_token_file);
        let mut registry = Registry::default();
        let limits = Arc::new(cfg.limits());
        let frontend = match modules.contains(&Module::QueryFrontend) {
            true => Some(super::query_frontend::Parts::new(&cfg, limits.clone(), &mut registry)?),
            false => None,
        };
        let ctx = Context {
            cfg,
            modules,
            standalone,
            registry,
            bucket,
            channels,
            client,
            admin,
            limits,
            host: None,
            frontend,
            http: Router::new(),
            grpc: tonic::service::RoutesBuilder::default(),
            grpc_services: 0,
            tasks: Tasks::default(),
            reloaders: Vec::new(),
            starts: Vec::new(),
        };
        ctx.follow_ring().await;
        Ok(ctx)
    }

    /// A process without an ingester learns the current ring before serving, then
    /// keeps following it (an ingester follows it itself).
    async fn follow_ring(&self) {
        if self.modules.contains(&Module::Ingester) || self.standalone {
            return;
        }
        match tokio::time::timeout(Duration::from_secs(5), self.client.refresh_ring()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e.message(), "could not fetch the ring yet; using the flags' ring"),
            Err(_) => tracing::warn!("could not fetch the ring yet; using the flags' ring"),
        }
        self.tasks.spawn(self.client.clone().follow_ring(RING_REFRESH));
    }

    pub fn runs(&self, m: Module) -> bool {
        self.modules.contains(&m)
    }

    /// Adds routes to the process's HTTP router.
    pub fn serve_http(&mut self, routes: Router) {
        self.http = std::mem::take(&mut self.http).merge(routes);
    }

    /// Adds a service to the process's gRPC server.
    pub fn serve_grpc<S>(&mut self, service: S)
    where
        S: tower::Service<
                axum::http::Request<tonic::body::Body>,
                Response = axum::http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.grpc.add_service(service);
        self.grpc_services += 1;
    }

    pub(super) fn grpc_services(&self) -> usize {
        self.grpc_services
    }

    /// Runs `start` once the servers are up, in module order.
    pub fn on_start(&mut self, module: Module, start: impl Future<Output = anyhow::Result<()>> + Send + 'static) {
        self.starts.push((module, Box::pin(start)));
    }

    pub(super) fn take_starts(&mut self) -> Vec<(Module, Start)> {
        std::mem::take(&mut self.starts)
    }

    /// Where writes go: this process's shards, or the ring's over gRPC.
    pub fn write_path(&self) -> Arc<dyn Appendable> {
        match (&self.host, self.standalone) {
            (Some(host), true) => Arc::new(LocalShards::new(host.clone())),
            _ => Arc::new(ShardRouter::new(
                self.client.clone(),
                CommandEncoders {
                    write: pyrite_ingester::encode_record,
                    known: pyrite_ingester::encode_known_record,
                    metadata: pyrite_ingester::encode_metadata_record,
                },
            )),
        }
    }

    /// Where metric metadata is read: this process's shards, or every shard's leader.
    pub fn metadata_path(&self) -> Arc<dyn MetadataReader> {
        match (&self.host, self.standalone) {
            (Some(host), true) => Arc::new(LocalShards::new(host.clone())),
            _ => Arc::new(ShardedQueryable::new(
                self.client.clone(),
                self.cfg.cluster.read_consistency,
            )),
        }
    }

    /// What queries read: the shards' heads merged with the blocks.
    pub fn read_path(&self) -> Arc<dyn Queryable> {
        let heads: Arc<dyn Queryable> = match (&self.host, self.standalone) {
            (Some(host), true) => Arc::new(LocalShards::new(host.clone())),
            _ => Arc::new(ShardedQueryable::new(
                self.client.clone(),
                self.cfg.cluster.read_consistency,
            )),
        };
        let blocks = self.bucket.clone().map(|bucket| Blocks {
            bucket,
            sync_interval: self.cfg.blocks.sync_interval.0,
            // In one process the querier reads the bucket itself.
            gateways: match self.standalone {
                true => Vec::new(),
                false => self.cfg.store_gateway.addresses(),
            },
            replication_factor: self.cfg.store_gateway.replication_factor,
            channels: self.channels.clone(),
        });
        pyrite_querier::read_path(heads, blocks)
    }
}

/// The ring a process starts from: the flags', or, on an ingester that has followed the
/// ring before, the newer one it kept.
fn initial_ring(cfg: &Config, modules: &[Module]) -> anyhow::Result<Ring> {
    let initial = cfg.cluster.ring().context("building the ring")?;
    if !modules.contains(&Module::Ingester) {
        return Ok(initial);
    }
    match load_ring(&shards_dir(cfg)).context("reading the kept ring")? {
        Some(saved) if saved.version > initial.desc().version => Ring::new(saved).context("the kept ring"),
        _ => Ok(initial),
    }
}

/// Where an ingester keeps its replicas (and the ring it followed).
pub fn shards_dir(cfg: &Config) -> std::path::PathBuf {
    cfg.data.dir.join("shards")
}

/// Where this process's own gRPC is reached: its listen address, or loopback when it
/// listens on every interface.
pub fn local_grpc_addr(cfg: &Config) -> String {
    let host = match cfg.server.grpc_listen_address.as_str() {
        "" | "0.0.0.0" | "::" => "127.0.0.1",
        h => h,
    };
    format!("{host}:{}", cfg.server.grpc_listen_port)
}

/// A listener on `host:port` for the server named `what` (HTTP, gRPC).
pub async fn listen(host: &str, port: u16, what: &str) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .with_context(|| format!("invalid {what} listen address {host}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {what} on {addr}"))?;
    Ok((listener, addr))
}

/// The process's one gRPC server, serving every module's services until stopped.
pub struct GrpcServer {
    stop: CancellationToken,
    served: tokio::task::JoinHandle<()>,
}

impl GrpcServer {
    pub async fn start(cfg: &Config, routes: tonic::service::Routes) -> anyhow::Result<GrpcServer> {
        let s = &cfg.server;
        let (listener, addr) = listen(&s.grpc_listen_address, s.grpc_listen_port, "gRPC").await?;
        tracing::info!(%addr, "serving gRPC");
        let stop = CancellationToken::new();
        let stopped = stop.clone().cancelled_owned();
        let served = tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            let served = tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming, stopped)
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "gRPC server failed");
            }
        });
        Ok(GrpcServer { stop, served })
    }

    /// Stops accepting calls and waits until `deadline` for those under way (streams
    /// that never end, like a query frontend's workers, are cut off then).
    pub async fn shutdown(self, deadline: tokio::time::Instant) {
        self.stop.cancel();
        let abort = self.served.abort_handle();
        if tokio::time::timeout_at(deadline, self.served).await.is_err() {
            tracing::warn!("gRPC calls still running at the end of the grace period; closing them");
            abort.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn shutdown_stops_every_task_within_the_grace_period() {
        let tasks = Tasks::default();
        let looping = Arc::new(AtomicBool::new(true));
        let running = DropFlag(looping.clone());
        // A loop that only ends when it is cancelled…
        tasks.spawn(async move {
            let _running = running;
            std::future::pending::<()>().await
        });
        // …and one that is already done.
        tasks.spawn(async {});
        tasks.shutdown(Duration::from_secs(5)).await;
        assert!(!looping.load(Ordering::SeqCst), "the loop was stopped and dropped");
        // Spawned after shutdown: stopped at once.
        tasks.spawn(std::future::pending::<()>());
        tokio::time::timeout(Duration::from_secs(5), tasks.shutdown(Duration::from_secs(5)))
            .await
            .unwrap();
    }

    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }
}
