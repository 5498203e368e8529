//! `GET /summary` and `GET /reports/*` (API.md §8): the HTTP edges of `app::read::reports`.

use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};
use app::read::params::doc as params_doc;
use app::read::reports::{
    self, Csv, GroupedAnswer, GroupedReport, GroupedRoute, Leaderboard, SummaryReport, UsageReport,
};
use app::{clock, App};

use crate::http::errors::HttpError;
use crate::http::extract::{params, Auth};

pub(crate) fn csv_response(csv: Csv) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", csv.filename),
        ));
    if csv.truncated {
        // A CSV has no room for a note: the header says rows were left out.
        resp.insert_header(("Humanhours-Truncated", "true"));
    }
    resp.body(csv.body)
}

async fn grouped(
    app: web::Data<App>,
    caller: Auth,
    req: HttpRequest,
    route: GroupedRoute,
) -> Result<HttpResponse, HttpError> {
    let org = &caller.0.org;
    let now = clock::unix_ms(clock::now());
    // The plan gate comes before the parameters, as it always has.
    reports::require_pro(org, "reports other than usage")?;
    let p = params(&req)?;
    match reports::grouped(&app.into_inner(), org, &p, route, now).await? {
        GroupedAnswer::Json(r) => Ok(HttpResponse::Ok().json(r)),
        GroupedAnswer::Csv(csv) => Ok(csv_response(csv)),
    }
}

/// Time saved, grouped.
///
/// `events`, `hours_saved` and `cost_saved` per `group_by` group, and their totals. Pro.
#[utoipa::path(
    get,
    path = "/api/v1/reports/time-saved",
    tag = "read",
    params(params_doc::ScopeQuery, params_doc::GroupQuery),
    responses(
        (status = 200, description = "The rows and their totals (JSON), or the rows as CSV with `format=csv`.",
            content((GroupedReport = "application/json"), (String = "text/csv"))),
        (status = 403, description = "Reports other than usage need the pro or enterprise plan."),
    )
)]
pub(crate) async fn time_saved(
    app: web::Data<App>,
    caller: Auth,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    grouped(app, caller, req, GroupedRoute::TimeSaved).await
}

/// Cost saved, grouped.
///
/// `events`, `cost_saved`, `agent_cost` and `net_saved` per `group_by` group, and their
/// totals. Pro.
#[utoipa::path(
    get,
    path = "/api/v1/reports/cost-saved",
    tag = "read",
    params(params_doc::ScopeQuery, params_doc::GroupQuery),
    responses(
        (status = 200, description = "The rows and their totals (JSON), or the rows as CSV with `format=csv`.",
            content((GroupedReport = "application/json"), (String = "text/csv"))),
        (status = 403, description = "Reports other than usage need the pro or enterprise plan."),
    )
)]
pub(crate) async fn cost_saved(
    app: web::Data<App>,
    caller: Auth,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    grouped(app, caller, req, GroupedRoute::CostSaved).await
}

/// The time-saved rows as a CSV download.
///
/// Default `group_by=day,agent,task_type`; always CSV (`format=json` is a 422). Pro.
#[utoipa::path(
    get,
    path = "/api/v1/reports/export",
    tag = "read",
    params(params_doc::ScopeQuery, params_doc::GroupQuery),
    responses(
        (status = 200, description = "A header row, then one row per group; `currency` last.",
            content_type = "text/csv", body = String,
            headers(("Content-Disposition" = String, description = "`attachment` with a file name holding the range"))),
        (status = 403, description = "Reports other than usage need the pro or enterprise plan."),
    )
)]
pub(crate) async fn export(
    app: web::Data<App>,
    caller: Auth,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    grouped(app, caller, req, GroupedRoute::Export).await
}

/// `GET /summary`: totals, by outcome, and a daily trend.
#[utoipa::path(
    get,
    path = "/api/v1/summary",
    tag = "read",
    params(params_doc::ScopeQuery),
    responses((status = 200, description = "The totals of the range.", body = SummaryReport))
)]
pub(crate) async fn summary(
    app: web::Data<App>,
    Auth(caller): Auth,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let p = params(&req)?;
    let now = clock::unix_ms(clock::now());
    let report = reports::summary(&app.into_inner(), &caller.org, &p, now).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `GET /reports/leaderboard`: agents ranked by `metric`.
#[utoipa::path(
    get,
    path = "/api/v1/reports/leaderboard",
    tag = "read",
    params(params_doc::ScopeQuery, params_doc::LeaderboardQuery),
    responses(
        (status = 200, description = "The agents, best first.", body = Leaderboard),
        (status = 403, description = "Reports other than usage need the pro or enterprise plan."),
    )
)]
pub(crate) async fn leaderboard(
    app: web::Data<App>,
    Auth(caller): Auth,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    reports::require_pro(&caller.org, "reports other than usage")?;
    let p = params(&req)?;
    let now = clock::unix_ms(clock::now());
    let report = reports::leaderboard(&app.into_inner(), &caller.org, &p, now).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `GET /reports/usage`: the billing month's counters and the plan's limits. All plans.
#[utoipa::path(
    get,
    path = "/api/v1/reports/usage",
    tag = "read",
    responses((status = 200, description = "This month's usage.", body = UsageReport))
)]
pub(crate) async fn usage(
    app: web::Data<App>,
    Auth(caller): Auth,
) -> Result<HttpResponse, HttpError> {
    let report = reports::usage(&app.into_inner(), &caller.org, clock::now()).await?;
    Ok(HttpResponse::Ok().json(report))
}
