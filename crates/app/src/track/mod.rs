//! `POST /track`: value one finished task and store it, exactly once.

use std::sync::Arc;

use catalogue::{resolve_price, Catalogue};
use idempotency::{Decision, IdempotencyKey};
use roi_engine::{
    evaluate, BaselineCandidates, CostInput, Resolution, Valuation, AGENT_COST_DP, HOURS_DP,
    MONEY_DP,
};
use rust_decimal::Decimal;
use serde::Serialize;
use store::{EventRow, IdempotencyClaim, QuotaInput, Recorded, TrackError, TrackWrite};
use time::OffsetDateTime;

use utoipa::ToSchema;

pub mod batch;
pub mod input;

use crate::auth::OrgSettings;
use crate::clock;
use crate::context::{ContextCache, OrgContext};
use crate::error::ApiError;
use crate::state::App;
use crate::wire::{push_fixed, push_json_str, JsonDecimal};
use input::{
    check_window, from_value, parse_json, wire_from_text, OutcomeDoc, TrackInput, TrackWire,
};

/// The 201 body (API.md §4): the valuation, frozen on the event. Decimals serialize as exact
/// JSON numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackResponse<'a> {
    /// `evt_` + ULID.
    #[schema(example = "evt_01M8KYYRZKB1X83W7FZ6SZNKN5")]
    event_id: &'a str,
    agent_id: &'a str,
    task_type: &'a str,
    #[schema(value_type = OutcomeDoc)]
    outcome: &'a str,
    resolved_baseline_minutes: JsonDecimal,
    /// `request`, `override`, `builtin`, `custom` or `fallback`.
    resolved_baseline_source: &'a str,
    resolved_hourly_rate: JsonDecimal,
    currency: &'a str,
    agent_duration_seconds: JsonDecimal,
    hours_saved: JsonDecimal,
    cost_saved: JsonDecimal,
    /// `null` when the cost is unknown: never reported as 0.
    agent_cost: Option<JsonDecimal>,
    /// `provided`, `computed` or `none`.
    resolved_cost_source: &'a str,
    net_saved: JsonDecimal,
    /// UTC, milliseconds, `Z`.
    #[schema(format = DateTime)]
    occurred_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_out: Option<u64>,
    /// Present when not empty: `unpriced_model`, `missing_tokens`, `missing_fx_rate`, `agent_cost_out_of_range`,
    /// `audit_sample_not_stored`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<&'a str>,
}

/// The `Idempotency-Key` header as received.
#[derive(Debug, Clone, Copy)]
pub enum KeyHeader<'a> {
    Absent,
    /// Not text a header may carry (outside visible ASCII).
    Unreadable,
    /// Sent more than once: which one the client meant cannot be told.
    Repeated,
    Text(&'a str),
}

fn idempotency_key(header: KeyHeader<'_>) -> Result<Option<IdempotencyKey>, ApiError> {
    let text = match header {
        KeyHeader::Absent => return Ok(None),
        KeyHeader::Unreadable => {
            return Err(ApiError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ))
        }
        KeyHeader::Repeated => {
            return Err(ApiError::field(
                "Idempotency-Key",
                "was sent more than once; send one Idempotency-Key header",
            ))
        }
        KeyHeader::Text(text) => text,
    };
    IdempotencyKey::parse(text)
        .map(Some)
        .map_err(|e| ApiError::field("Idempotency-Key", e.to_string()))
}

/// What [`track`] did: stored a new event (`replayed` false: 201) or answered an earlier
/// identical request again (200, `Idempotent-Replayed: true`); `body` is the answer's JSON.
#[derive(Debug)]
pub struct Tracked {
    pub replayed: bool,
    pub body: String,
}

