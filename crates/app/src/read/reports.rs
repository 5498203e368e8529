//! `GET /summary` and `GET /reports/*` (API.md §8): sums of the org's frozen event values over
//! a period, as exact JSON numbers or CSV. Shapes are described in docs/decisions.md.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use ratelimit::Plan;
use roi_engine::{aggregate_net, from_fixed_sum, AGENT_COST_DP, HOURS_DP, MONEY_DP};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use store::{Dim, ReportQuery, ReportRow, Store, Sums};
use utoipa::ToSchema;

use super::buckets::{self, Buckets, Unit};
use super::params::{self, Format, Grouping, Metric, Params, Range, Scope};
use crate::auth::OrgSettings;
use crate::clock;
use crate::error::ApiError;
use crate::state::App;
use crate::wire::JsonDecimal;

/// Most time buckets one answer may hold (about 27 years of days).
pub const MAX_BUCKETS: usize = 10_000;

/// Exact decimals of the fixed-point sums, at the places `roi_engine` stores them with.
pub fn hours(milli: impl Into<i128>) -> JsonDecimal {
    JsonDecimal(from_fixed_sum(milli.into(), HOURS_DP))
}
pub fn money(cents: impl Into<i128>) -> JsonDecimal {
    JsonDecimal(from_fixed_sum(cents.into(), MONEY_DP))
}
/// The known agent costs; `None` when no event of the group had one.
pub fn agent_cost(s: &Sums) -> Option<JsonDecimal> {
    (s.costed_events > 0).then(|| JsonDecimal(from_fixed_sum(s.agent_cost_micros, AGENT_COST_DP)))
}
/// Net saved of a group: Σ cost_saved − Σ agent_cost from the exact sums, rounded to cents
/// only here (API.md §8), so money saved − agent cost = net saved on every row and total.
pub fn net(s: &Sums) -> JsonDecimal {
    JsonDecimal(aggregate_net(s.cost_saved_cents, s.agent_cost_micros))
}

/// Pro features are refused on the free plan.
pub fn require_pro(org: &OrgSettings, feature: &'static str) -> Result<(), ApiError> {
    if org.plan.has_pro_features() {
        Ok(())
    } else {
        Err(ApiError::FeatureLocked { feature })
    }
}

/// The shortest range an FTE figure is given for: a day. FTE is a rate (people working 176
/// hours a month), and scaled up from minutes or hours it says nothing.
pub const FTE_MIN_SPAN_MS: i64 = 86_400_000;

/// FTE equivalent: hours / (176 × days / 30), to 3 places; none for a range shorter than a day.
pub fn fte(hours_milli: i64, span_ms: i64) -> Option<JsonDecimal> {
    if span_ms < FTE_MIN_SPAN_MS {
        return None;
    }
    let v = Decimal::from(hours_milli) * Decimal::from(2_592_000_i64)
        / (Decimal::from(176_i64) * Decimal::from(span_ms));
    Some(JsonDecimal(roi_engine::round(v, 3)))
}

/// Which metrics a grouped report prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricSet {
    TimeSaved,
    CostSaved,
}

impl MetricSet {
    fn columns(self) -> &'static [&'static str] {
        match self {
            MetricSet::TimeSaved => &["events", "hours_saved", "cost_saved"],
            MetricSet::CostSaved => &[
                "events",
                "cost_saved",
                "agent_cost",
                "net_saved",
                "events_without_cost",
            ],
        }
    }
}

