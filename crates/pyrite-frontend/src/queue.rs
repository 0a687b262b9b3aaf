//! The request queue: one bounded FIFO per tenant, served round-robin across tenants
//! to whichever querier worker asks next. Workers pull one request at a time, so a
//! slow querier simply asks less often; a tenant with a thousand requests waiting
//! gets one turn in every round like a tenant with one.
//!
//! Invariant: a request leaves the queue only to a worker that is about to send it
//! (or because its client went away); [`Queue::requeue`] puts back one a worker could
//! not send, at the head of its tenant's line.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use crate::downstream::{Downstream, Reply, Request};
use crate::metrics::{tenant, FrontendMetrics};
use crate::FrontendError;

/// A request waiting for (or running on) a querier.
pub struct Pending {
    pub id: u64,
    pub req: Request,
    pub reply: oneshot::Sender<Result<Reply, FrontendError>>,
    enqueued: Instant,
}

#[derive(Default)]
struct Lines {
    /// Tenants with requests waiting, in the order they get their next turn.
    turns: VecDeque<String>,
    waiting: HashMap<String, VecDeque<Pending>>,
}

pub struct Queue {
    lines: Mutex<Lines>,
    ready: Notify,
    next_id: AtomicU64,
    max_per_tenant: usize,
    metrics: FrontendMetrics,
}

impl Queue {
    pub fn new(max_per_tenant: usize, metrics: FrontendMetrics) -> Arc<Self> {
        Arc::new(Self {
            lines: Mutex::new(Lines::default()),
            ready: Notify::new(),
            next_id: AtomicU64::new(1),
            max_per_tenant,
            metrics,
        })
    }

    /// Queues `req`; the answer comes on the receiver. A full tenant line refuses.
    pub fn enqueue(&self, req: Request) -> Result<oneshot::Receiver<Result<Reply, FrontendError>>, FrontendError> {
        let (tx, rx) = oneshot::channel();
        let t = req.tenant.clone();
        {
            let mut g = self.lines.lock();
            let line = g.waiting.entry(t.clone()).or_default();
            if line.len() >= self.max_per_tenant {
                self.metrics.discarded_requests.get_or_create(&tenant(&t)).inc();
                return Err(FrontendError::TooManyOutstanding(t));
            }
            line.push_back(Pending {
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                req,
                reply: tx,
                enqueued: Instant::now(),
            });
            if line.len() == 1 {
                g.turns.push_back(t.clone());
            }
        }
        self.metrics.queue_length.get_or_create(&tenant(&t)).inc();
        self.ready.notify_one();
        Ok(rx)
    }

    /// Requests waiting now, across tenants.
    pub fn len(&self) -> usize {
        self.lines.lock().waiting.values().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take(&self) -> Option<Pending> {
        let mut g = self.lines.lock();
        while let Some(t) = g.turns.pop_front() {
            let Some(line) = g.waiting.get_mut(&t) else { continue };
            let mut found = None;
            while let Some(p) = line.pop_front() {
                self.metrics.queue_length.get_or_create(&tenant(&t)).dec();
                if !p.reply.is_closed() {
                    found = Some(p);
                    break;
                }
            }
            if line.is_empty() {
                g.waiting.remove(&t);
            } else {
                g.turns.push_back(t.clone());
            }
            if let Some(p) = found {
                self.metrics
                    .queue_duration
                    .get_or_create(&tenant(&t))
                    .observe(p.enqueued.elapsed().as_secs_f64());
                return Some(p);
            }
        }
        None
    }

    /// The next request in round-robin order, waiting for one if need be. Cancel-safe:
    /// dropping the future takes nothing out of the queue.
    pub async fn next(&self) -> Pending {
        loop {
            let ready = self.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            if let Some(p) = self.take() {
                // Others may be waiting for what is left.
                if !self.is_empty() {
                    self.ready.notify_one();
                }
                return p;
            }
            ready.await;
        }
    }

    /// Puts back a request a worker took but could not send.
    pub fn requeue(&self, p: Pending) {
        let t = p.req.tenant.clone();
        {
            let mut g = self.lines.lock();
            let line = g.waiting.entry(t.clone()).or_default();
            line.push_front(p);
            if line.len() == 1 {
                g.turns.push_front(t.clone());
            }
        }
        self.metrics.queue_length.get_or_create(&tenant(&t)).inc();
        self.ready.notify_one();
    }
}

/// The queue as the frontend's [`Downstream`]: waits for a worker's answer, retrying
/// when a querier fails or goes away.
pub struct Queued {
    pub queue: Arc<Queue>,
    pub max_retries: u32,
    pub timeout: Duration,
    pub metrics: FrontendMetrics,
}

/// Whether a querier's answer is worth asking again for: its own failures, not the
/// query's (bad data, limits) nor a timeout or cancellation that would only recur.
fn retryable(r: &Reply) -> bool {
    if r.status < 500 {
        return false;
    }
    let kind = serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["errorType"].as_str().map(str::to_string));
    !matches!(kind.as_deref(), Some("timeout" | "canceled"))
}

