//! The wire format of `POST /track` and its conversion into checked domain values.
//!
//! A body is parsed in three steps, each failing with a `validation_error` that names the field:
//! JSON syntax (serde_json, whose number text is kept exact by `arbitrary_precision`), types
//! (serde, with `serde_path_to_error` to name the field), then ranges and formats (`validator`
//! for lengths, the domain newtypes' constructors for numbers, keys and times).

use roi_engine::{
    parse_decimal, BaselineMinutes, DurationSeconds, Money, Outcome, Tokens, ValueError,
};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Number, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::ApiError;

/// Metadata may be at most this large, serialized.
pub const METADATA_MAX_BYTES: usize = 16 * 1024;
/// Metadata may have at most this many top-level keys.
pub const METADATA_MAX_KEYS: usize = 64;
/// How far back an event may have occurred.
pub const MAX_AGE: Duration = Duration::days(90);
/// How far ahead an event may be dated.
pub const MAX_AHEAD: Duration = Duration::hours(24);

/// A JSON number kept as its exact text. A string is a type error, never coerced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonNumber(String);

impl<'de> Deserialize<'de> for JsonNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Number::deserialize(d).map(|n| JsonNumber(n.to_string()))
    }
}

/// A non-negative JSON integer. Decimals, negatives and strings are type errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonCount(u64);

impl<'de> Deserialize<'de> for JsonCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = Number::deserialize(d)?;
        n.as_u64().map(JsonCount).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "must be a whole number from 0 to {}, got {n}",
                Tokens::MAX
            ))
        })
    }
}

/// `audit_sample` as sent. Kept on pro and enterprise; a free org's sample is accepted and
/// dropped (warning `audit_sample_not_stored`).
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[schema(as = AuditSample)]
pub struct AuditSampleWire {
    #[validate(length(max = 2000, message = "must be at most 2000 characters"))]
    #[schema(max_length = 2000)]
    pub input_excerpt: Option<String>,
    #[validate(length(max = 2000, message = "must be at most 2000 characters"))]
    #[schema(max_length = 2000)]
    pub output_excerpt: Option<String>,
    #[validate(length(max = 200, message = "must be at most 200 characters"))]
    #[schema(max_length = 200)]
    pub model: Option<String>,
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 1_000_000_000_000_u64)]
    pub tokens_in: Option<JsonCount>,
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 1_000_000_000_000_u64)]
    pub tokens_out: Option<JsonCount>,
}

/// What became of the task.
#[derive(ToSchema)]
#[schema(as = Outcome, rename_all = "snake_case")]
pub enum OutcomeDoc {
    Success,
    Failure,
    NeedsReview,
}

/// `POST /track` as sent. Unknown fields are ignored; `null` is the same as absent. The
/// `schema` attributes document the rules the code below checks.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[schema(as = TrackRequest)]
pub struct TrackWire {
    /// The agent; created on first use. No control characters.
    #[validate(length(min = 1, max = 128, message = "must be 1 to 128 characters"))]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
        example = "support-bot"
    )]
    pub agent_id: String,
    /// A built-in task type (`GET /api/v1/task-types`), a custom one of the org, or any key
    /// with `human_baseline_minutes` (or the org's fallback baseline).
    #[validate(length(min = 1, max = 64, message = "must be 1 to 64 characters"))]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$",
        example = "email_classification"
    )]
    pub task_type: String,
    #[schema(value_type = OutcomeDoc)]
    pub outcome: String,
    /// Seconds the agent ran; absent means 0.
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1_000_000_000, example = 4)]
    pub agent_duration_seconds: Option<JsonNumber>,
    /// What the run cost, in the org currency; always wins over a computed cost.
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1_000_000_000)]
    pub agent_cost: Option<JsonNumber>,
    /// The model id, ideally the OpenRouter id; with tokens, the cost is computed from the
    /// price book. No control characters.
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub model: Option<String>,
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 1_000_000_000_000_u64)]
    pub tokens_in: Option<JsonCount>,
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 1_000_000_000_000_u64)]
    pub tokens_out: Option<JsonCount>,
    /// The baseline for this event only (> 0, at most a week).
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 10_080)]
    pub human_baseline_minutes: Option<JsonNumber>,
    /// Free-form; at most 64 top-level keys and 16 KiB serialized. Its string `client` feeds
    /// the `client` report dimension.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[validate(nested)]
    pub audit_sample: Option<AuditSampleWire>,
    /// When the task finished (RFC 3339); default: the time of receipt. From 90 days ago to
    /// 24 hours ahead.
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
}

