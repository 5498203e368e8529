//! Hostile input, by hand: every POST route and every GET route gets malformed bodies, huge
//! bodies, deep nesting, non-finite and out-of-range numbers, bad content types, header
//! injection, SQL metacharacters and abused query strings. Whatever comes in, the answer is
//! below 500, a 4xx is the error envelope, and what is accepted is stored verbatim.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use common::{seed_body, Reply, TestApp};
use ratelimit::Plan;
use serde_json::{json, Value};

/// Below 500, and a 4xx is exactly the envelope.
fn assert_clean(r: &Reply, what: &str) {
    assert!(r.status < 500, "{what}: {} {}", r.status, r.text);
    if r.status >= 400 {
        let e = &r.body["error"];
        assert!(
            r.body.as_object().is_some_and(|o| o.len() == 1)
                && e["code"].is_string()
                && e["message"].is_string(),
            "{what}: {} is not the envelope: {}",
            r.status,
            r.text
        );
    }
}

/// A valid body for each POST route, by path.
fn routes() -> Vec<(reqwest::Method, &'static str, Value)> {
    vec![
        (reqwest::Method::POST, "/api/v1/track", seed_body()),
        (
            reqwest::Method::POST,
            "/api/v1/track/batch",
            json!({"events": [seed_body()]}),
        ),
        (reqwest::Method::POST, "/api/v1/track/validate", seed_body()),
        (
            reqwest::Method::POST,
            "/api/v1/task-types",
            json!({"key": "contract_review_x", "display_name": "Contract review", "default_baseline_minutes": 30}),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/task-types/ticket_routing/override",
            json!({"baseline_minutes_override": 5, "reason": "measured"}),
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/agents/bot-1",
            json!({"hourly_rate": 60}),
        ),
    ]
}

async fn send_raw(
    app: &TestApp,
    key: &str,
    method: &reqwest::Method,
    path: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> Reply {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| vec![("Content-Type", ct)])
        .unwrap_or_default();
    app.send(method.clone(), path, Some(key), &headers, Some(body))
        .await
}

const JSON: Option<&str> = Some("application/json");

#[actix_web::test]
async fn malformed_and_oversized_bodies_on_every_post_route() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let deep_array = format!("{{\"metadata\": {}}}", "[".repeat(10_000));
    let deep_object = format!(
        "{}{}",
        "{\"metadata\": ".to_owned() + &"{\"a\": ".repeat(10_000),
        "1".to_owned() + &"}".repeat(10_001)
    );
    let ten_mb = {
        let mut v = b"{\"agent_id\": \"".to_vec();
        v.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        v.extend(b"\"}");
        v
    };
    for (method, path, _) in routes() {
        for (what, body) in [
            ("invalid UTF-8", b"\xff\xfe{}".to_vec()),
            (
                "invalid UTF-8 inside a string",
                b"{\"agent_id\": \"\xc3\x28\", \"hourly_rate\": 1}".to_vec(),
            ),
            (
                "lone surrogate escape",
                br#"{"agent_id": "\ud800"}"#.to_vec(),
            ),
            ("empty", Vec::new()),
            ("truncated", b"{\"agent_id\": ".to_vec()),
            ("not an object", b"[1, 2, 3]".to_vec()),
            ("10,000 levels of [", deep_array.clone().into_bytes()),
            ("10,000 levels of {", deep_object.clone().into_bytes()),
            ("trailing garbage", b"{} {}".to_vec()),
            ("NUL bytes", b"{\"a\":\x00}".to_vec()),
        ] {
            let r = send_raw(&app, &key, &method, path, body, JSON).await;
            assert_clean(&r, &format!("{method} {path}: {what}"));
            assert!(r.status >= 400, "{method} {path}: {what} was accepted");
        }
        // 10 MB: read to its end and answered 413 in the envelope, not a reset connection.
        let r = send_raw(&app, &key, &method, path, ten_mb.clone(), JSON).await;
        assert_eq!(
            (r.status, r.code()),
            (413, "payload_too_large"),
            "{method} {path}"
        );
    }
    assert_eq!(app.store.count_events(&org).unwrap(), 0);
}

