//! `GET /summary` and `GET /reports/*` (API.md §8): sums of the org's frozen event values over
//! a period, as exact JSON numbers or CSV. Shapes are described in docs/decisions.md.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};
use ratelimit::Plan;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use store::{Dim, ReportQuery, ReportRow, Sums};

use super::read_params::doc as doc_params;
use super::read_params::{self, Format, Grouping, Metric, Params, Range, Scope};
use super::track::auth_context;
use crate::auth::{AuthContext, OrgSettings};
use crate::buckets::{self, Buckets, Unit};
use crate::clock;
use crate::errors::ApiError;
use crate::state::AppState;
use crate::wire::Num;

/// Most time buckets one answer may hold (about 27 years of days).
pub const MAX_BUCKETS: usize = 10_000;

/// Exact decimals of the fixed-point sums.
pub fn hours(milli: i64) -> Num {
    Num(Decimal::new(milli, 3))
}
pub fn money(cents: i64) -> Num {
    Num(Decimal::new(cents, 2))
}
/// The known agent costs; `None` when no event of the group had one.
pub fn agent_cost(s: &Sums) -> Option<Num> {
    (s.costed_events > 0).then(|| Num(Decimal::new(s.agent_cost_micros, 6)))
}

fn num(n: Num) -> Value {
    serde_json::to_value(n).unwrap_or(Value::Null)
}

/// Pro features are refused on the free plan.
pub fn require_pro(org: &OrgSettings, feature: &'static str) -> Result<(), ApiError> {
    if org.plan.has_pro_features() {
        Ok(())
    } else {
        Err(ApiError::FeatureLocked { feature })
    }
}

/// The fields every report answer starts with.
fn head(range: &Range, scope: &Scope, org: &OrgSettings) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("period".into(), json!(range.period));
    m.insert(
        "from".into(),
        json!(clock::format_ms(clock::from_unix_ms(range.from))),
    );
    m.insert(
        "to".into(),
        json!(clock::format_ms(clock::from_unix_ms(range.to))),
    );
    m.insert("tz".into(), json!(scope.tz_name));
    m.insert("currency".into(), json!(org.currency.as_str()));
    m.insert("agent_id".into(), json!(scope.agent_id));
    m.insert("task_type".into(), json!(scope.task_type));
    m
}

/// FTE equivalent: hours / (176 × days / 30), to 3 places.
pub fn fte(hours_milli: i64, span_ms: i64) -> Num {
    if span_ms <= 0 {
        return Num(Decimal::ZERO);
    }
    let v = Decimal::from(hours_milli) * Decimal::from(2_592_000_i64)
        / (Decimal::from(176_i64) * Decimal::from(span_ms));
    Num(roi_engine::round(v, 3))
}

/// Which metrics a grouped report prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TimeSaved,
    CostSaved,
}

impl Kind {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::TimeSaved => &["events", "hours_saved", "cost_saved"],
            Kind::CostSaved => &["events", "cost_saved", "agent_cost", "net_saved"],
        }
    }
}

fn metric_value(col: &str, s: &Sums) -> Option<Num> {
    match col {
        "events" => Some(Num(Decimal::from(s.events))),
        "hours_saved" => Some(hours(s.hours_saved_milli)),
        "cost_saved" => Some(money(s.cost_saved_cents)),
        "agent_cost" => agent_cost(s),
        _ => Some(money(s.net_saved_cents)),
    }
}

/// A grouped report, computed.
struct Grouped {
    range: Range,
    grouping: Grouping,
    labels: Vec<String>,
    rows: Vec<ReportRow>,
}

/// The buckets of `unit` over the part of the range that holds events.
fn buckets_for(
    state: &AppState,
    org: &str,
    unit: Unit,
    scope: &Scope,
    range: &Range,
    field: &str,
) -> Result<Option<Buckets>, ApiError> {
    let Some((first, last)) = state.store.event_span(org)? else {
        return Ok(None);
    };
    let (a, b) = (range.from.max(first), range.to.min(last + 1));
    if a >= b {
        return Ok(None);
    }
    buckets::buckets(unit, &scope.tz, a, b, MAX_BUCKETS)
        .map(Some)
        .map_err(|e| bucket_error(e, field))
}

