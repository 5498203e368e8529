//! `POST /track/batch`: up to 1,000 events in one body, one result per item, in order.
//!
//! Every item follows the rules of a single `POST /track`, with its own optional
//! `idempotency_key`; one bad item never rejects the others. All items that pass validation
//! are committed in one transaction, so the answer comes after one commit; should the database
//! refuse that transaction, the writer commits the items one by one and only the refused one
//! fails (`store::writer`).

use idempotency::IdempotencyKey;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use store::{IdempotencyClaim, Recorded};

use utoipa::ToSchema;

use std::sync::Arc;

use time::OffsetDateTime;

use super::input::{from_value, parse_json, wire_from_text, TrackWire};
use super::TrackResponse;
use super::{commit, event_answer, prepare, write_result, Prepared};
use crate::auth::OrgSettings;
use crate::error::{ApiError, ErrorBody};
use crate::state::App;

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

/// What became of one item: its answer already rendered (`track::event_answer`), or its error.
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
                    e.status_and_code().0
                );
                out.push_str(&e.body().to_string());
            }
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// A batch body as the fast path reads it: the items' JSON text, borrowed from the body.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// An item's claim and validated input.
type ItemInput = (Option<IdempotencyClaim>, super::input::TrackInput);

/// [`item_input`] read from the item's JSON text without building a `Value`: the fingerprint
/// from the text (`idempotency::fingerprint_text`, equal to the `Value`'s), the wire struct
/// straight from it. Any item this path cannot take whole (not an object, a type error, a
/// repeated field, a key that is not a string) goes through [`item_input`] instead, so every
/// error reads exactly as it does there.
fn item_from_text(raw: &str) -> Result<ItemInput, ApiError> {
    let fast = || -> Option<Result<ItemInput, ApiError>> {
        let wire: TrackWire = wire_from_text(raw)?;
        // The member can only be there if its name is spelled out, or escaped.
        let keyed = raw.contains("idempotency_key") || raw.contains('\\');
        let claim = match keyed {
            false => None,
            true => match idempotency::fingerprint_text(raw, Some("idempotency_key"))? {
                (_, None | Some("null")) => None,
                (fingerprint, Some(text)) => {
                    let key: String = serde_json::from_str(text).ok()?;
                    match IdempotencyKey::parse(&key) {
                        Ok(key) => Some(IdempotencyClaim {
                            key: key.as_str().to_owned(),
                            fingerprint,
                        }),
                        Err(e) => {
                            return Some(Err(ApiError::field("idempotency_key", e.to_string())))
                        }
                    }
                }
            },
        };
        Some(wire.into_input().map(|input| (claim, input)))
    };
    match fast() {
        Some(result) => result,
        None => item_input(parse_json(raw.as_bytes())?),
    }
}

/// Splits one item into its idempotency claim and its validated input.
fn item_input(
    item: Value,
) -> Result<(Option<IdempotencyClaim>, super::input::TrackInput), ApiError> {
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

/// The items of a batch body read as a `Value`, or what is wrong with its envelope.
fn envelope_items(doc: Value) -> Result<Vec<Value>, ApiError> {
    let Value::Object(mut doc) = doc else {
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
    Ok(events)
}

/// `POST /track/batch`: every item follows the rules of a single `POST /track`, with its own
/// optional `idempotency_key`; a bad item gets its own error result and never rejects the
/// others. Returns the answer's JSON (200).
pub async fn track_batch(
    state: &Arc<App>,
    org: &OrgSettings,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<String, ApiError> {
    let parsed: Vec<Result<ItemInput, ApiError>> = match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) if (1..=MAX_BATCH).contains(&envelope.events.len()) => envelope
            .events
            .iter()
            .map(|raw| item_from_text(raw.get()))
            .collect(),
        // Anything else (a malformed envelope, a repeated "events") is read as a `Value`,
        // which names what is wrong as before.
        _ => envelope_items(parse_json(body)?)?
            .into_iter()
            .map(item_input)
            .collect(),
    };
    let n = parsed.len();

    // Value every valid item (from the org's cached context).
    let mut prepared: Vec<Result<Prepared, ApiError>> = Vec::with_capacity(n);
    for p in parsed {
        prepared.push(match p {
            Ok((claim, input)) => prepare(state, org, input, claim, now).await,
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
        let results = commit(state, writes).await?;
        for ((index, body), result) in bodies.into_iter().zip(results) {
            outcomes[index] = Some(match write_result(result, org) {
                Ok(Recorded::Created { .. }) => Outcome::Created(body),
                Ok(Recorded::Replayed { event }) => Outcome::Replayed(event_answer(&event)?),
                Err(e) => Outcome::Failed(e),
            });
        }
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| ApiError::internal(anyhow::anyhow!("batch item lost"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(write_response(&outcomes))
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
                    http_status: e.status_and_code().0,
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
