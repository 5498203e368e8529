//! The read side: sums of an org's events over a time range, grouped by dimensions and
//! optional time buckets, from the hourly rollups where they can answer and from the events
//! where they cannot.
//!
//! The plan: a query that groups or filters by at most one rollup dimension is answered from
//! `rollup_hourly` for every whole UTC hour inside its range that no bucket boundary cuts,
//! and from the events (an index range scan) only for the partial hours: the range's two ends
//! and, in time zones with :30/:45 offsets, the hours a local day starts in. Anything else
//! (two dimensions at once, a dimension crossed with a filter on another, `metadata.<key>`) is
//! a grouped scan of the events in the range, bounded by the events' one index,
//! `(org_id, occurred_at, agent_id, task_type)` (which also carries the agent and task-type
//! filters). Both paths
//! sum the events' own integers, so their answers are identical and exact.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::fold::{dim_column, Int, HOUR_SQL, WATERMARK_SQL};
use super::rollup::{hour_of, join, EVENT_SUMS_SQL, HOUR_MS};
use crate::schema::*;
use crate::{Backend, Store, StoreError};

/// A dimension a report can group by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    Agent,
    TaskType,
    Model,
    Outcome,
    /// The string value of `metadata.client`.
    Client,
    /// The value of a top-level metadata key (letters, digits, `_` and `-` only).
    Metadata(String),
}

impl Dim {
    /// The rollup dimension, when there is one.
    fn rollup(&self) -> Option<&'static str> {
        match self {
            Dim::Agent => Some("agent"),
            Dim::TaskType => Some("task_type"),
            Dim::Model => Some("model"),
            Dim::Outcome => Some("outcome"),
            Dim::Client => Some("client"),
            Dim::Metadata(_) => None,
        }
    }

    /// Whether a metadata key can be put into a JSON path safely.
    pub fn valid_metadata_key(key: &str) -> bool {
        (1..=64).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

/// Exact sums of a group of events, in the events' fixed-point units. Money is summed in 128
/// bits: 64 hold only about 9,224 events at the largest agent cost (see `rollup::SPLIT`).
/// Hours and counts stay 64-bit (one event saves at most 168,000 milli-hours).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub events: i64,
    pub hours_saved_milli: i64,
    pub cost_saved_cents: i128,
    /// The sum of the known agent costs only.
    pub agent_cost_micros: i128,
    /// How many events had a known agent cost.
    pub costed_events: i64,
}

impl Sums {
    /// Adds another group's sums.
    pub fn add(&mut self, o: &Sums) {
        self.events += o.events;
        self.hours_saved_milli += o.hours_saved_milli;
        self.cost_saved_cents += o.cost_saved_cents;
        self.agent_cost_micros += o.agent_cost_micros;
        self.costed_events += o.costed_events;
    }

    /// Events whose agent cost is unknown (an aggregate's net counts them at 0).
    pub fn events_without_cost(&self) -> i64 {
        self.events - self.costed_events
    }

    /// Net saved in millionths: Σ cost_saved − Σ agent_cost from the exact sums (API.md §8);
    /// round it only to show it ([`roi_engine::aggregate_net`]).
    pub fn net_saved_micros(&self) -> i128 {
        roi_engine::aggregate_net_micros(self.cost_saved_cents, self.agent_cost_micros)
    }
}

/// What to sum.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub org_id: String,
    /// Inclusive start, Unix ms.
    pub from_ms: i64,
    /// Exclusive end, Unix ms.
    pub to_ms: i64,
    pub dims: Vec<Dim>,
    /// Time buckets as ascending cut points: bucket `i` is `[cuts[i], cuts[i+1])`. The first
    /// cut is at or before `from_ms`, the last at or after `to_ms`.
    pub buckets: Option<Vec<i64>>,
    pub agent_id: Option<String>,
    pub task_type: Option<String>,
}

/// One group: its dimension values (in the order of `dims`, `None` = the event has none), its
/// time bucket (an index into the buckets), and its sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub keys: Vec<Option<String>>,
    pub bucket: Option<usize>,
    pub sums: Sums,
}

