//! Black-box tests of the read side (API.md §8): task types, agents, summary and reports,
//! against the real server on port 0.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::collections::BTreeMap;

use app::clock;
use common::TestApp;
use ratelimit::Plan;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use store::EventRow;

async fn get(app: &TestApp, key: &str, path: &str) -> common::Reply {
    app.send(Method::GET, path, Some(key), &[], None).await
}

async fn send_json(app: &TestApp, key: &str, m: Method, path: &str, body: Value) -> common::Reply {
    app.send(
        m,
        path,
        Some(key),
        &[("Content-Type", "application/json")],
        Some(serde_json::to_vec(&body).unwrap()),
    )
    .await
}

fn dec(v: &Value) -> Decimal {
    assert!(v.is_number() || v.is_null(), "not a number: {v}");
    if v.is_null() {
        return Decimal::ZERO;
    }
    v.to_string().parse().unwrap()
}

fn ms(s: &str) -> i64 {
    clock::unix_ms(
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap(),
    )
}

/// An event as the seed would store it, at a chosen instant.
fn event(org: &str, agent: &str, at: i64, hours_milli: i64, cost: Option<i64>) -> EventRow {
    EventRow {
        id: format!(
            "evt_{}",
            ulid::Ulid::from_parts(at as u64, rand_part(agent, at))
        ),
        org_id: org.into(),
        agent_id: agent.into(),
        task_type: "ticket_routing".into(),
        outcome: "success".into(),
        occurred_at: at,
        received_at: at,
        agent_duration_seconds: "0".into(),
        model: Some("m1".into()),
        tokens_in: None,
        tokens_out: None,
        baseline_minutes: "2".into(),
        baseline_source: "builtin".into(),
        hourly_rate: "45".into(),
        rate_source: "org".into(),
        currency: "EUR".into(),
        cost_source: if cost.is_some() { "provided" } else { "none" }.into(),
        price_input_usd_per_mtok: None,
        price_output_usd_per_mtok: None,
        fx_rate: None,
        hours_saved_milli: hours_milli,
        cost_saved_cents: hours_milli * 45 / 10,
        agent_cost_micros: cost,
        net_saved_cents: hours_milli * 45 / 10 - cost.unwrap_or(0) / 10_000,
        client: None,
        metadata: None,
        audit_sample: None,
        warnings: None,
    }
}

fn rand_part(agent: &str, at: i64) -> u128 {
    agent.bytes().fold(at as u128, |a, b| {
        a.wrapping_mul(31).wrapping_add(u128::from(b))
    })
}

