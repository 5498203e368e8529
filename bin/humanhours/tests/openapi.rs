//! The OpenAPI document: served without a key, OpenAPI 3.x, and complete (every mounted route,
//! every error code).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::collections::BTreeSet;

use common::TestApp;
use humanhours::http::errors::ErrorKind;
use humanhours::http::routes::{allowed_methods, API_ROUTES, PREFIXES, PUBLIC_ROUTES};
use ratelimit::Plan;
use serde_json::Value;

async fn fetch(app: &TestApp, path: &str) -> Value {
    let r = app.send(reqwest::Method::GET, path, None, &[], None).await;
    assert_eq!(r.status, 200, "{path} needs no key: {}", r.text);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert!(r.body.is_object(), "{path} is JSON: {}", r.text);
    r.body
}

/// (method, path) of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    out
}

/// (method, full path) of every `#[utoipa::path(...)]` annotation in the sources of `http/`.
fn annotated_operations() -> BTreeSet<(String, String)> {
    let mut files = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http")];
    let mut out = BTreeSet::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for block in text.split("#[utoipa::path(").skip(1) {
            let mut lines = block.lines().map(str::trim);
            let method = lines
                .find(|l| !l.is_empty())
                .unwrap()
                .trim_end_matches(',')
                .to_owned();
            let path = lines
                .find_map(|l| l.strip_prefix("path = \""))
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned();
            out.insert((method, path));
        }
    }
    out
}

#[actix_web::test]
async fn the_document_is_served_without_a_key_under_both_prefixes() {
    let app = TestApp::spawn().await;
    let doc = fetch(&app, "/api/v1/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["title"], "humanhours");
    assert!(doc["info"]["description"].as_str().unwrap().contains("/v1"));
    assert_eq!(
        fetch(&app, "/v1/openapi.json").await,
        doc,
        "the alias serves the same"
    );
    // The document is public, not the API: a keyed route still needs its key.
    let r = app
        .send(reqwest::Method::GET, "/api/v1/agents", None, &[], None)
        .await;
    assert_eq!((r.status, r.code()), (401, "missing_authorization"));
}

#[actix_web::test]
async fn the_document_lists_exactly_the_mounted_routes() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let doc = fetch(&app, "/api/v1/openapi.json").await;
    let mut mounted: BTreeSet<(String, String)> = API_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), format!("{}{p}", PREFIXES[0])))
        .collect();
    mounted.extend(
        PUBLIC_ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string())),
    );
    assert_eq!(operations(&doc), mounted);
    // And every handler annotated with an operation is in the route list: a handler written
    // and documented but never mounted would otherwise be missing from both.
    assert_eq!(annotated_operations(), mounted);

    // Every listed route is really mounted under both prefixes: with a key, none of them is
    // the 404 of an unknown route.
    for (method, path) in API_ROUTES {
        let concrete = path
            .replace("{agent_id}", "a")
            .replace("{key}", "ticket_routing")
            .replace("{id}", "wh_none")
            .replace("{delivery_id}", "whdel_none");
        for prefix in PREFIXES {
            let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let r = app
                .send(m, &format!("{prefix}{concrete}"), Some(&key), &[], None)
                .await;
            assert!(
                r.status != 404
                    || r.text.contains("no task type")
                    || r.text.contains("custom")
                    || r.text.contains("no such webhook endpoint")
                    || r.text.contains("no live key of this org"),
                "{method} {prefix}{concrete} is not mounted: {}",
                r.text
            );
            assert!(r.status < 500, "{method} {prefix}{concrete}: {}", r.text);
        }
    }
}

