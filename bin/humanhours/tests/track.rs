//! Black-box tests of POST /track (API.md §2–§7) against the real server on port 0.

mod common;

use std::time::Duration;

use app::clock;
use app::orgs::{self, NewOrg};
use common::{seed_body, test_config, TestApp};
use ratelimit::Plan;
use serde_json::{json, Value};

#[actix_web::test]
async fn seed_example_answers_201_with_every_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Enterprise);
    let r = app.track(&key, &seed_body(), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b = &r.body;
    assert!(b["event_id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(b["event_id"].as_str().unwrap().len(), 4 + 26);
    assert_eq!(b["agent_id"], "support-bot");
    assert_eq!(b["task_type"], "email_classification");
    assert_eq!(b["outcome"], "success");
    assert_eq!(b["resolved_baseline_source"], "builtin");
    assert_eq!(b["currency"], "EUR");
    assert_eq!(b["resolved_cost_source"], "none");
    assert_eq!(b["agent_cost"], Value::Null);
    // Exact JSON numbers, as printed: no strings, no float noise.
    for (field, text) in [
        ("resolved_baseline_minutes", "4"),
        ("resolved_hourly_rate", "45"),
        ("agent_duration_seconds", "4"),
        ("hours_saved", "0.066"),
        ("cost_saved", "2.97"),
        ("net_saved", "2.97"),
    ] {
        assert!(b[field].is_number(), "{field} is a number");
        assert!(
            r.text.contains(&format!("\"{field}\":{text}")),
            "{field} printed as {text} in {}",
            r.text
        );
    }
    let occurred = b["occurred_at"].as_str().unwrap();
    assert!(
        occurred.ends_with('Z') && occurred.len() == 24,
        "{occurred}"
    );
    assert!(b.get("warnings").is_none());
    assert_eq!(
        r.header("ratelimit-policy"),
        Some("\"default\";q=100000;w=1")
    );
    assert!(r.header("ratelimit").unwrap().starts_with("\"default\";r="));
}

#[actix_web::test]
async fn a_201_means_the_event_is_stored_with_everything_frozen() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let body = json!({
        "agent_id": "a1", "task_type": "ticket_routing", "outcome": "needs_review",
        "agent_duration_seconds": 1.5, "agent_cost": 0.0123456,
        "metadata": {"client": "acme", "run": 7},
        "audit_sample": {"input_excerpt": "in", "output_excerpt": "out"}
    });
    let r = app.track(&key, &body, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["event_id"].as_str().unwrap();
    let row = app
        .store
        .get_event(&org, id)
        .unwrap()
        .expect("row exists right after the 201");
    assert_eq!(row.baseline_minutes, "2");
    assert_eq!(row.baseline_source, "builtin");
    assert_eq!(row.hourly_rate, "45");
    assert_eq!(row.agent_duration_seconds, "1.5");
    assert_eq!(row.cost_source, "provided");
    assert_eq!(row.agent_cost_micros, Some(12_346));
    // 2 min − 1.5 s = 1.975 min = 0.0329166 h → 0.033 h → 1.485 → 1.49; − 0.012346 → 1.48.
    assert_eq!(row.hours_saved_milli, 33);
    assert_eq!(row.cost_saved_cents, 149);
    assert_eq!(row.net_saved_cents, 148);
    assert_eq!(r.body["net_saved"].to_string(), "1.48");
    assert_eq!(row.client.as_deref(), Some("acme"));
    assert!(row
        .audit_sample
        .unwrap()
        .contains("\"input_excerpt\":\"in\""));
    assert_eq!(app.store.count_events(&org).unwrap(), 1);
}

#[actix_web::test]
async fn the_v1_alias_serves_the_same_route() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    let r = app
        .send(
            reqwest::Method::POST,
            "/v1/track",
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(seed_body().to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["hours_saved"].to_string(), "0.066");
}

#[actix_web::test]
async fn auth_errors_have_their_codes() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    let body = Some(seed_body().to_string().into_bytes());
    let json = [("Content-Type", "application/json")];
    let post = |auth: Option<String>| {
        let mut headers: Vec<(&str, String)> = vec![("Content-Type", "application/json".into())];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        headers
    };
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing_authorization"),
        (Some(format!("Basic {key}")), "missing_authorization"),
        (Some("Bearer".into()), "missing_authorization"),
        (Some("Bearer nope".into()), "invalid_api_key"),
        (
            Some(format!("Bearer {}", &key[..key.len() - 1])),
            "invalid_api_key",
        ),
        (
            // The right prefix with a wrong secret (last character changed).
            Some(format!(
                "Bearer {}{}",
                &key[..key.len() - 1],
                if key.ends_with('X') { 'Y' } else { 'X' }
            )),
            "invalid_api_key",
        ),
        (
            Some(format!("Bearer hh_live_AAAAAAAA_{}", "b".repeat(48))),
            "invalid_api_key",
        ),
    ];
    for (auth, code) in cases {
        let headers = post(auth.clone());
        let hdrs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = app
            .send(
                reqwest::Method::POST,
                "/api/v1/track",
                None,
                &hdrs,
                body.clone(),
            )
            .await;
        assert_eq!((r.status, r.code()), (401, code), "{auth:?}: {}", r.text);
        assert!(r.body["error"]["message"].is_string());
    }
    let ok = app
        .track_raw(&key, &seed_body().to_string().into_bytes(), &json)
        .await;
    assert_eq!(ok.status, 201);
}

