//! The ROI rules of HumanHours (API.md §5): which baseline and hourly rate apply to a task, what
//! the agent run cost, and the exact hours, money and net saved.
//!
//! This crate owns the arithmetic and the resolution orders, nothing else. It does no I/O: no
//! database, network, file system, clock, randomness or environment. Everything it needs (the
//! org's override, the agent's rate, the price in force, the FX rate) is looked up by the caller
//! and passed in as plain values, so other Rust services can embed it and every rule is tested
//! on its own. It never uses binary floating point: all values are `rust_decimal::Decimal`, and
//! every input type bounds its range so that no operation here can overflow.

mod values;

use rust_decimal::{Decimal, RoundingStrategy};

pub use rust_decimal;
pub use values::{
    parse_decimal, BaselineMinutes, DurationSeconds, FxRate, HourlyRate, Money, Outcome,
    TokenPrice, Tokens, UsdPerMillionTokens, ValueError,
};

/// Decimal places kept for hours saved.
pub const HOURS_DP: u32 = 3;
/// Decimal places kept for money saved and net saved.
pub const MONEY_DP: u32 = 2;
/// Decimal places kept for the agent's cost.
pub const AGENT_COST_DP: u32 = 6;

/// Rounds half away from zero to `dp` places (the contract's only rounding mode), and drops
/// trailing zeros so `2.970` prints as `2.97`.
pub fn round(value: Decimal, dp: u32) -> Decimal {
    value
        .round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// Where the baseline came from, in resolution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaselineSource {
    /// `human_baseline_minutes` in the request.
    Request,
    /// The org's override of a built-in task type.
    Override,
    /// The built-in catalogue.
    Builtin,
    /// The org's own active custom task type.
    Custom,
    /// The org's fallback baseline.
    Fallback,
}

impl BaselineSource {
    /// The wire name (`resolved_baseline_source`).
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineSource::Request => "request",
            BaselineSource::Override => "override",
            BaselineSource::Builtin => "builtin",
            BaselineSource::Custom => "custom",
            BaselineSource::Fallback => "fallback",
        }
    }
}

/// Where the hourly rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateSource {
    Agent,
    Org,
    Default,
}

impl RateSource {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RateSource::Agent => "agent",
            RateSource::Org => "org",
            RateSource::Default => "default",
        }
    }
}

/// Where the agent's cost came from (`resolved_cost_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CostSource {
    /// `agent_cost` was sent.
    Provided,
    /// Computed from model, tokens and the price book.
    Computed,
    /// No cost known.
    None,
}

impl CostSource {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CostSource::Provided => "provided",
            CostSource::Computed => "computed",
            CostSource::None => "none",
        }
    }
}

/// Something the caller should know about a result that is still valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Warning {
    /// A model was sent that has no price in force: the cost is unknown, never 0.
    UnpricedModel { model: String },
    /// A model was sent without token counts, so no cost could be computed.
    MissingTokens { model: String },
    /// The model is priced but there is no USD rate for the org's currency.
    MissingFxRate { currency: String },
    /// The computed cost is above what one event may cost ([`Money::MAX`]): the tokens,
    /// price or rate are implausible, so the cost is left unknown rather than stored.
    CostOutOfRange { model: String },
}

impl Warning {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::UnpricedModel { .. } => "unpriced_model",
            Warning::MissingTokens { .. } => "missing_tokens",
            Warning::MissingFxRate { .. } => "missing_fx_rate",
            Warning::CostOutOfRange { .. } => "agent_cost_out_of_range",
        }
    }

    /// A sentence for a person.
    pub fn message(&self) -> String {
        match self {
            Warning::UnpricedModel { model } => format!(
                "model '{model}' has no price in force at occurred_at; agent_cost is unknown (send agent_cost or import a price)"
            ),
            Warning::MissingTokens { model } => format!(
                "model '{model}' was sent without tokens_in/tokens_out; agent_cost is unknown"
            ),
            Warning::MissingFxRate { currency } => format!(
                "no USD→{currency} exchange rate in force at occurred_at; agent_cost is unknown (import an FX rate)"
            ),
            Warning::CostOutOfRange { model } => format!(
                "the cost computed for model '{model}' is above {} per event; agent_cost is unknown (check tokens and prices, or send agent_cost)",
                Money::MAX
            ),
        }
    }
}

/// The baselines that could apply to an event. The caller looks each up; [`resolve_baseline`]
/// picks the first in the contract's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaselineCandidates {
    pub request: Option<BaselineMinutes>,
    pub org_override: Option<BaselineMinutes>,
    pub builtin: Option<BaselineMinutes>,
    pub custom: Option<BaselineMinutes>,
    pub fallback: Option<BaselineMinutes>,
}

