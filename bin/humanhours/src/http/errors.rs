//! The error policy of the HTTP API.
//!
//! Every non-2xx answer is one JSON envelope, `{"error": {"code", "message", "hint"?,
//! "field"?}}` (API.md §2), produced from one [`ApiError`]. Handlers return `ApiError` and
//! map each failure to a variant explicitly; the match in [`ApiError::status_and_code`] is
//! exhaustive, so a new variant cannot go out without a status. Internal failures are logged
//! with their whole chain and answered as an opaque `internal`: no database text, path or
//! backtrace ever reaches a client. A database that cannot be reached is `unavailable` (503,
//! Retry-After), never `internal`.

use actix_web::http::header::{HeaderValue, ALLOW, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// How long a client should wait before retrying after an outage.
const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;

/// One failure of a request, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed Authorization header")]
    MissingAuthorization,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("API key revoked")]
    KeyRevoked,
    #[error("{message}")]
    Validation {
        message: String,
        field: Option<String>,
        hint: Option<String>,
    },
    #[error("unsupported Content-Type")]
    UnsupportedMediaType,
    #[error("unknown task type '{task_type}'")]
    UnknownTaskType { task_type: String },
    #[error("{message}")]
    OccurredAtOutOfRange { message: String },
    #[error("Idempotency-Key reused with a different body")]
    IdempotencyKeyReused,
    #[error("Idempotency-Key in use")]
    IdempotencyKeyInUse,
    #[error("feature locked: {feature}")]
    FeatureLocked { feature: &'static str },
    #[error("{message}")]
    NotFound { message: String },
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<String> },
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("rate limited")]
    RateLimited { retry_after: u32 },
    #[error("quota exceeded")]
    QuotaExceeded { cap: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    #[error("database unavailable")]
    Unavailable,
    #[error("overloaded")]
    Overloaded,
}

/// The inner object of the error envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    #[schema(value_type = ErrorCode)]
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The offending request field (dotted path, e.g. `audit_sample.input_excerpt`), query
    /// parameter or header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The body of every non-2xx answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// The `code` of an error: a string from [`ApiError::status_and_code`], documented as an enum
/// of every variant's code.
pub struct ErrorCode;

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        let all = ApiError::every_variant();
        let mut codes: Vec<&'static str> = Vec::new();
        let mut table = Vec::new();
        for (status, code) in all.iter().map(ApiError::status_and_code) {
            if !codes.contains(&code) {
                codes.push(code);
                table.push(format!("`{code}` ({})", status.as_u16()));
            }
        }
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .description(Some(format!(
                "Every error code, with its HTTP status: {}.",
                table.join(", ")
            )))
            .enum_values(Some(codes))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

