//! `GET /api/v1/events` (API.md §12, Pro): the stored events themselves, newest first, for a
//! person spot-checking the agents' work. Each event is its `POST /track` answer (rendered from
//! the row as a replay is, the same bytes) plus its `metadata` and `audit_sample`.
//!
//! Keyset pagination: a page ends with an opaque cursor naming its last event's
//! (`occurred_at`, id); the next page starts strictly after it. The order is total, so a walk
//! sees every event that was there when it started exactly once, with no duplicates, whatever
//! is added meanwhile. The list does not reach past the org's retention.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use store::EventFilter;
use utoipa::ToSchema;

use crate::auth::OrgSettings;
use crate::error::ApiError;
use crate::read::params::{self, Params};
use crate::read::reports::require_pro;
use crate::state::App;

/// Events in a page unless `limit` says otherwise.
pub const PAGE_DEFAULT: i64 = 50;
/// The most events a page holds: each carries up to 4,000 characters of audit excerpts, so a
/// page stays under about half a megabyte.
pub const PAGE_MAX: i64 = 100;

const PARAMS: [&str; 8] = [
    "agent_id",
    "task_type",
    "outcome",
    "has_audit_sample",
    "from",
    "to",
    "limit",
    "cursor",
];

const FEATURE: &str = "the events list";

/// The filters of a request, checked.
struct Request {
    filter: EventFilter,
    limit: i64,
    cursor: Option<(i64, String)>,
}

fn parse(p: &Params, org: &OrgSettings, now_ms: i64) -> Result<Request, ApiError> {
    params::only(p, &PARAMS)?;
    let outcome = match p.get("outcome") {
        None => None,
        Some(o @ ("success" | "failure" | "needs_review")) => Some(o.to_owned()),
        Some(_) => {
            return Err(ApiError::field(
                "outcome",
                "must be one of success, failure, needs_review",
            ))
        }
    };
    let has_audit_sample = match p.get("has_audit_sample") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::field("has_audit_sample", "must be true or false")),
    };
    let limit = params::page_limit(p, PAGE_DEFAULT, PAGE_MAX)?;
    let cursor = p.get("cursor").map(decode_cursor).transpose()?;
    // Never past retention, whatever `from` says.
    let kept_from = crate::retention::cutoff_ms(org, now_ms);
    let asked_from = params::rfc3339(p, "from")?;
    let to = params::rfc3339(p, "to")?.unwrap_or(i64::MAX);
    if asked_from.is_some_and(|f| f > to) {
        return Err(ApiError::field("from", "must not be after to"));
    }
    let from = asked_from.unwrap_or(kept_from).max(kept_from);
    Ok(Request {
        filter: EventFilter {
            agent_id: params::text_filter(p, "agent_id", catalogue::AGENT_ID_MAX_CHARS)?,
            task_type: params::text_filter(p, "task_type", 64)?,
            outcome,
            has_audit_sample,
            from,
            to,
        },
        limit,
        cursor,
    })
}

/// The cursor after an event: its `occurred_at` and id, base64url.
fn encode_cursor(occurred_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{occurred_at}.{id}"))
}

fn decode_cursor(text: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::field("cursor", "is not a cursor this route gave");
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = raw.split_once('.').ok_or_else(bad)?;
    let at = at.parse::<i64>().map_err(|_| bad())?;
    let id_ok = id.len() == 30
        && id.starts_with("evt_")
        && id[4..].bytes().all(|b| b.is_ascii_alphanumeric());
    if !id_ok {
        return Err(bad());
    }
    Ok((at, id.to_owned()))
}

