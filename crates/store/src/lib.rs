//! Persistence for HumanHours: the diesel schema, row models, repositories and embedded
//! migrations, for SQLite (the embedded default) and PostgreSQL (the shared, scale-out backend).
//!
//! The backend is chosen at run time from the database URL. Each repository method is written
//! once and compiled for both concrete connection types through the `with_conn!`/`with_tx!`
//! macros (see `db.rs`), so every diesel feature either backend needs (`ON CONFLICT`,
//! `RETURNING`, SQLite's `BEGIN IMMEDIATE`) stays available; the schema itself uses only types
//! both share (Text, BigInt). This crate owns storage, not rules: it asks the pure crates
//! (`idempotency`, `ratelimit`) for decisions and takes times and ids as arguments.

#[macro_use]
mod db;
mod models;
mod repo;
pub mod schema;
mod writer;

pub use db::{init_tls, Backend, DbConfig, SqliteSync, Store, StoreError};
pub use models::*;
pub use repo::digests::DigestWrites;
pub use repo::event_pages::EventFilter;
/// Digest email statuses as stored.
pub mod email_status {
    pub use crate::repo::digests::{
        EMAIL_FAILED as FAILED, EMAIL_PENDING as PENDING, EMAIL_REFUSED as REFUSED,
        EMAIL_SENT as SENT,
    };
}
pub use repo::jobs::{JobCounts, JobRetry, DEAD_RUN_AT};
pub use repo::reports::{Dim, ReportQuery, ReportRow, Sums, MAX_DIMS};
pub use repo::track::{
    decide_existing, IdempotencyClaim, QuotaInput, Recorded, TrackError, TrackWrite,
    LAST_SEEN_RESOLUTION_MS,
};
pub use repo::webhooks::{
    AttemptEnd, AttemptResult, Claimed, EndpointChanges, OutboxCounts, OutboxSink,
};
pub use repo::OrgContextRows;
/// Delivery statuses as stored.
pub mod delivery_status {
    pub use crate::repo::webhooks::{FAILED, PENDING, SKIPPED, SUCCEEDED};
}
pub use writer::{BatchResult, SubmitError, Writer, WriterConfig};
