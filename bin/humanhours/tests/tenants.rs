//! Tenant isolation: two pro orgs with the same agent ids, their own custom types, overrides and
//! rates, and events in both. Every read with A's key shows exactly A's data, and every write
//! through A leaves B's valuations as they were.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::collections::BTreeSet;

use common::{Reply, TestApp};
use ratelimit::Plan;
use serde_json::{json, Value};

struct Org {
    id: String,
    key: String,
}

async fn call(
    app: &TestApp,
    org: &Org,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let headers = [("Content-Type", "application/json")];
    app.send(
        method,
        path,
        Some(&org.key),
        &headers,
        body.map(|b| serde_json::to_vec(&b).unwrap()),
    )
    .await
}

async fn get(app: &TestApp, org: &Org, path: &str) -> Reply {
    let r = call(app, org, reqwest::Method::GET, path, None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r
}

fn event(agent: &str, task_type: &str, client: &str) -> Value {
    json!({
        "agent_id": agent,
        "task_type": task_type,
        "outcome": "success",
        "agent_duration_seconds": 6,
        "metadata": {"client": client, "team": client},
        "model": format!("model-{client}"),
    })
}

/// Sets up one org: a custom type, an override, an agent rate, events. Returns the events'
/// answers.
async fn populate(
    app: &TestApp,
    org: &Org,
    custom_minutes: u32,
    override_minutes: u32,
    rate: u32,
    only_agent: &str,
    client: &str,
) -> Vec<Value> {
    let r = call(
        app,
        org,
        reqwest::Method::POST,
        "/api/v1/task-types",
        Some(json!({"key": "contract_review", "display_name": format!("Review {client}"), "default_baseline_minutes": custom_minutes})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = call(
        app,
        org,
        reqwest::Method::POST,
        "/api/v1/task-types/ticket_routing/override",
        Some(json!({"baseline_minutes_override": override_minutes, "reason": client})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = call(
        app,
        org,
        reqwest::Method::PUT,
        "/api/v1/agents/shared-bot",
        Some(json!({ "hourly_rate": rate })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut out = Vec::new();
    for (agent, tt) in [
        ("shared-bot", "email_classification"),
        ("shared-bot", "contract_review"),
        ("shared-bot", "ticket_routing"),
        (only_agent, "email_classification"),
    ] {
        let r = app.track(&org.key, &event(agent, tt, client), None).await;
        assert_eq!(r.status, 201, "{}", r.text);
        out.push(r.body);
    }
    out
}

fn sum(events: &[Value], field: &str) -> i64 {
    events
        .iter()
        .map(|e| (e[field].as_f64().unwrap() * 1000.0).round() as i64)
        .sum()
}

fn milli(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 1000.0).round() as i64
}

/// Everything A's key can read, checked against what A alone wrote.
async fn assert_sees_only_itself(
    app: &TestApp,
    org: &Org,
    own: &[Value],
    own_agent: &str,
    other_agent: &str,
    client: &str,
    other_client: &str,
) {
    // Summary totals: exactly the org's own events.
    let s = get(app, org, "/api/v1/summary").await;
    assert_eq!(s.body["events"].as_u64().unwrap(), own.len() as u64);
    assert_eq!(milli(&s.body["hours_saved"]), sum(own, "hours_saved"));
    assert_eq!(milli(&s.body["cost_saved"]), sum(own, "cost_saved"));
    // Agents: its own, with its own rate.
    let a = get(app, org, "/api/v1/agents").await;
    let ids: BTreeSet<&str> = a.body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["shared-bot", own_agent]));
    let bot = a.body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["agent_id"] == "shared-bot")
        .unwrap();
    assert_eq!(bot["last_30_days"]["events"], 4);
    assert_eq!(
        bot["hourly_rate"], own[0]["resolved_hourly_rate"],
        "its own rate for the shared agent id"
    );
    // Task types: its own custom type and override.
    let t = get(app, org, "/api/v1/task-types").await;
    let types = t.body["task_types"].as_array().unwrap();
    let custom: Vec<&Value> = types.iter().filter(|x| x["kind"] == "custom").collect();
    assert_eq!(custom.len(), 1);
    assert_eq!(custom[0]["display_name"], json!(format!("Review {client}")));
    assert_eq!(
        custom[0]["default_baseline_minutes"],
        own[1]["resolved_baseline_minutes"]
    );
    let routing = types.iter().find(|x| x["key"] == "ticket_routing").unwrap();
    assert_eq!(routing["override"]["reason"], json!(client));
    assert_eq!(
        routing["override"]["baseline_minutes"],
        own[2]["resolved_baseline_minutes"]
    );
    // Reports of every kind: no row, total or cell of the other org.
    for path in [
        "/api/v1/reports/time-saved?group_by=agent,task_type,model,client",
        "/api/v1/reports/time-saved?group_by=metadata.team,agent",
        "/api/v1/reports/cost-saved?group_by=agent,client",
        "/api/v1/reports/leaderboard",
        "/api/v1/reports/time-saved?group_by=day,agent&period=all",
        "/api/v1/reports/time-saved?format=csv&group_by=agent,client",
        "/api/v1/reports/export",
        "/api/v1/reports/usage",
        "/api/v1/summary?period=all",
    ] {
        let r = get(app, org, path).await;
        for foreign in [other_agent, other_client] {
            assert!(
                !r.text.contains(foreign),
                "{path} shows {foreign}: {}",
                r.text
            );
        }
        if let Some(totals) = r.body.get("totals") {
            assert_eq!(
                totals["events"].as_u64().unwrap(),
                own.len() as u64,
                "{path}"
            );
        }
        if path.contains("leaderboard") {
            let events: u64 = r.body["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["events"].as_u64().unwrap())
                .sum();
            assert_eq!(events, own.len() as u64);
        }
        if path.contains("usage") {
            assert_eq!(
                r.body["events_this_month"].as_u64().unwrap(),
                own.len() as u64
            );
        }
    }
    // Filtering by the other org's agent finds nothing.
    let r = get(app, org, &format!("/api/v1/summary?agent_id={other_agent}")).await;
    assert_eq!(r.body["events"], 0);
}

#[actix_web::test]
async fn each_org_sees_and_changes_only_its_own_data() {
    let app = TestApp::spawn().await;
    let (a_id, a_key) = app.org(Plan::Pro);
    let (b_id, b_key) = app.org(Plan::Pro);
    let a = Org {
        id: a_id,
        key: a_key,
    };
    let b = Org {
        id: b_id,
        key: b_key,
    };
    let mut a_events = populate(&app, &a, 30, 5, 60, "a-only-agent", "a-client").await;
    let mut b_events = populate(&app, &b, 90, 50, 100, "b-only-agent", "b-client").await;
    assert_eq!(a_events[1]["resolved_baseline_minutes"], 30);
    assert_eq!(b_events[1]["resolved_baseline_minutes"], 90);
    assert_eq!(a_events[2]["resolved_baseline_source"], "override");

    // The same Idempotency-Key in both orgs makes two events (keys are per org).
    let keyed = |client: &str| event("shared-bot", "email_classification", client);
    let ra = app
        .track(&a.key, &keyed("a-client"), Some("same-key"))
        .await;
    let rb = app
        .track(&b.key, &keyed("b-client"), Some("same-key"))
        .await;
    assert_eq!(
        (ra.status, rb.status),
        (201, 201),
        "{} {}",
        ra.text,
        rb.text
    );
    assert_ne!(ra.body["event_id"], rb.body["event_id"]);
    // A different body under that key is a mismatch in A only; B replays its own.
    let mut other = keyed("a-client");
    other["agent_duration_seconds"] = json!(99);
    assert_eq!(
        app.track(&a.key, &other, Some("same-key")).await.code(),
        "idempotency_key_reused"
    );
    let replay = app
        .track(&b.key, &keyed("b-client"), Some("same-key"))
        .await;
    assert_eq!(
        (replay.status, &replay.body["event_id"]),
        (200, &rb.body["event_id"])
    );
    a_events.push(ra.body.clone());
    b_events.push(rb.body.clone());

    assert_sees_only_itself(
        &app,
        &a,
        &a_events,
        "a-only-agent",
        "b-only-agent",
        "a-client",
        "b-client",
    )
    .await;
    assert_sees_only_itself(
        &app,
        &b,
        &b_events,
        "b-only-agent",
        "a-only-agent",
        "b-client",
        "a-client",
    )
    .await;
    assert_eq!(app.store.count_events(&a.id).unwrap(), 5);
    assert_eq!(app.store.count_events(&b.id).unwrap(), 5);

    // Writes through A: a new override, a new rate for the shared agent id, the custom type
    // archived, then the override removed.
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/api/v1/task-types/ticket_routing/override",
            Some(json!({"baseline_minutes_override": 1})),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/task-types/email_classification/override",
            Some(json!({"baseline_minutes_override": 2})),
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/agents/shared-bot",
            Some(json!({"hourly_rate": 1})),
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/task-types/contract_review",
            None,
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/task-types/ticket_routing/override",
            None,
        ),
    ] {
        let r = call(&app, &a, method, path, body).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    // B values exactly as before: its custom type, its override, its agent rate.
    for (i, tt) in ["email_classification", "contract_review", "ticket_routing"]
        .iter()
        .enumerate()
    {
        let r = app
            .track(&b.key, &event("shared-bot", tt, "b-client"), None)
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        for field in [
            "resolved_baseline_minutes",
            "resolved_baseline_source",
            "resolved_hourly_rate",
            "hours_saved",
            "cost_saved",
            "net_saved",
        ] {
            assert_eq!(
                r.body[field], b_events[i][field],
                "B's {tt} {field} changed"
            );
        }
    }
    // And A's writes did take effect for A.
    let r = app
        .track(
            &a.key,
            &event("shared-bot", "email_classification", "a-client"),
            None,
        )
        .await;
    assert_eq!(
        (
            &r.body["resolved_baseline_minutes"],
            &r.body["resolved_hourly_rate"]
        ),
        (&json!(2), &json!(1))
    );
    let r = app
        .track(
            &a.key,
            &event("shared-bot", "contract_review", "a-client"),
            None,
        )
        .await;
    assert_eq!(
        r.code(),
        "unknown_task_type",
        "A archived its own type: {}",
        r.text
    );
    // B's stored events and types are untouched.
    let t = get(&app, &b, "/api/v1/task-types").await;
    let types = t.body["task_types"].as_array().unwrap();
    assert!(types
        .iter()
        .any(|x| x["key"] == "contract_review" && x["kind"] == "custom"));
    let routing = types.iter().find(|x| x["key"] == "ticket_routing").unwrap();
    assert_eq!(routing["override"]["baseline_minutes"], 50);
    let email = types
        .iter()
        .find(|x| x["key"] == "email_classification")
        .unwrap();
    assert!(email["override"].is_null());
    let agents = get(&app, &b, "/api/v1/agents").await;
    let bot = agents.body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["agent_id"] == "shared-bot")
        .unwrap()
        .clone();
    assert_eq!(bot["hourly_rate"], 100);
    assert_eq!(app.store.count_events(&b.id).unwrap(), 8);
}