#[actix_web::test]
async fn content_types_on_every_post_route() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    for (i, (method, path, body)) in routes().into_iter().enumerate() {
        let bytes = |b: &Value| serde_json::to_vec(b).unwrap();
        let mut body = body;
        if path == "/api/v1/task-types" {
            body["key"] = json!(format!("custom_{i}_{}", 0));
        }
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "",
            "json",
            ";;;",
        ] {
            let r = send_raw(&app, &key, &method, path, bytes(&body), Some(ct)).await;
            assert_eq!(
                (r.status, r.code()),
                (415, "unsupported_media_type"),
                "{method} {path} as {ct:?}: {}",
                r.text
            );
        }
        // No Content-Type is taken as JSON; so are parameters and +json types.
        for (n, ct) in [
            None,
            Some("application/json; charset=utf-8"),
            Some("APPLICATION/JSON"),
            Some("application/vnd.humanhours+json"),
        ]
        .into_iter()
        .enumerate()
        {
            if path == "/api/v1/task-types" {
                body["key"] = json!(format!("custom_ct_{n}"));
            }
            let r = send_raw(&app, &key, &method, path, bytes(&body), ct).await;
            assert_clean(&r, &format!("{method} {path} as {ct:?}"));
            assert!(
                r.status < 300,
                "{method} {path} as {ct:?}: {} {}",
                r.status,
                r.text
            );
        }
    }
}

/// Each numeric field of each body, as (route index, JSON pointer-ish path).
fn numeric_fields() -> Vec<(usize, &'static [&'static str])> {
    vec![
        (0, &["agent_duration_seconds"]),
        (0, &["agent_cost"]),
        (0, &["human_baseline_minutes"]),
        (0, &["tokens_in"]),
        (0, &["tokens_out"]),
        (0, &["audit_sample", "tokens_in"]),
        (0, &["audit_sample", "tokens_out"]),
        (1, &["events", "0", "agent_duration_seconds"]),
        (1, &["events", "0", "tokens_in"]),
        (2, &["agent_cost"]),
        (2, &["human_baseline_minutes"]),
        (2, &["tokens_out"]),
        (3, &["default_baseline_minutes"]),
        (4, &["baseline_minutes_override"]),
        (5, &["hourly_rate"]),
    ]
}

/// Writes raw number text at `at` in the JSON text of `body` (serde cannot hold NaN).
fn with_raw_number(body: &Value, at: &[&str], text: &str) -> Vec<u8> {
    const MARK: &str = "__number_goes_here__";
    let mut b = body.clone();
    let mut slot = &mut b;
    for (i, k) in at.iter().enumerate() {
        if i + 1 == at.len() {
            break;
        }
        slot = match k.parse::<usize>() {
            Ok(n) => &mut slot[n],
            Err(_) => {
                if slot.get(*k).is_none() {
                    slot[*k] = json!({});
                }
                &mut slot[*k]
            }
        };
    }
    slot[*at.last().unwrap()] = json!(MARK);
    serde_json::to_string(&b)
        .unwrap()
        .replace(&format!("\"{MARK}\""), text)
        .into_bytes()
}

#[actix_web::test]
async fn non_finite_huge_tiny_and_negative_numbers_in_every_numeric_field() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let routes = routes();
    let mut accepted = 0;
    for (route, at) in numeric_fields() {
        let (method, path, body) = &routes[route];
        for text in [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            "-1e400",
            "1e-400",
            "-0",
            "-0.0",
            "0e999999999",
            "-1",
            "18446744073709551616",
            "1e30",
            "1000000000001",
            "0.1e-99999999999999999999",
            "123456789012345678901234567890.123456789",
            "\"4\"",
            "true",
            "[]",
            "{}",
        ] {
            let r = app
                .send(
                    method.clone(),
                    path,
                    Some(&key),
                    &[("Content-Type", "application/json")],
                    Some(with_raw_number(body, at, text)),
                )
                .await;
            let what = format!("{method} {path} {} = {text}", at.join("."));
            assert_clean(&r, &what);
            if r.status < 300 {
                accepted += 1;
                // Only zero may pass (as 0, never -0), or a batch answering per item.
                let t = r.text.clone();
                assert!(!t.contains(":-0,") && !t.contains(":-0}"), "{what}: {t}");
            }
            if path.ends_with("/batch") && r.status == 200 {
                let item = &r.body["results"][0];
                if item["status"] == "error" {
                    assert_eq!(item["error"]["code"], "validation_error", "{what}");
                }
            }
        }
    }
    assert!(
        accepted > 0,
        "-0 and friends are zero and accepted somewhere"
    );
    // Whatever was accepted is readable again.
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
    assert_eq!(
        r.body["events"].as_i64().unwrap(),
        app.store.count_events(&org).unwrap()
    );
}