/// `GET /events`: one page, as JSON text (`{"events": [...], "next_cursor": ...}`, the shape
/// of [`doc::EventsPage`]). Pro plans; an expensive read, within the org's read slots.
pub async fn list(
    state: &Arc<App>,
    org: &Arc<OrgSettings>,
    p: &Params,
    now_ms: i64,
) -> Result<String, ApiError> {
    require_pro(org, FEATURE)?;
    let req = parse(p, org, now_ms)?;
    let org_id = org.id.clone();
    let rows = super::gate::heavy(state, &org.id, move |st| {
        let before = req.cursor.as_ref().map(|(at, id)| (*at, id.as_str()));
        Ok(st
            .store
            .list_events(&org_id, &req.filter, before, req.limit + 1)?)
    })
    .await?;
    let take = usize::try_from(req.limit).unwrap_or(usize::MAX);
    let more = rows.len() > take;
    let mut body = String::from("{\"events\":[");
    let mut last = None;
    for (n, row) in rows.iter().take(take).enumerate() {
        if n > 0 {
            body.push(',');
        }
        let answer = crate::track::event_answer(row)?;
        // The answer is an object: its closing brace makes way for the two fields.
        body.push_str(answer.strip_suffix('}').unwrap_or(&answer));
        body.push_str(",\"metadata\":");
        body.push_str(row.metadata.as_deref().unwrap_or("null"));
        body.push_str(",\"audit_sample\":");
        body.push_str(row.audit_sample.as_deref().unwrap_or("null"));
        body.push('}');
        last = Some(row);
    }
    body.push_str("],\"next_cursor\":");
    match last.filter(|_| more) {
        Some(row) => {
            body.push('"');
            body.push_str(&encode_cursor(row.occurred_at, &row.id));
            body.push('"');
        }
        None => body.push_str("null"),
    }
    body.push('}');
    Ok(body)
}

/// The page's shape, for the OpenAPI document (the body is written by hand above).
pub mod doc {
    use super::*;

    /// One event: its `POST /track` answer plus what was stored with it.
    #[derive(Serialize, ToSchema)]
    pub struct ListedEvent {
        #[serde(flatten)]
        pub answer: crate::track::TrackResponse<'static>,
        /// The event's `metadata` as sent; `null` when none.
        #[schema(value_type = Option<Object>)]
        pub metadata: Option<serde_json::Value>,
        /// The audit sample as sent (pro and enterprise keep it); `null` when none.
        #[schema(value_type = Option<crate::track::input::AuditSampleWire>)]
        pub audit_sample: Option<serde_json::Value>,
    }

    /// `GET /events`.
    #[derive(Serialize, ToSchema)]
    pub struct EventsPage {
        /// Newest first (by `occurred_at`, then id).
        pub events: Vec<ListedEvent>,
        /// Pass as `cursor` for the next (older) page; `null` on the last page.
        pub next_cursor: Option<String>,
    }

    /// The query of `GET /events`.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct EventsQuery {
        /// Only this agent's events.
        pub agent_id: Option<String>,
        /// Only this task type's events.
        pub task_type: Option<String>,
        /// Only events with this outcome: `success`, `failure` or `needs_review`.
        pub outcome: Option<String>,
        /// `true`: only events with an audit sample; `false`: only those without.
        pub has_audit_sample: Option<bool>,
        /// Events that occurred at or after this instant (RFC 3339); never before the org's
        /// retention.
        #[param(format = DateTime)]
        pub from: Option<String>,
        /// Events that occurred before this instant (RFC 3339).
        #[param(format = DateTime)]
        pub to: Option<String>,
        /// Events per page, 1 to 100 (default 50).
        #[param(minimum = 1, maximum = 100)]
        pub limit: Option<u32>,
        /// The previous page's `next_cursor`.
        pub cursor: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let id = "evt_01M8KYYRZKB1X83W7FZ6SZNKN5";
        let c = encode_cursor(1_764_000_000_123, id);
        assert_eq!(
            decode_cursor(&c).ok(),
            Some((1_764_000_000_123, id.to_owned()))
        );
        let c = encode_cursor(-5, id);
        assert_eq!(decode_cursor(&c).ok(), Some((-5, id.to_owned())));
        for bad in [
            "",
            "x",
            "whdel_01M8KYYRZKB1X83W7FZ6SZNKN5",
            &URL_SAFE_NO_PAD.encode("12.evt_short"),
            &URL_SAFE_NO_PAD.encode(format!("abc.{id}")),
            &URL_SAFE_NO_PAD.encode(format!("12.{id}x")),
            &URL_SAFE_NO_PAD.encode("12.evt_01M8KYYRZKB1X83W7FZ6SZN'--"),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
