//! Webhooks (API.md §9): the endpoints API's use cases (`/webhooks…`), the messages and their
//! signatures (`message.rs`), and the delivery worker (`worker.rs`). The rules are in the
//! `webhooks` crate; the rows in `store::repo::webhooks`; the deliveries of tracked events are
//! written by the track transaction itself.
//!
//! Costs per request (API.md §14): every route is one or two indexed statements on the org's
//! own rows; an org holds at most 10 endpoints, and a deliveries page at most 100 rows with
//! their attempts (at most 5 per round, each at most 2 KiB of answer). Saving a URL resolves
//! its host once (bounded by the resolver's own time-out).

pub mod message;
pub mod worker;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use store::{AttemptRow, DeliveryRow, EndpointChanges, EndpointRow};
use utoipa::ToSchema;
use webhooks::address::{AllowNets, EndpointUrl};
use webhooks::{EventType, Secret, Subscriptions};

use crate::auth::OrgSettings;
use crate::clock;
use crate::error::ApiError;
use crate::read::reports::require_pro;
use crate::state::App;

pub const FEATURE: &str = "webhooks";

/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Longest `description`.
const MAX_DESCRIPTION: usize = 500;

/// Deliveries per page: default and most.
const PAGE_DEFAULT: i64 = 50;
const PAGE_MAX: i64 = 100;

/// Settings of webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Networks deliveries may reach despite the address rules.
    pub allow_nets: AllowNets,
    /// Time-out of one attempt, connection included.
    pub timeout: Duration,
    /// Attempts in flight at once on this instance.
    pub concurrency: usize,
    /// Attempts in flight at once for one org on this instance.
    pub org_concurrency: usize,
    /// Attempts in flight at once to one endpoint on this instance.
    pub endpoint_concurrency: usize,
    /// Longest wait between two looks at the outbox (a delivery written by this instance
    /// wakes the worker at once).
    pub poll_interval: Duration,
    /// Added to a claim's lease beyond the longest its deliveries may wait on this instance
    /// (`worker::Dispatcher`); a claim whose instance died comes due again when it ends.
    pub lease_margin: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_nets: AllowNets::default(),
            timeout: Duration::from_secs(15),
            concurrency: 64,
            org_concurrency: 32,
            endpoint_concurrency: 16,
            poll_interval: Duration::from_secs(1),
            lease_margin: Duration::from_secs(30),
        }
    }
}

use crate::clock::format_unix_ms as time;

/// An endpoint as the API answers it. The secret appears only when it was just made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Endpoint {
    /// `wh_<ULID>`.
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    /// `active`, `failing` or `disabled`.
    pub status: String,
    /// Why it is disabled: `user`, `gone` (the receiver answered 410) or `failures`.
    pub disabled_reason: Option<String>,
    /// Deliveries that ended `failed` since the last success.
    pub failed_deliveries_in_a_row: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Until when the previous secret still signs beside the current one (after a rotation).
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: Option<String>,
    /// `whsec_…`: only in the answers that create it (create, rotate-secret). Keep it: it is
    /// never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl Endpoint {
    fn of(e: &EndpointRow, now: i64, show_secret: bool) -> Endpoint {
        Endpoint {
            id: e.id.clone(),
            url: e.url.clone(),
            event_types: Subscriptions::from_stored(&e.event_types)
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            description: e.description.clone(),
            status: e.status.clone(),
            disabled_reason: e.disabled_by.clone(),
            failed_deliveries_in_a_row: e.failed_in_a_row,
            created_at: time(e.created_at),
            updated_at: time(e.updated_at),
            previous_secret_expires_at: e.previous_secret_until.filter(|&t| t > now).map(time),
            secret: show_secret.then(|| e.secret.clone()),
        }
    }
}

/// `GET /webhooks`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Endpoints {
    pub webhooks: Vec<Endpoint>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attempt {
    pub attempt: i64,
    #[schema(format = DateTime)]
    pub attempted_at: String,
    /// The receiver's HTTP status; `null` when none came (time-out, refused, connection).
    pub status_code: Option<i64>,
    /// What went wrong without a status.
    pub error: Option<String>,
    pub duration_ms: i64,
    /// The first 2 KiB of the receiver's answer.
    pub response_body: String,
}

