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
//! PostgreSQL keeps the rollups in each write's transaction: several instances write at once
//! and its sequences are not in commit order, so no watermark could say what is folded.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;

use super::bulk::Bulk as _;
use super::rollup::{key_sql, slot_sql, Rollup, RollupAcc, EVENT_SUMS_SQL, PG_ROLLUPS, ROLLUPS};
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
    /// The watermark now.
    pub through: i64,
    /// Events folded.
    pub events: i64,
    /// Whether the writer's in-memory sums were used (else the events table was summed).
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
            "INSERT INTO rollup_hourly (org_id, dim, hour, key, events, hours_saved_milli, \
             cost_saved_cents_hi, cost_saved_cents_lo, agent_cost_micros_hi, \
             agent_cost_micros_lo, costed_events) \
             SELECT org_id, '{name}', {slot}, {key}, COUNT(*), {sums}, \
             COUNT(agent_cost_micros) \
             FROM events NOT INDEXED WHERE rowid > ? AND rowid <= ? \
             GROUP BY org_id, {slot}, {key} \
             ON CONFLICT (org_id, dim, hour, key) DO UPDATE SET \
             events = events + excluded.events, \
             hours_saved_milli = hours_saved_milli + excluded.hours_saved_milli, \
             cost_saved_cents_hi = cost_saved_cents_hi + excluded.cost_saved_cents_hi, \
             cost_saved_cents_lo = cost_saved_cents_lo + excluded.cost_saved_cents_lo, \
             agent_cost_micros_hi = agent_cost_micros_hi + excluded.agent_cost_micros_hi, \
             agent_cost_micros_lo = agent_cost_micros_lo + excluded.agent_cost_micros_lo, \
             costed_events = costed_events + excluded.costed_events",
            name = rollup.name,
            slot = slot_sql(rollup.width),
            key = key_sql(rollup.fields),
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

/// PostgreSQL has no watermark: rollups are always written with their events.
impl OwnRollups for diesel::pg::PgConnection {
    fn fold_tail_first(&mut self) -> QueryResult<()> {
        Ok(())
    }

    fn mark_all_folded(&mut self) -> QueryResult<()> {
        Ok(())
    }
}

impl Store {
    /// Whether rollups are folded after commit (SQLite) rather than in each write's
    /// transaction (PostgreSQL).
    pub fn rollups_deferred(&self) -> bool {
        matches!(self.pools, Pools::Sqlite { .. })
    }

    /// The rollups this database keeps: every one on SQLite, the hourly single fields on
    /// PostgreSQL ([`PG_ROLLUPS`]).
    pub(crate) fn kept_rollups(&self) -> &'static [Rollup] {
        if self.rollups_deferred() {
            &ROLLUPS
        } else {
            PG_ROLLUPS
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

    /// Folds the events past the watermark into the rollups (SQLite; nothing to do on
    /// PostgreSQL). `mine` is what the caller summed for the events it wrote since its watermark;
    /// it is used only when it is exactly the tail.
    pub fn fold_rollups(&self, mine: Option<&Pending>) -> Result<Option<Folded>, StoreError> {
        match &self.pools {
            Pools::Sqlite { write, .. } => {
                let mut conn = write.get()?;
                let folded = conn.immediate_transaction(|c| fold(c, mine))?;
                Ok(Some(folded))
            }
            Pools::Pg(_) => Ok(None),
        }
    }
}
