//! Group commit: one writer thread per database takes track writes from a bounded queue and
//! commits everything that is waiting in one transaction, so a burst of N requests costs one
//! commit (one fsync) instead of N.
//!
//! A caller's answer is sent only after the commit that holds its event returned: an answered
//! write is durable to the level of the database's sync setting. When the queue is full the
//! caller is told at once ([`SubmitError::Full`]) so it can answer 503 instead of queueing
//! without bound.
//!
//! On SQLite the writer also keeps the rollup deltas of what it committed and folds them every
//! `rollup_interval` (or `rollup_max_events`), in a transaction of their own, out of the path a
//! request waits on (`repo/fold.rs` says why reports stay exact meanwhile). On PostgreSQL a
//! thread of its own folds the queued events every `rollup_interval`, beside the writer.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::repo::fold::Pending;
use crate::repo::track::{Recorded, SeenAgents, TrackError, TrackWrite};
use crate::{Backend, Store, StoreError};

/// Settings of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Writes that may wait in the queue (counted in submissions, each of up to
    /// `max_batch` events) before new ones are refused.
    pub queue_capacity: usize,
    /// Most events committed in one transaction.
    pub max_batch: usize,
    /// Longest time committed events wait to be folded into the rollups (SQLite), or how often
    /// the queued events are folded (PostgreSQL).
    pub rollup_interval: Duration,
    /// Events that trigger a fold before `rollup_interval` is over (SQLite).
    pub rollup_max_events: i64,
    /// How often the checkpointer thread copies SQLite's WAL back into the database file.
    pub checkpoint_interval: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            max_batch: 1000,
            rollup_interval: Duration::from_millis(500),
            rollup_max_events: 50_000,
            checkpoint_interval: Duration::from_millis(20),
        }
    }
}

/// Results of one submission, in its order.
pub type BatchResult = Result<Vec<Result<Recorded, TrackError>>, StoreError>;

/// One submission's writes and where its results go.
type Submission = (Vec<TrackWrite>, oneshot::Sender<BatchResult>);

/// Whether the database refused a transaction (as opposed to being unreachable or locked, where
/// committing its writes apart cannot help).
fn refused(outcome: &BatchResult) -> bool {
    matches!(outcome, Err(e) if !matches!(e, StoreError::Unavailable(_)))
}

enum Job {
    Write {
        writes: Vec<TrackWrite>,
        reply: oneshot::Sender<BatchResult>,
    },
    /// Fold the rollups now and say how it went.
    Fold(oneshot::Sender<Result<(), StoreError>>),
}

/// Why a submission was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the write queue is full")]
    Full,
    #[error("the writer has stopped")]
    Stopped,
}

/// The handle requests submit to. Cloning shares the one queue.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Job>,
    depth: Arc<std::sync::atomic::AtomicUsize>,
    commits: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("depth", &self.depth())
            .finish()
    }
}

impl Writer {
    /// Starts the writer thread. It ends when every handle is dropped, after a last fold.
    pub fn start(store: Arc<Store>, config: WriterConfig) -> Result<Writer, StoreError> {
        let (queue, jobs) = sync_channel(config.queue_capacity.max(1));
        let depth = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let d = depth.clone();
        let commits = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c = commits.clone();
        let pending = store.rollup_watermark()?.map(Pending::new);
        let helper = match store.backend() {
            Backend::Sqlite => {
                start_checkpointer(store.clone(), commits.clone(), config.checkpoint_interval)?
            }
            Backend::Postgres => start_folder(store.clone(), config.rollup_interval)?,
        };
        std::thread::Builder::new()
            .name("humanhours-writer".into())
            .spawn(move || {
                Run {
                    store: &store,
                    config,
                    depth: &d,
                    commits: &c,
                    pending,
                    last_fold: now(),
                    fold_failed: false,
                    agents: SeenAgents::default(),
                    _helper: helper,
                }
                .run(&jobs);
            })
            .map_err(|e| StoreError::Failed(format!("starting the writer thread: {e}")))?;
        Ok(Writer {
            queue,
            depth,
            commits,
        })
    }

