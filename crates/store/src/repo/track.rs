//! The write of tracked events: idempotency records, monthly quota, agents and events in one
//! transaction, so an answered 201 means all of it is stored and a failure leaves nothing. On
//! PostgreSQL the hourly rollups are written in the same transaction; on SQLite the writer folds
//! them after the commit (`fold.rs`), and reports count what is not folded yet from the events.

use std::collections::btree_map::BTreeMap;
use std::collections::hash_map::{Entry, HashMap};

use diesel::prelude::*;
use diesel::upsert::excluded;
use idempotency::{Decision, Fingerprint, StoredRecord};
use ratelimit::{monthly_quota, Plan, QuotaDecision};
use time::OffsetDateTime;

use super::bulk::{Bulk as _, NewClaim};
use super::rollup::rollup_deltas;
use super::webhooks::{outbox_rows, OutboxConn as _};
use crate::models::*;
use crate::schema::*;
use crate::{Store, StoreError};

/// The Idempotency-Key of a request and the fingerprint of its body.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub key: String,
    pub fingerprint: Fingerprint,
}

/// What the quota decision needs.
#[derive(Debug, Clone)]
pub struct QuotaInput {
    pub plan: Plan,
    pub cap_override: Option<u64>,
    /// The calendar month (UTC) of receipt, `YYYY-MM`.
    pub month: String,
    /// The anchor org whose pool the event counts against (an agency tree), instead of the
    /// org's own count; the org's own count still grows, for its usage report.
    pub pool: Option<String>,
}

/// One event to store with everything the transaction checks.
#[derive(Debug, Clone)]
pub struct TrackWrite {
    pub event: EventRow,
    pub idempotency: Option<IdempotencyClaim>,
    pub quota: QuotaInput,
    pub now: OffsetDateTime,
    /// Random bits the ids of its webhook messages and deliveries are made from (the store
    /// draws no randomness of its own).
    pub id_seed: u128,
}

/// What happened to a track write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The event is stored (committed).
    Created { overage: bool },
    /// The Idempotency-Key was used before with the same body: here is the event the first
    /// request stored, to be answered again (the answer is a function of the event alone).
    Replayed { event: Box<EventRow> },
}

/// Why a track write was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the monthly event cap of the plan is reached")]
    QuotaExceeded,
    #[error("the Idempotency-Key was used with a different body")]
    KeyReused,
    #[error("a request with this Idempotency-Key is still being processed")]
    KeyInFlight,
}

impl From<diesel::result::Error> for TrackError {
    fn from(e: diesel::result::Error) -> Self {
        TrackError::Store(e.into())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn ms_to_time(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

/// A replay of the event an idempotency record points to (written in the same transaction as
/// the record; events are never deleted). A macro: the query runs on either backend's
/// connection inside `with_tx!`.
macro_rules! replay_of {
    ($c:expr, $event_id:expr) => {{
        let id: &str = $event_id;
        // `get_result`, not `first` (why: the SQLite `stored_claims` in `bulk.rs`).
        events::table
            .filter(events::id.eq(id))
            .select(EventRow::as_select())
            .get_result::<EventRow>($c)
            .optional()?
            .map(|e| Recorded::Replayed { event: Box::new(e) })
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "an idempotency record names event {id}, which is not stored"
                ))
            })?
    }};
}

/// Decides what an existing idempotency row means for this request (via the `idempotency`
/// crate's rules).
pub fn decide_existing(
    row: &IdempotencyRow,
    incoming: &Fingerprint,
    now: OffsetDateTime,
) -> Result<Decision, StoreError> {
    let fingerprint = Fingerprint::from_hex(&row.fingerprint)
        .ok_or_else(|| StoreError::Corrupt(format!("fingerprint '{}'", row.fingerprint)))?;
    let stored = StoredRecord {
        fingerprint,
        created_at: ms_to_time(row.created_at)?,
        completed: true,
    };
    Ok(idempotency::decide(Some(&stored), incoming, now))
}

/// Where an item of a batch stands while the batch is planned.
struct BatchPlan<'a> {
    writes: &'a [&'a TrackWrite],
    outcome: Vec<Option<Result<Recorded, TrackError>>>,
    /// For a later item with the same (org, Idempotency-Key) as an earlier one: that item.
    follows: Vec<Option<usize>>,
    /// The stored record a key's first item met, when there was one.
    existing: Vec<Option<IdempotencyRow>>,
    /// This item's idempotency record is written (new, or an expired one taken over).
    claimed: Vec<bool>,
}

