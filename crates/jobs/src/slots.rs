//! When a cluster-wide schedule runs. Pure: `now` is an argument.
//!
//! A schedule of period `p` runs in the slots `k · p` milliseconds after the Unix epoch. Every
//! instance computes the same slots from its own clock, so they agree on which slot is due
//! without talking to each other, and the store's compare-and-set on the slot decides which
//! instance runs it.

use std::time::Duration;

/// A period in milliseconds, at least 1.
pub fn period_ms(period: Duration) -> i64 {
    i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// The first slot strictly after `now_ms` of a schedule with this period (milliseconds,
/// taken as at least 1); `i64::MAX` when the next slot is beyond the representable range.
///
/// ```
/// use jobs::next_slot_after;
///
/// assert_eq!(next_slot_after(1_000, 600), 1_200);
/// assert_eq!(next_slot_after(1_200, 600), 1_800); // strictly after
/// assert_eq!(next_slot_after(-1, 600), 0);
/// ```
pub fn next_slot_after(now_ms: i64, period_ms: i64) -> i64 {
    let p = period_ms.max(1);
    now_ms
        .div_euclid(p)
        .checked_add(1)
        .and_then(|k| k.checked_mul(p))
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slots_are_multiples_of_the_period() {
        let ten_min = period_ms(Duration::from_secs(600));
        assert_eq!(ten_min, 600_000);
        let t = 1_764_547_200_000; // 2025-12-01T00:00:00Z, a slot
        assert_eq!(next_slot_after(t, ten_min), t + ten_min);
        assert_eq!(next_slot_after(t - 1, ten_min), t);
        assert_eq!(next_slot_after(t + 599_999, ten_min), t + ten_min);
        assert_eq!(period_ms(Duration::ZERO), 1);
        assert_eq!(next_slot_after(5, 0), 6);
        assert_eq!(next_slot_after(i64::MAX - 1, 10), i64::MAX);
    }

    proptest! {
        #[test]
        fn the_next_slot_is_after_now_by_at_most_a_period(
            now in -1_000_000_000_000_000_i64..1_000_000_000_000_000,
            period in 1_i64..1_000_000_000_000,
        ) {
            let next = next_slot_after(now, period);
            prop_assert!(next > now);
            prop_assert!(next - now <= period);
            prop_assert_eq!(next.rem_euclid(period), 0);
            // Every instance with a clock in the same slot computes the same next slot.
            prop_assert_eq!(next_slot_after(next - 1, period), next);
        }
    }
}