fn bucket_error(e: buckets::BucketError, field: &str) -> ApiError {
    ApiError::Validation {
        message: e.to_string(),
        field: Some(field.into()),
        hint: Some("narrow from/to, or group by week or month".into()),
    }
}

fn run_grouped(
    state: &AppState,
    org: &OrgSettings,
    scope: &Scope,
    grouping: Grouping,
    now_ms: i64,
) -> Result<Grouped, ApiError> {
    let range = scope.resolve(now_ms, || Ok(state.store.event_span(&org.id)?))?;
    let (buckets, labels) = match grouping.time() {
        Some(unit) => match buckets_for(state, &org.id, unit, scope, &range, "group_by")? {
            Some(b) => (Some(b.cuts), b.labels),
            None => (None, Vec::new()),
        },
        None => (None, Vec::new()),
    };
    // A time grouping over a range with no events has nothing to bucket.
    let empty = grouping.time().is_some() && buckets.is_none();
    let rows = if empty {
        Vec::new()
    } else {
        state.store.report(&ReportQuery {
            org_id: org.id.clone(),
            from_ms: range.from,
            to_ms: range.to,
            dims: grouping.dims(),
            buckets,
            agent_id: scope.agent_id.clone(),
            task_type: scope.task_type.clone(),
        })?
    };
    Ok(Grouped {
        range,
        grouping,
        labels,
        rows,
    })
}