/// A varied set of tracked events (through HTTP, so rollups come from the track path).
async fn track_mix(app: &TestApp, key: &str) {
    let now = clock::now();
    let bodies = [
        json!({"agent_id": "support-bot", "task_type": "email_classification", "outcome": "success", "agent_duration_seconds": 4, "metadata": {"client": "acme", "team": "ops"}}),
        json!({"agent_id": "support-bot", "task_type": "ticket_routing", "outcome": "needs_review", "agent_cost": 0.0123, "model": "openai/gpt-4o-mini"}),
        json!({"agent_id": "drafter", "task_type": "customer_email_draft", "outcome": "success", "agent_duration_seconds": 20, "metadata": {"client": "globex", "team": 7}}),
        json!({"agent_id": "drafter", "task_type": "customer_email_draft", "outcome": "failure", "agent_cost": 0.5}),
        json!({"agent_id": "=cmd", "task_type": "ticket_routing", "outcome": "success", "human_baseline_minutes": 35, "metadata": {"client": ""}}),
        json!({"agent_id": "drafter", "task_type": "email_classification", "outcome": "success",
               "occurred_at": clock::format_ms(now - time::Duration::days(3))}),
        json!({"agent_id": "support-bot", "task_type": "email_classification", "outcome": "success",
               "occurred_at": clock::format_ms(now - time::Duration::days(40)), "metadata": {"client": "acme"}}),
    ];
    for b in &bodies {
        let r = app.track(key, b, None).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

#[actix_web::test]
async fn summary_has_totals_by_outcome_and_a_daily_trend() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    track_mix(&app, &key).await;
    let r = get(&app, &key, "/api/v1/summary").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["period"], "30d");
    assert_eq!(b["tz"], "UTC");
    assert_eq!(b["currency"], "EUR");
    // The 40-day-old event is outside the default 30 days.
    assert_eq!(b["events"], 6);
    // email 4 s, ticket routing (2 min), email draft (8 min, 20 s), a failure, a 35-minute
    // baseline sent with the event, an email 3 days ago.
    let hours: Decimal = ["0.066", "0.033", "0.128", "0", "0.583", "0.067"]
        .iter()
        .map(|s| s.parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(dec(&b["hours_saved"]), hours, "{}", r.text);
    assert_eq!(dec(&b["agent_cost"]), "0.5123".parse().unwrap());
    assert_eq!(
        dec(&b["net_saved"]),
        dec(&b["by_outcome"]["success"]["net_saved"])
            + dec(&b["by_outcome"]["failure"]["net_saved"])
            + dec(&b["by_outcome"]["needs_review"]["net_saved"])
    );
    assert_eq!(b["by_outcome"]["failure"]["events"], 1);
    assert_eq!(b["by_outcome"]["failure"]["hours_saved"], 0);
    assert_eq!(
        dec(&b["by_outcome"]["failure"]["net_saved"]),
        "-0.5".parse().unwrap()
    );
    // fte = hours / 176 for 30 days, to 3 places.
    assert_eq!(
        dec(&b["fte_equivalent"]),
        roi_engine::round(hours / Decimal::from(176), 3)
    );
    let trend = b["trend"].as_array().unwrap();
    assert!(trend.len() == 31, "30 days from now-30d: {}", trend.len());
    let trend_events: i64 = trend.iter().map(|d| d["events"].as_i64().unwrap()).sum();
    assert_eq!(trend_events, 6);
    assert!(trend[0]["date"].as_str().unwrap().len() == 10);
    assert_eq!(
        trend[0]["agent_cost"],
        Value::Null,
        "no known cost that day"
    );
    // Money is exact JSON numbers.
    assert!(r.text.contains("\"agent_cost\":0.5123"), "{}", r.text);

    let all = get(&app, &key, "/v1/summary?period=all").await;
    assert_eq!(all.body["events"], 7);
    let one = get(&app, &key, "/api/v1/summary?agent_id=drafter&period=90d").await;
    assert_eq!(one.body["events"], 3);
    let tt = get(&app, &key, "/api/v1/summary?task_type=customer_email_draft").await;
    assert_eq!(tt.body["events"], 2);
    let both = get(
        &app,
        &key,
        "/api/v1/summary?task_type=email_classification&agent_id=drafter",
    )
    .await;
    assert_eq!(both.body["events"], 1);
    assert_eq!(
        get(&app, &key, "/api/v1/summary?period=24h").await.body["events"],
        5
    );
    assert_eq!(
        get(&app, &key, "/api/v1/summary?period=7d").await.body["trend"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
}

#[actix_web::test]
async fn bad_parameters_name_the_parameter() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    for (path, field) in [
        ("/api/v1/summary?period=2w", "period"),
        (
            "/api/v1/summary?period=7d&from=2026-01-01T00:00:00Z",
            "period",
        ),
        ("/api/v1/summary?from=yesterday", "from"),
        ("/api/v1/summary?to=2026-13-01T00:00:00Z", "to"),
        (
            "/api/v1/summary?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "from",
        ),
        ("/api/v1/summary?tz=Mars/Olympus", "tz"),
        ("/api/v1/summary?period=7d&period=30d", "period"),
        ("/api/v1/reports/time-saved?group_by=planet", "group_by"),
        (
            "/api/v1/reports/time-saved?group_by=agent,agent",
            "group_by",
        ),
        ("/api/v1/reports/time-saved?group_by=day,week", "group_by"),
        (
            "/api/v1/reports/time-saved?group_by=metadata.a.b",
            "group_by",
        ),
        ("/api/v1/reports/time-saved?group_by=metadata.", "group_by"),
        (
            "/api/v1/reports/time-saved?group_by=agent,task_type,model,outcome,client",
            "group_by",
        ),
        ("/api/v1/reports/time-saved?sort=fun", "sort"),
        ("/api/v1/reports/time-saved?top=0", "top"),
        ("/api/v1/reports/time-saved?top=-3", "top"),
        ("/api/v1/reports/time-saved?top=many", "top"),
        ("/api/v1/reports/time-saved?format=xml", "format"),
        ("/api/v1/reports/cost-saved?tz=nope", "tz"),
        ("/api/v1/reports/leaderboard?metric=vibes", "metric"),
        ("/api/v1/reports/leaderboard?top=0", "top"),
        ("/api/v1/reports/export?format=json", "format"),
        (
            "/api/v1/reports/time-saved?group_by=day&from=1900-01-01T00:00:00Z",
            "group_by",
        ),
    ] {
        if path.contains("1900") {
            // Needs an event in the far past to exceed the bucket cap.
            let (org, _) = (app.store.list_orgs().unwrap()[0].id.clone(), ());
            app.store
                .insert_event_batch(&[
                    event(&org, "a", ms("1950-01-01T00:00:00Z"), 1, None),
                    event(&org, "a", ms("2026-01-01T00:00:00Z"), 1, None),
                ])
                .unwrap();
        }
        let r = get(&app, &key, path).await;
        assert_eq!(r.status, 422, "{path}: {}", r.text);
        assert_eq!(r.code(), "validation_error", "{path}");
        assert_eq!(r.field(), Some(field), "{path}: {}", r.text);
    }
}

#[actix_web::test]
async fn pro_features_are_locked_on_the_free_plan() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    for path in [
        "/api/v1/reports/time-saved",
        "/api/v1/reports/cost-saved",
        "/api/v1/reports/leaderboard",
        "/api/v1/reports/export",
        "/v1/reports/time-saved?group_by=agent",
    ] {
        let r = get(&app, &key, path).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.code(), "feature_locked");
    }
    let writes = [
        (
            Method::POST,
            "/api/v1/task-types",
            json!({"key": "x_task", "display_name": "X", "default_baseline_minutes": 3}),
        ),
        (
            Method::POST,
            "/api/v1/task-types/ticket_routing/override",
            json!({"baseline_minutes_override": 3}),
        ),
        (
            Method::DELETE,
            "/api/v1/task-types/ticket_routing/override",
            json!({}),
        ),
        (Method::DELETE, "/api/v1/task-types/x_task", json!({})),
    ];
    for (m, path, body) in writes {
        let r = send_json(&app, &key, m, path, body).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        assert_eq!(r.code(), "feature_locked");
    }
    // Usage, summary, agents and the task-type list are for every plan.
    for path in [
        "/api/v1/reports/usage",
        "/api/v1/summary",
        "/api/v1/agents",
        "/api/v1/task-types",
    ] {
        assert_eq!(get(&app, &key, path).await.status, 200, "{path}");
    }
    // And every read route needs a key.
    let r = app
        .send(Method::GET, "/api/v1/summary", None, &[], None)
        .await;
    assert_eq!(r.code(), "missing_authorization");
}

