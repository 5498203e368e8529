//! The monthly event quota (API.md §3), as a pure function of counts.

use crate::Plan;

/// Whether one more event may be recorded this calendar month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaDecision {
    /// Record it. `overage` is true when it lies beyond the plan's included events and must be
    /// counted (billed) as overage.
    Accept {
        /// Beyond the included events of a plan that allows overage (pro, agency).
        overage: bool,
    },
    /// The hard cap is reached: answer 429 `quota_exceeded` and record nothing.
    Reject,
}

impl QuotaDecision {
    /// Whether the event may be recorded.
    pub const fn is_accepted(self) -> bool {
        matches!(self, Self::Accept { .. })
    }

    /// Whether the event is accepted as overage.
    pub const fn is_overage(self) -> bool {
        matches!(self, Self::Accept { overage: true })
    }
}

/// The month's count at which an org's events are refused (`None`: never): the override when
/// set, else the free plan's included events; pro, agency and enterprise have none of their own.
///
/// ```
/// use ratelimit::{hard_cap, Plan};
/// assert_eq!(hard_cap(Plan::Free, None), Some(500));
/// assert_eq!(hard_cap(Plan::Pro, None), None);
/// assert_eq!(hard_cap(Plan::Enterprise, Some(7)), Some(7));
/// ```
pub const fn hard_cap(plan: Plan, cap_override: Option<u64>) -> Option<u64> {
    match (plan, cap_override) {
        (_, Some(cap)) => Some(cap),
        (Plan::Free, None) => plan.included_events(),
        (Plan::Pro | Plan::Agency | Plan::Enterprise, None) => None,
    }
}

/// Decides whether the next event fits the org's monthly quota.
///
/// `used_this_month` is the number of events already recorded this month, BEFORE this one
/// (idempotent replays and rejected requests must not be in it). `cap_override` is the org's
/// own monthly cap, if set:
/// - free: hard cap of 500, or the override instead when set (the operator may raise or lower
///   it); event number cap+1 is rejected;
/// - pro: 10,000 included, beyond that accepted as overage; with an override, rejected once the
///   override is reached (an override below 10,000 means no overage ever happens);
/// - agency: the same as pro with 25,000 included, where `used_this_month` is the count of the
///   whole tree's pool (anchor and workspaces), not of one org;
/// - enterprise: unlimited, never overage; with an override, rejected once it is reached.
///
/// An override of `Some(0)` rejects every event.
pub const fn monthly_quota(
    plan: Plan,
    cap_override: Option<u64>,
    used_this_month: u64,
) -> QuotaDecision {
    if let Some(cap) = hard_cap(plan, cap_override) {
        if used_this_month >= cap {
            return QuotaDecision::Reject;
        }
    }
    let overage = match (plan, plan.included_events()) {
        (Plan::Pro | Plan::Agency, Some(included)) => used_this_month >= included,
        _ => false,
    };
    QuotaDecision::Accept { overage }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ACCEPT: QuotaDecision = QuotaDecision::Accept { overage: false };
    const OVERAGE: QuotaDecision = QuotaDecision::Accept { overage: true };
    const REJECT: QuotaDecision = QuotaDecision::Reject;

    #[test]
    fn monthly_quota_table() {
        use Plan::{Agency, Enterprise, Free, Pro};
        let cases = [
            // (plan, override, used before this event, expected)
            (Free, None, 0, ACCEPT),
            (Free, None, 499, ACCEPT),
            (Free, None, 500, REJECT),
            (Free, None, 501, REJECT),
            (Free, Some(100), 99, ACCEPT),
            (Free, Some(100), 100, REJECT),
            (Free, Some(1000), 500, ACCEPT),
            (Free, Some(1000), 999, ACCEPT),
            (Free, Some(1000), 1000, REJECT),
            (Free, Some(0), 0, REJECT),
            (Pro, None, 0, ACCEPT),
            (Pro, None, 9_999, ACCEPT),
            (Pro, None, 10_000, OVERAGE),
            (Pro, None, 10_001, OVERAGE),
            (Pro, None, u64::MAX, OVERAGE),
            (Pro, Some(20_000), 9_999, ACCEPT),
            (Pro, Some(20_000), 10_000, OVERAGE),
            (Pro, Some(20_000), 19_999, OVERAGE),
            (Pro, Some(20_000), 20_000, REJECT),
            (Pro, Some(20_000), 20_001, REJECT),
            (Pro, Some(5_000), 4_999, ACCEPT),
            (Pro, Some(5_000), 5_000, REJECT),
            (Pro, Some(10_000), 9_999, ACCEPT),
            (Pro, Some(10_000), 10_000, REJECT),
            (Agency, None, 0, ACCEPT),
            (Agency, None, 24_999, ACCEPT),
            (Agency, None, 25_000, OVERAGE),
            (Agency, None, 25_001, OVERAGE),
            (Agency, None, u64::MAX, OVERAGE),
            (Enterprise, None, 0, ACCEPT),
            (Enterprise, None, 10_000_000, ACCEPT),
            (Enterprise, None, u64::MAX, ACCEPT),
            (Enterprise, Some(50_000), 0, ACCEPT),
            (Enterprise, Some(50_000), 49_999, ACCEPT),
            (Enterprise, Some(50_000), 50_000, REJECT),
            (Enterprise, Some(50_000), 50_001, REJECT),
            (Enterprise, Some(0), 0, REJECT),
        ];
        for (plan, cap, used, expected) in cases {
            assert_eq!(
                monthly_quota(plan, cap, used),
                expected,
                "{plan} cap {cap:?} used {used}"
            );
        }
    }

    #[test]
    fn helpers() {
        assert!(ACCEPT.is_accepted() && !ACCEPT.is_overage());
        assert!(OVERAGE.is_accepted() && OVERAGE.is_overage());
        assert!(!REJECT.is_accepted() && !REJECT.is_overage());
    }

    proptest! {
        #[test]
        fn free_never_accepts_at_or_beyond_its_cap(used: u64, cap in proptest::option::of(0u64..100_000)) {
            let decision = monthly_quota(Plan::Free, cap, used);
            prop_assert_eq!(decision.is_accepted(), used < cap.unwrap_or(500));
            prop_assert!(!decision.is_overage());
        }

        #[test]
        fn enterprise_without_cap_always_accepts(used: u64) {
            prop_assert_eq!(monthly_quota(Plan::Enterprise, None, used), ACCEPT);
        }

        #[test]
        fn any_cap_is_a_hard_cap(plan in prop::sample::select(Plan::ALL.to_vec()), cap: u64, used: u64) {
            prop_assert_eq!(monthly_quota(plan, Some(cap), used).is_accepted(), used < cap);
        }

        #[test]
        fn acceptance_is_monotone_in_usage(plan in prop::sample::select(Plan::ALL.to_vec()), cap in proptest::option::of(any::<u64>()), used in 0u64..u64::MAX) {
            // Once rejected, a larger count is rejected too.
            if !monthly_quota(plan, cap, used).is_accepted() {
                prop_assert!(!monthly_quota(plan, cap, used + 1).is_accepted());
            }
        }
    }
}
