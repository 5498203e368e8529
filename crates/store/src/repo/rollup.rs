//! The rollups: what one batch of events adds to them, and the upsert that adds it.
//!
//! A rollup sums an org's events per time slot (a UTC hour or a UTC day) and per value of a
//! few of the events' fields. Every event adds to each rollup in [`ROLLUPS`], on both
//! backends: each single field (agent, task type, model, outcome, client) by hour and by
//! day; the pairs a person drills down with (agent × task type, agent × client, task type ×
//! model × outcome) by hour and by day; and agent × task type × model × outcome by day. When
//! is said in `fold.rs`: on SQLite all of them after commit; on PostgreSQL the hourly single
//! fields in the event's transaction ([`PG_TX_ROLLUPS`]) and the others after it, from a
//! queue. A rollup keyed by every
//! field at once barely compresses realistic data (about 8,000 combinations a day among 11,000
//! events at 1M events over 90 days), while one keyed by a pair holds about 600 rows a day
//! whatever the event count. Day rows answer the whole UTC days of a range; hour rows its
//! whole hours at the edges and around a zone's midnight; the events the rest (see
//! `reports.rs`).
//!
//! All rollups share one table, `rollup_hourly`: `dim` names the rollup ([`Rollup::name`]),
//! `hour` is the slot's start, and `key` the fields' values joined by [`SEP`] (U+001F), in the
//! rollup's order. Only `client` may contain that character, and it is always last, so a key
//! splits back unambiguously ([`split_key`]).

use foldhash::HashMap;

use crate::models::{EventRow, RollupRow};

/// Sums of money are kept in two 64-bit halves, `hi × SPLIT + lo`: each event adds its value
/// divided by `SPLIT` to `hi` and the remainder to `lo` (truncating, as in SQLite and
/// PostgreSQL). One event's largest value (an agent cost of 10^9, i.e. 10^15 millionths) adds
/// at most 10^7 to `hi` and less than 10^8 to `lo`, so a sum of over 9 × 10^10 events fits
/// where a single 64-bit sum overflowed after about 9,224; readers add the halves in 128 bits.
pub(crate) const SPLIT: i64 = 100_000_000;
/// [`SPLIT`] in SQL text.
pub(crate) const SPLIT_SQL: &str = "100000000";

/// The sums of a group of events, summed the way the rollups hold them (money in halves), as
/// `hours_saved_milli, cost_hi, cost_lo, agent_hi, agent_lo`: the report queries read these
/// names, and the SQLite fold inserts them into the rollup columns of the same order. Built
/// once.
pub(crate) static EVENT_SUMS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let b = SPLIT_SQL;
    format!(
        "CAST(COALESCE(SUM(hours_saved_milli), 0) AS BIGINT) AS hours_saved_milli, \
         CAST(COALESCE(SUM(cost_saved_cents / {b}), 0) AS BIGINT) AS cost_hi, \
         CAST(COALESCE(SUM(cost_saved_cents % {b}), 0) AS BIGINT) AS cost_lo, \
         CAST(COALESCE(SUM(agent_cost_micros / {b}), 0) AS BIGINT) AS agent_hi, \
         CAST(COALESCE(SUM(agent_cost_micros % {b}), 0) AS BIGINT) AS agent_lo"
    )
});

/// A sum of money in two halves (see [`SPLIT`]); [`join`] gives its value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) hi: i64,
    pub(crate) lo: i64,
}

impl Split {
    /// Adds one event's value.
    pub(crate) fn add(&mut self, v: i64) {
        self.hi += v / SPLIT;
        self.lo += v % SPLIT;
    }
}

/// The sum held in halves `hi` and `lo`.
pub(crate) fn join(hi: i64, lo: i64) -> i128 {
    i128::from(hi) * i128::from(SPLIT) + i128::from(lo)
}

/// Milliseconds in an hour: the hourly rollups' slot.
pub(crate) const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a day: the daily rollups' slot.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Joins the fields of a rollup key.
pub(crate) const SEP: char = '\u{1f}';

