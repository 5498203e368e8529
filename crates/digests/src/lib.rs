//! The rules of digests (API.md §10), as functions of their inputs: no I/O, no clock. Time
//! comes in as Unix milliseconds, zones as IANA names resolved from jiff's bundled database
//! (so every machine computes the same periods).
//!
//! - [`period`]: the ISO week a weekly digest covers in the org's zone (Monday 00:00 to
//!   Monday 00:00 local), when it is due (the Monday after, 09:00 local), the latest period
//!   due at an instant, and whether it may still be sent (up to 6 days late).
//! - [`Change`]: a figure against the period before, absolute and in percent.
//! - [`Recipients`]: the digest's email addresses (at most 10, checked, without duplicates).
//!
//! ```
//! use digests::period::{latest_due, Due, IsoWeek, Zone};
//!
//! let berlin = Zone::parse("Europe/Berlin").unwrap();
//! // Monday 30 November 2026, 08:00 UTC is 09:00 in Berlin: week 48 is due.
//! let now = 1_796_025_600_000;
//! let p = latest_due(now, &berlin).unwrap();
//! assert_eq!(p.week, IsoWeek::parse("2026-W48").unwrap());
//! assert_eq!(p.send_at_ms, now);
//! assert_eq!(p.due(now, digests::CATCH_UP_MS), Due::Now);
//! // One millisecond earlier the latest due week was week 47, already more than 6 days late.
//! let before = latest_due(now - 1, &berlin).unwrap();
//! assert_eq!(before.week.label(), "2026-W47");
//! assert_eq!(before.due(now - 1, digests::CATCH_UP_MS), Due::TooLate);
//! ```

pub mod period;

mod change;
mod recipients;

pub use change::Change;
pub use recipients::{Recipients, RecipientsError, MAX_RECIPIENTS};

/// How late a digest may still be sent (API.md §10): a server down over its time sends it on
/// start, up to 6 days late; later, the next week's digest is the one to send.
pub const CATCH_UP_MS: i64 = 6 * 86_400_000;

/// The local hour a digest is due at, on the Monday after its week.
pub const SEND_HOUR: i8 = 9;

/// A digest's kind, as stored and as its webhook's event type names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Weekly,
    Monthly,
}

impl Kind {
    /// `weekly` or `monthly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Weekly => "weekly",
            Kind::Monthly => "monthly",
        }
    }

    /// The webhook event type: `weekly.digest` or `monthly.digest`.
    pub fn event_type(self) -> &'static str {
        match self {
            Kind::Weekly => "weekly.digest",
            Kind::Monthly => "monthly.digest",
        }
    }
}
