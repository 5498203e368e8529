//! Per-key per-second rate limiting, and the `RateLimit` / `RateLimit-Policy` header values.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// The policy name used in both headers. There is one policy per response.
pub const POLICY_NAME: &str = "default";

type DirectLimiter<C> = RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>;

/// One governor direct limiter per API key, each with its own per-second quota
/// (`Quota::per_second(n)`: a burst of `n`, refilled evenly over one second).
///
/// Keys are plain strings (the server uses the key's public prefix). An entry is created on a
/// key's first check and replaced by a fresh, full bucket when the quota passed for that key
/// changes (plan change or operator override).
///
/// Memory: entries are only created for keys the caller checks, but nothing stops a caller from
/// checking unknown keys, so the map is prunable: call [`KeyedLimiter::retain_recent`]
/// periodically (e.g. once a minute). It drops only entries whose bucket is full again, which a
/// fresh limiter would answer identically, so pruning never changes a decision.
///
/// Thread-safe: all methods take `&self`. One mutex guards the map; the critical section is a
/// hash lookup plus governor's constant-time GCRA step, far shorter than a request.
#[derive(Debug)]
pub struct KeyedLimiter<C: Clock> {
    clock: C,
    slots: Mutex<HashMap<String, Slot<C>>>,
}

#[derive(Debug)]
struct Slot<C: Clock> {
    per_second: NonZeroU32,
    limiter: DirectLimiter<C>,
    /// No earlier than the instant at which the bucket is full again; pruning waits for it.
    full_at: C::Instant,
}