#[actix_web::test]
async fn grouped_rows_sum_exactly_to_the_summary_by_any_dimension() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    track_mix(&app, &key).await;
    // Plus seeded history with agent costs, and a partial hour at each end of the period.
    let out = app.cli(&[
        "dev", "seed", "--org", &org, "--events", "3000", "--days", "60", "--agents", "6",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for scope in [
        "period=30d",
        "period=all",
        "period=24h",
        "period=ytd",
        "agent_id=support-bot",
        "task_type=ticket_routing",
        "agent_id=drafter&task_type=customer_email_draft",
        "period=90d&tz=Asia/Kathmandu",
    ] {
        let s = get(&app, &key, &format!("/api/v1/summary?{scope}")).await;
        assert_eq!(s.status, 200, "{}", s.text);
        for group_by in [
            "agent",
            "task_type",
            "model",
            "outcome",
            "client",
            "metadata.team",
            "day",
            "week",
            "month",
            "agent,model",
            "day,agent",
            "client,outcome,week",
            "",
        ] {
            for (report, cols) in [
                ("time-saved", &["events", "hours_saved", "cost_saved"][..]),
                (
                    "cost-saved",
                    &["events", "cost_saved", "agent_cost", "net_saved"][..],
                ),
            ] {
                let r = get(
                    &app,
                    &key,
                    &format!("/api/v1/reports/{report}?group_by={group_by}&{scope}"),
                )
                .await;
                assert_eq!(r.status, 200, "{}", r.text);
                let rows = r.body["rows"].as_array().unwrap();
                assert_eq!(r.body["row_count"].as_u64().unwrap() as usize, rows.len());
                for col in cols {
                    let sum: Decimal = rows.iter().map(|row| dec(&row[*col])).sum();
                    assert_eq!(dec(&r.body["totals"][*col]), dec(&s.body[*col]));
                    if *col != "net_saved" {
                        assert_eq!(sum, dec(&s.body[*col]), "{report} {group_by} {scope} {col}");
                        continue;
                    }
                    // Net adds up across, on every row and the totals: the exact saved − cost,
                    // rounded once. Down, its rows may differ from the total by the rounding
                    // of each row, at most half a cent each (docs/decisions.md).
                    for row in rows.iter().chain([&r.body["totals"]]) {
                        let across = dec(&row["cost_saved"]) - dec(&row["agent_cost"]);
                        let across = roi_engine::round(across, 2);
                        assert_eq!(
                            dec(&row["net_saved"]),
                            across,
                            "{report} {group_by} {scope}"
                        );
                    }
                    let off = (sum - dec(&s.body["net_saved"])).abs();
                    assert!(
                        off * Decimal::from(200) <= Decimal::from(rows.len()),
                        "{off}"
                    );
                }
            }
        }
        // The trend sums to the totals too.
        let trend: Decimal = s.body["trend"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| dec(&d["cost_saved"]))
            .sum();
        assert_eq!(trend, dec(&s.body["cost_saved"]), "{scope}");
    }
    // Rollup and event scans agree group by group: agent (rollup) vs agent,outcome (scan).
    let a = get(
        &app,
        &key,
        "/api/v1/reports/time-saved?group_by=agent&period=90d",
    )
    .await;
    let b = get(
        &app,
        &key,
        "/api/v1/reports/time-saved?group_by=agent,outcome&period=90d",
    )
    .await;
    let mut from_scan: BTreeMap<String, Decimal> = BTreeMap::new();
    for row in b.body["rows"].as_array().unwrap() {
        *from_scan
            .entry(row["agent"].as_str().unwrap().into())
            .or_default() += dec(&row["hours_saved"]);
    }
    let from_rollup: BTreeMap<String, Decimal> = a.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["agent"].as_str().unwrap().to_owned(),
                dec(&row["hours_saved"]),
            )
        })
        .collect();
    assert_eq!(from_rollup, from_scan);
}

