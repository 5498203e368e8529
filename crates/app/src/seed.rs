//! `humanhours dev seed`: realistic events for benchmarks and demos, written fast.
//!
//! The events look like a real org's: a few busy agents and a long tail (weights 1/rank), the
//! built-in task types with a skew, mostly successes, a handful of models with provided costs,
//! clients and a team in the metadata. Each is valued by the real ROI rules at the org's rate,
//! and written in time order, many per transaction with their rollups
//! (`Store::insert_event_batch`). A seed makes the same events for the same `--seed` and start.

use anyhow::Context as _;
use catalogue::Catalogue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use roi_engine::{
    evaluate, BaselineCandidates, CostInput, DurationSeconds, HourlyRate, Money, Outcome,
    Resolution,
};
use rust_decimal::prelude::ToPrimitive as _;
use rust_decimal::Decimal;
use store::{OrgRow, Store};

use crate::auth::OrgSettings;
use crate::clock;
use crate::track::event_row;
use crate::track::input::TrackInput;

/// Events per transaction.
const BATCH: usize = 20_000;

const MODELS: [&str; 6] = [
    "openai/gpt-4o-mini",
    "openai/gpt-4o",
    "anthropic/claude-3.5-sonnet",
    "anthropic/claude-3-haiku",
    "google/gemini-flash-1.5",
    "meta-llama/llama-3.1-70b-instruct",
];

const TEAMS: [&str; 5] = ["support", "finance", "sales", "ops", "legal"];

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub events: u64,
    /// Events are spread evenly over the `days` before `now_ms`.
    pub days: u32,
    pub agents: usize,
    pub seed: u64,
    pub now_ms: i64,
}

/// Picks an index with weight 1/(i+1)^skew.
struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    fn new(n: usize, skew: f64) -> Self {
        let mut acc = 0.0;
        let cumulative = (0..n)
            .map(|i| {
                acc += 1.0 / ((i + 1) as f64).powf(skew);
                acc
            })
            .collect();
        Weighted { cumulative }
    }

    fn pick(&self, rng: &mut StdRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|c| *c <= x)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

/// Writes the events; calls `progress` with the count written after each transaction.
pub fn seed(
    store: &Store,
    org: &OrgRow,
    spec: &SeedSpec,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<()> {
    let rate = HourlyRate::parse(&org.hourly_rate).context("the org's stored hourly rate")?;
    let settings = OrgSettings::try_from(org)?;
    let agent_ids = |name: &str| catalogue::AgentId::parse(name).context("a generated agent id");
    let types: Vec<_> = Catalogue::builtin().iter().take(30).collect();
    anyhow::ensure!(!types.is_empty(), "the built-in catalogue is empty");
    let agents: Vec<String> = (0..spec.agents.max(1))
        .map(|i| match i {
            0 => "support-bot".to_owned(),
            1 => "invoice-triage".to_owned(),
            2 => "sales-drafter".to_owned(),
            _ => format!("agent-{i:03}"),
        })
        .collect();
    let pick_agent = Weighted::new(agents.len(), 1.0);
    let pick_type = Weighted::new(types.len(), 0.8);
    let pick_model = Weighted::new(MODELS.len(), 1.0);
    let pick_client = Weighted::new(40, 0.7);
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let span_ms = i64::from(spec.days.max(1)) * 86_400_000;
    let start = spec.now_ms - span_ms;
    let batches = spec.events.div_ceil(BATCH as u64).max(1);
    let window = span_ms / batches as i64;
    let mut written = 0u64;
    for b in 0..batches {
        let n = (spec.events - written).min(BATCH as u64) as usize;
        let from = start + b as i64 * window;
        let mut times: Vec<i64> = (0..n)
            .map(|_| from + rng.random_range(0..window.max(1)))
            .collect();
        times.sort_unstable();
        let mut batch = Vec::with_capacity(n);
        for at in times {
            let t = types[pick_type.pick(&mut rng)];
            let outcome = match rng.random_range(0..100) {
                0..85 => Outcome::Success,
                85..95 => Outcome::NeedsReview,
                _ => Outcome::Failure,
            };
            // The agent takes 1 % to 30 % of the human time, to the hundredth of a second.
            let human_cs = (t.baseline.get() * Decimal::from(6000))
                .trunc()
                .to_i64()
                .unwrap_or(6000)
                .max(100);
            let duration_cs = rng.random_range(human_cs / 100..=human_cs * 3 / 10);
            let duration = DurationSeconds::new(Decimal::new(duration_cs, 2))
                .context("a generated duration")?;
            let with_model = rng.random_range(0..10) < 8;
            let model = with_model.then(|| MODELS[pick_model.pick(&mut rng)].to_owned());
            let cost = if with_model && rng.random_range(0..10) < 9 {
                CostInput::Provided(
                    Money::new(Decimal::new(rng.random_range(50..50_000), 6))
                        .context("a generated cost")?,
                )
            } else {
                CostInput::Nothing
            };
            let v = evaluate(&Resolution {
                baseline: BaselineCandidates {
                    builtin: Some(t.baseline),
                    ..BaselineCandidates::default()
                },
                agent_rate: None,
                org_rate: Some(rate),
                outcome,
                duration,
                cost,
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let client = (rng.random_range(0..10) < 6)
                .then(|| format!("client-{:02}", pick_client.pick(&mut rng) + 1));
            let team = TEAMS[rng.random_range(0..TEAMS.len())];
            let mut metadata = serde_json::Map::new();
            if let Some(c) = &client {
                metadata.insert("client".into(), c.as_str().into());
            }
            metadata.insert("team".into(), team.into());
            let id = ulid::Ulid::from_parts(u64::try_from(at).unwrap_or(0), rng.random::<u128>());
            let at_time = clock::from_unix_ms(at);
            let input = TrackInput {
                agent_id: agent_ids(&agents[pick_agent.pick(&mut rng)])?,
                task_type: t.key.clone(),
                outcome,
                duration,
                agent_cost: None,
                model,
                tokens: None,
                human_baseline: None,
                metadata_json: Some(serde_json::Value::Object(metadata.clone()).to_string()),
                metadata: Some(metadata),
                audit_sample: None,
                occurred_at: Some(at_time),
            };
            batch.push(event_row(
                format!("evt_{id}"),
                &settings,
                &input,
                &v,
                at_time,
                at_time,
                false,
                &[],
            ));
        }
        store.insert_event_batch(&batch)?;
        written += n as u64;
        progress(written);
    }
    Ok(())
}
