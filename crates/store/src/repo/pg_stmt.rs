//! PostgreSQL's multi-row statements of the group commit, as `INSERT … SELECT * FROM
//! UNNEST(…)` with one array parameter per column.
//!
//! diesel's multi-row `insert_into(..).values(&rows)` has SQL that changes with the number of
//! rows, so it is never kept as a prepared statement: PostgreSQL parsed, analysed and planned
//! every batch's statements again, about a third of the time of the one backend that serves
//! the writer (perf, `docs/decisions.md`). With an array per column the SQL never changes:
//! diesel prepares each statement once per connection and PostgreSQL plans it once. The column
//! lists are shared with SQLite's statements (`bulk.rs`); the PostgreSQL pass of the tests
//! reads every column back.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};

use super::bulk::NewClaim;
use super::bulk::{
    AGENT_CONFLICT, INSERT_AGENT, INSERT_CLAIM, INSERT_EVENT, INSERT_ROLLUP, INSERT_USAGE,
    ROLLUP_CONFLICT,
};
use crate::models::{AgentRow, EventRow, RollupRow, UsageRow};

/// Pushes ` SELECT * FROM UNNEST($1, $2, …)` with each column bound as an array of its type.
macro_rules! unnest {
    ($out:ident; $t0:ty => $v0:expr $(, $t:ty => $v:expr)* $(,)?) => {{
        $out.push_sql(" SELECT * FROM UNNEST(");
        $out.push_bind_param::<Array<$t0>, _>($v0)?;
        $(
            $out.push_sql(", ");
            $out.push_bind_param::<Array<$t>, _>($v)?;
        )*
        $out.push_sql(")");
    }};
}

/// Declares a statement over columns borrowed from rows, with a static query id.
macro_rules! statement {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        pub(crate) struct $name<'a> {
            $($field: Vec<$ty>,)*
        }

        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<Conn> RunQueryDsl<Conn> for $name<'_> {}
    };
}

statement!(
    /// `INSERT INTO events`, many rows.
    InsertEvents {
        id: &'a str,
        org_id: &'a str,
        agent_id: &'a str,
        task_type: &'a str,
        outcome: &'a str,
        occurred_at: i64,
        received_at: i64,
        agent_duration_seconds: &'a str,
        model: Option<&'a str>,
        tokens_in: Option<i64>,
        tokens_out: Option<i64>,
        baseline_minutes: &'a str,
        baseline_source: &'a str,
        hourly_rate: &'a str,
        rate_source: &'a str,
        currency: &'a str,
        cost_source: &'a str,
        price_input_usd_per_mtok: Option<&'a str>,
        price_output_usd_per_mtok: Option<&'a str>,
        fx_rate: Option<&'a str>,
        hours_saved_milli: i64,
        cost_saved_cents: i64,
        agent_cost_micros: Option<i64>,
        net_saved_cents: i64,
        client: Option<&'a str>,
        metadata: Option<&'a str>,
        audit_sample: Option<&'a str>,
        warnings: Option<&'a str>,
    }
);

impl<'a> InsertEvents<'a> {
    pub(crate) fn new(rows: &[&'a EventRow]) -> Self {
        Self {
            id: rows.iter().map(|r| r.id.as_str()).collect(),
            org_id: rows.iter().map(|r| r.org_id.as_str()).collect(),
            agent_id: rows.iter().map(|r| r.agent_id.as_str()).collect(),
            task_type: rows.iter().map(|r| r.task_type.as_str()).collect(),
            outcome: rows.iter().map(|r| r.outcome.as_str()).collect(),
            occurred_at: rows.iter().map(|r| r.occurred_at).collect(),
            received_at: rows.iter().map(|r| r.received_at).collect(),
            agent_duration_seconds: rows
                .iter()
                .map(|r| r.agent_duration_seconds.as_str())
                .collect(),
            model: rows.iter().map(|r| r.model.as_deref()).collect(),
            tokens_in: rows.iter().map(|r| r.tokens_in).collect(),
            tokens_out: rows.iter().map(|r| r.tokens_out).collect(),
            baseline_minutes: rows.iter().map(|r| r.baseline_minutes.as_str()).collect(),
            baseline_source: rows.iter().map(|r| r.baseline_source.as_str()).collect(),
            hourly_rate: rows.iter().map(|r| r.hourly_rate.as_str()).collect(),
            rate_source: rows.iter().map(|r| r.rate_source.as_str()).collect(),
            currency: rows.iter().map(|r| r.currency.as_str()).collect(),
            cost_source: rows.iter().map(|r| r.cost_source.as_str()).collect(),
            price_input_usd_per_mtok: rows
                .iter()
                .map(|r| r.price_input_usd_per_mtok.as_deref())
                .collect(),
            price_output_usd_per_mtok: rows
                .iter()
                .map(|r| r.price_output_usd_per_mtok.as_deref())
                .collect(),
            fx_rate: rows.iter().map(|r| r.fx_rate.as_deref()).collect(),
            hours_saved_milli: rows.iter().map(|r| r.hours_saved_milli).collect(),
            cost_saved_cents: rows.iter().map(|r| r.cost_saved_cents).collect(),
            agent_cost_micros: rows.iter().map(|r| r.agent_cost_micros).collect(),
            net_saved_cents: rows.iter().map(|r| r.net_saved_cents).collect(),
            client: rows.iter().map(|r| r.client.as_deref()).collect(),
            metadata: rows.iter().map(|r| r.metadata.as_deref()).collect(),
            audit_sample: rows.iter().map(|r| r.audit_sample.as_deref()).collect(),
            warnings: rows.iter().map(|r| r.warnings.as_deref()).collect(),
        }
    }
}

impl QueryFragment<Pg> for InsertEvents<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(INSERT_EVENT);
        unnest!(out;
            Text => &self.id,
            Text => &self.org_id,
            Text => &self.agent_id,
            Text => &self.task_type,
            Text => &self.outcome,
            BigInt => &self.occurred_at,
            BigInt => &self.received_at,
            Text => &self.agent_duration_seconds,
            Nullable<Text> => &self.model,
            Nullable<BigInt> => &self.tokens_in,
            Nullable<BigInt> => &self.tokens_out,
            Text => &self.baseline_minutes,
            Text => &self.baseline_source,
            Text => &self.hourly_rate,
            Text => &self.rate_source,
            Text => &self.currency,
            Text => &self.cost_source,
            Nullable<Text> => &self.price_input_usd_per_mtok,
            Nullable<Text> => &self.price_output_usd_per_mtok,
            Nullable<Text> => &self.fx_rate,
            BigInt => &self.hours_saved_milli,
            BigInt => &self.cost_saved_cents,
            Nullable<BigInt> => &self.agent_cost_micros,
            BigInt => &self.net_saved_cents,
            Nullable<Text> => &self.client,
            Nullable<Text> => &self.metadata,
            Nullable<Text> => &self.audit_sample,
            Nullable<Text> => &self.warnings,
        );
        Ok(())
    }
}

