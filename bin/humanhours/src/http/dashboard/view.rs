//! What an overview shows, gathered from the read side's own functions (the ones behind
//! `GET /summary`, `/reports/time-saved`, `/agents`, `/task-types` and `/reports/usage`), so the
//! dashboard's figures are the API's figures: nothing here sums events itself.

use std::sync::Arc;

use store::{Dim, Sums};

use crate::http::errors::ApiError;
use app::auth::OrgSettings;
use app::clock;
use app::read::agents::{agents_data, AgentInfo};
use app::read::params::{Params, RangeSpec, Scope};
use app::read::reports::{
    agent_cost, breakdown, csv_text, hours, money, net, summary_data, usage_data, Summary, Usage,
};
use app::wire::JsonDecimal;
use app::App;
use app::{read::params as read_params, task_types};

/// The query parameters an overview keeps in its links (the read side's own, minus `from`/`to`
/// which the period links replace).
#[derive(Debug, Clone, Default)]
pub(crate) struct ViewQuery {
    pub period: Option<String>,
    pub agent_id: Option<String>,
    pub task_type: Option<String>,
    pub tz: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The agency workspace shown (`?workspace=`), kept in every link of the page.
    pub workspace: Option<String>,
}

impl ViewQuery {
    /// Reads the parameters and checks them exactly as the JSON routes do.
    pub(crate) fn parse(p: &Params) -> Result<(ViewQuery, Scope), ApiError> {
        let scope = read_params::scope(p)?;
        let own = |n: &str| p.get(n).map(str::to_owned);
        Ok((
            ViewQuery {
                period: own("period"),
                agent_id: own("agent_id"),
                task_type: own("task_type"),
                tz: own("tz"),
                from: own("from"),
                to: own("to"),
                workspace: None,
            },
            scope,
        ))
    }

    /// The query string of this view with `period` set (`None`: keep the view's own range).
    pub(crate) fn with_period(&self, period: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        match period {
            Some(p) => pairs.push(("period", p)),
            None => {
                for (k, v) in [
                    ("period", &self.period),
                    ("from", &self.from),
                    ("to", &self.to),
                ] {
                    if let Some(v) = v {
                        pairs.push((k, v));
                    }
                }
            }
        }
        for (k, v) in [
            ("agent_id", &self.agent_id),
            ("task_type", &self.task_type),
            ("tz", &self.tz),
            ("workspace", &self.workspace),
        ] {
            if let Some(v) = v {
                pairs.push((k, v));
            }
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }

    /// The query string of this view's range with one filter set (or cleared with `None`).
    pub(crate) fn with_filter(&self, name: &str, value: Option<&str>) -> String {
        let mut q = self.clone();
        match name {
            "agent_id" => q.agent_id = value.map(str::to_owned),
            _ => q.task_type = value.map(str::to_owned),
        }
        q.with_period(None)
    }
}

/// One row of a breakdown.
pub(crate) use app::read::reports::GroupSums as Row;

/// The breakdowns of the period (a Pro report in the API, so `None` on the free plan).
#[derive(Debug, Clone)]
pub(crate) struct Breakdowns {
    pub agent: Vec<Row>,
    pub task_type: Vec<Row>,
    pub model: Vec<Row>,
}

/// A task type seen in the period, with what `/task-types` says about it (`None`: neither
/// built-in nor a custom type of the org: its events brought their own baseline or used the
/// fallback).
#[derive(Debug, Clone)]
pub(crate) struct TaskTypeUse {
    pub key: String,
    pub events: i64,
    pub entry: Option<task_types::TaskType>,
}

/// Everything one overview page (or its CSV) shows.
#[derive(Debug, Clone)]
pub(crate) struct Overview {
    pub org: Arc<OrgSettings>,
    pub query: ViewQuery,
    pub scope: Scope,
    pub summary: Summary,
    pub breakdowns: Option<Breakdowns>,
    pub agents: Vec<AgentInfo>,
    pub task_types: Vec<TaskTypeUse>,
    pub usage: Usage,
}

impl Overview {
    /// Gathers an overview (blocking: run it on the blocking pool). One `now` for every part,
    /// so they all cover the same range.
    pub(crate) fn load(
        st: &App,
        org: Arc<OrgSettings>,
        query: ViewQuery,
        scope: Scope,
    ) -> Result<Overview, ApiError> {
        let now = clock::now();
        let now_ms = clock::unix_ms(now);
        let summary = summary_data(&st.store, &org, &scope, now_ms)?;
        let (_, by_task_type) =
            breakdown(&st.store, &org, &scope, Dim::TaskType, "task_type", now_ms)?;
        let breakdowns = if org.plan.has_pro_features() {
            let (_, agent) = breakdown(&st.store, &org, &scope, Dim::Agent, "agent", now_ms)?;
            let (_, model) = breakdown(&st.store, &org, &scope, Dim::Model, "model", now_ms)?;
            Some(Breakdowns {
                agent,
                task_type: by_task_type.clone(),
                model,
            })
        } else {
            None
        };
        let entries = task_types::entries_of(st, &org.id)?;
        let task_types = by_task_type
            .iter()
            .filter_map(|(k, s)| k.as_ref().map(|k| (k, s)))
            .map(|(key, s)| TaskTypeUse {
                key: key.clone(),
                events: s.events,
                entry: entries.iter().find(|e| e.key == *key).cloned(),
            })
            .collect();
        Ok(Overview {
            agents: agents_data(st, &org)?,
            usage: usage_data(st, &org, now)?,
            breakdowns,
            task_types,
            summary,
            org,
            query,
            scope,
        })
    }

