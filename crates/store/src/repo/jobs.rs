//! The job queue and the cluster-wide schedules (`background_jobs`, `job_schedules`), for the
//! runner in `crates/jobs`.
//!
//! A job is a row: enqueued (ideally in the transaction of what caused it, with
//! [`JobConn::enqueue_job`] on the open connection), claimed under a lease, then deleted when
//! it succeeds or moved to a later `run_at` when it fails, until it runs out of attempts and is
//! kept as dead. Claims count the attempt, so a job that crashes its process runs out too.
//! On PostgreSQL many instances claim at once: `FOR UPDATE SKIP LOCKED` hands each row to one
//! of them without waiting. On SQLite the claim is one statement on the single writer
//! connection, in a `BEGIN IMMEDIATE` transaction, so it is serialized like every write.
//!
//! No clock here: every time is an argument (Unix ms).

use diesel::prelude::*;
use diesel::result::QueryResult;

use crate::db::Pools;
use crate::models::{JobRow, NewJob};
use crate::schema::{background_jobs as bj, job_schedules as js};
use crate::{Store, StoreError};

/// `run_at` of a dead job: beyond every claim's `run_at <= now`, so the index skips it.
pub const DEAD_RUN_AT: i64 = i64::MAX;

/// What becomes of a job that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRetry {
    /// Due again at this time (Unix ms).
    At(i64),
    /// Out of attempts, or failed for good: kept, never claimed again.
    Dead,
}

/// The queue at a glance, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting (due or not yet), not leased, not dead.
    pub queued: i64,
    /// Leased by an instance whose lease has not expired.
    pub running: i64,
    /// Out of attempts or failed permanently.
    pub dead: i64,
}

/// Enqueuing on a connection the caller holds, so a job is written in the transaction of
/// its cause (commits with it, or not at all). Implemented for both backends' connections, so
/// it can be called inside any `with_tx!` body.
pub(crate) trait JobConn {
    /// Inserts the job; false (and nothing changes) when a job of that id is still queued.
    fn enqueue_job(&mut self, job: &NewJob) -> QueryResult<bool>;
}

macro_rules! impl_job_conn {
    ($conn:ty) => {
        impl JobConn for $conn {
            fn enqueue_job(&mut self, job: &NewJob) -> QueryResult<bool> {
                let n = diesel::insert_into(bj::table)
                    .values((
                        bj::id.eq(&job.id),
                        bj::kind.eq(&job.kind),
                        bj::payload.eq(&job.payload),
                        bj::run_at.eq(job.run_at),
                        bj::attempts.eq(0_i64),
                        bj::max_attempts.eq(job.max_attempts.max(1)),
                        bj::created_at.eq(job.created_at),
                    ))
                    .on_conflict(bj::id)
                    .do_nothing()
                    .execute(self)?;
                Ok(n == 1)
            }
        }
    };
}
impl_job_conn!(diesel::sqlite::SqliteConnection);
impl_job_conn!(diesel::pg::PgConnection);

/// The ids of up to `limit` due, unleased, live jobs of these kinds, oldest `run_at` first.
/// A macro rather than a function: the PostgreSQL form adds `FOR UPDATE SKIP LOCKED` to the
/// same select, and diesel's types for the two would have to be spelled out. (Read, then
/// leased by id in the same transaction, as crates.io's worker does: diesel does not accept an
/// `UPDATE … WHERE id IN (SELECT … LIMIT n)` on one table.)
macro_rules! due_ids {
    ($kinds:expr, $limit:expr, $now:expr) => {
        bj::table
            .select(bj::id)
            .filter(bj::run_at.le($now))
            .filter(bj::dead_at.is_null())
            .filter(bj::locked_until.is_null().or(bj::locked_until.lt($now)))
            .filter(bj::kind.eq_any($kinds))
            .order((bj::run_at.asc(), bj::id.asc()))
            .limit($limit)
    };
}

