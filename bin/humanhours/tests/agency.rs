//! Agency workspaces (API.md §12): an anchor and its workspaces share one monthly pool,
//! counted exactly under concurrent writes; an anchor's key reads a workspace with
//! `?workspace=`, a workspace's key sees only itself; the CLI keeps the tree whole. On SQLite,
//! and on PostgreSQL with `HUMANHOURS_TEST_BACKEND=postgres` (two instances: `instances.rs`).

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use app::clock;
use app::orgs::{self, NewOrg};
use common::{seed_body, sql, TestApp};
use ratelimit::Plan;
use reqwest::Method;
use serde_json::{json, Value};

async fn get(app: &TestApp, key: &str, path: &str) -> common::Reply {
    app.send(Method::GET, path, Some(key), &[], None).await
}

/// An anchor and `n` workspaces with a key each: [(org id, key)], the anchor first.
fn tree(app: &TestApp, n: usize) -> Vec<(String, String)> {
    let stamp = clock::ulid(clock::now());
    let anchor = app.org_with(NewOrg::named(&format!("agency-{stamp}"), Plan::Agency));
    let mut out = vec![anchor.clone()];
    for i in 0..n {
        out.push(app.org_with(NewOrg {
            parent: Some(anchor.0.clone()),
            ..NewOrg::named(&format!("client-{i}-{stamp}"), Plan::Agency)
        }));
    }
    out
}

fn month() -> String {
    clock::month(clock::now())
}