impl<'a> BatchPlan<'a> {
    fn new(writes: &'a [&'a TrackWrite]) -> Self {
        let n = writes.len();
        let mut follows = vec![None; n];
        let mut first: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, w) in writes.iter().enumerate() {
            if let Some(claim) = &w.idempotency {
                match first.entry((w.event.org_id.as_str(), claim.key.as_str())) {
                    Entry::Occupied(e) => follows[i] = Some(*e.get()),
                    Entry::Vacant(v) => {
                        v.insert(i);
                    }
                }
            }
        }
        BatchPlan {
            writes,
            outcome: (0..n).map(|_| None).collect(),
            follows,
            existing: vec![None; n],
            claimed: vec![false; n],
        }
    }

    /// Items whose key is claimed here, in one global order (org, key), so concurrent
    /// transactions on PostgreSQL lock records in the same order and cannot deadlock.
    fn claim_order(&self) -> Vec<usize> {
        let mut leaders: Vec<usize> = (0..self.writes.len())
            .filter(|&i| self.writes[i].idempotency.is_some() && self.follows[i].is_none())
            .collect();
        leaders.sort_by(|&a, &b| self.org_key(a).cmp(&self.org_key(b)));
        leaders
    }

    fn org_key(&self, i: usize) -> (&str, &str) {
        let w = self.writes[i];
        let key = w.idempotency.as_ref().map_or("", |c| c.key.as_str());
        (w.event.org_id.as_str(), key)
    }

    /// Items still to be counted against the quota, by org (sorted), in arrival order.
    fn pending_by_org(&self) -> BTreeMap<&'a str, Vec<usize>> {
        let mut by_org: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, w) in self.writes.iter().enumerate() {
            if self.outcome[i].is_none() && self.follows[i].is_none() {
                by_org.entry(w.event.org_id.as_str()).or_default().push(i);
            }
        }
        by_org
    }

    fn created(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.writes.len())
            .filter(|&i| matches!(self.outcome[i], Some(Ok(Recorded::Created { .. }))))
    }

    /// A later item with an earlier item's key gets what it would have got had it come alone
    /// right after that item. `replay` loads the replay of a stored record's event.
    fn resolve_follower(
        &self,
        j: usize,
        i: usize,
        replay: &mut impl FnMut(&str) -> Result<Recorded, StoreError>,
    ) -> Result<Result<Recorded, TrackError>, StoreError> {
        let fp = |k: usize| self.writes[k].idempotency.as_ref().map(|c| &c.fingerprint);
        let now = self.writes[j].now;
        Ok(match &self.outcome[i] {
            Some(Ok(Recorded::Created { .. })) if fp(j) == fp(i) => Ok(Recorded::Replayed {
                event: Box::new(self.writes[i].event.clone()),
            }),
            Some(Ok(Recorded::Replayed { event })) if fp(j) == fp(i) => Ok(Recorded::Replayed {
                event: event.clone(),
            }),
            Some(Ok(_)) => Err(TrackError::KeyReused),
            Some(Err(TrackError::KeyReused)) => match (&self.existing[i], fp(j)) {
                (Some(row), Some(fp)) => match decide_existing(row, fp, now)? {
                    Decision::Replay => Ok(replay(&row.event_id)?),
                    _ => Err(TrackError::KeyReused),
                },
                _ => Err(TrackError::KeyReused),
            },
            Some(Err(TrackError::KeyInFlight)) => Err(TrackError::KeyInFlight),
            Some(Err(TrackError::QuotaExceeded)) => Err(TrackError::QuotaExceeded),
            Some(Err(TrackError::Store(_))) | None => {
                return Err(StoreError::Failed(
                    "a batch item was left unresolved".into(),
                ))
            }
        })
    }

    fn finish(
        mut self,
        mut replay: impl FnMut(&str) -> Result<Recorded, StoreError>,
    ) -> Result<Vec<Result<Recorded, TrackError>>, StoreError> {
        for j in 0..self.writes.len() {
            if let Some(i) = self.follows[j] {
                let r = self.resolve_follower(j, i, &mut replay)?;
                self.outcome[j] = Some(r);
            }
        }
        self.outcome
            .into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Failed("a batch item was left unresolved".into())))
            .collect()
    }
}

