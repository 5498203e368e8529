//! Dashboard sessions and share links. Tokens are looked up by their hash; the tokens
//! themselves never reach this crate.

use diesel::prelude::*;

use crate::models::{SessionRow, ShareLinkRow};
use crate::schema::{dashboard_sessions, share_links};
use crate::{Store, StoreError};

impl Store {
    /// Stores a new session.
    pub fn insert_session(&self, row: &SessionRow) -> Result<(), StoreError> {
        with_conn!(self, |c| {
            diesel::insert_into(dashboard_sessions::table)
                .values(row)
                .execute(c)?;
            Ok(())
        })
    }

    /// The session whose token has this hash (expired ones included: the caller decides).
    pub fn find_session(&self, token_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        with_conn!(self, |c| Ok(dashboard_sessions::table
            .filter(dashboard_sessions::token_hash.eq(token_hash))
            .select(SessionRow::as_select())
            .first(c)
            .optional()?))
    }

    /// Deletes the session whose token has this hash; false when there was none.
    pub fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        with_conn!(self, |c| {
            let n = diesel::delete(
                dashboard_sessions::table.filter(dashboard_sessions::token_hash.eq(token_hash)),
            )
            .execute(c)?;
            Ok(n > 0)
        })
    }

    /// Deletes sessions that expired before `now_ms`; returns how many.
    pub fn prune_sessions(&self, now_ms: i64) -> Result<usize, StoreError> {
        with_conn!(self, |c| Ok(diesel::delete(
            dashboard_sessions::table.filter(dashboard_sessions::expires_at.le(now_ms))
        )
        .execute(c)?))
    }

    /// Stores a new share link.
    pub fn insert_share(&self, row: &ShareLinkRow) -> Result<(), StoreError> {
        with_conn!(self, |c| {
            diesel::insert_into(share_links::table)
                .values(row)
                .execute(c)?;
            Ok(())
        })
    }

    /// The share link whose token has this hash (revoked and expired ones included).
    pub fn find_share(&self, token_hash: &str) -> Result<Option<ShareLinkRow>, StoreError> {
        with_conn!(self, |c| Ok(share_links::table
            .filter(share_links::token_hash.eq(token_hash))
            .select(ShareLinkRow::as_select())
            .first(c)
            .optional()?))
    }

    /// Share links whose id is `id_or_prefix` or whose token starts with it.
    pub fn find_shares(&self, id_or_prefix: &str) -> Result<Vec<ShareLinkRow>, StoreError> {
        with_conn!(self, |c| Ok(share_links::table
            .filter(
                share_links::id
                    .eq(id_or_prefix)
                    .or(share_links::token_prefix.eq(id_or_prefix)),
            )
            .select(ShareLinkRow::as_select())
            .load(c)?))
    }

    /// An org's share links, oldest first.
    pub fn list_shares(&self, org_id: &str) -> Result<Vec<ShareLinkRow>, StoreError> {
        with_conn!(self, |c| Ok(share_links::table
            .filter(share_links::org_id.eq(org_id))
            .order((share_links::created_at.asc(), share_links::id.asc()))
            .select(ShareLinkRow::as_select())
            .load(c)?))
    }

    /// Revokes a share link by id; false when there is none or it was revoked already.
    pub fn revoke_share(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        with_conn!(self, |c| {
            let n = diesel::update(
                share_links::table
                    .filter(share_links::id.eq(id))
                    .filter(share_links::revoked_at.is_null()),
            )
            .set(share_links::revoked_at.eq(Some(now_ms)))
            .execute(c)?;
            Ok(n == 1)
        })
    }
}
