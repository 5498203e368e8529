//! The hourly rollups: what one batch of events adds to them, and the upsert that adds it.
//!
//! Every event adds one row per dimension (agent, task type, model, outcome, client) to the
//! UTC hour it occurred in. Rows are keyed by one dimension each, not by all of them together:
//! a rollup keyed by every combination barely compresses realistic data, while one keyed by a
//! single dimension holds at most (hours × distinct values) rows whatever the event count.

use std::collections::HashMap;

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

/// Milliseconds in an hour: the rollups' bucket width.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The dimensions kept in the rollups, as stored in `rollup_hourly.dim`.
pub(crate) const ROLLUP_DIMS: [&str; 5] = ["agent", "task_type", "model", "outcome", "client"];

/// The start of the UTC hour that holds `ms`.
pub(crate) fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

fn dim_key<'e>(e: &'e EventRow, dim: &str) -> &'e str {
    match dim {
        "agent" => &e.agent_id,
        "task_type" => &e.task_type,
        "model" => e.model.as_deref().unwrap_or(""),
        "outcome" => &e.outcome,
        _ => e.client.as_deref().unwrap_or(""),
    }
}

/// The rollup deltas of a batch of events, one row per (org, dim, hour, key), so a batch never
/// names one rollup row twice (PostgreSQL refuses that within one upsert), sorted by that key
/// so that concurrent transactions lock rollup rows in one order.
pub(crate) fn rollup_deltas<'a>(events: impl IntoIterator<Item = &'a EventRow>) -> Vec<RollupRow> {
    let mut acc = RollupAcc::default();
    acc.add(events);
    let mut rows = acc.rows();
    rows.sort_unstable_by(|a, b| {
        (&a.org_id, &a.dim, a.hour, &a.key).cmp(&(&b.org_id, &b.dim, b.hour, &b.key))
    });
    rows
}

/// Rollup deltas summed in memory over many batches, one row per (org, dim, hour, key), with
/// the number of events they hold. The SQLite writer keeps one between folds and adds every
/// batch it commits, so adding looks rows up by the event's borrowed strings (org, hour, then a
/// key per dimension) and allocates only for a row it has not seen since the last fold.
#[derive(Debug, Default)]
pub struct RollupAcc {
    /// org → hour → per dimension (index in `ROLLUP_DIMS`): key → sums.
    rows: HashMap<String, HashMap<i64, ByDim>>,
    events: i64,
}

/// The rows of one org and hour: per dimension (index in `ROLLUP_DIMS`), key → sums.
type ByDim = [HashMap<String, Sums>; ROLLUP_DIMS.len()];

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
    /// Adds these events' deltas.
    pub fn add<'a>(&mut self, events: impl IntoIterator<Item = &'a EventRow>) {
        for e in events {
            self.events += 1;
            let org = match self.rows.get_mut(e.org_id.as_str()) {
                Some(org) => org,
                None => self.rows.entry(e.org_id.clone()).or_default(),
            };
            let by_dim = org.entry(hour_of(e.occurred_at)).or_default();
            for (dim, by_key) in ROLLUP_DIMS.iter().zip(by_dim.iter_mut()) {
                let key = dim_key(e, dim);
                let s = match by_key.get_mut(key) {
                    Some(s) => s,
                    None => by_key.entry(key.to_owned()).or_default(),
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
        for (org, by_hour) in &self.rows {
            for (&hour, by_dim) in by_hour {
                for (dim, by_key) in ROLLUP_DIMS.iter().zip(by_dim) {
                    for (key, s) in by_key {
                        out.push(RollupRow {
                            org_id: org.clone(),
                            dim: (*dim).to_owned(),
                            hour,
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
        let rows = rollup_deltas(&evs);
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
        // Every dimension sums to the same totals.
        for dim in ROLLUP_DIMS {
            let n: i64 = rows.iter().filter(|r| r.dim == dim).map(|r| r.events).sum();
            assert_eq!(n, 3, "{dim}");
        }
        assert_eq!(hour_of(-1), -HOUR_MS);
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
        let mut want = rollup_deltas(&evs);
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
        let a = rollup_deltas(&evs)
            .into_iter()
            .find(|r| r.dim == "agent")
            .unwrap();
        assert_eq!(
            join(a.agent_cost_micros_hi, a.agent_cost_micros_lo),
            2 * i128::from(max)
        );
    }
}