    /// Queues writes to be committed together; the receiver yields their results after the
    /// commit.
    pub fn submit(
        &self,
        writes: Vec<TrackWrite>,
    ) -> Result<oneshot::Receiver<BatchResult>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.depth
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.queue.try_send(Job::Write { writes, reply }) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.depth
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(_) => SubmitError::Full,
                    TrySendError::Disconnected(_) => SubmitError::Stopped,
                })
            }
        }
    }

    /// Submissions waiting or being committed.
    pub fn depth(&self) -> usize {
        self.depth.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Group-commit transactions run so far (committed or not); with the events stored, the
    /// mean batch size.
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Folds what is not folded yet into the rollups now, after everything queued before it is
    /// committed. Waits for the queue when it is full.
    pub async fn fold_rollups(&self) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        let queue = self.queue.clone();
        tokio::task::spawn_blocking(move || queue.send(Job::Fold(reply)))
            .await
            .map_err(|e| StoreError::Failed(e.to_string()))?
            .map_err(|_| StoreError::Failed("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Failed("the writer has stopped".into()))?
    }
}

/// Starts the thread that checkpoints SQLite's WAL every `interval` while the writer commits;
/// it ends when the returned sender is dropped (when the writer thread ends).
///
/// Checkpointing here rather than in the writer's commit (SQLite's default) keeps the copy and
/// its fsync of the database file out of the time a request waits for, and, done every 20 ms
/// instead of every 1,000 WAL pages, writes each hot index page once per interval rather than
/// once per few commits. A passive checkpoint never blocks the writer or a reader; what it
/// cannot finish under continuous writes, the writer's own autocheckpoint backstop does
/// (`db::WRITER_AUTOCHECKPOINT_PAGES`).
fn start_checkpointer(
    store: Arc<Store>,
    commits: Arc<std::sync::atomic::AtomicU64>,
    interval: Duration,
) -> Result<SyncSender<()>, StoreError> {
    let (stop, stopped) = sync_channel::<()>(0);
    std::thread::Builder::new()
        .name("humanhours-checkpoint".into())
        .spawn(move || {
            // Nothing to do while no commit happened since a checkpoint that copied everything.
            let mut done_through: Option<u64> = None;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let seen = commits.load(std::sync::atomic::Ordering::Relaxed);
                if done_through == Some(seen) {
                    continue;
                }
                match store.checkpoint() {
                    Ok(Some(c)) if c.busy == 0 && c.checkpointed == c.log => {
                        done_through = Some(seen);
                    }
                    Ok(_) => done_through = None,
                    Err(e) => {
                        tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                        done_through = None;
                    }
                }
            }
        })
        .map_err(|e| StoreError::Failed(format!("starting the checkpointer thread: {e}")))?;
    Ok(stop)
}

/// Starts the thread that folds PostgreSQL's queued events into the rollups every `interval`
/// (`repo/fold.rs`); it ends when the returned sender is dropped, after a last fold. It is not
/// the writer thread: a fold does not hold back commits, which touch other rows.
fn start_folder(store: Arc<Store>, interval: Duration) -> Result<SyncSender<()>, StoreError> {
    let (stop, stopped) = sync_channel::<()>(0);
    std::thread::Builder::new()
        .name("humanhours-fold".into())
        .spawn(move || loop {
            let last = matches!(
                stopped.recv_timeout(interval),
                Err(RecvTimeoutError::Disconnected) | Ok(())
            );
            if let Err(e) = store.fold_rollups(None) {
                tracing::warn!(error = %e, "folding the queued events failed; will retry");
            }
            if last {
                break;
            }
        })
        .map_err(|e| StoreError::Failed(format!("starting the fold thread: {e}")))?;
    Ok(stop)
}

/// The writer's timer for folds: infrastructure pacing, no rule depends on it.
#[expect(
    clippy::disallowed_methods,
    reason = "when to fold is pacing, not a rule; the rules take time as an argument"
)]
fn now() -> Instant {
    Instant::now()
}

struct Run<'a> {
    store: &'a Store,
    config: WriterConfig,
    depth: &'a std::sync::atomic::AtomicUsize,
    commits: &'a std::sync::atomic::AtomicU64,
    /// The rollup deltas of what was committed since the last fold (SQLite only).
    pending: Option<Pending>,
    last_fold: Instant,
    /// The last fold failed (its deltas are still held).
    fold_failed: bool,
    /// The agents' last-seen times this writer committed.
    agents: SeenAgents,
    /// Dropped with the writer, which stops the checkpointer thread (SQLite) or the folder
    /// thread (PostgreSQL).
    _helper: SyncSender<()>,
}

