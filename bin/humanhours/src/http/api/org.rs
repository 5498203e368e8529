//! `/org` (API.md §10): the caller's org settings; the zone and the digest recipients can be
//! changed. Every key may today (keys have every scope until scopes arrive, API.md §13, where
//! this becomes an admin-scope route).

use actix_web::{web, HttpResponse};
use app::settings::{self, OrgSettingsOut};
use app::App;

use crate::http::errors::HttpError;
use crate::http::extract::{Auth, JsonBody};

/// The org's settings.
#[utoipa::path(
    get,
    path = "/api/v1/org",
    tag = "org",
    responses((status = 200, description = "The org's settings.", body = OrgSettingsOut))
)]
pub(crate) async fn get(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse::Ok().json(settings::get(&app.into_inner(), &caller.org).await?))
}

/// Change the org's time zone or digest recipients.
///
/// `timezone`: an IANA name (the org's digest weeks run Monday to Monday there, and the digest
/// comes Monday 09:00 there). `digest_recipients`: at most 10 email addresses; `[]` stops the
/// emails. Other settings are the operator's (`humanhours org set`).
#[utoipa::path(
    patch,
    path = "/api/v1/org",
    tag = "org",
    request_body(content = doc::OrgPatch, content_type = "application/json"),
    responses((status = 200, description = "The org's settings as changed.", body = OrgSettingsOut))
)]
pub(crate) async fn patch(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    let body = body.object(&app).await?;
    Ok(HttpResponse::Ok().json(settings::patch(&app.into_inner(), &caller.org, &body).await?))
}

mod doc {
    use serde::Serialize;
    use utoipa::ToSchema;

    /// `PATCH /org` as sent: any of the fields.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct OrgPatch {
        /// IANA time zone name, e.g. Europe/Berlin.
        pub timezone: Option<String>,
        /// At most 10 email addresses; `[]` or `null` clears the list.
        #[schema(max_items = 10)]
        pub digest_recipients: Option<Vec<String>>,
    }
}
