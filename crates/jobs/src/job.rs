//! What a job is, and the registry of what this instance runs: job handlers by kind, the
//! cluster-wide schedules that enqueue them, and the per-instance periodic tasks.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed `Send` future: what handlers and tasks return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a job failed, which decides what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (an outage, a time-out, a 5xx): retried with backoff until the
    /// job runs out of attempts.
    #[error("{0}")]
    Retryable(String),
    /// Will fail the same way every time (a payload this version cannot read, a 4xx): kept
    /// as dead at once.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    /// A retryable failure with this message.
    pub fn retry(e: impl fmt::Display) -> Self {
        Self::Retryable(e.to_string())
    }

    /// A permanent failure with this message.
    pub fn permanent(e: impl fmt::Display) -> Self {
        Self::Permanent(e.to_string())
    }
}

/// The job being run, as its handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub id: String,
    pub kind: String,
    /// JSON text, as enqueued. A schedule's job gets `{"slot":<unix ms>}`.
    pub payload: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub max_attempts: u32,
    /// When it was due (Unix ms).
    pub due_at: i64,
}

/// A job handler. It must be idempotent: a job can run more than once (its lease expired
/// under a slow run, or its instance died after the work but before recording it).
///
/// Any `Fn(JobRun) -> impl Future<Output = Result<(), JobError>>` closure is a `Job`; for
/// blocking work (diesel calls) use [`blocking`].
pub trait Job: Send + Sync + 'static {
    /// Does the work of one job.
    fn run<'a>(&'a self, job: &'a JobRun) -> BoxFuture<'a, Result<(), JobError>>;
}

impl<F, Fut> Job for F
where
    F: Fn(JobRun) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    fn run<'a>(&'a self, job: &'a JobRun) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self(job.clone()))
    }
}

/// A job whose work blocks (database calls): run on tokio's blocking pool.
pub fn blocking<F>(f: F) -> impl Job
where
    F: Fn(&JobRun) -> Result<(), JobError> + Send + Sync + 'static,
{
    Blocking(Arc::new(f))
}

struct Blocking<F>(Arc<F>);

impl<F> Job for Blocking<F>
where
    F: Fn(&JobRun) -> Result<(), JobError> + Send + Sync + 'static,
{
    fn run<'a>(&'a self, job: &'a JobRun) -> BoxFuture<'a, Result<(), JobError>> {
        let f = self.0.clone();
        let job = job.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&job))
                .await
                .unwrap_or_else(|e| Err(JobError::retry(format!("the job panicked: {e}"))))
        })
    }
}

/// Work one instance does on its own memory (reloading a cache, pruning an in-memory
/// limiter): run every period by every instance, never queued. Its error is logged.
pub(crate) type TaskFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

pub(crate) struct Handler {
    pub(crate) job: Arc<dyn Job>,
    pub(crate) max_attempts: u32,
}

pub(crate) struct Schedule {
    /// The schedule's name, which is also the kind of the job it enqueues.
    pub(crate) kind: String,
    pub(crate) period: Duration,
}

pub(crate) struct Task {
    pub(crate) name: String,
    pub(crate) period: Duration,
    pub(crate) run: TaskFn,
}

/// What a runner runs: job handlers by kind, cluster-wide schedules and per-instance tasks.
#[derive(Default)]
pub struct Registry {
    pub(crate) handlers: BTreeMap<String, Handler>,
    pub(crate) schedules: Vec<Schedule>,
    pub(crate) tasks: Vec<Task>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("jobs", &self.handlers.keys().collect::<Vec<_>>())
            .field(
                "schedules",
                &self
                    .schedules
                    .iter()
                    .map(|s| (&s.kind, s.period))
                    .collect::<Vec<_>>(),
            )
            .field(
                "tasks",
                &self
                    .tasks
                    .iter()
                    .map(|t| (&t.name, t.period))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs jobs of `kind` with `job`, each at most `max_attempts` times (at least 1) when
    /// enqueued by a schedule (an enqueuer sets its own jobs' limit). Replaces an earlier
    /// handler of that kind.
    pub fn job(&mut self, kind: &str, max_attempts: u32, job: impl Job) -> &mut Self {
        self.handlers.insert(
            kind.to_owned(),
            Handler {
                job: Arc::new(job),
                max_attempts: max_attempts.max(1),
            },
        );
        self
    }

    /// Enqueues a job of `kind` once per slot of `period` across every instance sharing the
    /// database (see `slots`). `kind` needs a handler ([`Registry::job`]) on the instances
    /// that run jobs.
    pub fn schedule(&mut self, kind: &str, period: Duration) -> &mut Self {
        self.schedules.push(Schedule {
            kind: kind.to_owned(),
            period,
        });
        self
    }

    /// Runs `task` every `period` on this instance (after the first period, not at start).
    pub fn every<F, Fut>(&mut self, name: &str, period: Duration, task: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.tasks.push(Task {
            name: name.to_owned(),
            period,
            run: Arc::new(move || Box::pin(task())),
        });
        self
    }

    /// [`Registry::every`] for blocking work, run on tokio's blocking pool.
    pub fn every_blocking<F>(&mut self, name: &str, period: Duration, task: F) -> &mut Self
    where
        F: Fn() -> Result<(), String> + Send + Sync + 'static,
    {
        let task = Arc::new(task);
        self.every(name, period, move || {
            let task = task.clone();
            async move {
                tokio::task::spawn_blocking(move || task())
                    .await
                    .unwrap_or_else(|e| Err(format!("the task panicked: {e}")))
            }
        })
    }

    /// The kinds this registry runs.
    pub fn kinds(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }
}
