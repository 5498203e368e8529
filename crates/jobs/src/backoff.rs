//! How long a failed job waits before its next attempt. Pure: the random input is an argument.

use std::time::Duration;

/// Exponential backoff with "equal jitter": after the `n`-th failed attempt a job waits
/// between half of and all of `min(cap, base · 2ⁿ⁻¹)`. The exponential part spreads retries
/// out; the jitter keeps jobs that failed together (an endpoint that was down) from retrying
/// together; the half that is not random keeps a retry from following its failure at once.
/// Integer milliseconds throughout: no floating point decides a wait.
///
/// ```
/// use std::time::Duration;
/// use jobs::Backoff;
///
/// let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(3600));
/// assert_eq!(b.bound_ms(1), 10_000);
/// assert_eq!(b.bound_ms(3), 40_000);
/// assert_eq!(b.bound_ms(30), 3_600_000); // capped
/// // The random input picks a point in [bound / 2, bound].
/// assert_eq!(b.delay_ms(3, 0), 20_000);
/// assert_eq!(b.delay_ms(3, 20_000), 40_000);
/// assert!((20_000..=40_000).contains(&b.delay_ms(3, 0xdead_beef)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
}

impl Backoff {
    /// A backoff starting at `base` and never above `cap` (a cap below `base` is raised to
    /// it; a zero base counts as 1 ms).
    pub fn new(base: Duration, cap: Duration) -> Self {
        let base_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX).max(1);
        let cap_ms = u64::try_from(cap.as_millis())
            .unwrap_or(u64::MAX)
            .max(base_ms);
        Self { base_ms, cap_ms }
    }

    /// The longest wait after the `attempt`-th failed attempt (attempts count from 1; 0 is
    /// taken as 1): `min(cap, base · 2^(attempt-1))`. Never decreases as `attempt` grows.
    pub fn bound_ms(&self, attempt: u32) -> u64 {
        let doublings = attempt.max(1) - 1;
        1_u64
            .checked_shl(doublings)
            .and_then(|factor| self.base_ms.checked_mul(factor))
            .map_or(self.cap_ms, |ms| ms.min(self.cap_ms))
    }

    /// The wait after the `attempt`-th failed attempt for a random input `random` (any
    /// `u64`, uniformly drawn by the caller): in `[bound / 2, bound]`.
    pub fn delay_ms(&self, attempt: u32, random: u64) -> u64 {
        let bound = self.bound_ms(attempt);
        let floor = bound / 2;
        // bound - floor + 1 cannot overflow: floor ≥ 1 whenever bound ≥ 2.
        floor + random % (bound - floor + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_from_base_up_to_cap() {
        let b = Backoff::new(ms(1000), ms(10_000));
        let bounds: Vec<u64> = (1..=6).map(|a| b.bound_ms(a)).collect();
        assert_eq!(bounds, [1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(b.bound_ms(0), 1000);
        assert_eq!(b.bound_ms(u32::MAX), 10_000);
    }

    #[test]
    fn odd_settings_are_made_sane() {
        assert_eq!(Backoff::new(ms(0), ms(0)).bound_ms(1), 1);
        assert_eq!(Backoff::new(ms(500), ms(100)).bound_ms(4), 500);
        let huge = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(huge.bound_ms(64), u64::MAX);
        assert!(huge.delay_ms(64, u64::MAX) >= u64::MAX / 2);
    }

    #[test]
    fn the_random_input_spans_the_jitter_range() {
        let b = Backoff::new(ms(100), ms(1000));
        assert_eq!(b.delay_ms(1, 0), 50);
        assert_eq!(b.delay_ms(1, 50), 100);
        assert_eq!(b.delay_ms(1, 51), 50);
        assert_eq!(Backoff::new(ms(1), ms(1)).delay_ms(9, 12345), 1);
    }

    proptest! {
        #[test]
        fn delay_is_within_its_bound_and_the_cap(
            base in 1_u64..10_000_000,
            cap in 1_u64..100_000_000_000,
            attempt in 0_u32..200,
            random in any::<u64>(),
        ) {
            let b = Backoff::new(ms(base), ms(cap));
            let bound = b.bound_ms(attempt);
            let d = b.delay_ms(attempt, random);
            prop_assert!(d <= bound);
            prop_assert!(d >= bound / 2);
            prop_assert!(d <= cap.max(base));
            prop_assert!(d >= 1 || bound == 1);
        }

        #[test]
        fn the_bound_never_shrinks(
            base in 1_u64..10_000_000,
            cap in 1_u64..100_000_000_000,
            attempt in 0_u32..200,
        ) {
            let b = Backoff::new(ms(base), ms(cap));
            prop_assert!(b.bound_ms(attempt) <= b.bound_ms(attempt + 1));
            prop_assert!(b.bound_ms(attempt) >= base.min(cap.max(base)));
        }
    }
}
