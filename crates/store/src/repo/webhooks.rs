//! Webhook endpoints, the outbox of deliveries and their attempts (API.md §9).
//!
//! Deliveries are written by the track transaction (`track.rs`, through [`OutboxConn`]) only
//! for orgs with an endpoint subscribed to the type, so an org without webhooks costs one
//! indexed lookup per batch. A worker claims due deliveries by moving their `next_attempt_at`
//! to the end of a lease and naming itself in `locked_by` (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, the writer's `BEGIN IMMEDIATE` on SQLite): a claim whose instance died comes
//! due again when the lease ends, and only the claimer writes the result. Endpoint health
//! moves by the rules of `webhooks::health`, read and written in the transaction that records
//! the results.
//!
//! No clock here: every time is an argument (Unix ms).

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel::result::QueryResult;
use webhooks::health::{DisabledBy, Finished, Health, Status};

use super::bulk::Bulk as _;
use crate::db::Pools;
use crate::models::{AttemptRow, DeliveryRow, EndpointRow, EventRow};
use crate::schema::{webhook_attempts as wa, webhook_deliveries as wd, webhook_endpoints as we};
use crate::{Store, StoreError};

/// Runs `$body` in a write transaction for the worker's bookkeeping (a claim, a release, the
/// record of attempts). On SQLite its commit is not fsynced: the writer connection runs it
/// with `synchronous = NORMAL` and is put back to its setting afterwards (also if the body
/// fails or panics). Nothing is lost by it but work: a claim or a record that power loss
/// takes away makes the delivery due again, and it is attempted again (at least once). The
/// WAL is written in order, so the next commit of the event writer, fsynced, also makes these
/// durable. Measured: with every commit fsynced, the worker's transactions took the write lock
/// from the event writer for their fsyncs, and /track fell to about 0.3 of its rate while
/// every event was delivered (`just bench-webhooks`).
macro_rules! with_outbox_tx {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            Pools::Sqlite { write, sync, .. } => {
                let mut pooled = write.get().map_err(StoreError::from)?;
                let mut guard = NoSync::new(&mut pooled, *sync)?;
                guard.conn().immediate_transaction(|$c| $body)
            }
            Pools::Pg(pool) => {
                let mut pooled = pool.get().map_err(StoreError::from)?;
                let conn: &mut diesel::pg::PgConnection = &mut pooled;
                diesel::Connection::transaction(conn, |$c| $body)
            }
        }
    };
}

/// The writer connection with `synchronous = NORMAL` until dropped.
struct NoSync<'a> {
    conn: &'a mut diesel::sqlite::SqliteConnection,
    restore: crate::db::SqliteSync,
}

impl<'a> NoSync<'a> {
    fn new(
        conn: &'a mut diesel::sqlite::SqliteConnection,
        restore: crate::db::SqliteSync,
    ) -> Result<Self, StoreError> {
        use diesel::connection::SimpleConnection as _;
        conn.batch_execute("PRAGMA synchronous = NORMAL")?;
        Ok(Self { conn, restore })
    }

    fn conn(&mut self) -> &mut diesel::sqlite::SqliteConnection {
        self.conn
    }
}

impl Drop for NoSync<'_> {
    fn drop(&mut self) {
        use diesel::connection::SimpleConnection as _;
        let pragma = format!("PRAGMA synchronous = {}", self.restore.pragma());
        if let Err(e) = self.conn.batch_execute(&pragma) {
            tracing::error!("restoring the writer's {pragma} failed: {e}");
        }
    }
}

/// Delivery statuses.
pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
pub const SKIPPED: &str = "skipped";

/// The local delivery worker, as the track transaction sees it: a commit's fresh deliveries
/// are written already leased to it, within the room it reserved, and handed to it after the
/// commit, so they need no claim transaction and no second read of their events
/// (`Store::set_outbox_sink`). A process that dies with them leaves them leased: they come due
/// again when the lease ends, like any claim.
pub trait OutboxSink: Send + Sync {
    /// Room for up to `n` deliveries at `now_ms`: the worker's id, the lease's end, how many.
    fn reserve(&self, n: usize, now_ms: i64) -> Option<(String, i64, usize)>;
    /// Gives back room reserved for a transaction that did not commit.
    fn unreserve(&self, n: usize);
    /// The committed deliveries leased to the worker.
    fn hand_over(&self, claimed: Vec<Claimed>);
    /// Deliveries are due that were not handed over (written unleased, queued by a ping,
    /// redelivery or recovery): look at the outbox now rather than at the next poll.
    fn wake(&self);
}