#[derive(Debug, QueryableByName)]
struct AggRow {
    #[diesel(sql_type = Nullable<Text>)]
    d0: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    d1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    d2: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    d3: Option<String>,
    #[diesel(sql_type = BigInt)]
    s: i64,
    #[diesel(sql_type = BigInt)]
    events: i64,
    #[diesel(sql_type = BigInt)]
    hours_saved_milli: i64,
    #[diesel(sql_type = BigInt)]
    cost_hi: i64,
    #[diesel(sql_type = BigInt)]
    cost_lo: i64,
    #[diesel(sql_type = BigInt)]
    agent_hi: i64,
    #[diesel(sql_type = BigInt)]
    agent_lo: i64,
    #[diesel(sql_type = BigInt)]
    costed_events: i64,
}

impl AggRow {
    fn sums(&self) -> Sums {
        Sums {
            events: self.events,
            hours_saved_milli: self.hours_saved_milli,
            cost_saved_cents: join(self.cost_hi, self.cost_lo),
            agent_cost_micros: join(self.agent_hi, self.agent_lo),
            costed_events: self.costed_events,
        }
    }
}

/// Most dimensions one report may group by.
pub const MAX_DIMS: usize = 4;

/// A bind value of the generated SQL.
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text with its binds, in order.
struct Sql {
    pg: bool,
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn new(pg: bool) -> Self {
        Sql {
            pg,
            text: String::new(),
            binds: Vec::new(),
        }
    }

    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    fn bind(&mut self, b: Bind) -> &mut Self {
        self.binds.push(b);
        if self.pg {
            let n = self.binds.len();
            self.text.push_str(&format!("${n}"));
        } else {
            self.text.push('?');
        }
        self
    }
}

/// Runs generated SQL on a concrete connection and loads the aggregate rows.
macro_rules! load_agg {
    ($c:expr, $sql:expr) => {{
        let mut q = diesel::sql_query($sql.text.clone()).into_boxed();
        for b in &$sql.binds {
            q = match b {
                Bind::Text(s) => q.bind::<Text, _>(s.clone()),
                Bind::Int(i) => q.bind::<BigInt, _>(*i),
            };
        }
        q.load::<AggRow>($c)?
    }};
}

/// The sums of a group of rollup rows, as [`AggRow`] names them.
const ROLLUP_SUMS_SQL: &str =
    "CAST(COALESCE(SUM(hours_saved_milli), 0) AS BIGINT) AS hours_saved_milli, \
     CAST(COALESCE(SUM(cost_saved_cents_hi), 0) AS BIGINT) AS cost_hi, \
     CAST(COALESCE(SUM(cost_saved_cents_lo), 0) AS BIGINT) AS cost_lo, \
     CAST(COALESCE(SUM(agent_cost_micros_hi), 0) AS BIGINT) AS agent_hi, \
     CAST(COALESCE(SUM(agent_cost_micros_lo), 0) AS BIGINT) AS agent_lo";

/// The widest slot (1 h, 15 min, 1 min, 1 s, 1 ms) that no bucket cut falls inside.
fn slot_width(cuts: &[i64]) -> i64 {
    [HOUR_MS, 900_000, 60_000, 1_000]
        .into_iter()
        .find(|w| cuts.iter().all(|c| c.rem_euclid(*w) == 0))
        .unwrap_or(1)
}

/// How the rows of a query are cut in time before Rust sorts them into buckets: `s` is the
/// number the SQL computes from a row's instant (`occurred_at`, or a rollup's `hour`), and
/// [`Grain::start`] the instant its slot starts at, which lies in the row's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grain {
    /// No buckets: every row in one slot.
    Total,
    /// Slots of `w` ms from the epoch (no bucket cut falls inside one).
    Slot(i64),
    /// The buckets themselves, when every bucket is `width` ms long (UTC days and weeks, and
    /// those of zones with a fixed offset): a row's slot is its bucket, so the database
    /// returns one row per group and bucket rather than per hour.
    Uniform { base: i64, width: i64 },
}

impl Grain {
    /// The grain of a query's events: the buckets when they are all one length, else the
    /// widest slot no inner cut falls inside.
    fn of(q: &ReportQuery) -> Grain {
        match q.buckets.as_deref() {
            None => Grain::Total,
            // Every instance a query reads is at or after the first cut, so the subtraction
            // is never negative (SQL division truncates toward zero).
            Some(cuts) => uniform(cuts)
                .filter(|_| cuts.first().is_some_and(|c| *c <= q.from_ms))
                .unwrap_or_else(|| Grain::Slot(slot_width(&q.inner_cuts()))),
        }
    }