#[actix_web::test]
async fn a_revoked_key_is_refused_within_the_cache_ttl() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    let prefix = key.split('_').nth(2).unwrap();
    let out = app.cli(&["key", "revoke", prefix]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The test server caches verified keys for 1 s.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = app.track(&key, &seed_body(), None).await;
    assert_eq!((r.status, r.code()), (401, "key_revoked"), "{}", r.text);
    let out = app.cli(&["key", "revoke", prefix]);
    assert!(!out.status.success(), "revoking twice is an error");
}

#[actix_web::test]
async fn an_expired_cache_entry_rereads_the_key_without_a_second_argon2_run() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    let checks = || app.state.key_cache.hash_checks();
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    assert_eq!(checks(), 1);
    // Past the 1 s TTL: the row is read again, but this key was proven against this hash.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    assert_eq!(checks(), 1);
    // A wrong secret under the same prefix is hashed (and refused) like any unknown key.
    let mut wrong = key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'a' { 'b' } else { 'a' });
    let r = app.track(&wrong, &seed_body(), None).await;
    assert_eq!((r.status, r.code()), (401, "invalid_api_key"), "{}", r.text);
    assert_eq!(checks(), 2);
    // Revocation is still seen at the next re-read.
    assert!(app
        .store
        .revoke_key(key.split('_').nth(2).unwrap(), 1)
        .unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = app.track(&key, &seed_body(), None).await;
    assert_eq!((r.status, r.code()), (401, "key_revoked"), "{}", r.text);
    assert_eq!(checks(), 2);
}

