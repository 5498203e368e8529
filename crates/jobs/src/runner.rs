//! The runner: a tokio task that claims due jobs and runs them, advances the cluster-wide
//! schedules, and one task per per-instance periodic task.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{JobRetry, JobRow, NewJob, Store, StoreError};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::backoff::Backoff;
use crate::job::{Handler, JobError, JobRun, Registry, Schedule, Task};
use crate::slots::{next_slot_after, period_ms};

/// The wall clock, in Unix milliseconds. The binary passes its one clock reading; tests pass
/// their own.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

impl<F: Fn() -> i64 + Send + Sync + 'static> Clock for F {
    fn now_ms(&self) -> i64 {
        self()
    }
}

/// A uniformly random `u64` per call, for the backoff's jitter.
pub trait Random: Send + Sync + 'static {
    fn next_u64(&self) -> u64;
}

impl<F: Fn() -> u64 + Send + Sync + 'static> Random for F {
    fn next_u64(&self) -> u64 {
        self()
    }
}

/// How a runner behaves.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// This instance's name, written as the lease holder of the jobs it claims; unique per
    /// process (two processes with one name could complete each other's claims).
    pub instance: String,
    /// Claim and run queued jobs and advance the schedules. False runs only the per-instance
    /// tasks (an instance that serves HTTP and leaves the queue to others).
    pub cluster_jobs: bool,
    /// Longest wait between two looks at the queue (an enqueue in this process, a job
    /// finishing, or a schedule slot coming due wakes it earlier).
    pub poll_interval: Duration,
    /// Jobs run at once by this instance.
    pub max_concurrency: usize,
    /// A job attempt running longer fails (retryably).
    pub job_timeout: Duration,
    /// How long a claim holds a job. Longer than `job_timeout`, so a job runs on one instance
    /// at a time unless its instance dies; then it runs again once the lease ends.
    pub lease: Duration,
    pub backoff: Backoff,
    /// On stop, how long running jobs get to finish before they are dropped (their leases
    /// then expire and another instance runs them again).
    pub stop_grace: Duration,
}

impl RunnerConfig {
    /// Defaults for an instance named `instance`.
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            cluster_jobs: true,
            poll_interval: Duration::from_secs(1),
            max_concurrency: 4,
            job_timeout: Duration::from_secs(120),
            lease: Duration::from_secs(300),
            backoff: Backoff::new(Duration::from_secs(10), Duration::from_secs(3600)),
            stop_grace: Duration::from_secs(10),
        }
    }
}

/// What happened to a job attempt, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Done; the row is deleted.
    Ok,
    /// Failed; due again after the backoff.
    Retry,
    /// Failed for good or out of attempts; kept as dead.
    Dead,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
        }
    }
}

/// Counters of what this process's runner did.
#[derive(Debug, Default)]
pub struct Stats {
    runs: Mutex<BTreeMap<(String, Outcome), u64>>,
    tasks: Mutex<BTreeMap<(String, bool), u64>>,
}

impl Stats {
    fn job(&self, kind: &str, outcome: Outcome) {
        let mut m = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((kind.to_owned(), outcome)).or_default() += 1;
    }

    fn task(&self, name: &str, ok: bool) {
        let mut m = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((name.to_owned(), ok)).or_default() += 1;
    }

    /// Job attempts by kind and outcome.
    pub fn job_runs(&self) -> Vec<(String, Outcome, u64)> {
        let m = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|((k, o), n)| (k.clone(), *o, *n)).collect()
    }

    /// Job attempts of one kind and outcome.
    pub fn job_count(&self, kind: &str, outcome: Outcome) -> u64 {
        let m = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&(kind.to_owned(), outcome)).copied().unwrap_or(0)
    }

    /// Periodic task runs by name and success.
    pub fn task_runs(&self) -> Vec<(String, bool, u64)> {
        let m = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|((k, ok), n)| (k.clone(), *ok, *n)).collect()
    }
}

/// Wakes a runner's claim loop early: call it after committing a transaction that enqueued
/// a job, so this process runs it at once instead of at the next poll.
#[derive(Debug, Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// A runner, built but not started.
pub struct Runner {
    inner: Inner,
    tasks: Vec<Task>,
}

struct Inner {
    store: Arc<Store>,
    handlers: BTreeMap<String, Handler>,
    schedules: Vec<Schedule>,
    config: RunnerConfig,
    clock: Box<dyn Clock>,
    random: Box<dyn Random>,
    stats: Arc<Stats>,
    waker: Waker,
}

/// A started runner. Dropping it stops the loops without waiting for running jobs (their
/// leases expire); [`Running::stop`] lets them finish first.
pub struct Running {
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    waker: Waker,
}