    /// `s` of the SQL for the instant in `col` (`occurred_at`, `hour`, or an expression).
    fn push(self, sql: &mut Sql, col: &str) {
        match self {
            Grain::Total => {
                sql.push("CAST(0 AS BIGINT) AS s, ");
            }
            Grain::Slot(w) => {
                sql.push(&format!("{col} / "))
                    .bind(Bind::Int(w))
                    .push(" AS s, ");
            }
            Grain::Uniform { base, width } => {
                sql.push(&format!("({col} - "))
                    .bind(Bind::Int(base))
                    .push(") / ")
                    .bind(Bind::Int(width))
                    .push(" AS s, ");
            }
        }
    }

    /// Where the slot numbered `s` starts.
    fn start(self, s: i64) -> i64 {
        match self {
            Grain::Total => 0,
            Grain::Slot(w) => s * w,
            Grain::Uniform { base, width } => base + s * width,
        }
    }
}

/// [`Grain::Uniform`] for cuts that are all the same distance apart (two at least).
fn uniform(cuts: &[i64]) -> Option<Grain> {
    let (first, second) = (*cuts.first()?, *cuts.get(1)?);
    let width = second - first;
    (width > 0 && cuts.windows(2).all(|p| p[1] - p[0] == width))
        .then_some(Grain::Uniform { base: first, width })
}

/// The bucket holding `t`, if any.
fn bucket_of(cuts: &[i64], t: i64) -> Option<usize> {
    let i = cuts.partition_point(|c| *c <= t);
    (i >= 1 && i < cuts.len()).then(|| i - 1)
}

/// Accumulates groups.
#[derive(Default)]
struct Acc {
    groups: HashMap<(Vec<Option<String>>, Option<usize>), Sums>,
}

impl Acc {
    fn add(&mut self, keys: Vec<Option<String>>, bucket: Option<usize>, s: &Sums) {
        if s.events == 0 {
            return;
        }
        self.groups.entry((keys, bucket)).or_default().add(s);
    }

    fn rows(self) -> Vec<ReportRow> {
        self.groups
            .into_iter()
            .map(|((keys, bucket), sums)| ReportRow { keys, bucket, sums })
            .collect()
    }
}

impl ReportQuery {
    /// The one rollup dimension that can answer this query and the key to filter it by.
    fn rollup_plan(&self) -> Option<(&'static str, Option<String>)> {
        if self.dims.len() > 1 {
            return None;
        }
        let mut dim: Option<&'static str> = match self.dims.first() {
            Some(d) => Some(d.rollup()?),
            None => None,
        };
        let mut key: Option<String> = None;
        for (fdim, fval) in [("agent", &self.agent_id), ("task_type", &self.task_type)] {
            let Some(v) = fval else { continue };
            match dim {
                Some(d) if d != fdim => return None,
                _ => {
                    dim = Some(fdim);
                    key = Some(v.clone());
                }
            }
        }
        // With nothing to group or filter by, the outcome rollup (three values an hour) sums
        // to the totals.
        Some((dim.unwrap_or("outcome"), key))
    }

    /// The bucket cuts strictly inside the range.
    fn inner_cuts(&self) -> Vec<i64> {
        self.buckets
            .iter()
            .flatten()
            .copied()
            .filter(|c| *c > self.from_ms && *c < self.to_ms)
            .collect()
    }
}