/// No baseline applies: the task type is unknown to the org and it has no fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown task type and no baseline to fall back on")]
pub struct UnknownTaskType;

/// Request → override → built-in → custom → fallback (API.md §5).
pub fn resolve_baseline(
    c: &BaselineCandidates,
) -> Result<(BaselineMinutes, BaselineSource), UnknownTaskType> {
    [
        (c.request, BaselineSource::Request),
        (c.org_override, BaselineSource::Override),
        (c.builtin, BaselineSource::Builtin),
        (c.custom, BaselineSource::Custom),
        (c.fallback, BaselineSource::Fallback),
    ]
    .into_iter()
    .find_map(|(b, s)| b.map(|b| (b, s)))
    .ok_or(UnknownTaskType)
}

/// The agent's own rate → the org default → 45.
pub fn resolve_rate(
    agent: Option<HourlyRate>,
    org: Option<HourlyRate>,
) -> (HourlyRate, RateSource) {
    match (agent, org) {
        (Some(r), _) => (r, RateSource::Agent),
        (None, Some(r)) => (r, RateSource::Org),
        (None, None) => (HourlyRate::DEFAULT, RateSource::Default),
    }
}

/// hours_saved = round3(max(0, baseline − duration/60) / 60); 0 for a failure.
pub fn hours_saved(
    baseline: BaselineMinutes,
    duration: DurationSeconds,
    outcome: Outcome,
) -> Decimal {
    if outcome == Outcome::Failure {
        return Decimal::ZERO;
    }
    let minutes_saved = (baseline.get() - duration.get() / Decimal::from(60)).max(Decimal::ZERO);
    round(minutes_saved / Decimal::from(60), HOURS_DP)
}

/// cost_saved = round2(hours_saved × rate), from the already rounded hours.
pub fn cost_saved(rounded_hours: Decimal, rate: HourlyRate) -> Decimal {
    round(rounded_hours * rate.get(), MONEY_DP)
}

/// What the caller knows about the agent's cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CostInput {
    /// `agent_cost` was sent; it always wins.
    Provided(Money),
    /// A model was sent (and no `agent_cost`). `price` is the price in force at occurred_at
    /// (None when unpriced); `fx` converts USD into the org currency ([`FxRate::ONE`] for a
    /// USD org, None when no rate is known).
    Model {
        model: String,
        tokens: Option<Tokens>,
        price: Option<TokenPrice>,
        fx: Option<FxRate>,
        currency: String,
    },
    /// Nothing about cost was sent.
    Nothing,
}

/// The agent's cost as resolved, with what was used to compute it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCost {
    /// In the org currency, 6 decimals; None when unknown.
    pub amount: Option<Decimal>,
    pub source: CostSource,
    /// The price used, when computed.
    pub price: Option<TokenPrice>,
    /// The FX rate used, when computed.
    pub fx: Option<FxRate>,
    pub warning: Option<Warning>,
}

/// Provided → computed (tokens × price, converted from USD) → none, with a warning whenever a
/// model was sent but its cost could not be computed.
pub fn resolve_cost(input: &CostInput) -> ResolvedCost {
    let none = |warning| ResolvedCost {
        amount: None,
        source: CostSource::None,
        price: None,
        fx: None,
        warning,
    };
    match input {
        CostInput::Provided(m) => ResolvedCost {
            amount: Some(round(m.get(), AGENT_COST_DP)),
            source: CostSource::Provided,
            price: None,
            fx: None,
            warning: None,
        },
        CostInput::Nothing => none(None),
        CostInput::Model {
            model,
            tokens,
            price,
            fx,
            currency,
        } => {
            let Some(price) = price else {
                return none(Some(Warning::UnpricedModel {
                    model: model.clone(),
                }));
            };
            let Some(tokens) = tokens else {
                return none(Some(Warning::MissingTokens {
                    model: model.clone(),
                }));
            };
            let Some(fx) = fx else {
                return none(Some(Warning::MissingFxRate {
                    currency: currency.clone(),
                }));
            };
            let usd = (Decimal::from(tokens.input()) * price.input.get()
                + Decimal::from(tokens.output()) * price.output.get())
                / Decimal::from(1_000_000);
            let amount = round(usd * fx.get(), AGENT_COST_DP);
            if amount > Money::MAX {
                return none(Some(Warning::CostOutOfRange {
                    model: model.clone(),
                }));
            }
            ResolvedCost {
                amount: Some(amount),
                source: CostSource::Computed,
                price: Some(*price),
                fx: Some(*fx),
                warning: None,
            }
        }
    }
}