fn metric_value(col: &str, s: &Sums) -> Option<JsonDecimal> {
    match col {
        "events" => Some(JsonDecimal(Decimal::from(s.events))),
        "hours_saved" => Some(hours(s.hours_saved_milli)),
        "cost_saved" => Some(money(s.cost_saved_cents)),
        "agent_cost" => agent_cost(s),
        "events_without_cost" => Some(JsonDecimal(Decimal::from(s.events_without_cost()))),
        _ => Some(net(s)),
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
    store: &Store,
    org: &str,
    unit: Unit,
    scope: &Scope,
    range: &Range,
    field: &str,
) -> Result<Option<Buckets>, ApiError> {
    let Some((first, last)) = store.event_span(org)? else {
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
    store: &Store,
    org: &OrgSettings,
    scope: &Scope,
    grouping: Grouping,
    now_ms: i64,
) -> Result<Grouped, ApiError> {
    let range = scope.resolve(now_ms, || Ok(store.event_span(&org.id)?))?;
    let (buckets, labels) = match grouping.time() {
        Some(unit) => match buckets_for(store, &org.id, unit, scope, &range, "group_by")? {
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
        store.report(&ReportQuery {
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

/// Sorts rows and keeps the first `keep`: by the metric, largest first, when one is given (or
/// there is no time bucket); otherwise chronologically, then by hours saved. Ties by the group
/// values and then the bucket, which tell every two groups apart. When some are left out, the
/// first `keep` are found in linear time and only they are sorted (a five-dimension report by
/// day has some 350,000 groups at 1M events, and answers 10,000).
fn sort_rows(rows: &mut Vec<ReportRow>, sort: Option<Metric>, timed: bool, keep: usize) {
    let cmp = |a: &ReportRow, b: &ReportRow| {
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
    };
    if keep < rows.len() {
        match keep.checked_sub(1) {
            Some(last) => {
                rows.select_nth_unstable_by(last, cmp);
                rows.truncate(keep);
            }
            None => rows.clear(),
        }
    }
    rows.sort_unstable_by(cmp);
}

/// The group values of a row in `group_by` order: text or null.
fn group_values(g: &Grouping, labels: &[String], r: &ReportRow) -> Vec<Option<String>> {
    let mut dims = r.keys.iter();
    g.groups
        .iter()
        .map(|grp| match grp {
            params::Group::Dim(_) => dims.next().cloned().flatten(),
            params::Group::Time(_) => r.bucket.and_then(|i| labels.get(i).cloned()),
        })
        .collect()
}

/// The metrics of a grouped report's row or totals, by [`MetricSet`].
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Metrics {
    TimeSaved {
        events: i64,
        hours_saved: JsonDecimal,
        cost_saved: JsonDecimal,
    },
    CostSaved {
        events: i64,
        cost_saved: JsonDecimal,
        /// The known costs only; `null` when no event had one.
        agent_cost: Option<JsonDecimal>,
        /// `cost_saved − agent_cost`, from the exact sums, rounded once.
        net_saved: JsonDecimal,
        /// Events whose agent cost is unknown: `net_saved` counts them at 0.
        events_without_cost: i64,
    },
}

impl Metrics {
    fn of(kind: MetricSet, s: &Sums) -> Self {
        match kind {
            MetricSet::TimeSaved => Metrics::TimeSaved {
                events: s.events,
                hours_saved: hours(s.hours_saved_milli),
                cost_saved: money(s.cost_saved_cents),
            },
            MetricSet::CostSaved => Metrics::CostSaved {
                events: s.events,
                cost_saved: money(s.cost_saved_cents),
                agent_cost: agent_cost(s),
                net_saved: net(s),
                events_without_cost: s.events_without_cost(),
            },
        }
    }
}

/// A spreadsheet would run a cell that starts like a formula; such text gets a leading `'`.
pub fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// A CSV download: its file name (which holds the range) and its bytes.
#[derive(Debug, Clone)]
pub struct Csv {
    pub filename: String,
    pub body: Vec<u8>,
    /// Rows were left out to keep the answer bounded ([`MAX_ROWS`], [`MAX_LABEL_BYTES`]).
    pub truncated: bool,
}

impl Csv {
    /// `humanhours-<name>-<from day>-to-<to day>.csv`.
    pub fn new(name: &str, range: &Range, body: Vec<u8>) -> Self {
        let day = |ms: i64| clock::format_ms(clock::from_unix_ms(ms))[..10].to_owned();
        let filename = format!(
            "humanhours-{name}-{}-to-{}.csv",
            day(range.from),
            day(range.to)
        );
        Csv {
            filename,
            body,
            truncated: false,
        }
    }
}

fn grouped_csv(
    kind: MetricSet,
    name: &str,
    org: &OrgSettings,
    rep: &Grouped,
    rows: &[ReportRow],
) -> Result<Csv, ApiError> {
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
    Ok(Csv::new(name, &rep.range, body))
}

/// `GET /reports/time-saved` and `/reports/cost-saved` as JSON.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupedReport {
    #[serde(flatten)]
    pub head: Head,
    pub group_by: Vec<String>,
    /// The metric sorted by, or `time`.
    pub sort: &'static str,
    pub top: Option<usize>,
    /// Rows before `top` and before any cut.
    pub row_count: usize,
    /// True when rows past `top` were left out to keep the answer bounded: at most
    /// 10,000 rows and about 4 MiB of group labels (ask with `top`, filters or a shorter range).
    pub truncated: bool,
    pub rows: Vec<GroupedRow>,
    /// The metrics over every row, also when `top` cut some.
    pub totals: Metrics,
}

/// One group of a grouped report: a field per `group_by` entry, named as given (text or
/// `null`), then the metrics (time-saved: `events`, `hours_saved`, `cost_saved`; cost-saved:
/// `events`, `cost_saved`, `agent_cost`, `net_saved`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupedRow {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub groups: Map<String, Value>,
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// A grouped report as asked for: JSON, or CSV (`format=csv`, and always for the export).
#[derive(Debug, Clone)]
pub enum GroupedAnswer {
    Json(Box<GroupedReport>),
    Csv(Csv),
}

/// Which grouped report: time saved, cost saved, or the time-saved export (CSV only, grouped
/// by day, agent and task type unless asked otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupedRoute {
    TimeSaved,
    CostSaved,
    Export,
}

/// `GET /reports/time-saved`, `/reports/cost-saved` and `/reports/export`. Pro.
pub async fn grouped(
    state: &Arc<App>,
    org: &Arc<OrgSettings>,
    p: &Params,
    route: GroupedRoute,
    now_ms: i64,
) -> Result<GroupedAnswer, ApiError> {
    require_pro(org, "reports other than usage")?;
    let export = route == GroupedRoute::Export;
    let kind = match route {
        GroupedRoute::CostSaved => MetricSet::CostSaved,
        _ => MetricSet::TimeSaved,
    };
    let scope = params::scope(p)?;
    let default_group = if export { "day,agent,task_type" } else { "" };
    let grouping = params::grouping(p, default_group)?;
    let sort = params::metric(p, "sort")?;
    let top = params::top(p)?;
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
        params::format(p)?
    };
    let (org2, scope2) = (org.clone(), scope.clone());
    // Summed, sorted and cut on the blocking thread that read the rows: a five-dimension report
    // by day sorts some 350,000 groups at 1M events, work an async worker must not do, and the
    // groups left out are freed where they were allocated (mimalloc frees across threads
    // slowly).
    let (rep, mut rows, totals, row_count) = super::gate::heavy(state, &org.id, move |st| {
        let mut rep = run_grouped(&st.store, &org2, &scope2, grouping, now_ms)?;
        let mut rows = std::mem::take(&mut rep.rows);
        let mut totals = Sums::default();
        for r in &rows {
            totals.add(&r.sums);
        }
        let row_count = rows.len();
        // The `top` asked for, and one row past the most answered, so `bound_rows` sees the cut.
        let keep = top.unwrap_or(row_count).min(MAX_ROWS + 1);
        sort_rows(&mut rows, sort, rep.grouping.time().is_some(), keep);
        Ok((rep, rows, totals, row_count))
    })
    .await?;
    let truncated = bound_rows(&rep, &mut rows);
    let name = match route {
        GroupedRoute::Export => "export",
        GroupedRoute::TimeSaved => "time-saved",
        GroupedRoute::CostSaved => "cost-saved",
    };
    if format == Format::Csv {
        return grouped_csv(kind, name, org, &rep, &rows).map(|mut csv| {
            csv.truncated = truncated;
            GroupedAnswer::Csv(csv)
        });
    }
    let out_rows = rows
        .iter()
        .map(|r| GroupedRow {
            groups: rep
                .grouping
                .names
                .iter()
                .zip(group_values(&rep.grouping, &rep.labels, r))
                .map(|(name, v)| (name.clone(), v.map_or(Value::Null, Value::String)))
                .collect(),
            metrics: Metrics::of(kind, &r.sums),
        })
        .collect();
    Ok(GroupedAnswer::Json(Box::new(GroupedReport {
        head: Head::new(&rep.range, &scope, org),
        group_by: rep.grouping.names.clone(),
        sort: sort
            .map(Metric::as_str)
            .unwrap_or(if rep.grouping.time().is_some() {
                "time"
            } else {
                "hours_saved"
            }),
        top,
        row_count,
        truncated,
        rows: out_rows,
        totals: Metrics::of(kind, &totals),
    })))
}

/// Most rows a grouped report answers, in JSON or CSV (API.md §14).
pub const MAX_ROWS: usize = 10_000;

/// About the most bytes of group labels a grouped report answers (a label may be a metadata
/// value of up to 16 KiB).
pub const MAX_LABEL_BYTES: usize = 4 * 1024 * 1024;

/// Cuts the sorted rows to [`MAX_ROWS`] and [`MAX_LABEL_BYTES`]; true when any was left out.
fn bound_rows(rep: &Grouped, rows: &mut Vec<ReportRow>) -> bool {
    let mut bytes = 0;
    let mut keep = rows.len().min(MAX_ROWS);
    for (i, r) in rows.iter().take(keep).enumerate() {
        bytes += group_values(&rep.grouping, &rep.labels, r)
            .iter()
            .map(|v| v.as_ref().map_or(4, String::len) + 8)
            .sum::<usize>();
        if bytes > MAX_LABEL_BYTES {
            keep = i;
            break;
        }
    }
    let cut = keep < rows.len();
    rows.truncate(keep);
    cut
}

/// What every read answer starts with: the resolved range and filters.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Head {
    /// The preset asked for, or `custom` for `from`/`to`.
    pub period: &'static str,
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

impl Head {
    fn new(range: &Range, scope: &Scope, org: &OrgSettings) -> Self {
        Head {
            period: range.period,
            from: clock::format_ms(clock::from_unix_ms(range.from)),
            to: clock::format_ms(clock::from_unix_ms(range.to)),
            tz: scope.tz_name.clone(),
            currency: org.currency.as_str().to_owned(),
            agent_id: scope.agent_id.clone(),
            task_type: scope.task_type.clone(),
        }
    }
}

/// Exact sums over a set of events, as every answer prints them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SumsOut {
    pub events: i64,
    pub hours_saved: JsonDecimal,
    pub cost_saved: JsonDecimal,
    /// The known costs only; `null` when no event had one.
    pub agent_cost: Option<JsonDecimal>,
    /// `cost_saved − agent_cost`, from the exact sums, rounded once.
    pub net_saved: JsonDecimal,
    /// Events whose agent cost is unknown: `net_saved` counts them at 0.
    pub events_without_cost: i64,
}

impl From<&Sums> for SumsOut {
    fn from(s: &Sums) -> Self {
        SumsOut {
            events: s.events,
            hours_saved: hours(s.hours_saved_milli),
            cost_saved: money(s.cost_saved_cents),
            agent_cost: agent_cost(s),
            net_saved: net(s),
            events_without_cost: s.events_without_cost(),
        }
    }
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
    pub fte_equivalent: Option<JsonDecimal>,
}

/// The three outcomes, in the order every answer lists them.
pub const OUTCOMES: [&str; 3] = ["success", "failure", "needs_review"];

/// Computes the summary of a scope (blocking: call on the blocking pool).
pub fn summary_data(
    store: &Store,
    org: &OrgSettings,
    scope: &Scope,
    now_ms: i64,
) -> Result<Summary, ApiError> {
    let range = scope.resolve(now_ms, || Ok(store.event_span(&org.id)?))?;
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
        buckets_for(store, &org.id, Unit::Day, scope, &range, "from")?
    };
    let rows = match &b {
        None => Vec::new(),
        Some(b) => store.report(&ReportQuery {
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

/// The sums per outcome; all three are always present.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ByOutcome {
    pub success: SumsOut,
    pub failure: SumsOut,
    pub needs_review: SumsOut,
}

/// One local day of the trend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendDay {
    /// The local date (`2026-10-25`).
    pub date: String,
    #[serde(flatten)]
    pub sums: SumsOut,
}

/// `GET /summary`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryReport {
    #[serde(flatten)]
    pub head: Head,
    #[serde(flatten)]
    pub sums: SumsOut,
    /// hours / (176 × days / 30), to 3 places; null for a range shorter than a day.
    pub fte_equivalent: Option<JsonDecimal>,
    pub by_outcome: ByOutcome,
    /// One entry per local day of the range (for a range over ~10 years, only days with
    /// events).
    pub trend: Vec<TrendDay>,
}

/// `GET /summary`: totals, by outcome, and a daily trend. All plans.
pub async fn summary(
    state: &Arc<App>,
    org: &Arc<OrgSettings>,
    p: &Params,
    now_ms: i64,
) -> Result<SummaryReport, ApiError> {
    let scope = params::scope(p)?;
    let (org2, scope2) = (org.clone(), scope.clone());
    let s = super::gate::heavy(state, &org.id, move |st| {
        summary_data(&st.store, &org2, &scope2, now_ms)
    })
    .await?;
    let outcome = |name: &str| {
        s.by_outcome
            .iter()
            .find(|(o, _)| *o == name)
            .map(|(_, sums)| SumsOut::from(sums))
            .unwrap_or_else(|| SumsOut::from(&Sums::default()))
    };
    Ok(SummaryReport {
        head: Head::new(&s.range, &scope, org),
        sums: SumsOut::from(&s.totals),
        fte_equivalent: s.fte_equivalent,
        by_outcome: ByOutcome {
            success: outcome("success"),
            failure: outcome("failure"),
            needs_review: outcome("needs_review"),
        },
        trend: s
            .trend
            .iter()
            .map(|(label, sums)| TrendDay {
                date: label.clone(),
                sums: SumsOut::from(sums),
            })
            .collect(),
    })
}

/// One group of a one-dimension report: its value (`None`: events without one) and its sums.
pub type GroupSums = (Option<String>, Sums);

/// One dimension's rows over a scope, sorted as `GET /reports/time-saved?group_by=<dim>`
/// sorts them (hours saved, largest first), with the range they cover. Blocking.
pub fn breakdown(
    store: &Store,
    org: &OrgSettings,
    scope: &Scope,
    dim: Dim,
    name: &str,
    now_ms: i64,
) -> Result<(Range, Vec<GroupSums>), ApiError> {
    let grouping = Grouping {
        groups: vec![params::Group::Dim(dim)],
        names: vec![name.to_owned()],
    };
    let rep = run_grouped(store, org, scope, grouping, now_ms)?;
    let mut rows = rep.rows;
    sort_rows(&mut rows, None, false, usize::MAX);
    let rows = rows
        .into_iter()
        .map(|r| (r.keys.into_iter().next().flatten(), r.sums))
        .collect();
    Ok((rep.range, rows))
}

/// One agent of the leaderboard.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardRow {
    /// Equal values share a rank (1, 2, 2, 4).
    pub rank: usize,
    pub agent_id: Option<String>,
    #[serde(flatten)]
    pub sums: SumsOut,
}

/// `GET /reports/leaderboard`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Leaderboard {
    #[serde(flatten)]
    pub head: Head,
    pub metric: &'static str,
    pub top: usize,
    pub rows: Vec<LeaderboardRow>,
}

/// The agents of a scope ranked by `metric`, the first `top` of them, as
/// `GET /reports/leaderboard` lists them (blocking; digests call it too).
pub fn ranked_agents(
    store: &Store,
    org: &OrgSettings,
    scope: &Scope,
    metric: Metric,
    top: usize,
    now_ms: i64,
) -> Result<(Range, Vec<LeaderboardRow>), ApiError> {
    let grouping = Grouping {
        groups: vec![params::Group::Dim(Dim::Agent)],
        names: vec!["agent".into()],
    };
    let rep = run_grouped(store, org, scope, grouping, now_ms)?;
    let mut rows = rep.rows;
    sort_rows(&mut rows, Some(metric), false, top);
    let mut out = Vec::new();
    let mut rank = 0;
    let mut prev: Option<i128> = None;
    for (i, r) in rows.iter().take(top).enumerate() {
        let v = metric.of(&r.sums);
        if prev != Some(v) {
            rank = i + 1;
            prev = Some(v);
        }
        out.push(LeaderboardRow {
            rank,
            agent_id: r.keys.first().cloned().flatten(),
            sums: SumsOut::from(&r.sums),
        });
    }
    Ok((rep.range, out))
}

/// `GET /reports/leaderboard`: agents ranked by `metric`. Pro.
pub async fn leaderboard(
    state: &Arc<App>,
    org: &Arc<OrgSettings>,
    p: &Params,
    now_ms: i64,
) -> Result<Leaderboard, ApiError> {
    require_pro(org, "reports other than usage")?;
    let scope = params::scope(p)?;
    let metric = params::metric(p, "metric")?.unwrap_or(Metric::HoursSaved);
    let top = params::top(p)?.unwrap_or(10);
    let (org2, scope2) = (org.clone(), scope.clone());
    let (range, rows) = super::gate::heavy(state, &org.id, move |st| {
        ranked_agents(&st.store, &org2, &scope2, metric, top, now_ms)
    })
    .await?;
    Ok(Leaderboard {
        head: Head::new(&range, &scope, org),
        metric: metric.as_str(),
        top,
        rows,
    })
}

/// Events of a range whose model had no price in force (their `unpriced_model` warning), by
/// model, most events first (blocking). Digests list them so someone adds the prices.
pub fn unpriced_models(
    store: &Store,
    org: &OrgSettings,
    range: &Range,
) -> Result<Vec<(String, i64)>, ApiError> {
    let mut rows = store.unpriced_models(&org.id, range.from, range.to)?;
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(rows)
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
    /// An agency tree's events this month (anchor and workspaces): what `events_included` is
    /// counted against. `None` off the agency plan.
    pub pool_events: Option<i64>,
    /// For an agency workspace: the anchor its events and overage are counted on.
    pub anchor: Option<String>,
}

/// Reads the usage of the month of `now` (blocking).
pub fn usage_data(
    st: &App,
    org: &OrgSettings,
    now: time::OffsetDateTime,
) -> Result<Usage, ApiError> {
    let month = clock::month(now);
    let used = st.store.usage(&org.id, &month)?;
    // An agency tree counts one pool, on the anchor; its overage is the anchor's alone.
    let pool = org
        .pool()
        .map(|anchor| st.store.pool_usage(anchor, &month))
        .transpose()?;
    let overage_events = match (&pool, &org.parent) {
        (Some(_), Some(_)) => 0,
        (Some(pool), None) => pool.overage_events,
        (None, _) => used.overage_events,
    };
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
    let hard_cap = ratelimit::hard_cap(org.plan, org.monthly_event_cap);
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
        overage_events,
        event_cap: hard_cap,
        rate_limit_per_second: st.config.plan_limits.per_second(org.plan).get(),
        pool_events: pool.map(|p| p.events),
        anchor: org.parent.clone().filter(|_| org.plan == Plan::Agency),
    })
}