/// `POST /track`: reads, values and stores one finished task, exactly once (API.md §4, §7).
pub async fn track(
    state: &Arc<App>,
    org: &OrgSettings,
    body: &[u8],
    key: KeyHeader<'_>,
    now: OffsetDateTime,
) -> Result<Tracked, ApiError> {
    let (wire, claim) = track_body(body, key)?;
    let input = wire.into_input()?;
    let prepared = prepare(state, org, input, claim, now).await?;
    let (replayed, body) = match prepared {
        Prepared::Replay(body) => (true, body),
        Prepared::Write(write, body) => {
            let result = commit(state, vec![*write])
                .await?
                .pop()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("writer returned no result")))?;
            match write_result(result, org)? {
                Recorded::Created { .. } => (false, body),
                Recorded::Replayed { event } => (true, event_answer(&event)?),
            }
        }
    };
    Ok(Tracked { replayed, body })
}

/// `POST /track/validate`: checks a body against every field rule of `/track` without valuing
/// or storing it.
pub fn validate(body: &[u8], key: KeyHeader<'_>) -> Result<(), ApiError> {
    track_body(body, key)?.0.into_input()?;
    Ok(())
}

/// A `/track` body: its wire struct and, with an `Idempotency-Key`, the claim. A valid body is
/// read straight from its text (the fingerprint by `idempotency::fingerprint_text`, equal to the
/// `Value`'s); any other goes through a `Value` as before, so every error reads the same and comes
/// in the same order: JSON syntax, then the header, then the fields.
fn track_body(
    body: &[u8],
    key: KeyHeader<'_>,
) -> Result<(TrackWire, Option<IdempotencyClaim>), ApiError> {
    let text = std::str::from_utf8(body).ok();
    let fast = text.and_then(|t| {
        let wire = wire_from_text::<TrackWire>(t)?;
        let claim = match idempotency_key(key) {
            Err(e) => return Some(Err(e)),
            Ok(None) => None,
            Ok(Some(key)) => Some(IdempotencyClaim {
                key: key.as_str().to_owned(),
                fingerprint: idempotency::fingerprint_text(t, None)?.0,
            }),
        };
        Some(Ok((wire, claim)))
    });
    if let Some(read) = fast {
        return read;
    }
    let value = parse_json(body)?;
    let claim = idempotency_key(key)?.map(|key| IdempotencyClaim {
        key: key.as_str().to_owned(),
        fingerprint: idempotency::fingerprint(&value),
    });
    Ok((from_value::<TrackWire>(value)?, claim))
}

/// An event ready to commit with its answer, or the answer of an earlier identical request.
pub(crate) enum Prepared {
    Write(Box<TrackWrite>, String),
    Replay(String),
}

/// Sends writes to the group-commit writer and waits for the commit that holds them.
pub(crate) async fn commit(
    state: &App,
    writes: Vec<TrackWrite>,
) -> Result<Vec<Result<Recorded, TrackError>>, ApiError> {
    let rx = state.writer.submit(writes).map_err(|e| match e {
        store::SubmitError::Full => ApiError::Overloaded,
        store::SubmitError::Stopped => ApiError::internal(e),
    })?;
    let results = rx
        .await
        .map_err(|_| ApiError::internal(anyhow::anyhow!("the writer dropped a write")))??;
    let stored = results
        .iter()
        .filter(|r| matches!(r, Ok(Recorded::Created { .. })))
        .count();
    state.metrics.events_stored(stored as u64);
    Ok(results)
}

/// Maps one committed (or refused) write to the answer.
pub(crate) fn write_result(
    result: Result<Recorded, TrackError>,
    org: &OrgSettings,
) -> Result<Recorded, ApiError> {
    match result {
        Ok(r) => Ok(r),
        Err(TrackError::QuotaExceeded) => Err(ApiError::QuotaExceeded {
            cap: ratelimit::hard_cap(org.plan, org.monthly_event_cap).unwrap_or_default(),
        }),
        Err(TrackError::KeyReused) => Err(ApiError::IdempotencyKeyReused),
        Err(TrackError::KeyInFlight) => Err(ApiError::IdempotencyKeyInUse),
        Err(TrackError::Store(e)) => Err(e.into()),
    }
}