/// (body, field, message fragment) → 422 validation_error naming the field.
#[actix_web::test]
async fn validation_errors_name_the_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let with = |patch: Value| {
        let mut b = seed_body();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let long = "x".repeat(2001);
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases = vec![
        (with(json!({"agent_id": null})), "agent_id", "required"),
        (with(json!({"agent_id": ""})), "agent_id", "1 to 128"),
        (
            with(json!({"agent_id": "a".repeat(129)})),
            "agent_id",
            "1 to 128",
        ),
        (with(json!({"agent_id": 5})), "agent_id", "invalid type"),
        (with(json!({"agent_id": "bad\nid"})), "agent_id", "control"),
        (with(json!({"task_type": null})), "task_type", "required"),
        (
            with(json!({"task_type": "Email"})),
            "task_type",
            "snake_case",
        ),
        (
            with(json!({"task_type": "a".repeat(65)})),
            "task_type",
            "1 to 64",
        ),
        (
            with(json!({"outcome": "ok"})),
            "outcome",
            "success, failure, needs_review",
        ),
        (with(json!({"outcome": null})), "outcome", "required"),
        (
            with(json!({"agent_duration_seconds": -1})),
            "agent_duration_seconds",
            "at least 0",
        ),
        (
            with(json!({"agent_duration_seconds": "4"})),
            "agent_duration_seconds",
            "invalid type",
        ),
        (
            with(json!({"agent_cost": -0.01})),
            "agent_cost",
            "at least 0",
        ),
        (
            with(json!({"human_baseline_minutes": 0})),
            "human_baseline_minutes",
            "greater than 0",
        ),
        (
            with(json!({"human_baseline_minutes": 10080.5})),
            "human_baseline_minutes",
            "at most 10080",
        ),
        (with(json!({"tokens_in": -1})), "tokens_in", "whole number"),
        (
            with(json!({"tokens_out": 1.5})),
            "tokens_out",
            "whole number",
        ),
        (
            with(json!({"tokens_in": 1_000_000_000_001u64})),
            "tokens_in",
            "at most",
        ),
        (with(json!({"model": "m".repeat(201)})), "model", "1 to 200"),
        (
            with(json!({"metadata": [1, 2]})),
            "metadata",
            "invalid type",
        ),
        (
            with(json!({"metadata": many})),
            "metadata",
            "64 top-level keys",
        ),
        (
            with(json!({"metadata": {"blob": "y".repeat(17 * 1024)}})),
            "metadata",
            "bytes",
        ),
        (
            with(json!({"audit_sample": {"input_excerpt": long}})),
            "audit_sample.input_excerpt",
            "2000",
        ),
        (
            with(json!({"audit_sample": {"output_excerpt": 3}})),
            "audit_sample.output_excerpt",
            "invalid type",
        ),
        (
            with(json!({"occurred_at": "yesterday"})),
            "occurred_at",
            "RFC 3339",
        ),
        (
            with(json!({"occurred_at": 1700000000})),
            "occurred_at",
            "invalid type",
        ),
    ];
    for (body, field, fragment) in cases {
        let r = app.track(&key, &body, None).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.code(), "validation_error", "{body}");
        assert_eq!(r.field(), Some(field), "{body}: {}", r.text);
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(fragment),
            "{field}: '{msg}' should mention '{fragment}'"
        );
    }
    assert_eq!(
        app.store
            .count_events(&app.store.list_orgs().unwrap()[0].id)
            .unwrap(),
        0
    );
}

#[actix_web::test]
async fn malformed_bodies_and_headers_are_refused_cleanly() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Free);
    let json_ct = [("Content-Type", "application/json")];
    for raw in [
        &b"{not json"[..],
        b"",
        b"[]",
        b"\"text\"",
        b"{\"agent_id\": \"a\", \"task_type\": \"ticket_routing\", \"outcome\": \"success\", \"agent_duration_seconds\": NaN}",
        b"{\"agent_id\": \"a\", \"task_type\": \"ticket_routing\", \"outcome\": \"success\", \"agent_duration_seconds\": 1e400}",
        b"\xff\xfe{}",
        // An array is not a body, even one holding the fields in order.
        b"[\"a\", \"ticket_routing\", \"success\", null, null, null, null, null, null, null, null, null]",
    ] {
        let r = app.track_raw(&key, raw, &json_ct).await;
        assert_eq!((r.status, r.code()), (422, "validation_error"), "{:?}: {}", String::from_utf8_lossy(raw), r.text);
    }
    let r = app
        .track_raw(
            &key,
            seed_body().to_string().as_bytes(),
            &[("Content-Type", "text/plain")],
        )
        .await;
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
    let r = app.track(&key, &seed_body(), Some("has space")).await;
    assert_eq!(
        (r.status, r.code(), r.field()),
        (422, "validation_error", Some("Idempotency-Key"))
    );
    let too_long = "k".repeat(256);
    let r = app.track(&key, &seed_body(), Some(&too_long)).await;
    assert_eq!((r.status, r.field()), (422, Some("Idempotency-Key")));
    // Over 1 MiB: 413 in the envelope, not a dropped connection.
    let mut big = seed_body();
    big["padding"] = json!("p".repeat(2 * 1024 * 1024));
    let r = app.track(&key, &big, None).await;
    assert_eq!(
        (r.status, r.code()),
        (413, "payload_too_large"),
        "{}",
        r.text
    );
    // An unknown route is a 404 in the envelope.
    let r = app
        .send(reqwest::Method::GET, "/api/v1/nope", Some(&key), &[], None)
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    assert_eq!(app.store.count_events(&org).unwrap(), 0);
}

