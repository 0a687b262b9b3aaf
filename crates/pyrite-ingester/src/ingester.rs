//! A durable head: every write is recorded in the log, then applied to the head, by one
//! writer thread that commits many concurrent writes with a single log append (group
//! commit).
//!
//! Invariant: the head sees writes in exactly log order, and a write is acknowledged
//! only after its log append returned; replaying the log on start therefore rebuilds
//! the head that acknowledged those writes.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread;

use async_trait::async_trait;
use pyrite_model::{Matcher, TimeSeries};
use pyrite_storage::{AppendError, AppendOutcome, Appendable, Queryable, SelectHints, Series, StorageError};
use pyrite_tsdb::{Head, HeadOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::codec;
use crate::wal::{FileLog, LogError, WalOptions, WriteLog};

/// Ingester settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterOptions {
    pub head: HeadOptions,
    pub wal: WalOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum IngesterError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("cannot start the ingester's writer thread: {0}")]
    Thread(std::io::Error),
}

struct Job {
    record: Vec<u8>,
    tenant: String,
    series: Vec<TimeSeries>,
    done: oneshot::Sender<Result<AppendOutcome, AppendError>>,
}

/// Most writes folded into one log append.
const MAX_GROUP: usize = 256;

/// The head plus its write-ahead log.
pub struct Ingester {
    head: Arc<Head>,
    jobs: std_mpsc::SyncSender<Job>,
}

impl Ingester {
    /// Opens the log under `dir`, replays it into a fresh head, and starts the writer.
    pub fn open(dir: &Path, opts: IngesterOptions) -> Result<Self, IngesterError> {
        let log = FileLog::open(dir, opts.wal.clone())?;
        Self::with_log(Arc::new(log), opts.head)
    }

    /// Builds an ingester over any log (the file log today, a Raft log tomorrow).
    pub fn with_log(log: Arc<dyn WriteLog>, head_opts: HeadOptions) -> Result<Self, IngesterError> {
        let head = Arc::new(Head::new(head_opts));
        let started = std::time::Instant::now();
        let mut bad = 0u64;
        let replayed = log.replay(&mut |rec| match codec::decode(rec) {
            Ok(w) => {
                head.apply(&w.tenant, &w.series);
            }
            Err(e) => {
                bad += 1;
                tracing::error!(error = %e, "skipping undecodable write-ahead log record");
            }
        })?;
        let st = head.stats();
        tracing::info!(
            records = replayed,
            undecodable = bad,
            series = st.series,
            samples = st.samples,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "replayed write-ahead log"
        );

        let (tx, rx) = std_mpsc::sync_channel::<Job>(4 * MAX_GROUP);
        let writer_head = head.clone();
        thread::Builder::new()
            .name("pyrite-wal-writer".into())
            .spawn(move || writer_loop(rx, log, writer_head))
            .map_err(IngesterError::Thread)?;
        Ok(Self { head, jobs: tx })
    }

    pub fn head(&self) -> &Arc<Head> {
        &self.head
    }
}

fn writer_loop(rx: std_mpsc::Receiver<Job>, log: Arc<dyn WriteLog>, head: Arc<Head>) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    let mut records: Vec<Vec<u8>> = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = rx.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        records.extend(group.iter_mut().map(|j| std::mem::take(&mut j.record)));
        let logged = log.append(&records);
        records.clear();
        for job in group.drain(..) {
            let result = match &logged {
                Ok(()) => Ok(head.apply(&job.tenant, &job.series)),
                Err(e) => Err(AppendError::Unavailable(e.to_string())),
            };
            // The sender may have gone away (client disconnected); the write still landed.
            let _ = job.done.send(result);
        }
        if let Err(e) = logged {
            tracing::error!(error = %e, "write-ahead log append failed; refusing writes");
        }
    }
}

#[async_trait]
impl Appendable for Ingester {
    async fn append(&self, tenant: &str, series: Vec<TimeSeries>) -> Result<AppendOutcome, AppendError> {
        let record = codec::encode(tenant, &series);
        let (done, wait) = oneshot::channel();
        let job = Job {
            record,
            tenant: tenant.to_string(),
            series,
            done,
        };
        let jobs = self.jobs.clone();
        // The channel is bounded: when the writer falls behind, senders wait here
        // (off the async runtime's threads) instead of queueing without limit.
        tokio::task::spawn_blocking(move || jobs.send(job))
            .await
            .map_err(|e| AppendError::Internal(format!("write submission task failed: {e}")))?
            .map_err(|_| AppendError::Unavailable("ingester writer has stopped".into()))?;
        wait.await
            .map_err(|_| AppendError::Internal("ingester writer dropped a write".into()))?
    }
}

#[async_trait]
impl Queryable for Ingester {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        self.head.select(tenant, hints, matchers).await
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        Queryable::label_names(self.head.as_ref(), tenant, start, end, matchers).await
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        Queryable::label_values(self.head.as_ref(), tenant, name, start, end, matchers).await
    }
}

#[cfg(test)]
mod tests {
    use pyrite_model::{Labels, Sample};

    use super::*;

    fn write(name: &str, samples: &[(i64, f64)]) -> Vec<TimeSeries> {
        vec![TimeSeries::floats(
            Labels::from_pairs(&[("__name__", name)]),
            samples.iter().map(|(t, v)| Sample::new(*t, *v)).collect(),
        )]
    }

    async fn read(ing: &Ingester, tenant: &str, name: &str) -> Vec<(i64, f64)> {
        let got = ing
            .select(tenant, SelectHints::all(), &[Matcher::equal("__name__", name)])
            .await
            .unwrap();
        got.iter().flat_map(|s| s.iter().collect::<Vec<_>>()).collect()
    }

    #[tokio::test]
    async fn acknowledged_writes_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ing = Ingester::open(dir.path(), IngesterOptions::default()).unwrap();
            let out = ing.append("t", write("m", &[(1, 1.0), (2, 2.0)])).await.unwrap();
            assert_eq!(out.samples_written, 2);
            let out = ing.append("t", write("m", &[(1, 5.0), (3, 3.0)])).await.unwrap();
            assert_eq!((out.samples_written, out.samples_rejected), (1, 1));
            ing.append("other", write("m", &[(9, 9.0)])).await.unwrap();
        }
        let ing = Ingester::open(dir.path(), IngesterOptions::default()).unwrap();
        assert_eq!(read(&ing, "t", "m").await, [(1, 1.0), (2, 2.0), (3, 3.0)]);
        assert_eq!(read(&ing, "other", "m").await, [(9, 9.0)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_are_all_applied() {
        let dir = tempfile::tempdir().unwrap();
        let ing = Arc::new(Ingester::open(dir.path(), IngesterOptions::default()).unwrap());
        let mut tasks = Vec::new();
        for w in 0..8 {
            let ing = ing.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    ing.append("t", write(&format!("m{w}"), &[(i, i as f64)]))
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for w in 0..8 {
            assert_eq!(read(&ing, "t", &format!("m{w}")).await.len(), 50);
        }
        drop(ing);
        let ing = Ingester::open(dir.path(), IngesterOptions::default()).unwrap();
        assert_eq!(ing.head().stats().samples, 400);
    }
}
