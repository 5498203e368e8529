//! Validated value types. Each constructor rejects what the contract (API.md §4) rejects, and the
//! bounds are chosen so that no arithmetic in this crate can overflow `Decimal` (28 digits).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// Why a value was rejected. The message is written for the API client that sent the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must be a number")]
    NotANumber,
    #[error("must be greater than {0}")]
    NotAbove(Decimal),
    #[error("must be at least {0}")]
    Below(Decimal),
    #[error("must be at most {0}")]
    Above(Decimal),
    #[error("must be one of: {0}")]
    NotOneOf(&'static str),
}

/// Parses a decimal from its text, accepting plain (`12.5`) and scientific (`1.25e1`) notation.
/// JSON numbers arrive as text so that no binary float ever touches money or hours.
pub fn parse_decimal(text: &str) -> Result<Decimal, ValueError> {
    let t = text.trim();
    let parsed = if t.contains(['e', 'E']) {
        Decimal::from_scientific(t)
    } else {
        Decimal::from_str(t)
    };
    parsed
        .map(|d| d.normalize())
        .map_err(|_| ValueError::NotANumber)
}

fn within(
    d: Decimal,
    min: Decimal,
    min_exclusive: bool,
    max: Decimal,
) -> Result<Decimal, ValueError> {
    if min_exclusive && d <= min {
        return Err(ValueError::NotAbove(min));
    }
    if !min_exclusive && d < min {
        return Err(ValueError::Below(min));
    }
    if d > max {
        return Err(ValueError::Above(max));
    }
    Ok(d.normalize())
}

macro_rules! decimal_newtype {
    ($(#[$doc:meta])* $name:ident, min = $min:expr, exclusive = $excl:expr, max = $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Decimal);

        impl $name {
            /// Smallest accepted value (exclusive when the type says "greater than").
            pub const MIN: Decimal = $min;
            /// Largest accepted value.
            pub const MAX: Decimal = $max;

            /// Validates the value against the type's range.
            pub fn new(value: Decimal) -> Result<Self, ValueError> {
                within(value, Self::MIN, $excl, Self::MAX).map(Self)
            }

            /// Parses and validates decimal text.
            pub fn parse(text: &str) -> Result<Self, ValueError> {
                Self::new(parse_decimal(text)?)
            }

            /// The exact value.
            pub fn get(self) -> Decimal {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

decimal_newtype!(
    /// Minutes a person needs for one unit of a task: greater than 0, at most a week (10,080).
    BaselineMinutes,
    min = Decimal::ZERO,
    exclusive = true,
    max = Decimal::from_parts(10_080, 0, 0, false, 0)
);

decimal_newtype!(
    /// Cost of one human hour in the org currency: 0 to 1,000,000.
    HourlyRate,
    min = Decimal::ZERO,
    exclusive = false,
    max = Decimal::from_parts(1_000_000, 0, 0, false, 0)
);

decimal_newtype!(
    /// How long the agent ran, in seconds: 0 to 10^9 (about 31 years).
    DurationSeconds,
    min = Decimal::ZERO,
    exclusive = false,
    max = Decimal::from_parts(1_000_000_000, 0, 0, false, 0)
);

decimal_newtype!(
    /// A non-negative amount of money in one currency, as sent by a client (`agent_cost`):
    /// 0 to 10^9. Stored in millionths, one event is at most 10^15 units: a 64-bit sum
    /// overflows past about nine thousand such events, so the store keeps sums of money split
    /// into two 64-bit halves and reports add them in 128 bits (docs/decisions.md).
    Money,
    min = Decimal::ZERO,
    exclusive = false,
    max = Decimal::from_parts(1_000_000_000, 0, 0, false, 0)
);

decimal_newtype!(
    /// A USD price per million tokens: 0 to 1,000,000.
    UsdPerMillionTokens,
    min = Decimal::ZERO,
    exclusive = false,
    max = Decimal::from_parts(1_000_000, 0, 0, false, 0)
);

decimal_newtype!(
    /// Units of the org currency for one US dollar: greater than 0, at most 1,000,000.
    FxRate,
    min = Decimal::ZERO,
    exclusive = true,
    max = Decimal::from_parts(1_000_000, 0, 0, false, 0)
);

impl HourlyRate {
    /// The rate used when neither the agent nor the org sets one (API.md §5).
    pub const DEFAULT: HourlyRate = HourlyRate(Decimal::from_parts(45, 0, 0, false, 0));
}

impl DurationSeconds {
    /// No time at all: what an absent `agent_duration_seconds` means.
    pub const ZERO: DurationSeconds = DurationSeconds(Decimal::ZERO);
}

impl FxRate {
    /// No conversion: the org bills in USD.
    pub const ONE: FxRate = FxRate(Decimal::ONE);
}

/// Token counts of one run. Each is at most 10^12, far above any real run, so that a cost
/// computed from them stays exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tokens {
    input: u64,
    output: u64,
}

impl Tokens {
    /// Largest accepted count for either direction.
    pub const MAX: u64 = 1_000_000_000_000;

    /// Validates both counts.
    pub fn new(input: u64, output: u64) -> Result<Self, ValueError> {
        let max = Decimal::from(Self::MAX);
        if input > Self::MAX || output > Self::MAX {
            return Err(ValueError::Above(max));
        }
        Ok(Self { input, output })
    }

    /// Prompt tokens.
    pub fn input(self) -> u64 {
        self.input
    }

    /// Completion tokens.
    pub fn output(self) -> u64 {
        self.output
    }
}

/// A model's price: USD per million prompt and completion tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenPrice {
    pub input: UsdPerMillionTokens,
    pub output: UsdPerMillionTokens,
}

/// How the task ended. A `failure` saves no time (its cost still counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Failure,
    NeedsReview,
}

impl Outcome {
    /// Every outcome, in the contract's order.
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::NeedsReview];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::NeedsReview => "needs_review",
        }
    }
}

