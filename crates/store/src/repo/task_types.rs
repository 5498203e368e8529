//! An org's custom task types and overrides of built-in ones.

use diesel::prelude::*;

use crate::models::*;
use crate::schema::*;
use crate::{Store, StoreError};

impl Store {
    /// The org's overrides of built-in task types.
    pub fn list_overrides(&self, org_id: &str) -> Result<Vec<OverrideRow>, StoreError> {
        with_conn!(self, |c| Ok(task_type_overrides::table
            .filter(task_type_overrides::org_id.eq(org_id))
            .select(OverrideRow::as_select())
            .load(c)?))
    }

    /// Removes an org's override; false when there was none.
    pub fn delete_override(&self, org_id: &str, task_type: &str) -> Result<bool, StoreError> {
        with_conn!(self, |c| {
            let n = diesel::delete(
                task_type_overrides::table
                    .filter(task_type_overrides::org_id.eq(org_id))
                    .filter(task_type_overrides::task_type.eq(task_type)),
            )
            .execute(c)?;
            Ok(n == 1)
        })
    }

    /// The org's custom task types, archived ones included, oldest first.
    pub fn list_custom_types(&self, org_id: &str) -> Result<Vec<CustomTaskTypeRow>, StoreError> {
        with_conn!(self, |c| Ok(custom_task_types::table
            .filter(custom_task_types::org_id.eq(org_id))
            .order((
                custom_task_types::created_at.asc(),
                custom_task_types::key.asc()
            ))
            .select(CustomTaskTypeRow::as_select())
            .load(c)?))
    }

    /// One custom task type of the org, archived or not.
    pub fn find_custom_type(
        &self,
        org_id: &str,
        key: &str,
    ) -> Result<Option<CustomTaskTypeRow>, StoreError> {
        with_conn!(self, |c| Ok(custom_task_types::table
            .filter(custom_task_types::org_id.eq(org_id))
            .filter(custom_task_types::key.eq(key))
            .select(CustomTaskTypeRow::as_select())
            .first(c)
            .optional()?))
    }

    /// Creates a custom task type, or brings an archived one of the same key back with the
    /// new values. False when an active one with this key exists (nothing is changed).
    pub fn create_custom_type(&self, row: &CustomTaskTypeRow) -> Result<bool, StoreError> {
        with_tx!(self, |c| {
            let inserted = diesel::insert_into(custom_task_types::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c)?;
            if inserted == 1 {
                return Ok(true);
            }
            let revived = diesel::update(
                custom_task_types::table
                    .filter(custom_task_types::org_id.eq(&row.org_id))
                    .filter(custom_task_types::key.eq(&row.key))
                    .filter(custom_task_types::archived_at.is_not_null()),
            )
            .set((
                custom_task_types::display_name.eq(&row.display_name),
                custom_task_types::category.eq(&row.category),
                custom_task_types::baseline_minutes.eq(&row.baseline_minutes),
                custom_task_types::baseline_source.eq(&row.baseline_source),
                custom_task_types::created_at.eq(row.created_at),
                custom_task_types::archived_at.eq(None::<i64>),
            ))
            .execute(c)?;
            Ok::<_, StoreError>(revived == 1)
        })
    }

    /// Archives a custom task type (new events can no longer use it; stored ones keep their
    /// frozen values). False when there is no such active type.
    pub fn archive_custom_type(
        &self,
        org_id: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_conn!(self, |c| {
            let n = diesel::update(
                custom_task_types::table
                    .filter(custom_task_types::org_id.eq(org_id))
                    .filter(custom_task_types::key.eq(key))
                    .filter(custom_task_types::archived_at.is_null()),
            )
            .set(custom_task_types::archived_at.eq(Some(now_ms)))
            .execute(c)?;
            Ok(n == 1)
        })
    }
}