#[actix_web::test]
async fn time_saved_rows_sort_cut_and_name_their_groups() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Enterprise);
    track_mix(&app, &key).await;
    let r = get(&app, &key, "/api/v1/reports/time-saved?group_by=agent").await;
    let rows = r.body["rows"].as_array().unwrap();
    let agents: Vec<&str> = rows.iter().map(|r| r["agent"].as_str().unwrap()).collect();
    assert_eq!(
        agents,
        ["=cmd", "drafter", "support-bot"],
        "hours_saved desc"
    );
    assert_eq!(r.body["sort"], "hours_saved");
    assert_eq!(r.body["group_by"], json!(["agent"]));
    assert_eq!(
        rows[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["agent", "events", "hours_saved", "cost_saved"]
    );
    let e = get(
        &app,
        &key,
        "/api/v1/reports/time-saved?group_by=agent&sort=events&top=1",
    )
    .await;
    assert_eq!(e.body["rows"].as_array().unwrap().len(), 1);
    assert_eq!(e.body["row_count"], 3);
    assert_eq!(
        e.body["rows"][0]["agent"], "drafter",
        "3 events, ties by name"
    );
    let c = get(&app, &key, "/api/v1/reports/time-saved?group_by=client").await;
    let clients: Vec<Value> = c.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["client"].clone())
        .collect();
    assert!(
        clients.contains(&Value::Null),
        "no client (and the empty one) is null"
    );
    assert!(clients.contains(&json!("acme")));
    let m = get(
        &app,
        &key,
        "/api/v1/reports/time-saved?group_by=metadata.team",
    )
    .await;
    let teams: Vec<Value> = m.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metadata.team"].clone())
        .collect();
    assert!(
        teams.contains(&json!("ops")) && teams.contains(&json!("7")),
        "{teams:?}"
    );
    let d = get(
        &app,
        &key,
        "/api/v1/reports/time-saved?group_by=day,agent&period=90d",
    )
    .await;
    let days: Vec<&str> = d.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["day"].as_str().unwrap())
        .collect();
    let mut sorted = days.clone();
    sorted.sort();
    assert_eq!(
        days, sorted,
        "time buckets come in order when no sort is given"
    );
    assert_eq!(d.body["sort"], "time");
    let w = get(
        &app,
        &key,
        "/api/v1/reports/time-saved?group_by=week,agent&period=90d",
    )
    .await;
    let monday = w.body["rows"][0]["week"].as_str().unwrap();
    let date = time::Date::parse(
        monday,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    assert_eq!(date.weekday(), time::Weekday::Monday);
    let mo = get(&app, &key, "/api/v1/reports/time-saved?group_by=month").await;
    assert_eq!(mo.body["rows"][0]["month"].as_str().unwrap().len(), 7);
    let cs = get(
        &app,
        &key,
        "/api/v1/reports/cost-saved?group_by=agent&sort=net_saved",
    )
    .await;
    assert_eq!(
        cs.body["rows"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [
            "agent",
            "events",
            "cost_saved",
            "agent_cost",
            "net_saved",
            "events_without_cost"
        ]
    );
    let nets: Vec<Decimal> = cs.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| dec(&r["net_saved"]))
        .collect();
    assert!(nets.windows(2).all(|w| w[0] >= w[1]), "{nets:?}");
}

#[actix_web::test]
async fn csv_and_export_answers() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    track_mix(&app, &key).await;
    let r = get(
        &app,
        &key,
        "/api/v1/reports/time-saved?group_by=agent&format=csv",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines[0], "agent,events,hours_saved,cost_saved,currency");
    assert_eq!(
        lines[1], "'=cmd,1,0.583,26.24,EUR",
        "formula-like text is defused"
    );
    assert_eq!(lines.len(), 4);
    let c = get(
        &app,
        &key,
        "/api/v1/reports/cost-saved?group_by=outcome&format=csv&sort=net_saved",
    )
    .await;
    let lines: Vec<&str> = c.text.lines().collect();
    assert_eq!(
        lines[0],
        "outcome,events,cost_saved,agent_cost,net_saved,events_without_cost,currency"
    );
    assert_eq!(
        *lines.last().unwrap(),
        "failure,1,0,0.5,-0.5,0,EUR",
        "negative numbers stay numbers"
    );
    let e = get(&app, &key, "/v1/reports/export?period=90d").await;
    assert_eq!(e.status, 200);
    let cd = e.header("content-disposition").unwrap();
    assert!(
        cd.starts_with("attachment; filename=\"humanhours-export-") && cd.ends_with(".csv\""),
        "{cd}"
    );
    let lines: Vec<&str> = e.text.lines().collect();
    assert_eq!(
        lines[0],
        "day,agent,task_type,events,hours_saved,cost_saved,currency"
    );
    // 7 events; the success and the failure of the drafter share a row.
    assert_eq!(lines.len(), 1 + 6, "{}", e.text);
    let g = get(
        &app,
        &key,
        "/api/v1/reports/export?group_by=agent&period=all",
    )
    .await;
    assert_eq!(g.text.lines().count(), 4);
}

