//! Webhooks (API.md §9) through the real server and a real receiver on 127.0.0.1: endpoints
//! API, signed deliveries whose data is the 201 body byte for byte, agent.first_event, health
//! (410, 20 failed deliveries), retries at their scheduled time on a driven clock, recover,
//! redeliver, rotation, address checks at connect time, and bad input.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::receiver::{assert_signed, Receiver};
use common::{seed_body, test_config, TestApp};
use ratelimit::Plan;
use reqwest::Method;
use serde_json::{json, Value};

/// A server whose webhook worker may reach 127.0.0.1 and looks at the outbox often.
fn config(jobs: bool) -> app::ServerConfig {
    let mut c = test_config();
    c.webhooks.allow_nets = webhooks::address::AllowNets::parse("127.0.0.1/32").unwrap();
    c.webhooks.poll_interval = Duration::from_millis(50);
    if !jobs {
        c.jobs.mode = app::background::JobsMode::Off;
    }
    c
}

async fn post(app: &TestApp, key: &str, path: &str, body: Value) -> common::Reply {
    app.send(
        Method::POST,
        path,
        Some(key),
        &[("Content-Type", "application/json")],
        Some(serde_json::to_vec(&body).unwrap()),
    )
    .await
}

async fn get(app: &TestApp, key: &str, path: &str) -> common::Reply {
    app.send(Method::GET, path, Some(key), &[], None).await
}

