//! The job runner: durable jobs with retries and backoff, cluster-wide schedules, and
//! per-instance periodic tasks, over the queue tables of `store`.
//!
//! - A **job** is a row in `background_jobs`, written (ideally) in the transaction of what
//!   caused it. A runner claims due rows under a lease, runs the handler registered for their
//!   kind ([`Job`], async, `Send`) with a time-out, then deletes the row, or records the
//!   failure and makes it due again after a [`Backoff`], until it runs out of attempts and is
//!   kept as dead. Handlers must be idempotent: a job may run twice (a lease that ran out
//!   under a slow run, an instance that died before recording its success).
//! - A **schedule** enqueues a job of its kind once per slot (multiples of its period since
//!   the epoch, [`next_slot_after`]) across every instance sharing the database: instances
//!   race on a compare-and-set of the slot row and only the winner enqueues.
//! - A **periodic task** is work each instance does on its own memory (reloading a cache,
//!   pruning an in-memory limiter). It is never queued: every instance must run it.
//!
//! `backoff` and `slots` are pure (no I/O, no clock); the runner does I/O through `store`,
//! on tokio's blocking pool, and takes its clock and random source as arguments.
//!
//! **Never** here: reading the system clock or making ids (both are arguments, see
//! `clippy.toml`), rules about what a job does (handlers live with the code that owns the
//! work), or SQL (that is `store`'s).
//!
//! ```
//! use std::time::Duration;
//! use jobs::{blocking, JobError, Registry};
//!
//! let mut registry = Registry::new();
//! registry
//!     .job("prune", 5, blocking(|_job| Ok::<(), JobError>(())))
//!     .schedule("prune", Duration::from_secs(600))
//!     .every_blocking("reload-cache", Duration::from_secs(60), || Ok(()));
//! assert_eq!(registry.kinds(), ["prune"]);
//! ```

mod backoff;
mod job;
mod runner;
mod slots;

pub use backoff::Backoff;
pub use job::{blocking, BoxFuture, Job, JobError, JobRun, Registry};
pub use runner::{Clock, Outcome, Random, Runner, RunnerConfig, Running, Stats, Waker};
pub use slots::{next_slot_after, period_ms};
