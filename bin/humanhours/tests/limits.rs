//! The limits of API.md §14, one test per way a client could hurt the others: wrong secrets
//! that cost a hash each, bodies that never finish, methods that grow the metrics, numbers the
//! backends hold differently, ambiguous repeated headers, invisible characters in ids, and an
//! FTE figure that means nothing for a short range.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use common::{seed_body, TestApp};
use futures_util::future::join_all;
use ratelimit::Plan;
use serde_json::json;

/// A key of the same shape as `key`, with its real prefix and a wrong secret.
fn wrong_secret(key: &str) -> String {
    format!("{}{}", &key[..17], "W".repeat(48))
}

async fn summary(app: &TestApp, key: &str) -> common::Reply {
    app.send(
        reqwest::Method::GET,
        "/api/v1/summary",
        Some(key),
        &[],
        None,
    )
    .await
}

#[actix_web::test]
async fn wrong_secrets_for_a_real_prefix_stop_costing_hashes_and_new_keys_still_get_in() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let wrong = wrong_secret(&key);
    let before = app.state.key_cache.hash_checks();
    // 40 at once: the limit counts each attempt before its hash, so they cannot all slip in.
    let replies = join_all((0..40).map(|_| summary(&app, &wrong))).await;
    let hashed = app.state.key_cache.hash_checks() - before;
    let refused: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    let unauthorised = replies.iter().filter(|r| r.status == 401).count();
    assert_eq!(refused.len() + unauthorised, 40);
    let burst = app::auth::PREFIX_FAILURES.burst as usize;
    assert_eq!(unauthorised, burst, "one 401 per hash, up to the burst");
    assert!(hashed <= burst as u64, "{hashed} hashes for one prefix");
    for r in &refused {
        assert_eq!(r.code(), "rate_limited", "{}", r.text);
        let secs: u32 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=6).contains(&secs), "{secs}");
    }
    // The real key behind the attacked prefix, already proven, is not locked out; nor is a
    // new key of another org on its first use.
    let (_, other) = app.org(Plan::Pro);
    let r = summary(&app, &other).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        summary(&app, &key).await.status,
        429,
        "unproven on this instance"
    );
}

#[actix_web::test]
async fn a_proven_key_is_not_refused_for_its_prefix_failures() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    assert_eq!(summary(&app, &key).await.status, 200);
    let wrong = wrong_secret(&key);
    for _ in 0..15 {
        summary(&app, &wrong).await;
    }
    assert_eq!(summary(&app, &wrong).await.status, 429);
    // Past the cache's TTL (1 s in the tests) the key is re-checked: it is proven against its
    // stored hash, so it needs no hash and no slot, and the prefix's failures do not apply.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let checks = app.state.key_cache.hash_checks();
    let r = summary(&app, &key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.state.key_cache.hash_checks(), checks);
}

