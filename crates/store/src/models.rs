//! Row types. Separate insert and update structs where the shapes differ; decimals as canonical
//! text, sums as fixed-point integers, times as Unix milliseconds (see the migrations).

use diesel::prelude::*;

use crate::schema::*;

/// An organisation: the tenant every key, agent and event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = orgs, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub currency: String,
    pub hourly_rate: String,
    pub fallback_baseline_minutes: Option<String>,
    pub monthly_event_cap: Option<i64>,
    pub created_at: i64,
    /// IANA zone the org's digest weeks are cut in.
    pub timezone: String,
    /// Digest recipients, space-separated; empty: none.
    pub digest_recipients: String,
    /// Days events are kept; `None`: the plan's.
    pub retention_days: Option<i32>,
    /// The anchor org of an agency workspace; `None` for every other org (anchors included).
    pub parent_id: Option<String>,
}

/// A change to an org: `None` leaves a field as it is; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = orgs)]
pub struct OrgChanges {
    pub name: Option<String>,
    pub plan: Option<String>,
    pub currency: Option<String>,
    pub hourly_rate: Option<String>,
    pub fallback_baseline_minutes: Option<Option<String>>,
    pub monthly_event_cap: Option<Option<i64>>,
    pub timezone: Option<String>,
    pub digest_recipients: Option<String>,
    pub retention_days: Option<Option<i32>>,
}

/// An API key: its public prefix and a slow salted hash of the whole key; never the key.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ApiKeyRow {
    pub prefix: String,
    pub org_id: String,
    pub mode: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// Space-separated scope names (`track read admin`).
    pub scopes: String,
    /// What the key is for, as its maker named it.
    pub name: String,
    /// When a request last used it (written at most once a minute per instance).
    pub last_used_at: Option<i64>,
}

/// An agent of an org, created on first use.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = agents, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AgentRow {
    pub org_id: String,
    pub agent_id: String,
    pub hourly_rate: Option<String>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
}

/// A price row; `org_id` is empty for the instance-wide book.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = prices, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct PriceDbRow {
    pub org_id: String,
    pub model_id: String,
    pub input_usd_per_mtok: String,
    pub output_usd_per_mtok: String,
    /// `YYYY-MM-DD`.
    pub effective_from: String,
    pub source: String,
}

/// An FX row: units of `currency` per US dollar from `effective_from` on.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = fx_rates, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct FxDbRow {
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub effective_from: String,
    pub usd_to: String,
    pub source: String,
}

/// A stored event with everything resolved for it, frozen.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = events, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct EventRow {
    pub id: String,
    pub org_id: String,
    pub agent_id: String,
    pub task_type: String,
    pub outcome: String,
    pub occurred_at: i64,
    pub received_at: i64,
    pub agent_duration_seconds: String,
    pub model: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub baseline_minutes: String,
    pub baseline_source: String,
    pub hourly_rate: String,
    pub rate_source: String,
    pub currency: String,
    pub cost_source: String,
    pub price_input_usd_per_mtok: Option<String>,
    pub price_output_usd_per_mtok: Option<String>,
    pub fx_rate: Option<String>,
    pub hours_saved_milli: i64,
    pub cost_saved_cents: i64,
    pub agent_cost_micros: Option<i64>,
    pub net_saved_cents: i64,
    pub client: Option<String>,
    pub metadata: Option<String>,
    pub audit_sample: Option<String>,
    pub warnings: Option<String>,
}

/// A stored idempotent answer.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct IdempotencyRow {
    pub org_id: String,
    pub idem_key: String,
    /// Hex SHA-256 of the canonical request body.
    pub fingerprint: String,
    /// The event the first request stored; a replay answers it again.
    pub event_id: String,
    pub created_at: i64,
}

/// Accepted events of an org in one calendar month (UTC, `YYYY-MM`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = monthly_usage, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct UsageRow {
    pub org_id: String,
    pub month: String,
    pub events: i64,
    pub overage_events: i64,
}

/// Accepted events of an agency tree (anchor and workspaces) in one calendar month (UTC,
/// `YYYY-MM`): the pool its plan's included events and overage are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = pool_usage, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct PoolUsageRow {
    pub anchor_id: String,
    pub month: String,
    pub events: i64,
    pub overage_events: i64,
}