impl Runner {
    /// A runner of `registry` over `store`, with its clock and random source.
    pub fn new(
        store: Arc<Store>,
        registry: Registry,
        config: RunnerConfig,
        clock: impl Clock,
        random: impl Random,
    ) -> Self {
        let Registry {
            handlers,
            schedules,
            tasks,
        } = registry;
        Self {
            inner: Inner {
                store,
                handlers,
                schedules,
                config,
                clock: Box::new(clock),
                random: Box::new(random),
                stats: Arc::new(Stats::default()),
                waker: Waker::default(),
            },
            tasks,
        }
    }

    /// Counts into `stats` (shared with whoever renders metrics) instead of its own.
    pub fn with_stats(mut self, stats: Arc<Stats>) -> Self {
        self.inner.stats = stats;
        self
    }

    /// The counters this runner keeps.
    pub fn stats(&self) -> Arc<Stats> {
        self.inner.stats.clone()
    }

    /// What wakes this runner's claim loop early.
    pub fn waker(&self) -> Waker {
        self.inner.waker.clone()
    }

    /// Starts the loops on the current tokio runtime: the claim loop (when `cluster_jobs`)
    /// and one loop per periodic task.
    pub fn start(self) -> Running {
        let (shutdown, stop) = watch::channel(false);
        let inner = Arc::new(self.inner);
        let mut handles = Vec::new();
        if inner.config.cluster_jobs {
            handles.push(tokio::spawn(claim_loop(inner.clone(), stop.clone())));
        }
        for task in self.tasks {
            handles.push(tokio::spawn(task_loop(inner.clone(), task, stop.clone())));
        }
        Running {
            shutdown,
            handles,
            waker: inner.waker.clone(),
        }
    }
}

impl Running {
    /// What wakes the claim loop early.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Stops claiming and lets running jobs finish (up to `stop_grace`); periodic tasks stop
    /// after their current run.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Runs `f` on the blocking pool (diesel blocks).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Failed(format!("blocking task failed: {e}"))))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn claim_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(inner.config.max_concurrency.max(1)));
    let mut running: JoinSet<()> = JoinSet::new();
    // The next slot of each schedule as last seen; None until ensured in the database.
    let mut next_slot: Vec<Option<i64>> = vec![None; inner.schedules.len()];
    let kinds: Arc<Vec<String>> = Arc::new(inner.handlers.keys().cloned().collect());
    loop {
        if *stop.borrow() {
            break;
        }
        while running.try_join_next().is_some() {}
        let now = inner.clock.now_ms();
        for (i, schedule) in inner.schedules.iter().enumerate() {
            if next_slot[i].is_some_and(|n| n > now) {
                continue;
            }
            match tick_schedule(&inner, i, schedule, next_slot[i], now).await {
                Ok(n) => next_slot[i] = Some(n),
                Err(e) => {
                    tracing::warn!(schedule = %schedule.kind, error = %e, "advancing a schedule failed; will retry")
                }
            }
        }
        let free = slots.available_permits();
        if free > 0 {
            let store = inner.store.clone();
            let worker = inner.config.instance.clone();
            let kinds = kinds.clone();
            let lease_until = now.saturating_add(ms(inner.config.lease));
            let claimed = blocking(move || {
                let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
                store.claim_jobs(
                    &worker,
                    &kinds,
                    i64::try_from(free).unwrap_or(1),
                    now,
                    lease_until,
                )
            })
            .await;
            match claimed {
                Ok(rows) => {
                    for row in rows {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break; // cannot happen: at most `free` rows
                        };
                        let inner = inner.clone();
                        running.spawn(async move {
                            run_one(&inner, row).await;
                            drop(permit);
                            inner.waker.wake();
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming jobs failed; will retry"),
            }
        }
        // Sleep until the poll interval passes, a schedule slot comes due, a job finishes
        // or this process enqueues, or the runner stops.
        let now = inner.clock.now_ms();
        let mut wait = inner.config.poll_interval;
        // Only slots still ahead shorten the wait: a slot that is due but could not be
        // advanced (the database is down) is retried at the poll interval, not in a spin.
        for n in next_slot.iter().flatten().filter(|n| **n > now) {
            let until = Duration::from_millis(u64::try_from(n - now).unwrap_or(0));
            wait = wait.min(until);
        }
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    break; // the Running handle was dropped
                }
            }
            _ = inner.waker.0.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    let grace = inner.config.stop_grace;
    let finished = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            jobs = running.len(),
            "jobs still running at stop were dropped; they run again when their lease ends"
        );
        running.abort_all();
    }
}

