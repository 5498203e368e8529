//! `POST/GET /keys` and `DELETE /keys/{prefix}` (API.md §13): an org's keys over HTTP, with an
//! admin key. The key is in the creation's answer only; lists show prefixes, never secrets or
//! hashes. Revocation is refused at once on this instance and within the key cache TTL on the
//! others.

use std::sync::Arc;

use ratelimit::Scopes;
use serde::Serialize;
use serde_json::{Map, Value};
use store::ApiKeyRow;
use utoipa::ToSchema;

use crate::auth::OrgSettings;
use crate::clock;
use crate::error::ApiError;
use crate::keys::KeyMode;
use crate::state::App;

/// Live keys one org may have; revoke one to make another (each costs an argon2 hash to
/// create and a row to keep).
pub const MAX_LIVE_KEYS: usize = 100;

/// Keys one org may create per hour over HTTP, revoked ones included: each is an argon2 hash
/// (tens of milliseconds of a core), so revoking and creating in a loop must not let one org
/// take the instance's CPU from the others (API.md §14).
pub const MAX_CREATED_PER_HOUR: usize = 20;

/// A key as listed: never its secret or hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyInfo {
    /// The 8-character public part (`hh_live_<prefix>_…`).
    pub prefix: String,
    pub name: String,
    /// Any of `track`, `read`, `admin`.
    pub scopes: Vec<&'static str>,
    /// `live` or `test`.
    pub mode: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Up to a minute late (recorded without a write per request); `null`: never used.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
}

impl KeyInfo {
    fn of(row: &ApiKeyRow) -> KeyInfo {
        let at = |ms: i64| clock::format_ms(clock::from_unix_ms(ms));
        KeyInfo {
            prefix: row.prefix.clone(),
            name: row.name.clone(),
            scopes: Scopes::parse(&row.scopes)
                .map(|s| s.list().into_iter().map(|x| x.as_str()).collect())
                .unwrap_or_default(),
            mode: row.mode.clone(),
            created_at: at(row.created_at),
            last_used_at: row.last_used_at.map(at),
            revoked_at: row.revoked_at.map(at),
        }
    }
}

/// `POST /keys`: the new key, shown only here.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewKey {
    /// The whole key: keep it now, it is not shown again.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

/// `GET /keys`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Keys {
    /// Oldest first, revoked ones included.
    pub keys: Vec<KeyInfo>,
}

/// `POST /keys` {scopes, name?}: a new live key of the caller's org.
pub async fn create(
    state: &Arc<App>,
    org: &OrgSettings,
    body: &Map<String, Value>,
) -> Result<NewKey, ApiError> {
    crate::webhooks::reject_unknown(body, &["scopes", "name"])?;
    let scopes_error = || {
        ApiError::field(
            "scopes",
            "must be a list of at least one of track, read, admin",
        )
    };
    let scopes = match body.get("scopes") {
        Some(Value::Array(items)) if items.len() <= 10 => {
            let mut names = Vec::with_capacity(items.len());
            for i in items {
                names.push(i.as_str().ok_or_else(scopes_error)?);
            }
            Scopes::from_names(names).map_err(|e| ApiError::field("scopes", e.to_string()))?
        }
        _ => return Err(scopes_error()),
    };
    let name = match body.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => {
            crate::orgs::check_key_name(s).map_err(|e| ApiError::field("name", e))?;
            s.clone()
        }
        Some(_) => return Err(ApiError::field("name", "must be a string")),
    };
    let org_id = org.id.clone();
    let (key, row) = crate::blocking(state, move |st| {
        let rows = st.store.list_keys(&org_id)?;
        let hour_ago = clock::unix_ms(clock::now()) - 3_600_000;
        let mut recent: Vec<i64> = rows
            .iter()
            .map(|k| k.created_at)
            .filter(|t| *t > hour_ago)
            .collect();
        if recent.len() >= MAX_CREATED_PER_HOUR {
            recent.sort_unstable();
            let frees_at = recent[recent.len() - MAX_CREATED_PER_HOUR] + 3_600_000;
            let secs = (frees_at - clock::unix_ms(clock::now())) / 1000 + 1;
            return Err(ApiError::RateLimited {
                retry_after: u32::try_from(secs.max(1)).unwrap_or(3600),
            });
        }
        let live = rows.iter().filter(|k| k.revoked_at.is_none()).count();
        if live >= MAX_LIVE_KEYS {
            return Err(ApiError::Validation {
                message: format!("the org has {MAX_LIVE_KEYS} live keys, the most it may"),
                field: None,
                hint: Some("revoke a key you no longer use (DELETE /api/v1/keys/{prefix})".into()),
            });
        }
        crate::orgs::new_key(
            &st.store,
            &st.hasher,
            &org_id,
            KeyMode::Live,
            scopes,
            &name,
            clock::now(),
        )
        .map_err(ApiError::internal)
    })
    .await?;
    Ok(NewKey {
        key,
        info: KeyInfo::of(&row),
    })
}

/// `GET /keys`: every key of the org, oldest first.
pub async fn list(state: &Arc<App>, org: &OrgSettings) -> Result<Keys, ApiError> {
    let org_id = org.id.clone();
    let rows = crate::blocking(state, move |st| Ok(st.store.list_keys(&org_id)?)).await?;
    Ok(Keys {
        keys: rows.iter().map(KeyInfo::of).collect(),
    })
}

/// `DELETE /keys/{prefix}`: revokes a live key of the org (the caller's own too).
pub async fn revoke(state: &Arc<App>, org: &OrgSettings, prefix: &str) -> Result<(), ApiError> {
    let (org_id, p) = (org.id.clone(), prefix.to_owned());
    let now = clock::unix_ms(clock::now());
    let done = crate::blocking(state, move |st| {
        Ok(st.store.revoke_org_key(&org_id, &p, now)?)
    })
    .await?;
    if !done {
        return Err(ApiError::NotFound {
            message: "no live key of this org has that prefix".into(),
        });
    }
    state.key_cache.evict_prefix(prefix);
    Ok(())
}
