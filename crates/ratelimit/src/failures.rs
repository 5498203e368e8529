//! Limits on failed key checks (API.md §14): a wrong secret for a known key prefix costs the
//! server a full password hash, so after a burst of failures for one prefix, or from one client
//! address, further unproven attempts are refused before any hashing until the failures age out.
//!
//! The rule is a GCRA over failures: each attempt pushes the key's "debt" one `interval` further
//! into the future (counted before the outcome is known, so concurrent attempts cannot all slip
//! through), a key whose debt would pass `burst` intervals ahead is refused, a successful
//! attempt is refunded, and the debt drains with time. Time is passed in (an offset from any
//! fixed origin), so the rule is tested without a clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How many failures a key may have in a burst, and how fast one is forgiven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimits {
    /// Failures allowed back to back before the next attempt is refused (at least 1).
    pub burst: u32,
    /// One failure is forgiven per interval.
    pub interval: Duration,
}

/// Failure debts by key (a key prefix, a client address), bounded in number.
#[derive(Debug)]
pub struct FailureLimiter<K> {
    limits: FailureLimits,
    capacity: usize,
    /// For each key, the instant (offset) at which its debt is paid off.
    debts: Mutex<HashMap<K, Duration>>,
}

impl<K: Eq + Hash + Clone> FailureLimiter<K> {
    /// A limiter that tracks at most `capacity` keys with debt. Past that, keys whose debt is
    /// paid are dropped first; if all are still in debt, the oldest debts are forgotten (the
    /// map never grows without bound, whatever a client sends).
    pub fn new(limits: FailureLimits, capacity: usize) -> Self {
        Self {
            limits: FailureLimits {
                burst: limits.burst.max(1),
                interval: limits.interval,
            },
            capacity: capacity.max(1),
            debts: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `key` at `now`, counted as a failure in advance (so concurrent
    /// attempts cannot all pass before the first fails): `Ok` when it may go ahead, otherwise
    /// the whole seconds (at least 1) until one may. An attempt that succeeds is handed back
    /// with [`FailureLimiter::refund`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ratelimit::{FailureLimiter, FailureLimits};
    /// let l = FailureLimiter::new(FailureLimits { burst: 2, interval: Duration::from_secs(5) }, 100);
    /// let t = Duration::from_secs(1_000);
    /// assert!(l.try_attempt(&"abc", t).is_ok());
    /// assert!(l.try_attempt(&"abc", t).is_ok());
    /// assert_eq!(l.try_attempt(&"abc", t), Err(5));
    /// l.refund(&"abc", t);
    /// assert!(l.try_attempt(&"abc", t).is_ok());
    /// assert!(l.try_attempt(&"abc", t + Duration::from_secs(5)).is_ok());
    /// assert!(l.try_attempt(&"other", t).is_ok());
    /// ```
    pub fn try_attempt(&self, key: &K, now: Duration) -> Result<(), u32> {
        let mut debts = self.lock();
        if let Some(paid_at) = debts.get(key) {
            let owed = paid_at.saturating_sub(now);
            let allowed = self.limits.interval * (self.limits.burst - 1);
            if owed > allowed {
                return Err(ceil_secs(owed - allowed));
            }
        } else if debts.len() >= self.capacity {
            debts.retain(|_, paid_at| *paid_at > now);
            if debts.len() >= self.capacity {
                // Everyone tracked is in debt: forget the half closest to paying off, so a
                // flood of distinct keys cannot make the map grow, and the worst debtors stay.
                let mut by_debt: Vec<Duration> = debts.values().copied().collect();
                by_debt.sort_unstable();
                let cut = by_debt[by_debt.len() / 2];
                debts.retain(|_, paid_at| *paid_at > cut);
            }
        }
        let paid_at = debts.entry(key.clone()).or_insert(now);
        *paid_at = (*paid_at).max(now) + self.limits.interval;
        Ok(())
    }

    /// Hands back one attempt of `key` that did not fail.
    pub fn refund(&self, key: &K, now: Duration) {
        let mut debts = self.lock();
        if let Some(paid_at) = debts.get_mut(key) {
            *paid_at = paid_at.saturating_sub(self.limits.interval);
            if *paid_at <= now {
                debts.remove(key);
            }
        }
    }

    /// Keys with debt being tracked.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Duration>> {
        // Every update is a single insert or removal: a poisoned map is still consistent.
        self.debts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn ceil_secs(d: Duration) -> u32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn limiter(burst: u32, interval_secs: u32, capacity: usize) -> FailureLimiter<u32> {
        FailureLimiter::new(
            FailureLimits {
                burst,
                interval: S * interval_secs,
            },
            capacity,
        )
    }

    #[test]
    fn a_burst_of_attempts_is_allowed_then_refused_until_one_ages_out() {
        let l = limiter(10, 6, 100);
        let t0 = S * 10_000;
        for i in 0..10 {
            assert_eq!(l.try_attempt(&1, t0), Ok(()), "attempt {i}");
        }
        assert_eq!(l.try_attempt(&1, t0), Err(6));
        assert_eq!(l.try_attempt(&1, t0 + S * 5), Err(1));
        // A refused attempt costs nothing.
        assert_eq!(l.try_attempt(&1, t0 + S * 6), Ok(()));
        assert_eq!(l.try_attempt(&1, t0 + S * 6), Err(6));
        // Paid off entirely after burst × interval.
        assert_eq!(l.try_attempt(&1, t0 + S * 66), Ok(()));
        assert_eq!(l.try_attempt(&1, t0 + S * 66), Ok(()));
    }

    #[test]
    fn refunds_hand_back_attempts_and_keys_are_independent() {
        let l = limiter(1, 60, 100);
        assert_eq!(l.try_attempt(&1, S), Ok(()));
        assert_eq!(l.try_attempt(&1, S), Err(60));
        assert_eq!(l.try_attempt(&2, S), Ok(()));
        l.refund(&1, S);
        assert!(l.len() == 1, "a key whose debt is paid is dropped");
        assert_eq!(l.try_attempt(&1, S), Ok(()));
        // A refund of a key never charged does nothing.
        l.refund(&3, S);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn the_map_stays_bounded_and_keeps_the_worst_debtors() {
        let l = limiter(3, 10, 1_000);
        let t = S * 100;
        // One key deep in debt, then a flood of distinct keys with one attempt each.
        while l.try_attempt(&0, t).is_ok() {}
        for k in 1..100_000 {
            let _ = l.try_attempt(&k, t);
            assert!(l.len() <= 1_000);
        }
        assert!(
            l.try_attempt(&0, t).is_err(),
            "the flood must not wash out a real debt"
        );
    }

    #[test]
    fn paid_off_keys_are_dropped_first() {
        let l = limiter(3, 1, 2);
        let _ = l.try_attempt(&1, S);
        let _ = l.try_attempt(&2, S);
        let _ = l.try_attempt(&3, S * 10);
        assert_eq!(l.len(), 1);
    }
}