#[actix_web::test]
async fn unknown_prefixes_cost_no_hash_take_as_long_as_one_and_are_limited_per_address() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    // Warm the estimate of a hash's duration with a real check.
    assert_eq!(summary(&app, &key).await.status, 200);
    let before = app.state.key_cache.hash_checks();
    let unknown = |i: usize| format!("hh_live_{:0>8}_{}", i, "u".repeat(48));
    let started = app::clock::instant();
    let r = summary(&app, &unknown(0)).await;
    let took = started.elapsed();
    assert_eq!(r.status, 401);
    assert!(
        took >= Duration::from_millis(3),
        "an unknown prefix answered in {took:?}: faster than a hash tells it does not exist"
    );
    let burst = app::auth::ADDRESS_FAILURES.burst as usize;
    let mut statuses = Vec::new();
    for i in 1..burst + 5 {
        statuses.push(summary(&app, &unknown(i)).await.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        burst - 1,
        "{statuses:?}"
    );
    assert!(
        statuses[burst - 1..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    assert_eq!(app.state.key_cache.hash_checks(), before, "no hashing");
    // Through a proxy whose header is trusted, another client address has its own limit.
    let mut config = common::test_config();
    config.client_ip_header = Some("x-forwarded-for".into());
    let proxied = TestApp::spawn_with(config).await;
    let from = |addr: &'static str, i: usize| {
        let k = unknown(i);
        let app = &proxied;
        async move {
            app.send(
                reqwest::Method::GET,
                "/api/v1/summary",
                Some(&k),
                &[("X-Forwarded-For", &format!("203.0.113.9, {addr}"))],
                None,
            )
            .await
            .status
        }
    };
    for i in 0..burst + 2 {
        from("198.51.100.1", i).await;
    }
    assert_eq!(from("198.51.100.1", 99).await, 429);
    assert_eq!(from("198.51.100.2", 99).await, 401);
}

/// Sends `head` and then `body`, then waits (up to 10 s) for the server to answer and close.
/// Returns the status, the whole answer and how long it took.
async fn stalled(base: &str, head: String, body: Vec<u8>) -> (u16, String, Duration) {
    let addr = base.strip_prefix("http://").unwrap().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = app::clock::instant();
        s.write_all(head.as_bytes()).unwrap();
        let _ = s.write_all(&body);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text, started.elapsed())
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn unkeyed_forms_take_small_bodies_within_the_deadline() {
    let mut config = common::test_config();
    config.body_timeout = Duration::from_secs(1);
    let app = TestApp::spawn_with(config).await;
    for path in ["/dashboard/sign-in", "/dashboard/sign-out"] {
        // More than 8 KiB: refused, whatever the form holds.
        let big = format!("api_key={}", "k".repeat(9 * 1024));
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            big.len()
        );
        let (status, text, _) = stalled(&app.base, head, big.into_bytes()).await;
        assert_eq!(status, 413, "{path}: {text}");
        // A body that promises more than it sends: 408 at the deadline, connection closed.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n"
        );
        let (status, text, took) = stalled(&app.base, head, b"csrf=abc&api_key=".to_vec()).await;
        assert_eq!(status, 408, "{path}: {text}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "{path}: {took:?}"
        );
    }
}

#[actix_web::test]
async fn a_stalled_body_no_route_reads_does_not_hold_the_connection() {
    let mut config = common::test_config();
    config.body_timeout = Duration::from_secs(1);
    let app = TestApp::spawn_with(config).await;
    // Routes that never read a body, and a keyed route refused before its body: the server
    // answers and closes rather than waiting for bytes that never come.
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/nowhere"),
        ("POST", "/api/v1/track"),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        );
        let (status, text, took) = stalled(&app.base, head, b"{".to_vec()).await;
        assert!(status > 0, "{method} {path}: no answer: {text}");
        assert!(
            took < Duration::from_secs(5),
            "{method} {path}: held {took:?}"
        );
    }
}

#[actix_web::test]
async fn unknown_methods_are_one_label_in_the_metrics() {
    let app = TestApp::spawn().await;
    let addr = app.base.strip_prefix("http://").unwrap().to_owned();
    tokio::task::spawn_blocking(move || {
        for i in 0..300 {
            let method = format!("M{i:0>20}{}", "X".repeat(i % 7 * 100));
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = write!(
                s,
                "{method} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let _ = s.read_to_end(&mut Vec::new());
        }
    })
    .await
    .unwrap();
    let r = app
        .send(reqwest::Method::GET, "/metrics", None, &[], None)
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.text.contains("M0000"), "a raw method became a label");
    assert!(r.text.contains("method=\"OTHER\""), "{}", r.text);
    assert!(r.text.len() < 50_000, "{} bytes", r.text.len());
}

#[actix_web::test]
async fn repeated_authorization_or_idempotency_headers_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let bearer = format!("Bearer {key}");
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/track", app.base))
        .header("Authorization", &bearer)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&seed_body()).unwrap());
    req = req
        .header("Idempotency-Key", "one")
        .header("Idempotency-Key", "two");
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 422);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["field"], "Idempotency-Key", "{v}");
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/summary", app.base))
        .header("Authorization", &bearer)
        .header(
            "Authorization",
            "Bearer hh_live_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "missing_authorization", "{v}");
    assert_eq!(v["error"]["field"], "Authorization", "{v}");
    assert_eq!(app.store.count_events(&org).unwrap(), 0);
}

