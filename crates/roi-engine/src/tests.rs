use std::str::FromStr;

use proptest::prelude::*;

use super::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn baseline(s: &str) -> BaselineMinutes {
    BaselineMinutes::parse(s).unwrap()
}

fn rate(s: &str) -> HourlyRate {
    HourlyRate::parse(s).unwrap()
}

fn secs(s: &str) -> DurationSeconds {
    DurationSeconds::parse(s).unwrap()
}

fn simple(b: &str, s: &str, r: &str, outcome: Outcome) -> Resolution {
    Resolution {
        baseline: BaselineCandidates {
            builtin: Some(baseline(b)),
            ..Default::default()
        },
        agent_rate: None,
        org_rate: Some(rate(r)),
        outcome,
        duration: secs(s),
        cost: CostInput::Nothing,
    }
}

/// (baseline minutes, duration seconds, rate) → (hours, cost): API.md §5, exactly.
#[test]
fn contract_test_vectors() {
    let vectors = [
        ("4", "4", "45", "0.066", "2.97"),
        ("4", "0", "45", "0.067", "3.02"),
        ("90", "30", "45", "1.492", "67.14"),
        ("4", "300", "45", "0", "0"),
        ("8", "20", "45", "0.128", "5.76"),
        ("2", "0", "45", "0.033", "1.49"),
        ("35", "0", "60", "0.583", "34.98"),
    ];
    for (b, s, r, hours, cost) in vectors {
        let v = evaluate(&simple(b, s, r, Outcome::Success)).unwrap();
        assert_eq!(
            v.hours_saved,
            d(hours),
            "hours for {b} min, {s} s, rate {r}"
        );
        assert_eq!(v.cost_saved, d(cost), "cost for {b} min, {s} s, rate {r}");
        assert_eq!(v.net_saved, d(cost), "net without agent cost");
        assert_eq!(
            v.hours_saved.to_string(),
            hours,
            "printed without trailing zeros"
        );
        assert_eq!(v.cost_saved.to_string(), cost);
    }
}

#[test]
fn failure_saves_nothing_but_still_costs() {
    let mut r = simple("4", "4", "45", Outcome::Failure);
    r.cost = CostInput::Provided(Money::parse("0.5").unwrap());
    let v = evaluate(&r).unwrap();
    assert_eq!(v.hours_saved, Decimal::ZERO);
    assert_eq!(v.cost_saved, Decimal::ZERO);
    assert_eq!(v.net_saved, d("-0.5"));
    // needs_review counts like success.
    let v = evaluate(&simple("4", "4", "45", Outcome::NeedsReview)).unwrap();
    assert_eq!(v.hours_saved, d("0.066"));
}

#[test]
fn baseline_resolution_order() {
    let all = BaselineCandidates {
        request: Some(baseline("1")),
        org_override: Some(baseline("2")),
        builtin: Some(baseline("3")),
        custom: Some(baseline("4")),
        fallback: Some(baseline("5")),
    };
    let cases = [
        (all, "1", BaselineSource::Request),
        (
            BaselineCandidates {
                request: None,
                ..all
            },
            "2",
            BaselineSource::Override,
        ),
        (
            BaselineCandidates {
                request: None,
                org_override: None,
                ..all
            },
            "3",
            BaselineSource::Builtin,
        ),
        (
            BaselineCandidates {
                custom: Some(baseline("4")),
                fallback: Some(baseline("5")),
                ..Default::default()
            },
            "4",
            BaselineSource::Custom,
        ),
        (
            BaselineCandidates {
                fallback: Some(baseline("5")),
                ..Default::default()
            },
            "5",
            BaselineSource::Fallback,
        ),
    ];
    for (c, want, source) in cases {
        assert_eq!(resolve_baseline(&c), Ok((baseline(want), source)));
    }
    assert_eq!(
        resolve_baseline(&BaselineCandidates::default()),
        Err(UnknownTaskType)
    );
    assert_eq!(BaselineSource::Override.as_str(), "override");
}

#[test]
fn rate_resolution_order() {
    assert_eq!(
        resolve_rate(Some(rate("80")), Some(rate("60"))),
        (rate("80"), RateSource::Agent)
    );
    assert_eq!(
        resolve_rate(None, Some(rate("60"))),
        (rate("60"), RateSource::Org)
    );
    assert_eq!(resolve_rate(None, None), (rate("45"), RateSource::Default));
}