/// The outbox writes on a connection the caller holds, inside the transaction of the cause.
pub(crate) trait OutboxConn {
    /// The endpoints of these orgs (any status; the caller matches types).
    fn endpoints_of(&mut self, orgs: &[&str]) -> QueryResult<Vec<EndpointRow>>;
    /// Inserts deliveries.
    fn insert_deliveries(&mut self, rows: &[DeliveryRow]) -> QueryResult<()>;
    /// Marks these agents' first event (creating agents that do not exist) and says which had
    /// none before: an upsert that sets `first_event_at` only where it is NULL and returns the
    /// rows it wrote, so on PostgreSQL a concurrent transaction marking the same agent waits
    /// for this one, then finds it set: exactly one of them reports the agent.
    fn create_new_agents(
        &mut self,
        rows: &[crate::models::AgentRow],
    ) -> QueryResult<Vec<(String, String)>>;
}

/// See [`OutboxConn::create_new_agents`], with the backend's placeholders. One row per
/// statement: only agents of orgs with an `agent.first_event` endpoint that this writer has not
/// written lately get here.
macro_rules! mark_first_event {
    ($p:literal) => {
        concat!(
            "INSERT INTO agents (org_id, agent_id, hourly_rate, first_seen_at, last_seen_at, ",
            "first_event_at) VALUES ",
            $p,
            " ON CONFLICT (org_id, agent_id) DO UPDATE SET first_event_at = ",
            "excluded.first_event_at WHERE agents.first_event_at IS NULL ",
            "RETURNING org_id, agent_id"
        )
    };
}

#[derive(QueryableByName)]
struct NewAgent {
    #[diesel(sql_type = diesel::sql_types::Text)]
    org_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    agent_id: String,
}

macro_rules! impl_outbox_conn {
    ($conn:ty, $chunk:expr, $p:literal) => {
        impl OutboxConn for $conn {
            fn endpoints_of(&mut self, orgs: &[&str]) -> QueryResult<Vec<EndpointRow>> {
                let cols = EndpointRow::as_select();
                match orgs {
                    // The common case (a batch of one org's events) in a statement diesel
                    // keeps prepared; a list is prepared anew each time.
                    [org] => we::table
                        .filter(we::org_id.eq(*org))
                        .select(cols)
                        .load(self),
                    _ => we::table
                        .filter(we::org_id.eq_any(orgs))
                        .select(cols)
                        .load(self),
                }
            }

            fn insert_deliveries(&mut self, rows: &[DeliveryRow]) -> QueryResult<()> {
                if $chunk == 1 {
                    // One row per statement: the same SQL each time, so diesel keeps it
                    // prepared (a slice of rows is prepared anew at every insert).
                    for row in rows {
                        diesel::insert_into(wd::table).values(row).execute(self)?;
                    }
                } else {
                    for chunk in rows.chunks($chunk) {
                        diesel::insert_into(wd::table).values(chunk).execute(self)?;
                    }
                }
                Ok(())
            }

            fn create_new_agents(
                &mut self,
                rows: &[crate::models::AgentRow],
            ) -> QueryResult<Vec<(String, String)>> {
                use diesel::sql_types::{BigInt, Text};
                let mut created = Vec::new();
                for r in rows {
                    let got: Vec<NewAgent> = diesel::sql_query(mark_first_event!($p))
                        .bind::<Text, _>(&r.org_id)
                        .bind::<Text, _>(&r.agent_id)
                        .bind::<BigInt, _>(r.first_seen_at)
                        .bind::<BigInt, _>(r.last_seen_at)
                        .bind::<BigInt, _>(r.first_seen_at)
                        .load(self)?;
                    created.extend(got.into_iter().map(|n| (n.org_id, n.agent_id)));
                }
                Ok(created)
            }
        }
    };
}
// SQLite: one row per statement keeps to its cached statements and bind limit; PostgreSQL:
// 14 columns × 1,000 rows stays under its 65,535 binds.
impl_outbox_conn!(diesel::sqlite::SqliteConnection, 1, "(?, ?, NULL, ?, ?, ?)");
impl_outbox_conn!(diesel::pg::PgConnection, 1000, "($1, $2, NULL, $3, $4, $5)");

/// Row locks that serialize read-modify-writes across PostgreSQL instances; on SQLite the
/// writer's `BEGIN IMMEDIATE` already holds the whole database, so they only read.
trait RowLocks {
    fn lock_org(&mut self, org: &str) -> QueryResult<()>;
    fn lock_endpoint(&mut self, id: &str) -> QueryResult<Option<EndpointRow>>;
}

impl RowLocks for diesel::sqlite::SqliteConnection {
    fn lock_org(&mut self, _org: &str) -> QueryResult<()> {
        Ok(())
    }
    fn lock_endpoint(&mut self, id: &str) -> QueryResult<Option<EndpointRow>> {
        we::table
            .filter(we::id.eq(id))
            .select(EndpointRow::as_select())
            .get_result(self)
            .optional()
    }
}

impl RowLocks for diesel::pg::PgConnection {
    fn lock_org(&mut self, org: &str) -> QueryResult<()> {
        use crate::schema::orgs;
        orgs::table
            .filter(orgs::id.eq(org))
            .select(orgs::id)
            .for_update()
            .load::<String>(self)
            .map(drop)
    }
    fn lock_endpoint(&mut self, id: &str) -> QueryResult<Option<EndpointRow>> {
        we::table
            .filter(we::id.eq(id))
            .select(EndpointRow::as_select())
            .for_update()
            .get_result(self)
            .optional()
    }
}

