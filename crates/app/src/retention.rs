//! Retention (API.md §12): how long an org's events are kept, and the background sweep that
//! deletes older ones (with their audit samples, which live on the event row) in bounded
//! chunks. Their idempotency records are past their 24-hour window by then (an event stays a
//! day after it arrived) and go with the ordinary prune.
//!
//! Rollups are kept: they hold sums, not task content, so the summary and the one-dimension
//! reports of whole hours in older periods answer as before. What reads events themselves
//! (the events list, the export, crossed-dimension and metadata groupings, a range's partial
//! first and last hours) sees only what is kept.

use std::sync::Arc;

use store::Store;

use crate::auth::OrgSettings;
use crate::clock;
use crate::read::params::DAY_MS;

/// The longest retention an org may set: ten years.
pub const MAX_DAYS: u32 = 3_650;

/// Events deleted per statement: a short transaction (about 5 ms on SQLite), so the writer is
/// never held long (`just bench-retention`).
pub const CHUNK: i64 = 500;

/// The scheduled sweep's shortest pause between two chunks: the writer takes the write
/// connection between them, so a long sweep never holds ingest up for more than a chunk. The
/// pause is also at least twice the chunk's own time, so a sweep takes at most a third of the
/// core it runs on, whatever the database's speed.
pub const PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// The longest a scheduled sweep runs: well inside the job runner's time-out (120 s), which
/// cannot stop blocking work and would start the job again beside it.
pub const MAX_RUN: std::time::Duration = std::time::Duration::from_secs(90);

/// The org's retention in days: its own, or its plan's.
pub fn days(org: &OrgSettings) -> u32 {
    org.retention_days
        .unwrap_or_else(|| org.plan.default_retention_days())
}

/// The oldest `occurred_at` (Unix ms) an org keeps at `now_ms`.
pub fn cutoff_ms(org: &OrgSettings, now_ms: i64) -> i64 {
    now_ms.saturating_sub(i64::from(days(org)) * DAY_MS)
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub orgs: usize,
    pub events: u64,
    /// True when the sweep stopped at its limits with more maybe left (the next slot goes on).
    pub more: bool,
}

/// How much one sweep may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Chunks of [`CHUNK`] events, in all.
    pub max_chunks: u32,
    /// Time from the start; a sweep stops after the chunk that passes it.
    pub max_time: std::time::Duration,
    /// Between two chunks, at least; and at least twice the chunk's time (zero: no pause).
    pub pause: std::time::Duration,
}

impl Limits {
    /// The scheduled sweep's: a million events, and half the period between two sweeps but
    /// at most [`MAX_RUN`] (so a run ends before the next slot's begins and within the job
    /// runner's time-out, and one sweep runs at a time), [`PAUSE`].
    pub fn scheduled(period: std::time::Duration) -> Limits {
        Limits {
            max_chunks: 2_000,
            max_time: (period / 2).min(MAX_RUN),
            pause: PAUSE,
        }
    }

    /// No limit and no pause, for tests.
    pub const UNLIMITED: Limits = Limits {
        max_chunks: u32::MAX,
        max_time: std::time::Duration::MAX,
        pause: std::time::Duration::ZERO,
    };
}

/// Deletes every org's events older than its retention at `now`, chunk by chunk, within
/// `limits` (blocking).
pub fn sweep(
    store: &Arc<Store>,
    now: time::OffsetDateTime,
    limits: &Limits,
) -> anyhow::Result<Swept> {
    let started = clock::instant();
    let now_ms = clock::unix_ms(now);
    // An event still inside its idempotency window (and an hour more) stays: a retry could
    // replay it. A backfilled event older than retention goes a day after it arrived.
    let received_before = clock::unix_ms(idempotency::prune_cutoff(now)) - 3_600_000;
    let mut swept = Swept::default();
    let mut budget = limits.max_chunks;
    for row in store.list_orgs()? {
        // One org whose stored settings cannot be read does not stop the others' sweep.
        let org = match OrgSettings::try_from(&row) {
            Ok(org) => org,
            Err(e) => {
                tracing::warn!(org = %row.id, error = %e, "retention: org skipped");
                continue;
            }
        };
        let cutoff = cutoff_ms(&org, now_ms);
        swept.orgs += 1;
        loop {
            if budget == 0 || started.elapsed() > limits.max_time {
                swept.more = true;
                return Ok(swept);
            }
            let chunk_started = clock::instant();
            let n = store.delete_expired_events(&org.id, cutoff, received_before, CHUNK)?;
            let chunk_took = chunk_started.elapsed();
            // Only a chunk that deleted something counts: an org with nothing to delete
            // costs one index probe, so every org is reached however many there are.
            if n > 0 {
                budget -= 1;
            }
            if n > 0 && swept.events == 0 {
                tracing::info!(org = %org.id, "retention: sweeping expired events");
            }
            swept.events += n;
            if n < u64::try_from(CHUNK).unwrap_or(u64::MAX) {
                break;
            }
            if !limits.pause.is_zero() {
                std::thread::sleep(limits.pause.max(chunk_took * 2));
            }
        }
    }
    Ok(swept)
}