/// Leases the jobs of these ids and counts the attempt; returns them as claimed.
macro_rules! lease {
    ($c:expr, $ids:expr, $worker:expr, $lease_until:expr) => {
        diesel::update(bj::table.filter(bj::id.eq_any($ids)))
            .set((
                bj::locked_by.eq(Some($worker)),
                bj::locked_until.eq(Some($lease_until)),
                bj::attempts.eq(bj::attempts + 1_i64),
            ))
            .returning(JobRow::as_returning())
            .get_results::<JobRow>($c)
    };
}

impl Store {
    /// Enqueues one job in a transaction of its own; false when a job of that id is still
    /// queued (nothing changes). Code that writes the job's cause enqueues with
    /// [`JobConn::enqueue_job`] in the cause's transaction instead.
    pub fn enqueue_job(&self, job: &NewJob) -> Result<bool, StoreError> {
        with_tx!(self, |c| Ok::<_, StoreError>(c.enqueue_job(job)?))
    }

    /// Claims up to `limit` jobs of these kinds that are due at `now` and not leased (or whose
    /// lease expired before `now`): leases them to `worker` until `lease_until` and counts the
    /// attempt. Only kinds this instance can run are claimed, so instances of different
    /// versions can share a queue.
    pub fn claim_jobs(
        &self,
        worker: &str,
        kinds: &[&str],
        limit: i64,
        now: i64,
        lease_until: i64,
    ) -> Result<Vec<JobRow>, StoreError> {
        if limit <= 0 || kinds.is_empty() {
            return Ok(Vec::new());
        }
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
        let mut rows = match &self.pools {
            Pools::Sqlite { read, write, .. } => {
                // An idle queue stays off the writer: a reader looks first, so polling does
                // not take the write lock the group-commit writer needs.
                let mut reader = read.get()?;
                let any: Vec<String> = due_ids!(&kinds, 1, now).load(&mut *reader)?;
                drop(reader);
                if any.is_empty() {
                    return Ok(Vec::new());
                }
                let mut pooled = write.get()?;
                let conn: &mut diesel::sqlite::SqliteConnection = &mut pooled;
                conn.immediate_transaction(|c| {
                    let ids: Vec<String> = due_ids!(&kinds, limit, now).load(c)?;
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    lease!(c, &ids, worker, lease_until)
                })?
            }
            Pools::Pg(pool) => {
                let mut pooled = pool.get()?;
                let conn: &mut diesel::pg::PgConnection = &mut pooled;
                // The select locks the rows it picks and skips rows another instance's claim
                // holds, so two claims never get the same job and never wait for each other;
                // the locks last until the lease is written and committed.
                conn.transaction(|c| {
                    let ids: Vec<String> = due_ids!(&kinds, limit, now)
                        .for_update()
                        .skip_locked()
                        .load(c)?;
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    lease!(c, &ids, worker, lease_until)
                })?
            }
        };
        rows.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
        Ok(rows)
    }

