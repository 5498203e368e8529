//! Folding events into the rollups after their commit (SQLite).
//!
//! On SQLite one writer commits every track write, and upserting a batch's rollup rows inside
//! its transaction was a third of that writer's time. So the rollups are kept out of the commit
//! a request waits on: the writer sums the deltas of what it committed in memory
//! ([`RollupAcc`]) and folds them in a transaction of their own every few hundred
//! milliseconds.
//!
//! The invariant that keeps every report exact: `rollup_hourly` holds exactly the events whose
//! rowid is at most `rollup_state.folded_through` (the watermark). A new event's rowid
//! (MAX(rowid) + 1) is always above it: the retention sweep never deletes the row with the
//! highest rowid, erasing an org lowers the watermark with MAX(rowid), and opening the database
//! does the same (a `VACUUM` may renumber rows; see `Store::open`). Reports read the rollups and add the events past the
//! watermark (a rowid range scan) in one read transaction, so whatever is not folded yet is
//! counted once, from the events. A crash loses only the writer's in-memory sums; the events
//! are committed, and [`Store::open`] folds them from the events table.
//!
//! A fold uses the writer's sums only when they are provably the whole tail: the watermark is
//! still the one they were started at and the events past it are exactly as many as they hold.
//! Otherwise (another process wrote to the same file, or a fold failed half-way in memory) it
//! sums the tail from the events table instead. Either way the rollups and the watermark move
//! in one transaction.
//!
//! PostgreSQL has no such watermark: several instances write at once and its sequences are not
//! in commit order, so no number could say what is folded. There the hourly single fields
//! ([`PG_TX_ROLLUPS`]) are upserted in each write's transaction, and each new event is also
//! inserted into `rollup_queue` (a plain insert, no row that other writes contend for). A fold
//! deletes queued rows and adds them to the other rollups in one statement, so in any snapshot
//! an event is either queued or in those rollups, never both and never neither. Reports read
//! the rollups and the org's queued rows in one snapshot (`reports.rs`). Instances fold in
//! turn, under a transaction-scoped advisory lock ([`FOLD_LOCK`]), so two folds never upsert
//! the same rollup rows in different orders; erasing an org takes it too.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;

use super::bulk::{Bulk as _, INSERT_ROLLUP, ROLLUP_CONFLICT};
use super::rollup::{key_sql, slot_sql, Rollup, RollupAcc, EVENT_SUMS_SQL, PG_TX_ROLLUPS, ROLLUPS};
use crate::db::Pools;
use crate::{Store, StoreError};

/// One integer column named `v`.
#[derive(QueryableByName)]
pub(crate) struct Int {
    #[diesel(sql_type = BigInt)]
    pub(crate) v: i64,
}

/// The watermark's query (a row of [`Int`]).
pub(crate) const WATERMARK_SQL: &str = "SELECT folded_through AS v FROM rollup_state WHERE id = 1";

/// The rollup deltas a writer holds for the events it committed since watermark `since`.
#[derive(Debug)]
pub struct Pending {
    pub since: i64,
    pub acc: RollupAcc,
}

impl Pending {
    /// Nothing held yet, counting from watermark `since`.
    pub fn new(since: i64) -> Self {
        Pending {
            since,
            acc: RollupAcc::default(),
        }
    }
}

/// What a fold did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    /// The watermark now (SQLite; 0 on PostgreSQL).
    pub through: i64,
    /// Events folded.
    pub events: i64,
    /// Whether the writer's in-memory sums were used (else the events table, or PostgreSQL's
    /// queue, was summed).
    pub from_memory: bool,
}

fn scalar(c: &mut SqliteConnection, sql: &str, bind: Option<i64>) -> QueryResult<i64> {
    let q = diesel::sql_query(sql).into_boxed();
    let q = match bind {
        Some(b) => q.bind::<BigInt, _>(b),
        None => q,
    };
    Ok(q.get_result::<Int>(c)?.v)
}

/// The watermark.
pub(crate) fn watermark(c: &mut SqliteConnection) -> QueryResult<i64> {
    scalar(c, WATERMARK_SQL, None)
}