fn cmp_keys(a: &[Option<String>], b: &[Option<String>]) -> Ordering {
    // Present values first, in byte order; "none" last.
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Sorts rows: by the metric, largest first, when one is given (or there is no time bucket);
/// otherwise chronologically, then by hours saved. Ties by the group values.
fn sort_rows(rows: &mut [ReportRow], sort: Option<Metric>, timed: bool) {
    rows.sort_by(|a, b| {
        let by_metric = |m: Metric| m.of(&b.sums).cmp(&m.of(&a.sums));
        let primary = match (sort, timed) {
            (Some(m), _) => by_metric(m),
            (None, true) => a
                .bucket
                .cmp(&b.bucket)
                .then_with(|| by_metric(Metric::HoursSaved)),
            (None, false) => by_metric(Metric::HoursSaved),
        };
        primary
            .then_with(|| cmp_keys(&a.keys, &b.keys))
            .then_with(|| a.bucket.cmp(&b.bucket))
    });
}

/// The group values of a row in `group_by` order: text or null.
fn group_values(g: &Grouping, labels: &[String], r: &ReportRow) -> Vec<Option<String>> {
    let mut dims = r.keys.iter();
    g.groups
        .iter()
        .map(|grp| match grp {
            read_params::Group::Dim(_) => dims.next().cloned().flatten(),
            read_params::Group::Time(_) => r.bucket.and_then(|i| labels.get(i).cloned()),
        })
        .collect()
}

fn totals_json(kind: Kind, s: &Sums) -> Map<String, Value> {
    let mut m = Map::new();
    for col in kind.columns() {
        m.insert(
            (*col).into(),
            metric_value(col, s).map(num).unwrap_or(Value::Null),
        );
    }
    m
}

/// A spreadsheet would run a cell that starts like a formula; such text gets a leading `'`.
pub(crate) fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

pub(crate) fn csv_response(name: &str, range: &Range, body: Vec<u8>) -> HttpResponse {
    let day = |ms: i64| clock::format_ms(clock::from_unix_ms(ms))[..10].to_owned();
    let filename = format!(
        "humanhours-{name}-{}-to-{}.csv",
        day(range.from),
        day(range.to)
    );
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

fn grouped_csv(
    kind: Kind,
    name: &str,
    org: &OrgSettings,
    rep: &Grouped,
    rows: &[ReportRow],
) -> Result<HttpResponse, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = rep.grouping.names.iter().map(String::as_str).collect();
    header.extend(kind.columns());
    header.push("currency");
    w.write_record(&header).map_err(ApiError::internal)?;
    for r in rows {
        let mut rec: Vec<String> = group_values(&rep.grouping, &rep.labels, r)
            .into_iter()
            .map(|v| v.map(|s| csv_text(&s)).unwrap_or_default())
            .collect();
        for col in kind.columns() {
            rec.push(
                metric_value(col, &r.sums)
                    .map(|n| n.0.normalize().to_string())
                    .unwrap_or_default(),
            );
        }
        rec.push(org.currency.as_str().to_owned());
        w.write_record(&rec).map_err(ApiError::internal)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    Ok(csv_response(name, &rep.range, body))
}

async fn blocking<T: Send + 'static>(
    state: &web::Data<AppState>,
    f: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let st = state.clone();
    web::block(move || f(&st)).await?
}

fn org_of(auth: &Arc<AuthContext>) -> Arc<OrgSettings> {
    auth.org.clone()
}

/// `GET /reports/time-saved`, `/reports/cost-saved` and `/reports/export`.
async fn grouped(
    state: web::Data<AppState>,
    req: HttpRequest,
    kind: Kind,
    export: bool,
) -> Result<HttpResponse, ApiError> {
    let org = org_of(&auth_context(&req)?);
    require_pro(&org, "reports other than usage")?;
    let p = Params::from_request(&req)?;
    let scope = read_params::scope(&p)?;
    let default_group = if export { "day,agent,task_type" } else { "" };
    let grouping = read_params::grouping(&p, default_group)?;
    let sort = read_params::metric(&p, "sort")?;
    let top = read_params::top(&p)?;
    let format = if export {
        match p.get("format") {
            None | Some("csv") => Format::Csv,
            Some(_) => {
                return Err(ApiError::Validation {
                    message: "the export is always CSV".into(),
                    field: Some("format".into()),
                    hint: Some("use /reports/time-saved for JSON".into()),
                })
            }
        }
    } else {
        read_params::format(&p)?
    };
    let (org2, scope2) = (org.clone(), scope.clone());
    let now = clock::unix_ms(clock::now());
    let rep = blocking(&state, move |st| {
        run_grouped(st, &org2, &scope2, grouping, now)
    })
    .await?;
    let mut rows = rep.rows.clone();
    let mut totals = Sums::default();
    for r in &rows {
        totals.add(&r.sums);
    }
    sort_rows(&mut rows, sort, rep.grouping.time().is_some());
    let row_count = rows.len();
    if let Some(n) = top {
        rows.truncate(n);
    }
    let name = match (kind, export) {
        (_, true) => "export",
        (Kind::TimeSaved, _) => "time-saved",
        (Kind::CostSaved, _) => "cost-saved",
    };
    if format == Format::Csv {
        return grouped_csv(kind, name, &org, &rep, &rows);
    }
    let mut m = head(&rep.range, &scope, &org);
    m.insert("group_by".into(), json!(rep.grouping.names));
    m.insert(
        "sort".into(),
        json!(sort
            .map(Metric::as_str)
            .unwrap_or(if rep.grouping.time().is_some() {
                "time"
            } else {
                "hours_saved"
            })),
    );
    m.insert("top".into(), json!(top));
    let out_rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut row = Map::new();
            for (name, v) in
                rep.grouping
                    .names
                    .iter()
                    .zip(group_values(&rep.grouping, &rep.labels, r))
            {
                row.insert(name.clone(), json!(v));
            }
            row.extend(totals_json(kind, &r.sums));
            Value::Object(row)
        })
        .collect();
    m.insert("row_count".into(), json!(row_count));
    m.insert("rows".into(), Value::Array(out_rows));
    m.insert("totals".into(), Value::Object(totals_json(kind, &totals)));
    Ok(HttpResponse::Ok().json(Value::Object(m)))
}

/// Time saved, grouped.
///
/// `events`, `hours_saved` and `cost_saved` per `group_by` group, and their totals. Pro.
#[utoipa::path(
    get,
    path = "/api/v1/reports/time-saved",
    tag = "read",
    params(doc_params::ScopeQuery, doc_params::GroupQuery),
    responses(
        (status = 200, description = "The rows and their totals (JSON), or the rows as CSV with `format=csv`.",
            content((doc::GroupedReport = "application/json"), (String = "text/csv"))),
        (status = 403, description = "Reports other than usage need the pro or enterprise plan."),
    )
)]
pub async fn time_saved(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    grouped(state, req, Kind::TimeSaved, false).await
}