/// A field of the events that rollups are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Agent,
    TaskType,
    Model,
    Outcome,
    /// The string `metadata.client`.
    Client,
}

impl Field {
    /// This field's value in a rollup key ('' = none).
    fn of(self, e: &EventRow) -> &str {
        match self {
            Field::Agent => &e.agent_id,
            Field::TaskType => &e.task_type,
            Field::Model => e.model.as_deref().unwrap_or(""),
            Field::Outcome => &e.outcome,
            Field::Client => e.client.as_deref().unwrap_or(""),
        }
    }

    /// The same value in SQL over the events table.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Field::Agent => "agent_id",
            Field::TaskType => "task_type",
            Field::Model => "COALESCE(model, '')",
            Field::Outcome => "outcome",
            Field::Client => "COALESCE(client, '')",
        }
    }
}

/// One rollup: the events' sums per `width`-ms UTC slot and per value of `fields`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rollup {
    /// `rollup_hourly.dim`.
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
    pub(crate) width: i64,
}

use Field::{Agent, Client, Model, Outcome, TaskType};

const fn r(name: &'static str, fields: &'static [Field], width: i64) -> Rollup {
    Rollup {
        name,
        fields,
        width,
    }
}

/// Every rollup kept. The single fields come first, the outcome first of all: with nothing
/// to group or filter by, its three values an hour sum to the totals.
pub(crate) const ROLLUPS: [Rollup; 17] = [
    r("outcome", &[Outcome], HOUR_MS),
    r("agent", &[Agent], HOUR_MS),
    r("task_type", &[TaskType], HOUR_MS),
    r("model", &[Model], HOUR_MS),
    r("client", &[Client], HOUR_MS),
    r("outcome@day", &[Outcome], DAY_MS),
    r("agent@day", &[Agent], DAY_MS),
    r("task_type@day", &[TaskType], DAY_MS),
    r("model@day", &[Model], DAY_MS),
    r("client@day", &[Client], DAY_MS),
    r("agent+task_type", &[Agent, TaskType], HOUR_MS),
    r("agent+task_type@day", &[Agent, TaskType], DAY_MS),
    r("agent+client", &[Agent, Client], HOUR_MS),
    r("agent+client@day", &[Agent, Client], DAY_MS),
    r(
        "task_type+model+outcome",
        &[TaskType, Model, Outcome],
        HOUR_MS,
    ),
    r(
        "task_type+model+outcome@day",
        &[TaskType, Model, Outcome],
        DAY_MS,
    ),
    r(
        "agent+task_type+model+outcome@day",
        &[Agent, TaskType, Model, Outcome],
        DAY_MS,
    ),
];

/// The rollups PostgreSQL writes in each event's transaction: the hourly single fields (the
/// first five of [`ROLLUPS`]). Written there too, the others cut `/track` to 0.57×, so they are
/// folded from `rollup_queue` after commit (docs/decisions.md, "PostgreSQL folds the crossed
/// rollups from a queue").
pub(crate) const PG_TX_ROLLUPS: &[Rollup] = ROLLUPS.split_at(5).0;

/// The start of the `width`-ms UTC slot that holds `ms` (floor, also before 1970).
pub(crate) fn slot_of(ms: i64, width: i64) -> i64 {
    ms.div_euclid(width) * width
}

/// The start of the UTC hour that holds `ms`.
pub(crate) fn hour_of(ms: i64) -> i64 {
    slot_of(ms, HOUR_MS)
}

/// The start of the `width`-ms UTC slot that holds `occurred_at`, in SQL (floor, like
/// [`hour_of`]).
pub(crate) fn slot_sql(width: i64) -> String {
    format!("(occurred_at - (((occurred_at % {width}) + {width}) % {width}))")
}

/// An event's key in a rollup of `fields`, written into `buf`.
fn key_into(buf: &mut String, fields: &[Field], e: &EventRow) {
    buf.clear();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            buf.push(SEP);
        }
        buf.push_str(f.of(e));
    }
}