#[async_trait]
impl Downstream for Queued {
    async fn run(&self, req: Request) -> Result<Reply, FrontendError> {
        let mut attempt = 0;
        loop {
            let rx = self.queue.enqueue(req.clone())?;
            let outcome = match tokio::time::timeout(self.timeout, rx).await {
                Err(_) => return Err(FrontendError::Timeout),
                Ok(Err(_)) => Err(FrontendError::QuerierLost("the request was dropped".into())),
                Ok(Ok(r)) => r,
            };
            let again = match &outcome {
                Ok(r) => retryable(r),
                Err(FrontendError::QuerierLost(_)) => true,
                Err(_) => false,
            };
            if !again || attempt >= self.max_retries {
                return outcome;
            }
            attempt += 1;
            self.metrics.retries.get_or_create(&tenant(&req.tenant)).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(t: &str, q: &str) -> Request {
        Request::instant(t, q, 0)
    }

    #[tokio::test]
    async fn tenants_take_turns_and_lines_are_bounded() {
        let q = Queue::new(3, FrontendMetrics::default());
        let mut keep = Vec::new();
        for i in 0..3 {
            keep.push(q.enqueue(req("heavy", &format!("h{i}"))).unwrap());
        }
        assert!(matches!(
            q.enqueue(req("heavy", "h3")),
            Err(FrontendError::TooManyOutstanding(_))
        ));
        keep.push(q.enqueue(req("light", "l0")).unwrap());
        let order: Vec<String> = [(); 4]
            .iter()
            .map(|_| {
                let p = q.take().unwrap();
                format!("{}:{}", p.req.tenant, p.req.params)
            })
            .collect();
        assert!(
            order[0].starts_with("heavy") && order[1].starts_with("light"),
            "{order:?}"
        );
        assert!(q.take().is_none());
    }

    #[tokio::test]
    async fn canceled_requests_are_skipped_and_requeue_goes_first() {
        let q = Queue::new(10, FrontendMetrics::default());
        let gone = q.enqueue(req("a", "gone")).unwrap();
        let _kept = q.enqueue(req("a", "kept")).unwrap();
        drop(gone);
        let p = q.next().await;
        assert!(p.req.params.contains("kept"));
        q.requeue(p);
        let _other = q.enqueue(req("b", "other")).unwrap();
        assert!(q.next().await.req.params.contains("kept"));
        assert!(q.next().await.req.params.contains("other"));
    }

    #[tokio::test]
    async fn a_waiting_worker_wakes_for_new_work() {
        let q = Queue::new(10, FrontendMetrics::default());
        let q2 = q.clone();
        let worker = tokio::spawn(async move { q2.next().await.req.params });
        tokio::task::yield_now().await;
        let _rx = q.enqueue(req("a", "x")).unwrap();
        assert!(worker.await.unwrap().contains("query=x"));
    }
}
