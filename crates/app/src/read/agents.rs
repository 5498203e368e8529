//! `GET /agents` and `PUT /agents/{agent_id}` (API.md §8). All plans: the n8n node checks its
//! credentials with `GET /agents`.

use std::collections::HashMap;
use std::sync::Arc;

use catalogue::AgentId;
use roi_engine::HourlyRate;
use serde::Serialize;
use serde_json::Value;
use store::{AgentRow, Dim, ReportQuery, Sums};
use utoipa::ToSchema;

use super::reports::SumsOut;
use crate::auth::OrgSettings;
use crate::clock;
use crate::error::ApiError;
use crate::state::App;
use crate::wire::JsonDecimal;

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

/// One agent, as `GET /agents` and `PUT /agents/{agent_id}` answer it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Agent {
    pub agent_id: String,
    /// Its own rate, or `null`.
    pub hourly_rate: Option<JsonDecimal>,
    /// What `/track` uses now: its own rate or the org's.
    pub effective_hourly_rate: JsonDecimal,
    /// `agent` or `org`.
    pub rate_source: &'static str,
    #[schema(format = DateTime)]
    pub first_seen_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    pub last_30_days: SumsOut,
}

impl From<&AgentInfo> for Agent {
    fn from(a: &AgentInfo) -> Self {
        Agent {
            agent_id: a.row.agent_id.clone(),
            hourly_rate: a.own_rate.map(|r| JsonDecimal(r.get())),
            effective_hourly_rate: JsonDecimal(a.effective_rate.get()),
            rate_source: a.rate_source(),
            first_seen_at: clock::format_ms(clock::from_unix_ms(a.row.first_seen_at)),
            last_seen_at: clock::format_ms(clock::from_unix_ms(a.row.last_seen_at)),
            last_30_days: SumsOut::from(&a.last_30_days),
        }
    }
}

/// `GET /agents`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Agents {
    pub currency: String,
    pub agents: Vec<Agent>,
}

/// Every agent of the org, sorted by id, with its last 30 days (blocking).
pub fn agents_data(st: &App, org: &OrgSettings) -> Result<Vec<AgentInfo>, ApiError> {
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

/// `GET /agents`: every agent of the org, sorted by id. All plans.
pub async fn list(state: &Arc<App>, org: &Arc<OrgSettings>) -> Result<Agents, ApiError> {
    let org2 = org.clone();
    let agents = super::gate::heavy(state, &org.id, move |st| agents_data(st, &org2)).await?;
    Ok(Agents {
        currency: org.currency.as_str().to_owned(),
        agents: agents.iter().map(Agent::from).collect(),
    })
}

/// Reads the agent of a path: `decodes` says whether its percent-decoding was valid UTF-8.
pub fn agent_of_path(agent_id: String, decodes: bool) -> Result<AgentId, ApiError> {
    if !decodes {
        return Err(ApiError::field(
            "agent_id",
            "must be valid UTF-8 once percent-decoded",
        ));
    }
    AgentId::from_string(agent_id).map_err(|_| ApiError::field("agent_id", AgentId::RULE))
}

/// `PUT /agents/{agent_id}`: sets (`null`: clears) an agent's own hourly rate, creating the
/// agent if it is new; answers the agent as `GET /agents` shows it.
pub async fn set_rate(
    state: &Arc<App>,
    org: &Arc<OrgSettings>,
    agent_id: AgentId,
    body: &serde_json::Map<String, Value>,
) -> Result<Agent, ApiError> {
    let rate = match body.get("hourly_rate") {
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
    let org2 = org.clone();
    let agent_id = agent_id.into_string();
    let (row, sums) = crate::blocking(state, move |st| -> Result<_, ApiError> {
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
    .await?;
    state.contexts.invalidate(&org.id);
    Ok(Agent::from(&AgentInfo::new(org, row, sums)?))
}