/// An audit sample, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSample {
    pub input_excerpt: Option<String>,
    pub output_excerpt: Option<String>,
    pub model: Option<String>,
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
}

/// `POST /track`, checked: every value within the contract's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInput {
    pub agent_id: catalogue::AgentId,
    pub task_type: catalogue::TaskTypeKey,
    pub outcome: Outcome,
    pub duration: DurationSeconds,
    pub agent_cost: Option<Money>,
    pub model: Option<String>,
    pub tokens: Option<Tokens>,
    pub human_baseline: Option<BaselineMinutes>,
    pub metadata: Option<Map<String, Value>>,
    /// `metadata` serialized (what is stored), made once while its size is checked.
    pub metadata_json: Option<String>,
    pub audit_sample: Option<AuditSample>,
    /// None: the time of receipt.
    pub occurred_at: Option<OffsetDateTime>,
}

/// Parses the body text into JSON, naming the position of a syntax error.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Validation {
        message: format!("the body is not valid JSON: {e}"),
        field: None,
        hint: Some("send a JSON object".into()),
    })
}

/// A wire struct read straight from a body's text, when the text is a JSON object that
/// deserializes whole; `None` for anything else (read it with [`parse_json`] and [`from_value`],
/// which name the error).
pub fn wire_from_text<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    // Objects only: serde would also fill the struct from an array of its fields in order.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// Deserializes a JSON value into a wire struct, naming the offending field. An array is
/// refused: serde would fill the struct from an array of its fields in order.
pub fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if value.is_array() {
        return Err(ApiError::invalid(
            "the body must be a JSON object, got an array",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde reports a missing field at its parent; name the field itself.
        if let Some(rest) = inner.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or_default();
            let field = if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            return ApiError::field(field, "is required");
        }
        if path == "." {
            ApiError::invalid(format!("the body must be a JSON object: {inner}"))
        } else {
            ApiError::field(path, inner)
        }
    })
}

/// The first validator error as an [`ApiError`] with its dotted field path.
pub fn first_validation_error(errors: &ValidationErrors) -> ApiError {
    fn walk(errors: &ValidationErrors, prefix: &str) -> Option<ApiError> {
        let mut fields: Vec<_> = errors.errors().iter().collect();
        fields.sort_by_key(|(name, _)| name.to_string());
        for (name, kind) in fields {
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            match kind {
                ValidationErrorsKind::Field(errs) => {
                    if let Some(e) = errs.first() {
                        let msg = e
                            .message
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| format!("is invalid ({})", e.code));
                        return Some(ApiError::field(path, msg));
                    }
                }
                ValidationErrorsKind::Struct(inner) => {
                    if let Some(e) = walk(inner, &path) {
                        return Some(e);
                    }
                }
                ValidationErrorsKind::List(items) => {
                    for (i, inner) in items {
                        if let Some(e) = walk(inner, &format!("{path}.{i}")) {
                            return Some(e);
                        }
                    }
                }
            }
        }
        None
    }
    walk(errors, "").unwrap_or_else(|| ApiError::invalid("the body is invalid"))
}

fn number<T>(
    field: &str,
    n: Option<JsonNumber>,
    make: impl Fn(rust_decimal::Decimal) -> Result<T, ValueError>,
) -> Result<Option<T>, ApiError> {
    n.map(|JsonNumber(text)| {
        parse_decimal(&text)
            .map_err(|_| {
                ApiError::field(
                    field,
                    format!("must be a finite number in range, got {text}"),
                )
            })
            .and_then(|d| make(d).map_err(|e| ApiError::field(field, e.to_string())))
    })
    .transpose()
}