impl Run<'_> {
    fn run(mut self, jobs: &Receiver<Job>) {
        let max_batch = self.config.max_batch.max(1);
        loop {
            // Wait for work; with unfolded deltas, only until they are due.
            let first = match self.fold_due_in() {
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
                Some(wait) => match jobs.recv_timeout(wait) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        let _ = self.fold();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            // Take whatever else is already waiting, up to max_batch events: under load batches
            // grow by themselves, when idle a write commits alone at once.
            let mut batch: Vec<Submission> = Vec::new();
            let mut folds = Vec::new();
            let mut events = 0;
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Write { writes, reply } => {
                        events += writes.len();
                        batch.push((writes, reply));
                    }
                    Job::Fold(reply) => folds.push(reply),
                }
                if events < max_batch {
                    next = jobs.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit(batch, events);
            }
            // Due when the interval is over, or early when many events wait; but after a failed
            // fold, only once the interval is over again (no retry at every batch).
            let due = self.pending.as_ref().is_some_and(|p| {
                let interval_over = self.last_fold.elapsed() >= self.config.rollup_interval;
                p.acc.events() > 0
                    && (interval_over
                        || (p.acc.events() >= self.config.rollup_max_events && !self.fold_failed))
            });
            if !folds.is_empty() || due {
                let result = self.fold().map_err(|e| e.to_string());
                for reply in folds {
                    let _ = reply.send(result.clone().map_err(StoreError::Failed));
                }
            }
        }
        // Every handle is gone: fold what is held before the thread ends.
        let _ = self.fold();
    }

    /// How long until held deltas are due to be folded; `None` when nothing is held.
    fn fold_due_in(&self) -> Option<Duration> {
        let p = self.pending.as_ref()?;
        (p.acc.events() > 0).then(|| {
            self.config
                .rollup_interval
                .saturating_sub(self.last_fold.elapsed())
        })
    }

    fn fold(&mut self) -> Result<(), StoreError> {
        self.last_fold = now();
        let Some(pending) = &self.pending else {
            // PostgreSQL: the folder thread folds the queue; this is a fold asked for (or the
            // last one), after everything committed before it.
            return self.store.fold_rollups(None).map(|_| ());
        };
        match self.store.fold_rollups(Some(pending)) {
            Ok(f) => {
                if !f.from_memory && f.events > 0 {
                    tracing::info!(
                        events = f.events,
                        "rollups folded from the events table (another process wrote, or the writer's sums were incomplete)"
                    );
                }
                self.pending = Some(Pending::new(f.through));
                self.fold_failed = false;
                Ok(())
            }
            Err(e) => {
                // The fold's transaction rolled back: the deltas are still exactly what is past
                // the watermark, and reports count those events from the events table meanwhile.
                tracing::warn!(error = %e, "folding the rollups failed; will retry");
                self.fold_failed = true;
                Err(e)
            }
        }
    }

    /// Commits a group of submissions in one transaction and answers each. When the database
    /// refuses the transaction for anything but an outage (a constraint, a value it cannot
    /// hold), the submissions are committed again one at a time, and a submission of several
    /// writes (a batch request) that is refused again, one write at a time: the write the
    /// database refuses fails alone instead of taking every write that shared its commit with it.
    fn commit(&mut self, batch: Vec<Submission>, events: usize) {
        let outcome = self.record(batch.iter().flat_map(|(w, _)| w.iter()).collect());
        if !refused(&outcome) || events <= 1 {
            return self.deliver(batch, outcome);
        }
        if let Err(e) = &outcome {
            tracing::warn!(
                error = %e,
                events,
                submissions = batch.len(),
                "group commit refused; committing its writes apart"
            );
        }
        let alone = batch.len() == 1;
        for (writes, reply) in batch {
            let outcome = match alone {
                // The group was this one submission: it was refused already.
                true => self.record_each(&writes),
                false => match self.record(writes.iter().collect()) {
                    o if refused(&o) && writes.len() > 1 => self.record_each(&writes),
                    o => o,
                },
            };
            self.deliver(vec![(writes, reply)], outcome);
        }
    }

    /// One transaction for all these writes.
    fn record(&mut self, writes: Vec<&TrackWrite>) -> BatchResult {
        let outcome = self.store.record_batch(&writes, &mut self.agents);
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        outcome
    }

    /// One transaction per write, in order; a write the database refuses gets its own error.
    /// After an outage the remaining writes are not tried (each would wait out the timeout).
    fn record_each(&mut self, writes: &[TrackWrite]) -> BatchResult {
        let mut results = Vec::with_capacity(writes.len());
        let mut outage: Option<String> = None;
        for w in writes {
            if let Some(msg) = &outage {
                results.push(Err(TrackError::Store(StoreError::Unavailable(msg.clone()))));
                continue;
            }
            match self.record(vec![w]) {
                Ok(one) => results.extend(one),
                Err(e) => {
                    if let StoreError::Unavailable(msg) = &e {
                        outage = Some(msg.clone());
                    }
                    results.push(Err(TrackError::Store(e)));
                }
            }
        }
        Ok(results)
    }

    /// Answers each submission from the outcome of its transaction, and holds the rollup deltas
    /// of what it stored.
    fn deliver(&mut self, batch: Vec<Submission>, outcome: BatchResult) {
        self.depth
            .fetch_sub(batch.len(), std::sync::atomic::Ordering::Relaxed);
        match outcome {
            Ok(results) => {
                if let Some(p) = &mut self.pending {
                    p.acc.add(
                        batch
                            .iter()
                            .flat_map(|(w, _)| w.iter())
                            .zip(&results)
                            .filter(|(_, r)| matches!(r, Ok(Recorded::Created { .. })))
                            .map(|(w, _)| &w.event),
                    );
                }
                let mut results = results.into_iter();
                for (writes, reply) in batch {
                    let mine: Vec<_> = results.by_ref().take(writes.len()).collect();
                    // A caller that went away (client disconnected) needs no answer.
                    let _ = reply.send(Ok(mine));
                }
            }
            Err(e) => {
                let events: usize = batch.iter().map(|(w, _)| w.len()).sum();
                tracing::warn!(error = %e, events, "commit failed; nothing of it was stored");
                let unavailable = matches!(e, StoreError::Unavailable(_));
                let msg = e.to_string();
                for (_, reply) in batch {
                    let err = if unavailable {
                        StoreError::Unavailable(msg.clone())
                    } else {
                        StoreError::Failed(msg.clone())
                    };
                    let _ = reply.send(Err(err));
                }
            }
        }
    }
}