/// Values one event and builds its row and answer, from the org's cached context (no
/// database read on this path). When a rule that may have changed since an earlier identical
/// request refuses it (the time window, the task type), that request's stored answer wins: a
/// retry is answered as it was the first time.
pub(crate) async fn prepare(
    state: &Arc<App>,
    org: &OrgSettings,
    input: TrackInput,
    claim: Option<IdempotencyClaim>,
    now: OffsetDateTime,
) -> Result<Prepared, ApiError> {
    let ctx = ContextCache::get(state, &org.id).await?;
    match value_event(state, org, &ctx, input, claim.clone(), now) {
        Ok(write) => {
            let body = event_answer(&write.event)?;
            Ok(Prepared::Write(Box::new(write), body))
        }
        Err(e @ (ApiError::OccurredAtOutOfRange { .. } | ApiError::UnknownTaskType { .. })) => {
            let Some(c) = claim else { return Err(e) };
            let org_id = org.id.clone();
            let stored = crate::blocking(state, move |st| {
                let Some(row) = st.store.find_idempotency(&org_id, &c.key)? else {
                    return Ok::<_, ApiError>(None);
                };
                let decision = store::decide_existing(&row, &c.fingerprint, now)?;
                let event = match decision {
                    Decision::Replay => st.store.get_event(&org_id, &row.event_id)?,
                    _ => None,
                };
                Ok(Some((decision, event)))
            })
            .await?;
            let Some((decision, event)) = stored else {
                return Err(e);
            };
            match decision {
                Decision::Replay => {
                    let event = event.ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!(
                            "an idempotency record names an event that is not stored"
                        ))
                    })?;
                    Ok(Prepared::Replay(event_answer(&event)?))
                }
                Decision::Reused => Err(ApiError::IdempotencyKeyReused),
                Decision::InFlight => Err(ApiError::IdempotencyKeyInUse),
                Decision::Proceed | Decision::ProceedReplacingExpired => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

fn value_event(
    state: &App,
    org: &OrgSettings,
    ctx: &OrgContext,
    input: TrackInput,
    claim: Option<IdempotencyClaim>,
    now: OffsetDateTime,
) -> Result<TrackWrite, ApiError> {
    let occurred_at = input.occurred_at.unwrap_or(now);
    check_window(occurred_at, now)?;
    let key = input.task_type.as_str();
    let builtin = Catalogue::builtin().get(key);
    let baseline = BaselineCandidates {
        request: input.human_baseline,
        // Overrides apply to built-in task types only.
        org_override: builtin.and(ctx.overrides.get(key).copied()),
        builtin: builtin.map(|b| b.baseline),
        custom: ctx.custom_types.get(key).copied(),
        fallback: org.fallback_baseline,
    };
    let agent_rate = ctx.agent_rates.get(input.agent_id.as_str()).copied();
    let cost = match (&input.agent_cost, &input.model) {
        (Some(m), _) => CostInput::Provided(*m),
        (None, Some(model)) => {
            let pricing = state.pricing.current();
            CostInput::Model {
                model: model.clone(),
                tokens: input.tokens,
                price: resolve_price(
                    pricing.org_books.get(&org.id),
                    &pricing.book,
                    model,
                    occurred_at,
                )
                .map(|p| p.price),
                fx: pricing.fx.rate_at(&org.currency, occurred_at),
                currency: org.currency.as_str().to_owned(),
            }
        }
        (None, None) => CostInput::Nothing,
    };
    let valuation = evaluate(&Resolution {
        baseline,
        agent_rate,
        org_rate: Some(org.hourly_rate),
        outcome: input.outcome,
        duration: input.duration,
        cost,
    })
    .map_err(|_| ApiError::UnknownTaskType {
        task_type: input.task_type.as_str().to_owned(),
    })?;

    let event_id = format!("evt_{}", clock::ulid(now));
    let mut warnings: Vec<&'static str> = valuation.cost.warning.iter().map(|w| w.code()).collect();
    let keep_audit = org.plan.has_pro_features();
    if input.audit_sample.is_some() && !keep_audit {
        warnings.push("audit_sample_not_stored");
    }
    let event = event_row(
        event_id,
        org,
        &input,
        &valuation,
        occurred_at,
        now,
        keep_audit,
        &warnings,
    );
    Ok(TrackWrite {
        event,
        idempotency: claim,
        quota: QuotaInput {
            plan: org.plan,
            cap_override: org.monthly_event_cap,
            month: clock::month(now),
            pool: org.pool().map(str::to_owned),
        },
        now,
        id_seed: clock::seed(),
    })
}

/// The answer for a stored event: its 201 body, and the body of every replay of it (API.md §4,
/// §7). Every value in it is frozen on the event, so it is rendered from the event row alone: the
/// first answer and a replay a day later are the same bytes, and the idempotency record keeps
/// only the event's id. Written by hand, field by field as [`TrackResponse`] serializes (a test
/// holds the two equal): this runs once per stored event, and serde's path through `JsonDecimal` parsed
/// every number twice.
pub(crate) fn event_answer(e: &EventRow) -> Result<String, ApiError> {
    use std::fmt::Write as _;
    let decimal = |field: &str, text: &str| {
        Decimal::from_str_exact(text)
            .map(|d| d.normalize())
            .map_err(|_| corrupt(e, field, text))
    };
    let warnings: Vec<&str> = match e.warnings.as_deref() {
        Some(text) => serde_json::from_str(text).map_err(|_| corrupt(e, "warnings", text))?,
        None => Vec::new(),
    };
    let mut out = String::with_capacity(512);
    let o = &mut out;
    // `,"name":` (the first field has no comma; the opening brace stands in for it).
    let key = |o: &mut String, name: &str| {
        o.push_str(",\"");
        o.push_str(name);
        o.push_str("\":");
    };
    o.push_str("{\"event_id\":");
    push_json_str(o, &e.id);
    for (name, text) in [
        ("agent_id", &e.agent_id),
        ("task_type", &e.task_type),
        ("outcome", &e.outcome),
    ] {
        key(o, name);
        push_json_str(o, text);
    }
    // Writing to a String cannot fail.
    key(o, "resolved_baseline_minutes");
    let _ = write!(o, "{}", decimal("baseline_minutes", &e.baseline_minutes)?);
    key(o, "resolved_baseline_source");
    push_json_str(o, &e.baseline_source);
    key(o, "resolved_hourly_rate");
    let _ = write!(o, "{}", decimal("hourly_rate", &e.hourly_rate)?);
    key(o, "currency");
    push_json_str(o, &e.currency);
    key(o, "agent_duration_seconds");
    let _ = write!(
        o,
        "{}",
        decimal("agent_duration_seconds", &e.agent_duration_seconds)?
    );
    for (name, units, dp) in [
        ("hours_saved", e.hours_saved_milli, HOURS_DP),
        ("cost_saved", e.cost_saved_cents, MONEY_DP),
    ] {
        key(o, name);
        push_fixed(o, units, dp);
    }
    key(o, "agent_cost");
    match e.agent_cost_micros {
        Some(m) => push_fixed(o, m, AGENT_COST_DP),
        None => o.push_str("null"),
    }
    key(o, "resolved_cost_source");
    push_json_str(o, &e.cost_source);
    key(o, "net_saved");
    push_fixed(o, e.net_saved_cents, MONEY_DP);
    key(o, "occurred_at");
    push_json_str(o, &clock::format_ms(clock::from_unix_ms(e.occurred_at)));
    if let Some(model) = &e.model {
        key(o, "model");
        push_json_str(o, model);
    }
    for (name, n) in [("tokens_in", e.tokens_in), ("tokens_out", e.tokens_out)] {
        if let Some(n) = n {
            key(o, name);
            let _ = write!(o, "{}", u64::try_from(n).unwrap_or_default());
        }
    }
    if !warnings.is_empty() {
        key(o, "warnings");
        o.push('[');
        for (k, w) in warnings.iter().enumerate() {
            if k > 0 {
                o.push(',');
            }
            push_json_str(o, w);
        }
        o.push(']');
    }
    o.push('}');
    Ok(out)
}

fn corrupt(e: &EventRow, field: &str, text: &str) -> ApiError {
    ApiError::internal(anyhow::anyhow!(
        "stored event {}: {field} '{text}' cannot be read",
        e.id
    ))
}

/// The stored row of a valued event: the one mapping from an input and its valuation to the
/// events table, for `/track`, batches and `dev seed`.
#[expect(clippy::too_many_arguments, reason = "one flat mapping into the row")]
pub(crate) fn event_row(
    id: String,
    org: &OrgSettings,
    input: &TrackInput,
    v: &Valuation,
    occurred_at: OffsetDateTime,
    now: OffsetDateTime,
    keep_audit: bool,
    warnings: &[&'static str],
) -> EventRow {
    let audit_sample = input.audit_sample.as_ref().filter(|_| keep_audit).map(|a| {
        serde_json::json!({
            "input_excerpt": a.input_excerpt,
            "output_excerpt": a.output_excerpt,
            "model": a.model,
            "tokens_in": a.tokens_in,
            "tokens_out": a.tokens_out,
        })
        .to_string()
    });
    let client = input
        .metadata
        .as_ref()
        .and_then(|m| m.get("client"))
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    EventRow {
        id,
        org_id: org.id.clone(),
        agent_id: input.agent_id.as_str().to_owned(),
        task_type: input.task_type.as_str().to_owned(),
        outcome: input.outcome.as_str().to_owned(),
        occurred_at: clock::unix_ms(occurred_at),
        received_at: clock::unix_ms(now),
        agent_duration_seconds: input.duration.to_string(),
        model: input.model.clone(),
        tokens_in: input.tokens.map(|t| to_i64(t.input())),
        tokens_out: input.tokens.map(|t| to_i64(t.output())),
        baseline_minutes: v.baseline_minutes.to_string(),
        baseline_source: v.baseline_source.as_str().to_owned(),
        hourly_rate: v.hourly_rate.to_string(),
        rate_source: v.rate_source.as_str().to_owned(),
        currency: org.currency.as_str().to_owned(),
        cost_source: v.cost.source.as_str().to_owned(),
        price_input_usd_per_mtok: v.cost.price.map(|p| p.input.to_string()),
        price_output_usd_per_mtok: v.cost.price.map(|p| p.output.to_string()),
        fx_rate: v.cost.fx.map(|f| f.to_string()),
        hours_saved_milli: v.hours_saved_milli(),
        cost_saved_cents: v.cost_saved_cents(),
        agent_cost_micros: v.agent_cost_micros(),
        net_saved_cents: v.net_saved_cents(),
        client,
        metadata: input.metadata_json.clone(),
        audit_sample,
        warnings: (!warnings.is_empty())
            .then(|| serde_json::to_string(warnings).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roi_engine::from_fixed;

    /// [`event_answer`] through serde and [`TrackResponse`]: what the hand-written one must equal.
    /// The answer for a stored event: its 201 body, and the body of every replay of it (API.md §4,
    /// §7). Every value in it is frozen on the event, so it is rendered from the event row alone: the
    /// first answer and a replay a day later are the same bytes, and the idempotency record keeps
    /// only the event's id.
    fn event_answer_by_serde(e: &EventRow) -> Result<String, ApiError> {
        let corrupt = |field: &str, text: &str| {
            ApiError::internal(anyhow::anyhow!(
                "stored event {}: {field} '{text}' is not a decimal",
                e.id
            ))
        };
        let decimal = |field: &str, text: &str| {
            Decimal::from_str_exact(text)
                .map(JsonDecimal)
                .map_err(|_| corrupt(field, text))
        };
        let warnings: Vec<&str> = match e.warnings.as_deref() {
            Some(text) => serde_json::from_str(text).map_err(|_| corrupt("warnings", text))?,
            None => Vec::new(),
        };
        let to_u64 = |n: i64| u64::try_from(n).unwrap_or_default();
        serde_json::to_string(&TrackResponse {
            event_id: &e.id,
            agent_id: &e.agent_id,
            task_type: &e.task_type,
            outcome: &e.outcome,
            resolved_baseline_minutes: decimal("baseline_minutes", &e.baseline_minutes)?,
            resolved_baseline_source: &e.baseline_source,
            resolved_hourly_rate: decimal("hourly_rate", &e.hourly_rate)?,
            currency: &e.currency,
            agent_duration_seconds: decimal("agent_duration_seconds", &e.agent_duration_seconds)?,
            hours_saved: JsonDecimal(from_fixed(e.hours_saved_milli, HOURS_DP)),
            cost_saved: JsonDecimal(from_fixed(e.cost_saved_cents, MONEY_DP)),
            agent_cost: e
                .agent_cost_micros
                .map(|m| JsonDecimal(from_fixed(m, AGENT_COST_DP))),
            resolved_cost_source: &e.cost_source,
            net_saved: JsonDecimal(from_fixed(e.net_saved_cents, MONEY_DP)),
            occurred_at: clock::format_ms(clock::from_unix_ms(e.occurred_at)),
            model: e.model.as_deref(),
            tokens_in: e.tokens_in.map(to_u64),
            tokens_out: e.tokens_out.map(to_u64),
            warnings,
        })
        .map_err(ApiError::internal)
    }

    fn row() -> EventRow {
        EventRow {
            id: "evt_01M8MXJBTQKVV5W4B6XABV87T5".into(),
            org_id: "org_1".into(),
            agent_id: "support-bot".into(),
            task_type: "email_classification".into(),
            outcome: "success".into(),
            occurred_at: 1_795_997_411_771,
            received_at: 1_795_997_411_771,
            agent_duration_seconds: "21.10".into(),
            model: Some("openai/gpt-4o-mini".into()),
            tokens_in: Some(501),
            tokens_out: Some(0),
            baseline_minutes: "3".into(),
            baseline_source: "builtin".into(),
            hourly_rate: "45.50".into(),
            rate_source: "org".into(),
            currency: "USD".into(),
            cost_source: "computed".into(),
            price_input_usd_per_mtok: Some("0.15".into()),
            price_output_usd_per_mtok: Some("0.6".into()),
            fx_rate: None,
            hours_saved_milli: 44,
            cost_saved_cents: 198,
            agent_cost_micros: Some(256),
            net_saved_cents: -198,
            client: None,
            metadata: None,
            audit_sample: None,
            warnings: None,
        }
    }

    #[test]
    fn the_hand_written_answer_is_what_serde_writes() {
        let mut rows = vec![row()];
        let mut r = row();
        r.agent_id = "quote \" slash \\ tab \t é".into();
        r.model = None;
        r.tokens_in = None;
        r.tokens_out = None;
        r.agent_cost_micros = None;
        r.cost_source = "none".into();
        r.warnings = Some(r#"["unpriced_model","audit_sample_not_stored"]"#.into());
        r.hours_saved_milli = 0;
        r.cost_saved_cents = 0;
        r.net_saved_cents = 0;
        r.agent_duration_seconds = "0".into();
        r.occurred_at = 0;
        rows.push(r);
        let mut r = row();
        r.hours_saved_milli = 168_000;
        r.cost_saved_cents = 1_000_000_000_000;
        r.agent_cost_micros = Some(1_000_000_000_000_000_000);
        r.net_saved_cents = -999_999_999_999_999;
        r.baseline_minutes = "10080".into();
        r.hourly_rate = "0.000001".into();
        rows.push(r);
        for r in rows {
            assert_eq!(
                event_answer(&r).unwrap(),
                event_answer_by_serde(&r).unwrap()
            );
        }
    }
}