/// One row of the hourly rollups: the sums of an org's events of one UTC hour that share one
/// value of one dimension (`key` '' = none). Written as a delta and added on conflict.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = rollup_hourly, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct RollupRow {
    pub org_id: String,
    pub dim: String,
    /// Unix milliseconds at which the UTC hour starts.
    pub hour: i64,
    pub key: String,
    pub events: i64,
    pub hours_saved_milli: i64,
    /// Money saved in cents, split in two halves: the sum is `hi × 10^8 + lo` (`repo/rollup.rs`).
    pub cost_saved_cents_hi: i64,
    pub cost_saved_cents_lo: i64,
    /// The known agent costs in millionths, split like `cost_saved_cents`.
    pub agent_cost_micros_hi: i64,
    pub agent_cost_micros_lo: i64,
    /// Events whose agent cost is known (the agent cost sums only those).
    pub costed_events: i64,
}

/// An org's override of a built-in task type's baseline.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = task_type_overrides, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct OverrideRow {
    pub org_id: String,
    pub task_type: String,
    pub baseline_minutes: String,
    pub reason: Option<String>,
    pub updated_at: i64,
}

/// An org's own task type; archived ones stay for the events that used them.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = custom_task_types, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct CustomTaskTypeRow {
    pub org_id: String,
    pub key: String,
    pub display_name: String,
    pub category: String,
    pub baseline_minutes: String,
    /// Where the baseline comes from, as the org wrote it.
    pub baseline_source: Option<String>,
    pub created_at: i64,
    pub archived_at: Option<i64>,
}

/// A signed-in dashboard browser: the SHA-256 of its cookie's token, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = dashboard_sessions, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SessionRow {
    pub id: String,
    /// Hex SHA-256 of the session token.
    pub token_hash: String,
    pub org_id: String,
    /// The API key the session signed in with; its revocation ends the session.
    pub key_prefix: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A read-only share link to an org's overview: the SHA-256 of its token, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = share_links, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ShareLinkRow {
    pub id: String,
    pub org_id: String,
    /// The token's first characters, to name the link without it.
    pub token_prefix: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    pub label: Option<String>,
    pub created_at: i64,
    /// `None`: never expires.
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A row of the job queue (`background_jobs`), as a claim returns it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = background_jobs, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    /// JSON text; its shape is the handler's business.
    pub payload: String,
    pub run_at: i64,
    /// Claims so far, this one included.
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    pub dead_at: Option<i64>,
    pub created_at: i64,
}

/// A job to enqueue. `id` names the work: enqueuing an id that is still queued does nothing,
/// so a cause retried (or a schedule slot won twice) queues its job once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub id: String,
    pub kind: String,
    /// JSON text.
    pub payload: String,
    /// Unix ms; the job is due from then on.
    pub run_at: i64,
    /// Claims allowed before the job is kept as dead (at least 1).
    pub max_attempts: i64,
    pub created_at: i64,
}

/// A webhook endpoint (`webhook_endpoints`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct EndpointRow {
    pub id: String,
    pub org_id: String,
    pub url: String,
    /// The subscribed types, joined by spaces.
    pub event_types: String,
    pub description: String,
    /// `whsec_…`, kept to sign; never answered after creation or logged.
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<i64>,
    pub status: String,
    pub disabled_by: Option<String>,
    pub failed_in_a_row: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A message to one endpoint (`webhook_deliveries`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct DeliveryRow {
    pub id: String,
    pub org_id: String,
    pub endpoint_id: String,
    pub message_id: String,
    pub event_type: String,
    /// The event whose 201 body is the data (event.created, agent.first_event).
    pub event_id: Option<String>,
    /// The data of other types, JSON text.
    pub payload: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub round_attempts: i64,
    pub next_attempt_at: i64,
    pub locked_by: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One attempt of a delivery (`webhook_attempts`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AttemptRow {
    pub delivery_id: String,
    pub attempt: i64,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// At most 2 KiB of the receiver's answer.
    pub response_body: String,
}

/// A digest sent (or being sent) for one org, kind and period (`digests`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = digests, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct DigestRow {
    pub org_id: String,
    /// `weekly` or `monthly`.
    pub kind: String,
    pub period_start: i64,
    pub period_end: i64,
    /// `2026-W48`.
    pub label: String,
    /// The digest as JSON text, as sent.
    pub data: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One recipient's email of a digest (`digest_emails`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = digest_emails, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct DigestEmailRow {
    pub org_id: String,
    pub kind: String,
    pub period_start: i64,
    pub address: String,
    /// `pending`, `sent` or `refused`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// How a feed's sync fares (`feed_sync`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = feed_sync, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct FeedSyncRow {
    /// `prices` or `fx`.
    pub feed: String,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    /// The first failure of the current streak; `None` after a success.
    pub failing_since: Option<i64>,
    pub last_error: Option<String>,
    /// Rows added by every successful run, in all.
    pub rows_added: i64,
}