/// `GET /reports/usage`: the billing month (UTC) of receipt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageReport {
    /// `free`, `pro`, `agency` or `enterprise`.
    pub plan: &'static str,
    pub currency: String,
    /// `2026-11`.
    pub month: String,
    #[schema(format = DateTime)]
    pub period_start: String,
    #[schema(format = DateTime)]
    pub period_end: String,
    /// The org's own events this month (an agency workspace's alone).
    pub events_this_month: i64,
    /// Free: its cap; agency: the tree's pool (25,000); enterprise: `null`.
    pub events_included: Option<u64>,
    /// Agency: the whole tree's events this month (anchor and workspaces), which
    /// `events_included` is counted against; `null` on other plans.
    pub pool_events_this_month: Option<i64>,
    /// Agency workspace: the anchor org its events and overage are counted on; `null` otherwise.
    pub anchor_org_id: Option<String>,
    /// Events past the included amount. Agency: the tree's, on the anchor; 0 on a workspace.
    pub overage_events: i64,
    /// What the overage events cost by the public tiers (API.md §12), in EUR whatever the
    /// org's currency, exact to the tenth of a cent (a tier's price is half a cent): €0.005
    /// an event for the first 50,000 over, €0.004 for the next 200,000, €0.003 for the next
    /// 750,000. `null` for plans without overage (free, enterprise) and on an agency
    /// workspace (billed on its anchor).
    pub overage_charge: Option<JsonDecimal>,
    /// `EUR`; `null` with `overage_charge`.
    pub overage_charge_currency: Option<&'static str>,
    /// Overage events past the last tier (a million over): priced by agreement, not in
    /// `overage_charge`. `null` with it.
    pub overage_events_by_agreement: Option<i64>,
    /// Where events are refused; `null`: never.
    pub event_cap: Option<u64>,
    pub rate_limit_per_second: u32,
}

