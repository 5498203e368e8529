//! The write of one tracked event: idempotency record, monthly quota, agent, event and its
//! rollups in one transaction, so an answered 201 means all of it is stored and a failure leaves nothing.

use diesel::prelude::*;
use idempotency::{Decision, Fingerprint, StoredRecord};
use ratelimit::{monthly_quota, Plan, QuotaDecision};
use time::OffsetDateTime;

use super::rollup::{add_rollups, rollup_deltas};
use crate::models::*;
use crate::schema::*;
use crate::{Store, StoreError};

/// The Idempotency-Key of a request and the fingerprint of its body.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub key: String,
    pub fingerprint: Fingerprint,
}

/// What the quota decision needs.
#[derive(Debug, Clone)]
pub struct QuotaInput {
    pub plan: Plan,
    pub cap_override: Option<u64>,
    /// The calendar month (UTC) of receipt, `YYYY-MM`.
    pub month: String,
}

/// One event to store with everything the transaction checks.
#[derive(Debug, Clone)]
pub struct TrackWrite {
    pub event: EventRow,
    pub idempotency: Option<IdempotencyClaim>,
    pub quota: QuotaInput,
    /// The 201 body, kept for replays.
    pub response: String,
    pub now: OffsetDateTime,
}

/// What happened to a track write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The event is stored (committed).
    Created { overage: bool },
    /// The Idempotency-Key was used before with the same body: here is the first answer.
    Replayed { response: String },
}

/// Why a track write was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the monthly event cap of the plan is reached")]
    QuotaExceeded,
    #[error("the Idempotency-Key was used with a different body")]
    KeyReused,
    #[error("a request with this Idempotency-Key is still being processed")]
    KeyInFlight,
}

impl From<diesel::result::Error> for TrackError {
    fn from(e: diesel::result::Error) -> Self {
        TrackError::Store(e.into())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn ms_to_time(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

/// Decides what an existing idempotency row means for this request (via the `idempotency`
/// crate's rules).
pub fn decide_existing(
    row: &IdempotencyRow,
    incoming: &Fingerprint,
    now: OffsetDateTime,
) -> Result<Decision, StoreError> {
    let fingerprint = Fingerprint::from_hex(&row.fingerprint)
        .ok_or_else(|| StoreError::Corrupt(format!("fingerprint '{}'", row.fingerprint)))?;
    let stored = StoredRecord {
        fingerprint,
        created_at: ms_to_time(row.created_at)?,
        completed: true,
    };
    Ok(idempotency::decide(Some(&stored), incoming, now))
}

impl Store {
    /// Stores one event under its idempotency key and the org's monthly quota, atomically.
    pub fn record_event(&self, w: &TrackWrite) -> Result<Recorded, TrackError> {
        let now_ms = unix_ms(w.now);
        let e = &w.event;
        with_tx!(self, |c| {
            // 1. Claim the idempotency key. The primary key makes this the one place where
            //    concurrent duplicates meet: on PostgreSQL the second INSERT waits for the
            //    first transaction and then sees its row; SQLite serializes writers.
            if let Some(claim) = &w.idempotency {
                let row = IdempotencyRow {
                    org_id: e.org_id.clone(),
                    idem_key: claim.key.clone(),
                    fingerprint: claim.fingerprint.to_hex(),
                    event_id: e.id.clone(),
                    response: w.response.clone(),
                    created_at: now_ms,
                };
                let inserted = diesel::insert_into(idempotency_keys::table)
                    .values(&row)
                    .on_conflict_do_nothing()
                    .execute(c)?;
                if inserted == 0 {
                    let existing: IdempotencyRow = idempotency_keys::table
                        .filter(idempotency_keys::org_id.eq(&e.org_id))
                        .filter(idempotency_keys::idem_key.eq(&claim.key))
                        .select(IdempotencyRow::as_select())
                        .first(c)?;
                    match decide_existing(&existing, &claim.fingerprint, w.now)? {
                        Decision::Replay => {
                            return Ok(Recorded::Replayed {
                                response: existing.response,
                            })
                        }
                        Decision::Reused => return Err(TrackError::KeyReused),
                        Decision::InFlight => return Err(TrackError::KeyInFlight),
                        Decision::Proceed | Decision::ProceedReplacingExpired => {
                            // The old record is past the window: this request takes the key.
                            diesel::update(
                                idempotency_keys::table
                                    .filter(idempotency_keys::org_id.eq(&e.org_id))
                                    .filter(idempotency_keys::idem_key.eq(&claim.key)),
                            )
                            .set((
                                idempotency_keys::fingerprint.eq(&row.fingerprint),
                                idempotency_keys::event_id.eq(&row.event_id),
                                idempotency_keys::response.eq(&row.response),
                                idempotency_keys::created_at.eq(now_ms),
                            ))
                            .execute(c)?;
                        }
                    }
                }
            }

            // 2. Count the event against the month; the row lock (PostgreSQL) or the write
            //    lock (SQLite) makes the count exact across instances.
            let used_after: i64 = diesel::insert_into(monthly_usage::table)
                .values(&UsageRow {
                    org_id: e.org_id.clone(),
                    month: w.quota.month.clone(),
                    events: 1,
                    overage_events: 0,
                })
                .on_conflict((monthly_usage::org_id, monthly_usage::month))
                .do_update()
                .set(monthly_usage::events.eq(monthly_usage::events + 1))
                .returning(monthly_usage::events)
                .get_result(c)?;
            let used_before = u64::try_from(used_after - 1).unwrap_or(0);
            let overage = match monthly_quota(w.quota.plan, w.quota.cap_override, used_before) {
                QuotaDecision::Reject => return Err(TrackError::QuotaExceeded),
                QuotaDecision::Accept { overage } => overage,
            };
            if overage {
                diesel::update(
                    monthly_usage::table
                        .filter(monthly_usage::org_id.eq(&e.org_id))
                        .filter(monthly_usage::month.eq(&w.quota.month)),
                )
                .set(monthly_usage::overage_events.eq(monthly_usage::overage_events + 1))
                .execute(c)?;
            }

            // 3. The agent exists from its first event on.
            diesel::insert_into(agents::table)
                .values(&AgentRow {
                    org_id: e.org_id.clone(),
                    agent_id: e.agent_id.clone(),
                    hourly_rate: None,
                    first_seen_at: now_ms,
                    last_seen_at: now_ms,
                })
                .on_conflict((agents::org_id, agents::agent_id))
                .do_update()
                .set(agents::last_seen_at.eq(now_ms))
                .execute(c)?;

            // 4. The event itself, and its share of the hourly rollups the reports read.
            diesel::insert_into(events::table).values(e).execute(c)?;
            let deltas = rollup_deltas(std::iter::once(e));
            add_rollups!(c, deltas);
            Ok(Recorded::Created { overage })
        })
    }
}