#[actix_web::test]
async fn unknown_fields_are_ignored_and_nulls_are_absent() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    let mut body = seed_body();
    body["future_field"] = json!({"x": 1});
    body["model"] = Value::Null;
    body["tokens_in"] = Value::Null;
    let r = app.track(&key, &body, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["resolved_cost_source"], "none");
}

#[actix_web::test]
async fn unknown_task_type_and_the_baseline_resolution_order() {
    let app = TestApp::spawn().await;
    let mut new = NewOrg::named("resolution", Plan::Pro);
    let (org, key) = app.org_with(new.clone());
    let now = clock::unix_ms(clock::now());
    let r = app
        .track(
            &key,
            &json!({"agent_id": "a", "task_type": "my_task", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "unknown_task_type"),
        "{}",
        r.text
    );
    assert!(r.body["error"]["hint"].is_string());

    // request beats everything
    let r = app
        .track(&key, &json!({"agent_id": "a", "task_type": "my_task", "outcome": "success", "human_baseline_minutes": 12}), None)
        .await;
    assert_eq!(
        (r.status, &r.body["resolved_baseline_source"]),
        (201, &json!("request"))
    );
    assert_eq!(r.body["resolved_baseline_minutes"].to_string(), "12");
    // custom
    app.store
        .create_custom_type(&store::CustomTaskTypeRow {
            org_id: org.clone(),
            key: "my_task".into(),
            display_name: "My task".into(),
            category: "ops".into(),
            baseline_minutes: "30".into(),
            baseline_source: None,
            created_at: now,
            archived_at: None,
        })
        .unwrap();
    // What the task-type routes do after a change; a change made elsewhere (CLI, another
    // instance) is seen within the cache TTL.
    app.state.contexts.invalidate(&org);
    let r = app
        .track(
            &key,
            &json!({"agent_id": "a", "task_type": "my_task", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(r.body["resolved_baseline_source"], "custom", "{}", r.text);
    assert_eq!(r.body["hours_saved"].to_string(), "0.5");
    // override of a built-in
    app.store
        .set_override(&org, "ticket_routing", "3", Some("we are slower"), now)
        .unwrap();
    app.state.contexts.invalidate(&org);
    let r = app
        .track(
            &key,
            &json!({"agent_id": "a", "task_type": "ticket_routing", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(r.body["resolved_baseline_source"], "override");
    assert_eq!(r.body["resolved_baseline_minutes"].to_string(), "3");
    // fallback for an org that set one
    new.name = "with-fallback".into();
    new.fallback_baseline_minutes = Some(roi_engine::BaselineMinutes::parse("6").unwrap());
    let (_, key2) = app.org_with(new);
    let r = app
        .track(
            &key2,
            &json!({"agent_id": "a", "task_type": "whatever", "outcome": "failure"}),
            None,
        )
        .await;
    assert_eq!(r.body["resolved_baseline_source"], "fallback", "{}", r.text);
    assert_eq!(
        r.body["hours_saved"].to_string(),
        "0",
        "failure saves nothing"
    );
}

#[actix_web::test]
async fn hourly_rate_agent_then_org() {
    let app = TestApp::spawn().await;
    let mut new = NewOrg::named("rates", Plan::Free);
    new.hourly_rate = roi_engine::HourlyRate::parse("60").unwrap();
    let (org, key) = app.org_with(new);
    let body = json!({"agent_id": "writer", "task_type": "blog_short_draft", "outcome": "success"});
    let r = app.track(&key, &body, None).await;
    assert_eq!(r.body["resolved_hourly_rate"].to_string(), "60");
    assert_eq!(
        r.body["cost_saved"].to_string(),
        "34.98",
        "35, 0, 60 → 0.583, 34.98"
    );
    let out = app.cli(&["agent", "set-rate", "--org", &org, "writer", "80.5"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The CLI is another process: the server sees the change within its cache TTL (1 s here).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = app.track(&key, &body, None).await;
    assert_eq!(r.body["resolved_hourly_rate"].to_string(), "80.5");
    assert_eq!(
        r.body["cost_saved"].to_string(),
        "46.93",
        "0.583 × 80.5 = 46.9315"
    );
}

#[actix_web::test]
async fn occurred_at_window_and_format() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    let now = clock::now();
    let at = |d: time::Duration| clock::format_ms(now + d);
    for (offset, status) in [
        (time::Duration::days(-89), 201),
        (time::Duration::hours(23), 201),
        (time::Duration::days(-91), 422),
        (time::Duration::hours(25), 422),
    ] {
        let mut b = seed_body();
        b["occurred_at"] = json!(at(offset));
        let r = app.track(&key, &b, None).await;
        assert_eq!(r.status, status, "{offset}: {}", r.text);
        if status == 422 {
            assert_eq!(r.code(), "occurred_at_out_of_range");
        }
    }
    let mut b = seed_body();
    b["occurred_at"] = json!("2026-11-28T10:00:00.123456+02:00");
    let r = app.track(&key, &b, None).await;
    assert_eq!(
        r.body["occurred_at"], "2026-11-28T08:00:00.123Z",
        "{}",
        r.text
    );
}

#[actix_web::test]
async fn idempotent_replay_and_mismatch() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Free);
    let first = app.track(&key, &seed_body(), Some("run-1")).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same body with its keys reordered and reformatted is the same request.
    let reordered = br#"{ "outcome":"success", "agent_duration_seconds": 4.0,
        "task_type":"email_classification", "agent_id":"support-bot" }"#;
    let again = app
        .track_raw(
            &key,
            reordered,
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", "run-1"),
            ],
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text, "identical body");
    // Another key of the same org dedupes too.
    let key2 = orgs::create_key(
        &app.store,
        &app.hasher,
        &org,
        app::keys::KeyMode::Live,
        clock::now(),
    )
    .unwrap();
    let third = app.track(&key2, &seed_body(), Some("run-1")).await;
    assert_eq!(
        (third.status, &third.body["event_id"]),
        (200, &first.body["event_id"])
    );
    let mut changed = seed_body();
    changed["agent_duration_seconds"] = json!(5);
    let r = app.track(&key, &changed, Some("run-1")).await;
    assert_eq!((r.status, r.code()), (422, "idempotency_key_reused"));
    assert_eq!(app.store.count_events(&org).unwrap(), 1);
    // A failed request stores nothing: its retry is processed normally.
    let mut bad = seed_body();
    bad["task_type"] = json!("no_such_type");
    assert_eq!(app.track(&key, &bad, Some("run-2")).await.status, 422);
    assert_eq!(
        app.track(&key, &seed_body(), Some("run-2")).await.status,
        201
    );
    // Keys are per org.
    let (other_org, other_key) = app.org(Plan::Free);
    assert_eq!(
        app.track(&other_key, &changed, Some("run-1")).await.status,
        201
    );
    assert_eq!(app.store.count_events(&other_org).unwrap(), 1);
    // Replays do not count toward the quota.
    let month = clock::month(clock::now());
    assert_eq!(app.store.usage(&org, &month).unwrap().events, 2);
}

/// The idempotency record keeps only the event's id: a replay renders the stored event again.
/// Every field of the answer must come back byte for byte, also after the org changed the rate
/// the event was valued with, and through /track/batch.
#[actix_web::test]
async fn a_replay_renders_the_frozen_event_byte_for_byte() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let at = clock::now() - time::Duration::hours(2) + time::Duration::nanoseconds(123_456_789);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let priced = json!({
        "agent_id": "replayer", "task_type": "ticket_routing", "outcome": "needs_review",
        "agent_duration_seconds": 12.250, "model": "openai/gpt-4o-mini",
        "tokens_in": 1234, "tokens_out": 56, "metadata": {"client": "acme"},
        "occurred_at": at,
    });
    let warned = json!({
        "agent_id": "replayer", "task_type": "email_classification", "outcome": "failure",
        "model": "nobody/unpriced-model", "tokens_in": 10,
        "human_baseline_minutes": 7.5,
    });
    let provided = json!({
        "agent_id": "replayer", "task_type": "blog_short_draft", "outcome": "success",
        "agent_cost": 0.123456, "agent_duration_seconds": 0,
    });
    let mut firsts = Vec::new();
    for (i, body) in [&priced, &warned, &provided].into_iter().enumerate() {
        let first = app.track(&key, body, Some(&format!("frozen-{i}"))).await;
        assert_eq!(first.status, 201, "{}", first.text);
        firsts.push(first);
    }
    assert_eq!(
        firsts[0].body["occurred_at"],
        json!(format!("{}Z", &at[..23]))
    );
    assert_eq!(firsts[0].body["resolved_cost_source"], "computed");
    assert_eq!(firsts[1].body["warnings"], json!(["unpriced_model"]));
    assert_eq!(firsts[1].body["agent_cost"], Value::Null);
    assert_eq!(firsts[2].body["agent_cost"], json!(0.123456));

    // The agent's rate changes: new events are valued with it, stored ones keep theirs.
    let r = app
        .send(
            reqwest::Method::PUT,
            "/api/v1/agents/replayer",
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(br#"{"hourly_rate": 99}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fresh = app.track(&key, &priced, None).await;
    assert_eq!(
        fresh.body["resolved_hourly_rate"],
        json!(99),
        "{}",
        fresh.text
    );

    for (i, body) in [&priced, &warned, &provided].into_iter().enumerate() {
        let again = app.track(&key, body, Some(&format!("frozen-{i}"))).await;
        assert_eq!(again.status, 200);
        assert_eq!(
            again.text, firsts[i].text,
            "the first answer, byte for byte"
        );
        let row = app
            .store
            .find_idempotency(&org, &format!("frozen-{i}"))
            .unwrap()
            .unwrap();
        assert_eq!(json!(row.event_id), firsts[i].body["event_id"]);
    }
    let mut item = priced.clone();
    item["idempotency_key"] = json!("frozen-0");
    let batch = app
        .send(
            reqwest::Method::POST,
            "/api/v1/track/batch",
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(serde_json::to_vec(&json!({ "events": [item] })).unwrap()),
        )
        .await;
    assert_eq!(
        batch.body["results"][0]["status"], "replayed",
        "{}",
        batch.text
    );
    assert_eq!(batch.body["results"][0]["event"], firsts[0].body);
}

#[actix_web::test]
async fn concurrent_duplicates_make_one_event() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Enterprise);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/track", app.base);
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .header("Authorization", format!("Bearer {key}"))
                .header("Idempotency-Key", "burst-1")
                .json(&seed_body())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (status, body["event_id"].as_str().unwrap().to_owned())
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let (status, id) = t.await.unwrap();
        assert!(status == 201 || status == 200);
        created += usize::from(status == 201);
        ids.insert(id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1, "every caller got the same event");
    assert_eq!(app.store.count_events(&org).unwrap(), 1);
}

#[actix_web::test]
async fn free_plan_quota_stops_at_500_but_replays_still_answer() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Free);
    let mut tasks = Vec::new();
    for i in 0..500 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/track", app.base);
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .header("Authorization", format!("Bearer {key}"))
                .header("Idempotency-Key", format!("q-{i}"))
                .json(&seed_body())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let r = app.track(&key, &seed_body(), Some("q-500")).await;
    assert_eq!((r.status, r.code()), (429, "quota_exceeded"), "{}", r.text);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("500"));
    let replay = app.track(&key, &seed_body(), Some("q-7")).await;
    assert_eq!(
        replay.status, 200,
        "a replay of an earlier key still answers"
    );
    assert_eq!(app.store.count_events(&org).unwrap(), 500);
    // The refused request left nothing: not its idempotency record, not a count.
    let month = clock::month(clock::now());
    assert_eq!(app.store.usage(&org, &month).unwrap().events, 500);
    assert!(app.store.find_idempotency(&org, "q-500").unwrap().is_none());
}