fn dim_sql(sql: &mut Sql, d: &Dim) {
    match d {
        Dim::Agent => {
            sql.push("agent_id");
        }
        Dim::TaskType => {
            sql.push("task_type");
        }
        Dim::Model => {
            sql.push("model");
        }
        Dim::Outcome => {
            sql.push("outcome");
        }
        Dim::Client => {
            sql.push("client");
        }
        Dim::Metadata(k) => {
            // Scalars group by their text; objects and arrays are no groupable value.
            if sql.pg {
                sql.push("CASE jsonb_typeof(CAST(metadata AS jsonb) -> ")
                    .bind(Bind::Text(k.clone()))
                    .push(") WHEN 'object' THEN NULL WHEN 'array' THEN NULL ELSE CAST(metadata AS jsonb) ->> ")
                    .bind(Bind::Text(k.clone()))
                    .push(" END");
            } else {
                let path = format!("$.\"{k}\"");
                sql.push("CASE json_type(metadata, ")
                    .bind(Bind::Text(path.clone()))
                    .push(") WHEN 'object' THEN NULL WHEN 'array' THEN NULL WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(metadata, ")
                    .bind(Bind::Text(path))
                    .push(") AS TEXT) END");
            }
        }
    }
}

/// A grouped scan of the events in `ranges` (half-open, disjoint): one `SELECT` per range,
/// joined by `UNION ALL`, so each is an index range scan. (One `SELECT` with the ranges OR-ed
/// together made SQLite scan every event of the org once there were ten ranges or more: 3.1 s
/// instead of milliseconds for the 92 cut hours of 90 days in a +05:45 zone, 1M events.) A
/// group may come in several rows, one per range; the caller adds them up.
fn events_sql(pg: bool, q: &ReportQuery, dims: &[Dim], grain: Grain, ranges: &[(i64, i64)]) -> Sql {
    let mut sql = Sql::new(pg);
    for (n, (a, b)) in ranges.iter().enumerate() {
        if n > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push("SELECT ");
        for i in 0..MAX_DIMS {
            match dims.get(i) {
                Some(d) => {
                    sql.push("CAST(");
                    dim_sql(&mut sql, d);
                    sql.push(" AS TEXT)");
                }
                None => {
                    sql.push("CAST(NULL AS TEXT)");
                }
            }
            sql.push(&format!(" AS d{i}, "));
        }
        grain.push(&mut sql, "occurred_at");
        sql.push("CAST(COUNT(*) AS BIGINT) AS events, CAST(COUNT(agent_cost_micros) AS BIGINT) AS costed_events, ")
            .push(&EVENT_SUMS_SQL)
            .push(" FROM events WHERE org_id = ")
            .bind(Bind::Text(q.org_id.clone()));
        if let Some(a) = &q.agent_id {
            sql.push(" AND agent_id = ").bind(Bind::Text(a.clone()));
        }
        if let Some(t) = &q.task_type {
            sql.push(" AND task_type = ").bind(Bind::Text(t.clone()));
        }
        sql.push(" AND occurred_at >= ")
            .bind(Bind::Int(*a))
            .push(" AND occurred_at < ")
            .bind(Bind::Int(*b));
        let mut group: Vec<String> = (0..dims.len()).map(|i| format!("d{i}")).collect();
        if grain != Grain::Total {
            group.push("s".into());
        }
        if !group.is_empty() {
            sql.push(" GROUP BY ").push(&group.join(", "));
        }
    }
    sql
}

/// `AND <col> NOT IN (...)`: the hours a bucket cut falls inside, which the events answer.
fn skip_hours(sql: &mut Sql, col: &str, hours: &[i64]) {
    if hours.is_empty() {
        return;
    }
    sql.push(&format!(" AND {col} NOT IN ("));
    for (i, h) in hours.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(Bind::Int(*h));
    }
    sql.push(")");
}

/// The rollup rows of the whole hours `[h0, h1)` but `skip`, grouped by key and `grain`.
#[expect(
    clippy::too_many_arguments,
    reason = "one query's parts, each used once"
)]
fn rollup_sql(
    pg: bool,
    q: &ReportQuery,
    dim: &str,
    key: Option<&str>,
    grain: Grain,
    h0: i64,
    h1: i64,
    skip: &[i64],
) -> Sql {
    let mut sql = Sql::new(pg);
    sql.push("SELECT key AS d0, CAST(NULL AS TEXT) AS d1, CAST(NULL AS TEXT) AS d2, CAST(NULL AS TEXT) AS d3, ");
    grain.push(&mut sql, "hour");
    sql.push(
        "CAST(SUM(events) AS BIGINT) AS events, CAST(SUM(costed_events) AS BIGINT) AS costed_events, ",
    )
    .push(ROLLUP_SUMS_SQL)
    .push(" FROM rollup_hourly WHERE org_id = ")
    .bind(Bind::Text(q.org_id.clone()))
    .push(" AND dim = ")
    .bind(Bind::Text(dim.to_owned()))
    .push(" AND hour >= ")
    .bind(Bind::Int(h0))
    .push(" AND hour < ")
    .bind(Bind::Int(h1));
    if let Some(k) = key {
        sql.push(" AND key = ").bind(Bind::Text(k.to_owned()));
    }
    skip_hours(&mut sql, "hour", skip);
    sql.push(if grain == Grain::Total {
        " GROUP BY key"
    } else {
        " GROUP BY s, key"
    });
    sql
}