/// How stale an agent's stored `last_seen_at` may be, in milliseconds of receipt time: a writer
/// rewrites an agent's row at most once per this long. Without it every event rewrote its
/// agent's row (a statement per event on SQLite, a row per event on PostgreSQL).
pub const LAST_SEEN_RESOLUTION_MS: i64 = 1_000;

/// Agents tracked at once by [`SeenAgents`]; past that it starts over (and rewrites rows).
const SEEN_AGENTS_MAX: usize = 100_000;

/// The last-seen times a writer has committed for each agent, so that a busy agent's row is
/// rewritten at most once per [`LAST_SEEN_RESOLUTION_MS`]. Only committed writes are noted: an
/// agent this writer has not stored yet is always written (that creates it).
#[derive(Debug, Default)]
pub struct SeenAgents {
    /// org → agent → the `last_seen_at` this writer last committed.
    written: HashMap<String, HashMap<String, i64>>,
}

impl SeenAgents {
    /// Whether an event received at `now_ms` must write its agent's row.
    pub fn due(&self, org: &str, agent: &str, now_ms: i64) -> bool {
        match self.written.get(org).and_then(|m| m.get(agent)) {
            Some(&at) => !(at..at.saturating_add(LAST_SEEN_RESOLUTION_MS)).contains(&now_ms),
            None => true,
        }
    }

    /// Notes rows that were committed.
    pub fn note(&mut self, rows: &[AgentRow]) {
        let held: usize = self.written.values().map(HashMap::len).sum();
        if held + rows.len() > SEEN_AGENTS_MAX {
            self.written.clear();
        }
        for r in rows {
            self.written
                .entry(r.org_id.clone())
                .or_default()
                .insert(r.agent_id.clone(), r.last_seen_at);
        }
    }
}