#[actix_web::test]
async fn pro_plan_counts_overage_and_an_org_cap_is_hard() {
    let app = TestApp::spawn().await;
    let mut new = NewOrg::named("capped", Plan::Enterprise);
    new.monthly_event_cap = Some(2);
    let (_, key) = app.org_with(new);
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    let r = app.track(&key, &seed_body(), None).await;
    assert_eq!((r.status, r.code()), (429, "quota_exceeded"));
}

#[actix_web::test]
async fn rate_limit_answers_429_with_headers() {
    let mut config = test_config();
    config.plan_limits = config
        .plan_limits
        .with_per_second(Plan::Free, std::num::NonZeroU32::new(3).unwrap());
    let app = TestApp::spawn_with(config).await;
    let (_, key) = app.org(Plan::Free);
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let r = app.track(&key, &seed_body(), None).await;
        statuses.push(r.status);
        last = Some(r);
    }
    assert_eq!(statuses, vec![201, 201, 201, 429]);
    let r = last.unwrap();
    assert_eq!(r.code(), "rate_limited");
    let retry: u32 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(r.header("ratelimit-policy"), Some("\"default\";q=3;w=1"));
    assert_eq!(
        r.header("ratelimit"),
        Some(format!("\"default\";r=0;t={retry}").as_str())
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
}

