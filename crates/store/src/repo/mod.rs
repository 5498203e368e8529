//! Repository methods on [`Store`]. Each body is written once and compiled for both backends.

/// Locks an org's row until the transaction ends, when `$pg` (PostgreSQL; SQLite's write
/// transaction already holds off every other writer): what erasing an org, creating a
/// workspace under it and changing its plan serialize on. A macro: it runs inside `with_tx!`,
/// on either backend's connection.
macro_rules! lock_org_row {
    ($c:expr, $id:expr, $pg:expr) => {
        if $pg {
            diesel::sql_query("SELECT id FROM orgs WHERE id = $1 FOR UPDATE")
                .bind::<diesel::sql_types::Text, _>($id)
                .execute($c)?;
        }
    };
}

/// How many agency workspaces hang from an org, on a transaction's connection (see
/// [`lock_org_row`]).
macro_rules! count_workspaces {
    ($c:expr, $id:expr) => {
        orgs::table
            .filter(orgs::parent_id.eq($id))
            .count()
            .get_result::<i64>($c)?
    };
}

mod bulk;
pub(crate) mod dashboard;
pub(crate) mod digests;
pub(crate) mod event_pages;
pub(crate) mod feeds;
pub(crate) mod fold;
pub(crate) mod jobs;
pub(crate) mod lifecycle;
mod pg_stmt;
pub(crate) mod reports;
pub(crate) mod rollup;
pub(crate) mod seed;
mod sqlite_stmt;
pub(crate) mod task_types;
pub(crate) mod track;
pub(crate) mod webhooks;

use diesel::prelude::*;

use crate::models::*;
use crate::schema::*;
use crate::{Store, StoreError, Sums};

/// An org's rows that valuing an event needs, as stored (decimal text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgContextRows {
    /// (agent id, hourly rate) of agents with their own rate.
    pub agent_rates: Vec<(String, String)>,
    /// (task type, baseline minutes) of the org's overrides.
    pub overrides: Vec<(String, String)>,
    /// (key, baseline minutes) of the org's active custom task types.
    pub custom_types: Vec<(String, String)>,
}

impl Store {
    /// Inserts a new org.
    pub fn create_org(&self, row: &OrgRow) -> Result<(), StoreError> {
        with_conn!(self, |c| {
            diesel::insert_into(orgs::table).values(row).execute(c)?;
            Ok(())
        })
    }

    /// Inserts a workspace of `row.parent_id`'s tree, in one transaction with the checks that
    /// keep the tree whole: the anchor exists, is on plan `anchor_plan` and is no workspace
    /// itself, and has fewer than `max_children` workspaces. On PostgreSQL the anchor's row is
    /// locked first, so two workspaces created at once cannot both take the last place.
    pub fn create_workspace(
        &self,
        row: &OrgRow,
        anchor_plan: &str,
        max_children: i64,
    ) -> Result<(), StoreError> {
        let Some(anchor_id) = row.parent_id.as_deref() else {
            return Err(StoreError::Refused("a workspace needs its anchor".into()));
        };
        let pg = self.backend() == crate::Backend::Postgres;
        with_tx!(self, |c| {
            lock_org_row!(c, anchor_id, pg);
            let anchor: Option<(String, Option<String>)> = orgs::table
                .filter(orgs::id.eq(anchor_id))
                .select((orgs::plan, orgs::parent_id))
                .get_result(c)
                .optional()?;
            match anchor {
                None => return Err(StoreError::Refused(format!("no anchor org {anchor_id}"))),
                Some((_, Some(_))) => {
                    return Err(StoreError::Refused(format!(
                        "{anchor_id} is a workspace itself; workspaces hang from the anchor"
                    )))
                }
                Some((plan, None)) if plan != anchor_plan => {
                    return Err(StoreError::Refused(format!(
                        "{anchor_id} is on plan {plan}: only an {anchor_plan} org has workspaces \
                         ('humanhours org set {anchor_id} --plan {anchor_plan}')"
                    )))
                }
                Some(_) => {}
            }
            let children = count_workspaces!(c, anchor_id);
            if children >= max_children {
                return Err(StoreError::Refused(format!(
                    "{anchor_id} has {children} workspaces already, the most an anchor may have"
                )));
            }
            diesel::insert_into(orgs::table).values(row).execute(c)?;
            Ok::<_, StoreError>(())
        })
    }

