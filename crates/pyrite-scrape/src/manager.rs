//! The scrape manager: for each job of the configuration, its discoverers, the merged
//! target groups they report, the targets relabeling makes of them, and one scrape
//! loop per target this node owns. [`Manager::apply`] takes a new configuration: jobs
//! whose configuration is unchanged keep their discoverers, loops and series caches;
//! changed jobs restart without writing staleness markers; removed jobs stop and mark
//! their series stale. Every node runs a loop for every target of its jobs; the
//! [`Ownership`] says which instants of which targets are this node's to scrape
//! ([`SoleOwner`]: all of them; [`PoolOwnership`]: its share among the live members of a
//! pool), and a loop scrapes only those.
//!
//! The invariant: at any time each target of a job runs in at most one loop on this
//! node, and a loop is stopped before another for the same target is started.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use parking_lot::Mutex;
use pyrite_discovery::{Env, TargetGroup};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{ScrapeConfig, ScrapeFile};
use crate::schedule::{now_ms, run, LoopSpec};
use crate::scrape::{SharedStatus, Sink};
use crate::target::{targets, Dropped, Target};
pub use pyrite_members::ownership::{Owner, Ownership, PoolOwnership, SoleOwner};

/// A target of a job as the API shows it.
#[derive(Clone)]
pub struct ActiveTarget {
    pub target: Target,
    pub owner: Owner,
    pub status: SharedStatus,
}

/// What a job looks like now.
#[derive(Clone, Default)]
pub struct JobView {
    pub active: Vec<ActiveTarget>,
    pub dropped: Vec<Dropped>,
    /// Set when the job has more targets than its `target_limit`.
    pub error: Option<String>,
}

struct Job {
    cfg: Arc<ScrapeConfig>,
    tasks: Vec<JoinHandle<()>>,
    /// Tells the job's task to stop its loops: `true` without staleness markers.
    stop: watch::Sender<Option<bool>>,
    view: Arc<Mutex<JobView>>,
}

/// Runs the configured jobs.
pub struct Manager {
    sink: Arc<dyn Sink>,
    ownership: Arc<dyn Ownership>,
    env: Env,
    jobs: Mutex<BTreeMap<String, Job>>,
}

impl Manager {
    pub fn new(sink: Arc<dyn Sink>, ownership: Arc<dyn Ownership>, env: Env) -> Self {
        Manager {
            sink,
            ownership,
            env,
            jobs: Mutex::new(BTreeMap::new()),
        }
    }

    /// Runs `file`'s jobs: unchanged jobs keep running as they are. Errors (a job's
    /// HTTP client or discovery cannot be set up) refuse the whole file, changing nothing.
    pub fn apply(&self, file: &ScrapeFile) -> Result<(), String> {
        // Set up everything first, so a bad job leaves the running ones alone.
        let mut fresh = Vec::new();
        {
            let jobs = self.jobs.lock();
            for cfg in &file.scrape_configs {
                if jobs.get(&cfg.job_name).is_some_and(|j| *j.cfg == *cfg) {
                    continue;
                }
                let client = cfg
                    .http
                    .build(&self.env.base_dir)
                    .map_err(|e| format!("job {:?}: {e}", cfg.job_name))?;
                let discoverers = cfg
                    .sd_lists()
                    .discoverers(&self.env)
                    .map_err(|e| format!("job {:?}: {e}", cfg.job_name))?;
                fresh.push((Arc::new(cfg.clone()), client, discoverers));
            }
        }
        let mut jobs = self.jobs.lock();
        let wanted: std::collections::BTreeSet<&str> =
            file.scrape_configs.iter().map(|c| c.job_name.as_str()).collect();
        let gone: Vec<String> = jobs.keys().filter(|j| !wanted.contains(j.as_str())).cloned().collect();
        for name in gone {
            if let Some(job) = jobs.remove(&name) {
                stop_job(job, false);
            }
        }
        for (cfg, client, discoverers) in fresh {
            if let Some(old) = jobs.remove(&cfg.job_name) {
                stop_job(old, true);
            }
            let job = self.start_job(cfg.clone(), client, discoverers);
            jobs.insert(cfg.job_name.clone(), job);
        }
        Ok(())
    }

    fn start_job(
        &self,
        cfg: Arc<ScrapeConfig>,
        client: pyrite_http_client::HttpClient,
        discoverers: Vec<Box<dyn pyrite_discovery::Discoverer>>,
    ) -> Job {
        let (tx, rx) = mpsc::channel::<(usize, Vec<TargetGroup>)>(16);
        let mut tasks = Vec::new();
        for (i, d) in discoverers.into_iter().enumerate() {
            let (dtx, mut drx) = mpsc::channel(4);
            let tx = tx.clone();
            tasks.push(tokio::spawn(d.run(dtx)));
            tasks.push(tokio::spawn(async move {
                while let Some(groups) = drx.recv().await {
                    if tx.send((i, groups)).await.is_err() {
                        return;
                    }
                }
            }));
        }
        drop(tx);
        let (stop, stop_rx) = watch::channel(None);
        let view = Arc::new(Mutex::new(JobView::default()));
        let runner = JobRunner {
            cfg: cfg.clone(),
            client,
            sink: self.sink.clone(),
            ownership: self.ownership.clone(),
            view: view.clone(),
            loops: HashMap::new(),
            statuses: HashMap::new(),
        };
        tasks.push(tokio::spawn(runner.run(rx, stop_rx)));
        Job { cfg, tasks, stop, view }
    }