statement!(
    /// `INSERT INTO rollup_queue`: what the folded rollups need of each new event.
    QueueEvents {
        org_id: &'a str,
        occurred_at: i64,
        agent_id: &'a str,
        task_type: &'a str,
        model: Option<&'a str>,
        outcome: &'a str,
        client: Option<&'a str>,
        hours_saved_milli: i64,
        cost_saved_cents: i64,
        agent_cost_micros: Option<i64>,
    }
);

impl<'a> QueueEvents<'a> {
    pub(crate) fn new(rows: &[&'a EventRow]) -> Self {
        Self {
            org_id: rows.iter().map(|r| r.org_id.as_str()).collect(),
            occurred_at: rows.iter().map(|r| r.occurred_at).collect(),
            agent_id: rows.iter().map(|r| r.agent_id.as_str()).collect(),
            task_type: rows.iter().map(|r| r.task_type.as_str()).collect(),
            model: rows.iter().map(|r| r.model.as_deref()).collect(),
            outcome: rows.iter().map(|r| r.outcome.as_str()).collect(),
            client: rows.iter().map(|r| r.client.as_deref()).collect(),
            hours_saved_milli: rows.iter().map(|r| r.hours_saved_milli).collect(),
            cost_saved_cents: rows.iter().map(|r| r.cost_saved_cents).collect(),
            agent_cost_micros: rows.iter().map(|r| r.agent_cost_micros).collect(),
        }
    }
}

impl QueryFragment<Pg> for QueueEvents<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO rollup_queue (org_id, occurred_at, agent_id, task_type, model, \
             outcome, client, hours_saved_milli, cost_saved_cents, agent_cost_micros)",
        );
        unnest!(out;
            Text => &self.org_id,
            BigInt => &self.occurred_at,
            Text => &self.agent_id,
            Text => &self.task_type,
            Nullable<Text> => &self.model,
            Text => &self.outcome,
            Nullable<Text> => &self.client,
            BigInt => &self.hours_saved_milli,
            BigInt => &self.cost_saved_cents,
            Nullable<BigInt> => &self.agent_cost_micros,
        );
        Ok(())
    }
}

statement!(
    /// `INSERT INTO idempotency_keys … ON CONFLICT DO NOTHING RETURNING org_id, idem_key`: the
    /// keys that were free, now claimed. Rows are inserted in the order given.
    ClaimKeys {
        org_id: &'a str,
        idem_key: &'a str,
        fingerprint: &'a str,
        event_id: &'a str,
        created_at: i64,
    }
);

impl<'a> ClaimKeys<'a> {
    pub(crate) fn new(rows: &'a [NewClaim<'a>]) -> Self {
        Self {
            org_id: rows.iter().map(|r| r.org_id).collect(),
            idem_key: rows.iter().map(|r| r.idem_key).collect(),
            fingerprint: rows.iter().map(|r| r.fingerprint.as_str()).collect(),
            event_id: rows.iter().map(|r| r.event_id).collect(),
            created_at: rows.iter().map(|r| r.created_at).collect(),
        }
    }
}

impl Query for ClaimKeys<'_> {
    type SqlType = (Text, Text);
}

