//! Who is calling: an API key verified against its argon2id hash, and the org it belongs to.
//! The HTTP middleware (and next MCP) reads the bearer token and calls [`authenticate`]; the
//! per-key rate limit is checked by the caller with [`crate::App::limiter`].
//!
//! A key is verified against its argon2id hash once, then kept in a bounded in-memory cache
//! (keyed by the SHA-256 of the key, never the key) for at most the configured TTL (≤ 60 s), so
//! the hot path pays a hash lookup, not argon2. Revocation and org changes made elsewhere (the
//! CLI, another instance) are therefore seen within one TTL. When an entry expires the key's row
//! is read again (revocation, org), but argon2 runs again only if the stored hash is not the one
//! this exact key was already proven against: a busy key costs one row read per TTL, not tens
//! of milliseconds of CPU.
//!
//! Under attack (API.md §14): a key that is not proven costs an argon2 run, so those runs are
//! limited three ways. Failed checks are limited per key prefix and per client address
//! ([`ratelimit::FailureLimiter`]), refused before any hashing; a check waits at most
//! [`VERIFY_WAIT`] for one of the hashing slots, so work for a client that has long gone is
//! dropped rather than done; and the row is read before a slot is taken, so a key already
//! proven against its stored hash (the re-check of a cached key, a signed-in key) never waits
//! behind unproven ones. An unknown prefix is answered after about as long as a hash takes,
//! without hashing, so the timing does not tell whether a prefix exists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use catalogue::Currency;
use ratelimit::{FailureLimiter, FailureLimits, Plan};
use roi_engine::{BaselineMinutes, HourlyRate};
use sha2::{Digest, Sha256};

use crate::clock;
use crate::error::ApiError;
use crate::keys::parse_key;
use crate::state::App;

/// Cached verdicts at most; past this the cache drops expired entries, then everything.
const CACHE_CAPACITY: usize = 10_000;

/// Failed checks one key prefix may have back to back, then one more per 6 s.
pub const PREFIX_FAILURES: FailureLimits = FailureLimits {
    burst: 10,
    interval: Duration::from_secs(6),
};

/// Failed checks one client address may have back to back, then one more per 3 s.
pub const ADDRESS_FAILURES: FailureLimits = FailureLimits {
    burst: 20,
    interval: Duration::from_secs(3),
};

/// Prefixes and addresses with failures remembered at most (each).
const FAILURE_CAPACITY: usize = 100_000;

/// Longest a check waits for a hashing slot; past it the request is refused (429), not queued.
pub const VERIFY_WAIT: Duration = Duration::from_secs(2);

/// The first guess at an argon2 run's duration, before one was measured.
const HASH_TIME_GUESS: Duration = Duration::from_millis(20);

/// An org's settings as the request path uses them (parsed once per cache fill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSettings {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    pub currency: Currency,
    pub hourly_rate: HourlyRate,
    pub fallback_baseline: Option<BaselineMinutes>,
    pub monthly_event_cap: Option<u64>,
    /// Days events are kept; `None`: the plan's (`retention::days`).
    pub retention_days: Option<u32>,
    /// The anchor org of an agency workspace; `None` for every other org.
    pub parent: Option<String>,
}

impl OrgSettings {
    /// The anchor whose pool the org's events count against: its own id for an agency anchor,
    /// its parent's for a workspace, `None` off the agency plan.
    pub fn pool(&self) -> Option<&str> {
        (self.plan == Plan::Agency).then(|| self.parent.as_deref().unwrap_or(&self.id))
    }
}

impl TryFrom<&store::OrgRow> for OrgSettings {
    type Error = anyhow::Error;

    fn try_from(row: &store::OrgRow) -> anyhow::Result<Self> {
        let bad = |what: &str| anyhow::anyhow!("org {}: stored {what} is invalid", row.id);
        Ok(OrgSettings {
            id: row.id.clone(),
            name: row.name.clone(),
            plan: Plan::parse(&row.plan).map_err(|_| bad("plan"))?,
            currency: Currency::parse(&row.currency).map_err(|_| bad("currency"))?,
            hourly_rate: HourlyRate::parse(&row.hourly_rate).map_err(|_| bad("hourly_rate"))?,
            fallback_baseline: row
                .fallback_baseline_minutes
                .as_deref()
                .map(BaselineMinutes::parse)
                .transpose()
                .map_err(|_| bad("fallback_baseline_minutes"))?,
            monthly_event_cap: row
                .monthly_event_cap
                .map(u64::try_from)
                .transpose()
                .map_err(|_| bad("monthly_event_cap"))?,
            retention_days: row
                .retention_days
                .map(u32::try_from)
                .transpose()
                .map_err(|_| bad("retention_days"))?,
            parent: row.parent_id.clone(),
        })
    }
}