    /// Every job's view, by job name, with each target's owner as of now.
    pub fn views(&self) -> BTreeMap<String, (Arc<ScrapeConfig>, JobView)> {
        let now = now_ms();
        self.jobs
            .lock()
            .iter()
            .map(|(n, j)| {
                let mut view = j.view.lock().clone();
                for a in &mut view.active {
                    a.owner = self.ownership.owner(a.target.hash, now);
                }
                (n.clone(), (j.cfg.clone(), view))
            })
            .collect()
    }

    /// Stops every job; with `handed_over`, without staleness markers.
    pub fn stop(&self, handed_over: bool) {
        let jobs = std::mem::take(&mut *self.jobs.lock());
        for job in jobs.into_values() {
            stop_job(job, handed_over);
        }
    }
}

fn stop_job(job: Job, handed_over: bool) {
    let _ = job.stop.send(Some(handed_over));
    // Discoverers stop now; the runner stops its loops and ends by itself.
    let n = job.tasks.len();
    for (i, t) in job.tasks.into_iter().enumerate() {
        if i + 1 < n {
            t.abort();
        }
    }
}

struct Loop {
    stop: watch::Sender<Option<bool>>,
    task: JoinHandle<()>,
}

struct JobRunner {
    cfg: Arc<ScrapeConfig>,
    client: pyrite_http_client::HttpClient,
    sink: Arc<dyn Sink>,
    ownership: Arc<dyn Ownership>,
    view: Arc<Mutex<JobView>>,
    loops: HashMap<u64, Loop>,
    statuses: HashMap<u64, SharedStatus>,
}

/// How long a burst of discovery updates is gathered before targets are recomputed.
const SETTLE: StdDuration = StdDuration::from_millis(200);

impl JobRunner {
    async fn run(
        mut self,
        mut updates: mpsc::Receiver<(usize, Vec<TargetGroup>)>,
        mut stop: watch::Receiver<Option<bool>>,
    ) {
        let mut groups: BTreeMap<String, TargetGroup> = BTreeMap::new();
        let mut owners = self.ownership.changes();
        let mut discovery_open = true;
        loop {
            tokio::select! {
                u = updates.recv(), if discovery_open => match u {
                    Some((provider, gs)) => {
                        merge(&mut groups, provider, gs);
                        // Gather what else arrives right behind it.
                        let deadline = tokio::time::sleep(SETTLE);
                        tokio::pin!(deadline);
                        loop {
                            tokio::select! {
                                _ = &mut deadline => break,
                                more = updates.recv() => match more {
                                    Some((p, gs)) => merge(&mut groups, p, gs),
                                    None => { discovery_open = false; break }
                                },
                            }
                        }
                    }
                    None => discovery_open = false,
                },
                c = owners.changed() => if c.is_err() { return },
                _ = stop.changed() => break,
            }
            self.sync(&groups).await;
        }
        let handed_over = stop.borrow().unwrap_or(false);
        for (_, l) in self.loops.drain() {
            let _ = l.stop.send(Some(handed_over));
            let _ = l.task.await;
        }
    }

    /// Starts and stops loops so exactly the owned targets run.
    async fn sync(&mut self, groups: &BTreeMap<String, TargetGroup>) {
        let (mut active, dropped) = targets(&self.cfg, groups);
        let limit = self.cfg.limits.target_limit;
        let error = (limit > 0 && active.len() as u64 > limit).then(|| {
            format!(
                "target_limit exceeded (number of targets: {}, limit: {limit})",
                active.len()
            )
        });
        let mut view = JobView {
            active: Vec::with_capacity(active.len()),
            dropped: dropped
                .into_iter()
                .take(if self.cfg.keep_dropped_targets == 0 {
                    usize::MAX
                } else {
                    self.cfg.keep_dropped_targets as usize
                })
                .collect(),
            error: error.clone(),
        };
        let mut wanted = HashMap::new();
        let now = now_ms();
        for t in active.drain(..) {
            let owner = self.ownership.owner(t.hash, now);
            let status = self.statuses.entry(t.hash).or_default().clone();
            if let Some(e) = &error {
                let mut s = status.lock();
                s.health.health = "down";
                s.health.last_error = e.clone();
            }
            if error.is_none() {
                wanted.insert(t.hash, t.clone());
            }
            view.active.push(ActiveTarget {
                target: t,
                owner,
                status,
            });
        }
        // Loops of targets gone stop first, marking their series stale (a loop writes
        // markers only for what this node scraped last).
        let stopping: Vec<u64> = self.loops.keys().filter(|h| !wanted.contains_key(h)).copied().collect();
        for h in stopping {
            if let Some(l) = self.loops.remove(&h) {
                let _ = l.stop.send(Some(false));
                let _ = l.task.await;
            }
        }
        let live: std::collections::HashSet<u64> = view.active.iter().map(|a| a.target.hash).collect();
        self.statuses.retain(|h, _| live.contains(h));
        for (h, t) in wanted {
            if self.loops.contains_key(&h) {
                continue;
            }
            let (stop, rx) = watch::channel(None);
            let spec = LoopSpec {
                cfg: self.cfg.clone(),
                target: t,
                client: self.client.clone(),
                sink: self.sink.clone(),
                status: self.statuses.entry(h).or_default().clone(),
                ownership: self.ownership.clone(),
            };
            self.loops.insert(
                h,
                Loop {
                    stop,
                    task: tokio::spawn(run(spec, rx)),
                },
            );
        }
        *self.view.lock() = view;
    }
}

/// Replaces the groups an update names; an empty group retracts its source.
fn merge(groups: &mut BTreeMap<String, TargetGroup>, provider: usize, update: Vec<TargetGroup>) {
    for g in update {
        let key = format!("{provider}/{}", g.source);
        if g.targets.is_empty() {
            groups.remove(&key);
        } else {
            groups.insert(key, g);
        }
    }
}