/// The dotted path of the first key or string holding U+0000, if any. Metadata is queried as
/// JSON by the database (reports group by its keys) and PostgreSQL's `jsonb` cannot hold NUL,
/// so both backends refuse it alike. serde_json limits nesting to 128 levels, so the
/// recursion is bounded.
fn nul_in(map: &Map<String, Value>, path: &str) -> Option<String> {
    fn value(v: &Value, path: String) -> Option<String> {
        match v {
            Value::String(s) if s.contains('\0') => Some(path),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| value(item, format!("{path}.{i}"))),
            Value::Object(m) => nul_in(m, &path),
            _ => None,
        }
    }
    map.iter().find_map(|(k, v)| {
        let here = format!("{path}.{k}");
        if k.contains('\0') {
            return Some(path.to_owned());
        }
        value(v, here)
    })
}

/// The dotted path of the first number in metadata that the two backends would not hold as the
/// same value, if any. Reports group by metadata values, so a number must mean the same on
/// SQLite (which reads JSON numbers as 64-bit integers or doubles) and PostgreSQL (exact
/// `numeric`, within its own range): an integer that fits 64 bits, or a number of at most 15
/// significant digits within the double range (which a double holds exactly as written).
/// Anything else (`1e99999`, `1e-400`, 20-digit decimals) is refused; send it as a string.
fn odd_number_in(map: &Map<String, Value>, path: &str) -> Option<String> {
    fn value(v: &Value, path: String) -> Option<String> {
        match v {
            Value::Number(n) if !portable_number(n) => Some(path),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| value(item, format!("{path}.{i}"))),
            Value::Object(m) => odd_number_in(m, &path),
            _ => None,
        }
    }
    map.iter()
        .find_map(|(k, v)| value(v, format!("{path}.{k}")))
}