/// SQLite: the events past the rollups' watermark (not folded yet), summed like rollup rows
/// (`d0` = the dimension's key, `s` = the UTC hour or 0), over the same whole hours and key.
/// A rowid range scan from the watermark: the tail is at most a fold interval of events.
#[expect(
    clippy::too_many_arguments,
    reason = "one query's parts, each used once"
)]
fn tail_sql(
    q: &ReportQuery,
    dim: &str,
    key: Option<&str>,
    grain: Grain,
    h0: i64,
    h1: i64,
    skip: &[i64],
    watermark: i64,
) -> Sql {
    let col = dim_column(dim);
    let mut sql = Sql::new(false);
    sql.push(&format!(
        "SELECT CAST({col} AS TEXT) AS d0, CAST(NULL AS TEXT) AS d1, CAST(NULL AS TEXT) AS d2, CAST(NULL AS TEXT) AS d3, "
    ));
    grain.push(&mut sql, &format!("CAST({HOUR_SQL} AS BIGINT)"));
    sql.push("CAST(COUNT(*) AS BIGINT) AS events, CAST(COUNT(agent_cost_micros) AS BIGINT) AS costed_events, ")
        .push(&EVENT_SUMS_SQL)
        .push(" FROM events NOT INDEXED WHERE rowid > ")
        .bind(Bind::Int(watermark))
        .push(" AND org_id = ")
        .bind(Bind::Text(q.org_id.clone()))
        .push(" AND occurred_at >= ")
        .bind(Bind::Int(h0))
        .push(" AND occurred_at < ")
        .bind(Bind::Int(h1));
    if let Some(k) = key {
        sql.push(&format!(" AND {col} = "))
            .bind(Bind::Text(k.to_owned()));
    }
    skip_hours(&mut sql, HOUR_SQL, skip);
    sql.push(if grain == Grain::Total {
        " GROUP BY d0"
    } else {
        " GROUP BY d0, s"
    });
    sql
}

fn none_if_empty(k: Option<String>) -> Option<String> {
    k.filter(|s| !s.is_empty())
}