fn model_cost(
    tokens: Option<(u64, u64)>,
    price: Option<(&str, &str)>,
    fx: Option<&str>,
) -> ResolvedCost {
    resolve_cost(&CostInput::Model {
        model: "openai/o3".into(),
        tokens: tokens.map(|(i, o)| Tokens::new(i, o).unwrap()),
        price: price.map(|(i, o)| TokenPrice {
            input: UsdPerMillionTokens::parse(i).unwrap(),
            output: UsdPerMillionTokens::parse(o).unwrap(),
        }),
        fx: fx.map(|f| FxRate::parse(f).unwrap()),
        currency: "EUR".into(),
    })
}

#[test]
fn computed_cost_is_tokens_times_price_converted() {
    // 1200 × $2/M + 300 × $8/M = $0.0024 + $0.0024 = $0.0048; × 0.9 EUR/USD = €0.00432.
    let c = model_cost(Some((1200, 300)), Some(("2", "8")), Some("0.9"));
    assert_eq!(c.source, CostSource::Computed);
    assert_eq!(c.amount, Some(d("0.00432")));
    assert_eq!(c.warning, None);
    // Kept to 6 decimals, half away from zero: 1 token at $0.15/M = $0.00000015 → 0.
    let c = model_cost(Some((1, 0)), Some(("0.15", "0.6")), Some("1"));
    assert_eq!(c.amount, Some(d("0")));
    let c = model_cost(Some((5, 0)), Some(("0.1", "0")), Some("1"));
    assert_eq!(
        c.amount,
        Some(d("0.000001")),
        "0.0000005 rounds away from zero"
    );
}

#[test]
fn cost_none_with_a_warning_when_it_cannot_be_computed() {
    let c = model_cost(Some((10, 10)), None, Some("1"));
    assert_eq!((c.source, c.amount), (CostSource::None, None));
    assert_eq!(
        c.warning.as_ref().map(Warning::code),
        Some("unpriced_model")
    );
    let c = model_cost(None, Some(("1", "1")), Some("1"));
    assert_eq!(
        c.warning.as_ref().map(Warning::code),
        Some("missing_tokens")
    );
    let c = model_cost(Some((10, 10)), Some(("1", "1")), None);
    assert_eq!(
        c.warning.as_ref().map(Warning::code),
        Some("missing_fx_rate")
    );
    assert!(c.warning.unwrap().message().contains("EUR"));
    // 10^12 tokens at $10^6 per million is $10^12: above what one event may cost.
    let c = model_cost(Some((Tokens::MAX, 0)), Some(("1000000", "0")), Some("1"));
    assert_eq!((c.source, c.amount), (CostSource::None, None));
    assert_eq!(
        c.warning.as_ref().map(Warning::code),
        Some("agent_cost_out_of_range")
    );
    let c = resolve_cost(&CostInput::Nothing);
    assert_eq!(
        (c.source, c.amount, c.warning),
        (CostSource::None, None, None)
    );
}

#[test]
fn provided_cost_wins_and_net_is_rounded() {
    let mut r = simple("4", "4", "45", Outcome::Success);
    r.cost = CostInput::Provided(Money::parse("0.0123456").unwrap());
    let v = evaluate(&r).unwrap();
    assert_eq!(v.cost.source, CostSource::Provided);
    assert_eq!(v.cost.amount, Some(d("0.012346")));
    assert_eq!(v.net_saved, d("2.96"), "2.97 − 0.012346 = 2.957654 → 2.96");
    assert_eq!(v.agent_cost_micros(), Some(12_346));
    assert_eq!(v.cost_saved_cents(), 297);
    assert_eq!(v.net_saved_cents(), 296);
    assert_eq!(v.hours_saved_milli(), 66);
}

#[test]
fn net_may_be_negative() {
    let mut r = simple("2", "0", "45", Outcome::Success);
    r.cost = CostInput::Provided(Money::parse("5").unwrap());
    assert_eq!(evaluate(&r).unwrap().net_saved, d("-3.51"));
}

#[test]
fn fixed_point_round_trips() {
    for (s, dp, units) in [
        ("0.066", 3, 66),
        ("2.97", 2, 297),
        ("-3.51", 2, -351),
        ("0", 6, 0),
    ] {
        assert_eq!(to_fixed(d(s), dp), units);
        assert_eq!(from_fixed(units, dp), d(s));
    }
}

#[test]
fn rounding_is_half_away_from_zero() {
    assert_eq!(round(d("0.0665"), 3), d("0.067"));
    assert_eq!(round(d("-0.0665"), 3), d("-0.067"));
    assert_eq!(round(d("0.0675"), 3), d("0.068"), "not banker's rounding");
    assert_eq!(round(d("2.125"), 2), d("2.13"));
}

