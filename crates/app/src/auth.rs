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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use catalogue::Currency;
use ratelimit::Plan;
use roi_engine::{BaselineMinutes, HourlyRate};
use sha2::{Digest, Sha256};

use crate::clock;
use crate::error::ApiError;
use crate::keys::parse_key;
use crate::state::App;

/// Cached verdicts at most; past this the cache drops expired entries, then everything.
const CACHE_CAPACITY: usize = 10_000;

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
        })
    }
}

/// Who is calling: the key (by its public prefix) and its org.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_prefix: String,
    pub org: Arc<OrgSettings>,
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
    hash_checks: std::sync::atomic::AtomicU64,
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
            hash_checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// argon2 verifications run so far.
    pub fn hash_checks(&self) -> u64 {
        self.hash_checks.load(std::sync::atomic::Ordering::Relaxed)
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
pub async fn authenticate(state: &Arc<App>, token: String) -> Result<Arc<Caller>, ApiError> {
    let parsed = parse_key(&token).ok_or(ApiError::InvalidApiKey)?;
    let prefix = parsed.prefix.to_owned();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let cache = &state.key_cache;
    let cached = |v: Verdict| match v {
        Verdict::Valid(ctx) => Ok(ctx),
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
    let result = verify(state, token, prefix, digest).await;
    if let Ok(verdict) = &result {
        cache.put(digest, verdict.clone(), clock::instant());
    }
    cache.verification_done(&digest);
    cached(result?)
}

/// Checks a key against its stored hash, on the blocking pool, within the verification slots.
async fn verify(
    state: &Arc<App>,
    token: String,
    prefix: String,
    digest: [u8; 32],
) -> Result<Verdict, ApiError> {
    let _slot = state
        .key_cache
        .verify_slots
        .acquire()
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("verification slots closed: {e}")))?;
    let verdict = crate::blocking(state, move |st| -> Result<Option<Verdict>, ApiError> {
        let Some((key, org)) = st.store.find_key(&prefix)? else {
            return Ok(None);
        };
        // The secret is checked before revocation is told, so a prefix alone reveals nothing.
        // A key already proven against this very hash needs no second argon2 run.
        let cache = &st.key_cache;
        if !cache.proven_against(&digest, &key.secret_hash) {
            cache
                .hash_checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if !st
                .hasher
                .verify(&token, &key.secret_hash)
                .map_err(ApiError::internal)?
            {
                return Ok(None);
            }
            cache.prove(digest, key.secret_hash.clone());
        }
        if key.revoked_at.is_some() {
            return Ok(Some(Verdict::Revoked));
        }
        let org = OrgSettings::try_from(&org).map_err(ApiError::Internal)?;
        Ok(Some(Verdict::Valid(Arc::new(Caller {
            key_prefix: prefix,
            org: Arc::new(org),
        }))))
    })
    .await?;
    verdict.ok_or(ApiError::InvalidApiKey)
}

/// Verifies a key against the database now, past the cache: for the dashboard's sign-in, which
/// is rare and where a revocation must count at once.
pub async fn verify_key_fresh(state: &Arc<App>, token: &str) -> Result<Arc<Caller>, ApiError> {
    let parsed = parse_key(token).ok_or(ApiError::InvalidApiKey)?;
    let prefix = parsed.prefix.to_owned();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    match verify(state, token.to_owned(), prefix, digest).await? {
        Verdict::Valid(ctx) => Ok(ctx),
        Verdict::Revoked => Err(ApiError::KeyRevoked),
    }
}