/// Cost saved, grouped.
///
/// `events`, `cost_saved`, `agent_cost` and `net_saved` per `group_by` group, and their
/// totals. Pro.
#[utoipa::path(
    get,
    path = "/api/v1/reports/cost-saved",
    tag = "read",
    params(doc_params::ScopeQuery, doc_params::GroupQuery),
    responses(
        (status = 200, description = "The rows and their totals (JSON), or the rows as CSV with `format=csv`.",
            content((doc::GroupedReport = "application/json"), (String = "text/csv"))),
        (status = 403, description = "Reports other than usage need the pro or enterprise plan."),
    )
)]
pub async fn cost_saved(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    grouped(state, req, Kind::CostSaved, false).await
}

/// The time-saved rows as a CSV download.
///
/// Default `group_by=day,agent,task_type`; always CSV (`format=json` is a 422). Pro.
#[utoipa::path(
    get,
    path = "/api/v1/reports/export",
    tag = "read",
    params(doc_params::ScopeQuery, doc_params::GroupQuery),
    responses(
        (status = 200, description = "A header row, then one row per group; `currency` last.",
            content_type = "text/csv", body = String,
            headers(("Content-Disposition" = String, description = "`attachment` with a file name holding the range"))),
        (status = 403, description = "Reports other than usage need the pro or enterprise plan."),
    )
)]
pub async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    grouped(state, req, Kind::TimeSaved, true).await
}

fn sums_json(s: &Sums) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("events".into(), json!(s.events));
    m.insert("hours_saved".into(), num(hours(s.hours_saved_milli)));
    m.insert("cost_saved".into(), num(money(s.cost_saved_cents)));
    m.insert(
        "agent_cost".into(),
        agent_cost(s).map(num).unwrap_or(Value::Null),
    );
    m.insert("net_saved".into(), num(money(s.net_saved_cents)));
    m
}

/// Longest daily trend filled with empty days; a longer period lists only days with events.
const MAX_FILLED_DAYS: i64 = 3_700;

/// What the summary shows: the figures of `GET /summary`, shared by the dashboard so both
/// print the same numbers from the same queries.
#[derive(Debug, Clone)]
pub struct Summary {
    pub range: Range,
    pub totals: Sums,
    /// `success`, `failure`, `needs_review`, always all three.
    pub by_outcome: Vec<(&'static str, Sums)>,
    /// One entry per local day of the range (only days with events past ~10 years).
    pub trend: Vec<(String, Sums)>,
    pub fte_equivalent: Num,
}

/// The three outcomes, in the order every answer lists them.
pub const OUTCOMES: [&str; 3] = ["success", "failure", "needs_review"];

/// Computes the summary of a scope (blocking: call on the blocking pool).
pub fn summary_data(
    st: &AppState,
    org: &OrgSettings,
    scope: &Scope,
    now_ms: i64,
) -> Result<Summary, ApiError> {
    let range = scope.resolve(now_ms, || Ok(st.store.event_span(&org.id)?))?;
    let filled = (range.to - range.from) / 86_400_000 <= MAX_FILLED_DAYS;
    let b = if filled {
        if range.from < range.to {
            Some(
                buckets::buckets(Unit::Day, &scope.tz, range.from, range.to, MAX_BUCKETS)
                    .map_err(|e| bucket_error(e, "from"))?,
            )
        } else {
            None
        }
    } else {
        buckets_for(st, &org.id, Unit::Day, scope, &range, "from")?
    };
    let rows = match &b {
        None => Vec::new(),
        Some(b) => st.store.report(&ReportQuery {
            org_id: org.id.clone(),
            from_ms: range.from,
            to_ms: range.to,
            dims: vec![Dim::Outcome],
            buckets: Some(b.cuts.clone()),
            agent_id: scope.agent_id.clone(),
            task_type: scope.task_type.clone(),
        })?,
    };
    let labels = b.map(|b| b.labels).unwrap_or_default();
    let mut totals = Sums::default();
    let mut by_outcome: HashMap<String, Sums> = HashMap::new();
    let mut by_day: Vec<Sums> = vec![Sums::default(); labels.len()];
    for r in &rows {
        totals.add(&r.sums);
        if let Some(Some(o)) = r.keys.first() {
            by_outcome.entry(o.clone()).or_default().add(&r.sums);
        }
        if let Some(d) = r.bucket.and_then(|i| by_day.get_mut(i)) {
            d.add(&r.sums);
        }
    }
    let trend = labels
        .into_iter()
        .zip(by_day)
        .filter(|(_, s)| s.events > 0 || filled)
        .collect();
    Ok(Summary {
        fte_equivalent: fte(totals.hours_saved_milli, range.to - range.from),
        by_outcome: OUTCOMES
            .iter()
            .map(|o| (*o, by_outcome.get(*o).copied().unwrap_or_default()))
            .collect(),
        range,
        totals,
        trend,
    })
}

/// `GET /summary`: totals, by outcome, and a daily trend.
#[utoipa::path(
    get,
    path = "/api/v1/summary",
    tag = "read",
    params(doc_params::ScopeQuery),
    responses((status = 200, description = "The totals of the range.", body = doc::Summary))
)]
pub async fn summary(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let org = org_of(&auth_context(&req)?);
    let p = Params::from_request(&req)?;
    let scope = read_params::scope(&p)?;
    let now = clock::unix_ms(clock::now());
    let (org2, scope2) = (org.clone(), scope.clone());
    let s = blocking(&state, move |st| summary_data(st, &org2, &scope2, now)).await?;
    let mut m = head(&s.range, &scope, &org);
    m.extend(sums_json(&s.totals));
    m.insert("fte_equivalent".into(), num(s.fte_equivalent));
    let mut outcomes = Map::new();
    for (o, sums) in &s.by_outcome {
        outcomes.insert((*o).into(), Value::Object(sums_json(sums)));
    }
    m.insert("by_outcome".into(), Value::Object(outcomes));
    let trend: Vec<Value> = s
        .trend
        .iter()
        .map(|(label, sums)| {
            let mut d = Map::new();
            d.insert("date".into(), json!(label));
            d.extend(sums_json(sums));
            Value::Object(d)
        })
        .collect();
    m.insert("trend".into(), Value::Array(trend));
    Ok(HttpResponse::Ok().json(Value::Object(m)))
}

