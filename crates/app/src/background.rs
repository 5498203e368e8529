//! What an instance does besides answering requests, on the `jobs` runner:
//!
//! - per-instance tasks, on every instance that serves HTTP (its own memory): `reload-prices`
//!   (the in-memory price book and FX table, every `HUMANHOURS_PRICES_REFRESH_SECS`) and
//!   `prune-rate-limiter` (idle per-key buckets, every minute);
//! - cluster-wide scheduled jobs, run once per slot by one of the instances that run jobs:
//!   `prune-idempotency` (records past their 24 h window), `prune-dashboard-sessions`
//!   (expired sign-ins) and `prune-webhook-deliveries` (succeeded and skipped deliveries
//!   after 30 days) and `sweep-retention` (events past their org's retention, in chunks),
//!   every 10 minutes; `digests` (claims the weekly digests that are due,
//!   every minute) and the `send-digest-emails` jobs it queues (on instances with SMTP set);
//!   `sync-prices` and `sync-fx` (the public price listing and reference rates, daily).
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
    /// Period of the retention sweep.
    pub sweep_every: Duration,
    /// Weekly digests: how often to look for due ones, the catch-up window, the public URL.
    pub digests: crate::digests::DigestConfig,
    /// The price and FX syncs: their URLs (none: off) and period.
    pub feeds: crate::feeds::FeedConfig,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            mode: JobsMode::On,
            poll_interval: Duration::from_secs(1),
            prune_every: Duration::from_secs(600),
            limiter_prune_every: Duration::from_secs(60),
            sweep_every: Duration::from_secs(600),
            digests: crate::digests::DigestConfig::default(),
            feeds: crate::feeds::FeedConfig::default(),
        }
    }
}

/// The scheduled jobs' kinds.
pub const PRUNE_IDEMPOTENCY: &str = "prune-idempotency";
pub const PRUNE_SESSIONS: &str = "prune-dashboard-sessions";
pub const PRUNE_WEBHOOK_DELIVERIES: &str = "prune-webhook-deliveries";
pub const SWEEP_RETENTION: &str = "sweep-retention";

/// How long succeeded and skipped webhook deliveries are kept (API.md §9).
pub const DELIVERY_RETENTION_MS: i64 = 30 * 86_400_000;

/// What the jobs need besides the store, from the binary: the SMTP client of digests (none:
/// no email is sent, and this instance does not take send jobs), the HTTP client of the feed
/// syncs (none: no sync runs here), and the digest counters for `/metrics`.
#[derive(Clone, Default)]
pub struct JobDeps {
    pub mailer: Option<Arc<dyn crate::digests::Mailer>>,
    pub fetcher: Option<Arc<dyn crate::feeds::Fetcher>>,
    pub stats: Arc<crate::digests::DigestStats>,
}

impl std::fmt::Debug for JobDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobDeps")
            .field("mailer", &self.mailer.is_some())
            .field("fetcher", &self.fetcher.is_some())
            .finish()
    }
}

/// The cluster-wide jobs and their schedules: what any instance that runs jobs can run.
pub fn cluster_jobs(store: &Arc<Store>, config: &JobsConfig, deps: &JobDeps) -> Registry {
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
    let (st, limits) = (
        store.clone(),
        crate::retention::Limits::scheduled(config.sweep_every),
    );
    // One sweep at a time on this instance too (a slot's job never meets the previous one's,
    // which stops at half the period; this holds it should a chunk stall).
    let sweeping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    registry
        .job(
            SWEEP_RETENTION,
            3,
            blocking(move |_| {
                use std::sync::atomic::{AtomicBool, Ordering};
                /// Lets the next sweep run when this one ends, even by a panic.
                struct Running<'a>(&'a AtomicBool);
                impl Drop for Running<'_> {
                    fn drop(&mut self) {
                        self.0.store(false, Ordering::Release);
                    }
                }
                if sweeping.swap(true, Ordering::AcqRel) {
                    tracing::debug!("retention: the previous sweep is still running");
                    return Ok(());
                }
                let _running = Running(&sweeping);
                let started = clock::instant();
                let swept =
                    crate::retention::sweep(&st, clock::now(), &limits).map_err(JobError::retry)?;
                if swept.events > 0 {
                    tracing::info!(
                        events = swept.events,
                        orgs = swept.orgs,
                        more = swept.more,
                        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "retention: expired events deleted"
                    );
                }
                Ok(())
            }),
        )
        .schedule(SWEEP_RETENTION, config.sweep_every);
    digest_jobs(&mut registry, store, config, deps);
    feed_jobs(&mut registry, store, config, deps);
    registry
}