impl Store {
    /// Sums the events of a query, grouped by its dimensions and buckets. Rows come in no
    /// particular order; groups with no events are absent.
    pub fn report(&self, q: &ReportQuery) -> Result<Vec<ReportRow>, StoreError> {
        if q.dims.len() > MAX_DIMS {
            return Err(StoreError::Corrupt(format!(
                "at most {MAX_DIMS} dimensions per report"
            )));
        }
        if q.from_ms >= q.to_ms {
            return Ok(Vec::new());
        }
        let pg = self.backend() == Backend::Postgres;
        let cuts: &[i64] = q.buckets.as_deref().unwrap_or(&[]);
        let mut acc = Acc::default();
        let n_dims = q.dims.len();
        let keys_of = |r: &AggRow| -> Vec<Option<String>> {
            [&r.d0, &r.d1, &r.d2, &r.d3]
                .into_iter()
                .take(n_dims)
                .cloned()
                .map(none_if_empty)
                .collect()
        };
        let bucket_for = |slot_start: i64| -> Option<usize> {
            if q.buckets.is_some() {
                bucket_of(cuts, slot_start)
            } else {
                None
            }
        };
        let grain = Grain::of(q);
        let Some((dim, key)) = q.rollup_plan() else {
            // A grouped scan of every event in the range.
            let sql = events_sql(pg, q, &q.dims, grain, &[(q.from_ms, q.to_ms)]);
            let rows = with_conn!(self, |c| load_agg!(c, sql));
            for r in &rows {
                acc.add(keys_of(r), bucket_for(grain.start(r.s)), &r.sums());
            }
            return Ok(acc.rows());
        };

        // Hours a cut falls inside are read from the events; whole hours from the rollup.
        let mut raw_hours: BTreeSet<i64> = BTreeSet::new();
        for c in [q.from_ms, q.to_ms].into_iter().chain(q.inner_cuts()) {
            if c.rem_euclid(HOUR_MS) != 0 {
                raw_hours.insert(hour_of(c));
            }
        }
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for h in &raw_hours {
            let (a, b) = ((*h).max(q.from_ms), (h + HOUR_MS).min(q.to_ms));
            if a < b {
                match ranges.last_mut() {
                    Some(last) if last.1 == a => last.1 = b,
                    _ => ranges.push((a, b)),
                }
            }
        }
        let h0 = q.from_ms.div_euclid(HOUR_MS) * HOUR_MS
            + if q.from_ms.rem_euclid(HOUR_MS) == 0 {
                0
            } else {
                HOUR_MS
            };
        let h1 = hour_of(q.to_ms);
        // Whole hours are grouped by bucket when the buckets are one length, else by hour; the
        // hours a cut falls inside are left to the events.
        let rgrain = match grain {
            Grain::Slot(_) => Grain::Slot(HOUR_MS),
            other => other,
        };
        let skip: Vec<i64> = raw_hours
            .iter()
            .copied()
            .filter(|h| (h0..h1).contains(h))
            .collect();
        let rollup =
            (h0 < h1).then(|| rollup_sql(pg, q, dim, key.as_deref(), rgrain, h0, h1, &skip));
        let raws: Vec<Sql> = ranges
            .chunks(100)
            .map(|rs| events_sql(pg, q, &q.dims, grain, rs))
            .collect();
        // SQLite folds rollups after commit: the events past the watermark are added from the
        // events table, read in the same snapshot as the rollups (one read transaction).
        let deferred = self.rollups_deferred();
        let (rolled, raw_rows) = with_conn!(self, |c| {
            let read = |c: &mut _| {
                let mut rolled = match &rollup {
                    Some(sql) => load_agg!(c, sql),
                    None => Vec::new(),
                };
                if deferred && h0 < h1 {
                    let wm = diesel::sql_query(WATERMARK_SQL).get_result::<Int>(c)?.v;
                    let tail = tail_sql(q, dim, key.as_deref(), rgrain, h0, h1, &skip, wm);
                    rolled.extend(load_agg!(c, tail));
                }
                let mut raw_rows = Vec::new();
                for sql in &raws {
                    raw_rows.extend(load_agg!(c, sql));
                }
                Ok::<_, StoreError>((rolled, raw_rows))
            };
            // Only SQLite needs one snapshot for rollups, watermark and tail; PostgreSQL's
            // rollups are complete, so it saves the BEGIN/COMMIT round trips.
            if deferred {
                c.transaction(read)
            } else {
                read(c)
            }
        })?;
        for r in &rolled {
            let keys = if n_dims == 0 {
                Vec::new()
            } else {
                vec![none_if_empty(r.d0.clone())]
            };
            acc.add(keys, bucket_for(rgrain.start(r.s)), &r.sums());
        }
        for r in &raw_rows {
            acc.add(keys_of(r), bucket_for(grain.start(r.s)), &r.sums());
        }
        Ok(acc.rows())
    }

