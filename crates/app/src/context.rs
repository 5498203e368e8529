//! Each org's rows that valuing an event needs (agents' own rates, overrides of built-in task
//! types, active custom task types), parsed and kept in memory so the track path reads no
//! database. An entry lives for the key cache TTL: a change made through this instance's API is
//! seen at once (its route calls [`ContextCache::invalidate`]); one made by the CLI or another
//! instance within the TTL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use roi_engine::{BaselineMinutes, HourlyRate};

use crate::clock;
use crate::error::ApiError;
use crate::state::App;

/// One org's valuation settings.
#[derive(Debug, Default)]
pub struct OrgContext {
    pub agent_rates: HashMap<String, HourlyRate>,
    pub overrides: HashMap<String, BaselineMinutes>,
    pub custom_types: HashMap<String, BaselineMinutes>,
}

impl OrgContext {
    fn load(state: &App, org_id: &str) -> Result<OrgContext, ApiError> {
        let rows = state.store.org_context(org_id)?;
        let bad = |what: &str, key: &str, value: &str| {
            ApiError::internal(anyhow::anyhow!(
                "org {org_id}: stored {what} of '{key}' is invalid: '{value}'"
            ))
        };
        let mut ctx = OrgContext::default();
        for (agent, rate) in rows.agent_rates {
            let r = HourlyRate::parse(&rate).map_err(|_| bad("hourly rate", &agent, &rate))?;
            ctx.agent_rates.insert(agent, r);
        }
        for (key, minutes) in rows.overrides {
            let b =
                BaselineMinutes::parse(&minutes).map_err(|_| bad("override", &key, &minutes))?;
            ctx.overrides.insert(key, b);
        }
        for (key, minutes) in rows.custom_types {
            let b = BaselineMinutes::parse(&minutes)
                .map_err(|_| bad("custom task type", &key, &minutes))?;
            ctx.custom_types.insert(key, b);
        }
        Ok(ctx)
    }
}

/// Orgs' contexts with an expiry.
#[derive(Debug)]
pub struct ContextCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Arc<OrgContext>, Instant)>>,
}

impl ContextCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn fresh(&self, org_id: &str) -> Option<Arc<OrgContext>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(org_id)
            .filter(|(_, expires)| *expires > clock::instant())
            .map(|(ctx, _)| ctx.clone())
    }

    /// Forgets an org's context, so the next event reads it again.
    pub fn invalidate(&self, org_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.remove(org_id);
    }

    /// The org's context: cached, or read from the database on the blocking pool.
    pub async fn get(state: &Arc<App>, org_id: &str) -> Result<Arc<OrgContext>, ApiError> {
        if let Some(ctx) = state.contexts.fresh(org_id) {
            return Ok(ctx);
        }
        let id = org_id.to_owned();
        let ctx = Arc::new(crate::blocking(state, move |st| OrgContext::load(st, &id)).await?);
        let mut entries = state
            .contexts
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // Orgs are few; an entry per org that sent an event within the TTL is kept.
        entries.retain(|_, (_, expires)| *expires > clock::instant());
        entries.insert(
            org_id.to_owned(),
            (ctx.clone(), clock::instant() + state.contexts.ttl),
        );
        Ok(ctx)
    }
}
