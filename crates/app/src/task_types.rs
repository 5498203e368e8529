//! `/task-types` (API.md §8): the built-in catalogue and the org's own task types, with its
//! overrides shown beside the original baselines. Reading is open to every plan; writing is a
//! Pro feature. Changes apply to events tracked afterwards; stored events keep their frozen
//! baselines.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use catalogue::{Catalogue, Category, CustomKeyError};
use roi_engine::BaselineMinutes;
use serde_json::{json, Map, Value};
use store::{CustomTaskTypeRow, OverrideRow};

use super::read_params::Params;
use super::reports::require_pro;
use super::track::{auth_context, json_body};
use crate::clock;
use crate::errors::ApiError;
use crate::state::AppState;
use crate::wire::Num;

const FEATURE_OVERRIDES: &str = "task-type overrides";
const FEATURE_CUSTOM: &str = "custom task types";

fn decimal(s: &str) -> Value {
    roi_engine::parse_decimal(s)
        .map(|d| json!(Num(d)))
        .unwrap_or(Value::Null)
}

fn time(ms: i64) -> String {
    clock::format_ms(clock::from_unix_ms(ms))
}

fn builtin_json(t: &catalogue::BuiltinTaskType, ov: Option<&OverrideRow>) -> Value {
    let (eff, eff_source) = match ov {
        Some(o) => (decimal(&o.baseline_minutes), "override"),
        None => (json!(Num(t.baseline.get())), "builtin"),
    };
    json!({
        "key": t.key.as_str(),
        "display_name": t.display_name,
        "category": t.category.as_str(),
        "kind": "builtin",
        "default_baseline_minutes": Num(t.baseline.get()),
        "baseline_source": t.source,
        "override": ov.map(|o| json!({
            "baseline_minutes": decimal(&o.baseline_minutes),
            "reason": o.reason,
            "updated_at": time(o.updated_at),
        })),
        "effective_baseline_minutes": eff,
        "effective_baseline_source": eff_source,
    })
}

fn custom_json(c: &CustomTaskTypeRow) -> Value {
    let mut m = Map::new();
    m.insert("key".into(), json!(c.key));
    m.insert("display_name".into(), json!(c.display_name));
    m.insert("category".into(), json!(c.category));
    m.insert("kind".into(), json!("custom"));
    m.insert(
        "default_baseline_minutes".into(),
        decimal(&c.baseline_minutes),
    );
    m.insert("baseline_source".into(), json!(c.baseline_source));
    m.insert("override".into(), Value::Null);
    m.insert(
        "effective_baseline_minutes".into(),
        decimal(&c.baseline_minutes),
    );
    m.insert("effective_baseline_source".into(), json!("custom"));
    m.insert("created_at".into(), json!(time(c.created_at)));
    if let Some(a) = c.archived_at {
        m.insert("archived_at".into(), json!(time(a)));
    }
    Value::Object(m)
}

/// The task types as `GET /task-types` lists them (built-ins in catalogue order, then active
/// custom types), each the JSON object the route answers. The dashboard shows the same objects.
pub fn entries(
    overrides: &[OverrideRow],
    customs: &[CustomTaskTypeRow],
    category: Option<&str>,
) -> Vec<Value> {
    let wanted = |c: &str| category.is_none_or(|w| w == c);
    let mut out: Vec<Value> = Catalogue::builtin()
        .iter()
        .filter(|t| wanted(t.category.as_str()))
        .map(|t| {
            let ov = overrides.iter().find(|o| o.task_type == t.key.as_str());
            builtin_json(t, ov)
        })
        .collect();
    out.extend(
        customs
            .iter()
            .filter(|c| c.archived_at.is_none() && wanted(&c.category))
            .map(custom_json),
    );
    out
}

/// The org's task types (blocking): see [`entries`].
pub fn entries_of(st: &AppState, org_id: &str) -> Result<Vec<Value>, ApiError> {
    let overrides = st.store.list_overrides(org_id)?;
    let customs = st.store.list_custom_types(org_id)?;
    Ok(entries(&overrides, &customs, None))
}

/// `GET /task-types[?category=]`: built-ins in catalogue order, then active custom types.
#[utoipa::path(
    get,
    path = "/api/v1/task-types",
    tag = "task-types",
    params(doc::CategoryQuery),
    responses((status = 200, description = "The task types.", body = doc::TaskTypes))
)]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let org = auth_context(&req)?.org.clone();
    let p = Params::from_request(&req)?;
    let category = p.get("category").map(str::to_owned);
    let st = state.clone();
    let org_id = org.id.clone();
    let (overrides, customs) = web::block(move || -> Result<_, ApiError> {
        Ok((
            st.store.list_overrides(&org_id)?,
            st.store.list_custom_types(&org_id)?,
        ))
    })
    .await??;
    let out = entries(&overrides, &customs, category.as_deref());
    Ok(HttpResponse::Ok().json(json!({ "task_types": out })))
}

