//! `GET /events` (API.md §12): the HTTP edge of `app::read::events`.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use app::read::events::{self, doc};
use app::{clock, App};

use crate::http::errors::HttpError;
use crate::http::extract::{params, Auth};

/// Events, newest first.
///
/// The org's stored events (within its retention), newest first by `occurred_at`, each as
/// its `POST /track` answer plus `metadata` and `audit_sample`: what a person spot-checking
/// the agents' work reads. Keyset pagination: pass `next_cursor` as `cursor` for the next
/// page; a walk sees every event once, whatever is added meanwhile. Pro.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "read",
    params(doc::EventsQuery),
    responses(
        (status = 200, description = "A page of events.", body = doc::EventsPage),
        (status = 403, description = "The events list needs the pro or enterprise plan."),
    )
)]
pub(crate) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let p = params(&req)?;
    let now = clock::unix_ms(clock::now());
    let page = events::list(&app.into_inner(), &caller.org, &p, now).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(page))
}