impl FromStr for Outcome {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or(ValueError::NotOneOf("success, failure, needs_review"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn parses_plain_and_scientific_text_exactly() {
        for (text, want) in [
            ("4", "4"),
            ("4.0", "4"),
            ("0.1", "0.1"),
            ("1e1", "10"),
            ("1.5E-3", "0.0015"),
            ("-2", "-2"),
        ] {
            assert_eq!(parse_decimal(text).unwrap(), d(want), "{text}");
        }
        for bad in ["", "abc", "NaN", "Infinity", "1e400", "1..2"] {
            assert_eq!(parse_decimal(bad), Err(ValueError::NotANumber), "{bad}");
        }
    }

    #[test]
    fn baseline_bounds() {
        assert!(BaselineMinutes::parse("0").is_err());
        assert!(BaselineMinutes::parse("-1").is_err());
        assert!(BaselineMinutes::parse("0.0001").is_ok());
        assert!(BaselineMinutes::parse("10080").is_ok());
        assert_eq!(
            BaselineMinutes::parse("10080.01"),
            Err(ValueError::Above(d("10080")))
        );
    }

    #[test]
    fn other_bounds() {
        assert!(HourlyRate::parse("0").is_ok());
        assert!(HourlyRate::parse("-0.01").is_err());
        assert!(DurationSeconds::parse("0").is_ok());
        assert!(DurationSeconds::parse("-1").is_err());
        assert!(Money::parse("1000000000").is_ok());
        assert!(Money::parse("1000000000.01").is_err());
        assert!(FxRate::parse("0").is_err());
        assert!(Tokens::new(Tokens::MAX, 0).is_ok());
        assert!(Tokens::new(0, Tokens::MAX + 1).is_err());
        assert_eq!(Money::MAX, d("1000000000"));
    }

    #[test]
    fn outcome_round_trips() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        assert!("Success".parse::<Outcome>().is_err());
    }
}
