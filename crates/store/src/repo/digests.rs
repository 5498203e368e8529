//! Digest records and their emails (API.md §10).
//!
//! A digest goes out once per org, kind and period because its record's primary key is
//! (org, kind, period start): whoever inserts the record first writes, in the same
//! transaction, its recipients' email rows, the job that sends them and its webhook deliveries;
//! everybody else's insert does nothing and writes nothing (on PostgreSQL a concurrent insert
//! waits for the first transaction, then finds the row).
//!
//! No clock here: every time is an argument (Unix ms).

use diesel::prelude::*;

use diesel::result::QueryResult;

use super::jobs::JobConn;
use super::webhooks::OutboxConn;
use crate::models::{DeliveryRow, DigestEmailRow, DigestRow, EndpointRow, NewJob};
use crate::schema::{digest_emails as de, digests as dg};
use crate::{Store, StoreError};

/// Email statuses.
pub const EMAIL_PENDING: &str = "pending";
pub const EMAIL_SENT: &str = "sent";
pub const EMAIL_REFUSED: &str = "refused";
/// Not accepted by the send job's last attempt.
pub const EMAIL_FAILED: &str = "failed";

/// What a claim or a re-send writes besides the record.
pub struct DigestWrites<'a, F> {
    /// One per recipient, pending.
    pub emails: &'a [DigestEmailRow],
    /// The job that sends the pending emails (none without recipients or SMTP).
    pub job: Option<&'a NewJob>,
    /// The delivery for an endpoint of the org, or `None` when it gets none (not
    /// subscribed to the kind's type, or the plan has no webhooks).
    pub delivery: F,
}

