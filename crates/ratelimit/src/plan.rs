//! The plans an operator can assign to an org, and what each one includes.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use thiserror::Error;

/// An org's plan (operator-assigned). Stored and parsed as `free`, `pro`, `agency` or
/// `enterprise`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plan {
    /// 60 req/s per key, 500 events a month, hard cap.
    Free,
    /// 200 req/s per key, 10,000 events included, overage beyond.
    Pro,
    /// 1000 req/s per key, unlimited unless the org sets a cap.
    Enterprise,
    /// An agency's tree: an anchor org and up to 4 child workspaces, Pro features, 500 req/s
    /// per key, one pool of 25,000 events a month for the whole tree, overage beyond.
    Agency,
}

/// A plan name that is not one of the three plans.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The text is not `free`, `pro`, `agency` or `enterprise` (matching is exact, lowercase).
    #[error("unknown plan {0:?}: expected \"free\", \"pro\", \"agency\" or \"enterprise\"")]
    Unknown(String),
}

// `NonZeroU32::new` is const but returns an Option; these literals are known to be non-zero.
const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Plan; 4] = [Plan::Free, Plan::Pro, Plan::Agency, Plan::Enterprise];

    /// Parses the stored name. Exact and lowercase, since it is only ever written by us.
    pub fn parse(name: &str) -> Result<Self, PlanError> {
        match name {
            "free" => Ok(Self::Free),
            "pro" => Ok(Self::Pro),
            "enterprise" => Ok(Self::Enterprise),
            "agency" => Ok(Self::Agency),
            other => Err(PlanError::Unknown(other.to_owned())),
        }
    }

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Enterprise => "enterprise",
            Self::Agency => "agency",
        }
    }

    /// Task-type overrides, custom task types, reports other than usage, stored audit samples
    /// and webhooks.
    pub const fn has_pro_features(self) -> bool {
        matches!(self, Self::Pro | Self::Agency | Self::Enterprise)
    }

    /// The contract's per-key rate limit; the operator may change it with [`PlanLimits`].
    pub const fn default_per_second(self) -> NonZeroU32 {
        match self {
            Self::Free => nz(60),
            Self::Pro => nz(200),
            Self::Enterprise => nz(1000),
            Self::Agency => nz(500),
        }
    }

    /// Events per calendar month included in the plan; `None` is unlimited. For `agency` it is
    /// the pool the whole tree (anchor and workspaces) shares.
    pub const fn included_events(self) -> Option<u64> {
        match self {
            Self::Free => Some(500),
            Self::Pro => Some(10_000),
            Self::Enterprise => None,
            Self::Agency => Some(25_000),
        }
    }

    /// Workspaces an org of this plan may have under it: an agency anchor 4, every other 0.
    pub const fn max_workspaces(self) -> u32 {
        match self {
            Self::Agency => 4,
            Self::Free | Self::Pro | Self::Enterprise => 0,
        }
    }

    /// Whether an org of this plan may set a monthly event cap: not on agency, where the tree
    /// shares one pool and events past it are the anchor's overage.
    pub const fn takes_cap(self) -> bool {
        !matches!(self, Self::Agency)
    }

    /// Days an event (with its audit sample and idempotency record) is kept unless the org
    /// sets its own retention: free 30, pro and agency 365, enterprise 730.
    pub const fn default_retention_days(self) -> u32 {
        match self {
            Self::Free => 30,
            Self::Pro | Self::Agency => 365,
            Self::Enterprise => 730,
        }
    }
}

impl FromStr for Plan {
    type Err = PlanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-key requests per second for each plan. `Default` is the contract's table
/// (60 / 200 / 500 / 1000); the operator may override any of them at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    free: NonZeroU32,
    pro: NonZeroU32,
    enterprise: NonZeroU32,
    agency: NonZeroU32,
}

impl Default for PlanLimits {
    fn default() -> Self {
        Self {
            free: Plan::Free.default_per_second(),
            pro: Plan::Pro.default_per_second(),
            enterprise: Plan::Enterprise.default_per_second(),
            agency: Plan::Agency.default_per_second(),
        }
    }
}

impl PlanLimits {
    /// The limit for `plan`, which is also its burst size.
    pub const fn per_second(&self, plan: Plan) -> NonZeroU32 {
        match plan {
            Plan::Free => self.free,
            Plan::Pro => self.pro,
            Plan::Enterprise => self.enterprise,
            Plan::Agency => self.agency,
        }
    }

    /// The same limits with `plan`'s replaced.
    #[must_use]
    pub const fn with_per_second(mut self, plan: Plan, per_second: NonZeroU32) -> Self {
        match plan {
            Plan::Free => self.free = per_second,
            Plan::Pro => self.pro = per_second,
            Plan::Enterprise => self.enterprise = per_second,
            Plan::Agency => self.agency = per_second,
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_table() {
        // (name, plan, pro features, per second, included, retention days)
        let cases = [
            ("free", Plan::Free, false, 60, Some(500), 30),
            ("pro", Plan::Pro, true, 200, Some(10_000), 365),
            ("enterprise", Plan::Enterprise, true, 1000, None, 730),
            ("agency", Plan::Agency, true, 500, Some(25_000), 365),
        ];
        for (name, plan, pro, rate, included, retention) in cases {
            assert_eq!(Plan::parse(name), Ok(plan));
            assert_eq!(name.parse::<Plan>(), Ok(plan));
            assert_eq!(plan.as_str(), name);
            assert_eq!(plan.to_string(), name);
            assert_eq!(plan.has_pro_features(), pro);
            assert_eq!(plan.default_per_second().get(), rate);
            assert_eq!(PlanLimits::default().per_second(plan).get(), rate);
            assert_eq!(plan.included_events(), included);
            assert_eq!(plan.default_retention_days(), retention);
            assert_eq!(
                plan.max_workspaces(),
                if plan == Plan::Agency { 4 } else { 0 }
            );
            assert_eq!(plan.takes_cap(), plan != Plan::Agency);
        }
        assert_eq!(
            Plan::ALL.map(Plan::as_str),
            ["free", "pro", "agency", "enterprise"]
        );
    }

    #[test]
    fn unknown_plans_are_rejected() {
        for bad in [
            "",
            "Free",
            "PRO",
            " pro",
            "pro ",
            "team",
            "enterprise\n",
            "Agency",
        ] {
            assert_eq!(Plan::parse(bad), Err(PlanError::Unknown(bad.to_owned())));
        }
        assert_eq!(
            PlanError::Unknown("team".into()).to_string(),
            r#"unknown plan "team": expected "free", "pro", "agency" or "enterprise""#
        );
    }

    #[test]
    fn limits_can_be_overridden_per_plan() {
        let limits = PlanLimits::default().with_per_second(Plan::Pro, nz(250));
        assert_eq!(limits.per_second(Plan::Free).get(), 60);
        assert_eq!(limits.per_second(Plan::Pro).get(), 250);
        assert_eq!(limits.per_second(Plan::Enterprise).get(), 1000);
        assert_eq!(limits.per_second(Plan::Agency).get(), 500);
    }
}
