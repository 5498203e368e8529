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

/// The outcome of one item, by `status`. The handler writes this shape by hand
/// ([`write_response`]; a test holds the two equal): the types document it.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ItemResult {
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
pub struct BatchResponse {
    pub created: usize,
    pub replayed: usize,
    pub failed: usize,
    pub results: Vec<ItemResult>,
}

/// What became of one item: its answer already rendered (`track::answer`), or its error.
enum Outcome {
    Created(String),
    Replayed(String),
    Failed(ApiError),
}

/// Writes the [`BatchResponse`] of these outcomes, copying each rendered answer once (serde
/// would check each again as a `RawValue`, then copy it twice).
fn write_response(outcomes: &[Outcome]) -> String {
    use std::fmt::Write as _;
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let mut out = String::with_capacity(outcomes.len() * 560 + 64);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        r#"{{"created":{},"replayed":{},"failed":{},"results":["#,
        count(|o| matches!(o, Outcome::Created(_))),
        count(|o| matches!(o, Outcome::Replayed(_))),
        count(|o| matches!(o, Outcome::Failed(_))),
    );
    for (index, o) in outcomes.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        match o {
            Outcome::Created(body) | Outcome::Replayed(body) => {
                let status = if matches!(o, Outcome::Created(_)) {
                    "created"
                } else {
                    "replayed"
                };
                let _ = write!(out, r#"{{"status":"{status}","index":{index},"event":"#);
                out.push_str(body);
            }
            Outcome::Failed(e) => {
                let _ = write!(
                    out,
                    r#"{{"status":"error","index":{index},"http_status":{},"error":"#,
                    e.status_and_code().0.as_u16()
                );
                out.push_str(&e.body().to_string());
            }
        }
        out.push('}');
    }
    out.push_str("]}");
    out
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
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(n);
    let mut writes = Vec::new();
    let mut bodies = Vec::new();
    for (index, p) in prepared.into_iter().enumerate() {
        outcomes.push(match p {
            Ok(Prepared::Write(w, body)) => {
                bodies.push((index, body));
                writes.push(*w);
                None
            }
            Ok(Prepared::Replay(body)) => Some(Outcome::Replayed(body)),
            Err(e) => Some(Outcome::Failed(e)),
        });
    }
    if !writes.is_empty() {
        let results = commit(&state, writes).await?;
        for ((index, body), result) in bodies.into_iter().zip(results) {
            outcomes[index] = Some(match recorded(result, &auth.org) {
                Ok(Recorded::Created { .. }) => Outcome::Created(body),
                Ok(Recorded::Replayed { event }) => Outcome::Replayed(answer(&event)?),
                Err(e) => Outcome::Failed(e),
            });
        }
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| ApiError::internal(anyhow::anyhow!("batch item lost"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(write_response(&outcomes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_answer_is_what_serde_writes() {
        let body = r#"{"event_id":"evt_1","hours_saved":0.066}"#;
        let errors = || {
            [
                ApiError::field("events.0.outcome", "must be one of success, failure"),
                ApiError::IdempotencyKeyReused,
                ApiError::QuotaExceeded { cap: 500 },
            ]
        };
        let mut outcomes = vec![
            Outcome::Created(body.to_owned()),
            Outcome::Replayed(body.to_owned()),
        ];
        outcomes.extend(errors().map(Outcome::Failed));
        let mut results = vec![
            ItemResult::Created {
                index: 0,
                event: RawValue::from_string(body.to_owned()).unwrap(),
            },
            ItemResult::Replayed {
                index: 1,
                event: RawValue::from_string(body.to_owned()).unwrap(),
            },
        ];
        results.extend(
            errors()
                .into_iter()
                .enumerate()
                .map(|(k, e)| ItemResult::Error {
                    index: k + 2,
                    http_status: e.status_and_code().0.as_u16(),
                    error: e.body(),
                }),
        );
        let by_serde = serde_json::to_string(&BatchResponse {
            created: 1,
            replayed: 1,
            failed: 3,
            results,
        })
        .unwrap();
        assert_eq!(write_response(&outcomes), by_serde);
        assert_eq!(
            write_response(&[]),
            r#"{"created":0,"replayed":0,"failed":0,"results":[]}"#
        );
    }
}
