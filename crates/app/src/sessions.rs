//! Dashboard sign-ins and share links as the pages use them: a session is started with an API
//! key verified past the cache, looked up by the SHA-256 of its cookie's token, and ended; a
//! share link is looked up by the SHA-256 of its token. The HTTP layer owns the cookies and the
//! CSRF checks; this owns what is stored.

use std::sync::Arc;

use store::{SessionRow, ShareLinkRow};

use crate::auth::{verify_key_fresh, Caller, OrgSettings};
use crate::clock;
use crate::error::ApiError;
use crate::state::App;
use crate::tokens::{new_token, token_hash};

/// A started session: the token for the cookie (shown once, stored as its hash) and who it is.
#[derive(Debug)]
pub struct Started {
    pub token: String,
    pub caller: Arc<Caller>,
}

/// Signs in with an API key: verifies it now, past the key cache (a revocation counts at once;
/// `client` is the browser's address, for the limits on failed checks), and stores a session
/// of `config.session_ttl`.
pub async fn start(
    state: &Arc<App>,
    api_key: &str,
    client: Option<std::net::IpAddr>,
) -> Result<Started, ApiError> {
    let caller = verify_key_fresh(state, api_key, client).await?;
    // The dashboard shows the org's figures: a key without `read` (an agent's `track` key)
    // signs in to nothing.
    if !caller.scopes.allows(ratelimit::Scope::Read) {
        return Err(ApiError::InsufficientScope { scope: "read" });
    }
    let now = clock::now();
    let ttl = state.config.session_ttl;
    let token = new_token();
    let row = SessionRow {
        id: format!("ses_{}", clock::ulid(now)),
        token_hash: token_hash(&token),
        org_id: caller.org.id.clone(),
        key_prefix: caller.key_prefix.clone(),
        created_at: clock::unix_ms(now),
        expires_at: clock::unix_ms(now) + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2),
    };
    crate::blocking(state, move |st| Ok(st.store.insert_session(&row)?)).await?;
    Ok(Started { token, caller })
}

/// Who a live session is: the key that signed in (its prefix and scopes, as stored now) and
/// its org. An expired session, or one whose API key was revoked (or moved to another org)
/// since, is deleted and counts as none. Read from the database on every page, so a changed
/// setting or a revoked key counts at once.
pub async fn caller_of(state: &Arc<App>, token: &str) -> Result<Option<Arc<Caller>>, ApiError> {
    let hash = token_hash(token);
    let now = clock::unix_ms(clock::now());
    crate::blocking(state, move |st| {
        let Some(s) = st.store.find_session(&hash)? else {
            return Ok(None);
        };
        let key = st.store.find_key(&s.key_prefix)?;
        let live = s.expires_at > now
            && key
                .as_ref()
                .is_some_and(|(k, _)| k.revoked_at.is_none() && k.org_id == s.org_id);
        match key {
            Some((k, org)) if live => {
                let scopes = ratelimit::Scopes::parse(&k.scopes).map_err(|e| {
                    ApiError::internal(anyhow::anyhow!("key {}: stored scopes: {e}", k.prefix))
                })?;
                Ok(Some(Arc::new(Caller {
                    key_prefix: k.prefix,
                    org: Arc::new(OrgSettings::try_from(&org).map_err(ApiError::Internal)?),
                    scopes,
                })))
            }
            _ => {
                st.store.delete_session(&hash)?;
                Ok(None)
            }
        }
    })
    .await
}

/// Signs out: deletes the session of `token`.
pub async fn end(state: &Arc<App>, token: &str) -> Result<(), ApiError> {
    let hash = token_hash(token);
    crate::blocking(state, move |st| {
        st.store.delete_session(&hash)?;
        Ok(())
    })
    .await
}

/// A share link and its org, by the link's token (whether it is live is the caller's check:
/// a revoked and an expired link get different pages).
pub async fn share(
    state: &Arc<App>,
    token: &str,
) -> Result<Option<(ShareLinkRow, OrgSettings)>, ApiError> {
    let hash = token_hash(token);
    crate::blocking(state, move |st| {
        let Some(link) = st.store.find_share(&hash)? else {
            return Ok(None);
        };
        let org = st
            .store
            .find_org(&link.org_id)?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("share link without org")))?;
        let org = OrgSettings::try_from(&org).map_err(ApiError::Internal)?;
        Ok(Some((link, org)))
    })
    .await
}
