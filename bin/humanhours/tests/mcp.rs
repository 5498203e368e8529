//! `/mcp` (API.md §11) driven by the official MCP Python client (`mcp` 2.x from PyPI, over an
//! `httpx2` client carrying the bearer key; `just test` installs both): initialize (and the
//! 2026 `server/discover` probe), list the tools, call every one, and hold each answer equal
//! to its REST route's for the same parameters; the plan gate and the scopes as tool errors;
//! `track_event` creates exactly the event `POST /track` would. Then the HTTP edges a hostile
//! or careless client meets: no key, a foreign Origin or Host, the wrong method, Accept or
//! content type, a body over the limit, the per-key rate limit.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::num::NonZeroU32;

use app::keys::KeyMode;
use common::{test_config, TestApp};
use ratelimit::{Plan, Scopes};
use reqwest::Method;
use serde_json::{json, Value};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/client.py");

/// Runs the Python client: `mode` is `legacy` or `auto`; `calls` a list of [tool, args].
async fn python(app: &TestApp, key: &str, mode: &str, calls: &Value) -> Value {
    let (url, key, mode, calls) = (
        format!("{}/mcp", app.base),
        key.to_owned(),
        mode.to_owned(),
        calls.to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([CLIENT, &url, &key, &mode, &calls])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MCP client failed (install it with `python3 -m pip install 'mcp>=2,<3' httpx2`):\n{stdout}\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap()
}

/// A key of `org` with only these scopes.
fn key_with(app: &TestApp, org: &str, scopes: &str) -> String {
    app::orgs::new_key(
        &app.store,
        &app.hasher,
        org,
        KeyMode::Live,
        Scopes::parse(scopes).unwrap(),
        "mcp test",
        app::clock::now(),
    )
    .unwrap()
    .0
}

/// GET `path` with `query` (the tool's arguments as a query string).
async fn rest(app: &TestApp, key: &str, path: &str, args: &Value) -> common::Reply {
    let query = serde_urlencoded::to_string(
        args.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect::<Vec<_>>(),
    )
    .unwrap();
    app.send(
        Method::GET,
        &format!("{path}?{query}"),
        Some(key),
        &[],
        None,
    )
    .await
}

/// The tool's text as JSON (exact decimals kept), or its error envelope.
fn tool_json(result: &Value) -> Value {
    serde_json::from_str(result["text"][0].as_str().unwrap()).unwrap()
}

fn event(agent: &str, task_type: &str, minutes_ago: i64, model: &str) -> Value {
    let at = app::clock::now() - time::Duration::minutes(minutes_ago);
    json!({
        "agent_id": agent,
        "task_type": task_type,
        "outcome": "success",
        "agent_duration_seconds": 7,
        "model": model,
        "tokens_in": 1200,
        "tokens_out": 300,
        "occurred_at": at.format(&time::format_description::well_known::Rfc3339).unwrap(),
    })
}

#[actix_web::test]
async fn every_tool_answers_what_its_rest_route_answers() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let bodies = [
        event("support-bot", "email_classification", 300, "openai/gpt-4o"),
        event("support-bot", "ticket_routing", 200, "openai/gpt-4o-mini"),
        event(
            "research-bot",
            "lead_enrichment",
            100,
            "anthropic/claude-3.5-sonnet",
        ),
    ];
    for b in &bodies {
        assert_eq!(app.track(&key, b, None).await.status, 201);
    }
    let from = (app::clock::now() - time::Duration::hours(6))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let to = (app::clock::now() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let range = |extra: Value| {
        let mut m = json!({ "from": from, "to": to });
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m
    };
    // (tool, arguments, REST path): the REST route gets the same arguments as its query.
    let reads = [
        ("get_summary", range(json!({})), "/api/v1/summary"),
        (
            "get_summary",
            range(json!({ "agent_id": "support-bot", "tz": "Asia/Kathmandu" })),
            "/api/v1/summary",
        ),
        (
            "time_saved_report",
            range(json!({ "group_by": "agent,task_type", "sort": "cost_saved" })),
            "/api/v1/reports/time-saved",
        ),
        (
            "cost_saved_report",
            range(json!({ "group_by": "model", "top": 2 })),
            "/api/v1/reports/cost-saved",
        ),
        (
            "leaderboard",
            range(json!({ "metric": "net_saved", "top": 5 })),
            "/api/v1/reports/leaderboard",
        ),
        ("get_usage", json!({}), "/api/v1/reports/usage"),
        ("list_agents", json!({}), "/api/v1/agents"),
        ("list_task_types", json!({}), "/api/v1/task-types"),
        (
            "list_task_types",
            json!({ "category": "support" }),
            "/api/v1/task-types",
        ),
        // Bad input: the same error, as a tool error.
        (
            "get_summary",
            json!({ "period": "fortnight" }),
            "/api/v1/summary",
        ),
        (
            "leaderboard",
            range(json!({ "top": 0 })),
            "/api/v1/reports/leaderboard",
        ),
    ];
    let csv_args = range(json!({ "group_by": "day", "format": "csv" }));
    let mut calls: Vec<Value> = reads.iter().map(|(t, a, _)| json!([t, a])).collect();
    calls.push(json!(["time_saved_report", csv_args]));

    for mode in ["legacy", "auto"] {
        let out = python(&app, &key, mode, &Value::Array(calls.clone())).await;
        assert_eq!(out["server"], "humanhours");
        let version = out["protocol_version"].as_str().unwrap();
        assert!(version >= "2025-06-18", "{mode}: {version}");

        // The eight tools, each with a self-contained object schema that says what its
        // parameters mean and their ranges.
        let tools = out["tools"].as_array().unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "track_event",
                "get_summary",
                "time_saved_report",
                "cost_saved_report",
                "leaderboard",
                "get_usage",
                "list_agents",
                "list_task_types"
            ]
        );
        for t in tools {
            assert_eq!(t["input_schema"]["type"], "object", "{t}");
            assert!(!t["input_schema"].to_string().contains("$ref"), "{t}");
            assert!(t["description"].as_str().unwrap().len() > 40, "{t}");
        }
        let schema =
            |name: &str| tools.iter().find(|t| t["name"] == name).unwrap()["input_schema"].clone();
        let lb = schema("leaderboard");
        assert_eq!(lb["properties"]["top"]["minimum"], 1);
        assert_eq!(lb["properties"]["top"]["maximum"], 10_000);
        assert!(lb["properties"]["metric"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("net_saved")));
        let summary = schema("get_summary");
        assert!(summary["properties"]["period"]["description"]
            .as_str()
            .unwrap()
            .contains("preset"));
        assert!(summary["properties"]["period"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("30d")));
        let track = schema("track_event");
        for required in ["agent_id", "task_type", "outcome"] {
            assert!(track["required"]
                .as_array()
                .unwrap()
                .contains(&json!(required)));
        }
        assert_eq!(track["properties"]["idempotency_key"]["maxLength"], 255);

        let results = out["results"].as_array().unwrap();
        for ((tool, args, path), result) in reads.iter().zip(results) {
            let r = rest(&app, &key, path, args).await;
            let got = tool_json(result);
            if r.status == 200 {
                assert_eq!(result["is_error"], false, "{tool} {args}: {result}");
                assert_eq!(got, r.body, "{mode}: {tool} {args}");
                assert_eq!(
                    result["structured"],
                    serde_json::from_str::<Value>(&r.text).unwrap()
                );
            } else {
                assert_eq!(result["is_error"], true, "{tool} {args}: {result}");
                assert_eq!(got, r.body, "{mode}: {tool} {args}");
                assert_eq!(r.code(), "validation_error");
            }
        }
        // A CSV answer is the CSV text, as the REST route's body.
        let csv = &results[reads.len()];
        let r = rest(&app, &key, "/api/v1/reports/time-saved", &csv_args).await;
        assert_eq!(r.status, 200);
        assert_eq!(csv["is_error"], false);
        assert_eq!(csv["text"][0].as_str().unwrap(), r.text);
        // The figures add up: three events, to the cent, as summed from the events.
        let summary = tool_json(&results[0]);
        assert_eq!(summary["events"], 3);
    }

    // track_event stores exactly the event POST /track would: the REST retry with the same
    // body and Idempotency-Key answers it again, byte for byte, and stores nothing more.
    let body = event(
        "mcp-bot",
        "email_classification",
        5,
        "some-lab/unpriced-model",
    );
    let mut args = body.clone();
    args["idempotency_key"] = json!("mcp-run-1");
    let out = python(&app, &key, "legacy", &json!([["track_event", args]])).await;
    let result = &out["results"][0];
    assert_eq!(result["is_error"], false, "{result}");
    let before = app.store.count_events(&org).unwrap();
    let replay = app.track(&key, &body, Some("mcp-run-1")).await;
    assert_eq!(replay.status, 200, "{}", replay.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(result["text"][0].as_str().unwrap(), replay.text);
    assert_eq!(app.store.count_events(&org).unwrap(), before);
    assert_eq!(before, 4);
    // The same key with another body is the route's own refusal.
    let mut other = args.clone();
    other["agent_duration_seconds"] = json!(99);
    let out = python(&app, &key, "legacy", &json!([["track_event", other]])).await;
    assert_eq!(out["results"][0]["is_error"], true);
    assert_eq!(
        out["results"][0]["structured"]["error"]["code"],
        "idempotency_key_reused"
    );
    assert_eq!(app.store.count_events(&org).unwrap(), 4);
}

