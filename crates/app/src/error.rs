//! The error policy of every use case, and so of the HTTP API (and next of MCP tool errors).
//!
//! Every non-2xx answer is one JSON envelope, `{"error": {"code", "message", "hint"?,
//! "field"?}}` (API.md §2), produced from one [`ApiError`]. Use cases return `ApiError` and
//! map each failure to a variant explicitly; the match in [`ErrorKind::status_and_code`] is
//! exhaustive, so a new variant cannot go out without a status, and [`ErrorKind`] (derived, one
//! per variant) lists every code for the OpenAPI document. The HTTP layer renders the envelope
//! with the status and `Retry-After`/`Allow` headers these functions give. Internal failures are logged
//! with their whole chain and answered as an opaque `internal`: no database text, path or
//! backtrace ever reaches a client. A database that cannot be reached is `unavailable` (503,
//! Retry-After), never `internal`.

use serde::Serialize;
use strum::IntoEnumIterator as _;

/// How long a client should wait before retrying after an outage.
const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;

/// One failure of a request, as the client will see it.
#[derive(Debug, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(name(ErrorKind), derive(strum::EnumIter, Hash))]
pub enum ApiError {
    #[error("missing or malformed Authorization header")]
    MissingAuthorization,
    #[error("more than one Authorization header")]
    RepeatedAuthorization,
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
    /// The key lacks the scope the route needs (API.md §13).
    #[error("insufficient scope: {scope}")]
    InsufficientScope { scope: &'static str },
    #[error("{message}")]
    NotFound { message: String },
    /// `/mcp` (API.md §11): an `Origin` that is not the public URL's or a listed one, or a
    /// `Host` that is neither the public URL's host nor loopback (DNS rebinding).
    #[error("{header} not allowed")]
    OriginNotAllowed { header: &'static str, value: String },
    /// `/mcp`: the `Accept` header lacks a media type the protocol answers in.
    #[error("not acceptable")]
    NotAcceptable { need: &'static str },
    /// `/mcp`: a request the MCP transport refused before any tool ran (its message kept).
    #[error("{message}")]
    McpProtocol { message: String },
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<String> },
    #[error("payload too large")]
    PayloadTooLarge { limit: usize },
    #[error("request body too slow")]
    BodyTimeout { secs: u64 },
    #[error("rate limited")]
    RateLimited { retry_after: u32 },
    /// Too many wrong keys for one key prefix or from one client address, or too many key
    /// checks waiting at once: refused before any hashing.
    #[error("too many failed key checks")]
    KeyChecksLimited { retry_after: u32 },
    /// The org has as many expensive reads running and waiting as it may.
    #[error("too many reports at once")]
    ReadsBusy { retry_after: u32 },
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
        let mut codes: Vec<&'static str> = Vec::new();
        let mut table = Vec::new();
        for (status, code) in ErrorKind::iter().map(ErrorKind::status_and_code) {
            if !codes.contains(&code) {
                codes.push(code);
                table.push(format!("`{code}` ({status})"));
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
    pub fn status_and_code(&self) -> (u16, &'static str) {
        ErrorKind::from(self).status_and_code()
    }

    /// Which variant this is.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from(self)
    }

    fn message_and_hint(&self) -> (String, Option<&str>) {
        match self {
            ApiError::MissingAuthorization => (
                "the request has no 'Authorization: Bearer <api key>' header".into(),
                Some("send the API key as 'Authorization: Bearer hh_live_…'"),
            ),
            ApiError::RepeatedAuthorization => (
                "the request has more than one Authorization header".into(),
                Some("send the API key in one 'Authorization: Bearer …' header"),
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
            ApiError::InsufficientScope { scope } => (
                format!("this API key lacks the '{scope}' scope this route needs"),
                Some("use a key with that scope, or create one with 'humanhours key create --scopes'"),
            ),
            ApiError::NotFound { message } => (message.clone(), None),
            ApiError::OriginNotAllowed { header, value } => (
                format!("{header} '{value}' is not allowed on /mcp"),
                Some(match *header {
                    "Host" => "call the server at the host of HUMANHOURS_PUBLIC_URL or on loopback; set HUMANHOURS_PUBLIC_URL to the address clients use",
                    _ => "send no Origin, or the origin of HUMANHOURS_PUBLIC_URL, or one listed in HUMANHOURS_MCP_ALLOWED_ORIGINS",
                }),
            ),
            ApiError::NotAcceptable { need } => (
                format!("the Accept header must list {need}"),
                Some("MCP clients send 'Accept: application/json, text/event-stream'"),
            ),
            ApiError::McpProtocol { message } => (message.clone(), None),
            ApiError::MethodNotAllowed { allow } => (
                format!("this route answers {} only", allow.join(", ")),
                Some("the Allow header lists the methods of this route"),
            ),
            ApiError::PayloadTooLarge { limit } => (
                format!("the request body is larger than {limit} bytes"),
                None,
            ),
            ApiError::BodyTimeout { secs } => (
                format!("the request body did not arrive within {secs} s; the connection is closed"),
                Some("send the whole body at once"),
            ),
            ApiError::RateLimited { .. } => (
                "too many requests for this API key".into(),
                Some("wait for the seconds in Retry-After"),
            ),
            ApiError::KeyChecksLimited { .. } => (
                "too many failed API key checks for this key or from this address, or too many at once; this key was not checked".into(),
                Some("check that the key is the whole key as it was shown, then wait for the seconds in Retry-After"),
            ),
            ApiError::ReadsBusy { .. } => (
                "this org has as many reports running and waiting as it may at once".into(),
                Some("wait for the seconds in Retry-After, or for the reports already asked for"),
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

    /// The seconds of `Retry-After`, where the answer carries it.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::RateLimited { retry_after }
            | ApiError::KeyChecksLimited { retry_after }
            | ApiError::ReadsBusy { retry_after } => Some((*retry_after).max(1)),
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
            ApiError::RepeatedAuthorization => Some("Authorization".to_owned()),
            ApiError::OriginNotAllowed { header, .. } => Some((*header).to_owned()),
            ApiError::NotAcceptable { .. } => Some("Accept".to_owned()),
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

impl ErrorKind {
    /// The HTTP status and the stable error code.
    pub fn status_and_code(self) -> (u16, &'static str) {
        match self {
            ErrorKind::MissingAuthorization | ErrorKind::RepeatedAuthorization => {
                (401, "missing_authorization")
            }
            ErrorKind::InvalidApiKey => (401, "invalid_api_key"),
            ErrorKind::KeyRevoked => (401, "key_revoked"),
            ErrorKind::Validation => (422, "validation_error"),
            ErrorKind::UnsupportedMediaType => (415, "unsupported_media_type"),
            ErrorKind::UnknownTaskType => (422, "unknown_task_type"),
            ErrorKind::OccurredAtOutOfRange => (422, "occurred_at_out_of_range"),
            ErrorKind::IdempotencyKeyReused => (422, "idempotency_key_reused"),
            ErrorKind::IdempotencyKeyInUse => (409, "idempotency_key_in_use"),
            ErrorKind::FeatureLocked => (403, "feature_locked"),
            ErrorKind::InsufficientScope => (403, "insufficient_scope"),
            ErrorKind::NotFound => (404, "not_found"),
            ErrorKind::OriginNotAllowed => (403, "origin_not_allowed"),
            ErrorKind::NotAcceptable => (406, "not_acceptable"),
            ErrorKind::McpProtocol => (400, "mcp_protocol_error"),
            ErrorKind::MethodNotAllowed => (405, "method_not_allowed"),
            ErrorKind::PayloadTooLarge => (413, "payload_too_large"),
            ErrorKind::BodyTimeout => (408, "request_timeout"),
            ErrorKind::RateLimited | ErrorKind::KeyChecksLimited | ErrorKind::ReadsBusy => {
                (429, "rate_limited")
            }
            ErrorKind::QuotaExceeded => (429, "quota_exceeded"),
            ErrorKind::Internal => (500, "internal"),
            ErrorKind::Unavailable | ErrorKind::Overloaded => (503, "unavailable"),
        }
    }

    /// Whether an answer of this kind carries `Retry-After`.
    pub fn has_retry_after(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::KeyChecksLimited
                | ErrorKind::ReadsBusy
                | ErrorKind::Unavailable
                | ErrorKind::Overloaded
        )
    }

    /// Every kind, in declaration order.
    pub fn all() -> impl Iterator<Item = ErrorKind> {
        ErrorKind::iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_and_codes_are_stable() {
        // A hand-made value of each variant must map to a kind the derived list holds, and
        // the list holds each kind once; `has_retry_after` agrees with `retry_after`.
        let samples = [
            ApiError::MissingAuthorization,
            ApiError::invalid("x"),
            ApiError::RateLimited { retry_after: 3 },
            ApiError::KeyChecksLimited { retry_after: 2 },
            ApiError::ReadsBusy { retry_after: 1 },
            ApiError::RepeatedAuthorization,
            ApiError::Unavailable,
            ApiError::Overloaded,
            ApiError::internal(anyhow::anyhow!("x")),
            ApiError::QuotaExceeded { cap: 1 },
            ApiError::InsufficientScope { scope: "read" },
        ];
        let all: Vec<ErrorKind> = ErrorKind::all().collect();
        for e in &samples {
            assert!(all.contains(&e.kind()));
            assert_eq!(e.kind().has_retry_after(), e.retry_after().is_some());
        }
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(
            all.len(),
            26,
            "a variant was added: check its code and status"
        );
        assert_eq!(
            ErrorKind::Validation.status_and_code(),
            (422, "validation_error")
        );
        assert_eq!(
            ErrorKind::InsufficientScope.status_and_code(),
            (403, "insufficient_scope")
        );
    }
}