#[actix_web::test]
async fn day_buckets_follow_the_time_zone_across_dst_and_half_hour_offsets() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    // Berlin: clocks go back at 03:00 CEST on 2026-10-25, so that day is 25 hours long.
    let evs = [
        ("2026-10-24T21:59:59.999Z", 1),  // 23:59 CEST, Oct 24
        ("2026-10-24T22:00:00Z", 10),     // 00:00 CEST, Oct 25
        ("2026-10-25T00:30:00Z", 100),    // 02:30 CEST
        ("2026-10-25T01:30:00Z", 1000),   // 02:30 CET (the repeated hour)
        ("2026-10-25T22:59:00Z", 10000),  // 23:59 CET, still Oct 25
        ("2026-10-25T23:00:00Z", 100000), // 00:00 CET, Oct 26
    ];
    let rows: Vec<EventRow> = evs
        .iter()
        .map(|(t, h)| event(&org, "a", ms(t), *h, None))
        .collect();
    app.store.insert_event_batch(&rows).unwrap();
    let range = "from=2026-10-24T00:00:00Z&to=2026-10-27T00:00:00Z";
    let hours = |v: &Value| -> Vec<(String, i64)> {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["day"].as_str().unwrap().to_owned(),
                    (dec(&r["hours_saved"]) * Decimal::from(1000))
                        .try_into()
                        .unwrap(),
                )
            })
            .collect()
    };
    let berlin = get(
        &app,
        &key,
        &format!("/api/v1/reports/time-saved?group_by=day&tz=Europe/Berlin&{range}"),
    )
    .await;
    assert_eq!(berlin.status, 200, "{}", berlin.text);
    assert_eq!(berlin.body["tz"], "Europe/Berlin");
    assert_eq!(
        hours(&berlin.body),
        [
            ("2026-10-24".into(), 1),
            ("2026-10-25".into(), 11110),
            ("2026-10-26".into(), 100000)
        ]
    );
    // The same through an event scan (two dimensions) gives the same days.
    let scan = get(
        &app,
        &key,
        &format!("/api/v1/reports/time-saved?group_by=day,model&tz=Europe/Berlin&{range}"),
    )
    .await;
    assert_eq!(hours(&scan.body), hours(&berlin.body));
    let utc = get(
        &app,
        &key,
        &format!("/api/v1/reports/time-saved?group_by=day&{range}"),
    )
    .await;
    assert_eq!(
        hours(&utc.body),
        [("2026-10-24".into(), 11), ("2026-10-25".into(), 111100)]
    );
    // The summary's trend uses the zone too, and fills empty days.
    let s = get(
        &app,
        &key,
        &format!("/api/v1/summary?tz=Europe/Berlin&{range}"),
    )
    .await;
    let trend: Vec<(String, i64)> = s.body["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["events"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        trend,
        [
            ("2026-10-24".into(), 1),
            ("2026-10-25".into(), 4),
            ("2026-10-26".into(), 1),
            ("2026-10-27".into(), 0)
        ]
    );
    assert_eq!(s.body["period"], "custom");
    assert_eq!(s.body["from"], "2026-10-24T00:00:00.000Z");

    // Kolkata (+05:30): a day starts at 18:30 UTC, inside an hour of the rollups.
    let (org2, key2) = app.org(Plan::Pro);
    let evs = [
        ("2026-11-01T18:00:00Z", 1),
        ("2026-11-01T18:29:59Z", 10),
        ("2026-11-01T18:30:00Z", 100),
        ("2026-11-01T19:10:00Z", 1000),
    ];
    let rows: Vec<EventRow> = evs
        .iter()
        .map(|(t, h)| event(&org2, "a", ms(t), *h, None))
        .collect();
    app.store.insert_event_batch(&rows).unwrap();
    let k = get(&app, &key2, "/api/v1/reports/time-saved?group_by=day&tz=Asia/Kolkata&from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z").await;
    assert_eq!(
        hours(&k.body),
        [("2026-11-01".into(), 11), ("2026-11-02".into(), 1100)]
    );
}

#[actix_web::test]
async fn leaderboard_ranks_agents_with_ties() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let now = clock::unix_ms(clock::now());
    let rows = vec![
        event(&org, "a", now - 1000, 500, Some(10_000)),
        event(&org, "b", now - 2000, 500, None),
        event(&org, "c", now - 3000, 900, None),
        event(&org, "c", now - 4000, 1, None),
        event(&org, "old", now - 40 * 86_400_000, 99_999, None),
    ];
    app.store.insert_event_batch(&rows).unwrap();
    let r = get(&app, &key, "/api/v1/reports/leaderboard").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["metric"], "hours_saved");
    let ranks: Vec<(i64, &str)> = r.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["rank"].as_i64().unwrap(), x["agent_id"].as_str().unwrap()))
        .collect();
    assert_eq!(ranks, [(1, "c"), (2, "a"), (2, "b")]);
    assert_eq!(r.body["rows"][1]["agent_cost"], json!(0.01));
    assert_eq!(r.body["rows"][2]["agent_cost"], Value::Null);
    let e = get(
        &app,
        &key,
        "/api/v1/reports/leaderboard?metric=events&top=1&period=90d",
    )
    .await;
    assert_eq!(e.body["rows"].as_array().unwrap().len(), 1);
    assert_eq!(e.body["rows"][0]["agent_id"], "c");
}

