//! The SQLite group commit's per-row statements, written out with a static query id.
//!
//! diesel builds the SQL of an `insert_into(..).values(row)` again at every execution (its
//! insert values have no static query id, since a SQLite insert cannot say `DEFAULT`) and walks
//! the statement twice more to find it in its statement cache: about a fifth of the writer's
//! time in a profile, for statements that never change. These fragments push fixed SQL and
//! their binds, so the cache finds the prepared statement by type and only the binds are
//! walked. The column lists are shared with PostgreSQL's statements (`bulk.rs`); the tests
//! read every column back.

use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl};

use super::bulk::{
    NewClaim, AGENT_CONFLICT, INSERT_AGENT, INSERT_CLAIM, INSERT_EVENT, INSERT_ROLLUP,
    INSERT_USAGE, ROLLUP_CONFLICT,
};
use crate::models::{AgentRow, EventRow, RollupRow, UsageRow};

/// Pushes `(?, ?, …)` with each value bound as its SQL type.
macro_rules! values {
    ($out:ident; $t0:ty => $v0:expr $(, $t:ty => $v:expr)* $(,)?) => {{
        $out.push_sql(" VALUES (");
        $out.push_bind_param::<$t0, _>($v0)?;
        $(
            $out.push_sql(", ");
            $out.push_bind_param::<$t, _>($v)?;
        )*
        $out.push_sql(")");
    }};
}

/// Declares a statement over one borrowed row, with a static query id.
macro_rules! statement {
    ($(#[$doc:meta])* $name:ident($row:ty)) => {
        $(#[$doc])*
        pub(crate) struct $name<'a>(pub(crate) &'a $row);

        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<Conn> RunQueryDsl<Conn> for $name<'_> {}
    };
}

statement!(
    /// `INSERT INTO events`, one row.
    InsertEvent(EventRow)
);

impl QueryFragment<Sqlite> for InsertEvent<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let e = self.0;
        out.push_sql(INSERT_EVENT);
        values!(out;
            Text => &e.id,
            Text => &e.org_id,
            Text => &e.agent_id,
            Text => &e.task_type,
            Text => &e.outcome,
            BigInt => &e.occurred_at,
            BigInt => &e.received_at,
            Text => &e.agent_duration_seconds,
            Nullable<Text> => &e.model,
            Nullable<BigInt> => &e.tokens_in,
            Nullable<BigInt> => &e.tokens_out,
            Text => &e.baseline_minutes,
            Text => &e.baseline_source,
            Text => &e.hourly_rate,
            Text => &e.rate_source,
            Text => &e.currency,
            Text => &e.cost_source,
            Nullable<Text> => &e.price_input_usd_per_mtok,
            Nullable<Text> => &e.price_output_usd_per_mtok,
            Nullable<Text> => &e.fx_rate,
            BigInt => &e.hours_saved_milli,
            BigInt => &e.cost_saved_cents,
            Nullable<BigInt> => &e.agent_cost_micros,
            BigInt => &e.net_saved_cents,
            Nullable<Text> => &e.client,
            Nullable<Text> => &e.metadata,
            Nullable<Text> => &e.audit_sample,
            Nullable<Text> => &e.warnings,
        );
        Ok(())
    }
}

statement!(
    /// `INSERT INTO idempotency_keys … ON CONFLICT DO NOTHING`: affects one row when the key
    /// was free, none when it was taken.
    ClaimKey(NewClaim<'a>)
);

impl QueryFragment<Sqlite> for ClaimKey<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let k = self.0;
        out.push_sql(INSERT_CLAIM);
        values!(out;
            Text => k.org_id,
            Text => k.idem_key,
            Text => &k.fingerprint,
            Text => k.event_id,
            BigInt => &k.created_at,
        );
        out.push_sql(" ON CONFLICT DO NOTHING");
        Ok(())
    }
}

statement!(
    /// Creates an agent, or moves its last-seen time.
    UpsertAgent(AgentRow)
);

impl QueryFragment<Sqlite> for UpsertAgent<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let a = self.0;
        out.push_sql(INSERT_AGENT);
        values!(out;
            Text => &a.org_id,
            Text => &a.agent_id,
            Nullable<Text> => &a.hourly_rate,
            BigInt => &a.first_seen_at,
            BigInt => &a.last_seen_at,
            BigInt => &a.first_seen_at,
        );
        out.push_sql(AGENT_CONFLICT);
        Ok(())
    }
}

statement!(
    /// Adds a delta to a rollup row, creating it (a fold writes some ten thousand a second).
    UpsertRollup(RollupRow)
);

impl QueryFragment<Sqlite> for UpsertRollup<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let r = self.0;
        out.push_sql(INSERT_ROLLUP);
        values!(out;
            Text => &r.org_id,
            Text => &r.dim,
            BigInt => &r.hour,
            Text => &r.key,
            BigInt => &r.events,
            BigInt => &r.hours_saved_milli,
            BigInt => &r.cost_saved_cents_hi,
            BigInt => &r.cost_saved_cents_lo,
            BigInt => &r.agent_cost_micros_hi,
            BigInt => &r.agent_cost_micros_lo,
            BigInt => &r.costed_events,
        );
        out.push_sql(ROLLUP_CONFLICT);
        Ok(())
    }
}

statement!(
    /// Adds `events` to an (org, month) usage counter, creating it, and returns the counter.
    CountUsage(UsageRow)
);

impl diesel::query_builder::Query for CountUsage<'_> {
    type SqlType = BigInt;
}

impl QueryFragment<Sqlite> for CountUsage<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let u = self.0;
        out.push_sql(INSERT_USAGE);
        values!(out;
            Text => &u.org_id,
            Text => &u.month,
            BigInt => &u.events,
            BigInt => &u.overage_events,
        );
        out.push_sql(
            " ON CONFLICT (org_id, month) DO UPDATE SET events = events + excluded.events \
             RETURNING events",
        );
        Ok(())
    }
}
