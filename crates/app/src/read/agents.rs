//! `GET /agents` and `PUT /agents/{agent_id}` (API.md §8). All plans: the n8n node checks its
//! credentials with `GET /agents`.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use roi_engine::HourlyRate;
use serde_json::{json, Map, Value};
use store::{AgentRow, Dim, ReportQuery, Sums};

use super::reports::{agent_cost, hours, money};
use super::track::{auth_context, json_body};
use crate::auth::OrgSettings;
use crate::clock;
use crate::errors::ApiError;
use crate::state::AppState;
use crate::wire::Num;

const DAY_MS: i64 = 86_400_000;

/// An agent as `GET /agents` and the dashboard show it: its stored row, its own and effective
/// hourly rate, and its sums over the last 30 days.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub row: AgentRow,
    pub own_rate: Option<HourlyRate>,
    pub effective_rate: HourlyRate,
    pub last_30_days: Sums,
}

impl AgentInfo {
    fn new(org: &OrgSettings, row: AgentRow, last_30_days: Sums) -> Result<Self, ApiError> {
        let own = row
            .hourly_rate
            .as_deref()
            .map(HourlyRate::parse)
            .transpose()
            .map_err(|_| {
                ApiError::internal(anyhow::anyhow!(
                    "agent {} has a bad stored rate",
                    row.agent_id
                ))
            })?;
        Ok(Self {
            effective_rate: own.unwrap_or(org.hourly_rate),
            own_rate: own,
            row,
            last_30_days,
        })
    }

    /// `agent` when the agent has its own rate, else `org`.
    pub fn rate_source(&self) -> &'static str {
        if self.own_rate.is_some() {
            "agent"
        } else {
            "org"
        }
    }
}

fn agent_json(a: &AgentInfo) -> Value {
    let s = &a.last_30_days;
    let mut last = Map::new();
    last.insert("events".into(), json!(s.events));
    last.insert("hours_saved".into(), json!(hours(s.hours_saved_milli)));
    last.insert("cost_saved".into(), json!(money(s.cost_saved_cents)));
    last.insert("agent_cost".into(), json!(agent_cost(s)));
    last.insert("net_saved".into(), json!(money(s.net_saved_cents)));
    json!({
        "agent_id": a.row.agent_id,
        "hourly_rate": a.own_rate.map(|r| Num(r.get())),
        "effective_hourly_rate": Num(a.effective_rate.get()),
        "rate_source": a.rate_source(),
        "first_seen_at": clock::format_ms(clock::from_unix_ms(a.row.first_seen_at)),
        "last_seen_at": clock::format_ms(clock::from_unix_ms(a.row.last_seen_at)),
        "last_30_days": last,
    })
}

/// Every agent of the org, sorted by id, with its last 30 days (blocking).
pub fn agents_data(st: &AppState, org: &OrgSettings) -> Result<Vec<AgentInfo>, ApiError> {
    let now = clock::unix_ms(clock::now()) + 1;
    let agents = st.store.list_agents(&org.id)?;
    let rows = st.store.report(&ReportQuery {
        org_id: org.id.clone(),
        from_ms: now - 30 * DAY_MS,
        to_ms: now,
        dims: vec![Dim::Agent],
        buckets: None,
        agent_id: None,
        task_type: None,
    })?;
    let sums: HashMap<String, Sums> = rows
        .into_iter()
        .filter_map(|r| Some((r.keys.into_iter().next()??, r.sums)))
        .collect();
    agents
        .into_iter()
        .map(|a| {
            let s = sums.get(&a.agent_id).copied().unwrap_or_default();
            AgentInfo::new(org, a, s)
        })
        .collect()
}

/// Every agent of the org.
///
/// Each with its own and effective hourly rate, first/last seen, and its last 30 days. All
/// plans (the n8n node checks its credentials with it).
#[utoipa::path(
    get,
    path = "/api/v1/agents",
    tag = "agents",
    responses((status = 200, description = "The agents, sorted by id.", body = doc::Agents))
)]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let org = auth_context(&req)?.org.clone();
    let st = state.clone();
    let org2 = org.clone();
    let agents = web::block(move || agents_data(&st, &org2)).await??;
    let list: Vec<Value> = agents.iter().map(agent_json).collect();
    Ok(HttpResponse::Ok().json(json!({
        "currency": org.currency.as_str(),
        "agents": list,
    })))
}

