//! HTTP routes. Every API route is mounted twice, under `/api/v1` (what the SDK and the n8n node
//! call) and `/v1` (what the docs print), with the same handlers and middleware.

pub mod agents;
pub mod batch;
pub mod read_params;
pub mod reports;
pub mod task_types;
pub mod track;
pub mod track_input;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::require_key;
use crate::errors::ApiError;
use crate::state::AppState;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(crate::metrics::metrics));
    for prefix in ["/api/v1", "/v1"] {
        cfg.service(
            web::scope(prefix)
                .wrap(from_fn(require_key))
                .route("/track", web::post().to(track::track))
                .route("/track/batch", web::post().to(batch::track_batch))
                .route("/track/validate", web::post().to(track::validate))
                .route("/summary", web::get().to(reports::summary))
                .route("/reports/time-saved", web::get().to(reports::time_saved))
                .route("/reports/cost-saved", web::get().to(reports::cost_saved))
                .route("/reports/leaderboard", web::get().to(reports::leaderboard))
                .route("/reports/export", web::get().to(reports::export))
                .route("/reports/usage", web::get().to(reports::usage))
                .route("/agents", web::get().to(agents::list))
                .route("/agents/{agent_id}", web::put().to(agents::set_rate))
                .route("/task-types", web::get().to(task_types::list))
                .route("/task-types", web::post().to(task_types::create))
                .route("/task-types/{key}", web::delete().to(task_types::archive))
                .route(
                    "/task-types/{key}/override",
                    web::post().to(task_types::set_override),
                )
                .route(
                    "/task-types/{key}/override",
                    web::delete().to(task_types::delete_override),
                )
                .default_service(web::to(not_found)),
        );
    }
    crate::dashboard::configure(cfg);
    cfg.default_service(web::to(not_found));
}

/// Liveness: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    web::block(move || st.store.ping()).await??;
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": "ok"})))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        message: "no such route".into(),
    })
}
