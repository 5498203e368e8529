//! What to do with a request whose `Idempotency-Key` may have been seen before.

use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use crate::Fingerprint;

/// How long a key stays bound to its first request, counted from that request's arrival.
pub const WINDOW: Duration = Duration::hours(24);

/// What the store knows about an earlier request with the same org and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRecord {
    /// Fingerprint of the first request's body.
    pub fingerprint: Fingerprint,
    /// When the first request arrived (UTC).
    pub created_at: OffsetDateTime,
    /// `false` while the first request is still in flight (no answer stored yet).
    pub completed: bool,
}

/// The outcome of [`decide`], with what the server should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The key was never used: process the request and store the record with the event.
    Proceed,
    /// The key was used more than [`WINDOW`] ago and is free again: delete or overwrite the old
    /// record in the same transaction, then process normally.
    ProceedReplacingExpired,
    /// Same body and the first request finished: answer 200 with the stored body and
    /// `Idempotent-Replayed: true`. Does not count toward the quota.
    Replay,
    /// Different body within the window: 422 `idempotency_key_reused`.
    Reused,
    /// Same body, the first request has not finished: wait for it and then replay, or answer
    /// 409 `idempotency_key_in_use` where waiting is not possible.
    InFlight,
}

/// Decides what to do with an incoming request, given the record stored for its key (if any).
///
/// A record is expired once `created_at + WINDOW <= now`: exactly 24 h after the first request
/// the key is free again. A record dated in the future (clock skew between instances) counts as
/// within the window.
pub fn decide(
    stored: Option<&StoredRecord>,
    incoming: &Fingerprint,
    now: OffsetDateTime,
) -> Decision {
    let Some(record) = stored else {
        return Decision::Proceed;
    };
    // `checked_add` fails only at the very end of the representable range; such a record
    // never expires, which is the safe side (no double processing).
    let expired = record
        .created_at
        .checked_add(WINDOW)
        .is_some_and(|expires_at| expires_at <= now);
    if expired {
        Decision::ProceedReplacingExpired
    } else if record.fingerprint != *incoming {
        Decision::Reused
    } else if record.completed {
        Decision::Replay
    } else {
        Decision::InFlight
    }
}

/// Records created strictly before this instant are expired and may be deleted.
///
/// Consistent with [`decide`]: a record created exactly at the cutoff is expired too, so
/// deleting `created_at <= cutoff` is also correct; `<` keeps it one tick longer, harmlessly.
pub fn prune_cutoff(now: OffsetDateTime) -> OffsetDateTime {
    now.checked_sub(WINDOW)
        .unwrap_or_else(|| PrimitiveDateTime::MIN.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-15 12:00:00 UTC);

    fn fp(n: u8) -> Fingerprint {
        Fingerprint::from_bytes([n; 32])
    }

    fn record(age: Duration, same: bool, completed: bool) -> StoredRecord {
        StoredRecord {
            fingerprint: fp(if same { 1 } else { 2 }),
            created_at: NOW - age,
            completed,
        }
    }

    #[test]
    fn decide_table() {
        let h = Duration::hours;
        let ns = Duration::nanoseconds;
        let cases = [
            // (age of the record, same body, completed, expected)
            (h(0), true, true, Decision::Replay),
            (h(0), true, false, Decision::InFlight),
            (h(0), false, true, Decision::Reused),
            (h(0), false, false, Decision::Reused),
            (h(23), true, true, Decision::Replay),
            (h(24) - ns(1), true, true, Decision::Replay),
            (h(24) - ns(1), true, false, Decision::InFlight),
            (h(24) - ns(1), false, true, Decision::Reused),
            // Exactly at the boundary the key is free again, whatever the record says.
            (h(24), true, true, Decision::ProceedReplacingExpired),
            (h(24), false, true, Decision::ProceedReplacingExpired),
            (h(24), true, false, Decision::ProceedReplacingExpired),
            (
                h(24) + ns(1),
                false,
                false,
                Decision::ProceedReplacingExpired,
            ),
            (h(24 * 30), true, true, Decision::ProceedReplacingExpired),
            // From the future (clock skew): still within the window.
            (-h(1), true, true, Decision::Replay),
            (-h(1), false, true, Decision::Reused),
        ];
        for (age, same, completed, expected) in cases {
            let r = record(age, same, completed);
            assert_eq!(
                decide(Some(&r), &fp(1), NOW),
                expected,
                "age {age}, same {same}, completed {completed}"
            );
        }
        assert_eq!(decide(None, &fp(1), NOW), Decision::Proceed);
    }

    #[test]
    fn decide_does_not_panic_at_the_edges_of_time() {
        let max = PrimitiveDateTime::MAX.assume_utc();
        let r = StoredRecord {
            fingerprint: fp(1),
            created_at: max,
            completed: true,
        };
        assert_eq!(decide(Some(&r), &fp(1), max), Decision::Replay);
        let min = PrimitiveDateTime::MIN.assume_utc();
        assert_eq!(prune_cutoff(min), min);
    }

    #[test]
    fn prune_cutoff_is_one_window_back_and_matches_decide() {
        let cutoff = prune_cutoff(NOW);
        assert_eq!(cutoff, datetime!(2025-06-14 12:00:00 UTC));
        let at_cutoff = StoredRecord {
            fingerprint: fp(1),
            created_at: cutoff,
            completed: true,
        };
        assert_eq!(
            decide(Some(&at_cutoff), &fp(1), NOW),
            Decision::ProceedReplacingExpired
        );
        let after = StoredRecord {
            created_at: cutoff + Duration::nanoseconds(1),
            ..at_cutoff
        };
        assert_eq!(decide(Some(&after), &fp(1), NOW), Decision::Replay);
    }

    #[test]
    fn window_is_24_hours() {
        assert_eq!(WINDOW, Duration::days(1));
    }
}