/// Makes sure schedule `i` exists, and if its slot is due tries to win it (and so enqueue its
/// job). Returns the schedule's next slot as now stored.
async fn tick_schedule(
    inner: &Arc<Inner>,
    i: usize,
    schedule: &Schedule,
    known: Option<i64>,
    now: i64,
) -> Result<i64, StoreError> {
    let period = period_ms(schedule.period);
    let kind = schedule.kind.clone();
    let max_attempts = inner
        .handlers
        .get(&kind)
        .map_or(1, |h| i64::from(h.max_attempts));
    let store = inner.store.clone();
    let (next, won) = blocking(move || {
        let slot = match known {
            Some(slot) => slot,
            None => store.ensure_schedule(
                &kind,
                next_slot_after(now, period),
                now.saturating_add(period),
            )?,
        };
        if slot > now {
            return Ok((slot, false));
        }
        let next = next_slot_after(now, period);
        let job = NewJob {
            id: format!("{kind}@{slot}"),
            kind: kind.clone(),
            payload: format!("{{\"slot\":{slot}}}"),
            run_at: slot,
            max_attempts,
            created_at: now,
        };
        if store.advance_schedule(&kind, slot, next, &job)? {
            Ok((next, true))
        } else {
            // Another instance won the slot; read where it moved the schedule.
            Ok((store.schedule_next(&kind)?.unwrap_or(next), false))
        }
    })
    .await?;
    if won {
        tracing::debug!(schedule = %schedule.kind, index = i, next, "won a schedule slot; its job is queued");
    }
    Ok(next)
}

/// Runs one claimed job and records what became of it.
async fn run_one(inner: &Inner, row: JobRow) {
    let Some(handler) = inner.handlers.get(&row.kind) else {
        return; // only registered kinds are claimed
    };
    let run = JobRun {
        id: row.id.clone(),
        kind: row.kind.clone(),
        payload: row.payload.clone(),
        attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(row.max_attempts).unwrap_or(u32::MAX),
        due_at: row.run_at,
    };
    let timeout = inner.config.job_timeout;
    let result = match tokio::time::timeout(timeout, handler.job.run(&run)).await {
        Ok(r) => r,
        Err(_) => Err(JobError::retry(format!(
            "timed out after {} ms",
            timeout.as_millis()
        ))),
    };
    let now = inner.clock.now_ms();
    let (outcome, error, retry) = match result {
        Ok(()) => (Outcome::Ok, String::new(), JobRetry::Dead),
        Err(JobError::Permanent(e)) => (Outcome::Dead, e, JobRetry::Dead),
        Err(JobError::Retryable(e)) if row.attempts >= row.max_attempts => {
            (Outcome::Dead, e, JobRetry::Dead)
        }
        Err(JobError::Retryable(e)) => {
            let delay = inner
                .config
                .backoff
                .delay_ms(run.attempt, inner.random.next_u64());
            let at = now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
            (Outcome::Retry, e, JobRetry::At(at))
        }
    };
    let store = inner.store.clone();
    let worker = inner.config.instance.clone();
    let id = row.id.clone();
    // Errors are kept short in the row; the log has the whole message.
    let stored_error: String = error.chars().take(2000).collect();
    let recorded = blocking(move || match outcome {
        Outcome::Ok => store.complete_job(&id, &worker),
        _ => store.fail_job(&id, &worker, &stored_error, retry, now),
    })
    .await;
    inner.stats.job(&row.kind, outcome);
    match outcome {
        Outcome::Ok => {
            tracing::debug!(job = %row.id, kind = %row.kind, attempt = run.attempt, "job done")
        }
        Outcome::Retry => {
            tracing::warn!(job = %row.id, kind = %row.kind, attempt = run.attempt, error = %error, "job failed; will retry")
        }
        Outcome::Dead => {
            tracing::error!(job = %row.id, kind = %row.kind, attempt = run.attempt, error = %error, "job failed for good; kept as dead")
        }
    }
    match recorded {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(job = %row.id, kind = %row.kind, "the job's lease had passed to another claim; it may run again")
        }
        Err(e) => {
            tracing::warn!(job = %row.id, kind = %row.kind, error = %e, "recording the job's result failed; it runs again when its lease ends")
        }
    }
}

async fn task_loop(inner: Arc<Inner>, task: Task, mut stop: watch::Receiver<bool>) {
    let period = task.period.max(Duration::from_millis(1));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(period) => {}
        }
        if *stop.borrow() {
            break;
        }
        let result = match tokio::time::timeout(inner.config.job_timeout, (task.run)()).await {
            Ok(r) => r,
            Err(_) => Err("timed out".to_owned()),
        };
        inner.stats.task(&task.name, result.is_ok());
        if let Err(e) = result {
            tracing::warn!(task = %task.name, error = %e, "periodic task failed; runs again next period");
        }
    }
}
