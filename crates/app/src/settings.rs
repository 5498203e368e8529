//! `GET /org` and `PATCH /org`: the caller's org settings over HTTP. What a key may change here
//! is the org's own preferences (its zone and its digest recipients); the plan, currency, caps
//! and rates stay with the operator (`humanhours org set`).

use std::sync::Arc;

use ::digests::period::Zone;
use ::digests::Recipients;
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

/// `PATCH /org` {timezone?, digest_recipients?}: changes what is given, answers the settings.
/// All plans. `digest_recipients: []` (or `null`) stops the emails.
pub async fn patch(
    state: &Arc<App>,
    org: &OrgSettings,
    body: &Map<String, Value>,
) -> Result<OrgSettingsOut, ApiError> {
    crate::webhooks::reject_unknown(body, &["timezone", "digest_recipients"])?;
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
    if timezone.is_some() || digest_recipients.is_some() {
        let changes = OrgChanges {
            timezone,
            digest_recipients,
            ..OrgChanges::default()
        };
        let id = org.id.clone();
        crate::blocking(state, move |st| Ok(st.store.update_org(&id, &changes)?)).await?;
    }
    read(state, org).await
}
