//! Reading stored events one page at a time (`GET /api/v1/events`, API.md §12).

use diesel::prelude::*;

use crate::models::EventRow;
use crate::schema::events;
use crate::{Store, StoreError};

/// What a page of events is filtered by. Ranges are half-open, Unix ms of `occurred_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub agent_id: Option<String>,
    pub task_type: Option<String>,
    pub outcome: Option<String>,
    /// `Some(true)`: only events with an audit sample; `Some(false)`: only those without.
    pub has_audit_sample: Option<bool>,
    pub from: i64,
    pub to: i64,
}

impl Store {
    /// Up to `limit` events of `org` matching `filter`, newest first by (`occurred_at`, `id`),
    /// strictly after `before` in that order (the last event of the previous page). The order
    /// is total (ids are unique), so walking the pages sees each event once, whatever is
    /// added meanwhile.
    pub fn list_events(
        &self,
        org: &str,
        filter: &EventFilter,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        with_conn!(self, |c| {
            let mut q = events::table
                .filter(events::org_id.eq(org))
                .filter(events::occurred_at.ge(filter.from))
                .filter(events::occurred_at.lt(filter.to))
                .select(EventRow::as_select())
                .order((events::occurred_at.desc(), events::id.desc()))
                .limit(limit)
                .into_boxed();
            if let Some(a) = &filter.agent_id {
                q = q.filter(events::agent_id.eq(a.clone()));
            }
            if let Some(t) = &filter.task_type {
                q = q.filter(events::task_type.eq(t.clone()));
            }
            if let Some(o) = &filter.outcome {
                q = q.filter(events::outcome.eq(o.clone()));
            }
            match filter.has_audit_sample {
                Some(true) => q = q.filter(events::audit_sample.is_not_null()),
                Some(false) => q = q.filter(events::audit_sample.is_null()),
                None => {}
            }
            if let Some((at, id)) = before {
                // The plain bound narrows the index range (the OR alone cannot): a page deep in
                // a walk reads its own rows, not every newer event again.
                q = q.filter(events::occurred_at.le(at)).filter(
                    events::occurred_at
                        .lt(at)
                        .or(events::occurred_at.eq(at).and(events::id.lt(id.to_owned()))),
                );
            }
            Ok(q.load(c)?)
        })
    }
}

impl Store {
    /// Deletes up to `limit` of `org`'s events that occurred before `occurred_before` and
    /// arrived before `received_before` (both Unix ms), in one short transaction; returns how
    /// many. Audit samples live on the event row and go with it; rollups are kept.
    ///
    /// The caller passes a `received_before` past the idempotency window, so no record a
    /// retry could still replay names a deleted event. On SQLite only events already folded
    /// into the rollups go (rowid at most the watermark), and never the row with the highest
    /// rowid: a new event's rowid is MAX(rowid) + 1, and the watermark's invariant (fold.rs)
    /// needs new rowids to stay above it.
    pub fn delete_expired_events(
        &self,
        org: &str,
        occurred_before: i64,
        received_before: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let guard = match self.backend() {
            crate::Backend::Sqlite => {
                "rowid <= (SELECT folded_through FROM rollup_state WHERE id = 1) \
                 AND rowid < (SELECT MAX(rowid) FROM events)"
            }
            crate::Backend::Postgres => "TRUE",
        };
        with_tx!(self, |c| {
            let ids: Vec<String> = events::table
                .filter(events::org_id.eq(org))
                .filter(events::occurred_at.lt(occurred_before))
                .filter(events::received_at.lt(received_before))
                .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(guard))
                .select(events::id)
                .limit(limit)
                .load(c)?;
            if ids.is_empty() {
                return Ok(0);
            }
            // By id alone (the primary key; the ids are this org's): with `org_id = ?` beside
            // it SQLite chose the org's index and read every event of the org per chunk.
            let n = diesel::delete(events::table.filter(events::id.eq_any(&ids))).execute(c)?;
            Ok::<u64, StoreError>(u64::try_from(n).unwrap_or(0))
        })
    }
}