    /// The period's name as the API prints it (`30d`, `custom`, …).
    pub(crate) fn period(&self) -> &'static str {
        self.summary.range.period
    }

    /// True for the preset named `p`.
    pub(crate) fn is_period(&self, p: &str) -> bool {
        matches!(self.scope.range, RangeSpec::Preset(x) if x.as_str() == p)
    }

    /// The whole view as one CSV table: a `section` column (`total`, `day`, `outcome`, and on
    /// Pro plans `agent`, `task_type`, `model`), the group's `key`, and the sums, with the
    /// same decimals as the JSON API.
    pub(crate) fn csv(&self) -> Result<Vec<u8>, ApiError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "section",
            "key",
            "events",
            "hours_saved",
            "cost_saved",
            "agent_cost",
            "net_saved",
            "events_without_cost",
            "fte_equivalent",
            "currency",
            "from",
            "to",
        ])
        .map_err(ApiError::internal)?;
        let from = clock::format_ms(clock::from_unix_ms(self.summary.range.from));
        let to = clock::format_ms(clock::from_unix_ms(self.summary.range.to));
        let currency = self.org.currency.as_str();
        let exact = |n: JsonDecimal| n.0.normalize().to_string();
        let mut put = |section: &str, key: &str, s: &Sums, fte: Option<JsonDecimal>| {
            w.write_record([
                section,
                &csv_text(key),
                &s.events.to_string(),
                &exact(hours(s.hours_saved_milli)),
                &exact(money(s.cost_saved_cents)),
                &agent_cost(s).map(exact).unwrap_or_default(),
                &exact(net(s)),
                &s.events_without_cost().to_string(),
                &fte.map(exact).unwrap_or_default(),
                currency,
                &from,
                &to,
            ])
            .map_err(ApiError::internal)
        };
        put(
            "total",
            self.period(),
            &self.summary.totals,
            self.summary.fte_equivalent,
        )?;
        for (day, s) in &self.summary.trend {
            put("day", day, s, None)?;
        }
        for (o, s) in &self.summary.by_outcome {
            put("outcome", o, s, None)?;
        }
        if let Some(b) = &self.breakdowns {
            for (section, rows) in [
                ("agent", &b.agent),
                ("task_type", &b.task_type),
                ("model", &b.model),
            ] {
                for (k, s) in rows {
                    put(section, k.as_deref().unwrap_or(""), s, None)?;
                }
            }
        }
        w.into_inner()
            .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))
    }
}