/// An id `<prefix>_<ULID>` made from a write's time, its random seed and a counter, so the
/// ids of one write differ and the store needs no randomness of its own.
pub(crate) fn derived_id(prefix: &str, ms: i64, seed: u128, k: u64) -> String {
    // Odd multiplier: distinct `k` give distinct random parts for the same seed.
    let random =
        seed.wrapping_add(u128::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
    let ms = u64::try_from(ms).unwrap_or(0);
    format!("{prefix}_{}", ulid::Ulid::from_parts(ms, random))
}

/// The deliveries of a batch's new events: `event.created` to each endpoint of the event's
/// org subscribed to it, and `agent.first_event` for each agent in `new_agents`, with the
/// agent's first event of the batch. A disabled endpoint's deliveries are kept as `skipped`.
pub(crate) fn outbox_rows(
    created: &[&crate::repo::track::TrackWrite],
    endpoints: &[EndpointRow],
    new_agents: &[(String, String)],
) -> Vec<DeliveryRow> {
    use webhooks::{EventType, Subscriptions};
    let subs: Vec<(&EndpointRow, Subscriptions)> = endpoints
        .iter()
        .map(|e| (e, Subscriptions::from_stored(&e.event_types)))
        .collect();
    let mut rows = Vec::new();
    let mut firsts_left: BTreeSet<(&str, &str)> = new_agents
        .iter()
        .map(|(o, a)| (o.as_str(), a.as_str()))
        .collect();
    for w in created {
        let e = &w.event;
        let ms = crate::repo::track::unix_ms(w.now);
        let mut k = 2u64;
        let mut push = |kind: EventType, message: &str, ep: &EndpointRow, k: &mut u64| {
            let skipped = ep.status == Status::Disabled.as_str();
            rows.push(DeliveryRow {
                id: derived_id("whdel", ms, w.id_seed, *k),
                org_id: e.org_id.clone(),
                endpoint_id: ep.id.clone(),
                message_id: message.to_owned(),
                event_type: kind.as_str().to_owned(),
                event_id: Some(e.id.clone()),
                payload: None,
                status: (if skipped { SKIPPED } else { PENDING }).to_owned(),
                attempts: 0,
                round_attempts: 0,
                next_attempt_at: ms,
                locked_by: None,
                created_at: ms,
                finished_at: skipped.then_some(ms),
            });
            *k += 1;
        };
        let mine = || subs.iter().filter(|(ep, _)| ep.org_id == e.org_id);
        let created_msg = derived_id("whmsg", ms, w.id_seed, 0);
        for (ep, s) in mine() {
            if s.contains(EventType::EventCreated) {
                push(EventType::EventCreated, &created_msg, ep, &mut k);
            }
        }
        if firsts_left.remove(&(e.org_id.as_str(), e.agent_id.as_str())) {
            let first_msg = derived_id("whmsg", ms, w.id_seed, 1);
            for (ep, s) in mine() {
                if s.contains(EventType::AgentFirstEvent) {
                    push(EventType::AgentFirstEvent, &first_msg, ep, &mut k);
                }
            }
        }
    }
    rows
}

/// A change to an endpoint (PATCH); `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub event_types: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// A claimed delivery with what sending it needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: DeliveryRow,
    pub endpoint: EndpointRow,
    /// The event of an event.created or agent.first_event delivery (`None` if it is gone).
    pub event: Option<EventRow>,
}

/// How an attempt (or a claim that was not attempted) ended, decided by the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// 2xx: succeeded.
    Delivered,
    /// 410: the delivery failed and the endpoint is disabled.
    Gone,
    /// Failed; due again at this time (Unix ms).
    RetryAt(i64),
    /// Failed for the last time of its round: `failed`.
    GaveUp,
    /// Not attempted: the endpoint is disabled (or its event is gone); kept as `skipped`.
    Skipped,
}

/// The result of one claimed delivery, to record.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub delivery_id: String,
    pub endpoint_id: String,
    /// The attempt's number (the delivery's `attempts` + 1); unused when skipped.
    pub attempt: i64,
    pub end: AttemptEnd,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub response_body: String,
}

/// The outbox at a glance, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Pending deliveries (due or not, leased or not).
    pub pending: i64,
    /// `created_at` of the oldest pending delivery (Unix ms).
    pub oldest_pending_at: Option<i64>,
}

fn health_of(e: &EndpointRow) -> Health {
    Health {
        status: Status::parse(&e.status).unwrap_or(Status::Active),
        disabled_by: e.disabled_by.as_deref().and_then(DisabledBy::parse),
        failed_in_a_row: e.failed_in_a_row,
    }
}

