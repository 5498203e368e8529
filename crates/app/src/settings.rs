//! `GET /org` and `PATCH /org`: the caller's org settings over HTTP, for an admin key (and the
//! dashboard's settings page, which calls the same function). An admin may change the org's
//! name, currency, default hourly rate, fallback baseline, zone, digest recipients, and its
//! retention up to its plan's; the plan and the monthly cap stay with the operator
//! (`humanhours org set`), as does a retention longer than the plan's.

use std::sync::Arc;

use ::digests::period::Zone;
use ::digests::Recipients;
use catalogue::Currency;
use roi_engine::{BaselineMinutes, HourlyRate};
use serde::Serialize;
use serde_json::{Map, Value};
use store::OrgChanges;
use utoipa::ToSchema;

use crate::auth::OrgSettings;
use crate::clock;
use crate::error::ApiError;
use crate::state::App;
use crate::wire::JsonDecimal;

/// `GET /org`: the org's settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgSettingsOut {
    pub id: String,
    pub name: String,
    /// `free`, `pro`, `agency` or `enterprise`.
    pub plan: String,
    pub currency: String,
    pub hourly_rate: JsonDecimal,
    pub fallback_baseline_minutes: Option<JsonDecimal>,
    /// Events per month where the org is refused; `null`: the plan's.
    pub monthly_event_cap: Option<i64>,
    /// The IANA zone the org's digest weeks are cut in.
    pub timezone: String,
    /// Who gets the weekly digest by email (at most 10).
    pub digest_recipients: Vec<String>,
    /// Days events are kept (the org's own, or its plan's: free 30, pro and agency 365,
    /// enterprise 730).
    pub retention_days: u32,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// An agency workspace's anchor org; `null` otherwise.
    pub parent_id: Option<String>,
    /// An agency anchor's workspaces, oldest first (its keys read each with
    /// `?workspace=<id>` on the read routes); empty otherwise.
    pub workspaces: Vec<WorkspaceOut>,
}

/// One workspace of an agency anchor.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkspaceOut {
    pub id: String,
    pub name: String,
}

fn decimal(text: &str) -> Result<JsonDecimal, ApiError> {
    rust_decimal::Decimal::from_str_exact(text)
        .map(JsonDecimal)
        .map_err(ApiError::internal)
}

fn out(row: &store::OrgRow, workspaces: &[store::OrgRow]) -> Result<OrgSettingsOut, ApiError> {
    Ok(OrgSettingsOut {
        id: row.id.clone(),
        name: row.name.clone(),
        plan: row.plan.clone(),
        currency: row.currency.clone(),
        hourly_rate: decimal(&row.hourly_rate)?,
        fallback_baseline_minutes: row
            .fallback_baseline_minutes
            .as_deref()
            .map(decimal)
            .transpose()?,
        monthly_event_cap: row.monthly_event_cap,
        timezone: row.timezone.clone(),
        digest_recipients: row
            .digest_recipients
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: clock::format_ms(clock::from_unix_ms(row.created_at)),
        retention_days: crate::retention::days(
            &crate::auth::OrgSettings::try_from(row).map_err(ApiError::internal)?,
        ),
        parent_id: row.parent_id.clone(),
        workspaces: workspaces
            .iter()
            .map(|w| WorkspaceOut {
                id: w.id.clone(),
                name: w.name.clone(),
            })
            .collect(),
    })
}

async fn read(state: &Arc<App>, org: &OrgSettings) -> Result<OrgSettingsOut, ApiError> {
    let id = org.id.clone();
    let (row, workspaces) = crate::blocking(state, move |st| {
        let row = st.store.find_org(&id)?;
        let workspaces = match &row {
            Some(r) if r.plan == ratelimit::Plan::Agency.as_str() => st.store.workspaces(&id)?,
            _ => Vec::new(),
        };
        Ok((row, workspaces))
    })
    .await?;
    let row = row.ok_or_else(|| ApiError::internal(anyhow::anyhow!("the caller's org is gone")))?;
    out(&row, &workspaces)
}

/// `GET /org`. All plans.
pub async fn get(state: &Arc<App>, org: &OrgSettings) -> Result<OrgSettingsOut, ApiError> {
    read(state, org).await
}

/// The fields `PATCH /org` takes.
pub const PATCH_FIELDS: [&str; 7] = [
    "name",
    "currency",
    "hourly_rate",
    "fallback_baseline_minutes",
    "timezone",
    "digest_recipients",
    "retention_days",
];

/// A decimal field sent as a JSON number (a string would hide a typo such as `"12,5"`).
fn number_field<T>(
    body: &Map<String, Value>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ApiError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => parse(&n.to_string())
            .map(Some)
            .map_err(|e| ApiError::field(name, format!("{e}, got {n}"))),
        Some(_) => Err(ApiError::field(name, "must be a number")),
    }
}

/// An admin may keep events for less than the plan keeps them, not for longer: longer
/// retention is storage the operator pays for (`humanhours org set --retention-days`).
fn retention_error(plan: ratelimit::Plan) -> ApiError {
    ApiError::field(
        "retention_days",
        format!(
            "must be a whole number of days from 1 to {} (the {} plan's), or null for the \
             plan's",
            plan.default_retention_days(),
            plan.as_str()
        ),
    )
}