/// Who is calling: the key (by its public prefix) and its org.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_prefix: String,
    pub org: Arc<OrgSettings>,
    /// What the key may do (API.md §13).
    pub scopes: ratelimit::Scopes,
}

#[derive(Debug, Clone)]
enum Verdict {
    Valid(Arc<Caller>),
    Revoked,
}

/// Verified keys, by SHA-256 of the key, with an expiry.
///
/// A miss costs an argon2 hash (tens of milliseconds of CPU), so misses are bounded twice:
/// concurrent requests with the same key wait for one verification (single flight) instead of
/// each hashing, and at most `verify_slots` verifications run at once, so a burst of new or
/// wrong keys cannot starve the workers of CPU.
#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Verdict, Instant)>>,
    flights: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    verify_slots: tokio::sync::Semaphore,
    /// For each key (by SHA-256) that argon2 accepted: the stored hash it matched.
    proven: Mutex<HashMap<[u8; 32], String>>,
    /// argon2 verifications run (for /metrics and tests).
    hash_checks: AtomicU64,
    /// A moving average of an argon2 run, in microseconds.
    hash_micros: AtomicU64,
    /// Failed checks by key prefix and by client address.
    prefix_failures: FailureLimiter<String>,
    address_failures: FailureLimiter<IpAddr>,
    /// The origin of the failure limiters' time.
    origin: Instant,
    /// When each key prefix was last used on this instance (Unix ms), written to the store
    /// by a periodic task, never per request.
    used: Mutex<HashMap<String, i64>>,
}