#[actix_web::test]
async fn computed_cost_uses_the_price_in_force_converted_to_the_org_currency() {
    let app = TestApp::spawn().await;
    let mut new = NewOrg::named("gbp", Plan::Pro);
    new.currency = catalogue::Currency::parse("GBP").unwrap();
    let (org, key) = app.org_with(new);
    let today = clock::now().date();
    let day = |n: i64| {
        let d = today - time::Duration::days(n);
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let prices = format!(
        "model_id,input_usd_per_mtok,output_usd_per_mtok,effective_from\n\
         acme/model-x,10,40,{}\nacme/model-x,2,8,{}\n",
        day(10),
        day(5)
    );
    orgs::import_prices(&app.store, &prices, None, today, "test").unwrap();
    orgs::import_fx(
        &app.store,
        &format!("currency,usd_to,effective_from\nGBP,0.8,{}\n", day(30)),
        "test",
    )
    .unwrap();
    app.state.pricing.refresh(&app.store).unwrap();
    let body = |days_ago: i64| {
        json!({"agent_id": "a", "task_type": "email_classification", "outcome": "success",
               "agent_duration_seconds": 4, "model": "acme/model-x", "tokens_in": 1200, "tokens_out": 300,
               "occurred_at": clock::format_ms(clock::now() - time::Duration::days(days_ago))})
    };
    // 7 days ago the launch price: (1200×10 + 300×40)/1e6 = $0.024 × 0.8 = £0.0192.
    let r = app.track(&key, &body(7), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["resolved_cost_source"], "computed");
    assert_eq!(r.body["currency"], "GBP");
    assert_eq!(r.body["agent_cost"].to_string(), "0.0192");
    assert_eq!(r.body["net_saved"].to_string(), "2.95", "2.97 − 0.0192");
    // 1 day ago the cut price: (1200×2 + 300×8)/1e6 = $0.0048 × 0.8 = £0.00384.
    let r = app.track(&key, &body(1), None).await;
    assert_eq!(r.body["agent_cost"].to_string(), "0.00384");
    let row = app
        .store
        .get_event(&org, r.body["event_id"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(row.price_input_usd_per_mtok.as_deref(), Some("2"));
    assert_eq!(row.fx_rate.as_deref(), Some("0.8"));
    // Before the first row: unpriced.
    let r = app.track(&key, &body(12), None).await;
    assert_eq!(r.body["resolved_cost_source"], "none");
    assert_eq!(r.body["warnings"], json!(["unpriced_model"]));
    // agent_cost always wins.
    let mut b = body(1);
    b["agent_cost"] = json!(1);
    let r = app.track(&key, &b, None).await;
    assert_eq!(
        (
            r.body["resolved_cost_source"].as_str(),
            r.body["agent_cost"].to_string()
        ),
        (Some("provided"), "1".into())
    );
    // An org's own price beats the instance-wide one.
    let own = format!(
        "model_id,input_usd_per_mtok,output_usd_per_mtok,effective_from\nacme/model-x,1,1,{}\n",
        day(20)
    );
    orgs::import_prices(&app.store, &own, Some(&org), today, "test").unwrap();
    app.state.pricing.refresh(&app.store).unwrap();
    let r = app.track(&key, &body(1), None).await;
    assert_eq!(
        r.body["agent_cost"].to_string(),
        "0.0012",
        "(1200 + 300) × $1/M × 0.8"
    );
}

#[actix_web::test]
async fn unpriced_model_is_none_with_a_warning_never_zero() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Free);
    let mut b = seed_body();
    b["model"] = json!("nobody/unknown-model");
    b["tokens_in"] = json!(100);
    b["audit_sample"] = json!({"input_excerpt": "dropped on free"});
    let r = app.track(&key, &b, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["resolved_cost_source"], "none");
    assert_eq!(r.body["agent_cost"], Value::Null);
    assert_eq!(
        r.body["warnings"],
        json!(["unpriced_model", "audit_sample_not_stored"])
    );
    assert_eq!(
        r.body["tokens_out"],
        json!(0),
        "a missing count is 0 when the other is sent"
    );
    let row = app
        .store
        .get_event(&org, r.body["event_id"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(row.agent_cost_micros, None);
    assert_eq!(
        row.audit_sample, None,
        "a free org's audit sample is not stored"
    );
}

#[actix_web::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let r = app
        .send(reqwest::Method::GET, "/healthz", None, &[], None)
        .await;
    assert_eq!((r.status, &r.body["status"]), (200, &json!("ok")));
    let r = app
        .send(reqwest::Method::GET, "/readyz", None, &[], None)
        .await;
    assert_eq!((r.status, &r.body["database"]), (200, &json!("ok")));
}

#[actix_web::test]
async fn runs_on_the_backend_the_suite_asked_for() {
    let app = TestApp::spawn().await;
    let want = if common::postgres_url().is_some() {
        store::Backend::Postgres
    } else {
        store::Backend::Sqlite
    };
    assert_eq!(app.store.backend(), want);
}

#[actix_web::test]
async fn changes_through_the_api_apply_to_the_next_event_at_once() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let body = json!({"agent_id": "bot", "task_type": "ticket_routing", "outcome": "success"});
    assert_eq!(
        app.track(&key, &body, None).await.body["resolved_hourly_rate"].to_string(),
        "45"
    );
    let json_ct = [("Content-Type", "application/json")];
    let r = app
        .send(
            reqwest::Method::PUT,
            "/api/v1/agents/bot",
            Some(&key),
            &json_ct,
            Some(br#"{"hourly_rate": 70}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .send(
            reqwest::Method::POST,
            "/api/v1/task-types/ticket_routing/override",
            Some(&key),
            &json_ct,
            Some(br#"{"baseline_minutes_override": 3, "reason": "slower team"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.track(&key, &body, None).await;
    assert_eq!(
        r.body["resolved_hourly_rate"].to_string(),
        "70",
        "{}",
        r.text
    );
    assert_eq!(r.body["resolved_baseline_source"], "override");
    assert_eq!(r.body["hours_saved"].to_string(), "0.05");
    assert_eq!(r.body["cost_saved"].to_string(), "3.5");
}

/// Sums in reports are 64-bit integers of millionths: the bound on one event's cost keeps them
/// exact for thousands of maximal events (the fuzzer once overflowed them at the old bound).
#[actix_web::test]
async fn maximal_costs_still_sum_exactly_in_reports() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let mut b = seed_body();
    b["agent_cost"] = json!(1_000_000_000);
    for _ in 0..12 {
        assert_eq!(app.track(&key, &b, None).await.status, 201);
    }
    b["agent_cost"] = json!(1_000_000_000.01);
    let r = app.track(&key, &b, None).await;
    assert_eq!((r.status, r.field()), (422, Some("agent_cost")));
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/summary",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["agent_cost"].to_string(), "12000000000");
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/reports/cost-saved?group_by=agent",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[actix_web::test]
async fn an_agent_exists_from_its_first_event_and_its_last_seen_time_keeps_up_to_the_second() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let mut received = Vec::new();
    for _ in 0..5 {
        let body = json!({"agent_id": "busy-bot", "task_type": "ticket_routing",
                          "outcome": "success", "agent_duration_seconds": 1});
        let r = app.track(&key, &body, None).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let row = app
            .store
            .get_event(&org, r.body["event_id"].as_str().unwrap())
            .unwrap()
            .unwrap();
        received.push(row.received_at);
    }
    let agents = app.store.list_agents(&org).unwrap();
    assert_eq!(agents.len(), 1, "{agents:?}");
    let a = &agents[0];
    assert_eq!(a.agent_id, "busy-bot");
    assert_eq!(a.first_seen_at, received[0], "created by its first event");
    // The writer rewrites an agent's row at most once per LAST_SEEN_RESOLUTION_MS, so the
    // stored time is one of the events' and less than that behind the last one.
    let last = *received.last().unwrap();
    assert!(received.contains(&a.last_seen_at), "{a:?} {received:?}");
    assert!(
        last - a.last_seen_at < store::LAST_SEEN_RESOLUTION_MS,
        "{a:?} {received:?}"
    );
}
