//! Group commit: one writer thread per database takes track writes from a bounded queue and
//! commits everything that is waiting in one transaction, so a burst of N requests costs one
//! commit (one fsync) instead of N.
//!
//! A caller's answer is sent only after the commit that holds its event returned: an answered
//! write is durable to the level of the database's sync setting. When the queue is full the
//! caller is told at once ([`SubmitError::Full`]) so it can answer 503 instead of queueing
//! without bound.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::repo::track::{Recorded, TrackError, TrackWrite};
use crate::{Store, StoreError};

/// Settings of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Writes that may wait in the queue (counted in submissions, each of up to
    /// `max_batch` events) before new ones are refused.
    pub queue_capacity: usize,
    /// Most events committed in one transaction.
    pub max_batch: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            max_batch: 1000,
        }
    }
}

/// Results of one submission, in its order.
pub type BatchResult = Result<Vec<Result<Recorded, TrackError>>, StoreError>;

struct Job {
    writes: Vec<TrackWrite>,
    reply: oneshot::Sender<BatchResult>,
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
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("depth", &self.depth())
            .finish()
    }
}

impl Writer {
    /// Starts the writer thread. It ends when every handle is dropped.
    pub fn start(store: Arc<Store>, config: WriterConfig) -> std::io::Result<Writer> {
        let (queue, jobs) = sync_channel(config.queue_capacity.max(1));
        let depth = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let d = depth.clone();
        std::thread::Builder::new()
            .name("humanhours-writer".into())
            .spawn(move || run(&store, &jobs, config.max_batch.max(1), &d))?;
        Ok(Writer { queue, depth })
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
        match self.queue.try_send(Job { writes, reply }) {
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
}

fn run(
    store: &Store,
    jobs: &Receiver<Job>,
    max_batch: usize,
    depth: &std::sync::atomic::AtomicUsize,
) {
    // Blocks for the first job, then takes whatever else is already waiting, up to max_batch
    // events: under load batches grow by themselves, when idle a write commits alone at once.
    while let Ok(first) = jobs.recv() {
        let mut events = first.writes.len();
        let mut batch = vec![first];
        while events < max_batch {
            match jobs.try_recv() {
                Ok(job) => {
                    events += job.writes.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let all: Vec<&TrackWrite> = batch.iter().flat_map(|j| j.writes.iter()).collect();
        let outcome = store.record_batch(&all);
        drop(all);
        depth.fetch_sub(batch.len(), std::sync::atomic::Ordering::Relaxed);
        match outcome {
            Ok(results) => {
                let mut results = results.into_iter();
                for job in batch {
                    let mine: Vec<_> = results.by_ref().take(job.writes.len()).collect();
                    // A caller that went away (client disconnected) needs no answer.
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, events, "group commit failed; nothing of it was stored");
                let unavailable = matches!(e, StoreError::Unavailable(_));
                let msg = e.to_string();
                for job in batch {
                    let err = if unavailable {
                        StoreError::Unavailable(msg.clone())
                    } else {
                        StoreError::Failed(msg.clone())
                    };
                    let _ = job.reply.send(Err(err));
                }
            }
        }
    }
}