impl KeyCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            verify_slots: tokio::sync::Semaphore::new(cores),
            proven: Mutex::new(HashMap::new()),
            hash_checks: AtomicU64::new(0),
            hash_micros: AtomicU64::new(duration_micros(HASH_TIME_GUESS)),
            prefix_failures: FailureLimiter::new(PREFIX_FAILURES, FAILURE_CAPACITY),
            address_failures: FailureLimiter::new(ADDRESS_FAILURES, FAILURE_CAPACITY),
            origin: clock::instant(),
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Notes that a request used the key with this prefix.
    fn mark_used(&self, prefix: &str) {
        let now = clock::unix_ms(clock::now());
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        match used.get_mut(prefix) {
            Some(t) => *t = now,
            None => {
                used.insert(prefix.to_owned(), now);
            }
        }
    }

    /// The keys used since the last call, with when (for the periodic write).
    pub fn take_used(&self) -> Vec<(String, i64)> {
        std::mem::take(&mut *self.used.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect()
    }

    /// Forgets the verified entries of a key prefix (it was revoked here: this instance
    /// refuses it at once; the others within their TTL).
    pub fn evict_prefix(&self, prefix: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, (v, _)| !matches!(v, Verdict::Valid(c) if c.key_prefix == prefix));
    }

    /// Forgets the verified entries of every key of an org (its settings changed through
    /// this instance: the next request reads them again; other instances within their TTL).
    pub fn evict_org(&self, org_id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, (v, _)| !matches!(v, Verdict::Valid(c) if c.org.id == org_id));
    }

    /// argon2 verifications run so far.
    pub fn hash_checks(&self) -> u64 {
        self.hash_checks.load(Ordering::Relaxed)
    }

    fn since_origin(&self) -> Duration {
        clock::instant().saturating_duration_since(self.origin)
    }

    /// Takes an unproven check of `prefix` (when the prefix exists) from `client`, counted as
    /// a failure until [`KeyCache::succeeded`] hands it back; refused when either is over its
    /// limit.
    fn attempt(&self, prefix: Option<&str>, client: Option<IpAddr>) -> Result<(), ApiError> {
        let now = self.since_origin();
        let limited = |retry_after| ApiError::KeyChecksLimited { retry_after };
        if let Some(p) = prefix {
            self.prefix_failures
                .try_attempt(&p.to_owned(), now)
                .map_err(limited)?;
        }
        if let Some(a) = client {
            if let Err(secs) = self.address_failures.try_attempt(&a, now) {
                if let Some(p) = prefix {
                    self.prefix_failures.refund(&p.to_owned(), now);
                }
                return Err(limited(secs));
            }
        }
        Ok(())
    }

    /// Hands back an attempt that proved the right secret.
    fn succeeded(&self, prefix: &str, client: Option<IpAddr>) {
        let now = self.since_origin();
        self.prefix_failures.refund(&prefix.to_owned(), now);
        if let Some(a) = client {
            self.address_failures.refund(&a, now);
        }
    }

    /// About how long an argon2 run takes here.
    fn hash_time(&self) -> Duration {
        Duration::from_micros(self.hash_micros.load(Ordering::Relaxed))
    }

    fn hash_took(&self, d: Duration) {
        let old = self.hash_micros.load(Ordering::Relaxed);
        let new = (old.saturating_mul(7).saturating_add(duration_micros(d))) / 8;
        self.hash_micros.store(new, Ordering::Relaxed);
    }

    fn proven_against(&self, digest: &[u8; 32], stored_hash: &str) -> bool {
        let proven = self.proven.lock().unwrap_or_else(|p| p.into_inner());
        proven.get(digest).is_some_and(|h| h == stored_hash)
    }

    fn prove(&self, digest: [u8; 32], stored_hash: String) {
        let mut proven = self.proven.lock().unwrap_or_else(|p| p.into_inner());
        if proven.len() >= CACHE_CAPACITY {
            proven.clear();
        }
        proven.insert(digest, stored_hash);
    }

    fn verification_lock(&self, digest: &[u8; 32]) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        flights.entry(*digest).or_default().clone()
    }

    fn verification_done(&self, digest: &[u8; 32]) {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        flights.remove(digest);
    }

    fn get(&self, digest: &[u8; 32], now: Instant) -> Option<Verdict> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(digest)
            .filter(|(_, expires)| *expires > now)
            .map(|(v, _)| v.clone())
    }

    fn put(&self, digest: [u8; 32], verdict: Verdict, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(digest, (verdict, now + self.ttl));
    }
}

/// Verifies the key: from the cache, or against the database (argon2 on the blocking pool).
/// `client` is the caller's address, for the limits on failed checks.
pub async fn authenticate(
    state: &Arc<App>,
    token: String,
    client: Option<IpAddr>,
) -> Result<Arc<Caller>, ApiError> {
    let parsed = parse_key(&token).ok_or(ApiError::InvalidApiKey)?;
    let prefix = parsed.prefix.to_owned();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let cache = &state.key_cache;
    let cached = |v: Verdict| match v {
        Verdict::Valid(ctx) => {
            cache.mark_used(&ctx.key_prefix);
            Ok(ctx)
        }
        Verdict::Revoked => Err(ApiError::KeyRevoked),
    };
    if let Some(v) = cache.get(&digest, clock::instant()) {
        return cached(v);
    }
    let lock = cache.verification_lock(&digest);
    let _in_flight = lock.lock().await;
    if let Some(v) = cache.get(&digest, clock::instant()) {
        return cached(v);
    }
    let result = verify(state, token, prefix, digest, client).await;
    if let Ok(verdict) = &result {
        cache.put(digest, verdict.clone(), clock::instant());
    }
    cache.verification_done(&digest);
    cached(result?)
}