fn any_baseline() -> impl Strategy<Value = BaselineMinutes> {
    (1u32..=1_008_000).prop_map(|c| BaselineMinutes::new(Decimal::new(i64::from(c), 2)).unwrap())
}

fn any_duration() -> impl Strategy<Value = DurationSeconds> {
    (0u64..=2_000_000).prop_map(|ms| DurationSeconds::new(Decimal::new(ms as i64, 3)).unwrap())
}

fn any_rate() -> impl Strategy<Value = HourlyRate> {
    (0u32..=100_000).prop_map(|c| HourlyRate::new(Decimal::new(i64::from(c), 2)).unwrap())
}

fn any_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Failure),
        Just(Outcome::NeedsReview)
    ]
}

proptest! {
    #[test]
    fn hours_never_negative_and_have_three_places(b in any_baseline(), s in any_duration(), o in any_outcome()) {
        let h = hours_saved(b, s, o);
        prop_assert!(h >= Decimal::ZERO);
        prop_assert!(h.scale() <= HOURS_DP);
        prop_assert!(h <= d("168"));
    }

    #[test]
    fn hours_monotone_in_baseline(a in any_baseline(), b in any_baseline(), s in any_duration()) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(hours_saved(lo, s, Outcome::Success) <= hours_saved(hi, s, Outcome::Success));
    }

    #[test]
    fn hours_antitone_in_duration(b in any_baseline(), s in any_duration(), t in any_duration()) {
        let (short, long) = if s <= t { (s, t) } else { (t, s) };
        prop_assert!(hours_saved(b, long, Outcome::Success) <= hours_saved(b, short, Outcome::Success));
    }

    #[test]
    fn cost_is_round2_of_rounded_hours_times_rate(b in any_baseline(), s in any_duration(), r in any_rate()) {
        let mut res = simple("1", "0", "45", Outcome::Success);
        res.baseline.builtin = Some(b);
        res.duration = s;
        res.org_rate = Some(r);
        let v = evaluate(&res).unwrap();
        let exact_hours = ((b.get() - s.get() / Decimal::from(60)).max(Decimal::ZERO)) / Decimal::from(60);
        prop_assert!((v.hours_saved - exact_hours).abs() <= d("0.0005"));
        prop_assert_eq!(v.cost_saved, (v.hours_saved * r.get()).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero).normalize());
        prop_assert_eq!(v.cost_saved, v.net_saved);
    }

    #[test]
    fn rounding_is_stable(units in -10_000_000i64..10_000_000, dp in 0u32..7) {
        let x = Decimal::new(units, 7);
        let once = round(x, dp);
        prop_assert_eq!(round(once, dp), once);
        prop_assert!((once - x).abs() <= Decimal::new(5, dp + 1));
        // Half away from zero is symmetric.
        prop_assert_eq!(round(-x, dp), -once);
    }

    #[test]
    fn fixed_point_is_exact(units in any::<i32>(), dp in 0u32..7) {
        let x = Decimal::new(i64::from(units), dp);
        prop_assert_eq!(to_fixed(x, dp), i64::from(units));
    }
}

#[test]
fn an_aggregate_net_comes_from_the_exact_sums_and_rounds_once() {
    // Two events of 2.97 saved and 0.004 cost: each rounded net is 2.97 (sum 5.94), but the
    // exact net is 5.932, shown as 5.93.
    assert_eq!(aggregate_net_micros(594, 8_000), 5_932_000);
    assert_eq!(aggregate_net(594, 8_000), d("5.93"));
    // Half a cent rounds away from zero, both ways.
    assert_eq!(aggregate_net(1, 5_000), d("0.01"));
    assert_eq!(aggregate_net(0, 5_000), d("-0.01"));
    assert_eq!(aggregate_net(0, 4_999), d("0"));
    // Ten thousand events at the largest agent cost (10^9 each) overflow 64 bits, not this.
    let agent = 10_000_i128 * 1_000_000_000_000_000;
    assert_eq!(aggregate_net(0, agent), d("-10000000000000"));
    assert_eq!(from_fixed_sum(agent, AGENT_COST_DP), d("10000000000000"));
    assert_eq!(from_fixed_sum(i128::MAX, 0), Decimal::MAX);
    assert_eq!(from_fixed_sum(i128::MIN, 0), Decimal::MIN);
}