/// The key of a rollup of `fields` in SQL, as [`key_into`] builds it (`pg`: PostgreSQL's
/// spelling of the separator).
pub(crate) fn key_sql(fields: &[Field], pg: bool) -> String {
    let sep = if pg {
        " || chr(31) || "
    } else {
        " || char(31) || "
    };
    fields
        .iter()
        .map(|f| f.column())
        .collect::<Vec<_>>()
        .join(sep)
}

/// A key's field values, in the rollup's order ('' = none). Every field but the last is
/// free of [`SEP`], so the last takes whatever follows the others.
pub(crate) fn split_key(key: &str, n: usize) -> impl Iterator<Item = &str> {
    key.splitn(n, SEP)
}

/// The deltas of a batch of events to `rollups`, one row per (org, rollup, slot, key), so a
/// batch never names one rollup row twice (PostgreSQL refuses that within one upsert), sorted by
/// that key so that concurrent transactions lock rollup rows in one order.
pub(crate) fn rollup_deltas<'a>(
    events: impl IntoIterator<Item = &'a EventRow>,
    rollups: &'static [Rollup],
) -> Vec<RollupRow> {
    let mut acc = RollupAcc::of(rollups);
    acc.add(events);
    let mut rows = acc.rows();
    rows.sort_unstable_by(|a, b| {
        (&a.org_id, &a.dim, a.hour, &a.key).cmp(&(&b.org_id, &b.dim, b.hour, &b.key))
    });
    rows
}

/// Rollup deltas summed in memory over many batches, one row per (org, rollup, slot, key), with
/// the number of events they hold. The SQLite writer keeps one between folds and adds every
/// batch it commits, so adding looks rows up by borrowed strings (the org, then a key built in
/// one reused buffer) and allocates only for a row it has not seen since the last fold.
#[derive(Debug)]
pub struct RollupAcc {
    rollups: &'static [Rollup],
    /// org → (index in `rollups`, slot start) → key → sums.
    rows: HashMap<String, BySlot>,
    events: i64,
    key: String,
}

/// An org's rows: (index in the rollups, slot start) → key → sums.
type BySlot = HashMap<(usize, i64), HashMap<String, Sums>>;

/// Every rollup (SQLite's writer).
impl Default for RollupAcc {
    fn default() -> Self {
        RollupAcc::of(&ROLLUPS)
    }
}

/// The sums of one rollup row.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    events: i64,
    hours_saved_milli: i64,
    cost_saved_cents: Split,
    agent_cost_micros: Split,
    costed_events: i64,
}

impl RollupAcc {
    /// Deltas to `rollups`.
    pub(crate) fn of(rollups: &'static [Rollup]) -> Self {
        RollupAcc {
            rollups,
            rows: HashMap::default(),
            events: 0,
            key: String::new(),
        }
    }