/// `status = 'pending'` written as a literal, not a bound parameter: only then can SQLite (and
/// a generic PostgreSQL plan) see that the query implies the partial index
/// `webhook_deliveries_due`'s condition and use it, instead of scanning every delivery kept.
fn is_pending() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>("webhook_deliveries.status = 'pending'")
}

/// The columns a delivery queued again (redeliver, recover) gets: pending, due at `$now`, a new
/// round of attempts, no claim.
macro_rules! requeue {
    ($now:expr) => {
        (
            wd::status.eq(PENDING),
            wd::next_attempt_at.eq($now),
            wd::round_attempts.eq(0_i64),
            wd::locked_by.eq(None::<String>),
            wd::finished_at.eq(None::<i64>),
        )
    };
}

/// Due, pending deliveries not for these endpoints or orgs, oldest due first.
macro_rules! due_deliveries {
    ($now:expr, $exclude:expr, $exclude_orgs:expr, $limit:expr) => {
        wd::table
            .select(wd::id)
            .filter(is_pending())
            .filter(wd::next_attempt_at.le($now))
            .filter(wd::endpoint_id.ne_all($exclude))
            .filter(wd::org_id.ne_all($exclude_orgs))
            .order(wd::next_attempt_at.asc())
            .limit($limit)
    };
}

macro_rules! lease_deliveries {
    ($c:expr, $ids:expr, $worker:expr, $lease_until:expr) => {
        diesel::update(wd::table.filter(wd::id.eq_any($ids)))
            .set((
                wd::locked_by.eq(Some($worker)),
                wd::next_attempt_at.eq($lease_until),
            ))
            .returning(DeliveryRow::as_returning())
            .get_results::<DeliveryRow>($c)
    };
}

impl Store {
    /// The local worker that takes this process's fresh deliveries (set once per store).
    pub fn set_outbox_sink(&self, sink: std::sync::Arc<dyn OutboxSink>) {
        let _ = self.outbox_sink.set(sink);
    }

    /// Leases up to as many of `rows`' pending deliveries as the local worker has room for to
    /// it (in the transaction that writes them); returns how many.
    pub(crate) fn lease_fresh(&self, rows: &mut [DeliveryRow], now_ms: i64) -> usize {
        let Some(sink) = self.outbox_sink.get() else {
            return 0;
        };
        let pending = rows.iter().filter(|d| d.status == PENDING).count();
        let Some((worker, until, taken)) = sink.reserve(pending, now_ms) else {
            return 0;
        };
        for d in rows.iter_mut().filter(|d| d.status == PENDING).take(taken) {
            d.locked_by = Some(worker.clone());
            d.next_attempt_at = until;
        }
        taken
    }

    /// After the transaction: hands the leased deliveries over (committed), or gives their
    /// room back (not committed).
    pub(crate) fn hand_over_fresh(
        &self,
        committed: bool,
        taken: usize,
        rows: Vec<DeliveryRow>,
        endpoints: &[EndpointRow],
        events: &[&EventRow],
    ) {
        let Some(sink) = self.outbox_sink.get() else {
            return;
        };
        if taken == 0 {
            return;
        }
        if !committed {
            sink.unreserve(taken);
            return;
        }
        let eps: BTreeMap<&str, &EndpointRow> =
            endpoints.iter().map(|e| (e.id.as_str(), e)).collect();
        let evs: BTreeMap<&str, &EventRow> = events.iter().map(|e| (e.id.as_str(), *e)).collect();
        let mut claimed = Vec::with_capacity(taken);
        let mut lost = 0;
        for d in rows.into_iter().filter(|d| d.locked_by.is_some()) {
            match eps.get(d.endpoint_id.as_str()) {
                Some(ep) => claimed.push(Claimed {
                    endpoint: (*ep).clone(),
                    event: d
                        .event_id
                        .as_deref()
                        .and_then(|id| evs.get(id))
                        .map(|e| (*e).clone()),
                    delivery: d,
                }),
                None => lost += 1,
            }
        }
        if lost > 0 {
            sink.unreserve(lost);
        }
        sink.hand_over(claimed);
    }

    pub(crate) fn outbox_written(&self) {
        if let Some(sink) = self.outbox_sink.get() {
            sink.wake();
        }
    }

    /// Creates an endpoint unless the org has `max` already; false then (nothing written).
    pub fn create_endpoint(&self, row: &EndpointRow, max: i64) -> Result<bool, StoreError> {
        with_tx!(self, |c| {
            // On PostgreSQL the org's row lock serializes concurrent creations, so two
            // requests cannot both pass the count.
            c.lock_org(&row.org_id)?;
            let n: i64 = we::table
                .filter(we::org_id.eq(&row.org_id))
                .count()
                .get_result(c)?;
            if n >= max {
                return Ok::<_, StoreError>(false);
            }
            diesel::insert_into(we::table).values(row).execute(c)?;
            Ok(true)
        })
    }