impl<C: Clock + Clone> KeyedLimiter<C> {
    /// An empty limiter reading time from `clock` (each key's limiter gets a clone of it).
    pub fn new(clock: C) -> Self {
        Self {
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key_id`'s bucket, whose size and refill rate are `per_second`.
    pub fn check(&self, key_id: &str, per_second: NonZeroU32) -> RateDecision {
        let mut slots = self.lock();
        if let Some(slot) = slots
            .get_mut(key_id)
            .filter(|slot| slot.per_second == per_second)
        {
            return slot.check(&self.clock);
        }
        let fresh = Slot {
            per_second,
            limiter: RateLimiter::direct_with_clock(
                Quota::per_second(per_second),
                self.clock.clone(),
            )
            .with_middleware::<StateInformationMiddleware>(),
            full_at: self.clock.now(),
        };
        slots
            .entry(key_id.to_owned())
            .insert_entry(fresh)
            .into_mut()
            .check(&self.clock)
    }

    /// Forgets every key whose bucket is full again; see the type's docs.
    pub fn retain_recent(&self) {
        let now = self.clock.now();
        let mut slots = self.lock();
        slots.retain(|_, slot| slot.full_at > now);
        slots.shrink_to_fit();
    }

    /// Forgets one key at once (e.g. a revoked key); its next check starts with a full bucket.
    pub fn remove(&self, key_id: &str) {
        self.lock().remove(key_id);
    }

    /// Number of keys currently tracked.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot<C>>> {
        // A panic while holding the lock cannot leave a bucket half-updated (governor updates
        // it atomically), so a poisoned map is still correct to use.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<C: Clock> Slot<C> {
    fn check(&mut self, clock: &C) -> RateDecision {
        let limit = self.per_second.get();
        match self.limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                // Each used cell refills after one interval, so the bucket is full again at the
                // latest after (limit - remaining) intervals.
                let used = limit.saturating_sub(remaining);
                let until_full = snapshot.quota().replenish_interval().saturating_mul(used);
                self.full_at = clock.now() + Nanos::from(until_full);
                RateDecision::Allowed {
                    limit,
                    remaining,
                    reset_seconds: ceil_seconds(until_full),
                }
            }
            Err(not_until) => {
                // A denial leaves the bucket as it was, so `full_at` stays valid.
                let wait = not_until.wait_time_from(clock.now());
                RateDecision::Denied {
                    limit,
                    retry_after_seconds: ceil_seconds(wait).max(1),
                }
            }
        }
    }
}

/// Whole seconds, rounded up, saturating at `u32::MAX`.
fn ceil_seconds(d: Duration) -> u32 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateDecision {
    /// Let it through.
    Allowed {
        /// Requests per second of the key's quota (= its burst size).
        limit: u32,
        /// Requests that may still be made right away, after this one.
        remaining: u32,
        /// Seconds until the bucket is full again, rounded up (0 only when nothing is used).
        reset_seconds: u32,
    },
    /// Answer 429 `rate_limited` with `Retry-After: retry_after_seconds`.
    Denied {
        /// Requests per second of the key's quota.
        limit: u32,
        /// Seconds until the next request will be allowed, rounded up, at least 1.
        retry_after_seconds: u32,
    },
}

impl RateDecision {
    /// Whether the request may proceed.
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The key's per-second limit.
    pub const fn limit(&self) -> u32 {
        match *self {
            Self::Allowed { limit, .. } | Self::Denied { limit, .. } => limit,
        }
    }

    /// The `Retry-After` value (seconds) for a denial, `None` when allowed.
    pub const fn retry_after_seconds(&self) -> Option<u32> {
        match *self {
            Self::Allowed { .. } => None,
            Self::Denied {
                retry_after_seconds,
                ..
            } => Some(retry_after_seconds),
        }
    }

    /// The `RateLimit` header value (IETF httpapi RateLimit header fields draft, a Structured
    /// Field list with one item): `"default";r=<remaining>;t=<seconds>`.
    ///
    /// `r` is the number of requests left in the current window and `t` the seconds until
    /// that quota resets: when allowed, the seconds until the bucket is full again; when
    /// denied, `r=0` and `t` equals `Retry-After`. Example: `"default";r=59;t=1`.
    pub fn ratelimit_header(&self) -> String {
        let (remaining, reset) = match *self {
            Self::Allowed {
                remaining,
                reset_seconds,
                ..
            } => (remaining, reset_seconds),
            Self::Denied {
                retry_after_seconds,
                ..
            } => (0, retry_after_seconds),
        };
        format!("\"{POLICY_NAME}\";r={remaining};t={reset}")
    }

    /// The `RateLimit-Policy` header value for this decision's limit; see [`policy_header`].
    pub fn policy_header(&self) -> String {
        policy_header(self.limit())
    }
}

/// The `RateLimit-Policy` header value (IETF httpapi RateLimit header fields draft, a
/// Structured Field list with one item): `"default";q=<limit>;w=1`, i.e. a quota of `limit`
/// requests per window of 1 second. Example: `"default";q=60;w=1`.
pub fn policy_header(limit: u32) -> String {
    format!("\"{POLICY_NAME}\";q={limit};w=1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::{DefaultClock, FakeRelativeClock};
    use std::sync::Arc;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    const FREE: u32 = 60;

    fn limiter() -> (FakeRelativeClock, KeyedLimiter<FakeRelativeClock>) {
        let clock = FakeRelativeClock::default();
        (clock.clone(), KeyedLimiter::new(clock))
    }

    /// Checks until the first denial and returns how many were allowed.
    fn drain(limiter: &KeyedLimiter<FakeRelativeClock>, key: &str, per_second: u32) -> u32 {
        let mut allowed = 0;
        while limiter.check(key, nz(per_second)).is_allowed() {
            allowed += 1;
            assert!(allowed <= per_second, "more than a burst allowed");
        }
        allowed
    }

    #[test]
    fn free_key_allows_a_burst_of_60_then_denies_then_refills() {
        let (clock, limiter) = limiter();
        for i in 1..=FREE {
            assert_eq!(
                limiter.check("abcd1234", nz(FREE)),
                RateDecision::Allowed {
                    limit: FREE,
                    remaining: FREE - i,
                    reset_seconds: 1
                },
                "request {i}"
            );
        }
        let denied = limiter.check("abcd1234", nz(FREE));
        assert_eq!(
            denied,
            RateDecision::Denied {
                limit: FREE,
                retry_after_seconds: 1
            }
        );
        assert_eq!(denied.retry_after_seconds(), Some(1));

        clock.advance(Duration::from_secs(1));
        assert_eq!(drain(&limiter, "abcd1234", FREE), FREE);
    }

    #[test]
    fn refills_gradually_one_cell_per_interval() {
        let (clock, limiter) = limiter();
        assert_eq!(drain(&limiter, "k", FREE), FREE);
        // One cell comes back every 1/60 s.
        clock.advance(Duration::from_millis(17));
        assert!(limiter.check("k", nz(FREE)).is_allowed());
        assert!(!limiter.check("k", nz(FREE)).is_allowed());
        clock.advance(Duration::from_millis(500));
        assert_eq!(drain(&limiter, "k", FREE), 30);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let (_clock, limiter) = limiter();
        // A 1 req/s key: the second request waits a full second.
        assert!(limiter.check("slow", nz(1)).is_allowed());
        assert_eq!(
            limiter.check("slow", nz(1)),
            RateDecision::Denied {
                limit: 1,
                retry_after_seconds: 1
            }
        );
    }

    #[test]
    fn keys_are_independent() {
        let (_clock, limiter) = limiter();
        assert_eq!(drain(&limiter, "aaaa0000", FREE), FREE);
        assert_eq!(
            limiter.check("bbbb1111", nz(FREE)),
            RateDecision::Allowed {
                limit: FREE,
                remaining: FREE - 1,
                reset_seconds: 1
            }
        );
        assert!(!limiter.check("aaaa0000", nz(FREE)).is_allowed());
        assert_eq!(limiter.len(), 2);
    }

    #[test]
    fn a_changed_quota_takes_effect_with_a_fresh_bucket() {
        let (_clock, limiter) = limiter();
        assert_eq!(drain(&limiter, "k", FREE), FREE);
        // Upgraded to pro: a fresh bucket of 200.
        assert_eq!(
            limiter.check("k", nz(200)),
            RateDecision::Allowed {
                limit: 200,
                remaining: 199,
                reset_seconds: 1
            }
        );
        assert_eq!(drain(&limiter, "k", 200), 199);
        // Downgraded again: the new, smaller quota applies.
        assert_eq!(drain(&limiter, "k", 5), 5);
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn retain_recent_drops_only_full_buckets() {
        let (clock, limiter) = limiter();
        assert!(limiter.is_empty());
        limiter.check("a", nz(FREE));
        assert_eq!(drain(&limiter, "b", 2), 2);
        clock.advance(Duration::from_millis(100));
        // "a" refilled its one cell after 1/60 s; "b" needs a full second.
        limiter.retain_recent();
        assert_eq!(limiter.len(), 1);
        assert!(
            !limiter.check("b", nz(2)).is_allowed(),
            "state of b was kept"
        );
        clock.advance(Duration::from_secs(1));
        limiter.retain_recent();
        assert!(limiter.is_empty());
        limiter.check("c", nz(FREE));
        limiter.remove("c");
        assert!(limiter.is_empty());
    }

    #[test]
    fn many_threads_share_one_bucket_exactly() {
        let (_clock, limiter) = limiter();
        let limiter = Arc::new(limiter);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| limiter.check("shared", nz(FREE)).is_allowed())
                        .count()
                })
            })
            .collect();
        let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(allowed, FREE as usize);
    }

    #[test]
    fn limiter_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<KeyedLimiter<FakeRelativeClock>>();
        assert_send_sync::<KeyedLimiter<DefaultClock>>();
    }

    #[test]
    fn header_values() {
        let cases = [
            (
                RateDecision::Allowed {
                    limit: 60,
                    remaining: 59,
                    reset_seconds: 1,
                },
                r#""default";r=59;t=1"#,
                r#""default";q=60;w=1"#,
            ),
            (
                RateDecision::Allowed {
                    limit: 1000,
                    remaining: 0,
                    reset_seconds: 1,
                },
                r#""default";r=0;t=1"#,
                r#""default";q=1000;w=1"#,
            ),
            (
                RateDecision::Denied {
                    limit: 200,
                    retry_after_seconds: 3,
                },
                r#""default";r=0;t=3"#,
                r#""default";q=200;w=1"#,
            ),
        ];
        for (decision, ratelimit, policy) in cases {
            assert_eq!(decision.ratelimit_header(), ratelimit);
            assert_eq!(decision.policy_header(), policy);
        }
        assert_eq!(policy_header(60), r#""default";q=60;w=1"#);
    }

    #[test]
    fn ceil_seconds_table() {
        let cases = [
            (Duration::ZERO, 0),
            (Duration::from_nanos(1), 1),
            (Duration::from_millis(999), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1001), 2),
            (Duration::MAX, u32::MAX),
        ];
        for (d, expected) in cases {
            assert_eq!(ceil_seconds(d), expected, "{d:?}");
        }
    }
}