    /// The workspace `id` of the anchor `anchor_id`; `None` when there is no such org or it
    /// hangs from another anchor (or none).
    pub fn workspace_of(&self, anchor_id: &str, id: &str) -> Result<Option<OrgRow>, StoreError> {
        with_conn!(self, |c| Ok(orgs::table
            .filter(orgs::id.eq(id))
            .filter(orgs::parent_id.eq(anchor_id))
            .select(OrgRow::as_select())
            .get_result(c)
            .optional()?))
    }

    /// The workspaces of an anchor, oldest first.
    pub fn workspaces(&self, anchor_id: &str) -> Result<Vec<OrgRow>, StoreError> {
        with_conn!(self, |c| Ok(orgs::table
            .filter(orgs::parent_id.eq(anchor_id))
            .order(orgs::created_at.asc())
            .select(OrgRow::as_select())
            .load(c)?))
    }

    /// Every org, oldest first.
    pub fn list_orgs(&self) -> Result<Vec<OrgRow>, StoreError> {
        with_conn!(self, |c| Ok(orgs::table
            .order(orgs::created_at.asc())
            .select(OrgRow::as_select())
            .load(c)?))
    }

    /// The org with this id, or else with this name.
    pub fn find_org(&self, id_or_name: &str) -> Result<Option<OrgRow>, StoreError> {
        with_conn!(self, |c| Ok(orgs::table
            .filter(orgs::id.eq(id_or_name).or(orgs::name.eq(id_or_name)))
            .select(OrgRow::as_select())
            .first(c)
            .optional()?))
    }

    /// Applies a change to an org; false when there is no such org.
    pub fn update_org(&self, id: &str, changes: &OrgChanges) -> Result<bool, StoreError> {
        with_conn!(self, |c| {
            let n = diesel::update(orgs::table.find(id))
                .set(changes)
                .execute(c)?;
            Ok(n == 1)
        })
    }