    /// An org's endpoints, oldest first.
    pub fn list_endpoints(&self, org: &str) -> Result<Vec<EndpointRow>, StoreError> {
        with_conn!(self, |c| Ok(we::table
            .filter(we::org_id.eq(org))
            .order((we::created_at.asc(), we::id.asc()))
            .select(EndpointRow::as_select())
            .load(c)?))
    }

    /// One of an org's endpoints.
    pub fn get_endpoint(&self, org: &str, id: &str) -> Result<Option<EndpointRow>, StoreError> {
        with_conn!(self, |c| Ok(we::table
            .filter(we::org_id.eq(org))
            .filter(we::id.eq(id))
            .select(EndpointRow::as_select())
            .get_result(c)
            .optional()?))
    }

    /// Applies a change; `None` when the org has no such endpoint.
    pub fn update_endpoint(
        &self,
        org: &str,
        id: &str,
        changes: &EndpointChanges,
        now: i64,
    ) -> Result<Option<EndpointRow>, StoreError> {
        with_tx!(self, |c| {
            let Some(mut e) = we::table
                .filter(we::org_id.eq(org))
                .filter(we::id.eq(id))
                .select(EndpointRow::as_select())
                .get_result::<EndpointRow>(c)
                .optional()?
            else {
                return Ok::<_, StoreError>(None);
            };
            if let Some(u) = &changes.url {
                e.url = u.clone();
            }
            if let Some(t) = &changes.event_types {
                e.event_types = t.clone();
            }
            if let Some(d) = &changes.description {
                e.description = d.clone();
            }
            if let Some(on) = changes.enabled {
                let h = health_of(&e).set_enabled(on);
                e.status = h.status.as_str().to_owned();
                e.disabled_by = h.disabled_by.map(|d| d.as_str().to_owned());
                e.failed_in_a_row = h.failed_in_a_row;
            }
            e.updated_at = now;
            diesel::update(we::table.filter(we::id.eq(id)))
                .set((
                    we::url.eq(&e.url),
                    we::event_types.eq(&e.event_types),
                    we::description.eq(&e.description),
                    we::status.eq(&e.status),
                    we::disabled_by.eq(&e.disabled_by),
                    we::failed_in_a_row.eq(e.failed_in_a_row),
                    we::updated_at.eq(now),
                ))
                .execute(c)?;
            Ok(Some(e))
        })
    }