    /// Deletes a job that succeeded, if `worker` still holds it; false when its lease went to
    /// another claim meanwhile (which will run it again: jobs are idempotent).
    pub fn complete_job(&self, id: &str, worker: &str) -> Result<bool, StoreError> {
        with_tx!(self, |c| {
            let n = diesel::delete(
                bj::table
                    .filter(bj::id.eq(id))
                    .filter(bj::locked_by.eq(worker)),
            )
            .execute(c)?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// Records a failure of a job `worker` holds: keeps the error, releases the lease, and
    /// either makes it due again at a later time or keeps it as dead (at `now`). False when
    /// the lease went to another claim meanwhile.
    pub fn fail_job(
        &self,
        id: &str,
        worker: &str,
        error: &str,
        retry: JobRetry,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (run_at, dead_at) = match retry {
            JobRetry::At(t) => (t, None),
            JobRetry::Dead => (DEAD_RUN_AT, Some(now)),
        };
        with_tx!(self, |c| {
            let n = diesel::update(
                bj::table
                    .filter(bj::id.eq(id))
                    .filter(bj::locked_by.eq(worker)),
            )
            .set((
                bj::run_at.eq(run_at),
                bj::dead_at.eq(dead_at),
                bj::last_error.eq(Some(error)),
                bj::locked_by.eq(None::<String>),
                bj::locked_until.eq(None::<i64>),
            ))
            .execute(c)?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// One job, whatever its state.
    pub fn get_job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        with_conn!(self, |c| Ok(bj::table
            .filter(bj::id.eq(id))
            .select(JobRow::as_select())
            .get_result(c)
            .optional()?))
    }

    /// Dead jobs, most recently dead first.
    pub fn dead_jobs(&self, limit: i64) -> Result<Vec<JobRow>, StoreError> {
        with_conn!(self, |c| Ok(bj::table
            .filter(bj::dead_at.is_not_null())
            .order((bj::dead_at.desc(), bj::id.asc()))
            .limit(limit)
            .select(JobRow::as_select())
            .load(c)?))
    }

    /// Makes a dead job due again at `run_at` with its attempts reset; false when there is no
    /// dead job of that id.
    pub fn requeue_dead_job(&self, id: &str, run_at: i64) -> Result<bool, StoreError> {
        with_tx!(self, |c| {
            let n = diesel::update(
                bj::table
                    .filter(bj::id.eq(id))
                    .filter(bj::dead_at.is_not_null()),
            )
            .set((
                bj::run_at.eq(run_at),
                bj::dead_at.eq(None::<i64>),
                bj::attempts.eq(0_i64),
            ))
            .execute(c)?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// Queued, running and dead jobs at `now`.
    pub fn job_counts(&self, now: i64) -> Result<JobCounts, StoreError> {
        with_conn!(self, |c| {
            let counts = c.transaction(|c| -> QueryResult<JobCounts> {
                let dead = bj::table
                    .filter(bj::dead_at.is_not_null())
                    .count()
                    .get_result(c)?;
                let running = bj::table
                    .filter(bj::dead_at.is_null())
                    .filter(bj::locked_until.ge(now))
                    .count()
                    .get_result(c)?;
                let live: i64 = bj::table
                    .filter(bj::dead_at.is_null())
                    .count()
                    .get_result(c)?;
                Ok(JobCounts {
                    queued: live - running,
                    running,
                    dead,
                })
            })?;
            Ok(counts)
        })
    }

    /// Makes sure schedule `name` exists: created with `first_slot` as its next run, and
    /// pulled in to `first_slot` when its stored next run lies after `latest` (the period was
    /// shortened since it was written). Returns its next run.
    pub fn ensure_schedule(
        &self,
        name: &str,
        first_slot: i64,
        latest: i64,
    ) -> Result<i64, StoreError> {
        with_tx!(self, |c| {
            diesel::insert_into(js::table)
                .values((js::name.eq(name), js::next_run_at.eq(first_slot)))
                .on_conflict(js::name)
                .do_nothing()
                .execute(c)?;
            diesel::update(
                js::table
                    .filter(js::name.eq(name))
                    .filter(js::next_run_at.gt(latest)),
            )
            .set(js::next_run_at.eq(first_slot))
            .execute(c)?;
            let next = js::table
                .filter(js::name.eq(name))
                .select(js::next_run_at)
                .get_result::<i64>(c)?;
            Ok::<_, StoreError>(next)
        })
    }

    /// The next run of schedule `name`, if it exists.
    pub fn schedule_next(&self, name: &str) -> Result<Option<i64>, StoreError> {
        with_conn!(self, |c| Ok(js::table
            .filter(js::name.eq(name))
            .select(js::next_run_at)
            .get_result::<i64>(c)
            .optional()?))
    }

    /// Compare-and-set: moves schedule `name` from `slot` to `next` and, only if this call
    /// made that move, enqueues `job` in the same transaction. Of several instances that read
    /// the same due slot, exactly one gets true; the others' updates match no row (on
    /// PostgreSQL the second waits for the first's row lock, then finds the slot moved).
    pub fn advance_schedule(
        &self,
        name: &str,
        slot: i64,
        next: i64,
        job: &NewJob,
    ) -> Result<bool, StoreError> {
        with_tx!(self, |c| {
            let n = diesel::update(
                js::table
                    .filter(js::name.eq(name))
                    .filter(js::next_run_at.eq(slot)),
            )
            .set(js::next_run_at.eq(next))
            .execute(c)?;
            if n == 1 {
                c.enqueue_job(job)?;
            }
            Ok::<_, StoreError>(n == 1)
        })
    }
}
