//! Weekly digests (API.md §10): what an org's week came to, sent by email to its recipients
//! and as the `weekly.digest` webhook, exactly once per org, kind and period.
//!
//! - [`compose`] builds a [`Digest`] from the read side's own functions (the summary, the
//!   leaderboard, the time-saved report by task type), so every figure is the one the API
//!   answers for the same range.
//! - [`tick`] (the `digests` schedule, every minute on one instance) finds the orgs whose
//!   digest is due (Monday 09:00 in the org's zone, up to 6 days late) and claims each: the
//!   record, unique on (org, kind, period start), is written in one transaction with the
//!   recipients' email rows, the job that sends them and the webhook deliveries. A second
//!   tick, a restart or another instance finds the record and writes nothing.
//! - [`send_emails`] (the `send-digest-emails` job) sends the pending emails through the
//!   [`Mailer`] the binary provides (SMTP); a recipient the server refuses for good is marked
//!   so and does not hold the others back, a failure worth retrying leaves the email pending
//!   and fails the job, which the runner retries with backoff.

mod compose;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::digests::period::{latest_due, week_period, Due, IsoWeek, WeekPeriod, Zone};
use ::digests::{Kind, Recipients};
use jobs::{BoxFuture, JobError};
use serde::{Deserialize, Serialize};
use store::{DeliveryRow, DigestEmailRow, DigestRow, DigestWrites, EndpointRow, NewJob, Store};

pub use compose::{
    compose, Digest, DigestChange, DigestPeriod, DigestTotals, FigureChange, TaskTypeRow,
    UnpricedModel, TOP,
};

use crate::auth::OrgSettings;
use crate::clock;

/// The schedule that looks for due digests, and its job's kind.
pub const TICK_JOB: &str = "digests";
/// The job that sends a digest's pending emails.
pub const SEND_JOB: &str = "send-digest-emails";
/// Attempts of a send job: with the runner's backoff (10 s doubling to 1 h, equal jitter) the
/// last comes 9 to 11.5 hours after the first.
pub const SEND_ATTEMPTS: i64 = 20;

/// Settings of the digests.
#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// Whether the schedule runs (tests that drive the clock turn it off and call [`tick`]).
    pub scheduled: bool,
    /// How often an instance that runs jobs looks for due digests (one instance per slot).
    pub every: Duration,
    /// How late a digest may still be sent (API.md §10: 6 days).
    pub catch_up_ms: i64,
    /// The server's address as people reach it: the dashboard link in every digest.
    pub public_url: String,
}

impl Default for DigestConfig {
    fn default() -> Self {
        Self {
            scheduled: true,
            every: Duration::from_secs(60),
            catch_up_ms: ::digests::CATCH_UP_MS,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// Where digest emails go: `HUMANHOURS_SMTP_URL` and `HUMANHOURS_MAIL_FROM` (the binary's
/// SMTP client reads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub smtp_url: String,
    pub from: String,
}

/// Why an email was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth another attempt later: no connection, a time-out, a 4xx answer.
    #[error("{0}")]
    Transient(String),
    /// The recipient was refused for good (550, 551 or 553: no such mailbox, not allowed):
    /// not attempted again. A refusal that is not about the recipient (the login, the
    /// sender) is `Transient`: fixing the settings makes the retry succeed.
    #[error("{0}")]
    Permanent(String),
}

/// Sends one digest email (the binary's SMTP client renders and sends it).
pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, to: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<(), MailError>>;
}

/// What this instance's digest work did, for `/metrics`.
#[derive(Debug, Default)]
pub struct DigestStats {
    claimed: AtomicU64,
    sent: AtomicU64,
    retried: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

impl DigestStats {
    /// Digests claimed (composed and queued) by this instance.
    pub fn claimed(&self) -> u64 {
        self.claimed.load(Ordering::Relaxed)
    }