/// One raw HTTP/1.1 exchange over TCP (for bytes reqwest refuses to send), off the test's
/// runtime thread, which the server also needs. Returns the status and the body, or None when
/// the connection closed without an answer.
async fn raw_http(base: &str, request: Vec<u8>) -> Option<(u16, String)> {
    let base = base.to_owned();
    tokio::task::spawn_blocking(move || raw_http_blocking(&base, &request))
        .await
        .unwrap()
}

fn raw_http_blocking(base: &str, request: &[u8]) -> Option<(u16, String)> {
    let addr = base.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

#[actix_web::test]
async fn header_injection_in_idempotency_key() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let body = seed_body().to_string();
    let request = |idem: &[u8]| {
        let mut r = format!(
            "POST /api/v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\nIdempotency-Key: ",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(idem);
        r.extend_from_slice(b"\r\n\r\n");
        r.extend_from_slice(body.as_bytes());
        r
    };
    // Values HTTP lets through reach the handler, which refuses them in the envelope.
    for idem in [
        &b"tab\there"[..],
        b"caf\xc3\xa9",
        b"\xff\xfe",
        b"sp ace",
        b"",
        &[b'k'; 300][..],
    ] {
        let (status, text) = raw_http(&app.base, request(idem)).await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some("Idempotency-Key")),
            "{:?}: {text}",
            String::from_utf8_lossy(idem)
        );
    }
    // CR, LF and NUL inside a header value are malformed HTTP: the HTTP layer refuses the
    // request (400) before any route runs, and nothing is stored.
    for idem in [&b"a\rb"[..], b"a\x00b", b"a\r\rX-Evil: 1"] {
        if let Some((status, _)) = raw_http(&app.base, request(idem)).await {
            assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(idem));
        }
    }
    // CRLF ends the header: what follows is another header, not part of the key. The key
    // is the text before it, and the smuggled header changes nothing.
    let (status, text) = raw_http(&app.base, request(b"inj-1\r\nX-Injected: yes"))
        .await
        .unwrap();
    assert_eq!(status, 201, "{text}");
    let replay = app.track(&key, &seed_body(), Some("inj-1")).await;
    assert_eq!(replay.status, 200, "the key was 'inj-1': {}", replay.text);
    assert_eq!(app.store.count_events(&org).unwrap(), 1);
    // The server still answers.
    let r = app.track(&key, &seed_body(), None).await;
    assert_eq!(r.status, 201);
}

const NASTY: [&str; 8] = [
    "'; DROP TABLE events; --",
    "\"",
    "\\",
    "%",
    "_",
    "a\u{0}b",
    "' OR '1'='1",
    "Robert'); DELETE FROM agents; --",
];