/// `GET /reports/usage`: the billing month's counters and the plan's limits. All plans.
pub async fn usage(
    state: &Arc<App>,
    org: &Arc<OrgSettings>,
    now: time::OffsetDateTime,
) -> Result<UsageReport, ApiError> {
    let org2 = org.clone();
    let u = crate::blocking(state, move |st| usage_data(st, &org2, now)).await?;
    // Overage is counted only where the plan includes an amount and accepts more.
    let charge = (u.plan.has_pro_features() && u.events_included.is_some() && u.anchor.is_none())
        .then(|| ratelimit::overage_charge(u64::try_from(u.overage_events).unwrap_or(0)));
    let mills = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(UsageReport {
        plan: u.plan.as_str(),
        currency: org.currency.as_str().to_owned(),
        month: u.month,
        period_start: clock::format_ms(u.period_start),
        period_end: clock::format_ms(u.period_end),
        events_this_month: u.events_this_month,
        events_included: u.events_included,
        pool_events_this_month: u.pool_events,
        anchor_org_id: u.anchor,
        overage_events: u.overage_events,
        overage_charge: charge.map(|c| JsonDecimal(Decimal::new(mills(c.mills), 3))),
        overage_charge_currency: charge.map(|_| ratelimit::OVERAGE_CURRENCY),
        overage_events_by_agreement: charge.map(|c| mills(c.by_agreement)),
        event_cap: u.event_cap,
        rate_limit_per_second: u.rate_limit_per_second,
    })
}