/// A daily sync job per feed with a URL, where the binary gave an HTTP client. A failed run
/// is retried with the runner's backoff (10 s doubling to 1 h), up to 8 attempts; the next
/// day's slot tries again in any case.
fn feed_jobs(registry: &mut Registry, store: &Arc<Store>, config: &JobsConfig, deps: &JobDeps) {
    use crate::feeds::{self, Feed};
    let Some(fetcher) = &deps.fetcher else {
        return;
    };
    let f = &config.feeds;
    for (feed, url) in [(Feed::Prices, &f.prices_url), (Feed::Fx, &f.fx_url)] {
        let Some(url) = url.clone() else {
            continue;
        };
        let (st, fetcher) = (store.clone(), fetcher.clone());
        registry
            .job(feed.job(), 8, move |_run: jobs::JobRun| {
                let (st, fetcher, url) = (st.clone(), fetcher.clone(), url.clone());
                async move {
                    feeds::run(&st, fetcher.as_ref(), feed, &url)
                        .await
                        .map(|_| ())
                        .map_err(JobError::retry)
                }
            })
            .schedule(feed.job(), f.every);
    }
}

/// The digest schedule, and the send job where SMTP is set.
fn digest_jobs(registry: &mut Registry, store: &Arc<Store>, config: &JobsConfig, w: &JobDeps) {
    use crate::digests::{self, SendJob};
    let (st, cfg, stats) = (store.clone(), config.digests.clone(), w.stats.clone());
    registry.job(
        digests::TICK_JOB,
        3,
        blocking(move |_| {
            let now = clock::unix_ms(clock::now());
            digests::tick(&st, &cfg, &stats, now)
                .map(|_| ())
                .map_err(|e| JobError::retry(format!("{e:#}")))
        }),
    );
    if config.digests.scheduled {
        registry.schedule(digests::TICK_JOB, config.digests.every);
    }
    if let Some(mailer) = &w.mailer {
        let (st, mailer, stats) = (store.clone(), mailer.clone(), w.stats.clone());
        registry.job(digests::SEND_JOB, 1, move |run: jobs::JobRun| {
            let (st, mailer, stats) = (st.clone(), mailer.clone(), stats.clone());
            async move {
                let job: SendJob =
                    serde_json::from_str(&run.payload).map_err(JobError::permanent)?;
                let last = run.attempt >= run.max_attempts;
                digests::send_emails(st, mailer, stats, job, last).await
            }
        });
    }
}

/// Adds the per-instance tasks of an instance that serves HTTP.
fn instance_tasks(registry: &mut Registry, state: &Arc<App>) {
    let st = state.clone();
    registry.every_blocking("reload-prices", state.config.prices_refresh, move || {
        st.pricing.refresh(&st.store).map_err(|e| format!("{e:#}"))
    });
    // When keys were last used, written once a minute per instance, never per request.
    let st = state.clone();
    registry.every_blocking("record-key-use", Duration::from_secs(60), move || {
        let used = st.key_cache.take_used();
        st.store.touch_keys(&used).map_err(|e| format!("{e:#}"))
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
pub fn start_for_server(state: Arc<App>, deps: JobDeps) -> Running {
    let config = &state.config.jobs;
    let deps = JobDeps {
        stats: state.metrics.digests.clone(),
        ..deps
    };
    let mut registry = cluster_jobs(&state.store, config, &deps);
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
pub fn start_jobs_only(
    store: Arc<Store>,
    config: &JobsConfig,
    stats: Arc<Stats>,
    deps: &JobDeps,
) -> Running {
    let registry = cluster_jobs(&store, config, deps);
    runner(store, registry, config, stats).start()
}
