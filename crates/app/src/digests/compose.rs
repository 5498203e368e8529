//! A digest's content, from the read side's own functions.

use ::digests::period::WeekPeriod;
use ::digests::Change;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use store::{Dim, Store};

use super::OrgDigest;
use crate::clock;
use crate::error::ApiError;
use crate::read::params::{Metric, RangeSpec, Scope};
use crate::read::reports::{
    breakdown, ranked_agents, summary_data, unpriced_models, ByOutcome, LeaderboardRow, SumsOut,
    OUTCOMES,
};
use crate::wire::JsonDecimal;

/// Agents and task types a digest lists.
pub const TOP: usize = 5;

/// A digest: the `data` of its webhook, what its email shows, what `digest preview --format
/// json` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Digest {
    /// `weekly`.
    pub kind: String,
    pub org_id: String,
    pub org_name: String,
    pub currency: String,
    pub period: DigestPeriod,
    pub previous_period: DigestPeriod,
    /// The week's figures: `GET /summary?from=…&to=…&tz=…` of the period.
    pub totals: DigestTotals,
    /// The same for the week before.
    pub previous: DigestTotals,
    /// Each figure against the week before.
    pub change: DigestChange,
    /// Top agents by net saved: `GET /reports/leaderboard?metric=net_saved&top=5`.
    pub top_agents: Vec<LeaderboardRow>,
    /// Top task types by hours saved: `GET /reports/time-saved?group_by=task_type&top=5`.
    pub top_task_types: Vec<TaskTypeRow>,
    /// Events whose model had no price (`unpriced_model`), by model.
    pub unpriced_models: Vec<UnpricedModel>,
    /// Events whose model had no price, in all.
    pub unpriced_events: i64,
    /// The dashboard under `HUMANHOURS_PUBLIC_URL`.
    pub dashboard_url: String,
}

/// A period: `2026-W48`, `[from, to)` as RFC 3339 UTC, the zone it was cut in, and its first
/// and last local days there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DigestPeriod {
    pub label: String,
    pub from: String,
    pub to: String,
    pub tz: String,
    /// The Monday, local (`2026-11-23`).
    pub first_day: String,
    /// The Sunday, local (`2026-11-29`).
    pub last_day: String,
}

/// A period's totals, as `GET /summary` prints them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestTotals {
    #[serde(flatten)]
    pub sums: SumsOut,
    pub fte_equivalent: Option<JsonDecimal>,
    pub by_outcome: ByOutcome,
}

/// One figure against the period before.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct FigureChange {
    /// This week minus the week before.
    pub absolute: JsonDecimal,
    /// In percent of the week before, one decimal; `null` when the week before was 0.
    pub percent: Option<JsonDecimal>,
}

/// Every total against the week before. An unknown agent cost counts as 0.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestChange {
    pub events: FigureChange,
    pub hours_saved: FigureChange,
    pub cost_saved: FigureChange,
    pub agent_cost: FigureChange,
    pub net_saved: FigureChange,
    pub fte_equivalent: FigureChange,
}

/// A task type's row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskTypeRow {
    pub task_type: Option<String>,
    #[serde(flatten)]
    pub sums: SumsOut,
}

/// A model sent without a price, and its events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnpricedModel {
    pub model: String,
    pub events: i64,
}

fn scope(period_from: i64, period_to: i64, od: &OrgDigest) -> Scope {
    Scope {
        range: RangeSpec::Explicit {
            from: period_from,
            to: period_to,
        },
        tz: od.zone.tz().clone(),
        tz_name: od.zone.name().to_owned(),
        agent_id: None,
        task_type: None,
    }
}

