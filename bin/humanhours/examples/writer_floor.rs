//! The group-commit writer on its own, without HTTP: how many events per second the SQLite
//! transactions of `/track/batch` can store on one core, and at what CPU cost per event.
//!
//! `bench/ingest.sh` runs it pinned to one core, next to the HTTP figures, so the batch figure
//! can be read against the part of it that is SQLite's and the writer's: the same rows as a
//! batch of the benchmark (an event with model, tokens and a `client`, and an idempotency
//! claim), 1,000 a submission, four submissions in flight, the checkpointer running. The rows are
//! built before the clock starts.
//!
//! Usage: `writer_floor DB_PATH full|normal [EVENTS]` (EVENTS: default 300,000).

use std::collections::VecDeque;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use app::clock;
use app::orgs::{create_org, NewOrg};
use ratelimit::Plan;
use store::{
    DbConfig, EventRow, IdempotencyClaim, QuotaInput, Recorded, SqliteSync, Store, TrackWrite,
    Writer, WriterConfig,
};
use time::OffsetDateTime;

const BATCH: usize = 1000;
const IN_FLIGHT: usize = 4;
const TASK_TYPES: [&str; 6] = [
    "email_classification",
    "ticket_routing",
    "customer_email_draft",
    "duplicate_detection",
    "blog_short_draft",
    "invoice_data_extraction",
];
const OUTCOMES: [&str; 5] = ["success", "success", "success", "needs_review", "failure"];

/// User plus system CPU time of this process, in seconds (Linux).
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').context("reading /proc/self/stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// One event as the benchmark's wrk script sends it, stored as the server would store it. Event
/// `n` is received at `start` + 10 µs × n (a pace of 100k events/s): ids are ULIDs, random within
/// their millisecond, so the same instant for all would make every id index insert a random one.
fn write(org: &str, n: usize, start: OffsetDateTime) -> TrackWrite {
    let now = start + time::Duration::microseconds(10 * n as i64);
    let body = serde_json::json!({
        "agent_id": format!("agent-{}", n % 20),
        "task_type": TASK_TYPES[n % TASK_TYPES.len()],
        "outcome": OUTCOMES[n % OUTCOMES.len()],
        "agent_duration_seconds": n % 30,
        "model": "openai/gpt-4o-mini",
        "tokens_in": 500 + n % 1000,
        "tokens_out": 100 + n % 300,
        "metadata": {"client": format!("client-{}", n % 8)},
    });
    let at = clock::unix_ms(now);
    let event = EventRow {
        id: format!("evt_{}", clock::ulid(now)),
        org_id: org.to_owned(),
        agent_id: format!("agent-{}", n % 20),
        task_type: TASK_TYPES[n % TASK_TYPES.len()].to_owned(),
        outcome: OUTCOMES[n % OUTCOMES.len()].to_owned(),
        occurred_at: at,
        received_at: at,
        agent_duration_seconds: (n % 30).to_string(),
        model: Some("openai/gpt-4o-mini".to_owned()),
        tokens_in: Some(500 + (n % 1000) as i64),
        tokens_out: Some(100 + (n % 300) as i64),
        baseline_minutes: "4".to_owned(),
        baseline_source: "builtin".to_owned(),
        hourly_rate: "45".to_owned(),
        rate_source: "org_default".to_owned(),
        currency: "USD".to_owned(),
        cost_source: "computed".to_owned(),
        price_input_usd_per_mtok: Some("0.15".to_owned()),
        price_output_usd_per_mtok: Some("0.6".to_owned()),
        fx_rate: None,
        hours_saved_milli: 67,
        cost_saved_cents: 300,
        agent_cost_micros: Some(135),
        net_saved_cents: 300,
        client: Some(format!("client-{}", n % 8)),
        metadata: Some(body["metadata"].to_string()),
        audit_sample: None,
        warnings: None,
    };
    TrackWrite {
        event,
        idempotency: Some(IdempotencyClaim {
            key: format!("floor-{n}"),
            fingerprint: idempotency::fingerprint(&body),
        }),
        quota: QuotaInput {
            plan: Plan::Enterprise,
            cap_override: None,
            month: clock::month(now),
            pool: None,
        },
        now,
        id_seed: n as u128,
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(sync)) = (args.get(1), args.get(2)) else {
        bail!("usage: writer_floor DB_PATH full|normal [EVENTS]");
    };
    let sync = SqliteSync::parse(sync).context("the second argument is full or normal")?;
    let events: usize = match args.get(3) {
        Some(n) => n.parse().context("EVENTS is a number")?,
        None => 300_000,
    };
    let mut config = DbConfig::new(format!("sqlite://{path}"));
    config.sqlite_sync = sync;
    let store = Arc::new(Store::open(&config)?);
    let now = clock::now();
    let orgs: Vec<String> = (0..4)
        .map(|i| {
            Ok(create_org(
                &store,
                &NewOrg::named(&format!("floor-{i}"), Plan::Enterprise),
                now,
            )?
            .id)
        })
        .collect::<anyhow::Result<_>>()?;
    // Each submission is one org's, as one request of the benchmark is.
    let mut batches: VecDeque<Vec<TrackWrite>> = (0..events.div_ceil(BATCH))
        .map(|b| {
            let org = &orgs[b % orgs.len()];
            (b * BATCH..((b + 1) * BATCH).min(events))
                .map(|n| write(org, n, now))
                .collect()
        })
        .collect();
    let writer = Writer::start(store.clone(), WriterConfig::default())?;

    let (cpu0, t0) = (cpu_seconds()?, clock::instant());
    let mut waiting = VecDeque::new();
    let mut stored = 0usize;
    while !batches.is_empty() || !waiting.is_empty() {
        while waiting.len() < IN_FLIGHT {
            let Some(batch) = batches.pop_front() else {
                break;
            };
            waiting.push_back(writer.submit(batch)?);
        }
        let Some(rx) = waiting.pop_front() else { break };
        let results = rx.blocking_recv()??;
        for r in results {
            match r? {
                Recorded::Created { .. } => stored += 1,
                Recorded::Replayed { .. } => bail!("a new key was replayed"),
            }
        }
    }
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds()? - cpu0);
    if store.count_events(&orgs[0])? == 0 {
        bail!("nothing was stored");
    }
    println!(
        "{:.0} events/s  cpu/event {:.2} us  ({stored} events in {secs:.2} s)",
        stored as f64 / secs,
        cpu * 1e6 / stored as f64
    );
    Ok(())
}