    /// Applies a change of plan to an org, in one transaction with the rule that an agency
    /// anchor keeps its plan while it has workspaces: the org's row is locked first
    /// (PostgreSQL; SQLite holds the write lock), as [`Store::create_workspace`] locks it, so
    /// a workspace created meanwhile is either counted here or waits and then sees the new
    /// plan. False when there is no such org.
    pub fn update_org_keeping_tree(
        &self,
        id: &str,
        changes: &OrgChanges,
    ) -> Result<bool, StoreError> {
        let pg = self.backend() == crate::Backend::Postgres;
        with_tx!(self, |c| {
            lock_org_row!(c, id, pg);
            if let Some(plan) = &changes.plan {
                let current: Option<String> = orgs::table
                    .find(id)
                    .select(orgs::plan)
                    .get_result(c)
                    .optional()?;
                let workspaces = count_workspaces!(c, id);
                if current.as_ref().is_some_and(|p| p != plan) && workspaces > 0 {
                    return Err(StoreError::Refused(format!(
                        "the org has {workspaces} workspace(s): delete them before changing its plan"
                    )));
                }
            }
            let n = diesel::update(orgs::table.find(id))
                .set(changes)
                .execute(c)?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// Applies a change to an org's settings in one transaction with the org's row locked
    /// (PostgreSQL; SQLite holds the write lock), after `check` has seen the row as stored and
    /// whether the org has any event (or rollup of one) and agreed: `check` refuses with an
    /// error, and then nothing is written. False when there is no such org.
    pub fn update_org_settings(
        &self,
        id: &str,
        changes: &OrgChanges,
        check: impl FnOnce(&OrgRow, bool) -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        let pg = self.backend() == crate::Backend::Postgres;
        with_tx!(self, |c| {
            lock_org_row!(c, id, pg);
            let Some(row) = orgs::table
                .find(id)
                .select(OrgRow::as_select())
                .get_result(c)
                .optional()?
            else {
                return Ok(false);
            };
            let has_events = events::table
                .filter(events::org_id.eq(id))
                .select(events::id)
                .first::<String>(c)
                .optional()?
                .is_some()
                || rollup_hourly::table
                    .filter(rollup_hourly::org_id.eq(id))
                    .select(rollup_hourly::hour)
                    .first::<i64>(c)
                    .optional()?
                    .is_some();
            check(&row, has_events)?;
            let n = diesel::update(orgs::table.find(id))
                .set(changes)
                .execute(c)?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// Stores a new API key (its hash, never the key).
    pub fn insert_key(&self, row: &ApiKeyRow) -> Result<(), StoreError> {
        with_conn!(self, |c| {
            diesel::insert_into(api_keys::table)
                .values(row)
                .execute(c)?;
            Ok(())
        })
    }

    /// The keys of an org, oldest first.
    pub fn list_keys(&self, org_id: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
        with_conn!(self, |c| Ok(api_keys::table
            .filter(api_keys::org_id.eq(org_id))
            .order(api_keys::created_at.asc())
            .select(ApiKeyRow::as_select())
            .load(c)?))
    }

    /// The key with this public prefix and its org.
    pub fn find_key(&self, prefix: &str) -> Result<Option<(ApiKeyRow, OrgRow)>, StoreError> {
        with_conn!(self, |c| Ok(api_keys::table
            .inner_join(orgs::table)
            .filter(api_keys::prefix.eq(prefix))
            .select((ApiKeyRow::as_select(), OrgRow::as_select()))
            .first(c)
            .optional()?))
    }

    /// Records when keys were last used: (prefix, Unix ms), each moved only forward, in one
    /// transaction.
    pub fn touch_keys(&self, used: &[(String, i64)]) -> Result<(), StoreError> {
        if used.is_empty() {
            return Ok(());
        }
        with_tx!(self, |c| {
            for (prefix, at) in used {
                diesel::update(
                    api_keys::table.filter(api_keys::prefix.eq(prefix)).filter(
                        api_keys::last_used_at
                            .is_null()
                            .or(api_keys::last_used_at.lt(*at)),
                    ),
                )
                .set(api_keys::last_used_at.eq(Some(*at)))
                .execute(c)?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Revokes an org's key; false when the org has no such live key.
    pub fn revoke_org_key(
        &self,
        org_id: &str,
        prefix: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_conn!(self, |c| {
            let n = diesel::update(
                api_keys::table
                    .filter(api_keys::prefix.eq(prefix))
                    .filter(api_keys::org_id.eq(org_id))
                    .filter(api_keys::revoked_at.is_null()),
            )
            .set(api_keys::revoked_at.eq(Some(now_ms)))
            .execute(c)?;
            Ok(n == 1)
        })
    }

    /// Marks a key revoked; false when there is no such key or it was revoked already.
    pub fn revoke_key(&self, prefix: &str, now_ms: i64) -> Result<bool, StoreError> {
        with_conn!(self, |c| {
            let n = diesel::update(
                api_keys::table
                    .filter(api_keys::prefix.eq(prefix))
                    .filter(api_keys::revoked_at.is_null()),
            )
            .set(api_keys::revoked_at.eq(Some(now_ms)))
            .execute(c)?;
            Ok(n == 1)
        })
    }

    /// Sets an agent's own hourly rate, creating the agent if it is new.
    pub fn set_agent_rate(
        &self,
        org_id: &str,
        agent_id: &str,
        rate: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let row = AgentRow {
            org_id: org_id.to_owned(),
            agent_id: agent_id.to_owned(),
            hourly_rate: rate.map(str::to_owned),
            first_seen_at: now_ms,
            last_seen_at: now_ms,
        };
        with_conn!(self, |c| {
            diesel::insert_into(agents::table)
                .values(&row)
                .on_conflict((agents::org_id, agents::agent_id))
                .do_update()
                .set(agents::hourly_rate.eq(rate))
                .execute(c)?;
            Ok(())
        })
    }

    /// The agents of an org.
    pub fn list_agents(&self, org_id: &str) -> Result<Vec<AgentRow>, StoreError> {
        with_conn!(self, |c| Ok(agents::table
            .filter(agents::org_id.eq(org_id))
            .order(agents::agent_id.asc())
            .select(AgentRow::as_select())
            .load(c)?))
    }

    /// Reads everything valuing an org's events needs besides the org row, in one read
    /// transaction.
    pub fn org_context(&self, org_id: &str) -> Result<OrgContextRows, StoreError> {
        with_conn!(self, |c| {
            let rows = c.transaction(|c| -> Result<OrgContextRows, diesel::result::Error> {
                let agent_rates = agents::table
                    .filter(agents::org_id.eq(org_id))
                    .filter(agents::hourly_rate.is_not_null())
                    .select((agents::agent_id, agents::hourly_rate.assume_not_null()))
                    .load::<(String, String)>(c)?;
                let overrides = task_type_overrides::table
                    .filter(task_type_overrides::org_id.eq(org_id))
                    .select((
                        task_type_overrides::task_type,
                        task_type_overrides::baseline_minutes,
                    ))
                    .load::<(String, String)>(c)?;
                let custom_types = custom_task_types::table
                    .filter(custom_task_types::org_id.eq(org_id))
                    .filter(custom_task_types::archived_at.is_null())
                    .select((custom_task_types::key, custom_task_types::baseline_minutes))
                    .load::<(String, String)>(c)?;
                Ok(OrgContextRows {
                    agent_rates,
                    overrides,
                    custom_types,
                })
            })?;
            Ok(rows)
        })
    }

    /// The stored answer for an Idempotency-Key of an org, if any (expired ones included: the
    /// caller decides with the `idempotency` crate).
    pub fn find_idempotency(
        &self,
        org_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRow>, StoreError> {
        // A primary-key lookup: `get_result`, not `first` (why: the SQLite `stored_claims` in
        // `bulk.rs`).
        with_conn!(self, |c| Ok(idempotency_keys::table
            .filter(idempotency_keys::org_id.eq(org_id))
            .filter(idempotency_keys::idem_key.eq(key))
            .select(IdempotencyRow::as_select())
            .get_result(c)
            .optional()?))
    }

    /// Deletes idempotency records created before the cutoff; returns how many.
    pub fn prune_idempotency(&self, cutoff_ms: i64) -> Result<usize, StoreError> {
        with_conn!(self, |c| Ok(diesel::delete(
            idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff_ms))
        )
        .execute(c)?))
    }

    /// Stores an org's override of a task type's baseline (replacing an earlier one).
    pub fn set_override(
        &self,
        org_id: &str,
        task_type: &str,
        baseline_minutes: &str,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        with_conn!(self, |c| {
            diesel::insert_into(task_type_overrides::table)
                .values((
                    task_type_overrides::org_id.eq(org_id),
                    task_type_overrides::task_type.eq(task_type),
                    task_type_overrides::baseline_minutes.eq(baseline_minutes),
                    task_type_overrides::reason.eq(reason),
                    task_type_overrides::updated_at.eq(now_ms),
                ))
                .on_conflict((task_type_overrides::org_id, task_type_overrides::task_type))
                .do_update()
                .set((
                    task_type_overrides::baseline_minutes.eq(baseline_minutes),
                    task_type_overrides::reason.eq(reason),
                    task_type_overrides::updated_at.eq(now_ms),
                ))
                .execute(c)?;
            Ok(())
        })
    }

    /// Adds or replaces price rows (same org, model and effective_from replace).
    pub fn upsert_prices(&self, rows: &[PriceDbRow]) -> Result<usize, StoreError> {
        with_tx!(self, |c| {
            for row in rows {
                diesel::insert_into(prices::table)
                    .values(row)
                    .on_conflict((prices::org_id, prices::model_id, prices::effective_from))
                    .do_update()
                    .set((
                        prices::input_usd_per_mtok.eq(&row.input_usd_per_mtok),
                        prices::output_usd_per_mtok.eq(&row.output_usd_per_mtok),
                        prices::source.eq(&row.source),
                    ))
                    .execute(c)?;
            }
            Ok::<_, StoreError>(rows.len())
        })
    }

    /// Every stored price row (instance-wide and per org).
    pub fn list_prices(&self) -> Result<Vec<PriceDbRow>, StoreError> {
        with_conn!(self, |c| Ok(prices::table
            .select(PriceDbRow::as_select())
            .load(c)?))
    }

    /// Adds or replaces FX rows (same currency and effective_from replace).
    pub fn upsert_fx(&self, rows: &[FxDbRow]) -> Result<usize, StoreError> {
        with_tx!(self, |c| {
            for row in rows {
                diesel::insert_into(fx_rates::table)
                    .values(row)
                    .on_conflict((fx_rates::currency, fx_rates::effective_from))
                    .do_update()
                    .set((
                        fx_rates::usd_to.eq(&row.usd_to),
                        fx_rates::source.eq(&row.source),
                    ))
                    .execute(c)?;
            }
            Ok::<_, StoreError>(rows.len())
        })
    }

    /// Every stored FX row.
    pub fn list_fx(&self) -> Result<Vec<FxDbRow>, StoreError> {
        with_conn!(self, |c| Ok(fx_rates::table
            .select(FxDbRow::as_select())
            .load(c)?))
    }

    /// One stored event.
    pub fn get_event(&self, org_id: &str, id: &str) -> Result<Option<EventRow>, StoreError> {
        with_conn!(self, |c| Ok(events::table
            .filter(events::org_id.eq(org_id))
            .filter(events::id.eq(id))
            .select(EventRow::as_select())
            .get_result(c)
            .optional()?))
    }

    /// How many events an org has stored.
    pub fn count_events(&self, org_id: &str) -> Result<i64, StoreError> {
        with_conn!(self, |c| Ok(events::table
            .filter(events::org_id.eq(org_id))
            .count()
            .get_result(c)?))
    }

    /// The sums of every stored event of an org, read from the events table itself (not the
    /// rollups the reports use), so checks can compare the two.
    pub fn sum_events(&self, org_id: &str) -> Result<Sums, StoreError> {
        let rows: Vec<(i64, i64, Option<i64>)> = with_conn!(self, |c| events::table
            .filter(events::org_id.eq(org_id))
            .select((
                events::hours_saved_milli,
                events::cost_saved_cents,
                events::agent_cost_micros,
            ))
            .load(c)
            .map_err(StoreError::from))?;
        let mut s = Sums::default();
        for (hours, cost, agent_cost) in rows {
            s.events += 1;
            s.hours_saved_milli += hours;
            s.cost_saved_cents += i128::from(cost);
            s.agent_cost_micros += i128::from(agent_cost.unwrap_or(0));
            s.costed_events += i64::from(agent_cost.is_some());
        }
        Ok(s)
    }

    /// The sums of an org's rows in `rollup_hourly`, by rollup (as stored: without the events
    /// not folded yet), so checks can compare each with [`Store::sum_events`].
    pub fn rollup_sums(&self, org_id: &str) -> Result<Vec<(String, Sums)>, StoreError> {
        let rows: Vec<RollupRow> = with_conn!(self, |c| rollup_hourly::table
            .filter(rollup_hourly::org_id.eq(org_id))
            .select(RollupRow::as_select())
            .load(c)
            .map_err(StoreError::from))?;
        let mut by_dim: std::collections::BTreeMap<String, Sums> = rollup::ROLLUPS
            .iter()
            .map(|r| (r.name.to_owned(), Sums::default()))
            .collect();
        for r in rows {
            let s = by_dim.entry(r.dim).or_default();
            s.add(&Sums {
                events: r.events,
                hours_saved_milli: r.hours_saved_milli,
                cost_saved_cents: rollup::join(r.cost_saved_cents_hi, r.cost_saved_cents_lo),
                agent_cost_micros: rollup::join(r.agent_cost_micros_hi, r.agent_cost_micros_lo),
                costed_events: r.costed_events,
            });
        }
        Ok(by_dim.into_iter().collect())
    }

    /// An agency tree's pool counters for a month (`YYYY-MM`), zero when none.
    pub fn pool_usage(&self, anchor_id: &str, month: &str) -> Result<PoolUsageRow, StoreError> {
        with_conn!(self, |c| Ok(pool_usage::table
            .filter(pool_usage::anchor_id.eq(anchor_id))
            .filter(pool_usage::month.eq(month))
            .select(PoolUsageRow::as_select())
            .get_result(c)
            .optional()?
            .unwrap_or_else(|| PoolUsageRow {
                anchor_id: anchor_id.to_owned(),
                month: month.to_owned(),
                events: 0,
                overage_events: 0,
            })))
    }

    /// An org's usage counters for a month (`YYYY-MM`), zero when none.
    pub fn usage(&self, org_id: &str, month: &str) -> Result<UsageRow, StoreError> {
        with_conn!(self, |c| Ok(monthly_usage::table
            .filter(monthly_usage::org_id.eq(org_id))
            .filter(monthly_usage::month.eq(month))
            .select(UsageRow::as_select())
            .first(c)
            .optional()?
            .unwrap_or_else(|| UsageRow {
                org_id: org_id.to_owned(),
                month: month.to_owned(),
                events: 0,
                overage_events: 0,
            })))
    }
}