/// The newest event's rowid, 0 without events.
fn max_rowid(c: &mut SqliteConnection) -> QueryResult<i64> {
    scalar(
        c,
        "SELECT CAST(COALESCE(MAX(rowid), 0) AS BIGINT) AS v FROM events",
        None,
    )
}

/// Adds the events with rowid in (`after`, `through`] to the rollups, summed by the database.
fn fold_from_events(c: &mut SqliteConnection, after: i64, through: i64) -> QueryResult<()> {
    for rollup in &ROLLUPS {
        let sql = format!(
            "{INSERT_ROLLUP} \
             SELECT org_id, '{name}', {slot}, {key}, COUNT(*), {sums}, \
             COUNT(agent_cost_micros) \
             FROM events NOT INDEXED WHERE rowid > ? AND rowid <= ? \
             GROUP BY org_id, {slot}, {key}{ROLLUP_CONFLICT}",
            name = rollup.name,
            slot = slot_sql(rollup.width),
            key = key_sql(rollup.fields, false),
            sums = *EVENT_SUMS_SQL,
        );
        diesel::sql_query(sql)
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(through)
            .execute(c)?;
    }
    Ok(())
}

/// Folds every event past the watermark, from `mine` when it is exactly that tail. Run inside a
/// write transaction.
pub(crate) fn fold(c: &mut SqliteConnection, mine: Option<&Pending>) -> QueryResult<Folded> {
    let wm = watermark(c)?;
    let max = max_rowid(c)?;
    if max <= wm {
        return Ok(Folded {
            through: wm,
            events: 0,
            from_memory: false,
        });
    }
    let tail = scalar(
        c,
        "SELECT CAST(COUNT(*) AS BIGINT) AS v FROM events NOT INDEXED WHERE rowid > ?",
        Some(wm),
    )?;
    let from_memory = match mine {
        Some(p) if p.since == wm && p.acc.events() == tail => {
            c.upsert_rollups(&p.acc.rows())?;
            true
        }
        _ => {
            fold_from_events(c, wm, max)?;
            false
        }
    };
    set_watermark(c, max)?;
    Ok(Folded {
        through: max,
        events: tail,
        from_memory,
    })
}

/// Moves the watermark (inside the transaction that folded up to it).
pub(crate) fn set_watermark(c: &mut SqliteConnection, through: i64) -> QueryResult<()> {
    diesel::sql_query("UPDATE rollup_state SET folded_through = ? WHERE id = 1")
        .bind::<BigInt, _>(through)
        .execute(c)?;
    Ok(())
}

/// The advisory lock (`pg_advisory_xact_lock`) a PostgreSQL fold holds, and erasing an org
/// before it deletes the org's queued rows: "hh_fold" in ASCII.
pub(crate) const FOLD_LOCK: i64 = 0x0068_685f_666f_6c64;

/// Most queued events one PostgreSQL fold transaction takes.
const QUEUE_FOLD_LIMIT: i64 = 50_000;

/// The rollups PostgreSQL folds from `rollup_queue`: those not written in the transaction.
fn queued_rollups() -> impl Iterator<Item = &'static Rollup> {
    ROLLUPS.iter().filter(|r| !PG_TX_ROLLUPS.contains(r))
}

/// One statement that deletes up to [`QUEUE_FOLD_LIMIT`] queued events and adds them to the
/// queued rollups, answering how many it took (`v`). Rollup rows are upserted in byte order of
/// their key, the order in which the seeder (which writes these rollups too) locks them.
static FOLD_QUEUE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let slots: Vec<String> = queued_rollups()
        .map(|r| {
            format!(
                "('{}', {}, {})",
                r.name,
                slot_sql(r.width),
                key_sql(r.fields, true)
            )
        })
        .collect();
    format!(
        "WITH taken AS (DELETE FROM rollup_queue WHERE ctid = ANY(ARRAY(\
         SELECT ctid FROM rollup_queue LIMIT {QUEUE_FOLD_LIMIT})) \
         RETURNING org_id, occurred_at, agent_id, task_type, model, outcome, client, \
         hours_saved_milli, cost_saved_cents, agent_cost_micros), \
         folded AS ({INSERT_ROLLUP} \
         SELECT org_id, r.dim, r.hour, r.key, COUNT(*), {sums}, COUNT(agent_cost_micros) \
         FROM taken CROSS JOIN LATERAL (VALUES {slots}) AS r(dim, hour, key) \
         GROUP BY org_id, r.dim, r.hour, r.key \
         ORDER BY org_id COLLATE \"C\", r.dim COLLATE \"C\", r.hour, r.key COLLATE \"C\"{ROLLUP_CONFLICT} \
         RETURNING 1) \
         SELECT CAST(COUNT(*) AS BIGINT) AS v FROM taken",
        sums = *EVENT_SUMS_SQL,
        slots = slots.join(", "),
    )
});