/// The send job and the webhook deliveries of a digest, on the transaction's connection.
fn queue_sends<C, F>(c: &mut C, org: &str, w: &DigestWrites<'_, F>) -> QueryResult<()>
where
    C: JobConn + OutboxConn,
    F: Fn(&EndpointRow) -> Option<DeliveryRow>,
{
    if let Some(job) = w.job {
        c.enqueue_job(job)?;
    }
    let deliveries: Vec<DeliveryRow> = c
        .endpoints_of(&[org])?
        .iter()
        .filter_map(&w.delivery)
        .collect();
    c.insert_deliveries(&deliveries)
}

impl Store {
    /// Whether the digest of this org, kind and period (`2026-W48`) exists, in whatever zone
    /// it was cut.
    pub fn digest_exists(&self, org: &str, kind: &str, label: &str) -> Result<bool, StoreError> {
        with_conn!(self, |c| Ok(dg::table
            .filter(dg::org_id.eq(org))
            .filter(dg::kind.eq(kind))
            .filter(dg::label.eq(label))
            .select(dg::period_start)
            .first::<i64>(c)
            .optional()?
            .is_some()))
    }

    /// Claims a digest: inserts its record and, only if this insert made it, its emails, its
    /// job and its deliveries, in one transaction. False (and nothing written) when the
    /// record existed.
    pub fn claim_digest<F>(
        &self,
        row: &DigestRow,
        w: DigestWrites<'_, F>,
    ) -> Result<bool, StoreError>
    where
        F: Fn(&EndpointRow) -> Option<DeliveryRow>,
    {
        let claimed = with_tx!(self, |c| {
            // Unique twice: on the period's start and on its label (a week whose org changed
            // zone meanwhile has another start, and must not go out again).
            let n = diesel::insert_into(dg::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?;
            if n == 0 {
                return Ok::<_, StoreError>(false);
            }
            diesel::insert_into(de::table).values(w.emails).execute(c)?;
            queue_sends(c, &row.org_id, &w)?;
            Ok(true)
        })?;
        if claimed {
            self.outbox_written();
        }
        Ok(claimed)
    }

    /// Sends a digest again on purpose (`digest send`): writes the record (replacing its data
    /// when it exists), puts each given recipient's email back to pending, and queues the job
    /// and new deliveries, in one transaction.
    pub fn resend_digest<F>(
        &self,
        row: &DigestRow,
        w: DigestWrites<'_, F>,
    ) -> Result<(), StoreError>
    where
        F: Fn(&EndpointRow) -> Option<DeliveryRow>,
    {
        with_tx!(self, |c| {
            diesel::insert_into(dg::table)
                .values(row)
                .on_conflict((dg::org_id, dg::kind, dg::period_start))
                .do_update()
                .set((
                    dg::data.eq(&row.data),
                    dg::period_end.eq(row.period_end),
                    dg::finished_at.eq(row.finished_at),
                ))
                .execute(c)?;
            for e in w.emails {
                diesel::insert_into(de::table)
                    .values(e)
                    .on_conflict((de::org_id, de::kind, de::period_start, de::address))
                    .do_update()
                    .set((
                        de::status.eq(EMAIL_PENDING),
                        de::attempts.eq(0_i64),
                        de::last_error.eq(None::<String>),
                        de::updated_at.eq(e.updated_at),
                    ))
                    .execute(c)?;
            }
            queue_sends(c, &row.org_id, &w)?;
            Ok::<_, StoreError>(())
        })?;
        self.outbox_written();
        Ok(())
    }

    /// A digest's record.
    pub fn get_digest(
        &self,
        org: &str,
        kind: &str,
        start: i64,
    ) -> Result<Option<DigestRow>, StoreError> {
        with_conn!(self, |c| Ok(dg::table
            .find((org, kind, start))
            .select(DigestRow::as_select())
            .first(c)
            .optional()?))
    }

    /// An org's digests, newest period first.
    pub fn list_digests(&self, org: &str, limit: i64) -> Result<Vec<DigestRow>, StoreError> {
        with_conn!(self, |c| Ok(dg::table
            .filter(dg::org_id.eq(org))
            .order((dg::period_start.desc(), dg::kind.asc()))
            .limit(limit)
            .select(DigestRow::as_select())
            .load(c)?))
    }

    /// A digest's emails, by address.
    pub fn digest_emails(
        &self,
        org: &str,
        kind: &str,
        start: i64,
    ) -> Result<Vec<DigestEmailRow>, StoreError> {
        with_conn!(self, |c| Ok(de::table
            .filter(de::org_id.eq(org))
            .filter(de::kind.eq(kind))
            .filter(de::period_start.eq(start))
            .order(de::address.asc())
            .select(DigestEmailRow::as_select())
            .load(c)?))
    }

    /// Records one attempt at a pending email: `status` stays `pending` after a failure worth
    /// retrying, or becomes `sent` or `refused`. The digest is finished when no email of it
    /// is pending any more. Nothing changes for an email that is not pending.
    #[expect(
        clippy::too_many_arguments,
        reason = "the key of the row and what happened"
    )]
    pub fn record_digest_email(
        &self,
        org: &str,
        kind: &str,
        start: i64,
        address: &str,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        with_tx!(self, |c| {
            // The digest's row first, as a lock: two recipients' results recorded at once on
            // PostgreSQL would each count the other as still pending, and neither would finish
            // the digest. (SQLite runs write transactions one at a time.)
            diesel::update(dg::table.find((org, kind, start)))
                .set(dg::finished_at.eq(dg::finished_at))
                .execute(c)?;
            diesel::update(
                de::table
                    .find((org, kind, start, address))
                    .filter(de::status.eq(EMAIL_PENDING)),
            )
            .set((
                de::status.eq(status),
                de::attempts.eq(de::attempts + 1_i64),
                de::last_error.eq(error),
                de::updated_at.eq(now),
            ))
            .execute(c)?;
            let pending: i64 = de::table
                .filter(de::org_id.eq(org))
                .filter(de::kind.eq(kind))
                .filter(de::period_start.eq(start))
                .filter(de::status.eq(EMAIL_PENDING))
                .count()
                .get_result(c)?;
            if pending == 0 {
                diesel::update(
                    dg::table
                        .find((org, kind, start))
                        .filter(dg::finished_at.is_null()),
                )
                .set(dg::finished_at.eq(Some(now)))
                .execute(c)?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Events of `[from, to)` (by `occurred_at`) that carry the `unpriced_model` warning, counted
    /// per model. A scan of the org's events in the range on the events index: it runs once
    /// per digest, not per request.
    pub fn unpriced_models(
        &self,
        org: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        use crate::schema::events as ev;
        with_conn!(self, |c| Ok(ev::table
            .filter(ev::org_id.eq(org))
            .filter(ev::occurred_at.ge(from))
            .filter(ev::occurred_at.lt(to))
            .filter(ev::warnings.like("%\"unpriced_model\"%"))
            .filter(ev::model.is_not_null())
            .group_by(ev::model)
            .select((ev::model.assume_not_null(), diesel::dsl::count_star()))
            .load::<(String, i64)>(c)?))
    }

    /// Emails of every digest still waiting to be accepted by the SMTP server (for
    /// `/metrics`).
    pub fn pending_digest_emails(&self) -> Result<i64, StoreError> {
        with_conn!(self, |c| Ok(de::table
            .filter(de::status.eq(EMAIL_PENDING))
            .count()
            .get_result(c)?))
    }
}