impl Store {
    /// Stores many events in ONE transaction (one commit, one fsync). Each item gets what it
    /// would have got alone, in order: a replay, a refusal (quota, reused key), or created.
    /// The work is done per batch where it can be (one usage update per org, one upsert per
    /// agent) and per item where it must (the idempotency record, the event). Returns one result
    /// per write, only after the commit; a database failure fails the batch and stores nothing.
    ///
    /// `agents` says which agents' rows are due for a last-seen write, and learns what was
    /// committed.
    pub fn record_batch(
        &self,
        writes: &[&TrackWrite],
        agents: &mut SeenAgents,
    ) -> Result<Vec<Result<Recorded, TrackError>>, StoreError> {
        // The rollups this transaction writes itself (PostgreSQL's hourly single fields; the
        // others, and all of SQLite's, are folded after commit).
        let rollups_here = self.tx_rollups();
        // Fresh deliveries leased to the local worker in the transaction (room reserved).
        let leased = std::cell::Cell::new(0usize);
        let written =
            with_tx!(self, |c| {
                let mut plan = BatchPlan::new(writes);

                // 1. Claim each Idempotency-Key once. The primary key is where concurrent
                //    duplicates meet: on PostgreSQL a second INSERT waits for the first
                //    transaction, then sees its row; SQLite has one writer.
                let leaders = plan.claim_order();
                let rows: Vec<NewClaim> = leaders
                    .iter()
                    .filter_map(|&i| {
                        let w = writes[i];
                        w.idempotency.as_ref().map(|claim| NewClaim {
                            org_id: &w.event.org_id,
                            idem_key: &claim.key,
                            fingerprint: claim.fingerprint.to_hex(),
                            event_id: &w.event.id,
                            created_at: unix_ms(w.now),
                        })
                    })
                    .collect();
                let inserted = c.claim_keys(&rows)?;
                // The keys that were taken: their records, then the events their replays answer
                // from, each read in one go (one round trip each on PostgreSQL).
                let mut taken: Vec<usize> = Vec::new();
                for (k, (&i, inserted)) in leaders.iter().zip(&inserted).enumerate() {
                    match inserted {
                        true => plan.claimed[i] = true,
                        false => taken.push(k),
                    }
                }
                let pairs: Vec<(&str, &str)> = taken
                    .iter()
                    .map(|&k| (rows[k].org_id, rows[k].idem_key))
                    .collect();
                let stored_rows = c.stored_claims(&pairs)?;
                let mut replays: Vec<(usize, String)> = Vec::new();
                for (&k, stored) in taken.iter().zip(stored_rows) {
                    let (i, row) = (leaders[k], &rows[k]);
                    let w = writes[i];
                    let Some(claim) = &w.idempotency else {
                        continue;
                    };
                    match decide_existing(&stored, &claim.fingerprint, w.now)? {
                        Decision::Replay => replays.push((i, stored.event_id.clone())),
                        Decision::Reused => plan.outcome[i] = Some(Err(TrackError::KeyReused)),
                        Decision::InFlight => plan.outcome[i] = Some(Err(TrackError::KeyInFlight)),
                        Decision::Proceed | Decision::ProceedReplacingExpired => {
                            // Past the window: this request takes the key over.
                            diesel::update(
                                idempotency_keys::table
                                    .filter(idempotency_keys::org_id.eq(&row.org_id))
                                    .filter(idempotency_keys::idem_key.eq(&row.idem_key)),
                            )
                            .set((
                                idempotency_keys::fingerprint.eq(&row.fingerprint),
                                idempotency_keys::event_id.eq(&row.event_id),
                                idempotency_keys::created_at.eq(row.created_at),
                            ))
                            .execute(c)?;
                            plan.claimed[i] = true;
                        }
                    }
                    plan.existing[i] = Some(stored);
                }
                let ids: Vec<&str> = replays.iter().map(|(_, id)| id.as_str()).collect();
                let replayed = c.events_by_id(&ids)?;
                for ((i, id), event) in replays.iter().zip(replayed) {
                    let event = event.ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "an idempotency record names event {id}, which is not stored"
                        ))
                    })?;
                    plan.outcome[*i] = Some(Ok(Recorded::Replayed {
                        event: Box::new(event),
                    }));
                }

                // 2. Count the new events against each org's month: one counter update per org (one
                //    statement for all of them on PostgreSQL), under its row lock (PostgreSQL) or the
                //    write lock (SQLite), so counts are exact across instances. Items are decided in
                //    arrival order; refused ones are taken back out, with their idempotency records.
                let pending = plan.pending_by_org();
                let usage_rows: Vec<UsageRow> = pending
                    .iter()
                    .map(|(org, items)| UsageRow {
                        org_id: (*org).to_owned(),
                        month: writes[items[0]].quota.month.clone(),
                        events: i64::try_from(items.len()).unwrap_or(i64::MAX),
                        overage_events: 0,
                    })
                    .collect();
                let counted = c.count_usage(&usage_rows)?;
                // An agency tree's events are decided against its pool, counted the same way
                // under the anchor's id (in each item's own month). Pools are locked after every
                // org's own counter, in (anchor, month) order, so the lock order stays global and
                // concurrent writers cannot deadlock.
                let mut pools: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
                for items in pending.values() {
                    for &i in items {
                        if let Some(anchor) = &writes[i].quota.pool {
                            let month = writes[i].quota.month.as_str();
                            pools.entry((anchor.as_str(), month)).or_default().push(i);
                        }
                    }
                }
                let pool_rows: Vec<PoolUsageRow> = pools
                    .iter_mut()
                    .map(|((anchor, month), items)| {
                        items.sort_unstable(); // arrival order across the tree's orgs
                        PoolUsageRow {
                            anchor_id: (*anchor).to_owned(),
                            month: (*month).to_owned(),
                            events: i64::try_from(items.len()).unwrap_or(i64::MAX),
                            overage_events: 0,
                        }
                    })
                    .collect();
                let mut pool_after = Vec::with_capacity(pool_rows.len());
                for row in &pool_rows {
                    pool_after.push(
                        diesel::insert_into(pool_usage::table)
                            .values(row)
                            .on_conflict((pool_usage::anchor_id, pool_usage::month))
                            .do_update()
                            .set(
                                pool_usage::events
                                    .eq(pool_usage::events + excluded(pool_usage::events)),
                            )
                            .returning(pool_usage::events)
                            .get_result::<i64>(c)?,
                    );
                }
                // Each counter's items in arrival order, with the count before them: an org's own
                // (its items outside a pool) and each pool's.
                let own = pending.iter().zip(&usage_rows).zip(&counted).map(
                    |(((_, items), row), after)| {
                        let items: Vec<usize> = items
                            .iter()
                            .copied()
                            .filter(|&i| writes[i].quota.pool.is_none())
                            .collect();
                        (after - row.events, items)
                    },
                );
                let pooled = pools
                    .values()
                    .zip(&pool_rows)
                    .zip(&pool_after)
                    .map(|((items, row), after)| (after - row.events, items.clone()));
                let counters: Vec<(i64, Vec<usize>)> = own.chain(pooled).collect();
                let (own_n, mut overage) = (usage_rows.len(), vec![0i64; counters.len()]);
                let mut refused_by_org: BTreeMap<&str, i64> = BTreeMap::new();
                let mut refused_by_pool = vec![0i64; pool_rows.len()];
                for (k, (before, items)) in counters.iter().enumerate() {
                    let mut used = u64::try_from(*before).unwrap_or(0);
                    for &i in items {
                        let q = &writes[i].quota;
                        match monthly_quota(q.plan, q.cap_override, used) {
                            QuotaDecision::Reject => {
                                plan.outcome[i] = Some(Err(TrackError::QuotaExceeded));
                                *refused_by_org
                                    .entry(writes[i].event.org_id.as_str())
                                    .or_default() += 1;
                                if k >= own_n {
                                    refused_by_pool[k - own_n] += 1;
                                }
                                if plan.claimed[i] {
                                    let (org, key) = plan.org_key(i);
                                    diesel::delete(
                                        idempotency_keys::table
                                            .filter(idempotency_keys::org_id.eq(org))
                                            .filter(idempotency_keys::idem_key.eq(key)),
                                    )
                                    .execute(c)?;
                                }
                            }
                            QuotaDecision::Accept { overage: over } => {
                                used += 1;
                                overage[k] += i64::from(over);
                                plan.outcome[i] = Some(Ok(Recorded::Created { overage: over }));
                            }
                        }
                    }
                }
                // Refused items are taken back out of their org's count (and pool's); overage is
                // counted where it was decided: on the org, or on the pool (the anchor's).
                for (k, row) in usage_rows.iter().enumerate() {
                    let refused = refused_by_org
                        .get(row.org_id.as_str())
                        .copied()
                        .unwrap_or(0);
                    if refused > 0 || overage[k] > 0 {
                        diesel::update(
                            monthly_usage::table
                                .filter(monthly_usage::org_id.eq(&row.org_id))
                                .filter(monthly_usage::month.eq(&row.month)),
                        )
                        .set((
                            monthly_usage::events.eq(monthly_usage::events - refused),
                            monthly_usage::overage_events
                                .eq(monthly_usage::overage_events + overage[k]),
                        ))
                        .execute(c)?;
                    }
                }
                for (k, row) in pool_rows.iter().enumerate() {
                    let (refused, over) = (refused_by_pool[k], overage[own_n + k]);
                    if refused > 0 || over > 0 {
                        diesel::update(
                            pool_usage::table
                                .filter(pool_usage::anchor_id.eq(&row.anchor_id))
                                .filter(pool_usage::month.eq(&row.month)),
                        )
                        .set((
                            pool_usage::events.eq(pool_usage::events - refused),
                            pool_usage::overage_events.eq(pool_usage::overage_events + over),
                        ))
                        .execute(c)?;
                    }
                }

                // 3. The endpoints of the orgs with new events (one indexed lookup per batch; an org
                //    without webhooks adds nothing else).
                let mut orgs: Vec<&str> = plan
                    .created()
                    .map(|i| writes[i].event.org_id.as_str())
                    .collect();
                orgs.sort_unstable();
                orgs.dedup();
                let endpoints = match orgs.is_empty() {
                    true => Vec::new(),
                    false => c.endpoints_of(&orgs)?,
                };

                // 4. Agents exist from their first event on: one upsert per agent of the batch whose
                //    stored last-seen time is due to move (see `SeenAgents`).
                let mut seen: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
                for i in plan.created() {
                    let e = &writes[i].event;
                    let now = unix_ms(writes[i].now);
                    let (first, last) = seen
                        .entry((e.org_id.as_str(), e.agent_id.as_str()))
                        .or_insert((now, now));
                    *first = (*first).min(now);
                    *last = (*last).max(now);
                }
                let agent_rows: Vec<AgentRow> = seen
                    .into_iter()
                    .filter(|((org, agent), (_, last))| agents.due(org, agent, *last))
                    .map(|((org, agent), (first, last))| AgentRow {
                        org_id: org.to_owned(),
                        agent_id: agent.to_owned(),
                        hourly_rate: None,
                        first_seen_at: first,
                        last_seen_at: last,
                    })
                    .collect();
                // Which of them are new, for orgs with an endpoint subscribed to agent.first_event.
                let first_event_orgs: Vec<&str> = endpoints
                    .iter()
                    .filter(|e| {
                        webhooks::Subscriptions::from_stored(&e.event_types)
                            .contains(webhooks::EventType::AgentFirstEvent)
                    })
                    .map(|e| e.org_id.as_str())
                    .collect();
                let new_agents = match first_event_orgs.is_empty() {
                    true => Vec::new(),
                    false => {
                        let candidates: Vec<AgentRow> = agent_rows
                            .iter()
                            .filter(|a| first_event_orgs.contains(&a.org_id.as_str()))
                            .cloned()
                            .collect();
                        c.create_new_agents(&candidates)?
                    }
                };
                c.upsert_agents(&agent_rows)?;

                // 5. The events, queued for the rollups folded after commit, and (PostgreSQL)
                //    their share of the hourly single-field rollups, summed over the batch first
                //    so each rollup row is written once per commit.
                let created: Vec<&EventRow> = plan.created().map(|i| &writes[i].event).collect();
                c.insert_events(&created)?;
                c.queue_for_fold(&created)?;
                if !rollups_here.is_empty() {
                    c.upsert_rollups(&rollup_deltas(created, rollups_here))?;
                }

                // 6. The outbox: a delivery per new event and subscribed endpoint, committed with
                //    the event (API.md §9: a 201 means the webhook will be attempted).
                //    Those the local worker has room for are leased to it now and handed to it after
                //    the commit; the others wait for a claim.
                let mut outbox = match endpoints.is_empty() {
                    true => Vec::new(),
                    false => {
                        let created: Vec<&TrackWrite> = plan.created().map(|i| writes[i]).collect();
                        outbox_rows(&created, &endpoints, &new_agents)
                    }
                };
                let now_ms = writes.iter().map(|w| unix_ms(w.now)).max().unwrap_or(0);
                leased.set(self.lease_fresh(&mut outbox, now_ms));
                c.insert_deliveries(&outbox)?;
                let results = plan.finish(|id| Ok(replay_of!(c, id)))?;
                Ok::<_, StoreError>((results, agent_rows, outbox, endpoints))
            });
        let (results, agent_rows, outbox, endpoints) = match written {
            Ok(w) => w,
            Err(e) => {
                self.hand_over_fresh(false, leased.get(), Vec::new(), &[], &[]);
                return Err(e);
            }
        };
        agents.note(&agent_rows);
        let unleased = outbox
            .iter()
            .any(|d| d.locked_by.is_none() && d.status == super::webhooks::PENDING);
        if leased.get() > 0 {
            let events: Vec<&EventRow> = writes.iter().map(|w| &w.event).collect();
            self.hand_over_fresh(true, leased.get(), outbox, &endpoints, &events);
        }
        if unleased {
            self.outbox_written();
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(org: &str, agent: &str, at: i64) -> AgentRow {
        AgentRow {
            org_id: org.into(),
            agent_id: agent.into(),
            hourly_rate: None,
            first_seen_at: at,
            last_seen_at: at,
        }
    }

    #[test]
    fn an_agent_is_written_first_then_at_most_once_per_resolution() {
        let mut seen = SeenAgents::default();
        assert!(
            seen.due("o", "a", 10_000),
            "never written: due (creates the agent)"
        );
        seen.note(&[row("o", "a", 10_000)]);
        assert!(!seen.due("o", "a", 10_000));
        assert!(!seen.due("o", "a", 10_000 + LAST_SEEN_RESOLUTION_MS - 1));
        assert!(seen.due("o", "a", 10_000 + LAST_SEEN_RESOLUTION_MS));
        assert!(seen.due("o", "a", 9_999), "a clock that went back rewrites");
        assert!(seen.due("o", "b", 10_000), "another agent");
        assert!(
            seen.due("p", "a", 10_000),
            "the same agent id in another org"
        );
    }

    #[test]
    fn past_its_size_it_starts_over() {
        let mut seen = SeenAgents::default();
        let rows: Vec<AgentRow> = (0..SEEN_AGENTS_MAX)
            .map(|i| row("o", &format!("a{i}"), 0))
            .collect();
        seen.note(&rows);
        assert!(!seen.due("o", "a0", 1));
        seen.note(&[row("o", "new", 0)]);
        assert!(seen.due("o", "a0", 1), "forgotten, so written again");
        assert!(!seen.due("o", "new", 1));
    }
}
