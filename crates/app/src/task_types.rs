//! `/task-types` (API.md §8): the built-in catalogue and the org's own task types, with its
//! overrides shown beside the original baselines. Reading is open to every plan; writing is a
//! Pro feature. Changes apply to events tracked afterwards; stored events keep their frozen
//! baselines.

use std::sync::Arc;

use catalogue::{Catalogue, Category, CustomKeyError};
use roi_engine::BaselineMinutes;
use serde::Serialize;
use serde_json::{Map, Value};
use store::{CustomTaskTypeRow, OverrideRow};
use utoipa::ToSchema;

use crate::auth::OrgSettings;
use crate::clock;
use crate::error::ApiError;
use crate::read::reports::require_pro;
use crate::state::App;
use crate::wire::JsonDecimal;

pub const FEATURE_OVERRIDES: &str = "task-type overrides";
pub const FEATURE_CUSTOM: &str = "custom task types";

fn decimal(s: &str) -> Option<JsonDecimal> {
    roi_engine::parse_decimal(s).ok().map(JsonDecimal)
}

use crate::clock::format_unix_ms as time;

/// The org's override of a built-in baseline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Override {
    #[schema(value_type = JsonDecimal)]
    pub baseline_minutes: Option<JsonDecimal>,
    pub reason: Option<String>,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// One task type, as `/task-types` answers it and the dashboard lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskType {
    pub key: String,
    pub display_name: String,
    pub category: String,
    /// `builtin` or `custom`.
    pub kind: &'static str,
    #[schema(value_type = JsonDecimal)]
    pub default_baseline_minutes: Option<JsonDecimal>,
    /// The citation of the baseline.
    pub baseline_source: Option<String>,
    #[serde(rename = "override")]
    pub override_: Option<Override>,
    /// What `/track` uses now.
    #[schema(value_type = JsonDecimal)]
    pub effective_baseline_minutes: Option<JsonDecimal>,
    /// `builtin`, `override` or `custom`.
    pub effective_baseline_source: &'static str,
    /// Custom types only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
    /// Archived custom types only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub archived_at: Option<String>,
}

/// `GET /task-types`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskTypes {
    pub task_types: Vec<TaskType>,
}

fn builtin_entry(t: &catalogue::BuiltinTaskType, ov: Option<&OverrideRow>) -> TaskType {
    let (eff, eff_source) = match ov {
        Some(o) => (decimal(&o.baseline_minutes), "override"),
        None => (Some(JsonDecimal(t.baseline.get())), "builtin"),
    };
    TaskType {
        key: t.key.as_str().to_owned(),
        display_name: t.display_name.to_owned(),
        category: t.category.as_str().to_owned(),
        kind: "builtin",
        default_baseline_minutes: Some(JsonDecimal(t.baseline.get())),
        baseline_source: Some(t.source.to_owned()),
        override_: ov.map(|o| Override {
            baseline_minutes: decimal(&o.baseline_minutes),
            reason: o.reason.clone(),
            updated_at: time(o.updated_at),
        }),
        effective_baseline_minutes: eff,
        effective_baseline_source: eff_source,
        created_at: None,
        archived_at: None,
    }
}

fn custom_entry(c: &CustomTaskTypeRow) -> TaskType {
    TaskType {
        key: c.key.clone(),
        display_name: c.display_name.clone(),
        category: c.category.clone(),
        kind: "custom",
        default_baseline_minutes: decimal(&c.baseline_minutes),
        baseline_source: c.baseline_source.clone(),
        override_: None,
        effective_baseline_minutes: decimal(&c.baseline_minutes),
        effective_baseline_source: "custom",
        created_at: Some(time(c.created_at)),
        archived_at: c.archived_at.map(time),
    }
}

/// The task types as `GET /task-types` lists them (built-ins in catalogue order, then active
/// custom types). The dashboard shows the same entries.
pub fn entries(
    overrides: &[OverrideRow],
    customs: &[CustomTaskTypeRow],
    category: Option<&str>,
) -> Vec<TaskType> {
    let wanted = |c: &str| category.is_none_or(|w| w == c);
    let mut out: Vec<TaskType> = Catalogue::builtin()
        .iter()
        .filter(|t| wanted(t.category.as_str()))
        .map(|t| {
            let ov = overrides.iter().find(|o| o.task_type == t.key.as_str());
            builtin_entry(t, ov)
        })
        .collect();
    out.extend(
        customs
            .iter()
            .filter(|c| c.archived_at.is_none() && wanted(&c.category))
            .map(custom_entry),
    );
    out
}

