//! The group-commit write path and the batch endpoint.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::time::Duration;

use app::orgs::NewOrg;
use common::{seed_body, test_config, TestApp};
use diesel::connection::SimpleConnection as _;
use diesel::Connection as _;
use ratelimit::Plan;
use serde_json::{json, Value};

#[actix_web::test]
async fn a_201_is_committed_when_it_is_answered_even_under_concurrency() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Enterprise);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (client, key, store) = (app.client.clone(), key.clone(), app.store.clone());
        let url = format!("{}/api/v1/track", app.base);
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            let mut body = seed_body();
            body["agent_id"] = json!(format!("agent-{}", i % 7));
            let resp = client
                .post(url)
                .header("Authorization", format!("Bearer {key}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 201);
            let body: Value = resp.json().await.unwrap();
            let id = body["event_id"].as_str().unwrap().to_owned();
            // Read through another connection the moment the answer arrives.
            let row = store.get_event(&org, &id).unwrap();
            assert!(row.is_some(), "event {id} answered 201 but not readable");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(app.store.count_events(&org).unwrap(), 200);
}

fn batch_item(agent: &str, idem: Option<&str>) -> Value {
    let mut b = seed_body();
    b["agent_id"] = json!(agent);
    if let Some(k) = idem {
        b["idempotency_key"] = json!(k);
    }
    b
}

async fn post_batch(app: &TestApp, key: &str, body: &Value) -> common::Reply {
    post_batch_raw(app, key, &serde_json::to_vec(body).unwrap()).await
}

async fn post_batch_raw(app: &TestApp, key: &str, body: &[u8]) -> common::Reply {
    app.send(
        reqwest::Method::POST,
        "/api/v1/track/batch",
        Some(key),
        &[("Content-Type", "application/json")],
        Some(body.to_vec()),
    )
    .await
}

#[actix_web::test]
async fn batch_answers_one_result_per_item_in_order_and_bad_items_stay_alone() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    // An event already tracked with Idempotency-Key k-old.
    let first = app.track(&key, &batch_item("a", None), Some("k-old")).await;
    assert_eq!(first.status, 201);
    let mut bad_type = batch_item("a", None);
    bad_type["task_type"] = json!("nope_nope");
    let mut bad_field = batch_item("a", None);
    bad_field["outcome"] = json!("maybe");
    let mut reused = batch_item("a", Some("k-old"));
    reused["agent_duration_seconds"] = json!(99);
    let items = vec![
        batch_item("a", Some("k-1")),     // 0 created
        bad_field,                        // 1 validation error
        batch_item("b", None),            // 2 created
        batch_item("a", Some("k-1")),     // 3 same key and body within the batch: replayed
        bad_type,                         // 4 unknown task type
        batch_item("a", Some("k-old")),   // 5 replay of an earlier single track
        reused,                           // 6 same key, other body
        json!("not an object"),           // 7
        batch_item("c", Some("bad key")), // 8 invalid idempotency key
    ];
    let r = post_batch(&app, &key, &json!({ "events": items })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 9);
    let status: Vec<&str> = results
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        status,
        [
            "created", "error", "created", "replayed", "error", "replayed", "error", "error",
            "error"
        ]
    );
    for (i, x) in results.iter().enumerate() {
        assert_eq!(x["index"], json!(i));
    }
    assert_eq!(results[1]["error"]["code"], "validation_error");
    assert_eq!(results[1]["error"]["field"], "outcome");
    assert_eq!(results[1]["http_status"], 422);
    assert_eq!(results[4]["error"]["code"], "unknown_task_type");
    assert_eq!(results[6]["error"]["code"], "idempotency_key_reused");
    assert_eq!(results[8]["error"]["field"], "idempotency_key");
    assert_eq!(
        results[3]["event"]["event_id"],
        results[0]["event"]["event_id"]
    );
    assert_eq!(results[5]["event"]["event_id"], first.body["event_id"]);
    assert_eq!(results[0]["event"]["hours_saved"].to_string(), "0.066");
    assert_eq!(
        (
            r.body["created"].as_u64(),
            r.body["replayed"].as_u64(),
            r.body["failed"].as_u64()
        ),
        (Some(2), Some(2), Some(5))
    );
    assert_eq!(
        app.store.count_events(&org).unwrap(),
        3,
        "1 single + 2 created by the batch"
    );
    // The batch's keyed event replays through the single route too.
    let again = app.track(&key, &seed_body_for("a"), Some("k-1")).await;
    assert_eq!(
        (again.status, &again.body["event_id"]),
        (200, &results[0]["event"]["event_id"])
    );
}