/// See [`odd_number_in`].
fn portable_number(n: &serde_json::Number) -> bool {
    if n.is_i64() {
        return true;
    }
    let text = n.to_string();
    if !text.contains(['.', 'e', 'E']) {
        // An integer past 64 bits: SQLite would hold it as a double.
        return false;
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    let Ok(x) = text.parse::<f64>() else {
        return false;
    };
    significant.len() <= 15 && x.is_finite() && (x != 0.0 || significant.is_empty())
}

fn no_control_chars(field: &str, s: &str) -> Result<(), ApiError> {
    if catalogue::forbidden_char(s).is_some() {
        return Err(ApiError::field(
            field,
            "must not contain control characters or invisible format characters",
        ));
    }
    Ok(())
}

impl TrackWire {
    /// Checks every rule and produces domain values. The time window of `occurred_at` is checked
    /// later, against the time of receipt (`check_window`).
    pub fn into_input(self) -> Result<TrackInput, ApiError> {
        self.validate().map_err(|e| first_validation_error(&e))?;
        let agent_id = catalogue::AgentId::from_string(self.agent_id)
            .map_err(|e| ApiError::field("agent_id", e.to_string()))?;
        let task_type = catalogue::TaskTypeKey::parse(&self.task_type)
            .map_err(|e| ApiError::field("task_type", e.to_string()))?;
        let outcome = self
            .outcome
            .parse::<Outcome>()
            .map_err(|e| ApiError::field("outcome", e.to_string()))?;
        let duration = number(
            "agent_duration_seconds",
            self.agent_duration_seconds,
            DurationSeconds::new,
        )?
        .unwrap_or(DurationSeconds::ZERO);
        let agent_cost = number("agent_cost", self.agent_cost, Money::new)?;
        let human_baseline = number(
            "human_baseline_minutes",
            self.human_baseline_minutes,
            BaselineMinutes::new,
        )?;
        if let Some(model) = &self.model {
            no_control_chars("model", model)?;
        }
        let tokens = match (self.tokens_in, self.tokens_out) {
            (None, None) => None,
            (i, o) => {
                let i = i.map_or(0, |c| c.0);
                let o = o.map_or(0, |c| c.0);
                let field = if i > Tokens::MAX {
                    "tokens_in"
                } else {
                    "tokens_out"
                };
                Some(Tokens::new(i, o).map_err(|e| ApiError::field(field, e.to_string()))?)
            }
        };
        let mut metadata_json = None;
        if let Some(meta) = &self.metadata {
            if let Some(path) = nul_in(meta, "metadata") {
                return Err(ApiError::Validation {
                    message: "must not contain the NUL character (U+0000)".into(),
                    field: Some(path),
                    hint: Some("PostgreSQL's JSON cannot hold it; drop or replace it".into()),
                });
            }
            if let Some(path) = odd_number_in(meta, "metadata") {
                return Err(ApiError::Validation {
                    message: "must be an integer of at most 64 bits or a number of at most 15 significant digits within ±1.7e308".into(),
                    field: Some(path),
                    hint: Some("send such a value as a string".into()),
                });
            }
            if meta.len() > METADATA_MAX_KEYS {
                return Err(ApiError::field(
                    "metadata",
                    format!(
                        "must have at most {METADATA_MAX_KEYS} top-level keys, got {}",
                        meta.len()
                    ),
                ));
            }
            let text = serde_json::to_string(meta).map_err(ApiError::internal)?;
            let size = text.len();
            if size > METADATA_MAX_BYTES {
                return Err(ApiError::field(
                    "metadata",
                    format!("must be at most {METADATA_MAX_BYTES} bytes serialized, got {size}"),
                ));
            }
            metadata_json = Some(text);
        }
        let audit_sample = self
            .audit_sample
            .map(|a| -> Result<AuditSample, ApiError> {
                for (field, count) in [
                    ("audit_sample.tokens_in", a.tokens_in),
                    ("audit_sample.tokens_out", a.tokens_out),
                ] {
                    if count.is_some_and(|c| c.0 > Tokens::MAX) {
                        return Err(ApiError::field(
                            field,
                            format!("must be at most {}", Tokens::MAX),
                        ));
                    }
                }
                Ok(AuditSample {
                    input_excerpt: a.input_excerpt,
                    output_excerpt: a.output_excerpt,
                    model: a.model,
                    tokens_in: a.tokens_in.map(|c| c.0),
                    tokens_out: a.tokens_out.map(|c| c.0),
                })
            })
            .transpose()?;
        let occurred_at = self
            .occurred_at
            .map(|s| {
                OffsetDateTime::parse(&s, &Rfc3339)
                    .map(|t| {
                        let t = t.to_offset(time::UtcOffset::UTC);
                        t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
                            .unwrap_or(t)
                    })
                    .map_err(|_| ApiError::Validation {
                        message: format!("must be an RFC 3339 date-time, got '{s}'"),
                        field: Some("occurred_at".into()),
                        hint: Some(
                            "e.g. 2026-11-29T15:04:05Z or 2026-11-29T16:04:05.123+01:00".into(),
                        ),
                    })
            })
            .transpose()?;
        Ok(TrackInput {
            agent_id,
            task_type,
            outcome,
            duration,
            agent_cost,
            model: self.model,
            tokens,
            human_baseline,
            metadata: self.metadata,
            metadata_json,
            audit_sample,
            occurred_at,
        })
    }
}

/// Checks that an event time lies in the accepted window around `now`.
pub fn check_window(occurred_at: OffsetDateTime, now: OffsetDateTime) -> Result<(), ApiError> {
    if occurred_at < now - MAX_AGE {
        return Err(ApiError::OccurredAtOutOfRange {
            message: "occurred_at is more than 90 days in the past".into(),
        });
    }
    if occurred_at > now + MAX_AHEAD {
        return Err(ApiError::OccurredAtOutOfRange {
            message: "occurred_at is more than 24 hours in the future".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_numbers_are_those_both_backends_hold_alike() {
        let ok = [
            "0",
            "-7",
            "9223372036854775807",
            "1.5",
            "-0.0",
            "1e300",
            "0.000123",
            "123456789012345.0",
            "1.7e308",
        ];
        let bad = [
            "9223372036854775808",
            "1e99999999999999999999",
            "1e-400",
            "0.1000000000000000001",
            "1234567890123456.5",
            "1e309",
        ];
        for t in ok {
            let n: serde_json::Number = serde_json::from_str(t).unwrap();
            assert!(portable_number(&n), "{t} should be accepted");
        }
        for t in bad {
            let n: serde_json::Number = serde_json::from_str(t).unwrap();
            assert!(!portable_number(&n), "{t} should be refused");
        }
        let meta: Map<String, Value> =
            serde_json::from_str(r#"{"a": {"b": [1, 2, 1e-999]}, "c": 1}"#).unwrap();
        assert_eq!(
            odd_number_in(&meta, "metadata").as_deref(),
            Some("metadata.a.b.2")
        );
    }
}