impl QueryFragment<Pg> for ClaimKeys<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(INSERT_CLAIM);
        unnest!(out;
            Text => &self.org_id,
            Text => &self.idem_key,
            Text => &self.fingerprint,
            Text => &self.event_id,
            BigInt => &self.created_at,
        );
        out.push_sql(" ON CONFLICT DO NOTHING RETURNING org_id, idem_key");
        Ok(())
    }
}

statement!(
    /// Creates agents, or moves their last-seen time (rows must name each agent once).
    UpsertAgents {
        org_id: &'a str,
        agent_id: &'a str,
        hourly_rate: Option<&'a str>,
        first_seen_at: i64,
        last_seen_at: i64,
    }
);

impl<'a> UpsertAgents<'a> {
    pub(crate) fn new(rows: &'a [AgentRow]) -> Self {
        Self {
            org_id: rows.iter().map(|r| r.org_id.as_str()).collect(),
            agent_id: rows.iter().map(|r| r.agent_id.as_str()).collect(),
            hourly_rate: rows.iter().map(|r| r.hourly_rate.as_deref()).collect(),
            first_seen_at: rows.iter().map(|r| r.first_seen_at).collect(),
            last_seen_at: rows.iter().map(|r| r.last_seen_at).collect(),
        }
    }
}

impl QueryFragment<Pg> for UpsertAgents<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(INSERT_AGENT);
        unnest!(out;
            Text => &self.org_id,
            Text => &self.agent_id,
            Nullable<Text> => &self.hourly_rate,
            BigInt => &self.first_seen_at,
            BigInt => &self.last_seen_at,
            BigInt => &self.first_seen_at,
        );
        out.push_sql(AGENT_CONFLICT);
        Ok(())
    }
}

statement!(
    /// Adds deltas to the hourly rollups (rows must name each rollup row once).
    UpsertRollups {
        org_id: &'a str,
        dim: &'a str,
        hour: i64,
        key: &'a str,
        events: i64,
        hours_saved_milli: i64,
        cost_saved_cents_hi: i64,
        cost_saved_cents_lo: i64,
        agent_cost_micros_hi: i64,
        agent_cost_micros_lo: i64,
        costed_events: i64,
    }
);

impl<'a> UpsertRollups<'a> {
    pub(crate) fn new(rows: &'a [RollupRow]) -> Self {
        Self {
            org_id: rows.iter().map(|r| r.org_id.as_str()).collect(),
            dim: rows.iter().map(|r| r.dim.as_str()).collect(),
            hour: rows.iter().map(|r| r.hour).collect(),
            key: rows.iter().map(|r| r.key.as_str()).collect(),
            events: rows.iter().map(|r| r.events).collect(),
            hours_saved_milli: rows.iter().map(|r| r.hours_saved_milli).collect(),
            cost_saved_cents_hi: rows.iter().map(|r| r.cost_saved_cents_hi).collect(),
            cost_saved_cents_lo: rows.iter().map(|r| r.cost_saved_cents_lo).collect(),
            agent_cost_micros_hi: rows.iter().map(|r| r.agent_cost_micros_hi).collect(),
            agent_cost_micros_lo: rows.iter().map(|r| r.agent_cost_micros_lo).collect(),
            costed_events: rows.iter().map(|r| r.costed_events).collect(),
        }
    }
}

impl QueryFragment<Pg> for UpsertRollups<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(INSERT_ROLLUP);
        unnest!(out;
            Text => &self.org_id,
            Text => &self.dim,
            BigInt => &self.hour,
            Text => &self.key,
            BigInt => &self.events,
            BigInt => &self.hours_saved_milli,
            BigInt => &self.cost_saved_cents_hi,
            BigInt => &self.cost_saved_cents_lo,
            BigInt => &self.agent_cost_micros_hi,
            BigInt => &self.agent_cost_micros_lo,
            BigInt => &self.costed_events,
        );
        out.push_sql(ROLLUP_CONFLICT);
        Ok(())
    }
}

statement!(
    /// Adds each row's `events` to its (org, month) usage counter, creating it, and returns
    /// the counters after the addition. Rows are inserted, and their counters locked, in the
    /// order given.
    CountUsage {
        org_id: &'a str,
        month: &'a str,
        events: i64,
        overage_events: i64,
    }
);

impl<'a> CountUsage<'a> {
    pub(crate) fn new(rows: &'a [UsageRow]) -> Self {
        Self {
            org_id: rows.iter().map(|r| r.org_id.as_str()).collect(),
            month: rows.iter().map(|r| r.month.as_str()).collect(),
            events: rows.iter().map(|r| r.events).collect(),
            overage_events: rows.iter().map(|r| r.overage_events).collect(),
        }
    }
}

impl Query for CountUsage<'_> {
    type SqlType = (Text, Text, BigInt);
}

impl QueryFragment<Pg> for CountUsage<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(INSERT_USAGE);
        unnest!(out;
            Text => &self.org_id,
            Text => &self.month,
            BigInt => &self.events,
            BigInt => &self.overage_events,
        );
        out.push_sql(
            " ON CONFLICT (org_id, month) DO UPDATE SET \
             events = monthly_usage.events + excluded.events \
             RETURNING org_id, month, events",
        );
        Ok(())
    }
}