async fn body_object(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Map<String, Value>, ApiError> {
    match json_body(state, req, payload).await? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::invalid("the body must be a JSON object")),
    }
}

fn text_field(
    m: &Map<String, Value>,
    name: &str,
    required: bool,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match m.get(name) {
        None | Some(Value::Null) if required => Err(ApiError::field(name, "is required")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n == 0 || n > max || s.chars().any(char::is_control) {
                Err(ApiError::field(
                    name,
                    format!("must be 1 to {max} characters without control characters"),
                ))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(_) => Err(ApiError::field(name, "must be a string")),
    }
}

fn baseline_field(m: &Map<String, Value>, name: &str) -> Result<BaselineMinutes, ApiError> {
    match m.get(name) {
        None | Some(Value::Null) => Err(ApiError::field(name, "is required")),
        Some(Value::Number(n)) => BaselineMinutes::parse(&n.to_string())
            .map_err(|e| ApiError::field(name, format!("{e}, got {n}"))),
        Some(_) => Err(ApiError::field(name, "must be a number of minutes")),
    }
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
        (status = 201, description = "The new custom type.", body = doc::TaskType),
        (status = 403, description = "Custom task types need the pro or enterprise plan."),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let org = auth_context(&req)?.org.clone();
    require_pro(&org, FEATURE_CUSTOM)?;
    let m = body_object(&state, &req, payload).await?;
    let key_text = text_field(&m, "key", true, 64)?.unwrap_or_default();
    let key = Catalogue::builtin()
        .validate_custom_key(&key_text)
        .map_err(|e| match e {
            CustomKeyError::CollidesWithBuiltin(k) => ApiError::Validation {
                message: format!("'{k}' is a built-in task type"),
                field: Some("key".into()),
                hint: Some(format!(
                    "override its baseline with POST /api/v1/task-types/{k}/override, or pick another key"
                )),
            },
            CustomKeyError::Invalid(e) => ApiError::field("key", e.to_string()),
        })?;
    let display_name = text_field(&m, "display_name", true, 200)?.unwrap_or_default();
    let category = match text_field(&m, "category", false, 64)? {
        Some(c) => Category::parse(&c)
            .map_err(|e| ApiError::field("category", e.to_string()))?
            .into_string(),
        None => "custom".to_owned(),
    };
    let baseline = baseline_field(&m, "default_baseline_minutes")?;
    let baseline_source = text_field(&m, "baseline_source", false, 500)?;
    let row = CustomTaskTypeRow {
        org_id: org.id.clone(),
        key: key.into_string(),
        display_name,
        category,
        baseline_minutes: baseline.to_string(),
        baseline_source,
        created_at: clock::unix_ms(clock::now()),
        archived_at: None,
    };
    let st = state.clone();
    let row2 = row.clone();
    let created = web::block(move || st.store.create_custom_type(&row2)).await??;
    state.contexts.invalidate(&org.id);
    if !created {
        return Err(ApiError::Validation {
            message: format!("the custom task type '{}' exists already", row.key),
            field: Some("key".into()),
            hint: Some(
                "archive it first with DELETE /api/v1/task-types/{key}, or pick another key".into(),
            ),
        });
    }
    Ok(HttpResponse::build(StatusCode::CREATED).json(custom_json(&row)))
}

fn builtin_or_404(
    key: &str,
    org_id: &str,
    store: &store::Store,
) -> Result<&'static catalogue::BuiltinTaskType, ApiError> {
    if let Some(t) = Catalogue::builtin().get(key) {
        return Ok(t);
    }
    // A key outside the grammar names no task type, and is not sent to the database (which
    // may not even accept its bytes: PostgreSQL refuses NUL).
    if catalogue::TaskTypeKey::parse(key).is_ok() && store.find_custom_type(org_id, key)?.is_some()
    {
        return Err(ApiError::Validation {
            message: format!(
                "'{key}' is a custom task type; only built-in task types have overrides"
            ),
            field: Some("key".into()),
            hint: Some("archive it and create it again with the new baseline".into()),
        });
    }
    Err(ApiError::NotFound {
        message: format!("no task type '{key}'"),
    })
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
        (status = 200, description = "The task type with its override.", body = doc::TaskType),
        (status = 403, description = "Overrides need the pro or enterprise plan."),
        (status = 404, description = "No such task type."),
    )
)]
pub async fn set_override(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let org = auth_context(&req)?.org.clone();
    require_pro(&org, FEATURE_OVERRIDES)?;
    let key = path.into_inner();
    let m = body_object(&state, &req, payload).await?;
    let baseline = baseline_field(&m, "baseline_minutes_override")?;
    let reason = text_field(&m, "reason", false, 500)?;
    let st = state.clone();
    let org_id = org.id.clone();
    let item = web::block(move || -> Result<Value, ApiError> {
        let t = builtin_or_404(&key, &org_id, &st.store)?;
        let now = clock::unix_ms(clock::now());
        st.store
            .set_override(&org_id, &key, &baseline.to_string(), reason.as_deref(), now)?;
        let ov = st.store.list_overrides(&org_id)?;
        Ok(builtin_json(t, ov.iter().find(|o| o.task_type == key)))
    })
    .await??;
    state.contexts.invalidate(&org.id);
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
        (status = 200, description = "The task type without override.", body = doc::TaskType),
        (status = 403, description = "Overrides need the pro or enterprise plan."),
        (status = 404, description = "No such task type."),
        (status = 422, description = "A custom task type has no override."),
    )
)]
pub async fn delete_override(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = auth_context(&req)?.org.clone();
    require_pro(&org, FEATURE_OVERRIDES)?;
    let key = path.into_inner();
    let st = state.clone();
    let org_id = org.id.clone();
    let item = web::block(move || -> Result<Value, ApiError> {
        let t = builtin_or_404(&key, &org.id, &st.store)?;
        st.store.delete_override(&org.id, &key)?;
        Ok(builtin_json(t, None))
    })
    .await??;
    state.contexts.invalidate(&org_id);
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
        (status = 200, description = "The archived type (with `archived_at`).", body = doc::TaskType),
        (status = 403, description = "Custom task types need the pro or enterprise plan."),
        (status = 404, description = "No such custom task type."),
        (status = 422, description = "A built-in task type cannot be archived."),
    )
)]
pub async fn archive(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = auth_context(&req)?.org.clone();
    require_pro(&org, FEATURE_CUSTOM)?;
    let key = path.into_inner();
    if Catalogue::builtin().is_builtin(&key) {
        return Err(ApiError::Validation {
            message: format!("'{key}' is a built-in task type and cannot be archived"),
            field: Some("key".into()),
            hint: Some("only custom task types can be archived".into()),
        });
    }
    if catalogue::TaskTypeKey::parse(&key).is_err() {
        return Err(ApiError::NotFound {
            message: format!("no custom task type '{key}'"),
        });
    }
    let st = state.clone();
    let org_id = org.id.clone();
    let item = web::block(move || -> Result<Value, ApiError> {
        st.store
            .archive_custom_type(&org.id, &key, clock::unix_ms(clock::now()))?;
        match st.store.find_custom_type(&org.id, &key)? {
            Some(row) => Ok(custom_json(&row)),
            None => Err(ApiError::NotFound {
                message: format!("no custom task type '{key}'"),
            }),
        }
    })
    .await??;
    state.contexts.invalidate(&org_id);
    Ok(HttpResponse::Ok().json(item))
}

