//! `GET /healthz`, `/readyz` and `/metrics`: served without a key.

use actix_web::{web, HttpResponse};
use app::App;

use crate::http::errors::HttpError;

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process answers.", body = Health))
)]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "The database answers.", body = Ready),
        (status = 503, description = "The database cannot be reached."),
    )
)]
pub(crate) async fn readyz(state: web::Data<App>) -> Result<HttpResponse, HttpError> {
    app::blocking(&state.into_inner(), |st| Ok(st.store.ping()?)).await?;
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready",
        database: "ok",
    }))
}

/// `GET /healthz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `GET /readyz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Ready {
    #[schema(example = "ready")]
    pub status: &'static str,
    #[schema(example = "ok")]
    pub database: &'static str,
}

/// Prometheus metrics.
///
/// No key: operational figures only (routes, statuses, queue depth, pools, jobs), no org
/// data. Expose it to the scraper's network, not the public.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4.", content_type = "text/plain", body = String))
)]
pub(crate) async fn metrics(state: web::Data<App>) -> HttpResponse {
    // The queue is a database read: when it fails (an outage), the gauges are left out and the
    // in-memory figures are still answered.
    let state = state.into_inner();
    let now = app::clock::unix_ms(app::clock::now());
    let queue = match app::blocking(&state, move |st| Ok(st.store.job_counts(now)?)).await {
        Ok(counts) => Some(counts),
        Err(e) => {
            tracing::warn!(error = %e, "reading the job queue for /metrics failed");
            None
        }
    };
    let outbox = match app::blocking(&state, move |st| Ok(st.store.outbox_counts()?)).await {
        Ok(counts) => Some((counts, now)),
        Err(e) => {
            tracing::warn!(error = %e, "reading the webhook outbox for /metrics failed");
            None
        }
    };
    let digest_emails =
        match app::blocking(&state, move |st| Ok(st.store.pending_digest_emails()?)).await {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "reading the digest emails for /metrics failed");
                None
            }
        };
    let feeds = match app::blocking(&state, move |st| Ok(st.store.feed_states()?)).await {
        Ok(rows) => Some(rows),
        Err(e) => {
            tracing::warn!(error = %e, "reading the feed syncs for /metrics failed");
            None
        }
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(
            state
                .metrics
                .render(&state, queue, outbox, digest_emails, feeds),
        )
}