#[actix_web::test]
async fn every_error_code_is_in_the_document_with_the_envelope() {
    let app = TestApp::spawn().await;
    let doc = fetch(&app, "/api/v1/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    let listed: BTreeSet<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    // The kinds are derived from the error enum (strum), so a new variant is listed without
    // anyone remembering to.
    let codes: BTreeSet<&str> = ErrorKind::all().map(|k| k.status_and_code().1).collect();
    assert_eq!(listed, codes);
    // Every code of the contract (API.md §2, and §13's insufficient_scope), the three the
    // server adds for HTTP itself (the 408 of a slow body is API.md §14's), and the three of
    // `/mcp`'s HTTP edge (API.md §11: Origin and Host, Accept, the transport's refusals).
    let contract = [
        "missing_authorization",
        "invalid_api_key",
        "key_revoked",
        "validation_error",
        "unknown_task_type",
        "occurred_at_out_of_range",
        "idempotency_key_reused",
        "idempotency_key_in_use",
        "feature_locked",
        "insufficient_scope",
        "not_found",
        "payload_too_large",
        "rate_limited",
        "quota_exceeded",
        "internal",
        "unavailable",
        "unsupported_media_type",
        "method_not_allowed",
        "request_timeout",
        "origin_not_allowed",
        "not_acceptable",
        "mcp_protocol_error",
    ];
    assert_eq!(listed, contract.into_iter().collect::<BTreeSet<_>>());
    assert_eq!(
        schemas["ErrorEnvelope"]["required"],
        serde_json::json!(["error"])
    );
    assert_eq!(
        schemas["ErrorBody"]["required"],
        serde_json::json!(["code", "message"])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Every 4xx/5xx answer of every operation is the envelope; keyed routes declare the bearer
    // scheme and the shared answers.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let keyed = path.starts_with("/api/v1/") && path != "/api/v1/openapi.json";
            let responses = op["responses"].as_object().unwrap();
            for (status, resp) in responses {
                if status.as_str() >= "400" {
                    let schema = resp["content"]["application/json"]["schema"].to_string();
                    assert!(
                        schema.contains("#/components/schemas/ErrorEnvelope"),
                        "{method} {path} {status}: {schema}"
                    );
                }
            }
            for status in ["401", "429", "500", "503"] {
                assert_eq!(
                    responses.contains_key(status),
                    keyed || status == "500" || (path == "/readyz" && status == "503"),
                    "{method} {path} {status}"
                );
            }
            assert_eq!(op["security"].is_array(), keyed, "{method} {path}");
            if keyed {
                // The scope the route needs is the security requirement's role.
                let sub = path.strip_prefix("/api/v1").unwrap();
                let want = humanhours::http::routes::API_ROUTE_SCOPES
                    .iter()
                    .find(|(m, p, _)| m == method && *p == sub)
                    .map(|(_, _, s)| *s)
                    .unwrap();
                assert_eq!(
                    op["security"][0]["bearer"],
                    serde_json::json!([want]),
                    "{method} {path}"
                );
                assert!(responses.contains_key("403"), "{method} {path}");
            }
        }
    }
    let track = &doc["paths"]["/api/v1/track"]["post"]["responses"];
    assert!(track["201"]["headers"]["RateLimit"].is_object());
    assert!(track["201"]["headers"]["RateLimit-Policy"].is_object());
    assert!(track["200"]["headers"]["Idempotent-Replayed"].is_object());
    assert!(track["429"]["headers"]["Retry-After"].is_object());
    for status in ["409", "413", "415", "422"] {
        assert!(track[status].is_object(), "/track documents {status}");
    }
}

#[actix_web::test]
async fn a_wrong_method_is_405_with_allow_in_the_envelope() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    for (method, path, allow) in [
        (reqwest::Method::GET, "/api/v1/track", "POST"),
        (reqwest::Method::DELETE, "/v1/task-types", "GET, POST"),
        (reqwest::Method::PATCH, "/api/v1/agents/bot-1", "PUT"),
        (reqwest::Method::POST, "/healthz", "GET"),
        (reqwest::Method::DELETE, "/v1/openapi.json", "GET"),
    ] {
        let r = app.send(method.clone(), path, Some(&key), &[], None).await;
        assert_eq!(
            (r.status, r.code(), r.header("allow")),
            (405, "method_not_allowed", Some(allow)),
            "{method} {path}: {}",
            r.text
        );
    }
    assert!(allowed_methods("/api/v1/nope").is_empty());
    let r = app
        .send(reqwest::Method::GET, "/api/v1/nope", Some(&key), &[], None)
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
}