    /// Deletes an endpoint with its deliveries and their attempts; false when there is none.
    pub fn delete_endpoint(&self, org: &str, id: &str) -> Result<bool, StoreError> {
        with_tx!(self, |c| {
            let ids = wd::table
                .filter(wd::endpoint_id.eq(id))
                .filter(wd::org_id.eq(org))
                .select(wd::id);
            diesel::delete(wa::table.filter(wa::delivery_id.eq_any(ids))).execute(c)?;
            diesel::delete(
                wd::table
                    .filter(wd::endpoint_id.eq(id))
                    .filter(wd::org_id.eq(org)),
            )
            .execute(c)?;
            let n = diesel::delete(we::table.filter(we::org_id.eq(org)).filter(we::id.eq(id)))
                .execute(c)?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// Replaces the secret; the old one keeps signing until `previous_until`.
    pub fn rotate_endpoint_secret(
        &self,
        org: &str,
        id: &str,
        new_secret: &str,
        previous_until: i64,
        now: i64,
    ) -> Result<Option<EndpointRow>, StoreError> {
        with_tx!(self, |c| {
            let Some(e) = we::table
                .filter(we::org_id.eq(org))
                .filter(we::id.eq(id))
                .select(EndpointRow::as_select())
                .get_result::<EndpointRow>(c)
                .optional()?
            else {
                return Ok::<_, StoreError>(None);
            };
            diesel::update(we::table.filter(we::id.eq(id)))
                .set((
                    we::previous_secret.eq(Some(&e.secret)),
                    we::previous_secret_until.eq(Some(previous_until)),
                    we::secret.eq(new_secret),
                    we::updated_at.eq(now),
                ))
                .execute(c)?;
            Ok(Some(EndpointRow {
                previous_secret: Some(e.secret.clone()),
                previous_secret_until: Some(previous_until),
                secret: new_secret.to_owned(),
                updated_at: now,
                ..e
            }))
        })
    }

    /// Queues one delivery in a transaction of its own (a ping; a digest).
    pub fn enqueue_delivery(&self, row: &DeliveryRow) -> Result<(), StoreError> {
        with_tx!(self, |c| {
            diesel::insert_into(wd::table).values(row).execute(c)?;
            Ok::<_, StoreError>(())
        })?;
        self.outbox_written();
        Ok(())
    }

    /// An endpoint's deliveries, newest first, older than `before` (a delivery id) when given,
    /// with each one's attempts (oldest first).
    pub fn list_deliveries(
        &self,
        org: &str,
        endpoint: &str,
        status: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(DeliveryRow, Vec<AttemptRow>)>, StoreError> {
        with_conn!(self, |c| {
            let mut q = wd::table
                .filter(wd::org_id.eq(org))
                .filter(wd::endpoint_id.eq(endpoint))
                .select(DeliveryRow::as_select())
                .order(wd::id.desc())
                .limit(limit)
                .into_boxed();
            if let Some(s) = status {
                q = q.filter(wd::status.eq(s.to_owned()));
            }
            if let Some(b) = before {
                q = q.filter(wd::id.lt(b.to_owned()));
            }
            let rows: Vec<DeliveryRow> = q.load(c)?;
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            let attempts: Vec<AttemptRow> = wa::table
                .filter(wa::delivery_id.eq_any(&ids))
                .order((wa::delivery_id.asc(), wa::attempt.asc()))
                .select(AttemptRow::as_select())
                .load(c)?;
            let mut by: BTreeMap<String, Vec<AttemptRow>> = BTreeMap::new();
            for a in attempts {
                by.entry(a.delivery_id.clone()).or_default().push(a);
            }
            Ok(rows
                .into_iter()
                .map(|r| {
                    let a = by.remove(&r.id).unwrap_or_default();
                    (r, a)
                })
                .collect())
        })
    }

    /// Queues a delivery again (a new round of attempts, due at `now`). `None` when the
    /// endpoint has no such delivery; a pending one is left as it is.
    pub fn redeliver(
        &self,
        org: &str,
        endpoint: &str,
        delivery: &str,
        now: i64,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        let row = with_tx!(self, |c| {
            let filter = wd::table
                .filter(wd::org_id.eq(org))
                .filter(wd::endpoint_id.eq(endpoint))
                .filter(wd::id.eq(delivery));
            diesel::update(filter.filter(wd::status.ne(PENDING)))
                .set(requeue!(now))
                .execute(c)?;
            Ok::<_, StoreError>(
                filter
                    .select(DeliveryRow::as_select())
                    .get_result::<DeliveryRow>(c)
                    .optional()?,
            )
        })?;
        if row.is_some() {
            self.outbox_written();
        }
        Ok(row)
    }

    /// Queues an endpoint's failed and skipped deliveries created at or after `since` again;
    /// returns how many.
    pub fn recover_deliveries(
        &self,
        org: &str,
        endpoint: &str,
        since: i64,
        now: i64,
    ) -> Result<usize, StoreError> {
        let n = with_tx!(self, |c| {
            Ok::<_, StoreError>(
                diesel::update(
                    wd::table
                        .filter(wd::org_id.eq(org))
                        .filter(wd::endpoint_id.eq(endpoint))
                        .filter(wd::status.eq_any([FAILED, SKIPPED]))
                        .filter(wd::created_at.ge(since)),
                )
                .set(requeue!(now))
                .execute(c)?,
            )
        })?;
        if n > 0 {
            self.outbox_written();
        }
        Ok(n)
    }

    /// Claims up to `limit` deliveries due at `now` (none of `exclude`'s endpoints or
    /// `exclude_orgs`' orgs) for `worker` until `lease_until`, with their endpoints and events.
    pub fn claim_deliveries(
        &self,
        worker: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
        exclude: &[String],
        exclude_orgs: &[String],
    ) -> Result<Vec<Claimed>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<DeliveryRow> = match &self.pools {
            Pools::Sqlite { read, write, sync } => {
                // An idle outbox stays off the writer (as the job queue's claim does).
                let mut reader = read.get()?;
                let any: Vec<String> =
                    due_deliveries!(now, exclude, exclude_orgs, 1).load(&mut *reader)?;
                drop(reader);
                if any.is_empty() {
                    return Ok(Vec::new());
                }
                let mut pooled = write.get()?;
                let mut guard = NoSync::new(&mut pooled, *sync)?;
                guard.conn().immediate_transaction(|c| {
                    let ids: Vec<String> =
                        due_deliveries!(now, exclude, exclude_orgs, limit).load(c)?;
                    if ids.is_empty() {
                        return Ok::<_, diesel::result::Error>(Vec::new());
                    }
                    lease_deliveries!(c, &ids, worker, lease_until)
                })?
            }
            Pools::Pg(pool) => {
                let mut pooled = pool.get()?;
                let conn: &mut diesel::pg::PgConnection = &mut pooled;
                conn.transaction(|c| {
                    let ids: Vec<String> = due_deliveries!(now, exclude, exclude_orgs, limit)
                        .for_update()
                        .skip_locked()
                        .load(c)?;
                    if ids.is_empty() {
                        return Ok::<_, diesel::result::Error>(Vec::new());
                    }
                    lease_deliveries!(c, &ids, worker, lease_until)
                })?
            }
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let endpoint_ids: BTreeSet<&str> = rows.iter().map(|r| r.endpoint_id.as_str()).collect();
        let event_ids: Vec<&str> = rows.iter().filter_map(|r| r.event_id.as_deref()).collect();
        let (endpoints, evs) = with_conn!(self, |c| {
            let endpoints: Vec<EndpointRow> = we::table
                .filter(we::id.eq_any(&endpoint_ids))
                .select(EndpointRow::as_select())
                .load(c)?;
            // One cached primary-key lookup per event on SQLite, arrays on PostgreSQL
            // (`Bulk::events_by_id`): a list of up to 64 ids in an IN (…) made SQLite parse
            // the statement anew at every claim.
            let evs: Vec<EventRow> = c.events_by_id(&event_ids)?.into_iter().flatten().collect();
            Ok::<_, StoreError>((endpoints, evs))
        })?;
        let endpoints: BTreeMap<String, EndpointRow> =
            endpoints.into_iter().map(|e| (e.id.clone(), e)).collect();
        let evs: BTreeMap<String, EventRow> = evs.into_iter().map(|e| (e.id.clone(), e)).collect();
        Ok(rows
            .into_iter()
            // An endpoint deleted since the claim took its deliveries with it.
            .filter_map(|d| {
                let endpoint = endpoints.get(&d.endpoint_id)?.clone();
                let event = d.event_id.as_ref().and_then(|id| evs.get(id).cloned());
                Some(Claimed {
                    delivery: d,
                    endpoint,
                    event,
                })
            })
            .collect())
    }

    /// Hands claimed deliveries back unattempted, due at `at`.
    pub fn release_deliveries(
        &self,
        worker: &str,
        ids: &[String],
        at: i64,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        with_outbox_tx!(self, |c| {
            diesel::update(
                wd::table
                    .filter(wd::id.eq_any(ids))
                    .filter(wd::locked_by.eq(worker)),
            )
            .set((wd::locked_by.eq(None::<String>), wd::next_attempt_at.eq(at)))
            .execute(c)?;
            Ok::<_, StoreError>(())
        })
    }

    /// Records the results of claimed deliveries in one transaction: each delivery's new
    /// state and attempt (only if `worker` still holds it), then each endpoint's health.
    /// Returns how many results were recorded.
    pub fn record_attempts(
        &self,
        worker: &str,
        results: &[AttemptResult],
        now: i64,
    ) -> Result<usize, StoreError> {
        if results.is_empty() {
            return Ok(0);
        }
        with_outbox_tx!(self, |c| {
            let mut recorded = 0usize;
            let mut finished: BTreeMap<&str, Vec<Finished>> = BTreeMap::new();
            for r in results {
                let (status, next, done, attempted, fin) = match r.end {
                    AttemptEnd::Delivered => {
                        (SUCCEEDED, now, Some(now), true, Some(Finished::Delivered))
                    }
                    AttemptEnd::Gone => (FAILED, now, Some(now), true, Some(Finished::Gone)),
                    AttemptEnd::GaveUp => (FAILED, now, Some(now), true, Some(Finished::Failed)),
                    AttemptEnd::RetryAt(at) => (PENDING, at, None, true, None),
                    AttemptEnd::Skipped => (SKIPPED, now, Some(now), false, None),
                };
                let add = i64::from(attempted);
                let n = diesel::update(
                    wd::table
                        .filter(wd::id.eq(&r.delivery_id))
                        .filter(wd::locked_by.eq(worker))
                        .filter(wd::status.eq(PENDING)),
                )
                .set((
                    wd::status.eq(status),
                    wd::next_attempt_at.eq(next),
                    wd::finished_at.eq(done),
                    wd::locked_by.eq(None::<String>),
                    wd::attempts.eq(wd::attempts + add),
                    wd::round_attempts.eq(wd::round_attempts + add),
                ))
                .execute(c)?;
                if n != 1 {
                    // The lease went to another claim (or the delivery was redelivered):
                    // its holder records its own attempt.
                    continue;
                }
                recorded += 1;
                if attempted {
                    diesel::insert_into(wa::table)
                        .values(AttemptRow {
                            delivery_id: r.delivery_id.clone(),
                            attempt: r.attempt,
                            attempted_at: r.attempted_at,
                            status_code: r.status_code,
                            error: r.error.clone(),
                            duration_ms: r.duration_ms,
                            response_body: r.response_body.clone(),
                        })
                        .on_conflict((wa::delivery_id, wa::attempt))
                        .do_nothing()
                        .execute(c)?;
                }
                if let Some(f) = fin {
                    finished.entry(r.endpoint_id.as_str()).or_default().push(f);
                }
            }
            for (endpoint, fins) in finished {
                let Some(e) = c.lock_endpoint(endpoint)? else {
                    continue;
                };
                let before = health_of(&e);
                let after = fins.into_iter().fold(before, Health::after);
                if after != before {
                    diesel::update(we::table.filter(we::id.eq(endpoint)))
                        .set((
                            we::status.eq(after.status.as_str()),
                            we::disabled_by.eq(after.disabled_by.map(DisabledBy::as_str)),
                            we::failed_in_a_row.eq(after.failed_in_a_row),
                            we::updated_at.eq(now),
                        ))
                        .execute(c)?;
                }
            }
            Ok::<_, StoreError>(recorded)
        })
    }

    /// Deletes up to `limit` succeeded or skipped deliveries finished before `cutoff`, with
    /// their attempts; returns how many. Failed ones stay until redelivered or their endpoint
    /// is deleted.
    pub fn prune_deliveries(&self, cutoff: i64, limit: i64) -> Result<usize, StoreError> {
        // Found by a reader (no index: one on finished_at cost every delivery two index
        // writes, for a job that runs every 10 minutes; old rows come first in rowid order, so
        // the scan stops early when there is work), deleted by the writer, which checks again
        // (a redelivered one is pending now).
        let ids: Vec<String> = with_conn!(self, |c| wd::table
            .filter(wd::status.eq_any([SUCCEEDED, SKIPPED]))
            .filter(wd::finished_at.lt(cutoff))
            .select(wd::id)
            .limit(limit)
            .load(c)
            .map_err(StoreError::from))?;
        if ids.is_empty() {
            return Ok(0);
        }
        with_tx!(self, |c| {
            let gone = || {
                wd::table
                    .filter(wd::id.eq_any(&ids))
                    .filter(wd::status.eq_any([SUCCEEDED, SKIPPED]))
                    .filter(wd::finished_at.lt(cutoff))
            };
            diesel::delete(wa::table.filter(wa::delivery_id.eq_any(gone().select(wd::id))))
                .execute(c)?;
            Ok::<_, StoreError>(diesel::delete(gone()).execute(c)?)
        })
    }

    /// Pending deliveries and the oldest one's creation time.
    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        with_conn!(self, |c| {
            let (pending, oldest): (i64, Option<i64>) = wd::table
                .filter(is_pending())
                .select((diesel::dsl::count_star(), diesel::dsl::min(wd::created_at)))
                .get_result(c)?;
            Ok(OutboxCounts {
                pending,
                oldest_pending_at: oldest,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection as _;
    use diesel::sqlite::{Sqlite, SqliteConnection};

    #[derive(QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    #[derive(QueryableByName)]
    struct Sync {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        synchronous: i64,
    }

    /// The worker's bookkeeping lowers the writer's `synchronous` for its own commit only.
    #[test]
    fn outbox_transactions_put_the_writers_fsync_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&crate::DbConfig::new(url)).unwrap();
        let sync_of = |store: &Store| -> i64 {
            let Pools::Sqlite { write, .. } = &store.pools else {
                unreachable!()
            };
            let mut c = write.get().unwrap();
            diesel::sql_query("PRAGMA synchronous")
                .load::<Sync>(&mut *c)
                .unwrap()[0]
                .synchronous
        };
        assert_eq!(sync_of(&store), 2, "FULL");
        store
            .release_deliveries("w", &["whdel_x".to_owned()], 0)
            .unwrap();
        assert_eq!(
            store
                .claim_deliveries("w", 0, 1, 10, &[], &[])
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            store
                .record_attempts(
                    "w",
                    &[AttemptResult {
                        delivery_id: "whdel_x".into(),
                        endpoint_id: "wh_x".into(),
                        attempt: 1,
                        end: AttemptEnd::Delivered,
                        attempted_at: 0,
                        status_code: Some(200),
                        error: None,
                        duration_ms: 1,
                        response_body: String::new(),
                    }],
                    0
                )
                .unwrap(),
            0
        );
        assert_eq!(sync_of(&store), 2, "FULL again");
    }

    /// The claim's query must reach due deliveries through the partial index, not by scanning
    /// every delivery kept (30 days of them): a bound `status = ?` would scan.
    #[test]
    fn the_claim_reads_the_partial_index() {
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        c.batch_execute(
            "CREATE TABLE orgs (id TEXT PRIMARY KEY NOT NULL); \
             CREATE TABLE agents (org_id TEXT, agent_id TEXT, first_seen_at BIGINT);",
        )
        .unwrap();
        c.batch_execute(include_str!(
            "../../../../migrations/sqlite/2026-12-02-000014_webhooks/up.sql"
        ))
        .unwrap();
        let exclude = vec!["wh_busy".to_owned()];
        let q = due_deliveries!(5_i64, &exclude, &exclude, 10_i64);
        let sql = diesel::debug_query::<Sqlite, _>(&q).to_string();
        let sql = sql.split(" -- binds").next().unwrap();
        // Bind values do not change the plan; fill each `?` with a literal.
        let mut filled = String::new();
        for (i, part) in sql.split('?').enumerate() {
            if i > 0 {
                filled.push_str("'x'");
            }
            filled.push_str(part);
        }
        let plan: Vec<PlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {filled}"))
            .load(&mut c)
            .unwrap();
        let plan: Vec<&str> = plan.iter().map(|p| p.detail.as_str()).collect();
        assert!(
            plan.iter().any(|d| d.contains("webhook_deliveries_due")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
    }
}
