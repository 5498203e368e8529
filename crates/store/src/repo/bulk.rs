//! The multi-row writes of a batch, one implementation per backend.
//!
//! On SQLite a statement costs a few microseconds and no round trip: one cached single-row
//! statement per row is the fastest (diesel cannot batch an upsert there); the hot ones are
//! written out in `sqlite_stmt.rs` so diesel does not rebuild their SQL at every row. On
//! PostgreSQL every statement is a round trip, so rows go in multi-row statements: the hot ones
//! as `INSERT … SELECT * FROM UNNEST(…)` with an array per column (`pg_stmt.rs`), whose SQL is
//! the same for any number of rows, so they are prepared and planned once.

use std::collections::HashSet;

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::pg_stmt::{
    ClaimKeys, CountUsage as PgCountUsage, InsertEvents, QueueEvents, UpsertAgents, UpsertRollups,
};
use super::sqlite_stmt::{ClaimKey, CountUsage, InsertEvent, UpsertAgent, UpsertRollup};
use crate::models::{AgentRow, EventRow, IdempotencyRow, RollupRow, UsageRow};
use crate::schema::{events, idempotency_keys};

/// The column lists of the batch's inserts, shared by both backends' statements
/// (`sqlite_stmt.rs` binds one value per column, `pg_stmt.rs` one array per column, in this
/// order).
pub(super) const INSERT_EVENT: &str = "INSERT INTO events (id, org_id, agent_id, task_type, \
     outcome, occurred_at, received_at, agent_duration_seconds, model, tokens_in, tokens_out, \
     baseline_minutes, baseline_source, hourly_rate, rate_source, currency, cost_source, \
     price_input_usd_per_mtok, price_output_usd_per_mtok, fx_rate, hours_saved_milli, \
     cost_saved_cents, agent_cost_micros, net_saved_cents, client, metadata, audit_sample, \
     warnings)";
pub(super) const INSERT_CLAIM: &str = "INSERT INTO idempotency_keys (org_id, idem_key, \
     fingerprint, event_id, created_at)";
/// `first_event_at` is bound to the row's `first_seen_at` (these rows come from events).
pub(super) const INSERT_AGENT: &str = "INSERT INTO agents (org_id, agent_id, hourly_rate, \
     first_seen_at, last_seen_at, first_event_at)";
/// Keeps an agent's first event time once set: an agent made by `PUT /agents/{id}` gets it from
/// its first event.
pub(super) const AGENT_CONFLICT: &str = " ON CONFLICT (org_id, agent_id) DO UPDATE SET \
     last_seen_at = excluded.last_seen_at, \
     first_event_at = COALESCE(agents.first_event_at, excluded.first_event_at)";
pub(super) const INSERT_ROLLUP: &str = "INSERT INTO rollup_hourly (org_id, dim, hour, key, \
    events, hours_saved_milli, cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, \
    agent_cost_micros_lo, costed_events)";
pub(super) const ROLLUP_CONFLICT: &str = " ON CONFLICT (org_id, dim, hour, key) DO UPDATE SET \
    events = rollup_hourly.events + excluded.events, \
    hours_saved_milli = rollup_hourly.hours_saved_milli + excluded.hours_saved_milli, \
    cost_saved_cents_hi = rollup_hourly.cost_saved_cents_hi + excluded.cost_saved_cents_hi, \
    cost_saved_cents_lo = rollup_hourly.cost_saved_cents_lo + excluded.cost_saved_cents_lo, \
    agent_cost_micros_hi = rollup_hourly.agent_cost_micros_hi + excluded.agent_cost_micros_hi, \
    agent_cost_micros_lo = rollup_hourly.agent_cost_micros_lo + excluded.agent_cost_micros_lo, \
    costed_events = rollup_hourly.costed_events + excluded.costed_events";
pub(super) const INSERT_USAGE: &str =
    "INSERT INTO monthly_usage (org_id, month, events, overage_events)";

/// A new idempotency record (`idempotency_keys`), borrowed from the write it belongs to.
pub(crate) struct NewClaim<'a> {
    pub org_id: &'a str,
    pub idem_key: &'a str,
    /// Hex SHA-256 of the canonical request body.
    pub fingerprint: String,
    pub event_id: &'a str,
    pub created_at: i64,
}

/// Rows per multi-row statement on PostgreSQL (events have 28 columns: 28 × 1000 binds).
const PG_CHUNK: usize = 1000;

