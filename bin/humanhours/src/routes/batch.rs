//! `POST /track/batch`: up to 1,000 events in one body, one result per item, in order.
//!
//! Every item follows the rules of a single `POST /track`, with its own optional
//! `idempotency_key`; one bad item never rejects the others. All items that pass validation
//! are committed in one transaction (each in its own savepoint), so the answer comes after one
//! commit.

use actix_web::{web, HttpRequest, HttpResponse};
use idempotency::IdempotencyKey;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use store::{IdempotencyClaim, Recorded};

use utoipa::ToSchema;

use super::track::TrackResponse;
use super::track::{answer, auth_context, commit, json_body, prepare, recorded, Prepared};
use super::track_input::{from_value, TrackWire};
use crate::clock;
use crate::errors::{ApiError, ErrorBody};
use crate::state::AppState;

/// Most events in one batch.
pub const MAX_BATCH: usize = 1000;

/// `POST /track/batch` as sent (documentation: the handler reads the body by hand, so one bad
/// item does not reject the others).
#[derive(ToSchema)]
pub struct BatchRequest {
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<BatchItem>,
}

/// One event of a batch: a `/track` body plus its own optional idempotency key.
#[derive(Deserialize, ToSchema)]
pub struct BatchItem {
    #[serde(flatten)]
    pub event: TrackWire,
    /// Like the `Idempotency-Key` header of `/track` (1 to 255 visible ASCII characters).
    #[schema(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    pub idempotency_key: Option<String>,
}

/// The outcome of one item, by `status`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
enum ItemResult {
    Created {
        index: usize,
        #[schema(value_type = TrackResponse)]
        event: Box<RawValue>,
    },
    Replayed {
        index: usize,
        #[schema(value_type = TrackResponse)]
        event: Box<RawValue>,
    },
    Error {
        index: usize,
        /// The status a single `/track` of this item would have answered.
        http_status: u16,
        #[schema(value_type = ErrorBody)]
        error: Value,
    },
}

/// One result per item, in order.
#[derive(Serialize, ToSchema)]
struct BatchResponse {
    created: usize,
    replayed: usize,
    failed: usize,
    results: Vec<ItemResult>,
}

fn error_item(index: usize, e: &ApiError) -> ItemResult {
    ItemResult::Error {
        index,
        http_status: e.status_and_code().0.as_u16(),
        error: e.body(),
    }
}

fn raw(body: String) -> Result<Box<RawValue>, ApiError> {
    RawValue::from_string(body).map_err(ApiError::internal)
}

/// Splits one item into its idempotency claim and its validated input.
fn item_input(
    item: Value,
) -> Result<(Option<IdempotencyClaim>, super::track_input::TrackInput), ApiError> {
    let Value::Object(mut map) = item else {
        return Err(ApiError::invalid("each event must be a JSON object"));
    };
    let claim = match map.remove("idempotency_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => {
            let key = IdempotencyKey::parse(&k)
                .map_err(|e| ApiError::field("idempotency_key", e.to_string()))?;
            Some(key)
        }
        Some(_) => return Err(ApiError::field("idempotency_key", "must be a string")),
    };
    let body = Value::Object(map);
    // The fingerprint is the item without its key: the same event sent to /track with the key
    // in the header is the same request.
    let claim = claim.map(|key| IdempotencyClaim {
        key: key.as_str().to_owned(),
        fingerprint: idempotency::fingerprint(&body),
    });
    let input = from_value::<TrackWire>(body)?.into_input()?;
    Ok((claim, input))
}

/// Record up to 1,000 events in one request.
///
/// Every item follows the rules of a single `POST /track`, with its own optional
/// `idempotency_key`; a bad item gets its own error result and never rejects the others.
#[utoipa::path(
    post,
    path = "/api/v1/track/batch",
    tag = "track",
    request_body(content = BatchRequest, content_type = "application/json"),
    responses((status = 200, description = "One result per item, in order.", body = BatchResponse))
)]
pub async fn track_batch(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let auth = auth_context(&req)?;
    let Value::Object(mut doc) = json_body(&state, &req, payload).await? else {
        return Err(ApiError::invalid(
            "the body must be a JSON object with an 'events' array",
        ));
    };
    let events = match doc.remove("events") {
        Some(Value::Array(events)) => events,
        Some(_) => return Err(ApiError::field("events", "must be an array of events")),
        None => return Err(ApiError::field("events", "is required")),
    };
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(ApiError::field(
            "events",
            format!("must hold 1 to {MAX_BATCH} events, got {}", events.len()),
        ));
    }
    let n = events.len();
    let parsed: Vec<_> = events.into_iter().map(item_input).collect();

    // Value every valid item (from the org's cached context).
    let now = clock::now();
    let mut prepared: Vec<Result<Prepared, ApiError>> = Vec::with_capacity(n);
    for p in parsed {
        prepared.push(match p {
            Ok((claim, input)) => prepare(&state, &auth.org, input, claim, now).await,
            Err(e) => Err(e),
        });
    }

    // Commit every write of the batch together.
    let mut slots: Vec<Option<Result<ItemResult, ApiError>>> = Vec::with_capacity(n);
    let mut writes = Vec::new();
    let mut bodies = Vec::new();
    for (index, p) in prepared.into_iter().enumerate() {
        match p {
            Ok(Prepared::Write(w, body)) => {
                bodies.push((index, body));
                writes.push(*w);
                slots.push(None);
            }
            Ok(Prepared::Replay(body)) => slots.push(Some(
                raw(body).map(|event| ItemResult::Replayed { index, event }),
            )),
            Err(e) => slots.push(Some(Ok(error_item(index, &e)))),
        }
    }
    if !writes.is_empty() {
        let results = commit(&state, writes).await?;
        for ((index, body), result) in bodies.into_iter().zip(results) {
            let item = match recorded(result, &auth.org) {
                Ok(Recorded::Created { .. }) => {
                    raw(body).map(|event| ItemResult::Created { index, event })
                }
                Ok(Recorded::Replayed { event }) => answer(&event)
                    .and_then(raw)
                    .map(|event| ItemResult::Replayed { index, event }),
                Err(e) => Ok(error_item(index, &e)),
            };
            slots[index] = Some(item);
        }
    }
    let results = slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err(ApiError::internal(anyhow::anyhow!("batch item lost")))))
        .collect::<Result<Vec<_>, _>>()?;
    let count = |f: fn(&ItemResult) -> bool| results.iter().filter(|r| f(r)).count();
    let response = BatchResponse {
        created: count(|r| matches!(r, ItemResult::Created { .. })),
        replayed: count(|r| matches!(r, ItemResult::Replayed { .. })),
        failed: count(|r| matches!(r, ItemResult::Error { .. })),
        results,
    };
    Ok(HttpResponse::Ok().json(response))
}
