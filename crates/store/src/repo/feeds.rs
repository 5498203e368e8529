//! The price and FX syncs' writes: rows added only where none exists for the same key (a
//! sync never rewrites a stored row), and each feed's state.
//!
//! No clock here: every time is an argument (Unix ms).

use diesel::prelude::*;

use crate::models::{FeedSyncRow, FxDbRow, PriceDbRow};
use crate::schema::{feed_sync as fs, fx_rates, prices};
use crate::{Store, StoreError};

/// Makes the feed's row when missing, and reads when its current failure streak began (a
/// macro: the body is compiled for each backend's connection inside `with_tx!`).
macro_rules! failing_since {
    ($c:expr, $feed:expr) => {{
        diesel::insert_into(fs::table)
            .values(FeedSyncRow {
                feed: $feed.to_owned(),
                last_success_at: None,
                last_failure_at: None,
                failing_since: None,
                last_error: None,
                rows_added: 0,
            })
            .on_conflict(fs::feed)
            .do_nothing()
            .execute($c)?;
        fs::table
            .find($feed)
            .select(fs::failing_since)
            .first::<Option<i64>>($c)?
    }};
}

impl Store {
    /// Adds price rows that do not exist yet (same org, model and date: kept as stored); how
    /// many were added.
    pub fn insert_new_prices(&self, rows: &[PriceDbRow]) -> Result<usize, StoreError> {
        with_tx!(self, |c| {
            let mut n = 0;
            for row in rows {
                n += diesel::insert_into(prices::table)
                    .values(row)
                    .on_conflict((prices::org_id, prices::model_id, prices::effective_from))
                    .do_nothing()
                    .execute(c)?;
            }
            Ok::<_, StoreError>(n)
        })
    }

    /// Adds FX rows that do not exist yet (same currency and date: kept as stored).
    pub fn insert_new_fx(&self, rows: &[FxDbRow]) -> Result<usize, StoreError> {
        with_tx!(self, |c| {
            let mut n = 0;
            for row in rows {
                n += diesel::insert_into(fx_rates::table)
                    .values(row)
                    .on_conflict((fx_rates::currency, fx_rates::effective_from))
                    .do_nothing()
                    .execute(c)?;
            }
            Ok::<_, StoreError>(n)
        })
    }

    /// Records a successful sync; true when it ends a failure streak.
    pub fn feed_succeeded(&self, feed: &str, now: i64, added: i64) -> Result<bool, StoreError> {
        with_tx!(self, |c| {
            let was_failing = failing_since!(c, feed);
            diesel::update(fs::table.find(feed))
                .set((
                    fs::last_success_at.eq(Some(now)),
                    fs::failing_since.eq(None::<i64>),
                    fs::rows_added.eq(fs::rows_added + added),
                ))
                .execute(c)?;
            Ok::<_, StoreError>(was_failing.is_some())
        })
    }

    /// Records a failed sync; true when it starts a failure streak (the one to log).
    pub fn feed_failed(&self, feed: &str, now: i64, error: &str) -> Result<bool, StoreError> {
        with_tx!(self, |c| {
            let was_failing = failing_since!(c, feed);
            diesel::update(fs::table.find(feed))
                .set((
                    fs::last_failure_at.eq(Some(now)),
                    fs::failing_since.eq(Some(was_failing.unwrap_or(now))),
                    fs::last_error.eq(Some(error)),
                ))
                .execute(c)?;
            Ok::<_, StoreError>(was_failing.is_none())
        })
    }

    /// Every feed's state.
    pub fn feed_states(&self) -> Result<Vec<FeedSyncRow>, StoreError> {
        with_conn!(self, |c| Ok(fs::table
            .order(fs::feed.asc())
            .select(FeedSyncRow::as_select())
            .load(c)?))
    }
}
