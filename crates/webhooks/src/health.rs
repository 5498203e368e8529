//! An endpoint's health (API.md §9). It moves when a delivery finishes: a success resets it;
//! a delivery that ends `failed` (all its attempts failed) counts; 5 in a row make the endpoint
//! `failing` (still attempted), 20 `disabled` (nothing attempted; new deliveries are kept as
//! `skipped` for `recover`). A 410 disables at once. Re-enabling (PATCH `enabled: true`)
//! starts the count over.
//!
//! Counting finished deliveries, not attempts, is deliberate: a receiver that is down for a
//! minute fails many attempts at once, and would be disabled by a few seconds of outage if
//! each attempt counted. A delivery ends `failed` only after about 73 minutes of retries.

/// Failed deliveries in a row that make an endpoint `failing`.
pub const FAILING_AFTER: i64 = 5;
/// Failed deliveries in a row that disable it.
pub const DISABLED_AFTER: i64 = 20;

/// An endpoint's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Failing,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Failing => "failing",
            Status::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Status::Active),
            "failing" => Some(Status::Failing),
            "disabled" => Some(Status::Disabled),
            _ => None,
        }
    }
}

/// Why an endpoint is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisabledBy {
    /// PATCH `enabled: false`.
    User,
    /// The receiver answered 410 Gone.
    Gone,
    /// [`DISABLED_AFTER`] failed deliveries in a row.
    Failures,
}

impl DisabledBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledBy::User => "user",
            DisabledBy::Gone => "gone",
            DisabledBy::Failures => "failures",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(DisabledBy::User),
            "gone" => Some(DisabledBy::Gone),
            "failures" => Some(DisabledBy::Failures),
            _ => None,
        }
    }
}

/// An endpoint's health: its status, why it is disabled, and the failed deliveries in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub status: Status,
    pub disabled_by: Option<DisabledBy>,
    pub failed_in_a_row: i64,
}

/// How a delivery finished, for the endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// An attempt succeeded.
    Delivered,
    /// All attempts failed.
    Failed,
    /// The receiver answered 410.
    Gone,
}

impl Health {
    /// A new endpoint.
    pub const NEW: Health = Health {
        status: Status::Active,
        disabled_by: None,
        failed_in_a_row: 0,
    };

    /// The health after a delivery finished. An endpoint the user disabled stays disabled
    /// whatever a delivery already under way did.
    pub fn after(self, finished: Finished) -> Health {
        if self.disabled_by == Some(DisabledBy::User) {
            return self;
        }
        match finished {
            Finished::Delivered => Health::NEW,
            Finished::Gone => Health {
                status: Status::Disabled,
                disabled_by: Some(DisabledBy::Gone),
                failed_in_a_row: self.failed_in_a_row,
            },
            Finished::Failed => {
                let n = self.failed_in_a_row.saturating_add(1);
                match (self.status, n) {
                    (Status::Disabled, _) => Health {
                        failed_in_a_row: n,
                        ..self
                    },
                    (_, n) if n >= DISABLED_AFTER => Health {
                        status: Status::Disabled,
                        disabled_by: Some(DisabledBy::Failures),
                        failed_in_a_row: n,
                    },
                    (_, n) if n >= FAILING_AFTER => Health {
                        status: Status::Failing,
                        disabled_by: None,
                        failed_in_a_row: n,
                    },
                    (status, n) => Health {
                        status,
                        disabled_by: None,
                        failed_in_a_row: n,
                    },
                }
            }
        }
    }

    /// PATCH `enabled`: `false` disables (by the user), `true` re-enables with the count reset.
    pub fn set_enabled(self, enabled: bool) -> Health {
        match enabled {
            true => Health::NEW,
            false => Health {
                status: Status::Disabled,
                disabled_by: Some(DisabledBy::User),
                failed_in_a_row: self.failed_in_a_row,
            },
        }
    }

    /// Whether deliveries are attempted (otherwise new ones are kept as `skipped`).
    pub fn attempts(self) -> bool {
        self.status != Status::Disabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(h: Health, n: usize) -> Health {
        (0..n).fold(h, |h, _| h.after(Finished::Failed))
    }

    #[test]
    fn five_failures_make_it_failing_twenty_disable_it() {
        let h = fail(Health::NEW, 4);
        assert_eq!(h.status, Status::Active);
        let h = fail(h, 1);
        assert_eq!(h.status, Status::Failing);
        assert!(h.attempts(), "a failing endpoint is still attempted");
        let h = fail(h, 14);
        assert_eq!((h.status, h.failed_in_a_row), (Status::Failing, 19));
        let h = fail(h, 1);
        assert_eq!(h.status, Status::Disabled);
        assert_eq!(h.disabled_by, Some(DisabledBy::Failures));
        assert!(!h.attempts());
    }

    #[test]
    fn a_success_resets_and_gone_disables() {
        let h = fail(Health::NEW, 7).after(Finished::Delivered);
        assert_eq!(h, Health::NEW);
        let h = Health::NEW.after(Finished::Gone);
        assert_eq!(
            (h.status, h.disabled_by),
            (Status::Disabled, Some(DisabledBy::Gone))
        );
        assert_eq!(h.set_enabled(true), Health::NEW);
    }

    #[test]
    fn a_user_disable_holds_against_late_outcomes() {
        let h = Health::NEW.set_enabled(false);
        assert_eq!(h.after(Finished::Delivered), h);
        assert_eq!(h.after(Finished::Failed), h);
        assert_eq!(h.after(Finished::Gone), h);
        for s in [Status::Active, Status::Failing, Status::Disabled] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for d in [DisabledBy::User, DisabledBy::Gone, DisabledBy::Failures] {
            assert_eq!(DisabledBy::parse(d.as_str()), Some(d));
        }
    }
}
