//! Data lifecycle (API.md §12): the events list with its keyset pages, the overage charge of
//! `/reports/usage`, retention and its sweep, and an org's export and erasure. On SQLite, and
//! on PostgreSQL with `HUMANHOURS_TEST_BACKEND=postgres`.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::{BTreeSet, HashMap};

use app::clock;
use common::{seed_body, sql, TestApp};
use ratelimit::Plan;
use reqwest::Method;
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

async fn get(app: &TestApp, key: &str, path: &str) -> common::Reply {
    app.send(Method::GET, path, Some(key), &[], None).await
}

fn at(ms: i64) -> String {
    clock::format_ms(clock::from_unix_ms(ms))
}

/// Rows of `table` whose `column` is `value`.
fn count(db_url: &str, table: &str, column: &str, value: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let q = format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = '{value}'");
    if db_url.starts_with("postgres") {
        store::init_tls();
        let mut c = diesel::PgConnection::establish(db_url).unwrap();
        diesel::sql_query(q).get_result::<N>(&mut c).unwrap().n
    } else {
        let path = db_url.strip_prefix("sqlite://").unwrap();
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        diesel::sql_query(q).get_result::<N>(&mut c).unwrap().n
    }
}

/// A price file of the shipped CSV format, in a folder that lives as long as the pair.
fn dir_for_prices() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.csv");
    std::fs::write(
        &path,
        "model_id,input_usd_per_mtok,output_usd_per_mtok,effective_from\nin-house-model,1,2,2026-01-01\n",
    )
    .unwrap();
    (dir, path)
}

/// A second server on the test's database, as another instance behind a load balancer: its
/// base URL.
fn second_instance(app: &TestApp) -> String {
    let mut db = store::DbConfig::new(app.db_url.clone());
    db.sqlite_sync = store::SqliteSync::Normal;
    let store = std::sync::Arc::new(store::Store::open(&db).unwrap());
    let state = actix_web::web::Data::new(
        app::App::new(store, app.hasher.clone(), common::test_config()).unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = humanhours::http::startup::run(listener, state, Some(1)).unwrap();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}")
}

