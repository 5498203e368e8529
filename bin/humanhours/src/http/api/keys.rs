//! `/keys` (API.md §13): the org's API keys, with an admin key.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use app::key_admin::{self, Keys, NewKey};
use app::App;

use crate::http::errors::HttpError;
use crate::http::extract::{Auth, JsonBody};

/// Create an API key.
///
/// `scopes`: any of `track` (track, batch, validate), `read` (summary, reports, lists),
/// `admin` (writes, webhooks, keys, settings); an agent should get a `track`-only key.
/// The whole key is in this answer only. At most 100 live keys per org.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "keys",
    request_body(content = doc::NewKeyBody, content_type = "application/json"),
    responses((status = 201, description = "The key (shown only here) and its details.", body = NewKey))
)]
pub(crate) async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    let body = body.object(&app).await?;
    let k = key_admin::create(&app.into_inner(), &caller.org, &body).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(k))
}

/// List the org's API keys (prefixes, names, scopes; never the keys).
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "keys",
    responses((status = 200, description = "Every key of the org, oldest first.", body = Keys))
)]
pub(crate) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse::Ok().json(key_admin::list(&app.into_inner(), &caller.org).await?))
}

/// Revoke an API key by its prefix.
///
/// Refused at once on this instance and within the key cache TTL (at most 60 s) on the others.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{prefix}",
    tag = "keys",
    params(doc::PrefixPath),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "No live key of this org has that prefix."),
    )
)]
pub(crate) async fn revoke(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    key_admin::revoke(&app.into_inner(), &caller.org, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

mod doc {
    use serde::Serialize;
    use utoipa::{IntoParams, ToSchema};

    #[expect(dead_code, reason = "read by the utoipa derive only, for the document")]
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct PrefixPath {
        /// The key's 8-character prefix.
        pub prefix: String,
    }

    /// `POST /keys` as sent.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct NewKeyBody {
        /// At least one of track, read, admin.
        #[schema(min_items = 1)]
        pub scopes: Vec<String>,
        /// What the key is for (at most 100 characters).
        #[schema(max_length = 100)]
        pub name: Option<String>,
    }
}