/// The shapes of the bodies above, for the OpenAPI document (the handlers build and read them
/// by hand). `Serialize` is derived only so utoipa reads the serde attributes.
pub mod doc {
    use serde::Serialize;
    use utoipa::{IntoParams, ToSchema};

    use crate::wire::Num;

    /// The task type of a path.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct KeyPath {
        /// A task type key.
        pub key: String,
    }

    /// `GET /task-types?category=`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct CategoryQuery {
        /// Only the types of this category.
        pub category: Option<String>,
    }

    /// The org's override of a built-in baseline.
    #[derive(Serialize, ToSchema)]
    pub struct Override {
        pub baseline_minutes: Num,
        pub reason: Option<String>,
        #[schema(format = DateTime)]
        pub updated_at: String,
    }

    /// One task type.
    #[derive(Serialize, ToSchema)]
    pub struct TaskType {
        pub key: String,
        pub display_name: String,
        pub category: String,
        /// `builtin` or `custom`.
        pub kind: String,
        pub default_baseline_minutes: Num,
        /// The citation of the baseline.
        pub baseline_source: Option<String>,
        #[serde(rename = "override")]
        pub override_: Option<Override>,
        /// What `/track` uses now.
        pub effective_baseline_minutes: Num,
        /// `builtin`, `override` or `custom`.
        pub effective_baseline_source: String,
        /// Custom types only.
        #[schema(format = DateTime)]
        pub created_at: Option<String>,
        /// Archived custom types only.
        #[schema(format = DateTime)]
        pub archived_at: Option<String>,
    }

    /// `GET /task-types`.
    #[derive(Serialize, ToSchema)]
    pub struct TaskTypes {
        pub task_types: Vec<TaskType>,
    }

    /// `POST /task-types` as sent.
    #[derive(Serialize, ToSchema)]
    pub struct NewTaskType {
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
        pub default_baseline_minutes: Num,
        /// Where the baseline comes from (1 to 500 characters).
        #[schema(min_length = 1, max_length = 500)]
        pub baseline_source: Option<String>,
    }

    /// `POST /task-types/{key}/override` as sent.
    #[derive(Serialize, ToSchema)]
    pub struct NewOverride {
        /// Minutes a person needs (> 0, at most 10,080).
        #[schema(value_type = f64, exclusive_minimum = 0, maximum = 10_080)]
        pub baseline_minutes_override: Num,
        /// Why (1 to 500 characters).
        #[schema(min_length = 1, max_length = 500)]
        pub reason: Option<String>,
    }
}