impl ApiError {
    /// A validation error on one request field (dotted path).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            field: Some(field.into()),
            hint: None,
        }
    }

    /// A validation error not tied to one field.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            field: None,
            hint: None,
        }
    }

    /// An internal failure; logged when rendered.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    /// The HTTP status and the stable error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MissingAuthorization => (StatusCode::UNAUTHORIZED, "missing_authorization"),
            ApiError::InvalidApiKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            ApiError::KeyRevoked => (StatusCode::UNAUTHORIZED, "key_revoked"),
            ApiError::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::UnknownTaskType { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unknown_task_type")
            }
            ApiError::OccurredAtOutOfRange { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "occurred_at_out_of_range")
            }
            ApiError::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::IdempotencyKeyInUse => (StatusCode::CONFLICT, "idempotency_key_in_use"),
            ApiError::FeatureLocked { .. } => (StatusCode::FORBIDDEN, "feature_locked"),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::QuotaExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Unavailable | ApiError::Overloaded => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        }
    }

    fn message_and_hint(&self) -> (String, Option<&str>) {
        match self {
            ApiError::MissingAuthorization => (
                "the request has no 'Authorization: Bearer <api key>' header".into(),
                Some("send the API key as 'Authorization: Bearer hh_live_…'"),
            ),
            ApiError::InvalidApiKey => (
                "the API key is malformed or unknown".into(),
                Some("keys look like hh_live_<8 chars>_<48 chars>; create one with 'humanhours key create'"),
            ),
            ApiError::KeyRevoked => (
                "the API key was revoked".into(),
                Some("create a new key with 'humanhours key create'"),
            ),
            ApiError::Validation { message, hint, .. } => (message.clone(), hint.as_deref()),
            ApiError::UnsupportedMediaType => (
                "the request body must be JSON".into(),
                Some("send 'Content-Type: application/json'"),
            ),
            ApiError::UnknownTaskType { task_type } => (
                format!(
                    "task_type '{task_type}' is neither a built-in nor an active custom task type of this org, and the org has no fallback baseline"
                ),
                Some("send human_baseline_minutes, create a custom task type, or set the org's fallback baseline; GET /api/v1/task-types lists the known ones"),
            ),
            ApiError::OccurredAtOutOfRange { message } => (
                message.clone(),
                Some("occurred_at must lie between 90 days ago and 24 hours from now"),
            ),
            ApiError::IdempotencyKeyReused => (
                "this Idempotency-Key was already used by this org with a different request body".into(),
                Some("use a new key for a new event; a retry must send the identical body"),
            ),
            ApiError::IdempotencyKeyInUse => (
                "a request with this Idempotency-Key is still being processed".into(),
                Some("retry shortly"),
            ),
            ApiError::FeatureLocked { feature } => (
                format!("{feature} needs the pro or enterprise plan"),
                Some("ask the operator to change the org's plan"),
            ),
            ApiError::NotFound { message } => (message.clone(), None),
            ApiError::MethodNotAllowed { allow } => (
                format!("this route answers {} only", allow.join(", ")),
                Some("the Allow header lists the methods of this route"),
            ),
            ApiError::PayloadTooLarge { limit } => (
                format!("the request body is larger than {limit} bytes"),
                None,
            ),
            ApiError::RateLimited { .. } => (
                "too many requests for this API key".into(),
                Some("wait for the seconds in Retry-After"),
            ),
            ApiError::QuotaExceeded { cap } => (
                format!("the org reached its cap of {cap} events this calendar month (UTC)"),
                Some("the cap resets on the 1st of next month; a higher plan raises it"),
            ),
            ApiError::Internal(_) => ("an internal error occurred".into(), None),
            ApiError::Unavailable => (
                "the database cannot be reached right now; nothing was stored".into(),
                Some("retry after the seconds in Retry-After"),
            ),
            ApiError::Overloaded => (
                "the server has more writes waiting than it accepts; nothing was stored".into(),
                Some("retry after the seconds in Retry-After"),
            ),
        }
    }

    /// One value of every variant, in declaration order: the OpenAPI document lists the error
    /// codes from it. Each arm names the next variant, and the match is exhaustive, so a new
    /// variant does not compile until it is linked into this chain (and so into the document).
    pub fn every_variant() -> Vec<ApiError> {
        let mut out = Vec::new();
        let mut next = Some(ApiError::MissingAuthorization);
        while let Some(e) = next {
            next = match &e {
                ApiError::MissingAuthorization => Some(ApiError::InvalidApiKey),
                ApiError::InvalidApiKey => Some(ApiError::KeyRevoked),
                ApiError::KeyRevoked => Some(ApiError::invalid("")),
                ApiError::Validation { .. } => Some(ApiError::UnsupportedMediaType),
                ApiError::UnsupportedMediaType => Some(ApiError::UnknownTaskType {
                    task_type: String::new(),
                }),
                ApiError::UnknownTaskType { .. } => Some(ApiError::OccurredAtOutOfRange {
                    message: String::new(),
                }),
                ApiError::OccurredAtOutOfRange { .. } => Some(ApiError::IdempotencyKeyReused),
                ApiError::IdempotencyKeyReused => Some(ApiError::IdempotencyKeyInUse),
                ApiError::IdempotencyKeyInUse => Some(ApiError::FeatureLocked { feature: "" }),
                ApiError::FeatureLocked { .. } => Some(ApiError::NotFound {
                    message: String::new(),
                }),
                ApiError::NotFound { .. } => Some(ApiError::MethodNotAllowed { allow: vec![] }),
                ApiError::MethodNotAllowed { .. } => Some(ApiError::PayloadTooLarge { limit: 0 }),
                ApiError::PayloadTooLarge { .. } => Some(ApiError::RateLimited { retry_after: 1 }),
                ApiError::RateLimited { .. } => Some(ApiError::QuotaExceeded { cap: 0 }),
                ApiError::QuotaExceeded { .. } => {
                    Some(ApiError::Internal(anyhow::anyhow!("example")))
                }
                ApiError::Internal(_) => Some(ApiError::Unavailable),
                ApiError::Unavailable => Some(ApiError::Overloaded),
                ApiError::Overloaded => None,
            };
            out.push(e);
        }
        out
    }

    /// Whether the answer carries `Retry-After`.
    pub fn has_retry_after(&self) -> bool {
        self.retry_after().is_some()
    }

    fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::RateLimited { retry_after } => Some((*retry_after).max(1)),
            ApiError::Unavailable => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            ApiError::Overloaded => Some(1),
            _ => None,
        }
    }
}

impl ApiError {
    /// The inner object of the envelope (`{"code", "message", …}`), e.g. for one item of a
    /// batch. Logs an internal error's chain.
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(self.error_body()).unwrap_or_default()
    }

    /// The inner object of the envelope. Logs an internal error's chain.
    pub fn error_body(&self) -> ErrorBody {
        if let ApiError::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        let (_, code) = self.status_and_code();
        let (message, hint) = self.message_and_hint();
        let field = match self {
            ApiError::Validation { field, .. } => field.clone(),
            _ => None,
        };
        ErrorBody {
            code,
            message,
            hint: hint.map(str::to_owned),
            field,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after() {
            resp.insert_header((RETRY_AFTER, HeaderValue::from(secs)));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                resp.insert_header((ALLOW, v));
            }
        }
        resp.json(ErrorEnvelope {
            error: self.error_body(),
        })
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Unavailable(msg) => {
                tracing::warn!(%msg, "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_visits_each_variant_once() {
        let all = ApiError::every_variant();
        let kinds: std::collections::HashSet<_> = all.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), all.len(), "a variant is linked twice");
    }
}
