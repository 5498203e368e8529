//! The overage charge (API.md §12): what a paid plan's events past its included amount cost, by
//! the public tiers. Exact integer arithmetic in thousandths of a euro (mills), since a tier
//! price is half a cent: €0.005 an event for the first 50,000 over, €0.004 for the next 200,000,
//! €0.003 for the next 750,000; past those a million events the price is by agreement.

/// One tier: how many events it covers and what each costs, in mills (thousandths of a euro).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub events: u64,
    pub mills_per_event: u64,
}

/// The public tiers, in order.
pub const TIERS: [Tier; 3] = [
    Tier {
        events: 50_000,
        mills_per_event: 5,
    },
    Tier {
        events: 200_000,
        mills_per_event: 4,
    },
    Tier {
        events: 750_000,
        mills_per_event: 3,
    },
];

/// The currency of the tiers, whatever the org's own.
pub const CURRENCY: &str = "EUR";

/// The charge for a month's overage events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverageCharge {
    /// The tiers' charge, in mills (thousandths of a euro): exact.
    pub mills: u64,
    /// Events past the last tier: priced by agreement, not in `mills`.
    pub by_agreement: u64,
}

/// The charge for `overage_events` events over the included amount.
pub fn overage_charge(overage_events: u64) -> OverageCharge {
    let mut left = overage_events;
    let mut mills = 0u64;
    for tier in TIERS {
        let n = left.min(tier.events);
        // At most 750,000 × 5: no overflow.
        mills += n * tier.mills_per_event;
        left -= n;
    }
    OverageCharge {
        mills,
        by_agreement: left,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_boundaries() {
        let cases = [
            (0, 0, 0),
            (1, 5, 0),
            (49_999, 249_995, 0),
            (50_000, 250_000, 0),
            (50_001, 250_004, 0),
            (250_000, 250_000 + 800_000, 0),
            (250_001, 1_050_003, 0),
            (1_000_000, 250_000 + 800_000 + 2_250_000, 0),
            (1_000_001, 3_300_000, 1),
            (5_000_000, 3_300_000, 4_000_000),
        ];
        for (events, mills, by_agreement) in cases {
            assert_eq!(
                overage_charge(events),
                OverageCharge {
                    mills,
                    by_agreement
                },
                "{events}"
            );
        }
    }

    #[test]
    fn never_decreases_and_never_overflows() {
        let mut last = 0;
        for events in (0..2_000_000).step_by(997).chain([u64::MAX]) {
            let c = overage_charge(events);
            assert!(c.mills >= last);
            assert_eq!(c.by_agreement, events.saturating_sub(1_000_000));
            last = c.mills;
        }
    }
}