#[actix_web::test]
async fn a_tree_counts_one_pool_exactly_under_concurrent_writes() {
    let app = TestApp::spawn().await;
    let orgs = tree(&app, 2);
    let anchor = orgs[0].0.clone();
    // 50 events short of the pool's 25,000, as if the month had run on.
    sql(
        &app.db_url,
        &format!(
            "INSERT INTO pool_usage (anchor_id, month, events, overage_events) \
             VALUES ('{anchor}', '{}', 24950, 0)",
            month()
        ),
    );
    // 40 single events and a batch of 20 per org, all at once: 180 events.
    let mut tasks = Vec::new();
    for (o, (_, key)) in orgs.iter().enumerate() {
        for i in 0..40 {
            let (app, key) = (&app, key.clone());
            tasks.push(Box::pin(async move {
                let r = app
                    .track(&key, &seed_body(), Some(&format!("s-{o}-{i}")))
                    .await;
                assert_eq!(r.status, 201, "{}", r.text);
                1i64
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = i64>>>);
        }
        let (app, key) = (&app, key.clone());
        tasks.push(Box::pin(async move {
            let events: Vec<Value> = (0..20).map(|_| seed_body()).collect();
            let r = app
                .send(
                    Method::POST,
                    "/api/v1/track/batch",
                    Some(&key),
                    &[("Content-Type", "application/json")],
                    Some(serde_json::to_vec(&json!({ "events": events })).unwrap()),
                )
                .await;
            assert_eq!(r.body["created"], 20, "{}", r.text);
            20
        }));
    }
    let sent: i64 = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .sum();
    assert_eq!(sent, 180);
    // Replays count nothing.
    for (o, (_, key)) in orgs.iter().enumerate() {
        let r = app
            .track(key, &seed_body(), Some(&format!("s-{o}-0")))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let pool = app.store.pool_usage(&anchor, &month()).unwrap();
    assert_eq!((pool.events, pool.overage_events), (25_130, 130));
    for (org, _) in &orgs {
        let own = app.store.usage(org, &month()).unwrap();
        assert_eq!((own.events, own.overage_events), (60, 0), "{org}");
        assert_eq!(app.store.count_events(org).unwrap(), 60);
    }

    // The anchor's usage holds the tree's pool and its overage, charged at €0.005 an event.
    let u = get(&app, &orgs[0].1, "/api/v1/reports/usage").await;
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["plan"], "agency");
    assert_eq!(u.body["events_this_month"], 60);
    assert_eq!(u.body["events_included"], 25_000);
    assert_eq!(u.body["pool_events_this_month"], 25_130);
    assert_eq!(u.body["overage_events"], 130);
    assert!(u.text.contains(r#""overage_charge":0.65,"#), "{}", u.text);
    assert_eq!(u.body["overage_charge_currency"], "EUR");
    assert_eq!(u.body["anchor_org_id"], Value::Null);
    assert_eq!(u.body["event_cap"], Value::Null);
    assert_eq!(u.body["rate_limit_per_second"], 500);
    // A workspace's: its own events, the same pool, no overage or charge of its own.
    let u = get(&app, &orgs[1].1, "/api/v1/reports/usage").await;
    assert_eq!(u.body["events_this_month"], 60, "{}", u.text);
    assert_eq!(u.body["pool_events_this_month"], 25_130);
    assert_eq!(u.body["overage_events"], 0);
    assert_eq!(u.body["overage_charge"], Value::Null);
    assert_eq!(u.body["anchor_org_id"], anchor.as_str());
    // Off the agency plan the new fields are null.
    let (_, pro) = app.org(Plan::Pro);
    let u = get(&app, &pro, "/api/v1/reports/usage").await;
    assert_eq!(u.body["pool_events_this_month"], Value::Null, "{}", u.text);
    assert_eq!(u.body["anchor_org_id"], Value::Null);
}

/// The answer of a read route without what changes from one call to the next.
fn steady(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("generated_at");
    }
    v
}

#[actix_web::test]
async fn an_anchor_reads_its_workspaces_and_a_workspace_only_itself() {
    let app = TestApp::spawn().await;
    let orgs = tree(&app, 2);
    let (anchor, anchor_key) = orgs[0].clone();
    let (child, child_key) = orgs[1].clone();
    let (sibling, sibling_key) = orgs[2].clone();
    let mut body = seed_body();
    body["audit_sample"] = json!({"input_excerpt": "child's text"});
    for _ in 0..3 {
        assert_eq!(app.track(&child_key, &body, None).await.status, 201);
    }
    let mut other = seed_body();
    other["agent_id"] = json!("anchor-bot");
    assert_eq!(app.track(&anchor_key, &other, None).await.status, 201);
    other["agent_id"] = json!("sibling-bot");
    assert_eq!(app.track(&sibling_key, &other, None).await.status, 201);
    app.store.fold_rollups(None).unwrap();

    // Every read route answers the anchor's key for the workspace exactly as it answers the
    // workspace's own key.
    let day = time::Duration::days(1);
    let (from, to) = (
        clock::format_ms(clock::now() - day),
        clock::format_ms(clock::now() + day),
    );
    let range = format!("from={from}&to={to}");
    let routes = [
        format!("/api/v1/summary?{range}"),
        format!("/api/v1/reports/time-saved?{range}&group_by=agent"),
        format!("/api/v1/reports/cost-saved?{range}&group_by=task_type"),
        format!("/api/v1/reports/leaderboard?{range}"),
        format!("/api/v1/reports/export?{range}&format=csv"),
        "/api/v1/reports/usage".to_owned(),
        "/api/v1/events?limit=10".to_owned(),
        "/api/v1/agents".to_owned(),
        "/api/v1/task-types?category=support".to_owned(),
        "/api/v1/org".to_owned(),
    ];
    for route in &routes {
        let own = get(&app, &child_key, route).await;
        assert_eq!(own.status, 200, "{route}: {}", own.text);
        let sep = if route.contains('?') { '&' } else { '?' };
        let through = get(&app, &anchor_key, &format!("{route}{sep}workspace={child}")).await;
        assert_eq!(through.status, 200, "{route}: {}", through.text);
        if own.body.is_null() {
            assert_eq!(through.text, own.text, "{route}");
        } else {
            assert_eq!(steady(&through.body), steady(&own.body), "{route}");
        }
        // The parameter first, or in the middle, is the same.
        let first = route.replacen('?', &format!("?workspace={child}&"), 1);
        if first != *route {
            let r = get(&app, &anchor_key, &first).await;
            assert_eq!(r.status, 200, "{first}: {}", r.text);
        }
    }
    // The MCP read tools take `workspace` by the same rules.
    let mcp = |key: String, args: Value| {
        let app = &app;
        async move {
            let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "get_summary", "arguments": args}});
            app.send(
                Method::POST,
                "/mcp",
                Some(&key),
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "application/json, text/event-stream"),
                ],
                Some(serde_json::to_vec(&call).unwrap()),
            )
            .await
        }
    };
    let own = get(&app, &child_key, &format!("/api/v1/summary?{range}")).await;
    let r = mcp(
        anchor_key.clone(),
        json!({"workspace": child, "from": from, "to": to}),
    )
    .await;
    assert_eq!(r.body["result"]["isError"], false, "{}", r.text);
    assert_eq!(
        steady(&r.body["result"]["structuredContent"]),
        steady(&own.body)
    );
    let r = mcp(child_key.clone(), json!({"workspace": sibling})).await;
    assert_eq!(r.body["result"]["isError"], true, "{}", r.text);
    assert_eq!(
        r.body["result"]["structuredContent"]["error"]["code"],
        "not_found"
    );

    // The anchor alone sees its own events only, and lists its workspaces.
    let s = get(&app, &anchor_key, &format!("/api/v1/summary?{range}")).await;
    assert_eq!(s.body["events"], 1, "{}", s.text);
    let s = get(
        &app,
        &anchor_key,
        &format!("/api/v1/summary?{range}&workspace={child}"),
    )
    .await;
    assert_eq!(s.body["events"], 3, "{}", s.text);
    let o = get(&app, &anchor_key, "/api/v1/org").await;
    let listed: Vec<&str> = o.body["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [child.as_str(), sibling.as_str()]);
    assert_eq!(o.body["parent_id"], Value::Null);
    let o = get(&app, &child_key, "/api/v1/org").await;
    assert_eq!(o.body["parent_id"], anchor.as_str());
    assert_eq!(o.body["workspaces"], json!([]));
    let events = get(
        &app,
        &anchor_key,
        &format!("/api/v1/events?workspace={child}"),
    )
    .await;
    assert_eq!(
        events.body["events"].as_array().unwrap().len(),
        3,
        "{}",
        events.text
    );
    assert_eq!(
        events.body["events"][0]["audit_sample"]["input_excerpt"],
        "child's text"
    );

    // Never the other way, nor sideways, nor across tenants: one 404 for all of them.
    let (stranger, stranger_key) = app.org(Plan::Pro);
    let (_, other_anchor_key) = tree(&app, 0).remove(0);
    let refused = [
        (&child_key, anchor.as_str()),
        (&child_key, sibling.as_str()),
        (&sibling_key, child.as_str()),
        (&anchor_key, stranger.as_str()),
        (&other_anchor_key, child.as_str()),
        (&stranger_key, child.as_str()),
        (&anchor_key, "org_00000000000000000000000000"),
        (&anchor_key, "'; DROP TABLE orgs; --"),
    ];
    for (key, ws) in refused {
        let q: String = url_encode(ws);
        for route in ["/api/v1/summary", "/api/v1/events", "/api/v1/reports/usage"] {
            let r = get(&app, key, &format!("{route}?workspace={q}")).await;
            assert_eq!(r.status, 404, "{route} {ws}: {}", r.text);
            assert_eq!(r.code(), "not_found");
            assert!(!r.text.contains("sibling-bot") && !r.text.contains("anchor-bot"));
        }
    }
    // A key naming its own org reads itself.
    let r = get(
        &app,
        &child_key,
        &format!("/api/v1/summary?{range}&workspace={child}"),
    )
    .await;
    assert_eq!(r.body["events"], 3, "{}", r.text);
    // Empty or twice: 422 on the parameter.
    for q in [
        "workspace=".to_owned(),
        format!("workspace={child}&workspace={child}"),
    ] {
        let r = get(&app, &anchor_key, &format!("/api/v1/summary?{q}")).await;
        assert_eq!(
            (r.status, r.field()),
            (422, Some("workspace")),
            "{q}: {}",
            r.text
        );
    }
    // Writes stay with the key's own org: the parameter is refused, nothing is written.
    let before = app.store.count_events(&child).unwrap();
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/track?workspace={child}"),
            Some(&anchor_key),
            &[("Content-Type", "application/json")],
            Some(serde_json::to_vec(&seed_body()).unwrap()),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("workspace")),
        "{}",
        r.text
    );
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/org?workspace={child}"),
            Some(&anchor_key),
            &[("Content-Type", "application/json")],
            Some(br#"{"timezone":"Europe/Berlin"}"#.to_vec()),
        )
        .await;
    assert_eq!(
        (r.status, r.field()),
        (422, Some("workspace")),
        "{}",
        r.text
    );
    assert_eq!(app.store.count_events(&child).unwrap(), before);
    assert_eq!(app.store.count_events(&anchor).unwrap(), 1);
    // The scope is checked first: a track-only key of the anchor reads nothing.
    let out = app.cli(&["key", "create", "--org", &anchor, "--scopes", "track"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let track_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let r = get(
        &app,
        &track_key,
        &format!("/api/v1/summary?workspace={child}"),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "insufficient_scope"),
        "{}",
        r.text
    );
    // The document lists the parameter on read routes only.
    let doc = app
        .send(Method::GET, "/api/v1/openapi.json", None, &[], None)
        .await;
    let has = |path: &str, method: &str| {
        doc.body["paths"][path][method]["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "workspace"))
    };
    assert!(has("/api/v1/summary", "get") && has("/api/v1/events", "get"));
    assert!(!has("/api/v1/track", "post") && !has("/api/v1/webhooks", "get"));
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn refused(out: &std::process::Output, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "accepted; wanted a refusal saying {says:?}"
    );
    assert!(err.contains(says), "{err}");
}

#[actix_web::test]
async fn the_cli_keeps_the_tree_whole() {
    let app = TestApp::spawn().await;
    let anchor = ok(&app.cli(&["org", "create", "--name", "Agency", "--plan", "agency"]));
    let anchor = anchor.trim().to_owned();
    let mut children = Vec::new();
    for i in 0..4 {
        // --plan may be left out: a workspace is on the agency plan.
        let c = ok(&app.cli(&[
            "org",
            "create",
            "--name",
            &format!("Client {i}"),
            "--parent",
            "Agency",
        ]));
        children.push(c.trim().to_owned());
    }
    refused(
        &app.cli(&["org", "create", "--name", "Client 4", "--parent", "Agency"]),
        "has 4 workspaces already",
    );
    refused(
        &app.cli(&[
            "org", "create", "--name", "X", "--parent", "Agency", "--plan", "pro",
        ]),
        "a workspace (--parent) is on its anchor's plan",
    );
    refused(
        &app.cli(&["org", "create", "--name", "X", "--parent", &children[0]]),
        "is a workspace itself",
    );
    let pro = ok(&app.cli(&["org", "create", "--name", "Solo", "--plan", "pro"]));
    refused(
        &app.cli(&["org", "create", "--name", "X", "--parent", "Solo"]),
        "is on plan pro",
    );
    refused(
        &app.cli(&["org", "create", "--name", "X", "--parent", "nobody"]),
        "no org with id or name 'nobody'",
    );
    refused(
        &app.cli(&[
            "org",
            "create",
            "--name",
            "X",
            "--plan",
            "agency",
            "--monthly-event-cap",
            "5",
        ]),
        "takes no monthly event cap",
    );
    refused(
        &app.cli(&["org", "set", "Agency", "--monthly-event-cap", "100"]),
        "takes no monthly event cap",
    );
    refused(
        &app.cli(&["org", "set", "Client 0", "--plan", "pro"]),
        "is a workspace",
    );
    refused(
        &app.cli(&["org", "set", "Agency", "--plan", "enterprise"]),
        "delete them before changing its plan",
    );
    ok(&app.cli(&["org", "set", "Solo", "--monthly-event-cap", "100"]));
    refused(
        &app.cli(&["org", "set", "Solo", "--plan", "agency"]),
        "--monthly-event-cap none",
    );
    ok(&app.cli(&[
        "org",
        "set",
        "Solo",
        "--plan",
        "agency",
        "--monthly-event-cap",
        "none",
    ]));
    // Nothing refused was written.
    let all = app.store.list_orgs().unwrap();
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(
        all.iter()
            .filter(|o| o.parent_id.as_deref() == Some(anchor.as_str()))
            .count()
            == 4
    );

    // The list shows the tree: each workspace right below its anchor, with its parent.
    let list = ok(&app.cli(&["org", "list"]));
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0].last(), Some(&"parent"));
    let at = rows.iter().position(|r| r[0] == anchor).unwrap();
    for (k, child) in children.iter().enumerate() {
        let r = &rows[at + 1 + k];
        assert_eq!(
            (r[0], r[2], *r.last().unwrap()),
            (child.as_str(), "agency", anchor.as_str())
        );
        assert!(r[1].ends_with(&format!("Client {k}")), "{r:?}");
    }
    assert_eq!(*rows[at].last().unwrap(), "-");

    // An anchor goes after its workspaces, and its pool with it.
    let key = orgs::create_key(
        &app.store,
        &app.hasher,
        &anchor,
        app::keys::KeyMode::Live,
        clock::now(),
    )
    .unwrap();
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    refused(
        &app.cli(&["org", "delete", "Agency", "--confirm", "Agency"]),
        "has 4 workspace(s): delete them first",
    );
    assert_eq!(app.store.count_events(&anchor).unwrap(), 1);
    // A workspace's export names its anchor.
    let export = ok(&app.cli(&["org", "export", &children[0]]));
    let first: Value = serde_json::from_str(export.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "org", "{first}");
    assert_eq!(first["parent_id"], anchor.as_str(), "{first}");
    for (k, child) in children.iter().enumerate() {
        ok(&app.cli(&["org", "delete", child, "--confirm", &format!("Client {k}")]));
    }
    assert_eq!(app.store.pool_usage(&anchor, &month()).unwrap().events, 1);
    // With its workspaces gone, an anchor may change plans.
    ok(&app.cli(&["org", "set", "Agency", "--plan", "pro"]));
    ok(&app.cli(&["org", "delete", "Agency", "--confirm", "Agency"]));
    assert_eq!(app.store.pool_usage(&anchor, &month()).unwrap().events, 0);
    assert!(app.store.find_org(&anchor).unwrap().is_none());
    assert!(app.store.find_org(pro.trim()).unwrap().is_some());
}