fn seed_body_for(agent: &str) -> Value {
    let mut b = seed_body();
    b["agent_id"] = json!(agent);
    b
}

/// Keys taken by an earlier batch, spread through a large one: each replays its event, each
/// new key makes one, in order.
#[actix_web::test]
async fn a_large_batch_mixing_new_and_taken_keys_claims_each_once() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Enterprise);
    let old: Vec<Value> = (0..40)
        .map(|i| batch_item(&format!("a{}", i * 5 % 3), Some(&format!("k-{}", i * 5))))
        .collect();
    let first = post_batch(&app, &key, &json!({ "events": old })).await;
    assert_eq!(first.body["created"], 40, "{}", first.text);
    let ids: std::collections::HashMap<String, Value> = first.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let i = r["index"].as_u64().unwrap() as usize;
            (format!("k-{}", i * 5), r["event"]["event_id"].clone())
        })
        .collect();
    // Keys k-0 … k-199: every fifth was stored by the first batch.
    let items: Vec<Value> = (0..200)
        .map(|i| batch_item(&format!("a{}", i % 3), Some(&format!("k-{i}"))))
        .collect();
    let r = post_batch(&app, &key, &json!({ "events": items })).await;
    assert_eq!(
        (r.body["created"].as_u64(), r.body["replayed"].as_u64()),
        (Some(160), Some(40))
    );
    for (i, res) in r.body["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(res["index"], i);
        let k = format!("k-{i}");
        match ids.get(&k) {
            Some(id) => {
                assert_eq!(res["status"], "replayed", "{k}");
                assert_eq!(&res["event"]["event_id"], id, "{k}");
            }
            None => assert_eq!(res["status"], "created", "{k}"),
        }
    }
    assert_eq!(app.store.count_events(&org).unwrap(), 200);
    // Every new event is stored, and found by the key that made it.
    for res in r.body["results"].as_array().unwrap() {
        let id = res["event"]["event_id"].as_str().unwrap();
        assert!(app.store.get_event(&org, id).unwrap().is_some(), "{id}");
    }
    let again = post_batch(
        &app,
        &key,
        &json!({ "events": [batch_item("a1", Some("k-7"))] }),
    )
    .await;
    assert_eq!(again.body["results"][0]["status"], "replayed");
    assert_eq!(
        again.body["results"][0]["event"]["event_id"],
        r.body["results"][7]["event"]["event_id"]
    );
}

/// A batch item is read from its JSON text, a /track body as a `Value`: the two must
/// fingerprint the same request the same, however it is spelled (key order, whitespace, number
/// spellings, escapes, even an escaped `idempotency_key` name), and tell a different one apart.
#[actix_web::test]
async fn a_batch_item_and_a_track_body_fingerprint_alike() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let body = json!({
        "agent_id": "spelled-bot", "task_type": "ticket_routing", "outcome": "success",
        "agent_duration_seconds": 12.5, "metadata": {"client": "acme", "note": "é/x", "n": [1, 2.50]},
    });
    let first = app.track(&key, &body, Some("spelled")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let same = r#"{"events": [ {
        "metadata": {"n": [1.0, 25e-1], "note": "\u00e9\/x", "client": "acme"},
        "idempotency\u005fkey": "spelled",
        "outcome": "success", "agent_duration_seconds": 1.25E+1,
        "task_type": "ticket_routing", "agent_id": "spelled-bot" },
      {"agent_id": "spelled-bot", "task_type": "ticket_routing", "outcome": "success",
        "agent_duration_seconds": 12.5, "idempotency_key": "spelled",
        "metadata": {"client": "acme", "note": "é/x", "n": [1, 2.51]}},
      {"agent_id": "spelled-bot", "task_type": "ticket_routing", "outcome": "success",
        "idempotency_key": 7},
      {"agent_id": 7, "task_type": "ticket_routing", "outcome": "success"},
      [1, 2],
      ["spelled-bot", "ticket_routing", "success", null, null, null, null, null, null, null,
        null, null]
    ]}"#;
    let r = post_batch_raw(&app, &key, same.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "replayed", "{}", r.text);
    assert_eq!(results[0]["event"], first.body);
    assert_eq!(results[1]["status"], "error");
    assert_eq!(
        results[1]["error"]["code"], "idempotency_key_reused",
        "{}",
        r.text
    );
    assert_eq!(
        results[2]["error"]["field"], "idempotency_key",
        "{}",
        r.text
    );
    assert_eq!(results[3]["error"]["field"], "agent_id", "{}", r.text);
    // An array is not an event, even one holding the fields in order.
    for i in [4, 5] {
        assert_eq!(
            results[i]["error"]["message"], "each event must be a JSON object",
            "{}",
            r.text
        );
    }

    // And the other way: a key first stored by a batch item replays on /track.
    let item = r#"{"events": [{"outcome": "failure", "idempotency_key": "other-way",
        "task_type": "email_classification", "agent_id": "spelled-bot"}]}"#;
    let r = post_batch_raw(&app, &key, item.as_bytes()).await;
    assert_eq!(r.body["results"][0]["status"], "created", "{}", r.text);
    let again = app
        .track(
            &key,
            &json!({"agent_id": "spelled-bot", "task_type": "email_classification", "outcome": "failure"}),
            Some("other-way"),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body, r.body["results"][0]["event"]);
}