/// One group of a one-dimension report: its value (`None`: events without one) and its sums.
pub type GroupSums = (Option<String>, Sums);

/// One dimension's rows over a scope, sorted as `GET /reports/time-saved?group_by=<dim>`
/// sorts them (hours saved, largest first), with the range they cover. Blocking.
pub fn breakdown(
    st: &AppState,
    org: &OrgSettings,
    scope: &Scope,
    dim: Dim,
    name: &str,
    now_ms: i64,
) -> Result<(Range, Vec<GroupSums>), ApiError> {
    let grouping = Grouping {
        groups: vec![read_params::Group::Dim(dim)],
        names: vec![name.to_owned()],
    };
    let rep = run_grouped(st, org, scope, grouping, now_ms)?;
    let mut rows = rep.rows;
    sort_rows(&mut rows, None, false);
    let rows = rows
        .into_iter()
        .map(|r| (r.keys.into_iter().next().flatten(), r.sums))
        .collect();
    Ok((rep.range, rows))
}

/// `GET /reports/leaderboard`: agents ranked by `metric`.
#[utoipa::path(
    get,
    path = "/api/v1/reports/leaderboard",
    tag = "read",
    params(doc_params::ScopeQuery, doc_params::LeaderboardQuery),
    responses(
        (status = 200, description = "The agents, best first.", body = doc::Leaderboard),
        (status = 403, description = "Reports other than usage need the pro or enterprise plan."),
    )
)]
pub async fn leaderboard(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let org = org_of(&auth_context(&req)?);
    require_pro(&org, "reports other than usage")?;
    let p = Params::from_request(&req)?;
    let scope = read_params::scope(&p)?;
    let metric = read_params::metric(&p, "metric")?.unwrap_or(Metric::HoursSaved);
    let top = read_params::top(&p)?.unwrap_or(10);
    let now = clock::unix_ms(clock::now());
    let (org2, scope2) = (org.clone(), scope.clone());
    let grouping = Grouping {
        groups: vec![read_params::Group::Dim(Dim::Agent)],
        names: vec!["agent".into()],
    };
    let rep = blocking(&state, move |st| {
        run_grouped(st, &org2, &scope2, grouping, now)
    })
    .await?;
    let mut rows = rep.rows;
    sort_rows(&mut rows, Some(metric), false);
    let mut out = Vec::new();
    let mut rank = 0;
    let mut prev: Option<i64> = None;
    for (i, r) in rows.iter().take(top).enumerate() {
        let v = metric.of(&r.sums);
        if prev != Some(v) {
            rank = i + 1;
            prev = Some(v);
        }
        let mut row = Map::new();
        row.insert("rank".into(), json!(rank));
        row.insert("agent_id".into(), json!(r.keys.first().cloned().flatten()));
        row.extend(sums_json(&r.sums));
        out.push(Value::Object(row));
    }
    let mut m = head(&rep.range, &scope, &org);
    m.insert("metric".into(), json!(metric.as_str()));
    m.insert("top".into(), json!(top));
    m.insert("rows".into(), Value::Array(out));
    Ok(HttpResponse::Ok().json(Value::Object(m)))
}