/// A delivery of one message to one endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    /// `whdel_<ULID>`.
    pub id: String,
    /// `whmsg_<ULID>`: the `id` in the body, the same on every attempt.
    pub message_id: String,
    pub event_type: String,
    /// The tracked event it announces (event.created, agent.first_event).
    pub event_id: Option<String>,
    /// `pending`, `succeeded`, `failed` or `skipped`.
    pub status: String,
    /// When a pending delivery is next attempted.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    fn of(d: DeliveryRow, attempts: Vec<AttemptRow>) -> Delivery {
        let pending = d.status == store::delivery_status::PENDING;
        Delivery {
            next_attempt_at: pending.then(|| time(d.next_attempt_at)),
            created_at: time(d.created_at),
            finished_at: d.finished_at.map(time),
            attempts: attempts
                .into_iter()
                .map(|a| Attempt {
                    attempt: a.attempt,
                    attempted_at: time(a.attempted_at),
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                    response_body: a.response_body,
                })
                .collect(),
            id: d.id,
            message_id: d.message_id,
            event_type: d.event_type,
            event_id: d.event_id,
            status: d.status,
        }
    }
}

/// `GET /webhooks/{id}/deliveries`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deliveries {
    pub deliveries: Vec<Delivery>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /webhooks/{id}/recover`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recovered {
    /// Failed and skipped deliveries queued again.
    pub requeued: usize,
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        message: "no such webhook endpoint".into(),
    }
}

fn string_field(
    body: &Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => {
            if let Some(c) = catalogue::forbidden_char(s) {
                return Err(ApiError::field(
                    name,
                    format!("must not contain the character U+{:04X}", u32::from(c)),
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(Value::String(_)) => Err(ApiError::field(
            name,
            format!("must be at most {max} characters"),
        )),
        Some(_) => Err(ApiError::field(name, "must be a string")),
    }
}

fn event_types_field(body: &Map<String, Value>) -> Result<Option<Subscriptions>, ApiError> {
    match body.get("event_types") {
        None => Ok(None),
        Some(Value::Array(items)) if items.len() <= 16 => {
            let names: Vec<&str> = items
                .iter()
                .map(|v| v.as_str().ok_or_else(|| ApiError::field("event_types", "must be a list of strings")))
                .collect::<Result<_, _>>()?;
            Subscriptions::new(&names)
                .map(Some)
                .map_err(|e| ApiError::field("event_types", e.to_string()))
        }
        Some(_) => Err(ApiError::field(
            "event_types",
            "must be a list of event types (event.created, agent.first_event, weekly.digest, monthly.digest)",
        )),
    }
}

pub(crate) fn reject_unknown(body: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::field(
            k.chars().take(64).collect::<String>(),
            format!("is not a field here; the fields are {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Resolves a host name to its addresses (the system resolver, off the runtime's threads).
pub async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
    let addrs = tokio::net::lookup_host((host, port)).await?;
    Ok(addrs.map(|a| a.ip()).collect())
}

/// Checks a URL as saved: its form, a literal address, and (for a name) that it resolves to
/// at least one address deliveries may reach. A name that does not resolve now is accepted
/// (DNS may not be set up yet); every attempt checks again.
async fn check_url(url: &str, allow: &AllowNets) -> Result<String, ApiError> {
    let parsed =
        EndpointUrl::parse(url, allow).map_err(|e| ApiError::field("url", e.to_string()))?;
    if let Some(host) = parsed.domain() {
        if let Ok(Ok(ips)) =
            tokio::time::timeout(Duration::from_secs(5), resolve(host, parsed.port())).await
        {
            let refused: Vec<&str> = ips
                .iter()
                .filter_map(|ip| webhooks::address::refused(*ip, allow))
                .collect();
            if !ips.is_empty() && refused.len() == ips.len() {
                return Err(ApiError::field(
                    "url",
                    format!(
                        "{host} resolves only to {} addresses, which webhooks may not reach; a self-hoster can allow a network with HUMANHOURS_WEBHOOK_ALLOW_NETS",
                        refused[0]
                    ),
                ));
            }
        }
    }
    Ok(parsed.url.to_string())
}

fn new_secret() -> Secret {
    let mut bytes = [0u8; webhooks::SECRET_BYTES];
    for chunk in bytes.chunks_mut(8) {
        let r = clock::random_u64().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    Secret::from_bytes(bytes)
}

/// `POST /webhooks` {url, event_types[], description?}.
pub async fn create(
    state: &Arc<App>,
    org: &OrgSettings,
    body: &Map<String, Value>,
) -> Result<Endpoint, ApiError> {
    require_pro(org, FEATURE)?;
    reject_unknown(body, &["url", "event_types", "description"])?;
    let url = string_field(body, "url", webhooks::address::MAX_URL_LEN)?
        .ok_or_else(|| ApiError::field("url", "is required"))?;
    let types =
        event_types_field(body)?.ok_or_else(|| ApiError::field("event_types", "is required"))?;
    let description = string_field(body, "description", MAX_DESCRIPTION)?.unwrap_or_default();
    let url = check_url(&url, &state.config.webhooks.allow_nets).await?;
    let now = clock::now();
    let ms = clock::unix_ms(now);
    let row = EndpointRow {
        id: format!("wh_{}", clock::ulid(now)),
        org_id: org.id.clone(),
        url,
        event_types: types.to_stored(),
        description,
        secret: new_secret().expose(),
        previous_secret: None,
        previous_secret_until: None,
        status: webhooks::health::Status::Active.as_str().to_owned(),
        disabled_by: None,
        failed_in_a_row: 0,
        created_at: ms,
        updated_at: ms,
    };
    let r = row.clone();
    let created = crate::blocking(state, move |st| {
        Ok(st.store.create_endpoint(
            &r,
            i64::try_from(webhooks::MAX_ENDPOINTS_PER_ORG).unwrap_or(10),
        )?)
    })
    .await?;
    if !created {
        return Err(ApiError::Validation {
            message: format!(
                "an org has at most {} webhook endpoints",
                webhooks::MAX_ENDPOINTS_PER_ORG
            ),
            field: None,
            hint: Some("delete one you no longer use".into()),
        });
    }
    Ok(Endpoint::of(&row, ms, true))
}

/// `GET /webhooks`.
pub async fn list(state: &Arc<App>, org: &OrgSettings) -> Result<Endpoints, ApiError> {
    require_pro(org, FEATURE)?;
    let id = org.id.clone();
    let rows = crate::blocking(state, move |st| Ok(st.store.list_endpoints(&id)?)).await?;
    let now = clock::unix_ms(clock::now());
    Ok(Endpoints {
        webhooks: rows.iter().map(|e| Endpoint::of(e, now, false)).collect(),
    })
}

async fn find(state: &Arc<App>, org: &OrgSettings, id: &str) -> Result<EndpointRow, ApiError> {
    let (o, i) = (org.id.clone(), id.to_owned());
    crate::blocking(state, move |st| Ok(st.store.get_endpoint(&o, &i)?))
        .await?
        .ok_or_else(not_found)
}

/// `GET /webhooks/{id}`.
pub async fn get(state: &Arc<App>, org: &OrgSettings, id: &str) -> Result<Endpoint, ApiError> {
    require_pro(org, FEATURE)?;
    let e = find(state, org, id).await?;
    Ok(Endpoint::of(&e, clock::unix_ms(clock::now()), false))
}

/// `PATCH /webhooks/{id}` {url?, event_types?, description?, enabled?}.
pub async fn update(
    state: &Arc<App>,
    org: &OrgSettings,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Endpoint, ApiError> {
    require_pro(org, FEATURE)?;
    reject_unknown(body, &["url", "event_types", "description", "enabled"])?;
    let enabled = match body.get("enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(ApiError::field("enabled", "must be true or false")),
    };
    let url = match string_field(body, "url", webhooks::address::MAX_URL_LEN)? {
        Some(u) => Some(check_url(&u, &state.config.webhooks.allow_nets).await?),
        None => None,
    };
    let changes = EndpointChanges {
        url,
        event_types: event_types_field(body)?.map(|s| s.to_stored()),
        description: string_field(body, "description", MAX_DESCRIPTION)?,
        enabled,
    };
    let now = clock::unix_ms(clock::now());
    let (o, i) = (org.id.clone(), id.to_owned());
    let e = crate::blocking(state, move |st| {
        Ok(st.store.update_endpoint(&o, &i, &changes, now)?)
    })
    .await?
    .ok_or_else(not_found)?;
    Ok(Endpoint::of(&e, now, false))
}

/// `DELETE /webhooks/{id}`: the endpoint, its deliveries and their attempts.
pub async fn delete(state: &Arc<App>, org: &OrgSettings, id: &str) -> Result<(), ApiError> {
    require_pro(org, FEATURE)?;
    let (o, i) = (org.id.clone(), id.to_owned());
    match crate::blocking(state, move |st| Ok(st.store.delete_endpoint(&o, &i)?)).await? {
        true => Ok(()),
        false => Err(not_found()),
    }
}

/// `POST /webhooks/{id}/rotate-secret`: a new secret, shown once; the old one signs beside it
/// for 24 hours.
pub async fn rotate_secret(
    state: &Arc<App>,
    org: &OrgSettings,
    id: &str,
) -> Result<Endpoint, ApiError> {
    require_pro(org, FEATURE)?;
    let now = clock::unix_ms(clock::now());
    let until = now + i64::try_from(ROTATION_OVERLAP.as_millis()).unwrap_or(86_400_000);
    let secret = new_secret().expose();
    let (o, i) = (org.id.clone(), id.to_owned());
    let e = crate::blocking(state, move |st| {
        Ok(st
            .store
            .rotate_endpoint_secret(&o, &i, &secret, until, now)?)
    })
    .await?
    .ok_or_else(not_found)?;
    Ok(Endpoint::of(&e, now, true))
}

/// `POST /webhooks/{id}/test`: queues a `webhook.ping` to the endpoint (whatever its
/// subscriptions or status) and answers the delivery, pending.
pub async fn test(state: &Arc<App>, org: &OrgSettings, id: &str) -> Result<Delivery, ApiError> {
    require_pro(org, FEATURE)?;
    let e = find(state, org, id).await?;
    let now = clock::now();
    let ms = clock::unix_ms(now);
    let payload = serde_json::json!({
        "endpoint_id": e.id,
        "message": "A test message from HumanHours: this endpoint receives webhooks.",
    });
    let row = DeliveryRow {
        id: format!("whdel_{}", clock::ulid(now)),
        org_id: org.id.clone(),
        endpoint_id: e.id.clone(),
        message_id: format!("whmsg_{}", clock::ulid(now)),
        event_type: EventType::WebhookPing.as_str().to_owned(),
        event_id: None,
        payload: Some(payload.to_string()),
        status: store::delivery_status::PENDING.to_owned(),
        attempts: 0,
        round_attempts: 0,
        next_attempt_at: ms,
        locked_by: None,
        created_at: ms,
        finished_at: None,
    };
    let r = row.clone();
    crate::blocking(state, move |st| Ok(st.store.enqueue_delivery(&r)?)).await?;
    Ok(Delivery::of(row, Vec::new()))
}

/// `GET /webhooks/{id}/deliveries[?status=&cursor=&limit=]`: newest first.
pub async fn deliveries(
    state: &Arc<App>,
    org: &OrgSettings,
    id: &str,
    query: &crate::read::params::Params,
) -> Result<Deliveries, ApiError> {
    require_pro(org, FEATURE)?;
    crate::read::params::only(query, &["status", "cursor", "limit"])?;
    let status = match query.get("status") {
        None => None,
        Some(s @ ("pending" | "succeeded" | "failed" | "skipped")) => Some(s.to_owned()),
        Some(_) => {
            return Err(ApiError::field(
                "status",
                "must be one of pending, succeeded, failed, skipped",
            ))
        }
    };
    let limit = crate::read::params::page_limit(query, PAGE_DEFAULT, PAGE_MAX)?;
    let cursor = match query.get("cursor") {
        None => None,
        Some(c) if c.starts_with("whdel_") && c.len() == 32 => Some(c.to_owned()),
        Some(_) => return Err(ApiError::field("cursor", "is not a cursor this route gave")),
    };
    find(state, org, id).await?;
    let (o, i) = (org.id.clone(), id.to_owned());
    let rows = crate::blocking(state, move |st| {
        Ok(st
            .store
            .list_deliveries(&o, &i, status.as_deref(), cursor.as_deref(), limit + 1)?)
    })
    .await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let mut deliveries: Vec<Delivery> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(d, a)| Delivery::of(d, a))
        .collect();
    deliveries.shrink_to_fit();
    let next_cursor = more
        .then(|| deliveries.last().map(|d| d.id.clone()))
        .flatten();
    Ok(Deliveries {
        deliveries,
        next_cursor,
    })
}

/// `POST /webhooks/{id}/deliveries/{delivery_id}/redeliver`: a new round of attempts, now.
pub async fn redeliver(
    state: &Arc<App>,
    org: &OrgSettings,
    id: &str,
    delivery: &str,
) -> Result<Delivery, ApiError> {
    require_pro(org, FEATURE)?;
    find(state, org, id).await?;
    let now = clock::unix_ms(clock::now());
    let (o, i, d) = (org.id.clone(), id.to_owned(), delivery.to_owned());
    let row = crate::blocking(state, move |st| Ok(st.store.redeliver(&o, &i, &d, now)?))
        .await?
        .ok_or_else(|| ApiError::NotFound {
            message: "no such delivery for this webhook endpoint".into(),
        })?;
    Ok(Delivery::of(row, Vec::new()))
}

/// `POST /webhooks/{id}/recover` {since}: queues the endpoint's failed and skipped deliveries
/// created since then again.
pub async fn recover(
    state: &Arc<App>,
    org: &OrgSettings,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Recovered, ApiError> {
    require_pro(org, FEATURE)?;
    reject_unknown(body, &["since"])?;
    let since = match body.get("since") {
        Some(Value::String(s)) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(
                |_| {
                    ApiError::field(
                        "since",
                        "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z",
                    )
                },
            )?
        }
        None => return Err(ApiError::field("since", "is required")),
        Some(_) => return Err(ApiError::field("since", "must be an RFC 3339 time string")),
    };
    find(state, org, id).await?;
    let now = clock::unix_ms(clock::now());
    let since = clock::unix_ms(since);
    let (o, i) = (org.id.clone(), id.to_owned());
    let requeued = crate::blocking(state, move |st| {
        Ok(st.store.recover_deliveries(&o, &i, since, now)?)
    })
    .await?;
    Ok(Recovered { requeued })
}