/// Folds queued events into the rollups (PostgreSQL), a transaction of at most
/// [`QUEUE_FOLD_LIMIT`] at a time, until the queue holds nothing committed before the last
/// one. Waits for the fold lock while another instance holds it (a fold takes milliseconds;
/// an erasure may hold it longer). Answers how many events it folded.
pub(crate) fn fold_queue(c: &mut diesel::pg::PgConnection) -> QueryResult<i64> {
    let mut total = 0;
    loop {
        let taken = c.transaction(|c| -> QueryResult<i64> {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({FOLD_LOCK})")).execute(c)?;
            Ok(diesel::sql_query(FOLD_QUEUE_SQL.as_str())
                .get_result::<Int>(c)?
                .v)
        })?;
        total += taken;
        if taken < QUEUE_FOLD_LIMIT {
            return Ok(total);
        }
    }
}

/// For a transaction that inserts events and upserts their rollup deltas itself (the seeder),
/// on either backend.
pub(crate) trait OwnRollups {
    /// Before inserting: folds any tail from the events table, so that afterwards the tail is
    /// exactly what this transaction inserts (SQLite).
    fn fold_tail_first(&mut self) -> QueryResult<()>;
    /// After inserting and upserting the deltas: everything is folded (SQLite).
    fn mark_all_folded(&mut self) -> QueryResult<()>;
}

impl OwnRollups for SqliteConnection {
    fn fold_tail_first(&mut self) -> QueryResult<()> {
        fold(self, None).map(|_| ())
    }

    fn mark_all_folded(&mut self) -> QueryResult<()> {
        let max = max_rowid(self)?;
        set_watermark(self, max)
    }
}

/// PostgreSQL has no watermark: the seeder writes every rollup with its events, and queues
/// nothing.
impl OwnRollups for diesel::pg::PgConnection {
    fn fold_tail_first(&mut self) -> QueryResult<()> {
        Ok(())
    }

    fn mark_all_folded(&mut self) -> QueryResult<()> {
        Ok(())
    }
}

impl Store {
    /// The rollups a track write upserts in its own transaction: none on SQLite, the hourly
    /// single fields on PostgreSQL ([`PG_TX_ROLLUPS`]). The others are folded after commit.
    pub(crate) fn tx_rollups(&self) -> &'static [Rollup] {
        match self.pools {
            Pools::Sqlite { .. } => &[],
            Pools::Pg(_) => PG_TX_ROLLUPS,
        }
    }

    /// The rollups' watermark on SQLite (see the module docs); `None` on PostgreSQL.
    pub fn rollup_watermark(&self) -> Result<Option<i64>, StoreError> {
        match &self.pools {
            Pools::Sqlite { read, .. } => {
                let mut conn = read.get()?;
                Ok(Some(watermark(&mut conn)?))
            }
            Pools::Pg(_) => Ok(None),
        }
    }

    /// Folds what is not folded yet into the rollups: on SQLite the events past the watermark
    /// (`mine` is what the caller summed for the events it wrote since its watermark; it is
    /// used only when it is exactly the tail); on PostgreSQL the queued events, in turn with the
    /// other instances.
    pub fn fold_rollups(&self, mine: Option<&Pending>) -> Result<Folded, StoreError> {
        match &self.pools {
            Pools::Sqlite { write, .. } => {
                let mut conn = write.get()?;
                Ok(conn.immediate_transaction(|c| fold(c, mine))?)
            }
            Pools::Pg(pool) => {
                let mut conn = pool.get()?;
                Ok(Folded {
                    through: 0,
                    events: fold_queue(&mut conn)?,
                    from_memory: false,
                })
            }
        }
    }
}
