//! The read side: sums of an org's events over a time range, grouped by dimensions and
//! optional time buckets, from the rollups where they can answer and from the events where
//! they cannot.
//!
//! The plan: a query that groups and filters only by rollup fields (agent, task type, model,
//! outcome, client) is answered from the rollup with the fewest fields that holds them all
//! ([`ReportQuery::plan`]; `rollup.rs` lists the rollups). The range is cut into parts
//! ([`parts`]): the whole UTC days no bucket cut falls inside are read from the rollup's day
//! rows, the whole hours no cut falls inside from its hour rows (when it has them), and the
//! rest from the events, an index range scan each: the range's two ends and, in time zones with
//! :30/:45 offsets, the hour a local day starts in. Anything else (`metadata.<key>`, client
//! crossed with a field other than the agent) is a grouped scan of the events in the range,
//! bounded by the events' one index, `(org_id, occurred_at, agent_id, task_type)` (which also
//! carries the agent and task-type filters). Every path sums the events' own integers, so their
//! answers are identical and exact.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::fold::{Int, WATERMARK_SQL};
use super::rollup::{
    hour_of, join, key_sql, slot_of, slot_sql, split_key, Field, Rollup, DAY_MS, EVENT_SUMS_SQL,
    HOUR_MS, ROLLUPS, SEP,
};
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
    /// The rollup field, when there is one.
    fn field(&self) -> Option<Field> {
        match self {
            Dim::Agent => Some(Field::Agent),
            Dim::TaskType => Some(Field::TaskType),
            Dim::Model => Some(Field::Model),
            Dim::Outcome => Some(Field::Outcome),
            Dim::Client => Some(Field::Client),
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

/// The sums columns of a group, as every report query names them.
#[derive(Debug, QueryableByName)]
struct SumCols {
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

impl SumCols {
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

/// A group of events: its values of up to [`MAX_DIMS`] dimensions, its slot `s`, its sums.
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
    #[diesel(embed)]
    sums: SumCols,
}

/// A group of rollup rows (or of events summed like them): its rollup key `d0`, its slot `s`,
/// its sums. Fewer columns than [`AggRow`]: a five-dimension report by day reads some 350,000.
#[derive(Debug, QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    d0: String,
    #[diesel(sql_type = BigInt)]
    s: i64,
    #[diesel(embed)]
    sums: SumCols,
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
    ($c:expr, $sql:expr) => {
        load_agg!($c, $sql, AggRow)
    };
    ($c:expr, $sql:expr, $row:ty) => {{
        let mut q = diesel::sql_query($sql.text.clone()).into_boxed();
        for b in &$sql.binds {
            q = match b {
                Bind::Text(s) => q.bind::<Text, _>(s.clone()),
                Bind::Int(i) => q.bind::<BigInt, _>(*i),
            };
        }
        q.load::<$row>($c)?
    }};
}

/// The sums of a group of rollup rows, as [`AggRow`] names them.
const ROLLUP_SUMS_SQL: &str =
    "CAST(COALESCE(SUM(hours_saved_milli), 0) AS BIGINT) AS hours_saved_milli, \
     CAST(COALESCE(SUM(cost_saved_cents_hi), 0) AS BIGINT) AS cost_hi, \
     CAST(COALESCE(SUM(cost_saved_cents_lo), 0) AS BIGINT) AS cost_lo, \
     CAST(COALESCE(SUM(agent_cost_micros_hi), 0) AS BIGINT) AS agent_hi, \
     CAST(COALESCE(SUM(agent_cost_micros_lo), 0) AS BIGINT) AS agent_lo";

/// The same columns of single rollup rows, for a query whose rows are each a group already.
const ROLLUP_COLS_SQL: &str = "events, costed_events, hours_saved_milli, \
     cost_saved_cents_hi AS cost_hi, cost_saved_cents_lo AS cost_lo, \
     agent_cost_micros_hi AS agent_hi, agent_cost_micros_lo AS agent_lo";

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

    /// The grain of rows of a rollup of `width`-ms slots: its own slots in place of the
    /// events' (no cut falls inside a slot it is read for).
    fn of_rollup(self, width: i64) -> Grain {
        match self {
            Grain::Slot(_) => Grain::Slot(width),
            other => other,
        }
    }

    /// Whether rows of a rollup of `width`-ms slots must be summed in SQL to be one row per
    /// group: each rollup row is one (slot, key), so only a grain wider than the slot needs it.
    fn sums_rollup_rows(self, width: i64) -> bool {
        match self {
            Grain::Total => true,
            Grain::Slot(_) => false,
            Grain::Uniform { base, width: w } => w != width || base.rem_euclid(width) != 0,
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

/// Accumulates groups (a five-dimension report by day adds some 350,000 rows at 1M events:
/// hashed with foldhash, not SipHash).
struct Acc {
    groups: foldhash::HashMap<(Vec<Option<String>>, Option<usize>), Sums>,
}

impl Acc {
    fn with_capacity(n: usize) -> Self {
        Acc {
            groups: foldhash::HashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

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
    /// The rollup that answers this query: the one with the fewest fields among those that hold
    /// every field it groups or filters by (the outcome, three values, when it has none); `None`
    /// when no rollup holds them.
    fn plan(&self, kept: &'static [Rollup]) -> Option<Plan> {
        let mut need: Vec<Field> = Vec::new();
        for d in &self.dims {
            need.push(d.field()?);
        }
        if self.agent_id.is_some() {
            need.push(Field::Agent);
        }
        if self.task_type.is_some() {
            need.push(Field::TaskType);
        }
        if need.is_empty() {
            need.push(Field::Outcome);
        }
        let fields = kept
            .iter()
            .filter(|r| need.iter().all(|f| r.fields.contains(f)))
            .min_by_key(|r| r.fields.len())?
            .fields;
        let of_width = |w: i64| kept.iter().find(|r| r.width == w && r.fields == fields);
        Some(Plan {
            fields,
            day: of_width(DAY_MS),
            hour: of_width(HOUR_MS),
        })
    }

    /// The filter values of `fields` that lead the key, as a condition on it: the whole key
    /// when every field is filtered, else the filtered ones joined with a [`SEP`] after them.
    /// Filters on later fields are checked on each row ([`ReportQuery::project`]).
    fn key_cond(&self, fields: &[Field]) -> Option<KeyCond> {
        let mut prefix = String::new();
        let mut n = 0;
        for f in fields {
            let v = match f {
                Field::Agent => self.agent_id.as_deref(),
                Field::TaskType => self.task_type.as_deref(),
                _ => None,
            };
            let Some(v) = v else { break };
            if n > 0 {
                prefix.push(SEP);
            }
            prefix.push_str(v);
            n += 1;
        }
        if n == 0 {
            None
        } else if n == fields.len() {
            Some(KeyCond::Is(prefix))
        } else {
            prefix.push(SEP);
            Some(KeyCond::StartsWith(prefix))
        }
    }

    /// A rollup row's values of the query's dimensions, from its key in a rollup of `fields`;
    /// `None` when the row fails a filter.
    fn project(&self, fields: &[Field], key: &str) -> Option<Vec<Option<String>>> {
        let mut vals = [""; MAX_DIMS];
        for (v, part) in vals.iter_mut().zip(split_key(key, fields.len())) {
            *v = part;
        }
        let val = |f: Field| {
            fields
                .iter()
                .position(|g| *g == f)
                .and_then(|i| vals.get(i).copied())
        };
        for (f, want) in [
            (Field::Agent, &self.agent_id),
            (Field::TaskType, &self.task_type),
        ] {
            if let Some(w) = want {
                if val(f) != Some(w.as_str()) {
                    return None;
                }
            }
        }
        Some(
            self.dims
                .iter()
                .map(|d| {
                    d.field()
                        .and_then(val)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned)
                })
                .collect(),
        )
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

/// The rollups a query is read from: those keyed by `fields`, by day and by hour as the
/// database keeps them.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    fields: &'static [Field],
    day: Option<&'static Rollup>,
    hour: Option<&'static Rollup>,
}

/// A condition on rollup keys.
#[derive(Debug, PartialEq, Eq)]
enum KeyCond {
    Is(String),
    StartsWith(String),
}

impl KeyCond {
    fn push(&self, sql: &mut Sql) {
        match self {
            KeyCond::Is(k) => {
                sql.push(" AND key = ").bind(Bind::Text(k.clone()));
            }
            KeyCond::StartsWith(p) => {
                // Characters, as both SQLite and PostgreSQL count them in `substr`.
                let n = i64::try_from(p.chars().count()).unwrap_or(i64::MAX);
                sql.push(" AND substr(key, 1, CAST(")
                    .bind(Bind::Int(n))
                    .push(" AS INTEGER)) = ")
                    .bind(Bind::Text(p.clone()));
            }
        }
    }
}

/// A range cut into what answers each part: whole UTC days for the day rollup, whole hours
/// for the hour rollup, the rest for the events. No bucket cut falls inside a day or an hour
/// read from a rollup. Each list is ascending, adjacent ranges merged.
#[derive(Debug, Default, PartialEq, Eq)]
struct Parts {
    days: Vec<(i64, i64)>,
    hours: Vec<(i64, i64)>,
    raw: Vec<(i64, i64)>,
}

/// Appends `[a, b)` to ascending ranges, merged with the last when they touch.
fn push_range(v: &mut Vec<(i64, i64)>, a: i64, b: i64) {
    if a >= b {
        return;
    }
    match v.last_mut() {
        Some(last) if last.1 == a => last.1 = b,
        _ => v.push((a, b)),
    }
}

fn ceil_to(t: i64, w: i64) -> i64 {
    let f = slot_of(t, w);
    if f == t {
        t
    } else {
        f + w
    }
}

/// Cuts `[from, to)` at the ascending `cuts` strictly inside it, and each piece into whole
/// days (whole hours when not `daily`), whole hours (the events' when not `hourly`) and the
/// rest.
fn parts(from: i64, to: i64, cuts: &[i64], daily: bool, hourly: bool) -> Parts {
    let mut p = Parts::default();
    let points: Vec<i64> = std::iter::once(from)
        .chain(cuts.iter().copied())
        .chain(std::iter::once(to))
        .collect();
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (ha, hb) = (ceil_to(a, HOUR_MS), slot_of(b, HOUR_MS));
        if ha >= hb {
            push_range(&mut p.raw, a, b);
            continue;
        }
        let (da, db) = if daily {
            (ceil_to(a, DAY_MS), slot_of(b, DAY_MS))
        } else {
            (hb, hb)
        };
        push_range(&mut p.raw, a, ha);
        let hours = if hourly { &mut p.hours } else { &mut p.raw };
        if da < db {
            push_range(hours, ha, da);
            push_range(&mut p.days, da, db);
            let hours = if hourly { &mut p.hours } else { &mut p.raw };
            push_range(hours, db, hb);
        } else {
            push_range(hours, ha, hb);
        }
        push_range(&mut p.raw, hb, b);
    }
    p
}

/// Whether `t` lies in one of the ascending, disjoint `ranges`.
fn in_ranges(ranges: &[(i64, i64)], t: i64) -> bool {
    let i = ranges.partition_point(|r| r.1 <= t);
    ranges.get(i).is_some_and(|r| r.0 <= t)
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

/// The rows of `rollup` in `ranges` (slot starts, half-open), one `SELECT` each joined by
/// `UNION ALL`, keyed by the rollup's key (`d0`) and `grain`. A group may come in several rows;
/// the caller adds them up.
fn rollup_sql(
    pg: bool,
    q: &ReportQuery,
    rollup: &Rollup,
    grain: Grain,
    ranges: &[(i64, i64)],
    cond: Option<&KeyCond>,
) -> Sql {
    let mut sql = Sql::new(pg);
    let summed = grain.sums_rollup_rows(rollup.width);
    for (n, (a, b)) in ranges.iter().enumerate() {
        if n > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push("SELECT key AS d0, ");
        grain.push(&mut sql, "hour");
        if summed {
            sql.push("CAST(SUM(events) AS BIGINT) AS events, CAST(SUM(costed_events) AS BIGINT) AS costed_events, ")
                .push(ROLLUP_SUMS_SQL);
        } else {
            sql.push(ROLLUP_COLS_SQL);
        }
        sql.push(" FROM rollup_hourly WHERE org_id = ")
            .bind(Bind::Text(q.org_id.clone()))
            .push(" AND dim = ")
            .bind(Bind::Text(rollup.name.to_owned()))
            .push(" AND hour >= ")
            .bind(Bind::Int(*a))
            .push(" AND hour < ")
            .bind(Bind::Int(*b));
        if let Some(c) = cond {
            c.push(&mut sql);
        }
        if summed {
            sql.push(if grain == Grain::Total {
                " GROUP BY key"
            } else {
                " GROUP BY s, key"
            });
        }
    }
    sql
}

/// What is not folded yet (`fold.rs`): where it is read from.
enum Tail {
    /// SQLite: the events past the rollups' watermark. A rowid range scan from the watermark:
    /// the tail is at most a fold interval of events.
    PastWatermark(i64),
    /// PostgreSQL: `rollup_queue`, which holds a fold interval of every org's events.
    Queue,
}

/// The unfolded events in `[lo, hi)`, summed like rows of a rollup of `fields` by hour (`d0` =
/// the key, `s` = the UTC hour's start). The caller keeps the hours read from rollups that are
/// folded after commit.
fn tail_sql(q: &ReportQuery, fields: &[Field], lo: i64, hi: i64, tail: Tail) -> Sql {
    let pg = matches!(tail, Tail::Queue);
    let mut sql = Sql::new(pg);
    sql.push(&format!(
        "SELECT CAST({} AS TEXT) AS d0, CAST({} AS BIGINT) AS s, ",
        key_sql(fields, pg),
        slot_sql(HOUR_MS)
    ));
    sql.push("CAST(COUNT(*) AS BIGINT) AS events, CAST(COUNT(agent_cost_micros) AS BIGINT) AS costed_events, ")
        .push(&EVENT_SUMS_SQL);
    match tail {
        Tail::PastWatermark(wm) => {
            sql.push(" FROM events NOT INDEXED WHERE rowid > ")
                .bind(Bind::Int(wm));
        }
        Tail::Queue => {
            sql.push(" FROM rollup_queue WHERE TRUE");
        }
    }
    sql.push(" AND org_id = ")
        .bind(Bind::Text(q.org_id.clone()))
        .push(" AND occurred_at >= ")
        .bind(Bind::Int(lo))
        .push(" AND occurred_at < ")
        .bind(Bind::Int(hi));
    if let Some(a) = &q.agent_id {
        sql.push(" AND agent_id = ").bind(Bind::Text(a.clone()));
    }
    if let Some(t) = &q.task_type {
        sql.push(" AND task_type = ").bind(Bind::Text(t.clone()));
    }
    sql.push(" GROUP BY d0, s");
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
        let Some(plan) = q.plan(&ROLLUPS) else {
            // A grouped scan of every event in the range.
            let sql = events_sql(pg, q, &q.dims, grain, &[(q.from_ms, q.to_ms)]);
            let rows = with_conn!(self, |c| load_agg!(c, sql));
            let mut acc = Acc::with_capacity(rows.len());
            for r in &rows {
                acc.add(keys_of(r), bucket_for(grain.start(r.s)), &r.sums.sums());
            }
            return Ok(acc.rows());
        };

        let p = parts(
            q.from_ms,
            q.to_ms,
            &q.inner_cuts(),
            plan.day.is_some(),
            plan.hour.is_some(),
        );
        let fields = plan.fields;
        let cond = q.key_cond(fields);
        // Each rollup's rows, in statements of at most 100 ranges, with the grain they are in.
        let mut rollups: Vec<(Sql, Grain)> = Vec::new();
        for (rollup, ranges) in [(plan.day, &p.days), (plan.hour, &p.hours)] {
            let Some(rollup) = rollup else { continue };
            let rgrain = grain.of_rollup(rollup.width);
            for chunk in ranges.chunks(100) {
                rollups.push((
                    rollup_sql(pg, q, rollup, rgrain, chunk, cond.as_ref()),
                    rgrain,
                ));
            }
        }
        let raws: Vec<Sql> = p
            .raw
            .chunks(100)
            .map(|rs| events_sql(pg, q, &q.dims, grain, rs))
            .collect();
        // Where rollups folded after commit were read, ascending: the unfolded tail counts only
        // there (the others hold every committed event).
        let in_tx = self.tx_rollups();
        let mut deferred_ranges: Vec<(i64, i64)> = [(plan.day, &p.days), (plan.hour, &p.hours)]
            .into_iter()
            .filter(|(r, _)| r.is_some_and(|r| !in_tx.contains(r)))
            .flat_map(|(_, ranges)| ranges.iter().copied())
            .collect();
        deferred_ranges.sort_unstable();
        let span = deferred_ranges
            .first()
            .zip(deferred_ranges.last())
            .map(|(f, l)| (f.0, l.1));
        // The unfolded events are added from the events past the watermark (SQLite) or the
        // queue (PostgreSQL), read in the same snapshot as the rollups: one read transaction,
        // on PostgreSQL at REPEATABLE READ (a fold moves events from the queue to the rollups in
        // one commit).
        let (rolled, tail, raw_rows) = with_conn!(self, |c| {
            let read = |c: &mut _| {
                if pg && span.is_some() {
                    diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                        .execute(c)?;
                }
                let mut rolled = Vec::new();
                for (sql, g) in &rollups {
                    rolled.push((load_agg!(c, sql, KeyRow), *g));
                }
                let mut tail = Vec::new();
                if let Some((lo, hi)) = span {
                    let from = if pg {
                        Tail::Queue
                    } else {
                        Tail::PastWatermark(
                            diesel::sql_query(WATERMARK_SQL).get_result::<Int>(c)?.v,
                        )
                    };
                    let sql = tail_sql(q, fields, lo, hi, from);
                    tail = load_agg!(c, sql, KeyRow);
                }
                let mut raw_rows = Vec::new();
                for sql in &raws {
                    raw_rows.extend(load_agg!(c, sql));
                }
                Ok::<_, StoreError>((rolled, tail, raw_rows))
            };
            // Without a tail (PostgreSQL's hourly single fields) the rollups are complete, and
            // the BEGIN/COMMIT round trips are saved.
            if span.is_some() {
                c.transaction(read)
            } else {
                read(c)
            }
        })?;
        let key_of = |r: &KeyRow| q.project(fields, &r.d0);
        let n: usize = rolled.iter().map(|(rows, _)| rows.len()).sum();
        let mut acc = Acc::with_capacity(n + tail.len() + raw_rows.len());
        for (rows, g) in &rolled {
            for r in rows {
                if let Some(keys) = key_of(r) {
                    acc.add(keys, bucket_for(g.start(r.s)), &r.sums.sums());
                }
            }
        }
        // A tail row's hour lies in a day or hour read from the rollup, where no cut falls, so
        // its start is in the bucket of each of its events.
        for r in tail.iter().filter(|r| in_ranges(&deferred_ranges, r.s)) {
            if let Some(keys) = key_of(r) {
                acc.add(keys, bucket_for(r.s), &r.sums.sums());
            }
        }
        for r in &raw_rows {
            acc.add(keys_of(r), bucket_for(grain.start(r.s)), &r.sums.sums());
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
    use super::super::rollup::{PG_TX_ROLLUPS, ROLLUPS};
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
    fn the_planner_picks_the_rollup_with_the_fewest_fields_that_holds_the_query() {
        let plan = |q: ReportQuery| {
            q.plan(&ROLLUPS)
                .map(|p| (p.day.map_or("-", |d| d.name), p.hour.map(|h| h.name)))
        };
        assert_eq!(
            plan(q(vec![], None, None)),
            Some(("outcome@day", Some("outcome")))
        );
        assert_eq!(
            plan(q(vec![Dim::Agent], Some("a"), None)),
            Some(("agent@day", Some("agent")))
        );
        assert_eq!(
            plan(q(vec![], None, Some("t"))),
            Some(("task_type@day", Some("task_type")))
        );
        assert_eq!(
            plan(q(vec![Dim::TaskType], Some("a"), None)),
            Some(("agent+task_type@day", Some("agent+task_type")))
        );
        assert_eq!(
            plan(q(vec![Dim::Client], Some("a"), None)),
            Some(("agent+client@day", Some("agent+client")))
        );
        assert_eq!(
            plan(q(vec![Dim::Model, Dim::Outcome], None, Some("t"))),
            Some((
                "task_type+model+outcome@day",
                Some("task_type+model+outcome")
            ))
        );
        // Agent and model meet only in the four-field rollup, which has no hour rows.
        assert_eq!(
            plan(q(vec![Dim::Model], Some("a"), None)),
            Some(("agent+task_type+model+outcome@day", None))
        );
        assert_eq!(plan(q(vec![Dim::Client, Dim::Model], None, None)), None);
        assert_eq!(plan(q(vec![Dim::Metadata("k".into())], None, None)), None);
        // With only the hourly single fields, a crossed shape has no rollup.
        let singles = |q: ReportQuery| {
            q.plan(PG_TX_ROLLUPS)
                .map(|p| (p.day.is_some(), p.hour.map(|h| h.name)))
        };
        assert_eq!(
            singles(q(vec![Dim::Agent], None, None)),
            Some((false, Some("agent")))
        );
        assert_eq!(singles(q(vec![Dim::TaskType], Some("a"), None)), None);
    }

    #[test]
    fn filters_that_lead_the_key_become_a_key_condition_and_rows_are_projected() {
        use super::Field::*;
        let qa = q(vec![Dim::Client], Some("a"), None);
        assert_eq!(
            qa.key_cond(&[Agent, Client]),
            Some(KeyCond::StartsWith("a\u{1f}".into()))
        );
        assert_eq!(
            qa.project(&[Agent, Client], "a\u{1f}c\u{1f}d"),
            Some(vec![Some("c\u{1f}d".into())])
        );
        assert_eq!(qa.project(&[Agent, Client], "ab\u{1f}c"), None);
        assert_eq!(qa.project(&[Agent, Client], "a\u{1f}"), Some(vec![None]));
        let both = q(vec![], Some("a"), Some("t"));
        assert_eq!(
            both.key_cond(&[Agent, TaskType]),
            Some(KeyCond::Is("a\u{1f}t".into()))
        );
        // A filter on a later field only: no condition, each row is checked.
        let qt = q(vec![Dim::Agent], None, Some("t"));
        assert_eq!(qt.key_cond(&[Agent, TaskType, Model, Outcome]), None);
        let four = [Agent, TaskType, Model, Outcome];
        assert_eq!(
            qt.project(&four, "a\u{1f}t\u{1f}\u{1f}success"),
            Some(vec![Some("a".into())])
        );
        assert_eq!(qt.project(&four, "a\u{1f}u\u{1f}m\u{1f}success"), None);
    }

    #[test]
    fn a_range_is_cut_into_whole_days_whole_hours_and_the_rest() {
        let (h, d) = (HOUR_MS, DAY_MS);
        // 90 minutes into day 0 to 30 minutes into day 3, no cuts.
        let from = 90 * 60_000;
        let to = 3 * d + 30 * 60_000;
        let p = parts(from, to, &[], true, true);
        assert_eq!(p.days, vec![(d, 3 * d)]);
        assert_eq!(p.hours, vec![(2 * h, d)]);
        assert_eq!(p.raw, vec![(from, 2 * h), (3 * d, to)]);
        // Without day rows, the days are hours.
        let p = parts(from, to, &[], false, true);
        assert!(p.days.is_empty());
        assert_eq!(p.hours, vec![(2 * h, 3 * d)]);
        assert_eq!(p.raw, vec![(from, 2 * h), (3 * d, to)]);
        // Without hour rows, the hours are the events'.
        let p = parts(from, to, &[], true, false);
        assert_eq!(p.days, vec![(d, 3 * d)]);
        assert!(p.hours.is_empty());
        assert_eq!(p.raw, vec![(from, d), (3 * d, to)]);
        // Local midnights at +05:45 (18:15 UTC) cut every day: no whole day is left, and the
        // hour each falls in is read from the events.
        let cut = |i: i64| i * d + 18 * h + 15 * 60_000;
        let p = parts(0, 3 * d, &[cut(0), cut(1), cut(2)], true, true);
        assert!(p.days.is_empty());
        assert_eq!(
            p.hours,
            vec![
                (0, 18 * h),
                (19 * h, d + 18 * h),
                (d + 19 * h, 2 * d + 18 * h),
                (2 * d + 19 * h, 3 * d)
            ]
        );
        assert_eq!(
            p.raw,
            vec![
                (18 * h, 19 * h),
                (d + 18 * h, d + 19 * h),
                (2 * d + 18 * h, 2 * d + 19 * h)
            ]
        );
        // A cut on a day boundary leaves both days whole; a range inside one hour is all events.
        let p = parts(0, 2 * d, &[d], true, true);
        assert_eq!(p.days, vec![(0, 2 * d)]);
        assert!(p.hours.is_empty() && p.raw.is_empty());
        assert_eq!(parts(5, 10, &[7], true, true).raw, vec![(5, 10)]);
        // Every millisecond of the range is in exactly one part.
        for (from, to, cuts) in [
            (from, to, vec![]),
            (-7 * h - 5, 9 * d + 13, vec![cut(2), cut(5), 6 * d]),
        ] {
            let p = parts(from, to, &cuts, true, true);
            let mut all: Vec<(i64, i64)> = [p.days, p.hours, p.raw].concat();
            all.sort_unstable();
            assert_eq!(all.first().unwrap().0, from);
            assert_eq!(all.last().unwrap().1, to);
            assert!(all.windows(2).all(|w| w[0].1 == w[1].0));
        }
        assert!(in_ranges(&[(0, 10), (20, 30)], 20));
        assert!(!in_ranges(&[(0, 10), (20, 30)], 10));
        assert!(!in_ranges(&[(0, 10), (20, 30)], 30));
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