async fn status_at(base: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/summary"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Walks every page of `query`, `limit` at a time; `between` runs after each page.
async fn walk(
    app: &TestApp,
    key: &str,
    query: &str,
    mut between: impl AsyncFnMut(usize),
) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let sep = if query.is_empty() { "" } else { "&" };
        let path = match &cursor {
            Some(c) => format!("/api/v1/events?{query}{sep}cursor={c}"),
            None => format!("/api/v1/events?{query}"),
        };
        let r = get(app, key, &path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        all.extend(r.body["events"].as_array().unwrap().iter().cloned());
        between(page).await;
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(page < 1_000, "the walk does not end");
    }
    all
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn events_pages_walk_the_whole_set_once_while_events_are_added() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let now = clock::unix_ms(clock::now());
    // 230 events over ten days, ten of them at the very same instant (the id breaks the tie),
    // every seventh with an audit sample, a third needing review.
    let mut tracked: HashMap<String, Value> = HashMap::new();
    for i in 0..230i64 {
        let occurred = if i < 10 {
            now - 3 * DAY_MS
        } else {
            now - (i * 37 % 240) * 3_600_000 - i
        };
        let outcome = ["success", "failure", "needs_review"][usize::try_from(i % 3).unwrap()];
        let mut body = json!({
            "agent_id": format!("agent-{}", i % 3),
            "task_type": "email_classification",
            "outcome": outcome,
            "agent_duration_seconds": 4,
            "occurred_at": at(occurred),
            "metadata": {"n": i, "client": "acme"},
        });
        if i % 7 == 0 {
            body["audit_sample"] =
                json!({"input_excerpt": format!("in {i}"), "output_excerpt": "out"});
        }
        let r = app.track(&key, &body, None).await;
        assert_eq!(r.status, 201, "{}", r.text);
        tracked.insert(r.body["event_id"].as_str().unwrap().to_owned(), r.body);
    }

    // A walk with events added between its pages, newer and older than the cursor.
    let added = std::cell::RefCell::new(Vec::new());
    let all = walk(&app, &key, "limit=37", async |page| {
        for (n, age) in [(0, 1), (1, 9 * 24)] {
            let body = json!({
                "agent_id": "late", "task_type": "email_classification", "outcome": "success",
                "agent_duration_seconds": 1,
                "occurred_at": at(now - age * 3_600_000 - i64::try_from(page * 2 + n).unwrap()),
            });
            let r = app.track(&key, &body, None).await;
            added
                .borrow_mut()
                .push(r.body["event_id"].as_str().unwrap().to_owned());
        }
    })
    .await;
    let seen = ids(&all);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event came twice");
    for id in tracked.keys() {
        assert!(unique.contains(id), "{id} was never listed");
    }
    // Only events added meanwhile came on top, and the order is newest first, ties by id.
    let added = added.into_inner();
    assert!(seen
        .iter()
        .all(|id| tracked.contains_key(id) || added.contains(id)));
    for w in all.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let key = |e: &Value| {
            (
                e["occurred_at"].as_str().unwrap().to_owned(),
                e["event_id"].as_str().unwrap().to_owned(),
            )
        };
        assert!(key(a) > key(b), "{:?} before {:?}", key(a), key(b));
    }

    // Each event is its track answer plus metadata and audit sample.
    for e in all
        .iter()
        .filter(|e| tracked.contains_key(e["event_id"].as_str().unwrap()))
    {
        let mut expected = tracked[e["event_id"].as_str().unwrap()].clone();
        let n = e["metadata"]["n"].as_i64().unwrap();
        expected["metadata"] = json!({"n": n, "client": "acme"});
        expected["audit_sample"] = if n % 7 == 0 {
            json!({"input_excerpt": format!("in {n}"), "output_excerpt": "out",
                   "model": null, "tokens_in": null, "tokens_out": null})
        } else {
            Value::Null
        };
        assert_eq!(e, &expected);
    }

    // Filters, alone and together, agree with the full list.
    let everything = walk(&app, &key, "limit=100", async |_| {}).await;
    for (query, keep) in [
        ("agent_id=agent-1", &(|e: &Value| e["agent_id"] == "agent-1") as &dyn Fn(&Value) -> bool),
        ("outcome=needs_review", &|e: &Value| e["outcome"] == "needs_review"),
        ("has_audit_sample=true", &|e: &Value| !e["audit_sample"].is_null()),
        ("has_audit_sample=false", &|e: &Value| e["audit_sample"].is_null()),
        (
            "agent_id=agent-2&outcome=needs_review&has_audit_sample=true&task_type=email_classification",
            &|e: &Value| {
                e["agent_id"] == "agent-2"
                    && e["outcome"] == "needs_review"
                    && !e["audit_sample"].is_null()
            },
        ),
    ] {
        let got = ids(&walk(&app, &key, &format!("{query}&limit=13"), async |_| {}).await);
        let want: Vec<String> = ids(&everything.iter().filter(|e| keep(e)).cloned().collect::<Vec<_>>());
        assert!(!want.is_empty(), "{query}");
        assert_eq!(got, want, "{query}");
    }
    // A range: [from, to) on occurred_at.
    let (from, to) = (now - 5 * DAY_MS, now - 2 * DAY_MS);
    let got = ids(&walk(
        &app,
        &key,
        &format!("from={}&to={}", at(from).replace('+', "%2B"), at(to)),
        async |_| {},
    )
    .await);
    let want: Vec<String> = everything
        .iter()
        .filter(|e| {
            let t = e["occurred_at"].as_str().unwrap();
            t >= at(from).as_str() && t < at(to).as_str()
        })
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(want.len() >= 10);
    assert_eq!(got, want);
    // The default page is 50.
    let r = get(&app, &key, "/api/v1/events").await;
    assert_eq!(r.body["events"].as_array().unwrap().len(), 50);
    assert!(r.body["next_cursor"].is_string());
}

