//! `/task-types` (API.md §8): the HTTP edges of `app::task_types`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use app::read::reports::require_pro;
use app::task_types::{self, TaskType, TaskTypes, FEATURE_CUSTOM, FEATURE_OVERRIDES};
use app::App;

use crate::http::errors::HttpError;
use crate::http::extract::{params, Auth, JsonBody};

/// `GET /task-types[?category=]`: built-ins in catalogue order, then active custom types.
#[utoipa::path(
    get,
    path = "/api/v1/task-types",
    tag = "task-types",
    params(doc::CategoryQuery),
    responses((status = 200, description = "The task types.", body = TaskTypes))
)]
pub(crate) async fn list(
    app: web::Data<App>,
    Auth(caller): Auth,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let category = params(&req)?.get("category").map(str::to_owned);
    let list = task_types::list(&app.into_inner(), &caller.org, category).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Create a custom task type.
///
/// A key that is a built-in or an active custom type is a 422; an archived one comes back
/// with the new values. Pro.
#[utoipa::path(
    post,
    path = "/api/v1/task-types",
    tag = "task-types",
    request_body(content = doc::NewTaskType, content_type = "application/json"),
    responses(
        (status = 201, description = "The new custom type.", body = TaskType),
        (status = 403, description = "Custom task types need the pro or enterprise plan."),
    )
)]
pub(crate) async fn create(
    app: web::Data<App>,
    Auth(caller): Auth,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    require_pro(&caller.org, FEATURE_CUSTOM)?;
    let body = body.object(&app).await?;
    let created = task_types::create(&app.into_inner(), &caller.org, &body).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(created))
}

/// Override a built-in task type's baseline.
///
/// The org's own baseline for a built-in type (a custom key is a 422). Applies to events
/// tracked afterwards. Pro.
#[utoipa::path(
    post,
    path = "/api/v1/task-types/{key}/override",
    tag = "task-types",
    params(doc::KeyPath),
    request_body(content = doc::NewOverride, content_type = "application/json"),
    responses(
        (status = 200, description = "The task type with its override.", body = TaskType),
        (status = 403, description = "Overrides need the pro or enterprise plan."),
        (status = 404, description = "No such task type."),
    )
)]
pub(crate) async fn set_override(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, HttpError> {
    require_pro(&caller.org, FEATURE_OVERRIDES)?;
    let body = body.object(&app).await?;
    let item =
        task_types::set_override(&app.into_inner(), &caller.org, path.into_inner(), &body).await?;
    Ok(HttpResponse::Ok().json(item))
}

/// Remove an override.
///
/// Back to the built-in baseline; removing an override that does not exist is not an error.
/// Pro.
#[utoipa::path(
    delete,
    path = "/api/v1/task-types/{key}/override",
    tag = "task-types",
    params(doc::KeyPath),
    responses(
        (status = 200, description = "The task type without override.", body = TaskType),
        (status = 403, description = "Overrides need the pro or enterprise plan."),
        (status = 404, description = "No such task type."),
        (status = 422, description = "A custom task type has no override."),
    )
)]
pub(crate) async fn delete_override(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let item =
        task_types::delete_override(&app.into_inner(), &caller.org, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(item))
}

/// Archive a custom task type.
///
/// Built-ins cannot be archived (422). Stored events keep their baselines. Pro.
#[utoipa::path(
    delete,
    path = "/api/v1/task-types/{key}",
    tag = "task-types",
    params(doc::KeyPath),
    responses(
        (status = 200, description = "The archived type (with `archived_at`).", body = TaskType),
        (status = 403, description = "Custom task types need the pro or enterprise plan."),
        (status = 404, description = "No such custom task type."),
        (status = 422, description = "A built-in task type cannot be archived."),
    )
)]
pub(crate) async fn archive(
    app: web::Data<App>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let item = task_types::archive(&app.into_inner(), &caller.org, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(item))
}

/// The shapes of the bodies above, for the OpenAPI document (the handlers read them by hand). `Serialize` is derived only so utoipa reads the serde attributes.
pub(crate) mod doc {
    use serde::Serialize;
    use utoipa::{IntoParams, ToSchema};

    use app::wire::JsonDecimal;

    /// The task type of a path.
    #[expect(dead_code, reason = "read by the utoipa derive only, for the document")]
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub(crate) struct KeyPath {
        /// A task type key.
        pub key: String,
    }

    /// `GET /task-types?category=`.
    #[expect(dead_code, reason = "read by the utoipa derive only, for the document")]
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub(crate) struct CategoryQuery {
        /// Only the types of this category.
        pub category: Option<String>,
    }

    /// `POST /task-types` as sent.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct NewTaskType {
        /// Lowercase snake_case, not a built-in key.
        #[schema(
            min_length = 1,
            max_length = 64,
            pattern = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$"
        )]
        pub key: String,
        /// 1 to 200 characters, no control characters.
        #[schema(min_length = 1, max_length = 200)]
        pub display_name: String,
        /// Lowercase snake_case; default `custom`.
        #[schema(
            min_length = 1,
            max_length = 64,
            pattern = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$"
        )]
        pub category: Option<String>,
        /// Minutes a person needs (> 0, at most 10,080).
        #[schema(value_type = f64, exclusive_minimum = 0, maximum = 10_080)]
        pub default_baseline_minutes: JsonDecimal,
        /// Where the baseline comes from (1 to 500 characters).
        #[schema(min_length = 1, max_length = 500)]
        pub baseline_source: Option<String>,
    }

    /// `POST /task-types/{key}/override` as sent.
    #[derive(Serialize, ToSchema)]
    pub(crate) struct NewOverride {
        /// Minutes a person needs (> 0, at most 10,080).
        #[schema(value_type = f64, exclusive_minimum = 0, maximum = 10_080)]
        pub baseline_minutes_override: JsonDecimal,
        /// Why (1 to 500 characters).
        #[schema(min_length = 1, max_length = 500)]
        pub reason: Option<String>,
    }
}
