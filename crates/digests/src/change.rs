//! A figure against the period before.

use rust_decimal::{Decimal, RoundingStrategy};

/// The change of a figure from the period before to this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// This period minus the one before, exact.
    pub absolute: Decimal,
    /// `absolute / |before| × 100`, to one decimal place (half away from zero); `None` when
    /// the period before was 0 (no percentage of nothing).
    pub percent: Option<Decimal>,
}

impl Change {
    /// ```
    /// use digests::Change;
    /// use rust_decimal::Decimal;
    ///
    /// let c = Change::of(Decimal::new(1500, 2), Decimal::new(1200, 2)); // 15.00 vs 12.00
    /// assert_eq!(c.absolute, Decimal::new(300, 2));
    /// assert_eq!(c.percent, Some(Decimal::new(250, 1))); // +25.0 %
    /// assert_eq!(Change::of(Decimal::ONE, Decimal::ZERO).percent, None);
    /// ```
    pub fn of(now: Decimal, before: Decimal) -> Change {
        let absolute = now - before;
        let percent = if before.is_zero() {
            None
        } else {
            absolute
                .checked_mul(Decimal::ONE_HUNDRED)
                .and_then(|x| x.checked_div(before.abs()))
                .map(|p| p.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero))
        };
        Change { absolute, percent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn falls_rounds_and_negative_bases() {
        let d = |n: i64, s: u32| Decimal::new(n, s);
        assert_eq!(Change::of(d(5, 0), d(10, 0)).percent, Some(d(-500, 1)));
        // 1/3 = 33.33… → 33.3; 2/3 → 66.7.
        assert_eq!(Change::of(d(4, 0), d(3, 0)).percent, Some(d(333, 1)));
        assert_eq!(Change::of(d(5, 0), d(3, 0)).percent, Some(d(667, 1)));
        // From a loss of 10 to a gain of 10: up 200 %.
        assert_eq!(Change::of(d(10, 0), d(-10, 0)).percent, Some(d(2000, 1)));
        // Half away from zero: 0.05 % → 0.1 %, −0.05 % → −0.1 %.
        assert_eq!(Change::of(d(2001, 0), d(2000, 0)).percent, Some(d(1, 1)));
        assert_eq!(Change::of(d(1999, 0), d(2000, 0)).percent, Some(d(-1, 1)));
    }

    proptest! {
        #[test]
        fn absolute_is_exact_and_the_sign_follows_it(a in -1_000_000_000_i64..1_000_000_000, b in -1_000_000_000_i64..1_000_000_000) {
            let (x, y) = (Decimal::new(a, 2), Decimal::new(b, 2));
            let c = Change::of(x, y);
            prop_assert_eq!(c.absolute + y, x);
            match c.percent {
                None => prop_assert!(y.is_zero()),
                Some(p) => prop_assert!(p.is_zero() || p.is_sign_negative() == c.absolute.is_sign_negative()),
            }
        }
    }
}
