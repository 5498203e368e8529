//! Per-org limits on expensive reads (API.md §14): the summary, the grouped reports, the
//! leaderboard, the agents list and the dashboard and share pages scan an org's data on the
//! blocking pool. One org may run at most `config.org_read_concurrency` of them at once on an
//! instance (default: half the cores, at least one), so its heaviest drill-downs leave cores
//! for the writer and for other orgs; at most [`MAX_WAITING`] more wait, each at most
//! [`MAX_WAIT`], and past that the read is refused with 429 and `Retry-After` rather than
//! queued without end. A slot is held by the blocking work itself, so a read whose client has
//! gone keeps its slot until it has really finished.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::state::App;

/// Reads of one org that may wait for a slot; more are refused at once.
pub const MAX_WAITING: usize = 8;

/// Longest a read waits for a slot.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// Orgs tracked before idle entries are dropped.
const PRUNE_AT: usize = 1_024;

/// The default concurrency: half the cores, at least one.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

#[derive(Debug)]
struct OrgGate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// The read slots of every org.
#[derive(Debug)]
pub struct ReadGates {
    per_org: usize,
    gates: Mutex<HashMap<String, Arc<OrgGate>>>,
}

impl ReadGates {
    /// Gates allowing `per_org` concurrent expensive reads per org.
    pub fn new(per_org: usize) -> Self {
        Self {
            per_org: per_org.max(1),
            gates: Mutex::new(HashMap::new()),
        }
    }

    fn gate(&self, org_id: &str) -> Arc<OrgGate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if gates.len() >= PRUNE_AT && !gates.contains_key(org_id) {
            // An entry nobody holds and with every slot free is the same as a new one.
            let per_org = self.per_org;
            gates.retain(|_, g| Arc::strong_count(g) > 1 || g.slots.available_permits() < per_org);
        }
        gates
            .entry(org_id.to_owned())
            .or_insert_with(|| {
                Arc::new(OrgGate {
                    slots: Arc::new(Semaphore::new(self.per_org)),
                    waiting: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// A slot for one expensive read of `org_id`, or 429 when the org has too many running
    /// and waiting.
    pub async fn acquire(&self, org_id: &str) -> Result<OwnedSemaphorePermit, ApiError> {
        let gate = self.gate(org_id);
        if let Ok(permit) = gate.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if gate.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            gate.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::ReadsBusy { retry_after: 1 });
        }
        let permit = tokio::time::timeout(MAX_WAIT, gate.slots.clone().acquire_owned()).await;
        gate.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(e)) => Err(ApiError::internal(anyhow::anyhow!(
                "read slots closed: {e}"
            ))),
            Err(_) => Err(ApiError::ReadsBusy { retry_after: 1 }),
        }
    }
}

/// Runs an expensive read of `org_id` on the blocking pool, within one of the org's slots
/// (held until the work itself ends).
pub async fn heavy<T: Send + 'static>(
    state: &Arc<App>,
    org_id: &str,
    f: impl FnOnce(&App) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = state.read_gates.acquire(org_id).await?;
    crate::blocking(state, move |st| {
        let _slot = permit;
        f(st)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn an_org_runs_its_share_then_waits_then_is_refused_and_others_are_not_held() {
        let gates = ReadGates::new(2);
        let a1 = gates.acquire("a").await.unwrap();
        let _a2 = gates.acquire("a").await.unwrap();
        // Another org is not held by org a's reads.
        let _b = gates.acquire("b").await.unwrap();
        // Org a's next reads wait (up to MAX_WAITING of them), then are refused.
        let gates = Arc::new(gates);
        let waiters: Vec<_> = (0..MAX_WAITING)
            .map(|_| {
                let g = gates.clone();
                tokio::spawn(async move { g.acquire("a").await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(matches!(
            gates.acquire("a").await,
            Err(ApiError::ReadsBusy { .. })
        ));
        // A freed slot goes to one waiter (which keeps it); the rest time out after MAX_WAIT.
        drop(a1);
        let results: Vec<_> = futures_join(waiters).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(ApiError::ReadsBusy { .. }))));
    }

    async fn futures_join(
        handles: Vec<tokio::task::JoinHandle<Result<OwnedSemaphorePermit, ApiError>>>,
    ) -> Vec<Result<OwnedSemaphorePermit, ApiError>> {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}
