//! The hourly rollups: what one batch of events adds to them, and the upsert that adds it.
//!
//! Every event adds one row per dimension (agent, task type, model, outcome, client) to the
//! UTC hour it occurred in. Rows are keyed by one dimension each, not by all of them together:
//! a rollup keyed by every combination barely compresses realistic data, while one keyed by a
//! single dimension holds at most (hours × distinct values) rows whatever the event count.

use std::collections::HashMap;

use crate::models::{EventRow, RollupRow};

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
    cost_saved_cents: i64,
    agent_cost_micros: i64,
    costed_events: i64,
    net_saved_cents: i64,
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
                s.cost_saved_cents += e.cost_saved_cents;
                s.net_saved_cents += e.net_saved_cents;
                if let Some(c) = e.agent_cost_micros {
                    s.agent_cost_micros += c;
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
                            cost_saved_cents: s.cost_saved_cents,
                            agent_cost_micros: s.agent_cost_micros,
                            costed_events: s.costed_events,
                            net_saved_cents: s.net_saved_cents,
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
            (a.events, a.hours_saved_milli, a.cost_saved_cents),
            (2, 66, 298)
        );
        assert_eq!((a.agent_cost_micros, a.costed_events), (20_000, 1));
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
}