    /// The first and last `occurred_at` of an org's events, if it has any. Events past
    /// retention are deleted but their rollups kept, so the span starts at the first hour the
    /// rollups hold when that is earlier (every event is in the `outcome` dimension).
    pub fn event_span(&self, org_id: &str) -> Result<Option<(i64, i64)>, StoreError> {
        with_conn!(self, |c| {
            let rolled: Option<(i64, i64)> = {
                let mut by = |asc: bool| {
                    let q = rollup_hourly::table
                        .filter(rollup_hourly::org_id.eq(org_id))
                        .filter(rollup_hourly::dim.eq("outcome"))
                        .select(rollup_hourly::hour);
                    if asc {
                        q.order(rollup_hourly::hour.asc()).first::<i64>(c)
                    } else {
                        q.order(rollup_hourly::hour.desc()).first::<i64>(c)
                    }
                    .optional()
                };
                let first = by(true)?;
                let last = by(false)?;
                first.zip(last)
            };
            let first: Option<i64> = events::table
                .filter(events::org_id.eq(org_id))
                .select(events::occurred_at)
                .order(events::occurred_at.asc())
                .first(c)
                .optional()?;
            let last: Option<i64> = events::table
                .filter(events::org_id.eq(org_id))
                .select(events::occurred_at)
                .order(events::occurred_at.desc())
                .first(c)
                .optional()?;
            Ok(match (first.zip(last), rolled) {
                // The rollups' first hour only when it is before the first event's hour, so the
                // span does not change when a fold catches up with the newest events.
                (Some((f, l)), Some((rf, _))) if rf < hour_of(f) => Some((rf, l)),
                (Some(span), Some(_)) => Some(span),
                (Some(span), None) => Some(span),
                (None, rolled) => rolled,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(dims: Vec<Dim>, agent: Option<&str>, task: Option<&str>) -> ReportQuery {
        ReportQuery {
            org_id: "o".into(),
            from_ms: 0,
            to_ms: 1,
            dims,
            buckets: None,
            agent_id: agent.map(Into::into),
            task_type: task.map(Into::into),
        }
    }

    #[test]
    fn the_planner_uses_a_rollup_for_at_most_one_dimension() {
        let plan = |q: ReportQuery| q.rollup_plan();
        assert_eq!(plan(q(vec![], None, None)), Some(("outcome", None)));
        assert_eq!(plan(q(vec![Dim::Agent], None, None)), Some(("agent", None)));
        assert_eq!(
            plan(q(vec![Dim::Agent], Some("a"), None)),
            Some(("agent", Some("a".into())))
        );
        assert_eq!(
            plan(q(vec![], None, Some("t"))),
            Some(("task_type", Some("t".into())))
        );
        assert_eq!(plan(q(vec![Dim::Model], Some("a"), None)), None);
        assert_eq!(plan(q(vec![], Some("a"), Some("t"))), None);
        assert_eq!(plan(q(vec![Dim::Agent, Dim::Model], None, None)), None);
        assert_eq!(plan(q(vec![Dim::Metadata("k".into())], None, None)), None);
    }

    #[test]
    fn one_length_buckets_are_uniform() {
        let day = 24 * HOUR_MS;
        let base = 66_300_000; // 18:15 UTC: local midnight at +05:45
        let days: Vec<i64> = (0..5).map(|i| base + i * day).collect();
        assert_eq!(uniform(&days), Some(Grain::Uniform { base, width: day }));
        assert_eq!(Grain::Uniform { base, width: day }.start(3), days[3]);
        // A 25-hour day (a clock going back) is not, and neither is a single cut.
        assert_eq!(
            uniform(&[0, day, 2 * day + HOUR_MS, 3 * day + HOUR_MS]),
            None
        );
        assert_eq!(uniform(&[0]), None);
        assert_eq!(uniform(&[5, 5]), None);
        assert_eq!(Grain::Slot(HOUR_MS).start(7), 7 * HOUR_MS);
    }

    #[test]
    fn slots_and_buckets() {
        assert_eq!(slot_width(&[]), HOUR_MS);
        assert_eq!(slot_width(&[HOUR_MS * 5, HOUR_MS * 29]), HOUR_MS);
        assert_eq!(slot_width(&[HOUR_MS * 5 + 1_800_000]), 900_000);
        assert_eq!(slot_width(&[2_700_000]), 900_000);
        assert_eq!(slot_width(&[7]), 1);
        let cuts = [10, 20, 30];
        assert_eq!(bucket_of(&cuts, 9), None);
        assert_eq!(bucket_of(&cuts, 10), Some(0));
        assert_eq!(bucket_of(&cuts, 19), Some(0));
        assert_eq!(bucket_of(&cuts, 20), Some(1));
        assert_eq!(bucket_of(&cuts, 30), None);
        assert!(Dim::valid_metadata_key("team-1_x"));
        assert!(!Dim::valid_metadata_key("a.b"));
        assert!(!Dim::valid_metadata_key("a\"b"));
        assert!(!Dim::valid_metadata_key(""));
    }
}
