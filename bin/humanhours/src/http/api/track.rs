//! `POST /track`, `/track/validate` and `/track/batch`: the HTTP edges of `app::track`.

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use app::track::batch::{BatchRequest, BatchResponse};
use app::track::input::TrackWire;
use app::track::TrackResponse;
use app::{clock, App};
use utoipa::ToSchema;

use crate::http::errors::HttpError;
use crate::http::extract::{key_header, Auth, JsonBody};

/// The `Idempotency-Key` header (documentation: `app::track` reads it).
#[expect(dead_code, reason = "read by the utoipa derive only, for the document")]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub(crate) struct IdempotencyHeader {
    /// Makes a retry safe: 1 to 255 visible ASCII characters, scoped to the org, for 24 h.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    pub idempotency_key: Option<String>,
}

/// The answer of `/track/validate`.
#[derive(serde::Serialize, ToSchema)]
pub(crate) struct Valid {
    /// Always `true`.
    pub valid: bool,
}

/// Record one finished task.
///
/// Values the task (baseline, rate, hours and cost saved, agent cost, net) and stores it with
/// everything resolved frozen on the event. With `Idempotency-Key`, a retry within 24 h with
/// the same body answers the first event again (200, `Idempotent-Replayed: true`); a different
/// body is `idempotency_key_reused`.
#[utoipa::path(
    post,
    path = "/api/v1/track",
    tag = "track",
    params(IdempotencyHeader),
    request_body(content = TrackWire, content_type = "application/json"),
    responses(
        (status = 201, description = "Valued and stored.", body = TrackResponse),
        (status = 200, description = "A replay: the identical answer of the first request with this Idempotency-Key.",
            body = TrackResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 409, description = "The first request with this Idempotency-Key has not finished (only where the store cannot wait for it)."),
        (status = 429, description = "Over the key's per-second rate limit (`rate_limited`), or the org reached the hard monthly cap of its plan (`quota_exceeded`)."),
    )
)]
pub(crate) async fn track(
    app: web::Data<App>,
    Auth(caller): Auth,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    let app = app.into_inner();
    let body = body.bytes(&app).await?;
    let tracked =
        app::track::track(&app, &caller.org, &body, key_header(&req), clock::now()).await?;
    let status = if tracked.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = HttpResponse::build(status);
    resp.content_type("application/json");
    if tracked.replayed {
        resp.insert_header(("Idempotent-Replayed", HeaderValue::from_static("true")));
    }
    Ok(resp.body(tracked.body))
}

/// Check a `/track` body without storing it.
///
/// Checks a body against every field rule of `/track` without valuing or storing it. Also the
/// no-op ceiling the ingest benchmark compares against.
#[utoipa::path(
    post,
    path = "/api/v1/track/validate",
    tag = "track",
    params(IdempotencyHeader),
    request_body(content = TrackWire, content_type = "application/json"),
    responses((status = 200, description = "The body passes every field rule.", body = Valid))
)]
pub(crate) async fn validate(
    app: web::Data<App>,
    _caller: Auth,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    let body = body.bytes(&app).await?;
    app::track::validate(&body, key_header(&req))?;
    Ok(HttpResponse::Ok().json(Valid { valid: true }))
}

/// Record up to 1,000 events in one request.
///
/// Every item follows the rules of a single `POST /track`, with its own optional
/// `idempotency_key`; a bad item gets its own error result and never rejects the others.
#[utoipa::path(
    post,
    path = "/api/v1/track/batch",
    tag = "track",
    request_body(content = BatchRequest, content_type = "application/json"),
    responses((status = 200, description = "One result per item, in order.", body = BatchResponse))
)]
pub(crate) async fn track_batch(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    let app = app.into_inner();
    let body = body.bytes(&app).await?;
    let answer = app::track::batch::track_batch(&app, &caller.org, &body, clock::now()).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(answer))
}
