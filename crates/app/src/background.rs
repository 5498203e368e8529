//! What an instance does besides answering requests, on the `jobs` runner:
//!
//! - per-instance tasks, on every instance that serves HTTP (its own memory): `reload-prices`
//!   (the in-memory price book and FX table, every `HUMANHOURS_PRICES_REFRESH_SECS`) and
//!   `prune-rate-limiter` (idle per-key buckets, every minute);
//! - cluster-wide scheduled jobs, run once per slot by one of the instances that run jobs:
//!   `prune-idempotency` (records past their 24 h window), `prune-dashboard-sessions`
//!   (expired sign-ins) and `prune-webhook-deliveries` (succeeded and skipped deliveries
//!   after 30 days), every 10 minutes.
//!
//! `HUMANHOURS_JOBS` decides: `on` (HTTP, tasks and jobs), `off` (HTTP and its own tasks, no
//! queued or scheduled jobs: other instances run them), `only` (jobs alone, no HTTP, no
//! caches to refresh).

use std::sync::Arc;
use std::time::Duration;

use jobs::{blocking, JobError, Registry, Runner, RunnerConfig, Running, Stats};
use store::Store;

use crate::clock;
use crate::state::App;

/// Which part of the work an instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobsMode {
    /// Serve HTTP and run jobs (the default).
    On,
    /// Serve HTTP without running queued or scheduled jobs; the instance still refreshes its
    /// own caches.
    Off,
    /// Run jobs without serving HTTP.
    Only,
}

impl std::str::FromStr for JobsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(JobsMode::On),
            "off" => Ok(JobsMode::Off),
            "only" => Ok(JobsMode::Only),
            other => Err(format!("'{other}' is not one of on, off, only")),
        }
    }
}

impl std::fmt::Display for JobsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JobsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            JobsMode::On => "on",
            JobsMode::Off => "off",
            JobsMode::Only => "only",
        }
    }
}

/// Settings of the background work.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    pub mode: JobsMode,
    /// Longest wait between two looks at the job queue.
    pub poll_interval: Duration,
    /// Period of the pruning schedules (idempotency records, dashboard sessions).
    pub prune_every: Duration,
    /// Period of the rate limiter's pruning.
    pub limiter_prune_every: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            mode: JobsMode::On,
            poll_interval: Duration::from_secs(1),
            prune_every: Duration::from_secs(600),
            limiter_prune_every: Duration::from_secs(60),
        }
    }
}

/// The scheduled jobs' kinds.
pub const PRUNE_IDEMPOTENCY: &str = "prune-idempotency";
pub const PRUNE_SESSIONS: &str = "prune-dashboard-sessions";
pub const PRUNE_WEBHOOK_DELIVERIES: &str = "prune-webhook-deliveries";

/// How long succeeded and skipped webhook deliveries are kept (API.md §9).
pub const DELIVERY_RETENTION_MS: i64 = 30 * 86_400_000;

/// The cluster-wide jobs and their schedules: what any instance that runs jobs can run.
pub fn cluster_jobs(store: &Arc<Store>, config: &JobsConfig) -> Registry {
    let mut registry = Registry::new();
    let st = store.clone();
    registry
        .job(
            PRUNE_IDEMPOTENCY,
            3,
            blocking(move |_| {
                let cutoff = idempotency::prune_cutoff(clock::now());
                let n = st
                    .prune_idempotency(clock::unix_ms(cutoff))
                    .map_err(JobError::retry)?;
                tracing::debug!(pruned = n, "idempotency records pruned");
                Ok(())
            }),
        )
        .schedule(PRUNE_IDEMPOTENCY, config.prune_every);
    let st = store.clone();
    registry
        .job(
            PRUNE_SESSIONS,
            3,
            blocking(move |_| {
                let n = st
                    .prune_sessions(clock::unix_ms(clock::now()))
                    .map_err(JobError::retry)?;
                tracing::debug!(pruned = n, "expired dashboard sessions deleted");
                Ok(())
            }),
        )
        .schedule(PRUNE_SESSIONS, config.prune_every);
    let st = store.clone();
    registry
        .job(
            PRUNE_WEBHOOK_DELIVERIES,
            3,
            blocking(move |_| {
                let cutoff = clock::unix_ms(clock::now()) - DELIVERY_RETENTION_MS;
                // Bounded chunks, so the writer is never held long; the next slot goes on.
                let mut total = 0;
                for _ in 0..100 {
                    let n = st
                        .prune_deliveries(cutoff, 5_000)
                        .map_err(JobError::retry)?;
                    total += n;
                    if n < 5_000 {
                        break;
                    }
                }
                tracing::debug!(pruned = total, "old webhook deliveries deleted");
                Ok(())
            }),
        )
        .schedule(PRUNE_WEBHOOK_DELIVERIES, config.prune_every);
    registry
}

/// Adds the per-instance tasks of an instance that serves HTTP.
fn instance_tasks(registry: &mut Registry, state: &Arc<App>) {
    let st = state.clone();
    registry.every_blocking("reload-prices", state.config.prices_refresh, move || {
        st.pricing.refresh(&st.store).map_err(|e| format!("{e:#}"))
    });
    let st = state.clone();
    registry.every_blocking(
        "prune-rate-limiter",
        state.config.jobs.limiter_prune_every,
        move || {
            st.limiter.retain_recent();
            Ok(())
        },
    );
}

fn runner(store: Arc<Store>, registry: Registry, config: &JobsConfig, stats: Arc<Stats>) -> Runner {
    let now = clock::now();
    let runner_config = RunnerConfig {
        cluster_jobs: config.mode != JobsMode::Off,
        poll_interval: config.poll_interval,
        ..RunnerConfig::new(format!("{}-{}", std::process::id(), clock::ulid(now)))
    };
    Runner::new(
        store,
        registry,
        runner_config,
        || clock::unix_ms(clock::now()),
        rand::random::<u64>,
    )
    .with_stats(stats)
}

/// Starts the background work of an instance that serves HTTP (`on` or `off`), on the
/// current tokio runtime.
pub fn start_for_server(state: Arc<App>) -> Running {
    let config = &state.config.jobs;
    let mut registry = cluster_jobs(&state.store, config);
    instance_tasks(&mut registry, &state);
    runner(
        state.store.clone(),
        registry,
        config,
        state.metrics.jobs.clone(),
    )
    .start()
}

/// Starts the jobs of a jobs-only instance (`only`): no HTTP, so no caches to refresh.
pub fn start_jobs_only(store: Arc<Store>, config: &JobsConfig, stats: Arc<Stats>) -> Running {
    let registry = cluster_jobs(&store, config);
    runner(store, registry, config, stats).start()
}
