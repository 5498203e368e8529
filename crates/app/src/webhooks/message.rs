//! A delivery as it goes on the wire: the body (API.md §9) and the headers of both signature
//! schemes, signed at the attempt's own time.

use store::{DeliveryRow, EndpointRow, EventRow};
use webhooks::{sign, EventType, Secret};

use crate::clock;
use crate::track::event_answer;
use crate::wire::push_json_str;

/// Why a delivery cannot be sent (kept as `skipped`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsendable {
    /// Its event is no longer stored (erased, or past retention).
    EventGone,
    /// The stored data or secret is unreadable.
    Corrupt(String),
}

/// The body: `{"id","type","created_at","org_id","data"}`; for event.created the data is the
/// event's 201 body byte for byte (rendered from the event row, as every replay is).
pub fn body(d: &DeliveryRow, event: Option<&EventRow>) -> Result<String, Unsendable> {
    let data = match EventType::parse(&d.event_type) {
        Some(EventType::EventCreated) => {
            let e = event.ok_or(Unsendable::EventGone)?;
            event_answer(e).map_err(|e| Unsendable::Corrupt(e.to_string()))?
        }
        Some(EventType::AgentFirstEvent) => {
            let e = event.ok_or(Unsendable::EventGone)?;
            let answer = event_answer(e).map_err(|e| Unsendable::Corrupt(e.to_string()))?;
            let mut s = String::with_capacity(answer.len() + 64);
            s.push_str("{\"agent_id\":");
            push_json_str(&mut s, &e.agent_id);
            s.push_str(",\"event\":");
            s.push_str(&answer);
            s.push('}');
            s
        }
        _ => d
            .payload
            .clone()
            .ok_or_else(|| Unsendable::Corrupt(format!("delivery {} has no payload", d.id)))?,
    };
    let mut out = String::with_capacity(data.len() + 160);
    out.push_str("{\"id\":");
    push_json_str(&mut out, &d.message_id);
    out.push_str(",\"type\":");
    push_json_str(&mut out, &d.event_type);
    out.push_str(",\"created_at\":");
    push_json_str(&mut out, &clock::format_unix_ms(d.created_at));
    out.push_str(",\"org_id\":");
    push_json_str(&mut out, &d.org_id);
    out.push_str(",\"data\":");
    out.push_str(&data);
    out.push('}');
    Ok(out)
}

/// The secrets that sign at `now_ms`: the current one, and the previous one during its
/// 24 hours of overlap.
pub fn secrets(e: &EndpointRow, now_ms: i64) -> Result<Vec<Secret>, Unsendable> {
    let corrupt = |_| Unsendable::Corrupt(format!("endpoint {} has an unreadable secret", e.id));
    let mut out = vec![Secret::parse(&e.secret).map_err(corrupt)?];
    if let (Some(prev), Some(until)) = (&e.previous_secret, e.previous_secret_until) {
        if until > now_ms {
            out.push(Secret::parse(prev).map_err(corrupt)?);
        }
    }
    Ok(out)
}

/// The headers of an attempt at `t` (Unix seconds), besides Content-Type and User-Agent.
pub fn signature_headers(
    message_id: &str,
    body: &[u8],
    secrets: &[Secret],
    t: i64,
) -> Vec<(&'static str, String)> {
    let refs: Vec<&Secret> = secrets.iter().collect();
    vec![
        (
            "x-humanhours-signature",
            sign::humanhours_header(t, body, &refs),
        ),
        ("webhook-id", message_id.to_owned()),
        ("webhook-timestamp", t.to_string()),
        (
            "webhook-signature",
            sign::standard_signature(message_id, t, body, &refs),
        ),
    ]
}