#[actix_web::test]
async fn the_events_list_refuses_bad_input_and_other_orgs_and_free_plans() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let (_, other) = app.org(Plan::Pro);
    let (_, free) = app.org(Plan::Free);
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    assert_eq!(app.track(&other, &seed_body(), None).await.status, 201);
    assert_eq!(app.track(&free, &seed_body(), None).await.status, 201);
    let mine = get(&app, &key, "/api/v1/events").await;
    assert_eq!(mine.body["events"].as_array().unwrap().len(), 1);
    let theirs = get(&app, &other, "/api/v1/events").await;
    assert_ne!(
        mine.body["events"][0]["event_id"],
        theirs.body["events"][0]["event_id"]
    );

    let r = get(&app, &free, "/api/v1/events").await;
    assert_eq!((r.status, r.code()), (403, "feature_locked"), "{}", r.text);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=nope", "cursor"),
        ("cursor=MTIuZXZ0X3Nob3J0", "cursor"),
        ("outcome=maybe", "outcome"),
        ("has_audit_sample=yes", "has_audit_sample"),
        ("from=yesterday", "from"),
        ("from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "from"),
        ("agent_id=%01", "agent_id"),
        ("group_by=agent", "group_by"),
    ] {
        let r = get(&app, &key, &format!("/api/v1/events?{query}")).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation_error"),
            "{query}: {}",
            r.text
        );
        assert_eq!(r.field(), Some(field), "{query}");
    }
    // A cursor of one org's walk used by another shows only the other's events.
    let c = {
        let two = app.track(&key, &seed_body(), None).await;
        assert_eq!(two.status, 201);
        get(&app, &key, "/api/v1/events?limit=1").await.body["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let r = get(&app, &other, &format!("/api/v1/events?cursor={c}")).await;
    assert_eq!(r.status, 200);
    for e in r.body["events"].as_array().unwrap() {
        assert_eq!(e["event_id"], theirs.body["events"][0]["event_id"]);
    }
}

#[actix_web::test]
async fn usage_shows_the_overage_charge_by_the_public_tiers() {
    let app = TestApp::spawn().await;
    let (pro_org, pro) = app.org(Plan::Pro);
    let (_, free) = app.org(Plan::Free);
    let (_, ent) = app.org(Plan::Enterprise);
    for k in [&pro, &free, &ent] {
        assert_eq!(app.track(k, &seed_body(), None).await.status, 201);
    }
    let month = clock::month(clock::now());
    // (overage events, charge in EUR, events by agreement)
    for (over, charge, by_agreement) in [
        (0, "0", 0),
        (1, "0.005", 0),
        (49_999, "249.995", 0),
        (50_000, "250", 0),
        (50_001, "250.004", 0),
        (250_000, "1050", 0),
        (250_001, "1050.003", 0),
        (1_000_000, "3300", 0),
        (1_000_007, "3300", 7),
    ] {
        sql(
            &app.db_url,
            &format!(
                "UPDATE monthly_usage SET events = {}, overage_events = {over} WHERE org_id = '{pro_org}' AND month = '{month}'",
                10_000 + over
            ),
        );
        let r = get(&app, &pro, "/api/v1/reports/usage").await;
        assert_eq!(r.status, 200);
        // Exact: the number's own digits, compared as text.
        let text = &r.text;
        assert!(
            text.contains(&format!("\"overage_charge\":{charge},")),
            "{over}: {text}"
        );
        assert_eq!(r.body["overage_events"], over);
        assert_eq!(r.body["overage_charge_currency"], "EUR");
        assert_eq!(r.body["overage_events_by_agreement"], by_agreement);
    }
    for k in [&free, &ent] {
        let r = get(&app, k, "/api/v1/reports/usage").await;
        assert!(r.body["overage_charge"].is_null(), "{}", r.text);
        assert!(r.body["overage_charge_currency"].is_null());
        assert!(r.body["overage_events_by_agreement"].is_null());
    }
}

#[actix_web::test]
async fn retention_deletes_exactly_what_is_past_it_and_older_summaries_stand() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let (other_org, other) = app.org(Plan::Pro);
    let now_ms = clock::unix_ms(clock::now());
    // Whole hours, so the summaries below read rollups only.
    let hour = now_ms - now_ms % 3_600_000;
    for (i, days) in [5i64, 20, 35, 50, 70, 85].into_iter().enumerate() {
        for j in 0..3i64 {
            let occurred = hour - days * DAY_MS + j * 60_000 + 1_000;
            let mut body = seed_body();
            body["occurred_at"] = json!(at(occurred));
            body["audit_sample"] = json!({"input_excerpt": "x"});
            let k = format!("r-{i}-{j}");
            assert_eq!(app.track(&key, &body, Some(&k)).await.status, 201);
            assert_eq!(app.track(&other, &body, None).await.status, 201);
        }
    }
    // The newest row last (on SQLite the highest rowid is never swept: see below).
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    let older = format!(
        "/api/v1/summary?from={}&to={}",
        at(hour - 90 * DAY_MS),
        at(hour - 30 * DAY_MS)
    );
    let before = get(&app, &key, &older).await;
    assert_eq!(before.body["events"], 12, "{}", before.text);
    let all_before = get(&app, &key, "/api/v1/summary?period=all").await;

    let out = app.cli(&["org", "set", &org, "--retention-days", "30"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is 30 days"));
    for bad in ["0", "3651", "-1", "many"] {
        let out = app.cli(&["org", "set", &org, "--retention-days", bad]);
        assert!(!out.status.success(), "{bad}");
    }
    let settings = get(&app, &key, "/api/v1/org").await;
    assert_eq!(settings.body["retention_days"], 30);
    let plan_default = get(&app, &other, "/api/v1/org").await;
    assert_eq!(plan_default.body["retention_days"], 365);
    // The server's cached settings pick the new retention up within the key cache TTL.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    // The events list does not reach past retention, whatever `from` says, before the sweep
    // has run too: 19 are stored, the 7 of the last 30 days are listed.
    assert_eq!(app.store.count_events(&org).unwrap(), 19);
    let r = get(
        &app,
        &key,
        &format!("/api/v1/events?from={}", at(hour - 89 * DAY_MS)),
    )
    .await;
    assert_eq!(r.body["events"].as_array().unwrap().len(), 7, "{}", r.text);

    // Events inside their idempotency window stay; a sweep two days on deletes the old ones.
    app.store.fold_rollups(None).unwrap();
    let today = app::retention::sweep(&app.store, clock::now(), &app::retention::Limits::UNLIMITED)
        .unwrap();
    assert_eq!(today.events, 0);
    let by_hand = app.cli(&["retention", "sweep"]);
    assert!(
        by_hand.status.success(),
        "{}",
        String::from_utf8_lossy(&by_hand.stderr)
    );
    assert!(String::from_utf8_lossy(&by_hand.stdout).starts_with("swept 0 events of 2 orgs"));
    let later = clock::now() + time::Duration::days(2);
    let swept =
        app::retention::sweep(&app.store, later, &app::retention::Limits::UNLIMITED).unwrap();
    // Past 30 days two days from now: the 35-, 50-, 70- and 85-day-old ones (3 each).
    assert_eq!(swept.events, 12);
    assert!(!swept.more);
    assert_eq!(app.store.count_events(&org).unwrap(), 7);
    // The other org keeps its plan's 365 days.
    assert_eq!(app.store.count_events(&other_org).unwrap(), 18);
    let left = walk(&app, &key, "", async |_| {}).await;
    assert_eq!(left.len(), 7);
    // Their idempotency records go with them (the window has passed: the prune takes them).
    app.store
        .prune_idempotency(clock::unix_ms(idempotency::prune_cutoff(later)))
        .unwrap();
    assert_eq!(count(&app.db_url, "idempotency_keys", "org_id", &org), 0);

    // Rollups are kept: the older period's summary, and the whole, answer as before.
    let after = get(&app, &key, &older).await;
    assert_eq!(after.body, before.body);
    let all_after = get(&app, &key, "/api/v1/summary?period=all").await;
    for f in [
        "events",
        "hours_saved",
        "cost_saved",
        "net_saved",
        "by_outcome",
    ] {
        assert_eq!(all_after.body[f], all_before.body[f], "{f}");
    }
    // The events list does not reach past retention, whatever `from` says.
    let r = get(
        &app,
        &key,
        &format!("/api/v1/events?from={}", at(hour - 89 * DAY_MS)),
    )
    .await;
    assert_eq!(r.body["events"].as_array().unwrap().len(), 7);
    // A second sweep finds nothing more.
    assert_eq!(
        app::retention::sweep(&app.store, later, &app::retention::Limits::UNLIMITED)
            .unwrap()
            .events,
        0
    );
    // New events after the sweep are counted exactly once (rowids never fall under the
    // rollup watermark on SQLite).
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    app.store.fold_rollups(None).unwrap();
    let grown = get(&app, &key, "/api/v1/summary?period=all").await;
    assert_eq!(
        grown.body["events"],
        all_before.body["events"].as_i64().unwrap() + 1
    );
}

#[actix_web::test]
async fn the_sweep_never_takes_the_newest_row_on_sqlite_and_goes_in_chunks() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let now_ms = clock::unix_ms(clock::now());
    app.track_many(&key, 4_500, |i| {
        let mut b = seed_body();
        b["occurred_at"] = json!(at(now_ms - 40 * DAY_MS - i64::try_from(i).unwrap()));
        b
    })
    .await;
    assert!(app
        .cli(&["org", "set", &org, "--retention-days", "30"])
        .status
        .success());
    app.store.fold_rollups(None).unwrap();
    let later = clock::now() + time::Duration::days(2);
    // One chunk at a time: the budget stops the sweep and says there is more.
    let one_chunk = app::retention::Limits {
        max_chunks: 1,
        ..app::retention::Limits::UNLIMITED
    };
    let one = app::retention::sweep(&app.store, later, &one_chunk).unwrap();
    assert_eq!(one.events, 500);
    assert!(one.more);
    let rest =
        app::retention::sweep(&app.store, later, &app::retention::Limits::UNLIMITED).unwrap();
    let sqlite = !app.db_url.starts_with("postgres");
    // The last row inserted is the newest rowid: SQLite keeps it until a newer one exists.
    assert_eq!(rest.events, if sqlite { 3_999 } else { 4_000 });
    assert_eq!(app.store.count_events(&org).unwrap(), i64::from(sqlite));
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    app.store.fold_rollups(None).unwrap();
    let last =
        app::retention::sweep(&app.store, later, &app::retention::Limits::UNLIMITED).unwrap();
    assert_eq!(last.events, u64::from(sqlite));
    assert_eq!(app.store.count_events(&org).unwrap(), 1);
    let all = get(&app, &key, "/api/v1/summary?period=all").await;
    assert_eq!(all.body["events"], 4_501);
}

#[actix_web::test]
async fn an_org_is_exported_whole_then_erased_and_its_key_refused() {
    let mut config = common::test_config();
    config.webhooks.allow_nets = webhooks::address::AllowNets::parse("127.0.0.1/32").unwrap();
    // No deliveries are attempted: the rows stay for the erasure to find.
    config.jobs.mode = app::background::JobsMode::Off;
    let app = TestApp::spawn_with(config).await;
    let (org, key) = app.org(Plan::Pro);
    let (other_org, other) = app.org(Plan::Pro);
    let name = app.store.find_org(&org).unwrap().unwrap().name;
    // Something in every table an org writes to.
    let mut body = seed_body();
    body["audit_sample"] = json!({"input_excerpt": "secret-free excerpt"});
    body["metadata"] = json!({"client": "acme"});
    for i in 0..25 {
        assert_eq!(
            app.track(&key, &body, Some(&format!("k{i}"))).await.status,
            201
        );
        assert_eq!(app.track(&other, &body, None).await.status, 201);
    }
    let send = |path: &'static str, k: &str, method: Method, b: Value| {
        let k = k.to_owned();
        let app = &app;
        async move {
            app.send(
                method,
                path,
                Some(&k),
                &[("Content-Type", "application/json")],
                Some(serde_json::to_vec(&b).unwrap()),
            )
            .await
        }
    };
    let r = send(
        "/api/v1/agents/support-bot",
        &key,
        Method::PUT,
        json!({"hourly_rate": 50}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        "/api/v1/task-types/email_classification/override",
        &key,
        Method::POST,
        json!({"baseline_minutes_override": 3, "reason": "measured"}),
    )
    .await;
    assert!(r.status < 300, "{}", r.text);
    let r = send(
        "/api/v1/task-types",
        &key,
        Method::POST,
        json!({"key": "triage_call", "display_name": "Triage call", "default_baseline_minutes": 12}),
    )
    .await;
    assert!(r.status < 300, "{}", r.text);
    let hook = send(
        "/api/v1/webhooks",
        &key,
        Method::POST,
        json!({"url": "http://127.0.0.1:9/hook", "event_types": ["event.created"]}),
    )
    .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let secret = hook.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.track(&key, &body, None).await.status, 201);
    let r = send(
        "/api/v1/keys",
        &key,
        Method::POST,
        json!({"name": "ci", "scopes": ["read"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let share = app.cli(&["share", "create", "--org", &org]);
    assert!(
        share.status.success(),
        "{}",
        String::from_utf8_lossy(&share.stderr)
    );
    // A webhook delivery with an attempt (jobs are off: the attempt is written as the worker
    // would), a dashboard session, a digest with its email and send job, prices of its own.
    let hook_id = hook.body["id"].as_str().unwrap().to_owned();
    let ping = app
        .send(
            Method::POST,
            &format!("/api/v1/webhooks/{hook_id}/test"),
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(ping.status, 202, "{}", ping.text);
    let delivery = ping.body["id"].as_str().unwrap().to_owned();
    sql(
        &app.db_url,
        &format!(
            "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, error, duration_ms, response_body) \
             VALUES ('{delivery}', 1, 0, 500, NULL, 5, 'no')"
        ),
    );
    let prefix = app.store.list_keys(&org).unwrap()[0].prefix.clone();
    app.store
        .insert_session(&store::SessionRow {
            id: clock::ulid(clock::now()).to_string(),
            token_hash: format!("{:064x}", 11),
            org_id: org.clone(),
            key_prefix: prefix,
            created_at: 1,
            expires_at: i64::MAX,
        })
        .unwrap();
    let out = app.cli(&["org", "set", &org, "--digest-to", "cfo@example.com"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (year, week, _) = (clock::now() - time::Duration::days(7)).to_iso_week_date();
    let out = app.cli(&[
        "digest",
        "send",
        "--org",
        &org,
        "--week",
        &format!("{year}-W{week:02}"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prices = dir_for_prices();
    let out = app.cli(&[
        "prices",
        "import",
        prices.1.to_str().unwrap(),
        "--org",
        &org,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.store.fold_rollups(None).unwrap();
    let other_events = app.store.count_events(&other_org).unwrap();
    let held = [
        "api_keys",
        "agents",
        "task_type_overrides",
        "custom_task_types",
        "prices",
        "events",
        "idempotency_keys",
        "monthly_usage",
        "rollup_hourly",
        "dashboard_sessions",
        "share_links",
        "webhook_endpoints",
        "webhook_deliveries",
        "digests",
        "digest_emails",
    ];
    for table in held {
        assert!(
            count(&app.db_url, table, "org_id", &org) > 0,
            "{table} holds no row to erase"
        );
    }
    assert_eq!(
        count(&app.db_url, "webhook_attempts", "delivery_id", &delivery),
        1
    );
    assert_eq!(
        count(&app.db_url, "background_jobs", "kind", "send-digest-emails"),
        1
    );

    // The export: every record, never a hash or a secret.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("org.jsonl");
    let out = app.cli(&["org", "export", &name, "--output", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |t: &str| lines.iter().filter(|l| l["type"] == t).count();
    assert_eq!(lines[0]["type"], "org");
    assert_eq!(lines[0]["id"], org.as_str());
    assert_eq!(lines[0]["retention_days"], 365);
    assert_eq!(of("event"), 26);
    assert_eq!(of("agent"), 1);
    assert_eq!(of("override"), 1);
    assert_eq!(of("task_type"), 1);
    assert_eq!(of("key"), 2);
    assert_eq!(of("webhook"), 1);
    let event = lines.iter().find(|l| l["type"] == "event").unwrap();
    assert_eq!(
        event["audit_sample"]["input_excerpt"],
        "secret-free excerpt"
    );
    assert_eq!(event["metadata"]["client"], "acme");
    assert!(event["received_at"].is_string());
    assert!(!text.contains(&secret), "the webhook secret was exported");
    for k in app.store.list_keys(&org).unwrap() {
        assert!(!text.contains(&k.secret_hash), "a key hash was exported");
    }
    assert!(
        !text.contains(&other_org),
        "another org's data was exported"
    );
    // To standard output too, the same events (a key's last use may move in between).
    let stdout = app.cli(&["org", "export", &org]);
    let events_of = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("{\"type\":\"event\""))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        events_of(&String::from_utf8_lossy(&stdout.stdout)),
        events_of(&text)
    );
    assert_eq!(events_of(&text).len(), 26);

    // A wrong confirmation deletes nothing.
    assert_eq!(get(&app, &key, "/api/v1/summary").await.status, 200);
    // Another instance has the key in its cache too.
    let second = second_instance(&app);
    assert_eq!(status_at(&second, &key).await, 200);
    let out = app.cli(&["org", "delete", &org, "--confirm", "not-the-name"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was deleted"));
    assert_eq!(app.store.count_events(&org).unwrap(), 26);

    let out = app.cli(&["org", "delete", &org, "--confirm", &name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for table in held {
        assert_eq!(count(&app.db_url, table, "org_id", &org), 0, "{table}");
    }
    assert_eq!(
        count(&app.db_url, "webhook_attempts", "delivery_id", &delivery),
        0
    );
    assert_eq!(
        count(&app.db_url, "background_jobs", "kind", "send-digest-emails"),
        0
    );
    assert_eq!(count(&app.db_url, "orgs", "id", &org), 0);
    // The other org is untouched, and its reports still add up.
    assert_eq!(app.store.count_events(&other_org).unwrap(), other_events);
    let theirs = get(&app, &other, "/api/v1/summary?period=all").await;
    assert_eq!(theirs.body["events"], other_events);
    // The deleted org's key: refused on both instances once the key cache TTL (1 s here) has
    // passed.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let r = get(&app, &key, "/api/v1/summary").await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(status_at(&second, &key).await, 401);
    // New events of other orgs after the erasure are counted exactly once.
    assert_eq!(app.track(&other, &body, None).await.status, 201);
    app.store.fold_rollups(None).unwrap();
    let theirs = get(&app, &other, "/api/v1/summary?period=all").await;
    assert_eq!(theirs.body["events"], other_events + 1);
    // Deleting it again: a clear error.
    let out = app.cli(&["org", "delete", &org, "--confirm", &name]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no org"));
}

#[actix_web::test]
async fn the_scheduled_sweep_runs_on_its_own() {
    let mut config = common::test_config();
    config.jobs.sweep_every = std::time::Duration::from_millis(300);
    let app = TestApp::spawn_with(config).await;
    let (org, key) = app.org(Plan::Pro);
    let now_ms = clock::unix_ms(clock::now());
    for days in [10, 40, 60] {
        let mut b = seed_body();
        b["occurred_at"] = json!(at(now_ms - days * DAY_MS));
        assert_eq!(app.track(&key, &b, None).await.status, 201);
    }
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    assert!(app
        .cli(&["org", "set", &org, "--retention-days", "30"])
        .status
        .success());
    // As if they had arrived two days ago: past their idempotency window.
    sql(
        &app.db_url,
        &format!(
            "UPDATE events SET received_at = {} WHERE org_id = '{org}'",
            now_ms - 2 * DAY_MS
        ),
    );
    for _ in 0..500 {
        if app.store.count_events(&org).unwrap() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.store.count_events(&org).unwrap(), 2);
    let metrics = app.send(Method::GET, "/metrics", None, &[], None).await;
    assert!(
        metrics
            .text
            .contains("humanhours_job_runs_total{kind=\"sweep-retention\",result=\"ok\"}"),
        "{}",
        metrics.text
    );
}
