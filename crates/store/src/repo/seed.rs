//! Bulk writes for the development seed: many events per transaction, with their rollups and
//! agents, so benchmarks and demos get realistic data quickly. Not used by the API.

use std::collections::HashMap;

use diesel::prelude::*;

use super::bulk::Bulk as _;
use super::fold::OwnRollups as _;
use super::rollup::{rollup_deltas, ROLLUPS};
use crate::models::*;
use crate::schema::*;
use crate::{Store, StoreError};

impl Store {
    /// Stores a batch of already valued events in one transaction: the events, their rollups,
    /// and the agents they name (first/last seen widened to the batch's occurred_at range).
    /// They do not count toward the monthly quota: they were never received.
    pub fn insert_event_batch(&self, batch: &[EventRow]) -> Result<(), StoreError> {
        let mut seen: HashMap<(&str, &str), (i64, i64)> = HashMap::new();
        for e in batch {
            let span = seen
                .entry((e.org_id.as_str(), e.agent_id.as_str()))
                .or_insert((e.occurred_at, e.occurred_at));
            span.0 = span.0.min(e.occurred_at);
            span.1 = span.1.max(e.occurred_at);
        }
        let deltas = rollup_deltas(batch, &ROLLUPS);
        with_tx!(self, |c| {
            c.fold_tail_first()?;
            // 28 binds a row: 500 rows stay under both backends' bind limits.
            for chunk in batch.chunks(500) {
                diesel::insert_into(events::table)
                    .values(chunk)
                    .execute(c)?;
            }
            c.upsert_rollups(&deltas)?;
            c.mark_all_folded()?;
            for ((org, agent), (first, last)) in &seen {
                diesel::insert_into(agents::table)
                    .values(&AgentRow {
                        org_id: (*org).to_owned(),
                        agent_id: (*agent).to_owned(),
                        hourly_rate: None,
                        first_seen_at: *first,
                        last_seen_at: *last,
                    })
                    .on_conflict_do_nothing()
                    .execute(c)?;
                let this = agents::table
                    .filter(agents::org_id.eq(*org))
                    .filter(agents::agent_id.eq(*agent));
                diesel::update(this.filter(agents::first_seen_at.gt(*first)))
                    .set(agents::first_seen_at.eq(*first))
                    .execute(c)?;
                diesel::update(this.filter(agents::first_event_at.is_null()))
                    .set(agents::first_event_at.eq(Some(*first)))
                    .execute(c)?;
                diesel::update(this.filter(agents::last_seen_at.lt(*last)))
                    .set(agents::last_seen_at.eq(*last))
                    .execute(c)?;
            }
            Ok::<_, StoreError>(())
        })
    }
}
