//! Key scopes and the keys API (API.md §13): every keyed route refuses a key without its
//! scope (403 `insufficient_scope`, before reading the request) and serves one with it; keys
//! created, listed and revoked over HTTP with an admin key; bad input; tenants; the CLI.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use app::keys::KeyMode;
use common::TestApp;
use humanhours::http::routes::{API_ROUTE_SCOPES, PREFIXES};
use ratelimit::{Plan, Scopes};
use reqwest::Method;
use serde_json::{json, Value};

/// A key of `org` with only these scopes.
fn key_with(app: &TestApp, org: &str, scopes: &str) -> String {
    let (key, _) = app::orgs::new_key(
        &app.store,
        &app.hasher,
        org,
        KeyMode::Live,
        Scopes::parse(scopes).unwrap(),
        "test",
        app::clock::now(),
    )
    .unwrap();
    key
}

async fn call(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> common::Reply {
    let has_body = body.is_some();
    app.send(
        method,
        path,
        Some(key),
        if has_body {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        },
        body.map(|b| serde_json::to_vec(&b).unwrap()),
    )
    .await
}

fn concrete(path: &str) -> String {
    path.replace("{agent_id}", "scope-probe")
        .replace("{key}", "no_such_type")
        .replace("{delivery_id}", "whdel_none")
        .replace("{id}", "wh_none")
        .replace("{prefix}", "nonenone")
}

#[actix_web::test]
async fn every_route_needs_its_scope_and_serves_a_key_with_it() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org(Plan::Enterprise);
    let keys: Vec<(&str, String)> = ["track", "read", "admin"]
        .into_iter()
        .map(|s| (s, key_with(&app, &org, s)))
        .collect();
    assert_eq!(
        API_ROUTE_SCOPES.len(),
        humanhours::http::routes::API_ROUTES.len()
    );
    for (method, path, needed) in API_ROUTE_SCOPES {
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = matches!(*method, "post" | "put" | "patch").then(|| json!({}));
        for prefix in PREFIXES {
            let url = format!("{prefix}{}", concrete(path));
            for (scope, key) in &keys {
                let r = call(&app, key, m.clone(), &url, body.clone()).await;
                if scope == needed {
                    assert_ne!(
                        r.code(),
                        "insufficient_scope",
                        "{method} {url} with {scope}: {}",
                        r.text
                    );
                    assert!(
                        r.status != 401 && r.status < 500,
                        "{method} {url}: {}",
                        r.text
                    );
                } else {
                    assert_eq!(r.status, 403, "{method} {url} with {scope}: {}", r.text);
                    assert_eq!(r.code(), "insufficient_scope");
                    assert!(r.text.contains(&format!("'{needed}' scope")), "{}", r.text);
                    // The rate-limit headers are still there: the key was checked and counted.
                    assert!(r.header("ratelimit").is_some());
                }
            }
        }
    }
    // A key with all three (every key made before scopes) passes everywhere.
    let (_, all) = app.org(Plan::Enterprise);
    let r = call(&app, &all, Method::GET, "/api/v1/keys", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["keys"][0]["scopes"],
        json!(["track", "read", "admin"])
    );
}