/// Checks a key against its stored row: the row is read first; argon2 runs (on the blocking
/// pool, within a slot, after the failure limits) only when this exact key was not already
/// proven against the stored hash.
async fn verify(
    state: &Arc<App>,
    token: String,
    prefix: String,
    digest: [u8; 32],
    client: Option<IpAddr>,
) -> Result<Verdict, ApiError> {
    let cache = &state.key_cache;
    let wanted = prefix.clone();
    let Some((key, org)) =
        crate::blocking(state, move |st| Ok(st.store.find_key(&wanted)?)).await?
    else {
        // No such prefix: as slow as a wrong secret, without the hashing.
        cache.attempt(None, client)?;
        tokio::time::sleep(cache.hash_time()).await;
        return Err(ApiError::InvalidApiKey);
    };
    // The secret is checked before revocation is told, so a prefix alone reveals nothing.
    if !cache.proven_against(&digest, &key.secret_hash) {
        cache.attempt(Some(&prefix), client)?;
        let slot = match tokio::time::timeout(VERIFY_WAIT, cache.verify_slots.acquire()).await {
            Ok(slot) => slot.map_err(|e| {
                ApiError::internal(anyhow::anyhow!("verification slots closed: {e}"))
            })?,
            Err(_) => {
                // Not checked: the attempt is handed back, the client told to retry.
                cache.succeeded(&prefix, client);
                return Err(ApiError::KeyChecksLimited { retry_after: 1 });
            }
        };
        let stored = key.secret_hash.clone();
        let (matched, took) = crate::blocking(state, move |st| {
            st.key_cache.hash_checks.fetch_add(1, Ordering::Relaxed);
            let started = clock::instant();
            let matched = st
                .hasher
                .verify(&token, &stored)
                .map_err(ApiError::internal)?;
            Ok((matched, started.elapsed()))
        })
        .await?;
        drop(slot);
        cache.hash_took(took);
        if !matched {
            return Err(ApiError::InvalidApiKey);
        }
        cache.succeeded(&prefix, client);
        cache.prove(digest, key.secret_hash.clone());
    }
    if key.revoked_at.is_some() {
        return Ok(Verdict::Revoked);
    }
    let org = OrgSettings::try_from(&org).map_err(ApiError::Internal)?;
    let scopes = ratelimit::Scopes::parse(&key.scopes)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("key {prefix}: stored scopes: {e}")))?;
    Ok(Verdict::Valid(Arc::new(Caller {
        key_prefix: prefix,
        org: Arc::new(org),
        scopes,
    })))
}

/// The caller as it reads one of its org's agency workspaces (`?workspace=`, API.md §12):
/// the same key, prefix and scopes, with the workspace's settings as its org. Only an anchor's
/// own workspaces are found; any other id (an unknown org, a sibling, the anchor as seen from
/// a workspace, another tenant's org) is the same 404, so the answer tells nothing about orgs
/// the caller may not read. Its own id is itself. Costs one primary-key read.
pub async fn as_workspace(
    state: &Arc<App>,
    caller: &Arc<Caller>,
    workspace: &str,
) -> Result<Arc<Caller>, ApiError> {
    if workspace == caller.org.id {
        return Ok(caller.clone());
    }
    let not_found = || ApiError::NotFound {
        message: format!(
            "no workspace {:?} under this org: an agency anchor's key may read its own \
             workspaces (see GET /api/v1/org)",
            workspace.chars().take(64).collect::<String>()
        ),
    };
    // Only an anchor has workspaces; an id that is not an org id's shape is not looked up.
    let plausible = workspace.len() <= 64
        && workspace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if caller.org.plan != Plan::Agency || caller.org.parent.is_some() || !plausible {
        return Err(not_found());
    }
    let (anchor, id) = (caller.org.id.clone(), workspace.to_owned());
    let row = crate::blocking(state, move |st| Ok(st.store.workspace_of(&anchor, &id)?))
        .await?
        .ok_or_else(not_found)?;
    let org = OrgSettings::try_from(&row).map_err(ApiError::Internal)?;
    Ok(Arc::new(Caller {
        key_prefix: caller.key_prefix.clone(),
        org: Arc::new(org),
        scopes: caller.scopes,
    }))
}

/// Verifies a key against the database now, past the cache: for the dashboard's sign-in, which
/// is rare and where a revocation must count at once.
pub async fn verify_key_fresh(
    state: &Arc<App>,
    token: &str,
    client: Option<IpAddr>,
) -> Result<Arc<Caller>, ApiError> {
    let parsed = parse_key(token).ok_or(ApiError::InvalidApiKey)?;
    let prefix = parsed.prefix.to_owned();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    match verify(state, token.to_owned(), prefix, digest, client).await? {
        Verdict::Valid(ctx) => Ok(ctx),
        Verdict::Revoked => Err(ApiError::KeyRevoked),
    }
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