/// The batch writes of the track transaction and the seeder.
pub(crate) trait Bulk {
    /// Inserts idempotency records, skipping keys that exist; says which rows were inserted.
    fn claim_keys(&mut self, rows: &[NewClaim<'_>]) -> QueryResult<Vec<bool>>;
    /// The stored idempotency records of these (org, key) pairs, in their order; each must exist
    /// (they are the keys `claim_keys` found taken).
    fn stored_claims(&mut self, keys: &[(&str, &str)]) -> QueryResult<Vec<IdempotencyRow>>;
    /// Events by id, in the order asked; `None` for an id that is not stored.
    fn events_by_id(&mut self, ids: &[&str]) -> QueryResult<Vec<Option<EventRow>>>;
    /// Inserts events.
    fn insert_events(&mut self, rows: &[&EventRow]) -> QueryResult<()>;
    /// Queues inserted events for the rollups folded after commit (`fold.rs`): a row each in
    /// PostgreSQL's `rollup_queue`. Nothing on SQLite, whose queue is the events past the
    /// watermark.
    fn queue_for_fold(&mut self, rows: &[&EventRow]) -> QueryResult<()>;
    /// Creates agents, or moves their last-seen time (rows must name each agent once).
    fn upsert_agents(&mut self, rows: &[AgentRow]) -> QueryResult<()>;
    /// Adds deltas to the hourly rollups (rows must name each rollup row once).
    fn upsert_rollups(&mut self, rows: &[RollupRow]) -> QueryResult<()>;
    /// Adds each row's `events` to its (org, month) usage counter, under the counter's row lock
    /// (PostgreSQL) or the write lock (SQLite), and returns the counters after the addition, in
    /// the rows' order. Rows must name each (org, month) once, sorted, so that concurrent
    /// transactions lock counters in one order.
    fn count_usage(&mut self, rows: &[UsageRow]) -> QueryResult<Vec<i64>>;
}

impl Bulk for SqliteConnection {
    fn claim_keys(&mut self, rows: &[NewClaim<'_>]) -> QueryResult<Vec<bool>> {
        rows.iter()
            .map(|row| ClaimKey(row).execute(self).map(|n| n == 1))
            .collect()
    }

    // Primary-key lookups, one cached statement each. `get_result`, not `first`: `first` binds
    // its LIMIT as a parameter, and SQLite (3.53) lets a bound LIMIT shape the plan, so it
    // prepares the statement again at every execution: two thirds of the writer's time for a
    // batch of replays (docs/decisions.md, Ingest).
    fn stored_claims(&mut self, keys: &[(&str, &str)]) -> QueryResult<Vec<IdempotencyRow>> {
        keys.iter()
            .map(|(org, key)| {
                idempotency_keys::table
                    .filter(idempotency_keys::org_id.eq(org))
                    .filter(idempotency_keys::idem_key.eq(key))
                    .select(IdempotencyRow::as_select())
                    .get_result(self)
            })
            .collect()
    }

    fn events_by_id(&mut self, ids: &[&str]) -> QueryResult<Vec<Option<EventRow>>> {
        ids.iter()
            .map(|id| {
                events::table
                    .filter(events::id.eq(id))
                    .select(EventRow::as_select())
                    .get_result(self)
                    .optional()
            })
            .collect()
    }

    fn insert_events(&mut self, rows: &[&EventRow]) -> QueryResult<()> {
        for row in rows {
            InsertEvent(row).execute(self)?;
        }
        Ok(())
    }

    fn queue_for_fold(&mut self, _rows: &[&EventRow]) -> QueryResult<()> {
        Ok(())
    }

    fn upsert_agents(&mut self, rows: &[AgentRow]) -> QueryResult<()> {
        for row in rows {
            UpsertAgent(row).execute(self)?;
        }
        Ok(())
    }

    fn upsert_rollups(&mut self, rows: &[RollupRow]) -> QueryResult<()> {
        for row in rows {
            UpsertRollup(row).execute(self)?;
        }
        Ok(())
    }

    fn count_usage(&mut self, rows: &[UsageRow]) -> QueryResult<Vec<i64>> {
        // One upsert per org, reading the counter back with RETURNING: one statement instead of
        // an upsert and a SELECT. (perf of the writer on new events: 2% of its time.)
        rows.iter()
            .map(|row| CountUsage(row).get_result::<i64>(self))
            .collect()
    }
}

impl Bulk for PgConnection {
    fn claim_keys(&mut self, rows: &[NewClaim<'_>]) -> QueryResult<Vec<bool>> {
        let mut inserted: HashSet<(String, String)> = HashSet::new();
        for chunk in rows.chunks(PG_CHUNK) {
            let keys: Vec<(String, String)> = ClaimKeys::new(chunk).get_results(self)?;
            inserted.extend(keys);
        }
        Ok(rows
            .iter()
            .map(|r| inserted.contains(&(r.org_id.to_owned(), r.idem_key.to_owned())))
            .collect())
    }

    // One statement per org (keys) or per chunk (events), each binding an array (`= ANY($n)`):
    // one lookup per key was two round trips per replayed event, and a retried batch of 1,000
    // replays took over half a second.
    fn stored_claims(&mut self, keys: &[(&str, &str)]) -> QueryResult<Vec<IdempotencyRow>> {
        let mut by_org: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (org, key) in keys {
            by_org.entry(org).or_default().push(key);
        }
        let mut found: std::collections::HashMap<(String, String), IdempotencyRow> =
            std::collections::HashMap::with_capacity(keys.len());
        for (org, org_keys) in by_org {
            for chunk in org_keys.chunks(PG_CHUNK) {
                let rows: Vec<IdempotencyRow> = idempotency_keys::table
                    .filter(idempotency_keys::org_id.eq(org))
                    .filter(idempotency_keys::idem_key.eq_any(chunk))
                    .select(IdempotencyRow::as_select())
                    .load(self)?;
                found.extend(
                    rows.into_iter()
                        .map(|r| ((r.org_id.clone(), r.idem_key.clone()), r)),
                );
            }
        }
        keys.iter()
            .map(|(org, key)| {
                found
                    .remove(&((*org).to_owned(), (*key).to_owned()))
                    .ok_or(diesel::result::Error::NotFound)
            })
            .collect()
    }

    fn events_by_id(&mut self, ids: &[&str]) -> QueryResult<Vec<Option<EventRow>>> {
        let mut found: std::collections::HashMap<String, EventRow> =
            std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(PG_CHUNK) {
            let rows: Vec<EventRow> = events::table
                .filter(events::id.eq_any(chunk))
                .select(EventRow::as_select())
                .load(self)?;
            found.extend(rows.into_iter().map(|e| (e.id.clone(), e)));
        }
        Ok(ids.iter().map(|id| found.get(*id).cloned()).collect())
    }

    fn insert_events(&mut self, rows: &[&EventRow]) -> QueryResult<()> {
        for chunk in rows.chunks(PG_CHUNK) {
            InsertEvents::new(chunk).execute(self)?;
        }
        Ok(())
    }

    fn queue_for_fold(&mut self, rows: &[&EventRow]) -> QueryResult<()> {
        for chunk in rows.chunks(PG_CHUNK) {
            QueueEvents::new(chunk).execute(self)?;
        }
        Ok(())
    }

    fn upsert_agents(&mut self, rows: &[AgentRow]) -> QueryResult<()> {
        for chunk in rows.chunks(PG_CHUNK) {
            UpsertAgents::new(chunk).execute(self)?;
        }
        Ok(())
    }

    fn upsert_rollups(&mut self, rows: &[RollupRow]) -> QueryResult<()> {
        for chunk in rows.chunks(PG_CHUNK) {
            UpsertRollups::new(chunk).execute(self)?;
        }
        Ok(())
    }

    fn count_usage(&mut self, rows: &[UsageRow]) -> QueryResult<Vec<i64>> {
        // One statement for every org of the batch (two round trips per org before). Rows are
        // inserted, and their counters locked, in the order given.
        let mut after: std::collections::HashMap<(String, String), i64> =
            std::collections::HashMap::new();
        for chunk in rows.chunks(PG_CHUNK) {
            let got: Vec<(String, String, i64)> = PgCountUsage::new(chunk).get_results(self)?;
            after.extend(got.into_iter().map(|(o, m, e)| ((o, m), e)));
        }
        rows.iter()
            .map(|row| {
                after
                    .get(&(row.org_id.clone(), row.month.clone()))
                    .copied()
                    .ok_or(diesel::result::Error::NotFound)
            })
            .collect()
    }
}