async fn endpoint(app: &TestApp, key: &str, url: &str, types: &[&str]) -> (String, String) {
    let r = post(
        app,
        key,
        "/api/v1/webhooks",
        json!({"url": url, "event_types": types, "description": "test receiver"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (
        r.body["id"].as_str().unwrap().to_owned(),
        r.body["secret"].as_str().unwrap().to_owned(),
    )
}

/// Waits until `n` of the endpoint's deliveries are no longer pending (the worker records
/// results a few milliseconds after they arrive).
async fn settled(app: &TestApp, key: &str, id: &str, n: usize) {
    for _ in 0..250 {
        let page = get(app, key, &format!("/api/v1/webhooks/{id}/deliveries")).await;
        let done = page.body["deliveries"].as_array().map_or(0, |ds| {
            ds.iter().filter(|d| d["status"] != "pending").count()
        });
        if done >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("deliveries of {id} did not settle");
}

/// The raw `data` of a webhook body.
fn raw_data(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Msg<'a> {
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
    }
    let m: Msg = serde_json::from_slice(body).unwrap();
    m.data.get().to_owned()
}

#[actix_web::test]
async fn every_tracked_event_arrives_signed_with_its_201_body() {
    let app = TestApp::spawn_with(config(true)).await;
    let rx = Receiver::start(200).await;
    let (org, key) = app.org(Plan::Pro);
    let (id, secret) = endpoint(&app, &key, &rx.url("/hook"), &["event.created"]).await;
    assert!(id.starts_with("wh_") && secret.starts_with("whsec_"));

    // One event, then its replay (fires nothing), then a batch of three.
    let first = app.track(&key, &seed_body(), Some("k-1")).await;
    assert_eq!(first.status, 201);
    let replay = app.track(&key, &seed_body(), Some("k-1")).await;
    assert_eq!(replay.status, 200);
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"agent_id": format!("bot-{i}"), "task_type": "email_classification", "outcome": "success"}))
        .collect();
    let batch = post(&app, &key, "/api/v1/track/batch", json!({"events": items})).await;
    assert_eq!(batch.body["created"], 3, "{}", batch.text);

    let got = rx.wait_for(4, 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_after = rx.received();
    assert_eq!(
        got_after.len(),
        4,
        "one message per new event, none for the replay"
    );
    let _ = got;

    // The expected data, byte for byte: the single 201 body and each batch item's event.
    #[derive(serde::Deserialize)]
    struct Item<'a> {
        #[serde(borrow)]
        event: &'a serde_json::value::RawValue,
    }
    #[derive(serde::Deserialize)]
    struct Batch<'a> {
        #[serde(borrow)]
        results: Vec<Item<'a>>,
    }
    let b: Batch = serde_json::from_str(&batch.text).unwrap();
    let mut want: Vec<String> = b.results.iter().map(|i| i.event.get().to_owned()).collect();
    want.push(first.text.clone());
    want.sort();
    let mut have: Vec<String> = got_after.iter().map(|r| raw_data(&r.body)).collect();
    have.sort();
    assert_eq!(have, want);

    let mut ids = Vec::new();
    for r in &got_after {
        let (a, b) = assert_signed(r, &secret);
        assert_eq!((a, b), (1, 1));
        let m = r.json();
        assert_eq!(m["type"], "event.created");
        assert_eq!(m["org_id"], org.as_str());
        assert_eq!(m["id"].as_str().unwrap(), r.header("webhook-id"));
        assert!(m["id"].as_str().unwrap().starts_with("whmsg_"));
        assert!(m["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.header("user-agent").starts_with("humanhours/"));
        assert_eq!(r.path, "/hook");
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every message has its own id");

    // The deliveries API shows them, succeeded, with one 200 attempt each.
    settled(&app, &key, &id, 4).await;
    let page = get(&app, &key, &format!("/api/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let ds = page.body["deliveries"].as_array().unwrap();
    assert_eq!(ds.len(), 4);
    for d in ds {
        assert_eq!(d["status"], "succeeded", "{d}");
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
        assert_eq!(d["attempts"][0]["status_code"], 200);
        assert_eq!(d["attempts"][0]["response_body"], "receiver answered 200");
    }
    let metrics = app.send(Method::GET, "/metrics", None, &[], None).await;
    assert!(
        metrics
            .text
            .contains("humanhours_webhook_deliveries_total{outcome=\"delivered\"} 4"),
        "metrics"
    );
    assert!(metrics.text.contains("humanhours_webhook_queue_depth 0"));
}

#[actix_web::test]
async fn agent_first_event_fires_once_per_new_agent() {
    let app = TestApp::spawn_with(config(true)).await;
    let rx = Receiver::start(204).await;
    let (_org, key) = app.org(Plan::Enterprise);
    endpoint(&app, &key, &rx.url("/agents"), &["agent.first_event"]).await;
    let body = |agent: &str| json!({"agent_id": agent, "task_type": "email_classification", "outcome": "success"});
    // `beta` exists before its first event (its rate set by PUT): that is not an event.
    let r = app
        .send(
            Method::PUT,
            "/api/v1/agents/beta",
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(br#"{"hourly_rate": 60}"#.to_vec()),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    // Two events of `alpha` in one batch, one more alone, one of `beta`.
    let batch = post(
        &app,
        &key,
        "/api/v1/track/batch",
        json!({"events": [body("alpha"), body("alpha")]}),
    )
    .await;
    assert_eq!(batch.body["created"], 2);
    assert_eq!(app.track(&key, &body("alpha"), None).await.status, 201);
    let beta = app.track(&key, &body("beta"), None).await;
    assert_eq!(beta.status, 201);
    assert_eq!(app.track(&key, &body("beta"), None).await.status, 201);
    rx.wait_for(2, 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = rx.received();
    assert_eq!(got.len(), 2, "one per agent");
    let mut agents: Vec<String> = got
        .iter()
        .map(|r| {
            let m = r.json();
            assert_eq!(m["type"], "agent.first_event");
            assert_eq!(m["data"]["event"]["agent_id"], m["data"]["agent_id"]);
            m["data"]["agent_id"].as_str().unwrap().to_owned()
        })
        .collect();
    agents.sort();
    assert_eq!(agents, ["alpha", "beta"]);
    let beta_msg = got
        .iter()
        .find(|r| r.json()["data"]["agent_id"] == "beta")
        .unwrap();
    assert_eq!(
        raw_data(&beta_msg.body),
        format!("{{\"agent_id\":\"beta\",\"event\":{}}}", beta.text)
    );
}

#[actix_web::test]
async fn the_endpoints_api_checks_its_input_and_plans() {
    let app = TestApp::spawn_with(config(true)).await;
    let rx = Receiver::start(200).await;
    let (_, free) = app.org(Plan::Free);
    let r = post(
        &app,
        &free,
        "/api/v1/webhooks",
        json!({"url": rx.url("/"), "event_types": ["event.created"]}),
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "feature_locked"));
    assert_eq!(get(&app, &free, "/api/v1/webhooks").await.status, 403);

    let (_, key) = app.org(Plan::Pro);
    for (body, field) in [
        (json!({"event_types": ["event.created"]}), "url"),
        (
            json!({"url": "ftp://example.com/", "event_types": ["event.created"]}),
            "url",
        ),
        (
            json!({"url": "http://169.254.169.254/latest", "event_types": ["event.created"]}),
            "url",
        ),
        (
            json!({"url": "http://10.0.0.1/", "event_types": ["event.created"]}),
            "url",
        ),
        (
            json!({"url": "https://u:p@example.com/", "event_types": ["event.created"]}),
            "url",
        ),
        (
            json!({"url": rx.url("/"), "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": rx.url("/"), "event_types": ["webhook.ping"]}),
            "event_types",
        ),
        (
            json!({"url": rx.url("/"), "event_types": "event.created"}),
            "event_types",
        ),
        (
            json!({"url": rx.url("/"), "event_types": ["event.created"], "secret": "x"}),
            "secret",
        ),
        (
            json!({"url": rx.url("/"), "event_types": ["event.created"], "description": "a".repeat(501)}),
            "description",
        ),
        (json!({"url": 5, "event_types": ["event.created"]}), "url"),
    ] {
        let r = post(&app, &key, "/api/v1/webhooks", body.clone()).await;
        assert_eq!(
            (r.status, r.code(), r.field()),
            (422, "validation_error", Some(field)),
            "{body}: {}",
            r.text
        );
    }
    assert_eq!(
        get(&app, &key, "/api/v1/webhooks").await.body["webhooks"],
        json!([]),
        "nothing written"
    );

    // Ten at most.
    for _ in 0..10 {
        endpoint(&app, &key, &rx.url("/"), &["event.created"]).await;
    }
    let r = post(
        &app,
        &key,
        "/api/v1/webhooks",
        json!({"url": rx.url("/"), "event_types": ["event.created"]}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let list = get(&app, &key, "/api/v1/webhooks").await;
    let eps = list.body["webhooks"].as_array().unwrap();
    assert_eq!(eps.len(), 10);
    assert!(
        eps.iter().all(|e| e.get("secret").is_none()),
        "secrets are shown once"
    );

    // Another org sees none of them.
    let (_, other) = app.org(Plan::Pro);
    let id = eps[0]["id"].as_str().unwrap();
    for (m, path) in [
        (Method::GET, format!("/api/v1/webhooks/{id}")),
        (Method::DELETE, format!("/api/v1/webhooks/{id}")),
        (Method::POST, format!("/api/v1/webhooks/{id}/test")),
        (Method::POST, format!("/api/v1/webhooks/{id}/rotate-secret")),
        (Method::GET, format!("/api/v1/webhooks/{id}/deliveries")),
    ] {
        let r = app.send(m.clone(), &path, Some(&other), &[], None).await;
        assert_eq!(r.status, 404, "{m} {path}");
    }

    // PATCH: fields checked, unknown ones refused, the change kept.
    let patch = |body: Value| {
        let app = &app;
        let key = key.clone();
        let path = format!("/api/v1/webhooks/{id}");
        async move {
            app.send(
                Method::PATCH,
                &path,
                Some(&key),
                &[("Content-Type", "application/json")],
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await
        }
    };
    assert_eq!(
        patch(json!({"enabled": "yes"})).await.field(),
        Some("enabled")
    );
    assert_eq!(
        patch(json!({"url": "http://[::1]/"})).await.field(),
        Some("url")
    );
    assert_eq!(
        patch(json!({"colour": "red"})).await.field(),
        Some("colour")
    );
    let r = patch(
        json!({"event_types": ["agent.first_event", "event.created"], "description": "both"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["event_types"],
        json!(["event.created", "agent.first_event"])
    );
    assert_eq!(r.body["description"], "both");

    // Deliveries: parameters checked.
    for q in [
        "status=done",
        "limit=0",
        "limit=101",
        "cursor=abc",
        "colour=red",
    ] {
        let r = get(&app, &key, &format!("/api/v1/webhooks/{id}/deliveries?{q}")).await;
        assert_eq!(r.status, 422, "{q}: {}", r.text);
    }
    let r = post(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/recover"),
        json!({"since": "yesterday"}),
    )
    .await;
    assert_eq!(r.field(), Some("since"));
    let r = post(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/deliveries/whdel_nope/redeliver"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        get(&app, &key, &format!("/api/v1/webhooks/{id}"))
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn a_url_that_resolves_only_to_refused_addresses_is_422() {
    // No allowed networks: localhost (127.0.0.1, ::1) is refused when saved.
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let r = post(
        &app,
        &key,
        "/api/v1/webhooks",
        json!({"url": "http://localhost:9/", "event_types": ["event.created"]}),
    )
    .await;
    assert_eq!((r.status, r.field()), (422, Some("url")), "{}", r.text);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{}",
        r.text
    );
    let r = post(
        &app,
        &key,
        "/api/v1/webhooks",
        json!({"url": "http://127.0.0.1:9/", "event_types": ["event.created"]}),
    )
    .await;
    assert_eq!((r.status, r.field()), (422, Some("url")), "{}", r.text);
    assert_eq!(
        get(&app, &key, "/api/v1/webhooks").await.body["webhooks"],
        json!([]),
        "nothing written"
    );
}

#[actix_web::test]
async fn gone_disables_recover_resends_rotation_signs_with_both() {
    let app = TestApp::spawn_with(config(true)).await;
    let rx = Receiver::start(200).await;
    let (_, key) = app.org(Plan::Pro);
    let (id, old_secret) = endpoint(&app, &key, &rx.url("/in"), &["event.created"]).await;

    // A ping arrives whatever the subscriptions.
    let ping = post(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/test"),
        json!({}),
    )
    .await;
    assert_eq!(ping.status, 202, "{}", ping.text);
    let got = rx.wait_for(1, 20).await;
    assert_eq!(got[0].json()["type"], "webhook.ping");
    assert_signed(&got[0], &old_secret);

    // 410: the endpoint is disabled; the next event's delivery is skipped, not sent.
    rx.script(&[410]);
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    rx.wait_for(2, 20).await;
    let mut status = Value::Null;
    for _ in 0..100 {
        status = get(&app, &key, &format!("/api/v1/webhooks/{id}"))
            .await
            .body;
        if status["status"] == "disabled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status["status"], "disabled", "{status}");
    assert_eq!(status["disabled_reason"], "gone");
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        rx.received().len(),
        2,
        "nothing sent to a disabled endpoint"
    );
    let skipped = get(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/deliveries?status=skipped"),
    )
    .await;
    assert_eq!(
        skipped.body["deliveries"].as_array().unwrap().len(),
        1,
        "{}",
        skipped.text
    );

    // Re-enable, rotate, recover: the gone (failed) and the skipped delivery are sent again,
    // signed with both secrets.
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(br#"{"enabled":true}"#.to_vec()),
        )
        .await;
    assert_eq!(
        (
            r.body["status"].as_str(),
            r.body["failed_deliveries_in_a_row"].as_i64()
        ),
        (Some("active"), Some(0))
    );
    let rotated = post(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/rotate-secret"),
        json!({}),
    )
    .await;
    let new_secret = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert!(rotated.body["previous_secret_expires_at"].is_string());
    let r = post(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/recover"),
        json!({"since": "2000-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["requeued"].as_u64()),
        (202, Some(2)),
        "{}",
        r.text
    );
    let got = rx.wait_for(4, 20).await;
    assert_eq!(got.len(), 4);
    for r in &got[2..] {
        assert_eq!(assert_signed(r, &old_secret), (2, 2));
        assert_eq!(assert_signed(r, &new_secret), (2, 2));
    }
    // A redelivery of a succeeded one is a third copy with the same message id. (The worker
    // records results a few milliseconds after they arrive: wait for all three.)
    for _ in 0..200 {
        let ok = get(
            &app,
            &key,
            &format!("/api/v1/webhooks/{id}/deliveries?status=succeeded"),
        )
        .await;
        if ok.body["deliveries"].as_array().map_or(0, Vec::len) == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page = get(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/deliveries?status=succeeded&limit=1"),
    )
    .await;
    let d = &page.body["deliveries"][0];
    assert!(page.body["next_cursor"].is_string(), "{}", page.text);
    let r = post(
        &app,
        &key,
        &format!(
            "/api/v1/webhooks/{id}/deliveries/{}/redeliver",
            d["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let got = rx.wait_for(5, 20).await;
    assert_eq!(
        got[4].header("webhook-id"),
        d["message_id"].as_str().unwrap()
    );

    // Keyset pages cover every delivery once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let p = get(&app, &key, &format!("/api/v1/webhooks/{id}/deliveries{q}")).await;
        for d in p.body["deliveries"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_owned());
        }
        match p.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first");
    sorted.dedup();
    assert_eq!(sorted.len(), 3, "ping + two events");
}

/// A dispatcher of the test's own over the server's database, on a clock the test moves.
struct Driven {
    offset_ms: Arc<AtomicI64>,
    dispatcher: app::webhooks::worker::Dispatcher,
}

impl Driven {
    fn new(app: &TestApp, allow: &str) -> Driven {
        let offset_ms = Arc::new(AtomicI64::new(0));
        let off = offset_ms.clone();
        let mut config = app.state.config.webhooks.clone();
        config.allow_nets = webhooks::address::AllowNets::parse(allow).unwrap();
        let transport = humanhours::outbound::HttpTransport::new(
            config.allow_nets.clone(),
            humanhours::outbound::system_lookup(),
        )
        .unwrap();
        let dispatcher = app::webhooks::worker::Dispatcher::new(
            app.store.clone(),
            Arc::new(transport),
            config,
            Default::default(),
        )
        .with_clock(
            move || app::clock::now() + time::Duration::milliseconds(off.load(Ordering::SeqCst)),
            || 100, // no jitter: the documented waits exactly
        );
        Driven {
            offset_ms,
            dispatcher,
        }
    }

    fn advance(&self, d: Duration) {
        self.offset_ms
            .fetch_add(i64::try_from(d.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn a_failed_attempt_is_retried_at_its_scheduled_time() {
    let app = TestApp::spawn_with(config(false)).await;
    let rx = Receiver::start(200).await;
    rx.script(&[500]);
    let (_, key) = app.org(Plan::Pro);
    let (id, _) = endpoint(&app, &key, &rx.url("/"), &["event.created"]).await;
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    let clock = Driven::new(&app, "127.0.0.1/32");

    assert_eq!(clock.dispatcher.run_due().await, 1);
    let d = &get(&app, &key, &format!("/api/v1/webhooks/{id}/deliveries"))
        .await
        .body["deliveries"][0];
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"][0]["status_code"], 500);
    let attempted = time::OffsetDateTime::parse(
        d["attempts"][0]["attempted_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let next = time::OffsetDateTime::parse(
        d["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        (next - attempted).whole_milliseconds(),
        30_000,
        "the first wait is 30 s"
    );

    clock.advance(Duration::from_secs(25));
    assert_eq!(
        clock.dispatcher.run_due().await,
        0,
        "not due before its time"
    );
    clock.advance(Duration::from_secs(6));
    assert_eq!(clock.dispatcher.run_due().await, 1);
    let d = &get(&app, &key, &format!("/api/v1/webhooks/{id}/deliveries"))
        .await
        .body["deliveries"][0];
    assert_eq!(d["status"], "succeeded", "{d}");
    let codes: Vec<i64> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 200]);
    assert_eq!(rx.received().len(), 2);
    let (a, b) = (rx.received()[0].json(), rx.received()[1].json());
    assert_eq!(a, b, "the same body (and id) on every attempt");
}

#[actix_web::test]
async fn twenty_failed_deliveries_disable_and_recover_sends_them() {
    let app = TestApp::spawn_with(config(false)).await;
    let rx = Receiver::start(500).await;
    let (_, key) = app.org(Plan::Pro);
    let (id, _) = endpoint(&app, &key, &rx.url("/"), &["event.created"]).await;
    let since = app::clock::format_ms(app::clock::now() - time::Duration::seconds(1));
    app.track_many(&key, 20, |_| seed_body()).await;
    let clock = Driven::new(&app, "127.0.0.1/32");
    // Five attempts each, a round every two hours of driven time.
    for round in 0..5 {
        assert_eq!(clock.dispatcher.run_due().await, 20, "round {round}");
        if round == 3 {
            let e = get(&app, &key, &format!("/api/v1/webhooks/{id}"))
                .await
                .body;
            assert_eq!(e["status"], "active", "attempts alone do not count: {e}");
        }
        clock.advance(Duration::from_secs(2 * 3600));
    }
    assert_eq!(rx.received().len(), 100);
    let e = get(&app, &key, &format!("/api/v1/webhooks/{id}"))
        .await
        .body;
    assert_eq!(
        (
            e["status"].as_str(),
            e["disabled_reason"].as_str(),
            e["failed_deliveries_in_a_row"].as_i64()
        ),
        (Some("disabled"), Some("failures"), Some(20)),
        "{e}"
    );
    let failed = get(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/deliveries?status=failed&limit=100"),
    )
    .await;
    assert_eq!(failed.body["deliveries"].as_array().unwrap().len(), 20);

    // While disabled: kept as skipped, nothing sent.
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    assert_eq!(
        clock.dispatcher.run_due().await,
        0,
        "a skipped delivery is not due"
    );
    assert_eq!(rx.received().len(), 100);

    rx.set_default(200);
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(br#"{"enabled":true}"#.to_vec()),
        )
        .await;
    assert_eq!(r.body["status"], "active");
    let r = post(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/recover"),
        json!({"since": since}),
    )
    .await;
    assert_eq!(r.body["requeued"], 21, "{}", r.text);
    assert_eq!(clock.dispatcher.run_due().await, 21);
    let ok = get(
        &app,
        &key,
        &format!("/api/v1/webhooks/{id}/deliveries?status=succeeded&limit=100"),
    )
    .await;
    assert_eq!(ok.body["deliveries"].as_array().unwrap().len(), 21);
    let e = get(&app, &key, &format!("/api/v1/webhooks/{id}"))
        .await
        .body;
    assert_eq!(
        (
            e["status"].as_str(),
            e["failed_deliveries_in_a_row"].as_i64()
        ),
        (Some("active"), Some(0))
    );

    // Pruning (30 days later) takes succeeded deliveries with their attempts.
    let later = app::clock::unix_ms(app::clock::now()) + 31 * 86_400_000
        - app::background::DELIVERY_RETENTION_MS;
    assert_eq!(app.store.prune_deliveries(later, 1_000).unwrap(), 21);
    let left = get(&app, &key, &format!("/api/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(left.body["deliveries"], json!([]));
}

#[actix_web::test]
async fn pruning_keeps_failed_deliveries() {
    let app = TestApp::spawn_with(config(false)).await;
    let rx = Receiver::start(410).await;
    let (_, key) = app.org(Plan::Pro);
    let (id, _) = endpoint(&app, &key, &rx.url("/"), &["event.created"]).await;
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    let clock = Driven::new(&app, "127.0.0.1/32");
    assert_eq!(clock.dispatcher.run_due().await, 1, "410: failed at once");
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    assert_eq!(clock.dispatcher.run_due().await, 0, "skipped: disabled");
    let future = app::clock::unix_ms(app::clock::now()) + 86_400_000;
    assert_eq!(
        app.store.prune_deliveries(future, 1_000).unwrap(),
        1,
        "the skipped one"
    );
    let left = get(&app, &key, &format!("/api/v1/webhooks/{id}/deliveries")).await;
    let left = left.body["deliveries"].as_array().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["status"], "failed");
    assert_eq!(left[0]["attempts"][0]["status_code"], 410);
}

#[actix_web::test]
async fn addresses_are_checked_again_at_connect_time() {
    // Saved while the server allowed 127.0.0.1; a worker that does not allow it never
    // connects, whether the URL names the address or a host that resolves to it.
    let app = TestApp::spawn_with(config(false)).await;
    let rx = Receiver::start(200).await;
    let (_, key) = app.org(Plan::Pro);
    let (id, _) = endpoint(&app, &key, &rx.url("/"), &["event.created"]).await;
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(
                serde_json::to_vec(&json!({"url": format!("http://localhost:{}/", rx.port)}))
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (id2, _) = endpoint(&app, &key, &rx.url("/literal"), &["event.created"]).await;
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    let clock = Driven::new(&app, "");
    assert_eq!(clock.dispatcher.run_due().await, 2);
    assert_eq!(rx.connections(), 0, "never connected");
    for ep in [&id, &id2] {
        let d = &get(&app, &key, &format!("/api/v1/webhooks/{ep}/deliveries"))
            .await
            .body["deliveries"][0];
        let err = d["attempts"][0]["error"].as_str().unwrap_or("");
        assert!(err.contains("loopback"), "{d}");
        assert!(d["attempts"][0]["status_code"].is_null());
    }
}

#[actix_web::test]
async fn the_readme_receiver_verifies_what_the_server_sends() {
    // The Python receiver of the README, as printed there (standard library only), with the
    // endpoint's secret and a free port filled in.
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("```python\nimport base64")
        .expect("the README's receiver")
        + 10;
    let code = &readme[start..];
    let code = &code[..code.find("```").unwrap()];
    let app = TestApp::spawn_with(config(true)).await;
    let (_, key) = app.org(Plan::Pro);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (id, secret) = endpoint(
        &app,
        &key,
        &format!("http://127.0.0.1:{port}/"),
        &["event.created"],
    )
    .await;
    let code = code
        .replace("SECRET = \"whsec_...\"", &format!("SECRET = {secret:?}"))
        .replace("(\"0.0.0.0\", 9000)", &format!("(\"127.0.0.1\", {port})"));
    let mut child = std::process::Command::new("python3")
        .args(["-u", "-c", &code])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let tracked = app.track(&key, &seed_body(), None).await;
    let event_id = tracked.body["event_id"].as_str().unwrap().to_owned();
    let mut status = Value::Null;
    for _ in 0..100 {
        let page = get(&app, &key, &format!("/api/v1/webhooks/{id}/deliveries")).await;
        status = page.body["deliveries"][0].clone();
        if status["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status["status"], "succeeded", "{status}");
    assert_eq!(
        status["attempts"][0]["status_code"], 204,
        "the receiver accepted the signature"
    );
    assert!(
        printed.contains(&format!("event.created {event_id}")),
        "{printed}"
    );
}

#[actix_web::test]
async fn a_hostile_answer_is_kept_short_and_storable() {
    // 100 KB with NUL bytes and broken UTF-8: 2 KiB of it kept, as text every backend stores.
    let app = TestApp::spawn_with(config(true)).await;
    let rx = Receiver::start(200).await;
    let mut body = b"ok\0\xff".to_vec();
    body.extend(std::iter::repeat_n(b'x', 100_000));
    rx.set_body(&body);
    let (_, key) = app.org(Plan::Pro);
    let (id, _) = endpoint(&app, &key, &rx.url("/"), &["event.created"]).await;
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    settled(&app, &key, &id, 1).await;
    let page = get(&app, &key, &format!("/api/v1/webhooks/{id}/deliveries")).await;
    let d = &page.body["deliveries"][0];
    assert_eq!(d["status"], "succeeded", "{d}");
    let kept = d["attempts"][0]["response_body"].as_str().unwrap();
    assert!(kept.starts_with("ok\u{FFFD}\u{FFFD}xx"), "{}", &kept[..20]);
    assert!(kept.len() <= 2048 + 6, "{}", kept.len());
}