#[actix_web::test]
async fn batch_counts_each_item_against_the_quota() {
    let app = TestApp::spawn().await;
    let mut new = NewOrg::named("capped-batch", Plan::Free);
    new.monthly_event_cap = Some(3);
    let (org, key) = app.org_with(new);
    let items: Vec<Value> = (0..5).map(|i| batch_item(&format!("a{i}"), None)).collect();
    let r = post_batch(&app, &key, &json!({ "events": items })).await;
    let status: Vec<&str> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["created", "created", "created", "error", "error"]);
    assert_eq!(r.body["results"][4]["error"]["code"], "quota_exceeded");
    assert_eq!(app.store.count_events(&org).unwrap(), 3);
}

#[actix_web::test]
async fn batch_body_errors() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    let many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    for (body, field) in [
        (json!({}), Some("events")),
        (json!({"events": {}}), Some("events")),
        (json!({"events": []}), Some("events")),
        (json!({"events": many}), Some("events")),
        (json!([1, 2]), None),
    ] {
        let r = post_batch(&app, &key, &body).await;
        assert_eq!(
            (r.status, r.code(), r.field()),
            (422, "validation_error", field),
            "{}",
            r.text
        );
    }
    let thousand: Vec<Value> = (0..1000)
        .map(|i| batch_item(&format!("a{i}"), None))
        .collect();
    let r = post_batch(&app, &key, &json!({ "events": thousand })).await;
    assert_eq!(
        (r.status, r.body["created"].as_u64()),
        (200, Some(500)),
        "free quota: 500 of 1000"
    );
}

#[actix_web::test]
async fn validate_checks_the_body_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Free);
    let ok = app
        .send(
            reqwest::Method::POST,
            "/api/v1/track/validate",
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(seed_body().to_string().into_bytes()),
        )
        .await;
    assert_eq!((ok.status, &ok.body), (200, &json!({"valid": true})));
    let mut bad = seed_body();
    bad["agent_duration_seconds"] = json!(-3);
    let r = app
        .send(
            reqwest::Method::POST,
            "/api/v1/track/validate",
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(bad.to_string().into_bytes()),
        )
        .await;
    assert_eq!((r.status, r.field()), (422, Some("agent_duration_seconds")));
    assert_eq!(app.store.count_events(&org).unwrap(), 0);
}

