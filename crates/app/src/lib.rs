//! The use cases of HumanHours, without HTTP: what the HTTP API, the dashboard, the CLI (and
//! next MCP, digests and background jobs) call, so that no use case is written twice.
//!
//! It owns: tracking an event (read the body into a [`track::TrackInput`], value it with
//! `roi-engine`, replay or commit it through the store's group-commit writer), the read side
//! (summary, reports, agents, usage: every figure a page, a CSV or a JSON answer shows), task
//! types, orgs, keys and share links, the caches a request path needs (verified keys, each
//! org's valuation context, prices and FX rates), seeding, and the error a use case fails with
//! ([`ApiError`]: its code, status and message are the contract's, rendered by the HTTP layer).
//!
//! It must never: depend on actix or any web framework (results are typed structs; the caller
//! chooses JSON, HTML, CSV or a tool result), read configuration from the environment, or sum a
//! figure that the read side does not compute (every page and export goes through `read`).
//! Blocking database work runs through [`blocking`] on the runtime's blocking pool.

pub mod auth;
pub mod background;
pub mod clock;
pub mod context;
pub mod digests;
pub mod error;
pub mod export;
pub mod feeds;
pub mod key_admin;
pub mod keys;
pub mod metrics;
pub mod orgs;
pub mod pricing;
pub mod read;
pub mod retention;
pub mod seed;
pub mod sessions;
pub mod settings;
pub mod state;
pub mod task_types;
pub mod tokens;
pub mod track;
pub mod webhooks;
pub mod wire;

pub use error::ApiError;
pub use state::{App, ServerConfig};

/// Runs blocking work (the database, argon2) on the runtime's blocking pool, with the app.
pub async fn blocking<T: Send + 'static>(
    app: &std::sync::Arc<App>,
    f: impl FnOnce(&App) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("blocking task failed: {e}")))?
}
