//! Authentication and per-key rate limiting for every `/api/v1` and `/v1` route.
//!
//! A key is verified against its argon2id hash once, then kept in a bounded in-memory cache
//! (keyed by the SHA-256 of the key, never the key) for at most the configured TTL (≤ 60 s), so
//! the hot path pays a hash lookup, not argon2. Revocation and org changes made elsewhere (the
//! CLI, another instance) are therefore seen within one TTL. When an entry expires the key's row
//! is read again (revocation, org), but argon2 runs again only if the stored hash is not the one
//! this exact key was already proven against: a busy key costs one row read per TTL, not tens
//! of milliseconds of CPU. Every answer of these routes,
//! errors included, carries the `RateLimit-Policy` and `RateLimit` headers once the key is
//! known.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use catalogue::Currency;
use ratelimit::{Plan, RateDecision};
use roi_engine::{BaselineMinutes, HourlyRate};
use sha2::{Digest, Sha256};

use crate::clock;
use crate::errors::ApiError;
use crate::keys::parse_key;
use crate::state::AppState;

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

/// Who is calling: put in the request extensions by the middleware.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub key_prefix: String,
    pub org: Arc<OrgSettings>,
}

#[derive(Debug, Clone)]
enum Verdict {
    Valid(Arc<AuthContext>),
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

    fn flight(&self, digest: &[u8; 32]) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        flights.entry(*digest).or_default().clone()
    }

    fn land(&self, digest: &[u8; 32]) {
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

fn bearer(req: &ServiceRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or(ApiError::MissingAuthorization)?;
    let value = value.to_str().map_err(|_| ApiError::InvalidApiKey)?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(ApiError::MissingAuthorization)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::MissingAuthorization);
    }
    Ok(token.trim().to_owned())
}

/// Verifies the key: from the cache, or against the database (argon2 on the blocking pool).
async fn authenticate(
    state: &web::Data<AppState>,
    token: String,
) -> Result<Arc<AuthContext>, ApiError> {
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
    let flight = cache.flight(&digest);
    let _in_flight = flight.lock().await;
    if let Some(v) = cache.get(&digest, clock::instant()) {
        return cached(v);
    }
    let result = verify(state, token, prefix, digest).await;
    if let Ok(verdict) = &result {
        cache.put(digest, verdict.clone(), clock::instant());
    }
    cache.land(&digest);
    cached(result?)
}

/// Checks a key against its stored hash, on the blocking pool, within the verification slots.
async fn verify(
    state: &web::Data<AppState>,
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
    let st = state.clone();
    let verdict = web::block(move || -> Result<Option<Verdict>, ApiError> {
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
        Ok(Some(Verdict::Valid(Arc::new(AuthContext {
            key_prefix: prefix,
            org: Arc::new(org),
        }))))
    })
    .await??;
    verdict.ok_or(ApiError::InvalidApiKey)
}

/// Verifies a key against the database now, past the cache: for the dashboard's sign-in, which
/// is rare and where a revocation must count at once.
pub async fn verify_key_fresh(
    state: &web::Data<AppState>,
    token: &str,
) -> Result<Arc<AuthContext>, ApiError> {
    let parsed = parse_key(token).ok_or(ApiError::InvalidApiKey)?;
    let prefix = parsed.prefix.to_owned();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    match verify(state, token.to_owned(), prefix, digest).await? {
        Verdict::Valid(ctx) => Ok(ctx),
        Verdict::Revoked => Err(ApiError::KeyRevoked),
    }
}

fn set_rate_headers(headers: &mut actix_web::http::header::HeaderMap, decision: &RateDecision) {
    let pairs = [
        ("ratelimit-policy", decision.policy_header()),
        ("ratelimit", decision.ratelimit_header()),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

/// The middleware: authenticate, rate-limit, run the handler, add the rate-limit headers.
pub async fn require_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let e = ApiError::internal(anyhow::anyhow!("application state missing"));
        return Ok(req.into_response(e.error_response()).map_into_right_body());
    };
    let ctx = match bearer(&req) {
        Ok(token) => authenticate(&state, token).await,
        Err(e) => Err(e),
    };
    let ctx = match ctx {
        Ok(ctx) => ctx,
        Err(e) => return Ok(req.into_response(e.error_response()).map_into_right_body()),
    };
    let per_second = state.config.plan_limits.per_second(ctx.org.plan);
    let decision = state.limiter.check(&ctx.key_prefix, per_second);
    if let Some(retry_after) = decision.retry_after_seconds() {
        let mut resp = req.into_response(ApiError::RateLimited { retry_after }.error_response());
        set_rate_headers(resp.headers_mut(), &decision);
        return Ok(resp.map_into_right_body());
    }
    req.extensions_mut().insert(ctx);
    let mut resp = next.call(req).await?;
    set_rate_headers(resp.headers_mut(), &decision);
    Ok(resp.map_into_left_body())
}