/// Reads `PATCH /org`'s body into the change it asks for: every field is checked before
/// anything is written, so one bad field changes nothing.
fn changes(org: &OrgSettings, body: &Map<String, Value>) -> Result<OrgChanges, ApiError> {
    crate::webhooks::reject_unknown(body, &PATCH_FIELDS)?;
    let name = match body.get("name") {
        None => None,
        Some(Value::String(s)) => {
            crate::orgs::check_name(s).map_err(|e| ApiError::field("name", e.to_string()))?;
            Some(s.clone())
        }
        Some(_) => return Err(ApiError::field("name", "must be a string")),
    };
    let currency = match body.get("currency") {
        None => None,
        Some(Value::String(s)) => Some(
            Currency::parse(s)
                .map_err(|_| {
                    ApiError::field(
                        "currency",
                        format!("must be an ISO 4217 code such as EUR, got {s:?}"),
                    )
                })?
                .as_str()
                .to_owned(),
        ),
        Some(_) => return Err(ApiError::field("currency", "must be a string such as EUR")),
    };
    let hourly_rate = number_field(body, "hourly_rate", |t| {
        HourlyRate::parse(t).map_err(|e| e.to_string())
    })?
    .map(|r| r.to_string());
    let fallback_baseline_minutes = match body.get("fallback_baseline_minutes") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => number_field(body, "fallback_baseline_minutes", |t| {
            BaselineMinutes::parse(t).map_err(|e| e.to_string())
        })?
        .map(|b| Some(b.to_string())),
    };
    let timezone = match body.get("timezone") {
        None => None,
        Some(Value::String(s)) => Some(
            Zone::parse(s)
                .map_err(|e| ApiError::field("timezone", e.to_string()))?
                .name()
                .to_owned(),
        ),
        Some(_) => {
            return Err(ApiError::field(
                "timezone",
                "must be an IANA time zone name such as Europe/Berlin",
            ))
        }
    };
    let list_error = || {
        ApiError::field(
            "digest_recipients",
            format!(
                "must be a list of at most {} email addresses",
                ::digests::MAX_RECIPIENTS
            ),
        )
    };
    let digest_recipients = match body.get("digest_recipients") {
        None => None,
        Some(Value::Null) => Some(String::new()),
        Some(Value::Array(items)) => {
            if items.len() > 100 {
                return Err(list_error());
            }
            let mut list = Vec::with_capacity(items.len());
            for i in items {
                list.push(i.as_str().ok_or_else(list_error)?);
            }
            Some(
                Recipients::from_list(list)
                    .map_err(|e| ApiError::field("digest_recipients", e.to_string()))?
                    .stored(),
            )
        }
        Some(_) => return Err(list_error()),
    };
    // The plan's limit is checked against the stored row, under its lock (`patch`).
    let retention_days = match body.get("retention_days") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => Some(Some(
            n.as_u64()
                .and_then(|d| i32::try_from(d).ok())
                .filter(|d| *d >= 1)
                .ok_or_else(|| retention_error(org.plan))?,
        )),
        Some(_) => return Err(retention_error(org.plan)),
    };
    Ok(OrgChanges {
        name,
        currency,
        hourly_rate,
        fallback_baseline_minutes,
        timezone,
        digest_recipients,
        retention_days,
        ..OrgChanges::default()
    })
}

/// `PATCH /org` {name?, currency?, hourly_rate?, fallback_baseline_minutes?, timezone?,
/// digest_recipients?, retention_days?}: changes what is given, answers the settings. All
/// plans. `digest_recipients: []` (or `null`) stops the emails; `null` clears the fallback
/// baseline and gives the retention back to the plan. A new rate values the events tracked
/// from then on; past events keep what was frozen on them. The currency may change only
/// while the org has no events (sums would otherwise add two currencies).
pub async fn patch(
    state: &Arc<App>,
    org: &OrgSettings,
    body: &Map<String, Value>,
) -> Result<OrgSettingsOut, ApiError> {
    let changes = changes(org, body)?;
    if changes != OrgChanges::default() {
        let id = org.id.clone();
        crate::blocking(state, move |st| {
            // The rules are checked against the row as stored, with it locked: the caller's
            // settings may be a cached copy (another instance or the CLI may have changed
            // them), and an event may arrive meanwhile.
            let mut refused: Option<ApiError> = None;
            let written = st
                .store
                .update_org_settings(&id, &changes, |row, has_events| {
                    let plan = ratelimit::Plan::parse(&row.plan).ok();
                    let days = changes.retention_days.flatten();
                    let too_long = match (days, plan) {
                        (Some(d), Some(p)) => i64::from(d) > i64::from(p.default_retention_days()),
                        _ => false,
                    };
                    let new_currency = changes
                        .currency
                        .as_ref()
                        .is_some_and(|c| *c != row.currency);
                    if too_long {
                        refused = plan.map(retention_error);
                    } else if new_currency && has_events {
                        // Sums add the money frozen on each event and show the org's currency
                        // beside them: a new currency once there are events would add euros to
                        // dollars.
                        refused = Some(ApiError::field(
                        "currency",
                        "cannot change once the organisation has events: their money is frozen \
                         in the current currency, and sums would add two currencies",
                    ));
                    }
                    match refused {
                        Some(_) => Err(store::StoreError::Refused("settings".into())),
                        None => Ok(()),
                    }
                });
            match (written, refused) {
                (_, Some(e)) => Err(e),
                (Ok(_), None) => Ok(()),
                (Err(e), None) if e.is_unique_violation() => Err(ApiError::field(
                    "name",
                    "another organisation on this server has that name",
                )),
                (Err(e), None) => Err(e.into()),
            }
        })
        .await?;
        // The key cache holds the org's settings (its rate and currency value every event):
        // this instance values the next event with the new ones; others within their TTL.
        state.key_cache.evict_org(&org.id);
    }
    read(state, org).await
}