/// The billing month's counters and the plan's limits, as `GET /reports/usage` prints them.
#[derive(Debug, Clone)]
pub struct Usage {
    pub plan: Plan,
    pub month: String,
    pub period_start: time::OffsetDateTime,
    pub period_end: time::OffsetDateTime,
    pub events_this_month: i64,
    pub events_included: Option<u64>,
    pub overage_events: i64,
    pub event_cap: Option<u64>,
    pub rate_limit_per_second: u32,
}

/// Reads the usage of the month of `now` (blocking).
pub fn usage_data(
    st: &AppState,
    org: &OrgSettings,
    now: time::OffsetDateTime,
) -> Result<Usage, ApiError> {
    let month = clock::month(now);
    let used = st.store.usage(&org.id, &month)?;
    let start = now
        .to_offset(time::UtcOffset::UTC)
        .replace_day(1)
        .map(|d| d.replace_time(time::Time::MIDNIGHT))
        .map_err(ApiError::internal)?;
    let end = if start.month() == time::Month::December {
        start
            .replace_year(start.year() + 1)
            .and_then(|d| d.replace_month(time::Month::January))
    } else {
        start.replace_month(start.month().next())
    }
    .map_err(ApiError::internal)?;
    let hard_cap = ratelimit_hard_cap(org.plan, org.monthly_event_cap);
    let included = match org.plan {
        Plan::Free => hard_cap,
        _ => org.plan.included_events(),
    };
    Ok(Usage {
        plan: org.plan,
        month,
        period_start: start,
        period_end: end,
        events_this_month: used.events,
        events_included: included,
        overage_events: used.overage_events,
        event_cap: hard_cap,
        rate_limit_per_second: st.config.plan_limits.per_second(org.plan).get(),
    })
}

/// `GET /reports/usage`: the billing month's counters and the plan's limits. All plans.
#[utoipa::path(
    get,
    path = "/api/v1/reports/usage",
    tag = "read",
    responses((status = 200, description = "This month's usage.", body = doc::Usage))
)]
pub async fn usage(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let org = org_of(&auth_context(&req)?);
    let now = clock::now();
    let org2 = org.clone();
    let u = blocking(&state, move |st| usage_data(st, &org2, now)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "plan": u.plan.as_str(),
        "currency": org.currency.as_str(),
        "month": u.month,
        "period_start": clock::format_ms(u.period_start),
        "period_end": clock::format_ms(u.period_end),
        "events_this_month": u.events_this_month,
        "events_included": u.events_included,
        "overage_events": u.overage_events,
        "event_cap": u.event_cap,
        "rate_limit_per_second": u.rate_limit_per_second,
    })))
}

/// The count at which events are refused (ratelimit::monthly_quota's rule); `None`: never.
fn ratelimit_hard_cap(plan: Plan, cap_override: Option<u64>) -> Option<u64> {
    match (plan, cap_override) {
        (_, Some(cap)) => Some(cap),
        (Plan::Free, None) => plan.included_events(),
        _ => None,
    }
}

