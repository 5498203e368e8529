//! Every report shape a person drills down with (issue 21: crossed dimensions, a dimension
//! filtered by another, week and day buckets in a zone at +05:45, five dimensions by day,
//! `metadata.<key>`, the leaderboard) equals, row by row and to the cent, a sum computed here
//! directly over the stored events, for a preset period and for a range that starts and ends
//! mid-hour. Whatever path the server takes to answer (rollups, raw events, or both), it must
//! not change a figure. Runs on both backends.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a failure should fail the test loudly"
)]

mod common;

use std::collections::BTreeMap;

use app::clock;
use common::TestApp;
use ratelimit::Plan;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use store::{EventFilter, EventRow};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Asia/Kathmandu: UTC+05:45 all year (no daylight saving since 1986).
const KATHMANDU_MS: i64 = (5 * 60 + 45) * 60_000;

/// What a group sums to: events, milli-hours, cents, agent cost in millionths, costed events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sums {
    events: i64,
    hours_milli: i64,
    cost_cents: i128,
    agent_micros: i128,
    costed: i64,
}

fn ms(text: &str) -> i64 {
    clock::unix_ms(OffsetDateTime::parse(text, &Rfc3339).unwrap())
}

fn dec(v: &Value) -> Decimal {
    v.to_string().parse().unwrap()
}

/// The local date of `at` (`offset` from UTC) as `YYYY-MM-DD`, or its week's Monday.
fn local_label(at: i64, offset: i64, week: bool) -> String {
    let t = clock::from_unix_ms(at + offset);
    let mut d = t.date();
    if week {
        d -= time::Duration::days(i64::from(d.weekday().number_days_from_monday()));
    }
    format!("{d}")
}

fn metadata_value(e: &EventRow, key: &str) -> Option<String> {
    let m: Value = serde_json::from_str(e.metadata.as_deref()?).ok()?;
    m.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A group's value of an event for one `group_by` entry.
fn key_of(e: &EventRow, dim: &str, offset: i64) -> Option<String> {
    match dim {
        "agent" => Some(e.agent_id.clone()),
        "task_type" => Some(e.task_type.clone()),
        "model" => e.model.clone(),
        "outcome" => Some(e.outcome.clone()),
        "client" => e.client.clone(),
        "day" => Some(local_label(e.occurred_at, offset, false)),
        "week" => Some(local_label(e.occurred_at, offset, true)),
        other => metadata_value(e, other.strip_prefix("metadata.").unwrap()),
    }
}

type Groups = BTreeMap<Vec<Option<String>>, Sums>;

/// The groups the events of `[from, to)` make, filtered as the query says.
fn expected(events: &[EventRow], dims: &[&str], from: i64, to: i64, query: &str) -> Groups {
    let param = |name: &str| -> Option<String> {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_owned))
    };
    let offset = if param("tz").is_some() {
        KATHMANDU_MS
    } else {
        0
    };
    let (agent, task_type) = (param("agent_id"), param("task_type"));
    let mut out = Groups::new();
    for e in events {
        if e.occurred_at < from
            || e.occurred_at >= to
            || agent.as_ref().is_some_and(|a| *a != e.agent_id)
            || task_type.as_ref().is_some_and(|t| *t != e.task_type)
        {
            continue;
        }
        let key: Vec<Option<String>> = dims.iter().map(|d| key_of(e, d, offset)).collect();
        let s = out.entry(key).or_default();
        s.events += 1;
        s.hours_milli += e.hours_saved_milli;
        s.cost_cents += i128::from(e.cost_saved_cents);
        if let Some(c) = e.agent_cost_micros {
            s.agent_micros += i128::from(c);
            s.costed += 1;
        }
    }
    out
}

/// The groups a report answered, with the figures as exact decimals.
fn answered(body: &Value, dims: &[&str]) -> BTreeMap<Vec<Option<String>>, Vec<Decimal>> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = dims
                .iter()
                .map(|d| r[*d].as_str().map(str::to_owned))
                .collect();
            let figures = [
                "events",
                "hours_saved",
                "cost_saved",
                "agent_cost",
                "net_saved",
            ]
            .iter()
            .filter(|f| !r[**f].is_null() || **f == "agent_cost")
            .map(|f| {
                if r[*f].is_null() {
                    Decimal::NEGATIVE_ONE
                } else {
                    dec(&r[*f])
                }
            })
            .collect();
            (key, figures)
        })
        .collect()
}