#[actix_web::test]
async fn keys_are_created_listed_and_revoked_with_an_admin_key() {
    let app = TestApp::spawn().await;
    let (org, admin) = app.org(Plan::Pro);
    let r = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/keys",
        Some(json!({"scopes": ["track"], "name": "support agent"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let agent_key = r.body["key"].as_str().unwrap().to_owned();
    let prefix = r.body["prefix"].as_str().unwrap().to_owned();
    assert!(agent_key.starts_with(&format!("hh_live_{prefix}_")));
    assert_eq!(r.body["scopes"], json!(["track"]));
    assert_eq!(r.body["name"], "support agent");
    assert_eq!(r.body["last_used_at"], Value::Null);

    // The new key tracks, and reads nothing.
    let t = app.track(&agent_key, &common::seed_body(), None).await;
    assert_eq!(t.status, 201, "{}", t.text);
    let s = call(&app, &agent_key, Method::GET, "/api/v1/summary", None).await;
    assert_eq!((s.status, s.code()), (403, "insufficient_scope"));

    // Listed without secrets; last use recorded by the periodic task, not per request.
    let list = call(&app, &admin, Method::GET, "/api/v1/keys", None).await;
    assert_eq!(list.status, 200);
    let keys = list.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        !list.text.contains(&agent_key[16..]),
        "no secret in the list"
    );
    assert!(!list.text.contains("argon2"), "no hash in the list");
    assert_eq!(keys[1]["prefix"], json!(prefix));
    assert_eq!(keys[1]["last_used_at"], Value::Null);
    let used = app.state.key_cache.take_used();
    assert!(used.iter().any(|(p, _)| p == &prefix));
    app.store.touch_keys(&used).unwrap();
    let list = call(&app, &admin, Method::GET, "/api/v1/keys", None).await;
    assert!(
        list.body["keys"][1]["last_used_at"].is_string(),
        "{}",
        list.text
    );

    // Another org's admin cannot see or revoke it.
    let (_, other) = app.org(Plan::Pro);
    let r = call(
        &app,
        &other,
        Method::DELETE,
        &format!("/api/v1/keys/{prefix}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = call(&app, &other, Method::GET, "/api/v1/keys", None).await;
    assert_eq!(r.body["keys"].as_array().unwrap().len(), 1);

    // Revoked: refused at once on this instance, listed as revoked, a second revoke is 404.
    let r = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/keys/{prefix}"),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let t = app.track(&agent_key, &common::seed_body(), None).await;
    assert_eq!((t.status, t.code()), (401, "key_revoked"));
    let r = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/keys/{prefix}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let list = call(&app, &admin, Method::GET, "/api/v1/keys", None).await;
    assert!(list.body["keys"][1]["revoked_at"].is_string());

    // Bad input: a clear 422 naming the field, and no key made.
    for (body, field) in [
        (json!({}), Some("scopes")),
        (json!({"scopes": []}), Some("scopes")),
        (json!({"scopes": ["write"]}), Some("scopes")),
        (json!({"scopes": "track"}), Some("scopes")),
        (json!({"scopes": [1]}), Some("scopes")),
        (
            json!({"scopes": ["read"], "name": "x".repeat(101)}),
            Some("name"),
        ),
        (json!({"scopes": ["read"], "name": "a\u{0}b"}), Some("name")),
        (json!({"scopes": ["read"], "name": 5}), Some("name")),
        (
            json!({"scopes": ["read"], "org_id": "org_other"}),
            Some("org_id"),
        ),
    ] {
        let r = call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/keys",
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.field(), field, "{body}");
    }
    assert_eq!(app.store.list_keys(&org).unwrap().len(), 2);

    // Creating keys is bounded per org and hour (each is an argon2 hash): 20, revoked ones
    // included, then 429 with Retry-After.
    // Two so far (the org's first key and the agent's).
    for i in 2..20 {
        let r = call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/keys",
            Some(json!({"scopes": ["read"]})),
        )
        .await;
        assert_eq!(r.status, 201, "key {i}: {}", r.text);
    }
    let r = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/keys",
        Some(json!({"scopes": ["read"]})),
    )
    .await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{}", r.text);
    assert!(r.header("retry-after").unwrap().parse::<u32>().unwrap() > 3000);
}

#[actix_web::test]
async fn the_cli_makes_scoped_keys() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org(Plan::Pro);
    let out = app.cli(&[
        "key",
        "create",
        "--org",
        &org,
        "--scopes",
        "track",
        "--name",
        "ingest bot",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        app.track(&key, &common::seed_body(), None).await.status,
        201
    );
    let s = call(&app, &key, Method::GET, "/api/v1/agents", None).await;
    assert_eq!(s.code(), "insufficient_scope");
    let bad = app.cli(&["key", "create", "--org", &org, "--scopes", "track,write"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'write' is not a scope"));
    let list =
        String::from_utf8_lossy(&app.cli(&["key", "list", "--org", &org]).stdout).into_owned();
    assert!(
        list.lines().any(|l| l.contains("\ttrack\tingest bot\t")),
        "{list}"
    );
    assert!(
        list.lines().any(|l| l.contains("\ttrack,read,admin\t-\t")),
        "{list}"
    );
}