/// Creates workspace `name` of `anchor` on a thread of its own: whether it was made.
fn create_workspace_in_thread(
    store: &std::sync::Arc<store::Store>,
    anchor: &str,
    name: String,
) -> std::thread::JoinHandle<bool> {
    let (store, anchor) = (store.clone(), anchor.to_owned());
    std::thread::spawn(move || {
        let new = NewOrg {
            parent: Some(anchor),
            ..NewOrg::named(&name, Plan::Agency)
        };
        orgs::create_org(&store, &new, clock::now()).is_ok()
    })
}

#[actix_web::test]
async fn workspaces_created_at_once_never_pass_four() {
    let app = TestApp::spawn().await;
    let anchor = app.org(Plan::Agency).0;
    let store = app.store.clone();
    let handles: Vec<_> = (0..8)
        .map(|i| create_workspace_in_thread(&store, &anchor, format!("ws-{i}")))
        .collect();
    let made = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(made, 4);
    assert_eq!(store.workspaces(&anchor).unwrap().len(), 4);
}

#[actix_web::test]
async fn a_plan_change_racing_new_workspaces_never_leaves_a_workspace_under_another_plan() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let anchor = app.org(Plan::Agency).0;
        let store = app.store.clone();
        let mut handles: Vec<_> = (0..3)
            .map(|i| create_workspace_in_thread(&store, &anchor, format!("ws-{round}-{i}")))
            .collect();
        let (s, a) = (store.clone(), anchor.clone());
        handles.push(std::thread::spawn(move || {
            let change = orgs::OrgUpdate {
                plan: Some(Plan::Pro),
                ..orgs::OrgUpdate::default()
            };
            orgs::update_org(&s, &a, &change).is_ok()
        }));
        for h in handles {
            h.join().unwrap();
        }
        let plan = store.find_org(&anchor).unwrap().unwrap().plan;
        let workspaces = store.workspaces(&anchor).unwrap().len();
        assert!(
            plan == "agency" || workspaces == 0,
            "round {round}: the anchor is on {plan} with {workspaces} workspaces"
        );
    }
}