#[actix_web::test]
async fn sql_metacharacters_are_stored_verbatim_or_refused() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let (other_org, other_key) = app.org(Plan::Pro);
    // A neighbour whose data a '%' or '_' pattern would match if anything used LIKE.
    assert_eq!(app.track(&other_key, &seed_body(), None).await.status, 201);
    let track_ok = app.track(&key, &seed_body(), None).await;
    assert_eq!(track_ok.status, 201);

    let mut stored_agents = vec!["support-bot".to_owned()];
    for (n, s) in NASTY.iter().enumerate() {
        // /track: every string field.
        let mut body = seed_body();
        body["agent_id"] = json!(s);
        body["model"] = json!(s);
        body["metadata"] = json!({ *s: s, "client": s, "nested": [s, {"k": s}] });
        body["audit_sample"] = json!({"input_excerpt": s, "output_excerpt": s, "model": s});
        let idem = format!("idem-{n}-{s}").replace(['\u{0}', ' '], "0");
        let r = app.track(&key, &body, Some(&idem)).await;
        assert_clean(&r, &format!("/track with {s:?}"));
        if s.contains('\u{0}') {
            assert_eq!(
                (r.status, r.code()),
                (422, "validation_error"),
                "NUL in agent_id"
            );
        } else {
            assert_eq!(r.status, 201, "{s:?}: {}", r.text);
            assert_eq!(r.body["agent_id"], json!(s));
            assert_eq!(r.body["model"], json!(s));
            let row = app
                .store
                .get_event(&org, r.body["event_id"].as_str().unwrap())
                .unwrap()
                .unwrap();
            assert_eq!(row.agent_id, *s);
            assert_eq!(row.model.as_deref(), Some(*s));
            let meta: Value = serde_json::from_str(row.metadata.as_deref().unwrap()).unwrap();
            assert_eq!(meta, body["metadata"]);
            let audit: Value = serde_json::from_str(row.audit_sample.as_deref().unwrap()).unwrap();
            assert_eq!(audit["input_excerpt"], json!(s));
            stored_agents.push(s.to_string());
        }
        // Metadata and the audit sample keep the text verbatim, except a NUL in metadata,
        // which PostgreSQL's JSON cannot hold: refused on both backends alike.
        let mut body = seed_body();
        body["metadata"] = json!({ *s: s });
        body["audit_sample"] = json!({"input_excerpt": s});
        let r = app.track(&key, &body, None).await;
        if s.contains('\u{0}') {
            assert_eq!(
                (r.status, r.code(), r.field()),
                (422, "validation_error", Some("metadata")),
                "{}",
                r.text
            );
        } else {
            assert_eq!(r.status, 201, "metadata {s:?}: {}", r.text);
        }
        // Task types named in the path: never sent to the database unless they could exist.
        let encoded: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
        for (method, path) in [
            (
                reqwest::Method::POST,
                format!("/api/v1/task-types/{encoded}/override"),
            ),
            (
                reqwest::Method::DELETE,
                format!("/api/v1/task-types/{encoded}/override"),
            ),
            (
                reqwest::Method::DELETE,
                format!("/api/v1/task-types/{encoded}"),
            ),
        ] {
            let r = app
                .send(
                    method.clone(),
                    &path,
                    Some(&key),
                    &[("Content-Type", "application/json")],
                    Some(br#"{"baseline_minutes_override": 4}"#.to_vec()),
                )
                .await;
            assert_eq!(
                (r.status, r.code()),
                (404, "not_found"),
                "{method} {s:?}: {}",
                r.text
            );
        }
        // Fields with a grammar refuse them: task_type, outcome, occurred_at.
        for field in ["task_type", "outcome", "occurred_at"] {
            let mut body = seed_body();
            body[field] = json!(s);
            let r = app.track(&key, &body, None).await;
            assert_eq!(
                (r.status, r.code(), r.field()),
                (422, "validation_error", Some(field)),
                "{field} = {s:?}"
            );
        }
        // Task types: the key and category have a grammar; the texts are kept verbatim.
        let r = app
            .send(
                reqwest::Method::POST,
                "/api/v1/task-types",
                Some(&key),
                &[("Content-Type", "application/json")],
                Some(
                    json!({"key": s, "display_name": "x", "default_baseline_minutes": 3})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await;
        assert_eq!((r.status, r.field()), (422, Some("key")), "{s:?}");
        let key_name = format!("nasty_{n}");
        let r = app
            .send(
                reqwest::Method::POST,
                "/api/v1/task-types",
                Some(&key),
                &[("Content-Type", "application/json")],
                Some(
                    json!({"key": key_name, "display_name": s, "baseline_source": s, "default_baseline_minutes": 3})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await;
        assert_clean(&r, &format!("task type texts {s:?}"));
        if s.contains('\u{0}') {
            assert_eq!(r.status, 422);
        } else {
            assert_eq!(r.status, 201, "{s:?}: {}", r.text);
            assert_eq!(
                (&r.body["display_name"], &r.body["baseline_source"]),
                (&json!(s), &json!(s))
            );
        }
        // Override reason.
        let r = app
            .send(
                reqwest::Method::POST,
                "/api/v1/task-types/ticket_routing/override",
                Some(&key),
                &[("Content-Type", "application/json")],
                Some(
                    json!({"baseline_minutes_override": 4, "reason": s})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await;
        assert_clean(&r, &format!("override reason {s:?}"));
        if !s.contains('\u{0}') {
            assert_eq!(r.body["override"]["reason"], json!(s), "{}", r.text);
        }
        // Agent ids in the path (percent-encoded).
        let r = app
            .send(
                reqwest::Method::PUT,
                &format!("/api/v1/agents/{encoded}"),
                Some(&key),
                &[("Content-Type", "application/json")],
                Some(br#"{"hourly_rate": 50}"#.to_vec()),
            )
            .await;
        assert_clean(&r, &format!("PUT /agents/{s:?}"));
        if !s.contains('\u{0}') {
            assert_eq!(r.body["agent_id"], json!(s), "{}", r.text);
        }
        // And as a filter: an exact match, never a pattern.
        let r = app
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/reports/time-saved?group_by=agent&agent_id={encoded}"),
                Some(&key),
                &[],
                None,
            )
            .await;
        assert_clean(&r, &format!("filter agent_id={s:?}"));
        if s.contains('\u{0}') {
            assert_eq!((r.status, r.field()), (422, Some("agent_id")), "{}", r.text);
        } else {
            assert_eq!(r.status, 200, "{}", r.text);
            let rows = r.body["rows"].as_array().unwrap();
            assert_eq!(rows.len(), 1, "{s:?}: {}", r.text);
            assert_eq!(rows[0]["agent"], json!(s), "{s:?} matched another agent");
        }
    }
    // The tables are all still there, and the neighbour is untouched.
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/agents",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let mut listed: Vec<String> = r.body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent_id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    for a in &stored_agents {
        assert!(listed.contains(a), "{a:?} missing from {listed:?}");
    }
    assert_eq!(app.store.count_events(&other_org).unwrap(), 1);
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/summary",
            Some(&other_key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.body["events"], 1);
    for path in [
        "/api/v1/reports/time-saved?group_by=client",
        "/api/v1/reports/time-saved?group_by=model,metadata.client",
        "/api/v1/reports/cost-saved?group_by=agent&format=csv",
        "/api/v1/task-types",
        "/api/v1/reports/usage",
    ] {
        let r = app
            .send(reqwest::Method::GET, path, Some(&key), &[], None)
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
}

#[actix_web::test]
async fn query_string_abuse_on_every_get_route() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let mut body = seed_body();
    body["metadata"] = json!({"team": "a", "client": "c", "big": 1e300, "deep": [[[{"x": null}]]]});
    assert_eq!(app.track(&key, &body, None).await.status, 201);
    let long = "a".repeat(10_000);
    let commas = ",".repeat(1_000);
    let abuses: Vec<String> = vec![
        "".into(),
        "?".into(),
        "?&&&=&=".into(),
        "?period=%ZZ".into(),
        "?period=%FF%FE".into(),
        "?period=%00".into(),
        "?period=30d&period=7d".into(),
        "?period=../../etc/passwd".into(),
        format!("?period={long}"),
        "?from=0000-01-01T00:00:00Z&to=9999-12-31T23:59:59Z".into(),
        "?from=9999-12-31T23:59:59Z".into(),
        "?to=0000-01-01T00:00:00Z".into(),
        "?from=2026-01-01T00:00:00%2B23:59&to=2026-01-02T00:00:00-23:59".into(),
        "?from=-1".into(),
        "?from=2026-02-30T00:00:00Z".into(),
        "?from=2026-01-01T00:00:60Z".into(),
        "?tz=../../../etc/passwd".into(),
        "?tz=%00".into(),
        "?tz=America/Argentina/ComodRivadavia".into(),
        "?tz=UTC%2B5".into(),
        format!("?tz={long}"),
        format!("?agent_id={long}"),
        "?agent_id=%27%20OR%201%3D1%20--".into(),
        "?task_type=%25".into(),
        "?group_by=".into(),
        format!("?group_by={commas}"),
        "?group_by=agent,agent".into(),
        "?group_by=day,week".into(),
        "?group_by=metadata.".into(),
        "?group_by=metadata.%27%3BDROP%20TABLE%20events".into(),
        "?group_by=metadata.deep,metadata.big,metadata.team,client".into(),
        format!("?group_by=metadata.{long}"),
        "?group_by=agent,task_type,model,outcome,client".into(),
        "?group_by=day&period=all&tz=Pacific/Kiritimati".into(),
        "?group_by=day&from=1970-01-01T00:00:00Z&to=2100-01-01T00:00:00Z".into(),
        "?top=0".into(),
        "?top=-1".into(),
        "?top=1e9".into(),
        "?top=99999999999999999999".into(),
        "?top=10001".into(),
        "?sort=%27".into(),
        "?metric=events&top=1".into(),
        "?format=xml".into(),
        "?format=csv&group_by=metadata.client".into(),
        "?category=%27%3B--".into(),
    ];
    let routes = [
        "/api/v1/summary",
        "/api/v1/reports/time-saved",
        "/api/v1/reports/cost-saved",
        "/api/v1/reports/leaderboard",
        "/api/v1/reports/export",
        "/api/v1/reports/usage",
        "/api/v1/agents",
        "/api/v1/task-types",
        "/v1/summary",
    ];
    for route in routes {
        for q in &abuses {
            let r = app
                .send(
                    reqwest::Method::GET,
                    &format!("{route}{q}"),
                    Some(&key),
                    &[],
                    None,
                )
                .await;
            let shown: String = q.chars().take(80).collect();
            assert_clean(&r, &format!("GET {route}{shown}"));
        }
    }
}

/// Regression (PostgreSQL): a NUL in metadata reached the `client` column and the reports'
/// `jsonb` casts, and a NUL in a filter or a task-type path reached a query: 500s. Now each is
/// refused before the database, on both backends alike.
#[actix_web::test]
async fn a_nul_character_never_reaches_the_database() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    for (metadata, field) in [
        (json!({"client": "a\u{0}b"}), "metadata.client"),
        (json!({"x": [1, {"y": "\u{0}"}]}), "metadata.x.1.y"),
        (json!({"k\u{0}": 1}), "metadata"),
    ] {
        let mut body = seed_body();
        body["metadata"] = metadata;
        let r = app.track(&key, &body, None).await;
        assert_eq!(
            (r.status, r.code(), r.field()),
            (422, "validation_error", Some(field)),
            "{}",
            r.text
        );
    }
    for param in ["agent_id", "task_type"] {
        let r = app
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/summary?{param}=a%00b"),
                Some(&key),
                &[],
                None,
            )
            .await;
        assert_eq!((r.status, r.field()), (422, Some(param)), "{}", r.text);
    }
    let r = app
        .send(
            reqwest::Method::DELETE,
            "/api/v1/task-types/a%00b",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.text);
    // Metadata reports still work over what was stored.
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/reports/time-saved?group_by=metadata.client,client",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.store.count_events(&org).unwrap(), 1);
}

/// Regression: actix decodes a path lossily, so `PUT /agents/%FF` created the agent "\u{FFFD}"
/// (and `?agent_id=%FF` filtered by it): another id than the one sent. Both are refused now.
#[actix_web::test]
async fn ids_that_are_not_utf8_once_decoded_are_refused_not_replaced() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    for path in [
        "/api/v1/agents/%FF",
        "/api/v1/agents/a%C3%28b",
        "/v1/agents/%ED%A0%80",
    ] {
        let r = app
            .send(
                reqwest::Method::PUT,
                path,
                Some(&key),
                &[("Content-Type", "application/json")],
                Some(br#"{"hourly_rate": 50}"#.to_vec()),
            )
            .await;
        assert_eq!(
            (r.status, r.code(), r.field()),
            (422, "validation_error", Some("agent_id")),
            "{path}: {}",
            r.text
        );
    }
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/agents",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.body["agents"], json!([]), "no agent was created");
    // Valid UTF-8, percent-encoded, is kept exactly.
    let r = app
        .send(
            reqwest::Method::PUT,
            "/api/v1/agents/caf%C3%A9%20bot",
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(br#"{"hourly_rate": 50}"#.to_vec()),
        )
        .await;
    assert_eq!((r.status, &r.body["agent_id"]), (200, &json!("café bot")));
    for path in [
        "/api/v1/summary?agent_id=%FF",
        "/api/v1/task-types?category=%C3",
    ] {
        let r = app
            .send(reqwest::Method::GET, path, Some(&key), &[], None)
            .await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation_error"),
            "{path}: {}",
            r.text
        );
    }
}

#[actix_web::test]
async fn a_body_that_stalls_is_cut_off_at_the_deadline_with_408() {
    let mut config = common::test_config();
    config.body_timeout = Duration::from_secs(1);
    let app = TestApp::spawn_with(config).await;
    let (org, key) = app.org(Plan::Enterprise);
    // Headers and the start of a body that promises more, then nothing: the connection would
    // otherwise hold its place (and its buffer) for as long as the client likes.
    let start = b"{\"agent_id\": \"slow\", ";
    let mut request = format!(
        "POST /api/v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(start);
    let started = app::clock::instant();
    let (status, body) = raw_http(&app.base, request)
        .await
        .expect("an answer, then the connection closed");
    let took = started.elapsed();
    assert_eq!(status, 408, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "request_timeout", "{body}");
    // Answered at the deadline (1 s), not when the client gives up (raw_http waits 10 s), and
    // the connection was closed by the server (read_to_end returned).
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(app.store.count_events(&org).unwrap(), 0);
}