/// The figures a report should show for a group (time-saved: events, hours, money; cost-saved
/// adds agent cost (−1 for "unknown": no event of the group has one) and net).
fn figures(s: &Sums, cost_report: bool) -> Vec<Decimal> {
    let mut v = vec![Decimal::from(s.events)];
    if !cost_report {
        v.push(Decimal::new(s.hours_milli, 3));
    }
    v.push(Decimal::from_i128_with_scale(s.cost_cents, 2));
    if cost_report {
        v.push(if s.costed == 0 {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::from_i128_with_scale(s.agent_micros, 6)
        });
        v.push(roi_engine::aggregate_net(s.cost_cents, s.agent_micros));
    } else {
        v.push(Decimal::NEGATIVE_ONE);
    }
    v
}

#[actix_web::test]
async fn every_report_shape_equals_a_direct_sum_over_the_events() {
    // Rollups are folded only when asked, so the tracked events below stay unfolded (SQLite's
    // events past the watermark, PostgreSQL's queue) until then.
    let mut config = common::test_config();
    config.writer.rollup_interval = std::time::Duration::from_secs(3600);
    let app = TestApp::spawn_with(config).await;
    let (org, key) = app.org(Plan::Enterprise);
    let out = app.cli(&[
        "dev", "seed", "--org", &org, "--events", "4000", "--days", "40", "--agents", "8",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = stored(&app, &org);
    assert_eq!(events.len(), 4000);
    // The busiest task type, so its filter keeps many events.
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &events {
        *by_type.entry(e.task_type.as_str()).or_default() += 1;
    }
    let types: Vec<String> = by_type.keys().map(|t| t.to_string()).collect();
    let busiest = by_type
        .iter()
        .max_by_key(|(_, n)| **n)
        .unwrap()
        .0
        .to_string();
    // A range that starts and ends mid-hour (and mid-quarter-hour, off Kathmandu's :45).
    let now = clock::unix_ms(clock::now());
    let hour = 3_600_000;
    let from = (now - 25 * 86_400_000) / hour * hour + 17 * 60_000 + 23_456;
    let to = (now - 2 * 86_400_000) / hour * hour + 41 * 60_000 + 7_000;
    let fmt = |t: i64| clock::format_ms(clock::from_unix_ms(t));
    let ranges = [
        "period=90d".to_owned(),
        format!("from={}&to={}", fmt(from), fmt(to)),
    ];
    let mut checked = check_every_shape(&app, &key, &events, &busiest, &ranges).await;

    // Events tracked now, over the same weeks: not folded into the rollups yet, so every shape
    // a rollup answers adds them from the unfolded tail.
    let agents = ["support-bot", "invoice-triage", "tracked-agent"];
    let outcomes = ["success", "success", "needs_review", "failure"];
    for i in 0..150_i64 {
        let mut body = json!({
            "agent_id": agents[(i % 3) as usize],
            "task_type": types[(i as usize) % types.len()],
            "outcome": outcomes[(i % 4) as usize],
            "occurred_at": fmt(now - 3 * 86_400_000 - i * 3 * hour - i * 61_000),
            "metadata": {"client": format!("client-{}", i % 4), "team": format!("team-{}", i % 2)},
        });
        if i % 2 == 0 {
            body["agent_cost"] = json!(0.0125);
            body["model"] = json!("openai/gpt-4o-mini");
        }
        let r = app.track(&key, &body, None).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let events = stored(&app, &org);
    assert_eq!(events.len(), 4150);
    let folded_everywhere = app
        .store
        .rollup_sums(&org)
        .unwrap()
        .into_iter()
        .map(|(_, s)| s.events)
        .min()
        .unwrap();
    assert_eq!(
        folded_everywhere, 4000,
        "the tracked events are not folded yet"
    );
    checked += check_every_shape(&app, &key, &events, &busiest, &ranges).await;

    // And once they are folded.
    app.state.writer.fold_rollups().await.unwrap();
    for (dim, sums) in app.store.rollup_sums(&org).unwrap() {
        assert_eq!(sums.events, 4150, "{dim}");
    }
    checked += check_every_shape(&app, &key, &events, &busiest, &ranges).await;
    println!("shapes: {checked} groups checked against the events");
}

/// Every event of an org, from the store.
fn stored(app: &TestApp, org: &str) -> Vec<EventRow> {
    let all = EventFilter {
        agent_id: None,
        task_type: None,
        outcome: None,
        has_audit_sample: None,
        from: i64::MIN,
        to: i64::MAX,
    };
    app.store.list_events(org, &all, None, 1_000_000).unwrap()
}

/// Asks every shape over each range and holds each answer to a sum over `events`; answers how
/// many groups it checked.
async fn check_every_shape(
    app: &TestApp,
    key: &str,
    events: &[EventRow],
    busiest: &str,
    ranges: &[String],
) -> usize {
    let shapes = [
        ("agent,task_type", String::new()),
        ("model,outcome", format!("&task_type={busiest}")),
        ("week,agent", "&tz=Asia/Kathmandu".to_owned()),
        ("client", "&agent_id=support-bot".to_owned()),
        ("agent,task_type,model,outcome,day", String::new()),
        ("day,task_type", "&tz=Asia/Kathmandu".to_owned()),
        (
            "day",
            "&tz=Asia/Kathmandu&agent_id=invoice-triage".to_owned(),
        ),
        ("metadata.team,outcome", String::new()),
        (
            "metadata.client,agent",
            "&task_type=ticket_routing".to_owned(),
        ),
        ("agent", String::new()),
        (
            "task_type",
            "&agent_id=support-bot&tz=Asia/Kathmandu".to_owned(),
        ),
    ];
    let mut checked = 0;
    for range in ranges {
        for (group_by, extra) in &shapes {
            let dims: Vec<&str> = group_by.split(',').collect();
            for (report, cost) in [("time-saved", false), ("cost-saved", true)] {
                let path = format!("/api/v1/reports/{report}?group_by={group_by}&{range}{extra}");
                let r = app.send(Method::GET, &path, Some(key), &[], None).await;
                assert_eq!(r.status, 200, "{path}: {}", r.text);
                assert_eq!(r.body["truncated"], Value::Bool(false), "{path}");
                let (a, b) = (
                    ms(r.body["from"].as_str().unwrap()),
                    ms(r.body["to"].as_str().unwrap()),
                );
                let want: BTreeMap<_, _> =
                    expected(events, &dims, a, b, &format!("{range}{extra}"))
                        .iter()
                        .map(|(k, s)| (k.clone(), figures(s, cost)))
                        .collect();
                assert!(!want.is_empty(), "{path}: the shape selects no event");
                let got = answered(&r.body, &dims);
                assert_eq!(got.len(), want.len(), "{path}: groups");
                for (k, w) in &want {
                    assert_eq!(got.get(k), Some(w), "{path}: group {k:?}");
                }
                checked += want.len();
            }
        }
        // The leaderboard: every agent ranked, each with its exact sums.
        let path = format!("/api/v1/reports/leaderboard?{range}&top=100");
        let r = app.send(Method::GET, &path, Some(key), &[], None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let (a, b) = (
            ms(r.body["from"].as_str().unwrap()),
            ms(r.body["to"].as_str().unwrap()),
        );
        let want = expected(events, &["agent"], a, b, range);
        let rows = r.body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), want.len(), "{path}");
        for row in rows {
            let s = want[&vec![Some(row["agent_id"].as_str().unwrap().to_owned())]];
            assert_eq!(row["events"].as_i64().unwrap(), s.events, "{path}");
            assert_eq!(
                dec(&row["hours_saved"]),
                Decimal::new(s.hours_milli, 3),
                "{path}"
            );
            assert_eq!(
                dec(&row["cost_saved"]),
                Decimal::from_i128_with_scale(s.cost_cents, 2),
                "{path}"
            );
            assert_eq!(
                dec(&row["net_saved"]),
                roi_engine::aggregate_net(s.cost_cents, s.agent_micros),
                "{path}"
            );
        }
    }
    checked
}