/// The shapes of the answers above, for the OpenAPI document. The handlers build them with
/// `json!` (their field sets depend on the query); these mirror them, and `just fuzz` checks
/// every answer against them. `Serialize` is derived only so utoipa reads the serde attributes.
pub mod doc {
    use serde::Serialize;
    use utoipa::ToSchema;

    use crate::wire::Num;

    /// What every read answer starts with: the resolved range and filters.
    #[derive(Serialize, ToSchema)]
    pub struct Head {
        /// The preset asked for, or `custom` for `from`/`to`.
        pub period: String,
        #[schema(format = DateTime)]
        pub from: String,
        /// Exclusive.
        #[schema(format = DateTime)]
        pub to: String,
        pub tz: String,
        pub currency: String,
        pub agent_id: Option<String>,
        pub task_type: Option<String>,
    }

    /// Exact sums over a set of events.
    #[derive(Serialize, ToSchema)]
    pub struct Sums {
        pub events: u64,
        pub hours_saved: Num,
        pub cost_saved: Num,
        /// The known costs only; `null` when no event had one.
        pub agent_cost: Option<Num>,
        pub net_saved: Num,
    }

    /// The sums per outcome; all three are always present.
    #[derive(Serialize, ToSchema)]
    pub struct ByOutcome {
        pub success: Sums,
        pub failure: Sums,
        pub needs_review: Sums,
    }

    /// One local day of the trend.
    #[derive(Serialize, ToSchema)]
    pub struct TrendDay {
        /// The local date (`2026-10-25`).
        pub date: String,
        #[serde(flatten)]
        pub sums: Sums,
    }

    /// `GET /summary`.
    #[derive(Serialize, ToSchema)]
    pub struct Summary {
        #[serde(flatten)]
        pub head: Head,
        #[serde(flatten)]
        pub sums: Sums,
        /// hours / (176 × days / 30), to 3 places.
        pub fte_equivalent: Num,
        pub by_outcome: ByOutcome,
        /// One entry per local day of the range (for a range over ~10 years, only days with
        /// events).
        pub trend: Vec<TrendDay>,
    }

    /// `GET /reports/time-saved` and `/reports/cost-saved` as JSON.
    #[derive(Serialize, ToSchema)]
    pub struct GroupedReport {
        #[serde(flatten)]
        pub head: Head,
        pub group_by: Vec<String>,
        /// The metric sorted by, or `time`.
        pub sort: String,
        pub top: Option<u32>,
        /// Rows before `top`.
        pub row_count: u64,
        /// One object per group: a field per `group_by` entry, named as given (text or
        /// `null`), then the metrics (time-saved: `events`, `hours_saved`, `cost_saved`;
        /// cost-saved: `events`, `cost_saved`, `agent_cost`, `net_saved`).
        #[schema(value_type = Vec<Object>)]
        pub rows: Vec<serde_json::Value>,
        /// The metrics over every row, also when `top` cut some.
        #[schema(value_type = Object)]
        pub totals: serde_json::Value,
    }

    /// One agent of the leaderboard.
    #[derive(Serialize, ToSchema)]
    pub struct LeaderboardRow {
        /// Equal values share a rank (1, 2, 2, 4).
        pub rank: u64,
        pub agent_id: Option<String>,
        #[serde(flatten)]
        pub sums: Sums,
    }

    /// `GET /reports/leaderboard`.
    #[derive(Serialize, ToSchema)]
    pub struct Leaderboard {
        #[serde(flatten)]
        pub head: Head,
        pub metric: String,
        pub top: u32,
        pub rows: Vec<LeaderboardRow>,
    }

    /// `GET /reports/usage`: the billing month (UTC) of receipt.
    #[derive(Serialize, ToSchema)]
    pub struct Usage {
        /// `free`, `pro` or `enterprise`.
        pub plan: String,
        pub currency: String,
        /// `2026-11`.
        pub month: String,
        #[schema(format = DateTime)]
        pub period_start: String,
        #[schema(format = DateTime)]
        pub period_end: String,
        pub events_this_month: u64,
        /// Free: its cap; enterprise: `null`.
        pub events_included: Option<u64>,
        pub overage_events: u64,
        /// Where events are refused; `null`: never.
        pub event_cap: Option<u64>,
        pub rate_limit_per_second: u32,
    }
}