/// Holds the database's write lock from outside, so the writer stalls and its queue fills.
fn block_writes(db_url: &str) -> Box<dyn FnOnce() + Send> {
    if let Some(url) = db_url.strip_prefix("postgres") {
        store::init_tls();
        let mut c = diesel::PgConnection::establish(&format!("postgres{url}")).unwrap();
        c.batch_execute("BEGIN; LOCK TABLE monthly_usage IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        Box::new(move || c.batch_execute("ROLLBACK").unwrap())
    } else {
        let path = db_url.strip_prefix("sqlite://").unwrap();
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        c.batch_execute("BEGIN IMMEDIATE").unwrap();
        Box::new(move || c.batch_execute("ROLLBACK").unwrap())
    }
}

/// Makes the database itself refuse any event of agent `poison` (a trigger), as it would refuse
/// a value it cannot hold.
fn refuse_poison_events(db_url: &str) {
    if let Some(url) = db_url.strip_prefix("postgres") {
        store::init_tls();
        let mut c = diesel::PgConnection::establish(&format!("postgres{url}")).unwrap();
        c.batch_execute(
            "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
               IF NEW.agent_id = 'poison' THEN RAISE EXCEPTION 'poison event'; END IF; \
               RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_poison BEFORE INSERT ON events \
               FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
        )
        .unwrap();
    } else {
        let path = db_url.strip_prefix("sqlite://").unwrap();
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        c.batch_execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON events \
             WHEN NEW.agent_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poison event'); END;",
        )
        .unwrap();
    }
}

/// POSTs /track from a task of its own: (status, answer body).
fn spawn_track_keyed(
    app: &TestApp,
    key: &str,
    agent: &str,
    idem: Option<&str>,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let (client, url) = (app.client.clone(), format!("{}/api/v1/track", app.base));
    let (key, mut body) = (key.to_owned(), seed_body());
    body["agent_id"] = json!(agent);
    let idem = idem.map(str::to_owned);
    tokio::spawn(async move {
        let mut req = client
            .post(url)
            .header("Authorization", format!("Bearer {key}"))
            .json(&body);
        if let Some(k) = idem {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    })
}

/// POSTs /track from a task of its own: (status, error code).
fn spawn_track(app: &TestApp, key: &str, agent: &str) -> tokio::task::JoinHandle<(u16, Value)> {
    let task = spawn_track_keyed(app, key, agent, None);
    tokio::spawn(async move {
        let (status, body) = task.await.unwrap();
        (status, body["error"]["code"].clone())
    })
}

/// Waits until the writer holds `n` submissions (one in its transaction, the rest queued).
async fn wait_for_depth(app: &TestApp, n: usize) {
    for _ in 0..200 {
        if app.state.writer.depth() == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.state.writer.depth(), n);
}

#[actix_web::test]
async fn one_key_replayed_in_two_orgs_in_one_commit_answers_each_its_own_event() {
    let app = TestApp::spawn().await;
    let (_, key_a) = app.org(Plan::Enterprise);
    let (_, key_b) = app.org(Plan::Enterprise);
    let (status_a, first_a) = spawn_track_keyed(&app, &key_a, "agent-a", Some("same-key"))
        .await
        .unwrap();
    let (status_b, first_b) = spawn_track_keyed(&app, &key_b, "agent-b", Some("same-key"))
        .await
        .unwrap();
    assert_eq!((status_a, status_b), (201, 201));
    assert_ne!(first_a["event_id"], first_b["event_id"]);
    // Both retries queue behind a held write lock and one other write, so they are read back in
    // one group commit.
    let release = block_writes(&app.db_url);
    let blocker = spawn_track(&app, &key_a, "agent-first");
    wait_for_depth(&app, 1).await;
    let retry_a = spawn_track_keyed(&app, &key_a, "agent-a", Some("same-key"));
    let retry_b = spawn_track_keyed(&app, &key_b, "agent-b", Some("same-key"));
    wait_for_depth(&app, 3).await;
    let commits_before = app.state.writer.commits();
    release();
    assert_eq!(blocker.await.unwrap().0, 201);
    assert_eq!(retry_a.await.unwrap(), (200, first_a));
    assert_eq!(retry_b.await.unwrap(), (200, first_b));
    assert_eq!(app.state.writer.commits() - commits_before, 2);
}

#[actix_web::test]
async fn a_write_the_database_refuses_fails_alone_not_with_its_group_commit() {
    let app = TestApp::spawn().await;
    let (poisoned_org, poisoned_key) = app.org(Plan::Enterprise);
    let (other_org, other_key) = app.org(Plan::Enterprise);
    refuse_poison_events(&app.db_url);
    // Hold the write lock so the requests queue up behind the first one, then commit together.
    let release = block_writes(&app.db_url);
    let first = spawn_track(&app, &other_key, "agent-first");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let poison = spawn_track(&app, &poisoned_key, "poison");
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(spawn_track(&app, &poisoned_key, &format!("agent-{i}")));
        others.push(spawn_track(&app, &other_key, &format!("agent-{i}")));
    }
    // Every request is in the writer's hands: the first in its transaction, the rest queued.
    wait_for_depth(&app, 10).await;
    let commits_before = app.state.writer.commits();
    release();

    assert_eq!(poison.await.unwrap(), (500, json!("internal")));
    assert_eq!(first.await.unwrap().0, 201);
    for t in others {
        let (status, code) = t.await.unwrap();
        assert_eq!(
            status, 201,
            "a write that shared the refused one's commit: {code}"
        );
    }
    assert_eq!(app.store.count_events(&poisoned_org).unwrap(), 4);
    assert_eq!(app.store.count_events(&other_org).unwrap(), 5);
    // The first alone, then the nine queued behind it as one group commit that failed, then
    // one commit each.
    assert_eq!(app.state.writer.commits() - commits_before, 11);
}

