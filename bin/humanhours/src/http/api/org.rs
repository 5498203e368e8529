//! `/org` (API.md §10, §13): the caller's org settings, read with a read key and changed with an
//! admin key (the dashboard's settings page calls the same function).

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

/// Change the org's settings.
///
/// Any of: `name`; `currency` (ISO 4217; only while the org has no events, since sums add
/// the money frozen on each event); `hourly_rate` (the default cost of a human hour); `fallback_baseline_minutes`
/// (`null` clears it); `timezone` (an IANA name: the org's digest weeks run Monday to Monday
/// there); `digest_recipients` (at most 10 email addresses; `[]` stops the emails);
/// `retention_days` (1 to the plan's days; `null`: the plan's). One bad field changes nothing.
/// The plan and the monthly cap are the operator's (`humanhours org set`).
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
        #[schema(min_length = 1, max_length = 200)]
        pub name: Option<String>,
        /// ISO 4217 code, e.g. EUR.
        pub currency: Option<String>,
        #[schema(value_type = Option<f64>)]
        pub hourly_rate: Option<String>,
        /// `null` clears it.
        #[schema(value_type = Option<f64>)]
        pub fallback_baseline_minutes: Option<String>,
        /// 1 to the plan's retention; `null` gives it back to the plan.
        #[schema(minimum = 1)]
        pub retention_days: Option<u32>,
        /// IANA time zone name, e.g. Europe/Berlin.
        pub timezone: Option<String>,
        /// At most 10 email addresses; `[]` or `null` clears the list.
        #[schema(max_items = 10)]
        pub digest_recipients: Option<Vec<String>>,
    }
}
