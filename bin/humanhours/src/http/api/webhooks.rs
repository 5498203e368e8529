//! `/webhooks` (API.md §9): the HTTP edges of `app::webhooks`. Pro and above.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use app::webhooks::{self, Deliveries, Delivery, Endpoint, Endpoints, Recovered};
use app::App;

use crate::http::errors::HttpError;
use crate::http::extract::{params, Auth, JsonBody};

/// Create a webhook endpoint.
///
/// The answer holds the signing secret (`whsec_…`), shown only here. At most 10 endpoints per
/// org; the URL must be http(s) and reach an allowed address. Pro.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    request_body(content = doc::NewEndpoint, content_type = "application/json"),
    responses(
        (status = 201, description = "The endpoint, with its secret (shown once).", body = Endpoint),
        (status = 403, description = "Webhooks need the pro or enterprise plan."),
    )
)]
pub(crate) async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    app::read::reports::require_pro(&caller.org, webhooks::FEATURE)?;
    let body = body.object(&app).await?;
    let e = webhooks::create(&app.into_inner(), &caller.org, &body).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(e))
}

/// List the org's webhook endpoints (without secrets).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    responses((status = 200, description = "The endpoints, oldest first.", body = Endpoints))
)]
pub(crate) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse::Ok().json(webhooks::list(&app.into_inner(), &caller.org).await?))
}

/// One webhook endpoint, with its health.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(doc::IdPath),
    responses(
        (status = 200, description = "The endpoint.", body = Endpoint),
        (status = 404, description = "No such endpoint in this org."),
    )
)]
pub(crate) async fn get(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse::Ok().json(webhooks::get(&app.into_inner(), &caller.org, &path).await?))
}

/// Change a webhook endpoint.
///
/// Any of url, event_types, description, enabled. `enabled: false` stops deliveries (new ones
/// are kept as `skipped`); `enabled: true` re-enables a disabled endpoint and resets its
/// failure count.
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(doc::IdPath),
    request_body(content = doc::EndpointPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The endpoint as changed.", body = Endpoint),
        (status = 404, description = "No such endpoint in this org."),
    )
)]
pub(crate) async fn update(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    app::read::reports::require_pro(&caller.org, webhooks::FEATURE)?;
    let body = body.object(&app).await?;
    let e = webhooks::update(&app.into_inner(), &caller.org, &path, &body).await?;
    Ok(HttpResponse::Ok().json(e))
}

/// Delete a webhook endpoint, with its deliveries.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(doc::IdPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such endpoint in this org."),
    )
)]
pub(crate) async fn delete(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    webhooks::delete(&app.into_inner(), &caller.org, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate an endpoint's signing secret.
///
/// The new secret is in the answer, shown once; the old one keeps signing beside it for 24 h.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(doc::IdPath),
    responses(
        (status = 200, description = "The endpoint with its new secret.", body = Endpoint),
        (status = 404, description = "No such endpoint in this org."),
    )
)]
pub(crate) async fn rotate_secret(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let e = webhooks::rotate_secret(&app.into_inner(), &caller.org, &path).await?;
    Ok(HttpResponse::Ok().json(e))
}

/// Send a test message (`webhook.ping`).
///
/// Queued at once whatever the endpoint subscribes to or its status; the answer is the
/// pending delivery, whose attempts the deliveries route shows.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/test",
    tag = "webhooks",
    params(doc::IdPath),
    responses(
        (status = 202, description = "The ping's delivery, queued.", body = Delivery),
        (status = 404, description = "No such endpoint in this org."),
    )
)]
pub(crate) async fn test(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let d = webhooks::test(&app.into_inner(), &caller.org, &path).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(d))
}

/// An endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(doc::IdPath, doc::DeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries.", body = Deliveries),
        (status = 404, description = "No such endpoint in this org."),
    )
)]
pub(crate) async fn deliveries(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    app::read::reports::require_pro(&caller.org, webhooks::FEATURE)?;
    let q = params(&req)?;
    let page = webhooks::deliveries(&app.into_inner(), &caller.org, &path, &q).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Send a delivery again (a new round of up to 5 attempts, starting now).
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    tag = "webhooks",
    params(doc::IdPath, doc::DeliveryPath),
    responses(
        (status = 202, description = "The delivery, queued.", body = Delivery),
        (status = 404, description = "No such endpoint or delivery in this org."),
    )
)]
pub(crate) async fn redeliver(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HttpError> {
    let (id, delivery) = path.into_inner();
    let d = webhooks::redeliver(&app.into_inner(), &caller.org, &id, &delivery).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(d))
}

/// Queue an endpoint's failed and skipped deliveries since a time again.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/recover",
    tag = "webhooks",
    params(doc::IdPath),
    request_body(content = doc::Recover, content_type = "application/json"),
    responses(
        (status = 202, description = "How many deliveries were queued.", body = Recovered),
        (status = 404, description = "No such endpoint in this org."),
    )
)]
pub(crate) async fn recover(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    app::read::reports::require_pro(&caller.org, webhooks::FEATURE)?;
    let body = body.object(&app).await?;
    let r = webhooks::recover(&app.into_inner(), &caller.org, &path, &body).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(r))
}

/// Shapes for the document only.
mod doc {
    use serde::Serialize;
    use utoipa::{IntoParams, ToSchema};

    #[expect(dead_code, reason = "read by the utoipa derive only, for the document")]
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct IdPath {
        /// The endpoint's id, `wh_<ULID>`.
        pub id: String,
    }

    #[expect(dead_code, reason = "read by the utoipa derive only, for the document")]
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct DeliveryPath {
        /// The delivery's id, `whdel_<ULID>`.
        pub delivery_id: String,
    }

    #[expect(dead_code, reason = "read by the utoipa derive only, for the document")]
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub(crate) struct DeliveriesQuery {
        /// Only deliveries in this state: pending, succeeded, failed, skipped.
        pub status: Option<String>,
        /// The `next_cursor` of the previous page.
        pub cursor: Option<String>,
        /// Deliveries per page, 1–100 (default 50).
        #[param(minimum = 1, maximum = 100)]
        pub limit: Option<i64>,
    }

    /// `POST /webhooks` as sent.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct NewEndpoint {
        /// An http or https URL (at most 2,048 characters, no credentials, no fragment).
        #[schema(max_length = 2048)]
        pub url: String,
        /// Any of event.created, agent.first_event, weekly.digest, monthly.digest.
        #[schema(min_items = 1)]
        pub event_types: Vec<String>,
        /// At most 500 characters.
        #[schema(max_length = 500)]
        pub description: Option<String>,
    }

    /// `PATCH /webhooks/{id}` as sent: any of these.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct EndpointPatch {
        #[schema(max_length = 2048)]
        pub url: Option<String>,
        #[schema(min_items = 1)]
        pub event_types: Option<Vec<String>>,
        #[schema(max_length = 500)]
        pub description: Option<String>,
        /// `false` disables the endpoint; `true` re-enables it.
        pub enabled: Option<bool>,
    }

    /// `POST /webhooks/{id}/recover` as sent.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct Recover {
        /// RFC 3339: deliveries created at or after this time are queued again.
        #[schema(format = DateTime)]
        pub since: String,
    }
}