#[actix_web::test]
async fn a_batch_item_the_database_refuses_fails_alone() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Enterprise);
    refuse_poison_events(&app.db_url);
    let items: Vec<Value> = ["a", "poison", "b"]
        .iter()
        .map(|a| batch_item(a, Some(&format!("key-{a}"))))
        .collect();
    let body = json!({ "events": items });
    let r = post_batch(&app, &key, &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let results = r.body["results"].as_array().unwrap();
    let shape: Vec<(&str, &Value)> = results
        .iter()
        .map(|x| (x["status"].as_str().unwrap(), &x["error"]["code"]))
        .collect();
    assert_eq!(
        shape,
        [
            ("created", &Value::Null),
            ("error", &json!("internal")),
            ("created", &Value::Null)
        ]
    );
    assert_eq!(results[1]["http_status"], 500);
    assert_eq!(
        (&r.body["created"], &r.body["failed"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(app.store.count_events(&org).unwrap(), 2);
    // Its retry replays the two stored items; the refused one is refused again.
    let again = post_batch(&app, &key, &body).await;
    assert_eq!(
        (&again.body["replayed"], &again.body["failed"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(app.store.count_events(&org).unwrap(), 2);
}

#[actix_web::test]
async fn a_full_write_queue_answers_503_with_retry_after() {
    let mut config = test_config();
    config.writer.queue_capacity = 2;
    let app = TestApp::spawn_with(config).await;
    let (org, key) = app.org(Plan::Enterprise);
    let release = block_writes(&app.db_url);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (client, key) = (app.client.clone(), key.clone());
        let url = format!("{}/api/v1/track", app.base);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("Authorization", format!("Bearer {key}"))
                .json(&seed_body())
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, retry, body)
        }));
    }
    // Let the requests reach the queue, then free the database.
    tokio::time::sleep(Duration::from_millis(800)).await;
    release();
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            503 => {
                assert_eq!(body["error"]["code"], "unavailable");
                assert!(retry.unwrap().parse::<u32>().unwrap() >= 1);
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(refused > 0, "some requests met the full queue");
    assert!(
        created > 0,
        "queued requests were committed once the database was free"
    );
    assert_eq!(app.store.count_events(&org).unwrap(), created);
}

#[actix_web::test]
#[cfg_attr(
    test_backend = "postgres",
    ignore = "SQLite only: PostgreSQL has no WAL file of ours"
)]
async fn the_checkpointer_thread_copies_the_wal_back_without_the_writer() {
    let app = TestApp::spawn().await;
    let path = app
        .db_url
        .strip_prefix("sqlite://")
        .map(str::to_owned)
        .expect("the SQLite pass runs on SQLite");
    let (org, key) = app.org(Plan::Enterprise);
    let size = || std::fs::metadata(&path).unwrap().len();
    let before = size();
    // 1,000 events are a few hundred WAL pages: far below the writer's own autocheckpoint
    // (store::db::WRITER_AUTOCHECKPOINT_PAGES, 10,000), so only the checkpointer thread can
    // move them into the database file.
    let items: Vec<Value> = (0..1000)
        .map(|i| batch_item(&format!("agent-{}", i % 9), None))
        .collect();
    let r = post_batch(&app, &key, &json!({ "events": items })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["created"], 1000, "{}", r.text);
    let mut grown = false;
    for _ in 0..100 {
        if size() > before {
            grown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        grown,
        "the database file is still {before} bytes 5 s after the commit: nothing checkpointed"
    );
    assert_eq!(app.store.count_events(&org).unwrap(), 1000);
}