#[actix_web::test]
async fn plan_gates_and_scopes_are_tool_errors() {
    let app = TestApp::spawn().await;
    let (free_org, free_key) = app.org(Plan::Free);
    let calls = json!([
        ["time_saved_report", { "group_by": "agent" }],
        ["cost_saved_report", {}],
        ["leaderboard", {}],
        ["get_summary", {}],
        ["get_usage", {}],
    ]);
    let out = python(&app, &free_key, "legacy", &calls).await;
    let results = out["results"].as_array().unwrap();
    for r in &results[..3] {
        assert_eq!(r["is_error"], true, "{r}");
        assert_eq!(r["structured"]["error"]["code"], "feature_locked", "{r}");
        let rest = app
            .send(
                Method::GET,
                "/api/v1/reports/leaderboard",
                Some(&free_key),
                &[],
                None,
            )
            .await;
        assert_eq!(r["structured"], rest.body);
    }
    for r in &results[3..] {
        assert_eq!(r["is_error"], false, "{r}");
    }

    // A key with `track` only records and reads nothing; one with `read` only the reverse.
    let track_only = key_with(&app, &free_org, "track");
    let read_only = key_with(&app, &free_org, "read");
    let calls = json!([["get_summary", {}], ["track_event", common::seed_body()],]);
    let out = python(&app, &track_only, "legacy", &calls).await;
    let r = &out["results"];
    assert_eq!(r[0]["structured"]["error"]["code"], "insufficient_scope");
    assert!(r[0]["structured"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'read'"));
    assert_eq!(r[1]["is_error"], false, "{}", r[1]);
    let out = python(&app, &read_only, "auto", &calls).await;
    let r = &out["results"];
    assert_eq!(r[0]["is_error"], false);
    assert_eq!(r[1]["structured"]["error"]["code"], "insufficient_scope");
    assert_eq!(app.store.count_events(&free_org).unwrap(), 1);
}

/// A raw MCP POST, as a client would send it.
async fn post(
    app: &TestApp,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> common::Reply {
    let mut all = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    all.retain(|(n, _)| !headers.iter().any(|(m, _)| m.eq_ignore_ascii_case(n)));
    all.extend_from_slice(headers);
    app.send(
        Method::POST,
        "/mcp",
        key,
        &all,
        Some(body.as_bytes().to_vec()),
    )
    .await
}

const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

#[actix_web::test]
async fn the_http_edges_refuse_clearly() {
    let mut config = test_config();
    config.public_url = "https://roi.example.com".into();
    config.mcp_allowed_origins = vec!["https://app.example.com".into()];
    config.plan_limits = config
        .plan_limits
        .with_per_second(Plan::Free, NonZeroU32::new(3).unwrap());
    let app = TestApp::spawn_with(config).await;
    let (_, key) = app.org(Plan::Pro);
    let key = Some(key.as_str());

    let ok = post(&app, key, &[], LIST).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["result"]["tools"].as_array().unwrap().len(), 8);
    assert!(ok.header("ratelimit").is_some());

    // No key, or a wrong one: 401 with the challenge.
    for k in [None, Some("hh_live_AAAAAAAA_nope")] {
        let r = post(&app, k, &[], LIST).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"humanhours\"")
        );
        assert!(matches!(
            r.code(),
            "missing_authorization" | "invalid_api_key"
        ));
    }
    // Origins: none, the public URL's and a listed one pass; any other is refused, key or not.
    for (origin, status) in [
        ("https://roi.example.com", 200),
        ("https://app.example.com", 200),
        ("https://evil.example", 403),
        ("http://roi.example.com", 403),
        ("null", 403),
    ] {
        let r = post(&app, key, &[("Origin", origin)], LIST).await;
        assert_eq!(r.status, status, "{origin}: {}", r.text);
        if status == 403 {
            assert_eq!(r.code(), "origin_not_allowed");
            assert_eq!(r.field(), Some("Origin"));
        }
    }
    // Hosts: the public URL's and loopback pass; a rebound name is refused.
    for (host, status) in [
        ("roi.example.com", 200),
        ("ROI.example.com:443", 200),
        ("localhost:9", 200),
        ("attacker.example", 403),
    ] {
        let r = post(&app, key, &[("Host", host)], LIST).await;
        assert_eq!(r.status, status, "{host}: {}", r.text);
        if status == 403 {
            assert_eq!(r.field(), Some("Host"));
        }
    }
    // The wrong method, Accept, content type, body.
    let r = app.send(Method::GET, "/mcp", key, &[], None).await;
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = post(&app, key, &[("Accept", "application/json")], LIST).await;
    assert_eq!((r.status, r.code()), (406, "not_acceptable"));
    let r = post(&app, key, &[("Content-Type", "text/plain")], LIST).await;
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
    let r = post(&app, key, &[], "{not json").await;
    assert_eq!((r.status, r.code()), (400, "mcp_protocol_error"));
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"x":"{}"}}}}"#,
        "a".repeat(1024 * 1024)
    );
    let r = post(&app, key, &[], &big).await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let r = post(
        &app,
        key,
        &[],
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"drop_tables","arguments":{}}}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["error"]["code"], -32602, "{}", r.text);
    let r = post(
        &app,
        key,
        &[],
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_summary","arguments":{"period":["7d"]}}}"#,
    )
    .await;
    assert_eq!(r.body["result"]["isError"], true, "{}", r.text);
    assert_eq!(
        r.body["result"]["structuredContent"]["error"]["field"],
        "period"
    );

    // The per-key rate limit counts MCP requests as it counts REST ones (Free: 3/s here).
    let (_, free) = app.org(Plan::Free);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(post(&app, Some(&free), &[], LIST).await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = post(&app, Some(&free), &[], LIST).await;
    if r.status == 429 {
        assert_eq!(r.code(), "rate_limited");
        assert!(r.header("retry-after").is_some());
    }
}