    /// (outcome, count) of email attempts: `sent`, `retry` (not accepted, due again),
    /// `refused` (refused for good), `failed` (not accepted by the send job's last attempt).
    pub fn emails(&self) -> [(&'static str, u64); 4] {
        [
            ("sent", self.sent.load(Ordering::Relaxed)),
            ("retry", self.retried.load(Ordering::Relaxed)),
            ("refused", self.refused.load(Ordering::Relaxed)),
            ("failed", self.failed.load(Ordering::Relaxed)),
        ]
    }
}

/// The org's digest settings, checked.
#[derive(Debug, Clone)]
pub struct OrgDigest {
    pub org: OrgSettings,
    pub zone: Zone,
    pub recipients: Recipients,
}

impl OrgDigest {
    /// From the stored row; an unreadable zone or list is an error naming the org.
    pub fn of(row: &store::OrgRow) -> anyhow::Result<OrgDigest> {
        Ok(OrgDigest {
            org: OrgSettings::try_from(row)?,
            zone: Zone::parse(&row.timezone)
                .map_err(|e| anyhow::anyhow!("org {}: stored timezone: {e}", row.id))?,
            recipients: Recipients::parse(&row.digest_recipients)
                .map_err(|e| anyhow::anyhow!("org {}: stored digest recipients: {e}", row.id))?,
        })
    }
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// (org id, week) of the digests this tick claimed.
    pub claimed: Vec<(String, String)>,
}

/// Looks for due weekly digests at `now_ms` and claims each one not claimed yet (blocking).
/// The recipients' email rows and the send job are written whether or not this instance has
/// SMTP: instances with SMTP take send jobs, so the instance that wins the schedule's slot does
/// not decide whether emails go out.
pub fn tick(
    store: &Store,
    config: &DigestConfig,
    stats: &DigestStats,
    now_ms: i64,
) -> anyhow::Result<TickReport> {
    let mut report = TickReport::default();
    for row in store.list_orgs()? {
        // One org's failure (an unreadable setting, a database error) is logged and leaves
        // the others alone; the next tick tries it again.
        match tick_org(store, config, &row, now_ms) {
            Ok(Some(week)) => {
                stats.claimed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(org = %row.id, %week, "digest claimed");
                report.claimed.push((row.id.clone(), week));
            }
            Ok(None) => {}
            Err(e) => tracing::error!(org = %row.id, "digest not claimed: {e:#}"),
        }
    }
    Ok(report)
}

/// The week claimed for one org, if its digest was due and not claimed before.
fn tick_org(
    store: &Store,
    config: &DigestConfig,
    row: &store::OrgRow,
    now_ms: i64,
) -> anyhow::Result<Option<String>> {
    let od = OrgDigest::of(row)?;
    if od.recipients.is_empty() && !od.org.plan.has_pro_features() {
        return Ok(None);
    }
    let period = latest_due(now_ms, &od.zone)?;
    if period.due(now_ms, config.catch_up_ms) != Due::Now
        || store.digest_exists(&od.org.id, Kind::Weekly.as_str(), &period.week.label())?
    {
        return Ok(None);
    }
    let digest = compose(store, &od, &period, &config.public_url, now_ms)
        .map_err(|e| anyhow::anyhow!("composing the digest: {e}"))?;
    let claimed = claim(store, &od, &period, &digest, now_ms)?;
    Ok(claimed.then(|| period.week.label()))
}

/// The payload of a send job: which digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendJob {
    pub org_id: String,
    pub kind: String,
    pub period_start: i64,
}

impl SendJob {
    fn job(&self, now_ms: i64) -> NewJob {
        NewJob {
            id: format!(
                "digest-email:{}:{}:{}",
                self.org_id, self.kind, self.period_start
            ),
            kind: SEND_JOB.to_owned(),
            payload: serde_json::to_string(self).unwrap_or_default(),
            run_at: now_ms,
            max_attempts: SEND_ATTEMPTS,
            created_at: now_ms,
        }
    }
}

/// The rows a digest writes: its record, its pending emails and its send job.
fn rows(
    od: &OrgDigest,
    period: &WeekPeriod,
    digest: &Digest,
    now_ms: i64,
) -> anyhow::Result<(DigestRow, Vec<DigestEmailRow>, Option<NewJob>)> {
    let kind = Kind::Weekly.as_str();
    let record = DigestRow {
        org_id: od.org.id.clone(),
        kind: kind.to_owned(),
        period_start: period.from_ms,
        period_end: period.to_ms,
        label: period.week.label(),
        data: serde_json::to_string(digest)?,
        created_at: now_ms,
        finished_at: None,
    };
    let emails: Vec<DigestEmailRow> = od
        .recipients
        .as_slice()
        .iter()
        .map(|a| DigestEmailRow {
            org_id: od.org.id.clone(),
            kind: kind.to_owned(),
            period_start: period.from_ms,
            address: a.clone(),
            status: store::email_status::PENDING.to_owned(),
            attempts: 0,
            last_error: None,
            updated_at: now_ms,
        })
        .collect();
    let record = DigestRow {
        finished_at: emails.is_empty().then_some(now_ms),
        ..record
    };
    let job = (!emails.is_empty()).then(|| {
        SendJob {
            org_id: od.org.id.clone(),
            kind: kind.to_owned(),
            period_start: period.from_ms,
        }
        .job(now_ms)
    });
    Ok((record, emails, job))
}

/// The `weekly.digest` delivery of an endpoint subscribed to it, when the plan has webhooks;
/// `skipped` for a disabled endpoint (recover can send it), as every delivery.
fn delivery(
    od: &OrgDigest,
    data: &serde_json::Value,
    now: time::OffsetDateTime,
) -> impl Fn(&EndpointRow) -> Option<DeliveryRow> {
    let ms = clock::unix_ms(now);
    let message_id = format!("whmsg_{}", clock::ulid(now));
    let pro = od.org.plan.has_pro_features();
    let payload = data.to_string();
    let event_type = webhooks::EventType::WeeklyDigest;
    move |ep: &EndpointRow| {
        let subscribed = webhooks::Subscriptions::from_stored(&ep.event_types).contains(event_type);
        if !pro || !subscribed {
            return None;
        }
        let skipped = ep.status == webhooks::health::Status::Disabled.as_str();
        Some(DeliveryRow {
            id: format!("whdel_{}", clock::ulid(clock::now())),
            org_id: ep.org_id.clone(),
            endpoint_id: ep.id.clone(),
            message_id: message_id.clone(),
            event_type: event_type.as_str().to_owned(),
            event_id: None,
            payload: Some(payload.clone()),
            status: (if skipped {
                store::delivery_status::SKIPPED
            } else {
                store::delivery_status::PENDING
            })
            .to_owned(),
            attempts: 0,
            round_attempts: 0,
            next_attempt_at: ms,
            locked_by: None,
            created_at: ms,
            finished_at: skipped.then_some(ms),
        })
    }
}

/// Claims a composed digest; false when another tick, instance or restart had claimed it.
pub fn claim(
    store: &Store,
    od: &OrgDigest,
    period: &WeekPeriod,
    digest: &Digest,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let (record, emails, job) = rows(od, period, digest, now_ms)?;
    let data = serde_json::to_value(digest)?;
    let writes = DigestWrites {
        emails: &emails,
        job: job.as_ref(),
        delivery: delivery(od, &data, clock::now()),
    };
    Ok(store.claim_digest(&record, writes)?)
}

/// `digest send`: composes the week's digest now and sends it again on purpose, to the
/// current recipients and the subscribed endpoints, whether or not it was sent before.
/// Returns the digest and how many emails were queued.
pub fn resend(
    store: &Store,
    od: &OrgDigest,
    week: IsoWeek,
    public_url: &str,
    now_ms: i64,
) -> anyhow::Result<(Digest, usize)> {
    let period = week_period(week, &od.zone)?;
    // A week not over yet would be sent with part of its figures, and its record would stop
    // the Monday digest.
    if period.to_ms > now_ms {
        anyhow::bail!(
            "week {week} is not over yet in {}: its digest goes out on the Monday after",
            od.zone.name()
        );
    }
    let digest = compose(store, od, &period, public_url, now_ms)
        .map_err(|e| anyhow::anyhow!("composing the digest: {e}"))?;
    let (record, emails, job) = rows(od, &period, &digest, now_ms)?;
    // A job id of its own: the first send's job may still be kept (dead) under the usual id,
    // and an enqueue with a kept id writes nothing.
    let job = job.map(|j| NewJob {
        id: format!("{}:again:{now_ms}", j.id),
        ..j
    });
    let data = serde_json::to_value(&digest)?;
    store.resend_digest(
        &record,
        DigestWrites {
            emails: &emails,
            job: job.as_ref(),
            delivery: delivery(od, &data, clock::now()),
        },
    )?;
    Ok((digest, emails.len()))
}

/// Longest one recipient's send may take (the runner's job time-out is 120 s): past it the
/// email stays pending and is tried again.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(90);

/// Sends the pending emails of one digest (the send job). Each recipient's result is recorded
/// as soon as it is known, so a recipient the server accepted is never sent to again by a
/// retry; the job fails (and is retried with backoff) while any email is still pending. On
/// the job's `last` attempt, emails still not accepted are marked `failed`.
pub async fn send_emails(
    store: Arc<Store>,
    mailer: Arc<dyn Mailer>,
    stats: Arc<DigestStats>,
    job: SendJob,
    last: bool,
) -> Result<(), JobError> {
    let (s, j) = (store.clone(), job.clone());
    let (record, emails) = tokio::task::spawn_blocking(move || {
        let record = s.get_digest(&j.org_id, &j.kind, j.period_start)?;
        let emails = s.digest_emails(&j.org_id, &j.kind, j.period_start)?;
        Ok::<_, store::StoreError>((record, emails))
    })
    .await
    .map_err(JobError::retry)?
    .map_err(JobError::retry)?;
    let Some(record) = record else {
        // Its org was deleted: nothing to send.
        return Ok(());
    };
    let digest: Digest = serde_json::from_str(&record.data).map_err(JobError::permanent)?;
    let pending: Vec<DigestEmailRow> = emails
        .into_iter()
        .filter(|e| e.status == store::email_status::PENDING)
        .collect();
    let label = record.label.as_str();
    let one = |address: String| {
        let (store, mailer, stats, job, digest) = (
            store.clone(),
            mailer.clone(),
            stats.clone(),
            job.clone(),
            &digest,
        );
        async move {
            let result =
                match tokio::time::timeout(SEND_TIMEOUT, mailer.send(&address, digest)).await {
                    Ok(r) => r,
                    Err(_) => Err(MailError::Transient(format!(
                        "no answer within {} s",
                        SEND_TIMEOUT.as_secs()
                    ))),
                };
            let (status, error, left) = match result {
                Ok(()) => {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                    (store::email_status::SENT, None, None)
                }
                Err(MailError::Permanent(e)) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(org = %job.org_id, week = label, error = %e, "a digest recipient was refused for good");
                    (store::email_status::REFUSED, Some(e), None)
                }
                Err(MailError::Transient(e)) if last => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(org = %job.org_id, week = label, error = %e, "a digest email was not accepted by its last attempt; it is given up");
                    (store::email_status::FAILED, Some(e), None)
                }
                Err(MailError::Transient(e)) => {
                    stats.retried.fetch_add(1, Ordering::Relaxed);
                    (store::email_status::PENDING, Some(e.clone()), Some(e))
                }
            };
            let stored = error.as_deref().map(cut);
            let j = job.clone();
            tokio::task::spawn_blocking(move || {
                store.record_digest_email(
                    &j.org_id,
                    &j.kind,
                    j.period_start,
                    &address,
                    status,
                    stored.as_deref(),
                    clock::unix_ms(clock::now()),
                )
            })
            .await
            .map_err(JobError::retry)?
            .map_err(JobError::retry)?;
            Ok::<_, JobError>(left)
        }
    };
    let results = futures_util::future::join_all(pending.into_iter().map(|e| one(e.address))).await;
    let mut left = 0;
    let mut last_error = String::new();
    for r in results {
        if let Some(e) = r? {
            left += 1;
            last_error = e;
        }
    }
    if left > 0 {
        tracing::warn!(org = %job.org_id, week = label, pending = left, error = %last_error, "digest emails not accepted yet; retrying with backoff");
        return Err(JobError::retry(format!(
            "{left} digest email(s) not accepted yet: {last_error}"
        )));
    }
    Ok(())
}

/// An SMTP answer as stored: at most 500 characters.
fn cut(e: &str) -> String {
    e.chars().take(500).collect()
}