#[actix_web::test]
async fn invisible_format_characters_are_refused_in_ids_and_models() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    for (field, value) in [
        ("agent_id", "bot\u{202E}gpj"),
        ("agent_id", "bot\u{200B}"),
        ("agent_id", "\u{2066}bot"),
        ("model", "gpt\u{200F}-4o"),
        ("task_type", "email\u{200D}_triage"),
    ] {
        let mut body = seed_body();
        body[field] = json!(value);
        let r = app.track(&key, &body, None).await;
        assert_eq!(r.status, 422, "{field} {value:?}: {}", r.text);
        assert_eq!(r.field(), Some(field), "{}", r.text);
    }
    let r = app
        .send(
            reqwest::Method::PUT,
            "/api/v1/agents/bot%E2%80%AE1",
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(br#"{"hourly_rate": 50}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(app.store.count_events(&org).unwrap(), 0);
}

#[actix_web::test]
async fn metadata_numbers_the_backends_would_hold_differently_are_refused() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    for (raw, path) in [
        (r#"{"n": 1e99999999999999999999}"#, "metadata.n"),
        (r#"{"n": 1e-400}"#, "metadata.n"),
        (
            r#"{"deep": {"list": [1, 0.10000000000000000001]}}"#,
            "metadata.deep.list.1",
        ),
        (r#"{"id": 18446744073709551615}"#, "metadata.id"),
    ] {
        let mut text = serde_json::to_string(&seed_body()).unwrap();
        text.pop();
        text.push_str(&format!(r#","metadata":{raw}}}"#));
        let r = app
            .track_raw(
                &key,
                text.as_bytes(),
                &[("Content-Type", "application/json")],
            )
            .await;
        assert_eq!(r.status, 422, "{raw}: {}", r.text);
        assert_eq!(r.field(), Some(path), "{}", r.text);
    }
    // What both hold alike is stored, and groups.
    let mut body = seed_body();
    body["metadata"] = json!({"n": 2.5, "id": 9_007_199_254_740_993_i64});
    assert_eq!(app.track(&key, &body, None).await.status, 201);
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/reports/time-saved?group_by=metadata.n",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.store.count_events(&org).unwrap(), 1);
}

#[actix_web::test]
async fn fte_is_null_for_a_range_shorter_than_a_day() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    let now = app::clock::now();
    let fmt = |t: time::OffsetDateTime| app::clock::format_ms(t).replace(':', "%3A");
    let short = format!(
        "/api/v1/summary?from={}&to={}",
        fmt(now - time::Duration::hours(12)),
        fmt(now + time::Duration::hours(1))
    );
    let r = app
        .send(reqwest::Method::GET, &short, Some(&key), &[], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["fte_equivalent"].is_null(), "{}", r.text);
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/summary?period=24h",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert!(r.body["fte_equivalent"].is_number(), "{}", r.text);
}

#[actix_web::test]
async fn a_report_of_more_groups_than_it_answers_says_it_was_cut() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let groups = app::read::reports::MAX_ROWS + 1;
    for chunk in (0..groups).collect::<Vec<_>>().chunks(1000) {
        let events: Vec<_> = chunk
            .iter()
            .map(|i| {
                let mut e = seed_body();
                e["agent_id"] = json!(format!("agent-{i:06}"));
                e
            })
            .collect();
        let r = app
            .send(
                reqwest::Method::POST,
                "/api/v1/track/batch",
                Some(&key),
                &[("Content-Type", "application/json")],
                Some(serde_json::to_vec(&json!({ "events": events })).unwrap()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.status);
        assert_eq!(r.body["created"], chunk.len());
    }
    let get = |q: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            app.send(reqwest::Method::GET, q, Some(&key), &[], None)
                .await
        }
    };
    let r = get("/api/v1/reports/time-saved?group_by=agent").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["truncated"], true);
    assert_eq!(r.body["row_count"], groups);
    assert_eq!(r.body["rows"].as_array().unwrap().len(), groups - 1);
    // The totals still cover every event.
    assert_eq!(r.body["totals"]["events"], groups);
    let r = get("/api/v1/reports/time-saved?group_by=agent&top=10").await;
    assert_eq!(r.body["truncated"], false);
    let r = get("/api/v1/reports/time-saved?group_by=agent&format=csv").await;
    assert_eq!(r.header("humanhours-truncated"), Some("true"));
    assert_eq!(r.text.lines().count(), groups, "a header and MAX_ROWS rows");
}
