//! Erasing an org (API.md §12): every row of it, in one transaction.

use diesel::prelude::*;

use crate::schema::*;
use crate::{Store, StoreError};

impl Store {
    /// Deletes the org `org_id` and every row that belongs to it, in one write transaction;
    /// returns (table, rows deleted) for each table, the org last. Nothing is deleted when any
    /// statement fails.
    ///
    /// On SQLite the rollup watermark is lowered to the highest rowid left when the org's
    /// events were the newest rows: a new event's rowid is MAX(rowid) + 1, and the watermark's
    /// invariant (fold.rs) needs new rowids above it. Lowering it keeps the invariant, since
    /// the rollups of the deleted rows are deleted too; a writer holding sums from before
    /// finds the watermark or the count of events past it changed and sums the tail from the
    /// table instead.
    pub fn delete_org(&self, org_id: &str) -> Result<Vec<(&'static str, usize)>, StoreError> {
        let sqlite = self.backend() == crate::Backend::Sqlite;
        // The org's digest send jobs, by their id (`digest-email:ORG:…`), LIKE's wildcards in
        // the id escaped.
        let job_ids = format!(
            "digest-email:{}:%",
            org_id
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        with_tx!(self, |c| {
            // The org's row first: a write of the org on another instance (its key still in
            // that instance's cache) waits for the erasure and then fails on the foreign key,
            // instead of slipping a row in that would make the erasure's last statement fail
            // and undo it all. (SQLite's transaction holds the write lock.)
            lock_org_row!(c, org_id, !sqlite);
            // An anchor goes last: its workspaces count against its pool and read through it.
            // (On PostgreSQL a workspace created meanwhile waits for the lock above, then
            // fails on its foreign key.)
            let workspaces = count_workspaces!(c, org_id);
            if workspaces > 0 {
                return Err(StoreError::Refused(format!(
                    "the org has {workspaces} workspace(s): delete them first \
                     (see 'humanhours org list')"
                )));
            }
            let mut done: Vec<(&'static str, usize)> = Vec::new();
            let deliveries = webhook_deliveries::table
                .filter(webhook_deliveries::org_id.eq(org_id))
                .select(webhook_deliveries::id);
            done.push((
                "webhook_attempts",
                diesel::delete(
                    webhook_attempts::table
                        .filter(webhook_attempts::delivery_id.eq_any(deliveries)),
                )
                .execute(c)?,
            ));
            macro_rules! by_org {
                ($($table:ident),*) => {
                    $(done.push((
                        stringify!($table),
                        diesel::delete($table::table.filter($table::org_id.eq(org_id)))
                            .execute(c)?,
                    ));)*
                };
            }
            if !sqlite {
                // The org's events queued for the rollups (PostgreSQL), under the fold's lock:
                // a fold running now commits first, and its rollup rows are deleted below.
                diesel::sql_query(format!(
                    "SELECT pg_advisory_xact_lock({})",
                    super::fold::FOLD_LOCK
                ))
                .execute(c)?;
                done.push((
                    "rollup_queue",
                    diesel::sql_query("DELETE FROM rollup_queue WHERE org_id = $1")
                        .bind::<diesel::sql_types::Text, _>(org_id)
                        .execute(c)?,
                ));
            }
            by_org!(
                webhook_deliveries,
                webhook_endpoints,
                digest_emails,
                digests,
                dashboard_sessions,
                share_links,
                idempotency_keys,
                events,
                rollup_hourly,
                monthly_usage,
                agents,
                task_type_overrides,
                custom_task_types,
                prices,
                api_keys
            );
            done.push((
                "pool_usage",
                diesel::delete(pool_usage::table.filter(pool_usage::anchor_id.eq(org_id)))
                    .execute(c)?,
            ));
            done.push((
                "background_jobs",
                diesel::delete(
                    background_jobs::table.filter(background_jobs::id.like(&job_ids).escape('\\')),
                )
                .execute(c)?,
            ));
            done.push((
                "orgs",
                diesel::delete(orgs::table.filter(orgs::id.eq(org_id))).execute(c)?,
            ));
            if sqlite {
                diesel::sql_query(
                    "UPDATE rollup_state SET folded_through = \
                     MIN(folded_through, COALESCE((SELECT MAX(rowid) FROM events), 0)) WHERE id = 1",
                )
                .execute(c)?;
            }
            Ok::<_, StoreError>(done)
        })
    }
}