/// The org's task types (blocking): see [`entries`].
pub fn entries_of(st: &App, org_id: &str) -> Result<Vec<TaskType>, ApiError> {
    let overrides = st.store.list_overrides(org_id)?;
    let customs = st.store.list_custom_types(org_id)?;
    Ok(entries(&overrides, &customs, None))
}

/// `GET /task-types[?category=]`: built-ins in catalogue order, then active custom types.
pub async fn list(
    state: &Arc<App>,
    org: &OrgSettings,
    category: Option<String>,
) -> Result<TaskTypes, ApiError> {
    let org_id = org.id.clone();
    let (overrides, customs) = crate::blocking(state, move |st| -> Result<_, ApiError> {
        Ok((
            st.store.list_overrides(&org_id)?,
            st.store.list_custom_types(&org_id)?,
        ))
    })
    .await?;
    Ok(TaskTypes {
        task_types: entries(&overrides, &customs, category.as_deref()),
    })
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

/// `POST /task-types`: creates a custom task type (answered with 201). A key that is a built-in
/// or an active custom type is a 422; an archived one comes back with the new values. Pro.
pub async fn create(
    state: &Arc<App>,
    org: &OrgSettings,
    m: &Map<String, Value>,
) -> Result<TaskType, ApiError> {
    require_pro(org, FEATURE_CUSTOM)?;
    let key_text = text_field(m, "key", true, 64)?.unwrap_or_default();
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
    let display_name = text_field(m, "display_name", true, 200)?.unwrap_or_default();
    let category = match text_field(m, "category", false, 64)? {
        Some(c) => Category::parse(&c)
            .map_err(|e| ApiError::field("category", e.to_string()))?
            .into_string(),
        None => "custom".to_owned(),
    };
    let baseline = baseline_field(m, "default_baseline_minutes")?;
    let baseline_source = text_field(m, "baseline_source", false, 500)?;
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
    let row2 = row.clone();
    let created = crate::blocking(state, move |st| Ok(st.store.create_custom_type(&row2)?)).await?;
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
    Ok(custom_entry(&row))
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

/// `POST /task-types/{key}/override`: the org's own baseline for a built-in type (a custom key
/// is a 422). Applies to events tracked afterwards. Pro.
pub async fn set_override(
    state: &Arc<App>,
    org: &OrgSettings,
    key: String,
    m: &Map<String, Value>,
) -> Result<TaskType, ApiError> {
    require_pro(org, FEATURE_OVERRIDES)?;
    let baseline = baseline_field(m, "baseline_minutes_override")?;
    let reason = text_field(m, "reason", false, 500)?;
    let org_id = org.id.clone();
    let item = crate::blocking(state, move |st| -> Result<TaskType, ApiError> {
        let t = builtin_or_404(&key, &org_id, &st.store)?;
        let now = clock::unix_ms(clock::now());
        st.store
            .set_override(&org_id, &key, &baseline.to_string(), reason.as_deref(), now)?;
        let ov = st.store.list_overrides(&org_id)?;
        Ok(builtin_entry(t, ov.iter().find(|o| o.task_type == key)))
    })
    .await?;
    state.contexts.invalidate(&org.id);
    Ok(item)
}

/// `DELETE /task-types/{key}/override`: back to the built-in baseline; removing an override
/// that does not exist is not an error. Pro.
pub async fn delete_override(
    state: &Arc<App>,
    org: &OrgSettings,
    key: String,
) -> Result<TaskType, ApiError> {
    require_pro(org, FEATURE_OVERRIDES)?;
    let org_id = org.id.clone();
    let item = crate::blocking(state, move |st| -> Result<TaskType, ApiError> {
        let t = builtin_or_404(&key, &org_id, &st.store)?;
        st.store.delete_override(&org_id, &key)?;
        Ok(builtin_entry(t, None))
    })
    .await?;
    state.contexts.invalidate(&org.id);
    Ok(item)
}

/// `DELETE /task-types/{key}`: archives a custom task type; built-ins cannot be archived
/// (422). Stored events keep their baselines. Pro.
pub async fn archive(
    state: &Arc<App>,
    org: &OrgSettings,
    key: String,
) -> Result<TaskType, ApiError> {
    require_pro(org, FEATURE_CUSTOM)?;
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
    let org_id = org.id.clone();
    let item = crate::blocking(state, move |st| -> Result<TaskType, ApiError> {
        st.store
            .archive_custom_type(&org_id, &key, clock::unix_ms(clock::now()))?;
        match st.store.find_custom_type(&org_id, &key)? {
            Some(row) => Ok(custom_entry(&row)),
            None => Err(ApiError::NotFound {
                message: format!("no custom task type '{key}'"),
            }),
        }
    })
    .await?;
    state.contexts.invalidate(&org.id);
    Ok(item)
}
