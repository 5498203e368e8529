//! When a delivery is attempted again, and what an HTTP answer means.
//!
//! Attempt 1 is made at once; after a failed attempt n (1–4) the next is due after 30 s, 2 min,
//! 10 min, 1 h, each ±10 % (jitter from a random `u64` the caller draws); after the 5th failure
//! the delivery is `failed`. A 429 or 503 with a `Retry-After` waits what it says instead
//! (at most 1 h).

use time::OffsetDateTime;

/// Attempts a delivery gets before it is `failed`.
pub const MAX_ATTEMPTS: u32 = 5;

/// The waits after failed attempts 1..=4, in milliseconds.
const WAITS_MS: [i64; 4] = [30_000, 120_000, 600_000, 3_600_000];

/// The longest `Retry-After` honoured.
pub const RETRY_AFTER_MAX_MS: i64 = 3_600_000;

/// How one attempt ended, as far as the schedule and health care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// 410 Gone: the receiver asks us to stop; the endpoint is disabled.
    Gone,
    /// Anything else: another status (3xx included: redirects are not followed), a time-out,
    /// a refused connection or address. `retry_after_ms` is set for a 429/503 that said when.
    Failed { retry_after_ms: Option<i64> },
}

/// What an HTTP status means (`retry_after` is the header's value, if any, read at `now`).
pub fn classify(status: u16, retry_after: Option<&str>, now: OffsetDateTime) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        410 => Outcome::Gone,
        429 | 503 => Outcome::Failed {
            retry_after_ms: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        _ => Outcome::Failed {
            retry_after_ms: None,
        },
    }
}

/// What happens to a delivery after its `attempt`-th attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Attempt again this many milliseconds from now.
    RetryIn(i64),
    /// Out of attempts: the delivery is `failed`.
    GiveUp,
}

/// The wait after failed attempt number `attempt` (1-based), with jitter drawn from `random`.
pub fn after_failure(attempt: u32, retry_after_ms: Option<i64>, random: u64) -> Next {
    if attempt >= MAX_ATTEMPTS {
        return Next::GiveUp;
    }
    if let Some(ms) = retry_after_ms {
        return Next::RetryIn(ms.clamp(0, RETRY_AFTER_MAX_MS));
    }
    let idx = usize::try_from(attempt.max(1) - 1).unwrap_or(0);
    let base = WAITS_MS[idx.min(WAITS_MS.len() - 1)];
    Next::RetryIn(jitter(base, random))
}

/// `base` × a factor in [0.9, 1.1], in thousandths, from `random`.
fn jitter(base: i64, random: u64) -> i64 {
    let permille = 900 + i64::try_from(random % 201).unwrap_or(0);
    base * permille / 1000
}

/// Reads `Retry-After`: delta seconds, or an HTTP date (IMF-fixdate) relative to `now`.
/// `None` for anything else; capped at [`RETRY_AFTER_MAX_MS`], never negative.
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<i64> {
    let v = value.trim();
    if !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = v.parse().ok()?;
        return Some((secs.saturating_mul(1000)).min(RETRY_AFTER_MAX_MS));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(v, format).ok()?.assume_utc();
    let ms = i64::try_from((at - now).whole_milliseconds()).ok()?;
    Some(ms.clamp(0, RETRY_AFTER_MAX_MS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-02 10:00 UTC);

    #[test]
    fn the_documented_schedule_without_jitter() {
        // random = 100 → factor exactly 1.0.
        let waits: Vec<Next> = (1..=5).map(|n| after_failure(n, None, 100)).collect();
        assert_eq!(
            waits,
            [
                Next::RetryIn(30_000),
                Next::RetryIn(120_000),
                Next::RetryIn(600_000),
                Next::RetryIn(3_600_000),
                Next::GiveUp
            ]
        );
    }

    #[test]
    fn retry_after_replaces_the_wait_and_is_capped() {
        assert_eq!(after_failure(1, Some(5_000), 0), Next::RetryIn(5_000));
        assert_eq!(
            after_failure(1, Some(9_999_999), 0),
            Next::RetryIn(3_600_000)
        );
        assert_eq!(
            after_failure(5, Some(5_000), 0),
            Next::GiveUp,
            "still 5 at most"
        );
        assert_eq!(parse_retry_after("120", NOW), Some(120_000));
        assert_eq!(parse_retry_after(" 0 ", NOW), Some(0));
        assert_eq!(parse_retry_after("99999999", NOW), Some(RETRY_AFTER_MAX_MS));
        assert_eq!(
            parse_retry_after("Wed, 02 Dec 2026 10:01:30 GMT", NOW),
            Some(90_000)
        );
        assert_eq!(
            parse_retry_after("Wed, 02 Dec 2026 09:00:00 GMT", NOW),
            Some(0),
            "a date in the past: at once"
        );
        for bad in ["", "-5", "soon", "1.5", "99999999999"] {
            assert_eq!(parse_retry_after(bad, NOW), None, "{bad}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(classify(200, None, NOW), Outcome::Delivered);
        assert_eq!(classify(204, None, NOW), Outcome::Delivered);
        assert_eq!(classify(410, None, NOW), Outcome::Gone);
        assert_eq!(
            classify(301, None, NOW),
            Outcome::Failed {
                retry_after_ms: None
            },
            "redirects are failures"
        );
        assert_eq!(
            classify(503, Some("7"), NOW),
            Outcome::Failed {
                retry_after_ms: Some(7_000)
            }
        );
        assert_eq!(
            classify(500, Some("7"), NOW),
            Outcome::Failed {
                retry_after_ms: None
            },
            "only 429 and 503 are honoured"
        );
    }

    proptest! {
        #[test]
        fn jitter_stays_within_ten_percent(attempt in 1u32..5, random in any::<u64>()) {
            let base = WAITS_MS[usize::try_from(attempt - 1).unwrap()];
            match after_failure(attempt, None, random) {
                Next::RetryIn(ms) => {
                    prop_assert!(ms >= base * 9 / 10 && ms <= base * 11 / 10, "{ms} vs {base}");
                }
                Next::GiveUp => prop_assert!(false, "attempt {attempt} gave up"),
            }
        }
    }
}
