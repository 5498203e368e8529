//! Plans and their limits (API.md §3): the per-key per-second rate limit, the `RateLimit` /
//! `RateLimit-Policy` header values, the monthly event quota decision, and the limits on failed
//! key checks (§14), key scopes (§13), and the overage charge and retention of §12.
//!
//! This crate owns the rules only. It does no I/O: no database, network, file system,
//! environment, and no clock of its own. The rate limiter is generic over governor's
//! [`Clock`](governor::clock::Clock), so the server passes a real clock and tests pass a
//! [`FakeRelativeClock`](governor::clock::FakeRelativeClock); the monthly quota is a pure
//! function of counts the caller has looked up. Limiter state lives in memory, per process.

mod failures;
mod limiter;
mod overage;
mod plan;
mod quota;
mod scope;

pub use failures::{FailureLimiter, FailureLimits};
pub use governor;
pub use limiter::{policy_header, KeyedLimiter, RateDecision, POLICY_NAME};
pub use overage::{
    overage_charge, OverageCharge, Tier, CURRENCY as OVERAGE_CURRENCY, TIERS as OVERAGE_TIERS,
};
pub use plan::{Plan, PlanError, PlanLimits};
pub use quota::{hard_cap, monthly_quota, QuotaDecision};
pub use scope::{Scope, ScopeError, Scopes};