fn period_out(p: &WeekPeriod, od: &OrgDigest) -> Result<DigestPeriod, ApiError> {
    let day = |ms: i64| {
        od.zone
            .date(ms)
            .map(|d| d.to_string())
            .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))
    };
    Ok(DigestPeriod {
        label: p.week.label(),
        from: clock::format_ms(clock::from_unix_ms(p.from_ms)),
        to: clock::format_ms(clock::from_unix_ms(p.to_ms)),
        tz: od.zone.name().to_owned(),
        first_day: day(p.from_ms)?,
        last_day: day(p.to_ms - 1)?,
    })
}

fn totals(
    store: &Store,
    od: &OrgDigest,
    p: &WeekPeriod,
    now_ms: i64,
) -> Result<DigestTotals, ApiError> {
    let s = summary_data(store, &od.org, &scope(p.from_ms, p.to_ms, od), now_ms)?;
    let outcome = |name: &str| {
        s.by_outcome
            .iter()
            .find(|(o, _)| *o == name)
            .map(|(_, sums)| SumsOut::from(sums))
            .unwrap_or_else(|| SumsOut::from(&store::Sums::default()))
    };
    debug_assert_eq!(OUTCOMES.len(), 3);
    Ok(DigestTotals {
        sums: SumsOut::from(&s.totals),
        fte_equivalent: s.fte_equivalent,
        by_outcome: ByOutcome {
            success: outcome("success"),
            failure: outcome("failure"),
            needs_review: outcome("needs_review"),
        },
    })
}

fn change(now: Decimal, before: Decimal) -> FigureChange {
    let c = Change::of(now, before);
    FigureChange {
        absolute: JsonDecimal(c.absolute),
        percent: c.percent.map(JsonDecimal),
    }
}

fn dec(d: Option<JsonDecimal>) -> Decimal {
    d.map_or(Decimal::ZERO, |d| d.0)
}

/// Composes the digest of `period` for an org (blocking).
pub fn compose(
    store: &Store,
    od: &OrgDigest,
    period: &WeekPeriod,
    public_url: &str,
    now_ms: i64,
) -> Result<Digest, ApiError> {
    let previous_period = period
        .previous(&od.zone)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    let this = totals(store, od, period, now_ms)?;
    let before = totals(store, od, &previous_period, now_ms)?;
    let sc = scope(period.from_ms, period.to_ms, od);
    let (range, top_agents) = ranked_agents(store, &od.org, &sc, Metric::NetSaved, TOP, now_ms)?;
    let (_, by_type) = breakdown(store, &od.org, &sc, Dim::TaskType, "task_type", now_ms)?;
    let unpriced: Vec<UnpricedModel> = unpriced_models(store, &od.org, &range)?
        .into_iter()
        .map(|(model, events)| UnpricedModel { model, events })
        .collect();
    let (a, b) = (&this.sums, &before.sums);
    let change = DigestChange {
        events: change(Decimal::from(a.events), Decimal::from(b.events)),
        hours_saved: change(a.hours_saved.0, b.hours_saved.0),
        cost_saved: change(a.cost_saved.0, b.cost_saved.0),
        agent_cost: change(dec(a.agent_cost), dec(b.agent_cost)),
        net_saved: change(a.net_saved.0, b.net_saved.0),
        fte_equivalent: change(dec(this.fte_equivalent), dec(before.fte_equivalent)),
    };
    Ok(Digest {
        kind: ::digests::Kind::Weekly.as_str().to_owned(),
        org_id: od.org.id.clone(),
        org_name: od.org.name.clone(),
        currency: od.org.currency.as_str().to_owned(),
        period: period_out(period, od)?,
        previous_period: period_out(&previous_period, od)?,
        totals: this,
        previous: before,
        change,
        top_agents,
        top_task_types: by_type
            .into_iter()
            .take(TOP)
            .map(|(task_type, sums)| TaskTypeRow {
                task_type,
                sums: SumsOut::from(&sums),
            })
            .collect(),
        unpriced_events: unpriced.iter().map(|u| u.events).sum(),
        unpriced_models: unpriced,
        dashboard_url: format!("{}/dashboard", public_url.trim_end_matches('/')),
    })
}