#[actix_web::test]
async fn usage_shows_the_month_and_the_plan() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    let r = app.track(&key, &common::seed_body(), None).await;
    assert_eq!(r.status, 201);
    let u = get(&app, &key, "/api/v1/reports/usage").await;
    assert_eq!(u.status, 200, "{}", u.text);
    let b = &u.body;
    assert_eq!(b["plan"], "free");
    assert_eq!(b["currency"], "EUR");
    assert_eq!(b["events_this_month"], 1);
    assert_eq!(b["events_included"], 500);
    assert_eq!(b["event_cap"], 500);
    assert_eq!(b["overage_events"], 0);
    assert_eq!(b["rate_limit_per_second"], 100_000);
    assert_eq!(b["month"], clock::month(clock::now()));
    assert!(b["period_start"]
        .as_str()
        .unwrap()
        .ends_with("-01T00:00:00.000Z"));
    assert!(b["period_end"]
        .as_str()
        .unwrap()
        .ends_with("-01T00:00:00.000Z"));
    let (_, ent) = app.org(Plan::Enterprise);
    let e = get(&app, &ent, "/v1/reports/usage").await;
    assert_eq!(e.body["events_included"], Value::Null);
    assert_eq!(e.body["event_cap"], Value::Null);
}

#[actix_web::test]
async fn agents_list_rates_and_thirty_days() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Free);
    track_mix(&app, &key).await;
    let r = get(&app, &key, "/api/v1/agents").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let agents = r.body["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 3);
    let bot = agents
        .iter()
        .find(|a| a["agent_id"] == "support-bot")
        .unwrap();
    assert_eq!(bot["hourly_rate"], Value::Null);
    assert_eq!(bot["effective_hourly_rate"], 45);
    assert_eq!(bot["rate_source"], "org");
    assert_eq!(
        bot["last_30_days"]["events"], 2,
        "the 40-day-old one is out"
    );
    assert_eq!(bot["last_30_days"]["agent_cost"], json!(0.0123));
    assert!(bot["first_seen_at"].as_str().unwrap().ends_with('Z'));

    let p = send_json(
        &app,
        &key,
        Method::PUT,
        "/api/v1/agents/support-bot",
        json!({"hourly_rate": 60.5}),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["hourly_rate"], json!(60.5));
    assert_eq!(p.body["rate_source"], "agent");
    assert_eq!(p.body["last_30_days"]["events"], 2);
    // Stored events keep their rate; new ones use the new one.
    let before = get(
        &app,
        &key,
        "/api/v1/summary?agent_id=support-bot&period=90d",
    )
    .await;
    let t = app.track(&key, &common::seed_body(), None).await;
    assert_eq!(t.body["resolved_hourly_rate"], json!(60.5));
    assert_eq!(t.body["cost_saved"], json!(3.99));
    let after = get(
        &app,
        &key,
        "/api/v1/summary?agent_id=support-bot&period=90d",
    )
    .await;
    assert_eq!(
        dec(&after.body["cost_saved"]) - dec(&before.body["cost_saved"]),
        "3.99".parse().unwrap()
    );

    let n = send_json(
        &app,
        &key,
        Method::PUT,
        "/v1/agents/new-agent",
        json!({"hourly_rate": 10}),
    )
    .await;
    assert_eq!(n.status, 200);
    assert_eq!(n.body["last_30_days"]["events"], 0);
    let c = send_json(
        &app,
        &key,
        Method::PUT,
        "/api/v1/agents/new-agent",
        json!({"hourly_rate": null}),
    )
    .await;
    assert_eq!(c.body["hourly_rate"], Value::Null);
    assert_eq!(
        get(&app, &key, "/api/v1/agents").await.body["agents"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    for body in [
        json!({}),
        json!({"hourly_rate": -1}),
        json!({"hourly_rate": "45"}),
        json!({"hourly_rate": 2000000}),
    ] {
        let r = send_json(&app, &key, Method::PUT, "/api/v1/agents/x", body.clone()).await;
        assert_eq!(r.status, 422, "{body}");
        assert_eq!(r.field(), Some("hourly_rate"));
    }
    let _ = org;
}

#[actix_web::test]
async fn task_types_custom_types_and_overrides() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let r = get(&app, &key, "/api/v1/task-types").await;
    assert_eq!(r.status, 200);
    let all = r.body["task_types"].as_array().unwrap();
    assert_eq!(all.len(), catalogue::Catalogue::builtin().len());
    let ec = all
        .iter()
        .find(|t| t["key"] == "email_classification")
        .unwrap();
    assert_eq!(ec["kind"], "builtin");
    assert_eq!(ec["default_baseline_minutes"], 4);
    assert_eq!(ec["effective_baseline_minutes"], 4);
    assert_eq!(ec["effective_baseline_source"], "builtin");
    assert_eq!(ec["override"], Value::Null);
    assert!(ec["baseline_source"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let cat = ec["category"].as_str().unwrap().to_owned();
    let only = get(&app, &key, &format!("/api/v1/task-types?category={cat}")).await;
    assert!(only.body["task_types"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["category"] == cat.as_str()));
    assert_eq!(
        get(&app, &key, "/api/v1/task-types?category=nothing_here")
            .await
            .body["task_types"],
        json!([])
    );

    // Override a built-in: shown beside the original; new events use it, stored ones keep theirs.
    let first = app.track(&key, &common::seed_body(), None).await;
    let o = send_json(
        &app,
        &key,
        Method::POST,
        "/api/v1/task-types/email_classification/override",
        json!({"baseline_minutes_override": 6, "reason": "our emails are long"}),
    )
    .await;
    assert_eq!(o.status, 200, "{}", o.text);
    assert_eq!(o.body["default_baseline_minutes"], 4);
    assert_eq!(o.body["override"]["baseline_minutes"], 6);
    assert_eq!(o.body["override"]["reason"], "our emails are long");
    assert_eq!(o.body["effective_baseline_source"], "override");
    let second = app.track(&key, &common::seed_body(), None).await;
    assert_eq!(second.body["resolved_baseline_minutes"], 6);
    let stored = app
        .store
        .get_event(&org, first.body["event_id"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.baseline_minutes, "4");
    let listed = get(&app, &key, "/api/v1/task-types").await;
    let ec = listed.body["task_types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "email_classification")
        .unwrap()
        .clone();
    assert_eq!(ec["effective_baseline_minutes"], 6);
    for (body, field) in [
        (json!({}), "baseline_minutes_override"),
        (
            json!({"baseline_minutes_override": 0}),
            "baseline_minutes_override",
        ),
        (
            json!({"baseline_minutes_override": "6"}),
            "baseline_minutes_override",
        ),
        (
            json!({"baseline_minutes_override": 6, "reason": 7}),
            "reason",
        ),
    ] {
        let r = send_json(
            &app,
            &key,
            Method::POST,
            "/api/v1/task-types/email_classification/override",
            body,
        )
        .await;
        assert_eq!((r.status, r.field()), (422, Some(field)), "{}", r.text);
    }
    let unknown = send_json(
        &app,
        &key,
        Method::POST,
        "/api/v1/task-types/no_such_type/override",
        json!({"baseline_minutes_override": 6}),
    )
    .await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let d = app
        .send(
            Method::DELETE,
            "/api/v1/task-types/email_classification/override",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["override"], Value::Null);
    assert_eq!(d.body["effective_baseline_minutes"], 4);
    let d404 = app
        .send(
            Method::DELETE,
            "/api/v1/task-types/no_such_type/override",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(d404.status, 404);

    // Custom types.
    let body = json!({"key": "invoice_triage", "display_name": "Invoice triage", "category": "finance", "default_baseline_minutes": 7.5, "baseline_source": "timed by our AP team"});
    let c = send_json(&app, &key, Method::POST, "/api/v1/task-types", body.clone()).await;
    assert_eq!(c.status, 201, "{}", c.text);
    assert_eq!(c.body["kind"], "custom");
    assert_eq!(c.body["default_baseline_minutes"], json!(7.5));
    assert_eq!(c.body["baseline_source"], "timed by our AP team");
    let dup = send_json(&app, &key, Method::POST, "/api/v1/task-types", body).await;
    assert_eq!((dup.status, dup.field()), (422, Some("key")));
    for (body, field) in [
        (
            json!({"key": "email_classification", "display_name": "x", "default_baseline_minutes": 1}),
            "key",
        ),
        (
            json!({"key": "Bad-Key", "display_name": "x", "default_baseline_minutes": 1}),
            "key",
        ),
        (
            json!({"display_name": "x", "default_baseline_minutes": 1}),
            "key",
        ),
        (
            json!({"key": "ok_key", "default_baseline_minutes": 1}),
            "display_name",
        ),
        (
            json!({"key": "ok_key", "display_name": "x"}),
            "default_baseline_minutes",
        ),
        (
            json!({"key": "ok_key", "display_name": "x", "default_baseline_minutes": 20000}),
            "default_baseline_minutes",
        ),
        (
            json!({"key": "ok_key", "display_name": "x", "default_baseline_minutes": 1, "category": "Not Snake"}),
            "category",
        ),
    ] {
        let r = send_json(&app, &key, Method::POST, "/api/v1/task-types", body.clone()).await;
        assert_eq!(
            (r.status, r.field()),
            (422, Some(field)),
            "{body}: {}",
            r.text
        );
    }
    let t = app
        .track(
            &key,
            &json!({"agent_id": "a", "task_type": "invoice_triage", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(t.body["resolved_baseline_source"], "custom");
    assert_eq!(t.body["hours_saved"], json!(0.125));
    let fin = get(&app, &key, "/api/v1/task-types?category=finance").await;
    assert!(fin.body["task_types"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "invoice_triage"));
    let ov = send_json(
        &app,
        &key,
        Method::POST,
        "/api/v1/task-types/invoice_triage/override",
        json!({"baseline_minutes_override": 6}),
    )
    .await;
    assert_eq!((ov.status, ov.field()), (422, Some("key")));

    // Archive: gone from the list and from new events; built-ins cannot be archived.
    let a = app
        .send(
            Method::DELETE,
            "/api/v1/task-types/invoice_triage",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.body["archived_at"].is_string());
    assert!(
        !get(&app, &key, "/api/v1/task-types").await.body["task_types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "invoice_triage")
    );
    let t = app
        .track(
            &key,
            &json!({"agent_id": "a", "task_type": "invoice_triage", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(t.code(), "unknown_task_type");
    let b = app
        .send(
            Method::DELETE,
            "/api/v1/task-types/email_classification",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!((b.status, b.field()), (422, Some("key")));
    let u = app
        .send(
            Method::DELETE,
            "/v1/task-types/never_made",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!((u.status, u.code()), (404, "not_found"));
    // Creating it again brings it back with the new values.
    let again = send_json(&app, &key, Method::POST, "/api/v1/task-types", json!({"key": "invoice_triage", "display_name": "Invoice triage v2", "default_baseline_minutes": 9})).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["category"], "custom");
}

#[actix_web::test]
async fn dev_seed_writes_events_and_rollups() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let out = app.cli(&[
        "dev", "seed", "--org", &org, "--events", "2500", "--days", "10", "--agents", "4",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.store.count_events(&org).unwrap(), 2500);
    let s = get(&app, &key, "/api/v1/summary?period=all").await;
    assert_eq!(s.body["events"], 2500);
    let a = get(&app, &key, "/api/v1/agents").await;
    assert_eq!(a.body["agents"].as_array().unwrap().len(), 4);
    // Seeded events are not billed.
    assert_eq!(
        get(&app, &key, "/api/v1/reports/usage").await.body["events_this_month"],
        0
    );
    let bad = app.cli(&["dev", "seed", "--org", "nobody", "--events", "1"]);
    assert!(!bad.status.success());
}

/// API.md §8, last paragraph: an aggregate's net is saved − cost from the exact values, so it
/// adds up across on every row and total even when runs cost fractions of a cent (summed from
/// the events' rounded nets, these totals came out 4 cents too high), and aggregates say how
/// many of their events have no known cost.
#[actix_web::test]
async fn tiny_costs_add_up_across_and_events_without_cost_are_counted() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    // Each event saves 0.1 h at 45 = 4.50; agent a's runs cost 0.004, b's 0.000123, c's are
    // unknown.
    let item = |agent: &str, cost: Option<&str>| {
        let mut e = json!({
            "agent_id": agent,
            "task_type": "email_classification",
            "outcome": "success",
            "human_baseline_minutes": 6,
            "agent_duration_seconds": 0,
        });
        if let Some(c) = cost {
            e["agent_cost"] = serde_json::from_str(c).unwrap();
        }
        e
    };
    for (agent, cost, n) in [
        ("a", Some("0.004"), 10),
        ("b", Some("0.000123"), 10),
        ("c", None, 5),
    ] {
        for _ in 0..n {
            assert_eq!(app.track(&key, &item(agent, cost), None).await.status, 201);
        }
    }
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let s = get(&app, &key, "/api/v1/summary").await.body;
    assert_eq!(dec(&s["cost_saved"]), d("112.5"));
    assert_eq!(dec(&s["agent_cost"]), d("0.04123"));
    assert_eq!(
        dec(&s["net_saved"]),
        d("112.46"),
        "not the 112.50 of rounded nets"
    );
    assert_eq!(s["events_without_cost"], 5);
    assert_eq!(s["by_outcome"]["success"]["events_without_cost"], 5);
    let r = get(&app, &key, "/api/v1/reports/cost-saved?group_by=agent").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rows = r.body["rows"].as_array().unwrap();
    let by_agent = |a: &str| rows.iter().find(|r| r["agent"] == a).unwrap().clone();
    assert_eq!(dec(&by_agent("a")["net_saved"]), d("44.96"));
    assert_eq!(dec(&by_agent("b")["net_saved"]), d("45"));
    assert_eq!(dec(&by_agent("c")["net_saved"]), d("22.5"));
    assert_eq!(by_agent("c")["agent_cost"], Value::Null);
    let without: Vec<i64> = ["a", "b", "c"]
        .iter()
        .map(|a| by_agent(a)["events_without_cost"].as_i64().unwrap())
        .collect();
    assert_eq!(without, [0, 0, 5]);
    assert_eq!(r.body["totals"]["events_without_cost"], 5);
    // Across, on every row and the totals: saved − cost, rounded once, is the net shown.
    for row in rows.iter().chain([&r.body["totals"]]) {
        let across = roi_engine::round(dec(&row["cost_saved"]) - dec(&row["agent_cost"]), 2);
        assert_eq!(dec(&row["net_saved"]), across, "{row}");
    }
    let lb = get(&app, &key, "/api/v1/reports/leaderboard?metric=net_saved").await;
    assert_eq!(lb.body["rows"][0]["agent_id"], "b", "{}", lb.text);
    assert_eq!(lb.body["rows"][2]["events_without_cost"], 5, "{}", lb.text);
    let csv = get(
        &app,
        &key,
        "/api/v1/reports/cost-saved?group_by=agent&format=csv",
    )
    .await;
    let mut lines = csv.text.lines();
    assert_eq!(
        lines.next(),
        Some("agent,events,cost_saved,agent_cost,net_saved,events_without_cost,currency")
    );
    assert!(
        csv.text.lines().any(|l| l == "c,5,22.5,,22.5,5,EUR"),
        "{}",
        csv.text
    );
}