    /// Adds these events' deltas.
    pub fn add<'a>(&mut self, events: impl IntoIterator<Item = &'a EventRow>) {
        for e in events {
            self.events += 1;
            let org = match self.rows.get_mut(e.org_id.as_str()) {
                Some(org) => org,
                None => self.rows.entry(e.org_id.clone()).or_default(),
            };
            for (i, rollup) in self.rollups.iter().enumerate() {
                let slot = slot_of(e.occurred_at, rollup.width);
                let by_key = org.entry((i, slot)).or_default();
                key_into(&mut self.key, rollup.fields, e);
                let s = match by_key.get_mut(self.key.as_str()) {
                    Some(s) => s,
                    None => by_key.entry(self.key.clone()).or_default(),
                };
                s.events += 1;
                s.hours_saved_milli += e.hours_saved_milli;
                s.cost_saved_cents.add(e.cost_saved_cents);
                if let Some(c) = e.agent_cost_micros {
                    s.agent_cost_micros.add(c);
                    s.costed_events += 1;
                }
            }
        }
    }

    /// Events added.
    pub fn events(&self) -> i64 {
        self.events
    }

    /// The summed deltas, each rollup row once.
    pub fn rows(&self) -> Vec<RollupRow> {
        let mut out = Vec::new();
        for (org, by_slot) in &self.rows {
            for (&(i, slot), by_key) in by_slot {
                for (key, s) in by_key {
                    out.push(RollupRow {
                        org_id: org.clone(),
                        dim: self.rollups[i].name.to_owned(),
                        hour: slot,
                        key: key.clone(),
                        events: s.events,
                        hours_saved_milli: s.hours_saved_milli,
                        cost_saved_cents_hi: s.cost_saved_cents.hi,
                        cost_saved_cents_lo: s.cost_saved_cents.lo,
                        agent_cost_micros_hi: s.agent_cost_micros.hi,
                        agent_cost_micros_lo: s.agent_cost_micros.lo,
                        costed_events: s.costed_events,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(org: &str, agent: &str, at: i64, model: Option<&str>, cost: Option<i64>) -> EventRow {
        EventRow {
            id: format!("evt_{at}_{agent}"),
            org_id: org.into(),
            agent_id: agent.into(),
            task_type: "ticket_routing".into(),
            outcome: "success".into(),
            occurred_at: at,
            received_at: at,
            agent_duration_seconds: "0".into(),
            model: model.map(Into::into),
            tokens_in: None,
            tokens_out: None,
            baseline_minutes: "2".into(),
            baseline_source: "builtin".into(),
            hourly_rate: "45".into(),
            rate_source: "org".into(),
            currency: "EUR".into(),
            cost_source: "none".into(),
            price_input_usd_per_mtok: None,
            price_output_usd_per_mtok: None,
            fx_rate: None,
            hours_saved_milli: 33,
            cost_saved_cents: 149,
            agent_cost_micros: cost,
            net_saved_cents: 149 - cost.unwrap_or(0) / 10_000,
            client: None,
            metadata: None,
            audit_sample: None,
            warnings: None,
        }
    }

    #[test]
    fn one_row_per_dimension_value_and_hour() {
        let evs = [
            event("o", "a", 10, Some("m"), Some(20_000)),
            event("o", "a", HOUR_MS - 1, None, None),
            event("o", "b", HOUR_MS, None, None),
        ];
        let rows = rollup_deltas(&evs, &ROLLUPS);
        let find = |dim: &str, hour: i64, key: &str| {
            rows.iter()
                .find(|r| r.dim == dim && r.hour == hour && r.key == key)
                .cloned()
        };
        let a = find("agent", 0, "a").unwrap();
        assert_eq!(
            (a.events, a.hours_saved_milli, a.cost_saved_cents_lo),
            (2, 66, 298)
        );
        assert_eq!((a.agent_cost_micros_lo, a.costed_events), (20_000, 1));
        assert_eq!(find("model", 0, "").unwrap().events, 1);
        assert_eq!(find("model", 0, "m").unwrap().events, 1);
        assert_eq!(find("agent", HOUR_MS, "b").unwrap().events, 1);
        // By day, and crossed: the fields joined in the rollup's order.
        assert_eq!(find("agent@day", 0, "a").unwrap().events, 2);
        assert_eq!(
            find("agent+task_type", 0, "a\u{1f}ticket_routing")
                .unwrap()
                .events,
            2
        );
        assert_eq!(find("agent+client@day", 0, "b\u{1f}").unwrap().events, 1);
        let quad = find(
            "agent+task_type+model+outcome@day",
            0,
            "a\u{1f}ticket_routing\u{1f}m\u{1f}success",
        )
        .unwrap();
        assert_eq!((quad.events, quad.agent_cost_micros_lo), (1, 20_000));
        assert_eq!(
            find(
                "task_type+model+outcome",
                HOUR_MS,
                "ticket_routing\u{1f}\u{1f}success"
            )
            .unwrap()
            .events,
            1
        );
        // Every rollup sums to the same totals, and names each row once.
        for rollup in &ROLLUPS {
            let n: i64 = rows
                .iter()
                .filter(|r| r.dim == rollup.name)
                .map(|r| r.events)
                .sum();
            assert_eq!(n, 3, "{}", rollup.name);
        }
        // PostgreSQL's in-transaction ones are the hourly single fields.
        let pg: Vec<_> = PG_TX_ROLLUPS.iter().map(|r| r.name).collect();
        assert_eq!(pg, ["outcome", "agent", "task_type", "model", "client"]);
        assert!(PG_TX_ROLLUPS
            .iter()
            .all(|r| r.width == HOUR_MS && r.fields.len() == 1));
        let mut names: Vec<_> = ROLLUPS.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ROLLUPS.len());
        assert_eq!(hour_of(-1), -HOUR_MS);
    }

    #[test]
    fn keys_split_back_into_their_fields_even_when_the_client_holds_the_separator() {
        let mut e = event("o", "a", 10, None, None);
        e.client = Some("x\u{1f}y".into());
        let mut buf = String::new();
        key_into(&mut buf, &[Field::Agent, Field::Client], &e);
        assert_eq!(split_key(&buf, 2).collect::<Vec<_>>(), ["a", "x\u{1f}y"]);
        assert_eq!(
            key_sql(&[Field::Agent, Field::Model], false),
            "agent_id || char(31) || COALESCE(model, '')"
        );
        assert_eq!(
            key_sql(&[Field::Agent, Field::Model], true),
            "agent_id || chr(31) || COALESCE(model, '')"
        );
        assert_eq!(
            slot_sql(DAY_MS),
            "(occurred_at - (((occurred_at % 86400000) + 86400000) % 86400000))"
        );
        // The client is last wherever it is a field.
        for r in &ROLLUPS {
            let at = r.fields.iter().position(|f| *f == Field::Client);
            assert!(at.is_none_or(|i| i + 1 == r.fields.len()), "{}", r.name);
        }
    }

    #[test]
    fn an_accumulator_over_batches_equals_the_deltas_of_all_at_once() {
        let evs = [
            event("o", "a", 10, Some("m"), Some(20_000)),
            event("o", "a", 20, None, None),
            event("p", "a", 30, Some("m"), Some(5)),
            event("o", "b", HOUR_MS + 5, None, Some(7)),
        ];
        let mut acc = RollupAcc::default();
        acc.add(&evs[..1]);
        acc.add(&evs[1..3]);
        acc.add(&evs[3..]);
        assert_eq!(acc.events(), 4);
        let mut got = acc.rows();
        let mut want = rollup_deltas(&evs, &ROLLUPS);
        let order = |r: &RollupRow| (r.org_id.clone(), r.dim.clone(), r.hour, r.key.clone());
        got.sort_by_key(order);
        want.sort_by_key(order);
        assert_eq!(got, want);
    }

    #[test]
    fn money_sums_in_halves_stay_exact_past_64_bits() {
        assert_eq!(SPLIT.to_string(), SPLIT_SQL);
        let max = 1_000_000_000_000_000_i64; // an agent cost of 10^9, in millionths
        let mut s = Split::default();
        for _ in 0..10_000 {
            s.add(max);
        }
        assert_eq!(join(s.hi, s.lo), 10_000 * i128::from(max));
        assert!(join(s.hi, s.lo) > i128::from(i64::MAX));
        let mut t = Split::default();
        for v in [123_456_789_012, 99_999_999, 1, 0] {
            t.add(v);
        }
        assert_eq!(
            t,
            Split {
                hi: 1_234,
                lo: 56_789_012 + 99_999_999 + 1
            }
        );
        assert_eq!(join(t.hi, t.lo), 123_456_789_012 + 99_999_999 + 1);
        // The rows of a batch carry the halves.
        let evs = [
            event("o", "a", 10, None, Some(max)),
            event("o", "a", 20, None, Some(max)),
        ];
        let a = rollup_deltas(&evs, &ROLLUPS)
            .into_iter()
            .find(|r| r.dim == "agent")
            .unwrap();
        assert_eq!(
            join(a.agent_cost_micros_hi, a.agent_cost_micros_lo),
            2 * i128::from(max)
        );
    }
}
