//! Queriers pulling work: the frontend's `Frontend.Process` service hands queued
//! requests to connected workers one at a time, and the querier side
//! ([`workers`]) runs them through the querier's own HTTP API.
//!
//! Invariant: a worker has at most one request at a time, and a request whose client
//! went away is canceled on the worker (which drops its evaluation) rather than left
//! to run.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;
use pyrite_proto::frontend as pb;
use pyrite_proto::frontend::frontend_client::FrontendClient;
use pyrite_proto::frontend::frontend_server::Frontend;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::downstream::{Reply, Request};
use crate::queue::{Pending, Queue};
use crate::{error_reply, FrontendError};

type Outbound = Pin<Box<dyn Stream<Item = Result<pb::FrontendMessage, Status>> + Send>>;

/// The frontend's side of the workers' streams.
pub struct FrontendService {
    queue: Arc<Queue>,
    metrics: crate::metrics::FrontendMetrics,
}

impl FrontendService {
    pub fn new(queue: Arc<Queue>, metrics: crate::metrics::FrontendMetrics) -> Self {
        Self { queue, metrics }
    }
}

#[tonic::async_trait]
impl Frontend for FrontendService {
    type ProcessStream = Outbound;

    async fn process(
        &self,
        request: tonic::Request<Streaming<pb::WorkerMessage>>,
    ) -> Result<tonic::Response<Outbound>, Status> {
        let mut inbound = request.into_inner();
        let querier = match inbound.message().await? {
            Some(pb::WorkerMessage {
                msg: Some(pb::worker_message::Msg::Hello(h)),
            }) => h.querier_id,
            _ => return Err(Status::invalid_argument("a worker opens with Hello")),
        };
        let (tx, rx) = mpsc::channel(2);
        let queue = self.queue.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            metrics.connected_workers.inc();
            serve_worker(&queue, &mut inbound, &tx).await;
            metrics.connected_workers.dec();
            tracing::debug!(%querier, "querier worker disconnected");
        });
        Ok(tonic::Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

type Tx = mpsc::Sender<Result<pb::FrontendMessage, Status>>;

async fn serve_worker(queue: &Queue, inbound: &mut Streaming<pb::WorkerMessage>, tx: &Tx) {
    loop {
        let mut p: Pending = tokio::select! {
            p = queue.next() => p,
            _ = tx.closed() => return,
        };
        let job = pb::Job {
            id: p.id,
            tenant: p.req.tenant.clone(),
            path: p.req.path.clone(),
            params: p.req.params.clone(),
        };
        let msg = pb::FrontendMessage {
            msg: Some(pb::frontend_message::Msg::Job(job)),
        };
        if tx.send(Ok(msg)).await.is_err() {
            queue.requeue(p);
            return;
        }
        let mut canceled = false;
        loop {
            tokio::select! {
                m = inbound.message() => match m {
                    Ok(Some(pb::WorkerMessage { msg: Some(pb::worker_message::Msg::Result(r)) })) if r.id == p.id => {
                        let _ = p.reply.send(Ok(Reply { status: r.status as u16, body: r.body }));
                        break;
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => {
                        let _ = p.reply.send(Err(FrontendError::QuerierLost("the querier went away".into())));
                        return;
                    }
                },
                _ = p.reply.closed(), if !canceled => {
                    canceled = true;
                    let cancel = pb::FrontendMessage { msg: Some(pb::frontend_message::Msg::Cancel(p.id)) };
                    if tx.send(Ok(cancel)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Runs a request on the querier.
#[async_trait]
pub trait Executor: Send + Sync {
    async fn execute(&self, req: Request) -> Reply;
}

/// Runs requests through an HTTP router (the querier's Prometheus API) in-process.
pub struct RouterExecutor(pub axum::Router);

#[async_trait]
impl Executor for RouterExecutor {
    async fn execute(&self, req: Request) -> Reply {
        use tower::ServiceExt;
        let uri = format!("{}?{}", req.path, req.params);
        let http = axum::http::Request::get(uri)
            .header(pyrite_model::TENANT_HEADER, req.tenant.as_str())
            .body(axum::body::Body::empty());
        let http = match http {
            Ok(h) => h,
            Err(e) => return error_reply(400, "bad_data", &format!("invalid request: {e}")),
        };
        let resp = match self.0.clone().oneshot(http).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status().as_u16();
        match axum::body::to_bytes(resp.into_body(), usize::MAX).await {
            Ok(body) => Reply { status, body },
            Err(e) => error_reply(500, "internal", &format!("reading the answer: {e}")),
        }
    }
}

/// Counters of a querier's workers.
#[derive(Clone, Default)]
pub struct WorkerMetrics {
    pub in_flight: prometheus_client::metrics::gauge::Gauge,
    pub jobs: prometheus_client::metrics::counter::Counter,
    pub canceled: prometheus_client::metrics::counter::Counter,
}

impl WorkerMetrics {
    pub fn register(registry: &mut prometheus_client::registry::Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("pyrite_querier_worker");
        r.register(
            "in_flight",
            "Frontend requests running on this querier.",
            m.in_flight.clone(),
        );
        r.register("requests", "Frontend requests this querier ran.", m.jobs.clone());
        r.register(
            "canceled",
            "Frontend requests dropped mid-run because their client went away.",
            m.canceled.clone(),
        );
        m
    }
}

/// `workers` connections from this querier to the frontend at `address` (`host:port`
/// of its gRPC), each running one request at a time and reconnecting whenever the
/// frontend goes away; they run while the returned future is polled, and dropping it
/// closes them (and cancels the requests they run).
pub fn workers(
    address: &str,
    workers: usize,
    querier_id: &str,
    exec: Arc<dyn Executor>,
    metrics: WorkerMetrics,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let url = if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    };
    let loops = (0..workers.max(1)).map(move |_| {
        let (url, id, exec, metrics) = (url.clone(), querier_id.to_string(), exec.clone(), metrics.clone());
        async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match work(&url, &id, exec.as_ref(), &metrics).await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(e) => {
                        tracing::debug!(frontend = %url, error = %e, "frontend connection ended");
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    });
    let loops: Vec<_> = loops.collect();
    async move {
        futures::future::join_all(loops).await;
    }
}

async fn work(url: &str, id: &str, exec: &dyn Executor, metrics: &WorkerMetrics) -> Result<(), FrontendError> {
    let lost = |e: String| FrontendError::QuerierLost(e);
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .map_err(|e| lost(e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| lost(e.to_string()))?;
    let mut client = FrontendClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let (tx, rx) = mpsc::channel(2);
    let hello = pb::WorkerMessage {
        msg: Some(pb::worker_message::Msg::Hello(pb::Hello {
            querier_id: id.to_string(),
        })),
    };
    tx.send(hello).await.map_err(|e| lost(e.to_string()))?;
    let mut inbound = client
        .process(ReceiverStream::new(rx))
        .await
        .map_err(|e| lost(e.message().to_string()))?
        .into_inner();
    while let Some(m) = inbound.message().await.map_err(|e| lost(e.message().to_string()))? {
        let Some(pb::frontend_message::Msg::Job(job)) = m.msg else {
            continue;
        };
        metrics.in_flight.inc();
        metrics.jobs.inc();
        let req = Request {
            tenant: job.tenant,
            path: job.path,
            params: job.params,
        };
        // `run` lives in this block: a canceled evaluation is dropped before answering.
        let reply = {
            let run = exec.execute(req);
            tokio::pin!(run);
            loop {
                tokio::select! {
                    r = &mut run => break r,
                    m = inbound.message() => match m {
                        Ok(Some(pb::FrontendMessage { msg: Some(pb::frontend_message::Msg::Cancel(c)) })) if c == job.id => {
                            metrics.canceled.inc();
                            break error_reply(499, "canceled", "query was canceled: the client went away");
                        }
                        Ok(Some(_)) => continue,
                        Ok(None) | Err(_) => {
                            metrics.in_flight.dec();
                            return Err(lost("the frontend went away".into()));
                        }
                    },
                }
            }
        };
        metrics.in_flight.dec();
        let result = pb::WorkerMessage {
            msg: Some(pb::worker_message::Msg::Result(pb::JobResult {
                id: job.id,
                status: u32::from(reply.status),
                body: reply.body,
            })),
        };
        tx.send(result).await.map_err(|e| lost(e.to_string()))?;
    }
    Ok(())
}