/// Set an agent's own hourly rate.
///
/// `null` clears it; the agent is created if it is new. Stored events keep the rate they were
/// valued with.
#[utoipa::path(
    put,
    path = "/api/v1/agents/{agent_id}",
    tag = "agents",
    params(doc::AgentPath),
    request_body(content = doc::SetRate, content_type = "application/json"),
    responses((status = 200, description = "The agent, as `GET /agents` shows it.", body = doc::Agent))
)]
pub async fn set_rate(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let org = auth_context(&req)?.org.clone();
    let agent_id = path.into_inner();
    if !super::read_params::decodes_to_utf8(req.uri().path()) {
        return Err(ApiError::field(
            "agent_id",
            "must be valid UTF-8 once percent-decoded",
        ));
    }
    if agent_id.is_empty()
        || agent_id.chars().count() > 128
        || agent_id.chars().any(char::is_control)
    {
        return Err(ApiError::field(
            "agent_id",
            "must be 1 to 128 characters without control characters",
        ));
    }
    let value = json_body(&state, &req, payload).await?;
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::invalid("the body must be a JSON object"))?;
    let rate = match obj.get("hourly_rate") {
        None => {
            return Err(ApiError::field(
                "hourly_rate",
                "is required (null clears it)",
            ))
        }
        Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            HourlyRate::parse(&n.to_string())
                .map_err(|e| ApiError::field("hourly_rate", format!("{e}, got {n}")))?,
        ),
        Some(_) => return Err(ApiError::field("hourly_rate", "must be a number or null")),
    };
    let st = state.clone();
    let org2 = org.clone();
    let (row, sums) = web::block(move || -> Result<_, ApiError> {
        let now = clock::unix_ms(clock::now());
        let text = rate.map(|r| r.to_string());
        st.store
            .set_agent_rate(&org2.id, &agent_id, text.as_deref(), now)?;
        let row = st
            .store
            .list_agents(&org2.id)?
            .into_iter()
            .find(|a| a.agent_id == agent_id)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("agent vanished")))?;
        let rows = st.store.report(&ReportQuery {
            org_id: org2.id.clone(),
            from_ms: now + 1 - 30 * DAY_MS,
            to_ms: now + 1,
            dims: vec![],
            buckets: None,
            agent_id: Some(agent_id.clone()),
            task_type: None,
        })?;
        let mut sums = Sums::default();
        for r in &rows {
            sums.add(&r.sums);
        }
        Ok((row, sums))
    })
    .await??;
    state.contexts.invalidate(&org.id);
    Ok(HttpResponse::Ok().json(agent_json(&AgentInfo::new(&org, row, sums)?)))
}

/// The shapes of the bodies above, for the OpenAPI document (the handlers build and read them
/// by hand). `Serialize` is derived only so utoipa reads the serde attributes.
pub mod doc {
    use serde::Serialize;
    use utoipa::{IntoParams, ToSchema};

    use crate::routes::reports::doc::Sums;
    use crate::wire::Num;

    /// The agent of `PUT /agents/{agent_id}`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct AgentPath {
        /// 1 to 128 characters, no control characters.
        #[param(
            min_length = 1,
            max_length = 128,
            pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
        )]
        pub agent_id: String,
    }

    /// `PUT /agents/{agent_id}` as sent.
    #[derive(Serialize, ToSchema)]
    pub struct SetRate {
        /// The agent's own rate in the org currency (0 to 1,000,000); `null` clears it.
        #[schema(value_type = Option<f64>, minimum = 0, maximum = 1_000_000, required = true)]
        pub hourly_rate: Option<Num>,
    }

    /// One agent.
    #[derive(Serialize, ToSchema)]
    pub struct Agent {
        pub agent_id: String,
        /// Its own rate, or `null`.
        pub hourly_rate: Option<Num>,
        /// What `/track` uses now: its own rate or the org's.
        pub effective_hourly_rate: Num,
        /// `agent` or `org`.
        pub rate_source: String,
        #[schema(format = DateTime)]
        pub first_seen_at: String,
        #[schema(format = DateTime)]
        pub last_seen_at: String,
        pub last_30_days: Sums,
    }

    /// `GET /agents`.
    #[derive(Serialize, ToSchema)]
    pub struct Agents {
        pub currency: String,
        pub agents: Vec<Agent>,
    }
}