/// Everything needed to value one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub baseline: BaselineCandidates,
    pub agent_rate: Option<HourlyRate>,
    pub org_rate: Option<HourlyRate>,
    pub outcome: Outcome,
    pub duration: DurationSeconds,
    pub cost: CostInput,
}

/// The valued event: every resolved input and every result, to be frozen with the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valuation {
    pub baseline_minutes: BaselineMinutes,
    pub baseline_source: BaselineSource,
    pub hourly_rate: HourlyRate,
    pub rate_source: RateSource,
    /// 3 decimals.
    pub hours_saved: Decimal,
    /// 2 decimals.
    pub cost_saved: Decimal,
    pub cost: ResolvedCost,
    /// 2 decimals; negative when the run cost more than it saved.
    pub net_saved: Decimal,
}

impl Valuation {
    /// Hours saved in thousandths of an hour (exact: hours are rounded to 3 places).
    pub fn hours_saved_milli(&self) -> i64 {
        to_fixed(self.hours_saved, HOURS_DP)
    }

    /// Money saved in hundredths of the currency unit.
    pub fn cost_saved_cents(&self) -> i64 {
        to_fixed(self.cost_saved, MONEY_DP)
    }

    /// Net saved in hundredths of the currency unit.
    pub fn net_saved_cents(&self) -> i64 {
        to_fixed(self.net_saved, MONEY_DP)
    }

    /// The agent's cost in millionths of the currency unit, when known.
    pub fn agent_cost_micros(&self) -> Option<i64> {
        self.cost.amount.map(|a| to_fixed(a, AGENT_COST_DP))
    }
}

/// Scales a value already rounded to `dp` places into an integer count of 10^-dp units. The
/// input bounds keep every result far inside i64 (the largest is 10^12 money × 10^6).
pub fn to_fixed(value: Decimal, dp: u32) -> i64 {
    let mut scaled = value;
    scaled.rescale(dp);
    let mantissa = scaled.mantissa();
    i64::try_from(mantissa).unwrap_or(if mantissa < 0 { i64::MIN } else { i64::MAX })
}

/// The inverse of [`to_fixed`].
pub fn from_fixed(units: i64, dp: u32) -> Decimal {
    Decimal::new(units, dp).normalize()
}

/// The inverse of [`to_fixed`] for a sum of many values (a report's total, say), which may
/// exceed 64 bits. Exact up to 2^96 units (about 7.9 × 10^28), far past any sum the store can
/// hold; beyond that it saturates rather than panics.
pub fn from_fixed_sum(units: i128, dp: u32) -> Decimal {
    match Decimal::try_from_i128_with_scale(units, dp) {
        Ok(d) => d.normalize(),
        Err(_) if units < 0 => Decimal::MIN,
        Err(_) => Decimal::MAX,
    }
}

/// Net saved of an aggregate of events, in millionths of the currency:
/// Σ cost_saved − Σ agent_cost, from the exact sums (money saved in cents, agent cost in
/// millionths), not from the events' rounded nets (API.md §8), so that "money saved − agent
/// cost = net saved" holds on every total. Events without a known cost count as 0.
pub fn aggregate_net_micros(cost_saved_cents: i128, agent_cost_micros: i128) -> i128 {
    cost_saved_cents * 10_i128.pow(AGENT_COST_DP - MONEY_DP) - agent_cost_micros
}

/// [`aggregate_net_micros`] as shown: rounded half away from zero to cents, only now.
pub fn aggregate_net(cost_saved_cents: i128, agent_cost_micros: i128) -> Decimal {
    round(
        from_fixed_sum(
            aggregate_net_micros(cost_saved_cents, agent_cost_micros),
            AGENT_COST_DP,
        ),
        MONEY_DP,
    )
}

/// Values one event under the contract's rules.
pub fn evaluate(r: &Resolution) -> Result<Valuation, UnknownTaskType> {
    let (baseline_minutes, baseline_source) = resolve_baseline(&r.baseline)?;
    let (hourly_rate, rate_source) = resolve_rate(r.agent_rate, r.org_rate);
    let hours = hours_saved(baseline_minutes, r.duration, r.outcome);
    let cost_saved = cost_saved(hours, hourly_rate);
    let cost = resolve_cost(&r.cost);
    let net_saved = round(cost_saved - cost.amount.unwrap_or(Decimal::ZERO), MONEY_DP);
    Ok(Valuation {
        baseline_minutes,
        baseline_source,
        hourly_rate,
        rate_source,
        hours_saved: hours,
        cost_saved,
        cost,
        net_saved,
    })
}

#[cfg(test)]
mod tests;
