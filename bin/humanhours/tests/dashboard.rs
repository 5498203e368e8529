//! The dashboard over HTTP, without a browser: sign-in and its cookie, sign-out, CSRF, share
//! links, escaping of user input, figures equal to the API's, and the CSV of the view; then the
//! pages a team runs its org from (keys, settings and `PATCH /org`, task types, spot-check,
//! webhooks, an agency anchor's workspaces), by scope, with their bad inputs.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use app::clock;
use app::orgs;
use app::tokens::token_hash;
use common::TestApp;
use ratelimit::Plan;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{json, Value};

/// A client that does not follow redirects, so each 303 and its cookies can be looked at.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Resp {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The raw `Set-Cookie` line for a cookie.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    fn cookie_value(&self, name: &str) -> Option<String> {
        self.set_cookie(name).map(|c| {
            c[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_owned()
        })
    }
}

async fn request(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookies: &[(&str, &str)],
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Resp {
    let mut req = client().request(method, format!("{}{path}", app.base));
    if !cookies.is_empty() {
        let c: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        req = req.header(COOKIE, c.join("; "));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(f) = form {
        req = req
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(f).unwrap());
    }
    let r = req.send().await.unwrap();
    Resp {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        text: r.text().await.unwrap(),
    }
}

async fn get(app: &TestApp, path: &str, cookies: &[(&str, &str)]) -> Resp {
    request(app, reqwest::Method::GET, path, cookies, &[], None).await
}

/// The value of a hidden form field named `csrf`.
fn csrf_field(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

/// The sign-in page: (its CSRF cookie, the form's field).
async fn sign_in_form(app: &TestApp) -> (String, String) {
    let r = get(app, "/dashboard/sign-in", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    (r.cookie_value("hh_signin").unwrap(), csrf_field(&r.text))
}

async fn post_sign_in(app: &TestApp, key: &str, headers: &[(&str, &str)]) -> Resp {
    let (cookie, field) = sign_in_form(app).await;
    request(
        app,
        reqwest::Method::POST,
        "/dashboard/sign-in",
        &[("hh_signin", &cookie)],
        headers,
        Some(&[("csrf", &field), ("api_key", key)]),
    )
    .await
}

/// Signs in; returns the session cookie's value.
async fn sign_in(app: &TestApp, key: &str) -> String {
    let r = post_sign_in(app, key, &[]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    r.cookie_value("hh_session").unwrap()
}

async fn dashboard(app: &TestApp, session: &str, query: &str) -> Resp {
    get(
        app,
        &format!("/dashboard{query}"),
        &[("hh_session", session)],
    )
    .await
}

/// `data-value` of the element with `data-metric="<metric>"`.
fn metric(html: &str, name: &str) -> String {
    let needle = format!("data-metric=\"{name}\" data-value=\"");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} in the page"))
        + needle.len();
    html[at..].split('"').next().unwrap().to_owned()
}

async fn summary(app: &TestApp, key: &str, query: &str) -> Value {
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/summary{query}"),
            Some(key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// The number of a JSON answer as its exact text (`null` as empty).
fn exact(v: &Value) -> String {
    if v.is_null() {
        String::new()
    } else {
        v.to_string()
    }
}

fn assert_figures_match(html: &str, s: &Value) {
    for name in [
        "hours_saved",
        "cost_saved",
        "fte_equivalent",
        "events",
        "agent_cost",
        "net_saved",
    ] {
        assert_eq!(
            metric(html, name),
            exact(&s[name]),
            "{name} differs from the summary"
        );
    }
}

/// Events of the last 30 days and older ones, through the API.
async fn track_some(app: &TestApp, key: &str) {
    let now = clock::now();
    let ago = |d: i64| clock::format_ms(now - time::Duration::days(d));
    let bodies = [
        json!({"agent_id": "support-bot", "task_type": "email_classification", "outcome": "success", "agent_duration_seconds": 4}),
        json!({"agent_id": "support-bot", "task_type": "ticket_routing", "outcome": "needs_review", "agent_cost": 0.0123, "model": "openai/gpt-4o-mini"}),
        json!({"agent_id": "drafter", "task_type": "customer_email_draft", "outcome": "success", "agent_duration_seconds": 20, "occurred_at": ago(3)}),
        json!({"agent_id": "drafter", "task_type": "customer_email_draft", "outcome": "failure", "agent_cost": 0.5, "occurred_at": ago(10)}),
        json!({"agent_id": "=cmd", "task_type": "ticket_routing", "outcome": "success", "human_baseline_minutes": 35, "occurred_at": ago(20)}),
        json!({"agent_id": "drafter", "task_type": "email_classification", "outcome": "success", "occurred_at": ago(45)}),
    ];
    for b in &bodies {
        let r = app.track(key, b, None).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

#[actix_web::test]
async fn sign_in_with_a_good_key_starts_a_session_held_in_a_strict_cookie() {
    let app = TestApp::spawn().await;
    let (org_id, key) = app.org(Plan::Pro);

    let r = get(&app, "/dashboard", &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/dashboard/sign-in");

    let r = get(&app, "/dashboard/sign-in", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("text/html"));
    let form_cookie = r.set_cookie("hh_signin").unwrap();
    assert!(form_cookie.contains("HttpOnly"), "{form_cookie}");
    assert!(form_cookie.contains("SameSite=Strict"), "{form_cookie}");
    assert_eq!(r.cookie_value("hh_signin").unwrap(), csrf_field(&r.text));
    assert!(r.text.contains("<label for=\"api_key\">"));

    let r = post_sign_in(&app, &key, &[]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header(LOCATION.as_str()), "/dashboard");
    let line = r.set_cookie("hh_session").unwrap();
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/dashboard",
        "Max-Age=43200",
    ] {
        assert!(line.contains(attr), "{attr} missing: {line}");
    }
    assert!(
        !line.contains("Secure"),
        "plain HTTP must not get a Secure cookie: {line}"
    );
    let token = r.cookie_value("hh_session").unwrap();
    assert_eq!(token.len(), 40);
    assert!(!line.contains(&key) && !line.contains(&key[8..16]));
    // The sign-in form's cookie is dropped.
    assert!(r.set_cookie("hh_signin").unwrap().contains("Max-Age=0"));

    // The database holds the token's hash, never the token or the key.
    let row = app
        .store
        .find_session(&token_hash(&token))
        .unwrap()
        .unwrap();
    assert_eq!(row.org_id, org_id);
    assert_eq!(row.key_prefix, &key[8..16]);
    assert_ne!(row.token_hash, token);

    let page = dashboard(&app, &token, "").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.header("content-type").starts_with("text/html"));
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(page
        .header("content-security-policy")
        .contains("default-src 'none'"));
    assert!(page.text.contains("Sign out"));
    assert!(!page.text.contains(&key));
}

#[actix_web::test]
async fn the_cookie_is_secure_behind_a_tls_proxy() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let r = post_sign_in(&app, &key, &[("X-Forwarded-Proto", "https")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let line = r.set_cookie("hh_session").unwrap();
    assert!(line.contains("; Secure"), "{line}");
}

#[actix_web::test]
async fn bad_and_revoked_keys_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let wrong = format!("{}{}", &key[..17], "x".repeat(48));
    for (attempt, says) in [
        (wrong.as_str(), "not valid"),
        ("hello", "not valid"),
        ("", "not valid"),
    ] {
        let r = post_sign_in(&app, attempt, &[]).await;
        assert_eq!(r.status, 401, "{attempt}: {}", r.text);
        assert!(r.text.contains(says), "{}", r.text);
        assert!(r.text.contains("role=\"alert\""));
        assert!(r.set_cookie("hh_session").is_none());
    }
    assert!(app.store.revoke_key(&key[8..16], 1).unwrap());
    let r = post_sign_in(&app, &key, &[]).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("was revoked"), "{}", r.text);
    assert!(r.set_cookie("hh_session").is_none());
}

#[actix_web::test]
async fn a_track_only_key_signs_in_to_nothing() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org(Plan::Pro);
    let (track_only, _) = app::orgs::new_key(
        &app.store,
        &app.hasher,
        &org,
        app::keys::KeyMode::Live,
        ratelimit::Scopes::parse("track").unwrap(),
        "agent",
        app::clock::now(),
    )
    .unwrap();
    let r = post_sign_in(&app, &track_only, &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("lacks the read scope"), "{}", r.text);
    assert!(r.set_cookie("hh_session").is_none());
    let (read_only, _) = app::orgs::new_key(
        &app.store,
        &app.hasher,
        &org,
        app::keys::KeyMode::Live,
        ratelimit::Scopes::parse("read").unwrap(),
        "viewer",
        app::clock::now(),
    )
    .unwrap();
    sign_in(&app, &read_only).await;
}

#[actix_web::test]
async fn revoking_the_key_ends_the_sessions_it_opened() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let token = sign_in(&app, &key).await;
    assert_eq!(dashboard(&app, &token, "").await.status, 200);
    let out = app.cli(&["key", "revoke", &key[8..16]]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = dashboard(&app, &token, "").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/dashboard/sign-in");
    assert!(app
        .store
        .find_session(&token_hash(&token))
        .unwrap()
        .is_none());
}

#[actix_web::test]
async fn an_expired_session_counts_as_none() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let token = sign_in(&app, &key).await;
    let mut row = app
        .store
        .find_session(&token_hash(&token))
        .unwrap()
        .unwrap();
    app.store.delete_session(&row.token_hash).unwrap();
    row.expires_at = clock::unix_ms(clock::now()) - 1;
    app.store.insert_session(&row).unwrap();
    assert_eq!(dashboard(&app, &token, "").await.status, 303);
    assert!(app.store.find_session(&row.token_hash).unwrap().is_none());
}

#[actix_web::test]
async fn sign_out_deletes_the_session_and_the_cookie() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let token = sign_in(&app, &key).await;
    let page = dashboard(&app, &token, "").await;
    let csrf = csrf_field(&page.text);
    let r = request(
        &app,
        reqwest::Method::POST,
        "/dashboard/sign-out",
        &[("hh_session", &token)],
        &[("Origin", &app.base)],
        Some(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), "/dashboard/sign-in");
    let line = r.set_cookie("hh_session").unwrap();
    assert!(line.contains("Max-Age=0"), "{line}");
    assert!(app
        .store
        .find_session(&token_hash(&token))
        .unwrap()
        .is_none());
    assert_eq!(dashboard(&app, &token, "").await.status, 303);
}

#[actix_web::test]
async fn forms_without_the_csrf_token_or_from_another_site_are_refused() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let token = sign_in(&app, &key).await;
    let csrf = csrf_field(&dashboard(&app, &token, "").await.text);
    let sign_out = |form: Vec<(&'static str, String)>, headers: Vec<(&'static str, String)>| {
        let app = &app;
        let token = token.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            request(
                app,
                reqwest::Method::POST,
                "/dashboard/sign-out",
                &[("hh_session", &token)],
                &headers,
                Some(&form),
            )
            .await
        }
    };
    for (form, headers) in [
        (vec![], vec![]),
        (vec![("csrf", "0".repeat(64))], vec![]),
        (vec![("csrf", token.clone())], vec![]),
        (
            vec![("csrf", csrf.clone())],
            vec![("Origin", "http://evil.example".to_owned())],
        ),
    ] {
        let r = sign_out(form, headers).await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.text.contains("could not be accepted"));
    }
    // Still signed in.
    assert_eq!(dashboard(&app, &token, "").await.status, 200);

    // Sign-in: the form's cookie and field must match.
    let (cookie, field) = sign_in_form(&app).await;
    for (cookies, form) in [
        (
            vec![],
            vec![("csrf", field.as_str()), ("api_key", key.as_str())],
        ),
        (
            vec![("hh_signin", cookie.as_str())],
            vec![("api_key", key.as_str())],
        ),
        (
            vec![("hh_signin", cookie.as_str())],
            vec![("csrf", token.as_str()), ("api_key", key.as_str())],
        ),
    ] {
        let r = request(
            &app,
            reqwest::Method::POST,
            "/dashboard/sign-in",
            &cookies,
            &[],
            Some(&form),
        )
        .await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.set_cookie("hh_session").is_none());
    }
    let r = request(
        &app,
        reqwest::Method::POST,
        "/dashboard/sign-in",
        &[("hh_signin", &cookie)],
        &[("Origin", "http://evil.example")],
        Some(&[("csrf", &field), ("api_key", &key)]),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
}

#[actix_web::test]
async fn headline_figures_equal_the_summary_for_every_period_and_filter() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Enterprise);
    track_some(&app, &key).await;
    let token = sign_in(&app, &key).await;
    for q in [
        "",
        "?period=24h",
        "?period=7d",
        "?period=30d",
        "?period=90d",
        "?period=ytd",
        "?period=all",
        "?period=90d&agent_id=drafter",
        "?task_type=ticket_routing",
        "?period=7d&tz=Europe/Berlin",
    ] {
        let page = dashboard(&app, &token, q).await;
        assert_eq!(page.status, 200, "{q}: {}", page.text);
        assert_figures_match(&page.text, &summary(&app, &key, q).await);
    }
    // The period links keep the filter and mark the current one.
    let page = dashboard(&app, &token, "?period=7d&agent_id=drafter").await;
    assert!(page
        .text
        .contains("href=\"/dashboard?period=90d&amp;agent_id=drafter\""));
    assert!(page
        .text
        .contains("href=\"/dashboard?period=7d&amp;agent_id=drafter\" aria-current=\"page\""));
    // A bad parameter is the API's 422, as a page.
    let r = dashboard(&app, &token, "?period=5y").await;
    assert_eq!(r.status, 422);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(r
        .text
        .contains("must be one of 24h, 7d, 30d, 90d, ytd, all"));
}

#[actix_web::test]
async fn the_page_shows_breakdowns_agents_task_types_and_usage() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    track_some(&app, &key).await;
    let token = sign_in(&app, &key).await;
    let page = dashboard(&app, &token, "?period=30d").await.text;
    for part in [
        "<html lang=\"en\">",
        "id=\"breakdown-outcome\"",
        "id=\"breakdown-agent\"",
        "id=\"breakdown-task_type\"",
        "id=\"breakdown-model\"",
        "openai/gpt-4o-mini",
        "customer_email_draft",
        "<th scope=\"col\">Agent</th>",
        "<th scope=\"row\">support-bot</th>",
        "of 10,000 included",
        "data-metric=\"events_this_month\" data-value=\"6\"",
        "<svg class=\"bars\" role=\"img\"",
    ] {
        assert!(page.contains(part), "{part} missing");
    }
    // A free org sees what the API gives it: no Pro breakdowns.
    let (_, free_key) = app.org(Plan::Free);
    let free = sign_in(&app, &free_key).await;
    let page = dashboard(&app, &free, "").await.text;
    assert!(page.contains("id=\"breakdown-outcome\""));
    assert!(!page.contains("id=\"breakdown-agent\""));
    assert!(page.contains("Pro and Enterprise plans"));
}

#[actix_web::test]
async fn a_hostile_agent_id_is_shown_as_text() {
    let app = TestApp::spawn().await;
    let (org_id, key) = app.org(Plan::Pro);
    for (agent, model) in [
        (
            "<script>alert(1)</script>",
            "\"><img src=x onerror=alert(2)>",
        ),
        ("a&b'\"", "m<1>"),
    ] {
        let r = app
            .track(
                &key,
                &json!({"agent_id": agent, "task_type": "ticket_routing", "outcome": "success", "model": model}),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let token = sign_in(&app, &key).await;
    let (_, share) =
        orgs::create_share(&app.store, &org_id, None, Some("<b>Q4</b>"), clock::now()).unwrap();
    let pages = [
        dashboard(&app, &token, "").await.text,
        get(&app, &format!("/share/{share}"), &[]).await.text,
    ];
    for page in pages {
        assert!(!page.contains("<script"), "a script tag got through");
        assert!(!page.contains("<img"), "an img tag got through");
        assert!(!page.contains("<b>Q4"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
        assert!(page.contains("a&amp;b'&quot;"));
        // In a link, the value is percent-encoded.
        if page.contains("Sign out") {
            assert!(page.contains("agent_id=%3Cscript%3Ealert%281%29%3C%2Fscript%3E"));
        }
    }
}

/// The CSV rows of a section, by key.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[actix_web::test]
async fn the_csv_download_is_the_current_view() {
    let app = TestApp::spawn().await;
    let (org_id, key) = app.org(Plan::Pro);
    track_some(&app, &key).await;
    let token = sign_in(&app, &key).await;
    for q in ["?period=7d", "?period=30d&agent_id=drafter", "?period=all"] {
        let r = get(
            &app,
            &format!("/dashboard/export.csv{q}"),
            &[("hh_session", &token)],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("content-type"), "text/csv; charset=utf-8");
        assert!(r
            .header("content-disposition")
            .starts_with("attachment; filename=\"humanhours-dashboard-"));
        let header = r.text.lines().next().unwrap();
        assert_eq!(
            header,
            "section,key,events,hours_saved,cost_saved,agent_cost,net_saved,events_without_cost,fte_equivalent,currency,from,to"
        );
        let rows = csv_rows(&r.text);
        let s = summary(&app, &key, q).await;
        let total = &rows[0];
        assert_eq!(total[0], "total");
        assert_eq!(total[2], exact(&s["events"]));
        assert_eq!(total[3], exact(&s["hours_saved"]));
        assert_eq!(total[4], exact(&s["cost_saved"]));
        assert_eq!(total[5], exact(&s["agent_cost"]));
        assert_eq!(total[6], exact(&s["net_saved"]));
        assert_eq!(total[7], exact(&s["events_without_cost"]));
        assert_eq!(total[8], exact(&s["fte_equivalent"]));
        // The range as the API prints it (computed a moment apart, so compared by shape).
        assert_eq!(total[10].len(), s["from"].as_str().unwrap().len());
        assert!(total[11].ends_with('Z'));
        let days = rows.iter().filter(|r| r[0] == "day").count();
        assert_eq!(days, s["trend"].as_array().unwrap().len());
        for section in ["outcome", "agent", "task_type", "model"] {
            let sum: i64 = rows
                .iter()
                .filter(|r| r[0] == section)
                .map(|r| r[2].parse::<i64>().unwrap())
                .sum();
            assert_eq!(sum.to_string(), exact(&s["events"]), "{q} {section}");
        }
    }
    // Text a spreadsheet would run is defused, as in the API's CSV.
    let r = get(
        &app,
        "/dashboard/export.csv?period=30d",
        &[("hh_session", &token)],
    )
    .await;
    assert!(r.text.contains("\nagent,'=cmd,"), "{}", r.text);
    // Without a session there is no CSV; a share link has its own.
    assert_eq!(get(&app, "/dashboard/export.csv", &[]).await.status, 303);
    let (_, share) = orgs::create_share(&app.store, &org_id, None, None, clock::now()).unwrap();
    let r = get(&app, &format!("/share/{share}/export.csv?period=7d"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        csv_rows(&r.text)[0][2],
        exact(&summary(&app, &key, "?period=7d").await["events"])
    );
}

#[actix_web::test]
async fn share_links_open_a_read_only_view_until_revoked_or_expired() {
    let app = TestApp::spawn().await;
    let (org_id, key) = app.org(Plan::Pro);
    track_some(&app, &key).await;
    let out = app.cli(&[
        "share",
        "create",
        "--org",
        &org_id,
        "--expires",
        "30d",
        "--label",
        "For finance",
        "--public-url",
        &app.base,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let path = url
        .strip_prefix(&app.base)
        .expect("the URL starts with the public URL");
    assert!(path.starts_with("/share/"), "{url}");
    let token = &path["/share/".len()..];
    assert_eq!(token.len(), 40);
    let row = app.store.find_share(&token_hash(token)).unwrap().unwrap();
    assert_ne!(row.token_hash, token);

    let r = get(&app, path, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_figures_match(&r.text, &summary(&app, &key, "").await);
    assert!(r.text.contains("Read-only shared view"));
    assert!(r.text.contains("For finance"));
    assert!(!r.text.contains("<form"), "a share page has no forms");
    assert!(!r.text.contains("hh_live_") && !r.text.contains(&key[8..16]));
    assert_eq!(r.header("referrer-policy"), "same-origin");
    assert_eq!(r.header("x-robots-tag"), "noindex, nofollow");
    assert!(r.set_cookie("hh_session").is_none());
    let r = get(&app, &format!("{path}?period=7d"), &[]).await;
    assert_figures_match(&r.text, &summary(&app, &key, "?period=7d").await);
    assert!(r
        .text
        .contains(&format!("href=\"/share/{token}?period=30d\"")));

    // It gives no write access: the API still wants a key.
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/summary",
            Some(token),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 401);

    let out = app.cli(&["share", "list", "--org", &org_id]);
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(
        list.contains(&format!("{}\t{}\tactive\t", row.id, &token[..8])),
        "{list}"
    );
    assert!(list.contains("For finance"));
    assert!(!list.contains(token));

    let out = app.cli(&["share", "revoke", &token[..8]]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = get(&app, path, &[]).await;
    assert_eq!(r.status, 410);
    assert!(r.text.contains("This share link was revoked"));
    assert!(!r.text.contains("data-metric"));
    assert_eq!(
        get(&app, &format!("{path}/export.csv"), &[]).await.status,
        410
    );
    let out = app.cli(&["share", "revoke", &row.id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked already"));
    let list = String::from_utf8(app.cli(&["share", "list", "--org", &org_id]).stdout).unwrap();
    assert!(list.contains("\trevoked\t"), "{list}");

    // Expired.
    let created = clock::now() - time::Duration::days(2);
    let (_, old) =
        orgs::create_share(&app.store, &org_id, Some(86_400_000), None, created).unwrap();
    let r = get(&app, &format!("/share/{old}"), &[]).await;
    assert_eq!(r.status, 410);
    assert!(r.text.contains("This share link has expired"));
    assert!(!r.text.contains("data-metric"));

    // Unknown or malformed.
    for p in [
        format!("/share/{}", "a".repeat(40)),
        "/share/nope".into(),
        "/share/%3Cx%3E".into(),
    ] {
        let r = get(&app, &p, &[]).await;
        assert_eq!(r.status, 404, "{p}");
        assert!(r.text.contains("This share link does not exist"));
    }
    // Expiry parsing of the CLI.
    assert_eq!(orgs::parse_share_expiry("never").unwrap(), None);
    assert_eq!(orgs::parse_share_expiry("12h").unwrap(), Some(43_200_000));
    assert_eq!(
        orgs::parse_share_expiry("2w").unwrap(),
        Some(14 * 86_400_000)
    );
    for bad in ["", "0d", "-1d", "30", "1y", "9999d"] {
        assert!(orgs::parse_share_expiry(bad).is_err(), "{bad}");
    }
}

#[actix_web::test]
async fn the_stylesheet_is_served_by_the_binary() {
    let app = TestApp::spawn().await;
    let r = get(&app, "/assets/dashboard.css", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("text/css"));
    assert!(r.text.contains("@media"));
    assert!(!r.text.contains("http"), "nothing from the network");
}

/// The page, its CSV and a share page over sums past 64 bits: 10,000 events at the largest
/// agent cost (issue 14, finding 4). Figures are exact and net = saved − agent cost.
#[actix_web::test]
async fn the_dashboard_shows_sums_past_64_bits_exactly() {
    let app = TestApp::spawn().await;
    let (org_id, key) = app.org(Plan::Pro);
    let at = clock::format_ms(clock::now() - time::Duration::hours(2));
    app.track_many(&key, 10_000, |i| {
        json!({
            "agent_id": format!("big-{}", i % 2),
            "task_type": "ticket_routing",
            "outcome": "success",
            "agent_cost": 1_000_000_000,
            "occurred_at": at,
        })
    })
    .await;
    let raw = app.store.sum_events(&org_id).unwrap();
    let cost = rust_decimal::Decimal::from_i128_with_scale(raw.cost_saved_cents, 2);
    let net = (cost - rust_decimal::Decimal::from(10_i64.pow(13))).normalize();
    let session = sign_in(&app, &key).await;
    let page = dashboard(&app, &session, "?period=7d").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(metric(&page.text, "agent_cost"), "10000000000000");
    assert_eq!(
        metric(&page.text, "cost_saved"),
        cost.normalize().to_string()
    );
    assert_eq!(metric(&page.text, "net_saved"), net.to_string());
    let csv = get(
        &app,
        "/dashboard/export.csv?period=7d",
        &[("hh_session", &session)],
    )
    .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(
        csv.text.contains(&format!(",10000000000000,{net},")),
        "{}",
        csv.text
    );
    let (_, share) = orgs::create_share(&app.store, &org_id, None, None, clock::now()).unwrap();
    let shared = get(&app, &format!("/share/{share}?period=7d"), &[]).await;
    assert_eq!(shared.status, 200, "{}", shared.text);
    assert_eq!(metric(&shared.text, "net_saved"), net.to_string());
}

/// Next to the net figure, the page says how many events have no known agent cost (API.md §8).
#[actix_web::test]
async fn the_page_says_how_many_events_have_no_known_cost() {
    let app = TestApp::spawn().await;
    let (org_id, key) = app.org(Plan::Pro);
    let mut costed = common::seed_body();
    costed["agent_cost"] = json!(0.01);
    for body in [costed, common::seed_body(), common::seed_body()] {
        assert_eq!(app.track(&key, &body, None).await.status, 201);
    }
    let session = sign_in(&app, &key).await;
    let page = dashboard(&app, &session, "").await;
    assert_eq!(metric(&page.text, "events_without_cost"), "2");
    assert!(page.text.contains("2 of 3 events have no known agent cost"));
    let (_, share) = orgs::create_share(&app.store, &org_id, None, None, clock::now()).unwrap();
    let shared = get(&app, &format!("/share/{share}"), &[]).await;
    assert_eq!(metric(&shared.text, "events_without_cost"), "2");
    let csv = get(&app, "/dashboard/export.csv", &[("hh_session", &session)]).await;
    assert!(csv.text.starts_with(
        "section,key,events,hours_saved,cost_saved,agent_cost,net_saved,events_without_cost,"
    ));
    // Without such events the note is absent.
    let (_, key2) = app.org(Plan::Pro);
    let mut body = common::seed_body();
    body["agent_cost"] = json!(0.01);
    assert_eq!(app.track(&key2, &body, None).await.status, 201);
    let page = dashboard(&app, &sign_in(&app, &key2).await, "").await;
    assert!(!page.text.contains("data-metric=\"events_without_cost\""));
}

// ---------------------------------------------------------------------------------------
// The pages a team runs its org from (API.md §13): keys, webhooks, settings, task types,
// spot-check, and an agency anchor's workspaces.

/// A key of `org` with these scopes.
fn key_with(app: &TestApp, org: &str, scopes: &str) -> String {
    app::orgs::new_key(
        &app.store,
        &app.hasher,
        org,
        app::keys::KeyMode::Live,
        ratelimit::Scopes::parse(scopes).unwrap(),
        "test",
        app::clock::now(),
    )
    .unwrap()
    .0
}

/// Sends a page's form: reads the page for its CSRF field first, then posts `fields` with it.
async fn post_page(app: &TestApp, session: &str, path: &str, fields: &[(&str, &str)]) -> Resp {
    let page = get(app, path, &[("hh_session", session)]).await;
    assert_eq!(page.status, 200, "{path}: {}", page.text);
    let csrf = csrf_field(&page.text);
    let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    all.extend_from_slice(fields);
    let form_path = path.split('?').next().unwrap();
    request(
        app,
        reqwest::Method::POST,
        form_path,
        &[("hh_session", session)],
        &[],
        Some(&all),
    )
    .await
}

/// The text of the element with this id.
fn element_text(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].to_owned()
}

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> common::Reply {
    let headers: &[(&str, &str)] = if body.is_some() {
        &[("Content-Type", "application/json")]
    } else {
        &[]
    };
    app.send(
        method,
        path,
        Some(key),
        headers,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await
}

#[actix_web::test]
async fn a_read_only_session_sees_the_figures_and_nothing_it_cannot_do() {
    let app = TestApp::spawn().await;
    let (org, admin) = app.org(Plan::Pro);
    track_some(&app, &admin).await;
    let reader = sign_in(&app, &key_with(&app, &org, "read")).await;
    let c = [("hh_session", reader.as_str())];
    for path in [
        "/dashboard",
        "/dashboard/task-types",
        "/dashboard/spot-check?outcome=any",
    ] {
        let r = get(&app, path, &c).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        for admin_link in [
            "/dashboard/keys",
            "/dashboard/webhooks",
            "/dashboard/settings",
        ] {
            assert!(!r.text.contains(admin_link), "{path} links {admin_link}");
        }
        assert!(
            !r.text.contains("name=\"action\""),
            "{path} has a form that writes"
        );
    }
    for path in [
        "/dashboard/keys",
        "/dashboard/webhooks",
        "/dashboard/settings",
    ] {
        let r = get(&app, path, &c).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        assert!(r.text.contains("admin scope"), "{}", r.text);
    }
    // A form sent anyway (with the session's own CSRF token) is refused and writes nothing.
    let csrf = csrf_field(&get(&app, "/dashboard", &c).await.text);
    let keys_before = app.store.list_keys(&org).unwrap().len();
    for (path, fields) in [
        (
            "/dashboard/keys",
            vec![("action", "create"), ("scope_track", "on")],
        ),
        (
            "/dashboard/settings",
            vec![
                ("action", "agent_rate"),
                ("agent_id", "drafter"),
                ("hourly_rate", "99"),
            ],
        ),
        (
            "/dashboard/task-types",
            vec![
                ("action", "override"),
                ("key", "ticket_routing"),
                ("baseline_minutes_override", "1"),
            ],
        ),
    ] {
        let mut f = vec![("csrf", csrf.as_str())];
        f.extend(fields);
        let r = request(&app, reqwest::Method::POST, path, &c, &[], Some(&f)).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
    }
    assert_eq!(app.store.list_keys(&org).unwrap().len(), keys_before);
    let agents = api(&app, reqwest::Method::GET, "/api/v1/agents", &admin, None).await;
    assert!(agents.body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["hourly_rate"].is_null()));
    // An admin's session links every page.
    let admin_session = sign_in(&app, &admin).await;
    let r = dashboard(&app, &admin_session, "").await;
    for link in [
        "/dashboard/keys",
        "/dashboard/webhooks",
        "/dashboard/settings",
        "/dashboard/task-types",
        "/dashboard/spot-check",
    ] {
        assert!(
            r.text.contains(&format!("href=\"{link}\"")),
            "no link to {link}"
        );
    }
    assert!(!r.text.contains("/dashboard/tree"), "a pro org has no tree");
}

#[actix_web::test]
async fn keys_are_made_shown_once_and_revoked_from_the_page() {
    let app = TestApp::spawn().await;
    let (org, admin) = app.org(Plan::Pro);
    let s = sign_in(&app, &admin).await;
    // No scope ticked: refused with the route's own message, nothing made.
    let before = app.store.list_keys(&org).unwrap().len();
    let r = post_page(
        &app,
        &s,
        "/dashboard/keys",
        &[("action", "create"), ("name", "nothing")],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text
            .contains("scopes: give at least one scope: track, read, admin"),
        "{}",
        r.text
    );
    assert_eq!(app.store.list_keys(&org).unwrap().len(), before);
    // A track-only key for an agent: shown once, in the answer to the form.
    let r = post_page(
        &app,
        &s,
        "/dashboard/keys",
        &[
            ("action", "create"),
            ("name", "mail agent"),
            ("scope_track", "on"),
        ],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = element_text(&r.text, "secret-value");
    assert!(key.starts_with("hh_live_"), "{key}");
    let t = app
        .track(
            &key,
            &json!({"agent_id": "a", "task_type": "ticket_routing", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    let read = api(&app, reqwest::Method::GET, "/api/v1/summary", &key, None).await;
    assert_eq!(read.status, 403, "{}", read.text);
    let prefix = key.split('_').nth(2).unwrap().to_owned();
    let list = get(&app, "/dashboard/keys", &[("hh_session", &s)]).await;
    assert!(list.text.contains(&prefix) && list.text.contains("mail agent"));
    assert!(!list.text.contains(&key), "the list shows a secret");
    // Revoked from the page: the key stops working at once here.
    let r = post_page(
        &app,
        &s,
        "/dashboard/keys",
        &[("action", "revoke"), ("prefix", &prefix)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), "/dashboard/keys?notice=key_revoked");
    let t = app
        .track(
            &key,
            &json!({"agent_id": "a", "task_type": "ticket_routing", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(t.status, 401, "{}", t.text);
    // A prefix that is not a live key of this org.
    let (_, other) = app.org(Plan::Pro);
    let other_prefix = other.split('_').nth(2).unwrap().to_owned();
    for p in [prefix.as_str(), other_prefix.as_str(), "<b>x"] {
        let r = post_page(
            &app,
            &s,
            "/dashboard/keys",
            &[("action", "revoke"), ("prefix", p)],
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert!(!r.text.contains("<b>x"));
    }
    let other_works = api(&app, reqwest::Method::GET, "/api/v1/summary", &other, None).await;
    assert_eq!(other_works.status, 200);
    // An unknown action is a clear 422.
    let r = post_page(&app, &s, "/dashboard/keys", &[("action", "explode")]).await;
    assert_eq!(r.status, 422, "{}", r.text);
}

#[actix_web::test]
async fn settings_from_the_page_value_the_next_event_and_bad_ones_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.org(Plan::Pro);
    let s = sign_in(&app, &admin).await;
    let page = get(&app, "/dashboard/settings", &[("hh_session", &s)]).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let current = api(&app, reqwest::Method::GET, "/api/v1/org", &admin, None)
        .await
        .body;
    let name = current["name"].as_str().unwrap().to_owned();
    let form = |rate: &'static str, currency: &'static str, retention: &'static str| {
        vec![
            ("action", "org"),
            ("name", Box::leak(name.clone().into_boxed_str()) as &str),
            ("currency", currency),
            ("hourly_rate", rate),
            ("fallback_baseline_minutes", ""),
            ("timezone", "UTC"),
            ("digest_recipients", ""),
            ("retention_days", retention),
        ]
    };
    // Bad values: each a 422 naming its field, and nothing written, not even the good ones.
    for (f, field) in [
        (form("60", "euro", "365"), "currency"),
        (form("sixty", "EUR", "365"), "hourly_rate"),
        (form("60", "EUR", "366"), "retention_days"),
        (form("60", "EUR", "0"), "retention_days"),
    ] {
        let r = post_page(&app, &s, "/dashboard/settings", &f).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(r.text.contains(&format!("{field}: ")), "{}", r.text);
    }
    let (other, _) = app.org(Plan::Pro);
    let other_name = app.store.find_org(&other).unwrap().unwrap().name;
    let mut f = form("60", "EUR", "365");
    f[1].1 = &other_name;
    let r = post_page(&app, &s, "/dashboard/settings", &f).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r
        .text
        .contains("another organisation on this server has that name"));
    assert_eq!(
        api(&app, reqwest::Method::GET, "/api/v1/org", &admin, None)
            .await
            .body,
        current
    );
    // A new rate: the next event is valued with it (the key cache is not in the way).
    let before = app
        .track(
            &admin,
            &json!({"agent_id": "a", "task_type": "ticket_routing", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(before.body["resolved_hourly_rate"], json!(45));
    let r = post_page(&app, &s, "/dashboard/settings", &form("60.5", "EUR", "90")).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), "/dashboard/settings?notice=saved");
    let after = app
        .track(
            &admin,
            &json!({"agent_id": "a", "task_type": "ticket_routing", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(after.body["resolved_hourly_rate"], json!(60.5));
    let org_now = api(&app, reqwest::Method::GET, "/api/v1/org", &admin, None)
        .await
        .body;
    assert_eq!(org_now["retention_days"], json!(90));
    assert_eq!(org_now["hourly_rate"], json!(60.5));
    // An agent's own rate; empty clears it.
    let set_rate = |rate: &'static str| {
        let (app, s) = (&app, s.clone());
        async move {
            let f = [
                ("action", "agent_rate"),
                ("agent_id", "a"),
                ("hourly_rate", rate),
            ];
            post_page(app, &s, "/dashboard/settings", &f).await.status
        }
    };
    let next_rate = || {
        let (app, admin) = (&app, admin.clone());
        async move {
            let body =
                json!({"agent_id": "a", "task_type": "ticket_routing", "outcome": "success"});
            app.track(&admin, &body, None).await.body["resolved_hourly_rate"].clone()
        }
    };
    assert_eq!(set_rate("70").await, 303);
    assert_eq!(next_rate().await, json!(70));
    assert_eq!(set_rate("-1").await, 422);
    assert_eq!(set_rate("").await, 303);
    assert_eq!(next_rate().await, json!(60.5));
}

#[actix_web::test]
async fn patch_org_takes_the_settings_an_admin_may_change() {
    let app = TestApp::spawn().await;
    let (org, admin) = app.org(Plan::Free);
    let patch = |body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            api(
                app,
                reqwest::Method::PATCH,
                "/api/v1/org",
                &admin,
                Some(body),
            )
            .await
        }
    };
    let r = patch(json!({"name": "Renamed", "currency": "USD", "hourly_rate": 52.25, "fallback_baseline_minutes": 3.5, "retention_days": 7})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Renamed");
    assert_eq!(r.body["currency"], "USD");
    assert_eq!(r.body["hourly_rate"], json!(52.25));
    assert_eq!(r.body["fallback_baseline_minutes"], json!(3.5));
    assert_eq!(r.body["retention_days"], json!(7));
    let r = patch(json!({"fallback_baseline_minutes": null, "retention_days": null})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["fallback_baseline_minutes"].is_null());
    assert_eq!(r.body["retention_days"], json!(30), "the free plan's");
    let unchanged = r.body.clone();
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"currency": "EURO"}), "currency"),
        (json!({"hourly_rate": "52"}), "hourly_rate"),
        (json!({"hourly_rate": -1}), "hourly_rate"),
        (
            json!({"fallback_baseline_minutes": 0}),
            "fallback_baseline_minutes",
        ),
        (json!({"retention_days": 31}), "retention_days"),
        (json!({"retention_days": 1.5}), "retention_days"),
        (json!({"plan": "enterprise"}), "plan"),
        (json!({"monthly_event_cap": 5}), "monthly_event_cap"),
        (json!({"hourly_rate": 99, "currency": "nope"}), "currency"),
    ] {
        let r = patch(body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.field(), Some(field), "{body}: {}", r.text);
    }
    assert_eq!(
        api(&app, reqwest::Method::GET, "/api/v1/org", &admin, None)
            .await
            .body,
        unchanged
    );
    // Once there are events, the currency stays (sums would add two currencies); the same
    // currency again is no change.
    let t = app
        .track(
            &admin,
            &json!({"agent_id": "a", "task_type": "ticket_routing", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(t.body["currency"], "USD");
    let r = patch(json!({"currency": "EUR", "hourly_rate": 50})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.field(), Some("currency"));
    assert!(r
        .text
        .contains("cannot change once the organisation has events"));
    assert_eq!(
        api(&app, reqwest::Method::GET, "/api/v1/org", &admin, None)
            .await
            .body,
        unchanged
    );
    let r = patch(json!({"currency": "USD"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The rule reads the stored row, not the key's cached settings: after the operator
    // relabels the org (the CLI may), sending the old code back is a change, and refused.
    let out = app.cli(&["org", "set", &org, "--currency", "EUR"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = patch(json!({"currency": "USD"})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.field(), Some("currency"));
    let out = app.cli(&["org", "set", &org, "--currency", "USD"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A read key cannot change it.
    let reader = key_with(&app, &org, "read");
    let r = api(
        &app,
        reqwest::Method::PATCH,
        "/api/v1/org",
        &reader,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.code(), "insufficient_scope");
}

#[actix_web::test]
async fn task_types_are_overridden_added_and_archived_from_the_page() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.org(Plan::Pro);
    let s = sign_in(&app, &admin).await;
    let page = get(&app, "/dashboard/task-types", &[("hh_session", &s)]).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("ticket_routing") && page.text.contains("the catalogue&#39;s source")
            || page.text.contains("the catalogue's source")
    );
    let r = post_page(
        &app,
        &s,
        "/dashboard/task-types",
        &[
            ("action", "override"),
            ("key", "ticket_routing"),
            ("baseline_minutes_override", "7.5"),
            ("reason", "we timed <ten> tickets"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let types = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/task-types",
        &admin,
        None,
    )
    .await
    .body;
    let tr = types["task_types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "ticket_routing")
        .unwrap()
        .clone();
    assert_eq!(tr["override"]["baseline_minutes"], json!(7.5));
    assert_eq!(tr["override"]["reason"], "we timed <ten> tickets");
    let page = get(&app, "/dashboard/task-types", &[("hh_session", &s)]).await;
    assert!(
        page.text.contains("we timed &lt;ten&gt; tickets"),
        "the reason is shown, escaped"
    );
    let t = app
        .track(
            &admin,
            &json!({"agent_id": "a", "task_type": "ticket_routing", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(t.body["resolved_baseline_minutes"], json!(7.5));
    // Bad inputs: the route's errors, shown on the page.
    for (fields, status) in [
        (
            vec![
                ("action", "override"),
                ("key", "ticket_routing"),
                ("baseline_minutes_override", "0"),
            ],
            422,
        ),
        (
            vec![
                ("action", "override"),
                ("key", "no_such_type"),
                ("baseline_minutes_override", "5"),
            ],
            404,
        ),
        (
            vec![
                ("action", "create"),
                ("key", "Bad Key"),
                ("display_name", "x"),
                ("category", "ops"),
                ("default_baseline_minutes", "5"),
            ],
            422,
        ),
        (
            vec![
                ("action", "create"),
                ("key", "ticket_routing"),
                ("display_name", "x"),
                ("category", "ops"),
                ("default_baseline_minutes", "5"),
            ],
            422,
        ),
        (vec![("action", "archive"), ("key", "ticket_routing")], 422),
    ] {
        let r = post_page(&app, &s, "/dashboard/task-types", &fields).await;
        assert_eq!(r.status, status, "{fields:?}: {}", r.text);
        assert!(r.text.contains("Not done: "), "{}", r.text);
    }
    let r = post_page(
        &app,
        &s,
        "/dashboard/task-types",
        &[("action", "remove_override"), ("key", "ticket_routing")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let r = post_page(
        &app,
        &s,
        "/dashboard/task-types",
        &[
            ("action", "create"),
            ("key", "invoice_check"),
            ("display_name", "Invoice check"),
            ("category", "finance"),
            ("default_baseline_minutes", "12"),
            ("baseline_source", "our own timing"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let t = app
        .track(
            &admin,
            &json!({"agent_id": "a", "task_type": "invoice_check", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(t.body["resolved_baseline_minutes"], json!(12));
    let r = post_page(
        &app,
        &s,
        "/dashboard/task-types",
        &[("action", "archive"), ("key", "invoice_check")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let types = api(
        &app,
        reqwest::Method::GET,
        "/api/v1/task-types",
        &admin,
        None,
    )
    .await
    .body;
    assert!(types["task_types"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["key"] != "invoice_check"));
    assert!(types["task_types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "ticket_routing")
        .unwrap()["override"]
        .is_null());
}

#[actix_web::test]
async fn the_spot_check_page_lists_sampled_events_needs_review_first_in_pages() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Pro);
    let sample = |i: usize| json!({"input_excerpt": format!("ticket {i}: <script>x</script>"), "output_excerpt": format!("routed {i}")});
    for i in 0..23 {
        let agent = if i % 2 == 0 { "router" } else { "triage" };
        let r = app.track(&key, &json!({"agent_id": agent, "task_type": "ticket_routing", "outcome": "needs_review", "audit_sample": sample(i)}), None).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    for i in 100..103 {
        app.track(&key, &json!({"agent_id": "router", "task_type": "ticket_routing", "outcome": "success", "audit_sample": sample(i)}), None).await;
    }
    app.track(
        &key,
        &json!({"agent_id": "router", "task_type": "ticket_routing", "outcome": "needs_review"}),
        None,
    )
    .await;
    let s = sign_in(&app, &key).await;
    let c = [("hh_session", s.as_str())];
    let count_events = |html: &str| html.matches("<article class=\"event\"").count();
    let first = get(&app, "/dashboard/spot-check", &c).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(count_events(&first.text), 20);
    assert!(
        !first.text.contains("routed 100"),
        "a success on the needs_review page"
    );
    assert!(
        first.text.contains("&lt;script&gt;x&lt;/script&gt;") && !first.text.contains("<script>x")
    );
    let at = first.text.find("Older events").expect("a next page");
    let href_at = first.text[..at].rfind("href=\"").unwrap() + 6;
    let next = first.text[href_at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let second = get(&app, &next, &c).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(count_events(&second.text), 3);
    assert!(!second.text.contains("Older events"));
    let ok = get(&app, "/dashboard/spot-check?outcome=success", &c).await;
    assert_eq!(count_events(&ok.text), 3);
    let any = get(
        &app,
        "/dashboard/spot-check?outcome=any&agent_id=triage",
        &c,
    )
    .await;
    assert_eq!(count_events(&any.text), 11);
    for bad in ["?outcome=maybe", "?limit=5", "?cursor=zzz"] {
        let r = get(&app, &format!("/dashboard/spot-check{bad}"), &c).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
    }
    // The events list is a Pro feature: a free org's page says so.
    let (_, free) = app.org(Plan::Free);
    let fs = sign_in(&app, &free).await;
    let r = get(&app, "/dashboard/spot-check", &[("hh_session", &fs)]).await;
    assert_eq!(r.status, 403, "{}", r.text);
}

#[actix_web::test]
async fn an_anchor_switches_to_its_workspaces_and_sees_the_tree_add_up() {
    let app = TestApp::spawn().await;
    let stamp = clock::ulid(clock::now());
    let anchor = app.org_with(app::orgs::NewOrg::named(
        &format!("agency-{stamp}"),
        Plan::Agency,
    ));
    let mut children = Vec::new();
    for i in 0..2 {
        children.push(app.org_with(app::orgs::NewOrg {
            parent: Some(anchor.0.clone()),
            ..app::orgs::NewOrg::named(&format!("client-{i}-{stamp}"), Plan::Agency)
        }));
    }
    track_some(&app, &anchor.1).await;
    for (i, (_, key)) in children.iter().enumerate() {
        for n in 0..=i {
            let r = app.track(key, &json!({"agent_id": format!("bot-{n}"), "task_type": "customer_email_draft", "outcome": "success", "agent_cost": 0.25}), None).await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    let s = sign_in(&app, &anchor.1).await;
    let c = [("hh_session", s.as_str())];
    let child = &children[1];
    let page = dashboard(&app, &s, &format!("?workspace={}&period=7d", child.0)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_figures_match(&page.text, &summary(&app, &child.1, "?period=7d").await);
    assert!(page.text.contains("name=\"workspace\""), "no switcher");
    assert!(
        page.text.contains(&format!("workspace={}", child.0)),
        "links lose the workspace"
    );
    // The tree: each row is that org's summary, the last row their sum.
    let tree = get(&app, "/dashboard/tree?period=30d", &c).await;
    assert_eq!(tree.status, 200, "{}", tree.text);
    let mut events = 0;
    for (id, key) in std::iter::once(&anchor).chain(children.iter()) {
        let s = summary(&app, key, "?period=30d").await;
        events += s["events"].as_i64().unwrap();
        assert!(
            tree.text.contains(&format!("data-org=\"{id}\"")),
            "{id} missing"
        );
    }
    assert!(
        tree.text.contains(&format!(
            "<th scope=\"row\">The whole tree</th><td class=\"num\">{events}</td>"
        )),
        "{}",
        tree.text
    );
    // A workspace's session: no tree, no switching to its anchor or a sibling.
    let cs = sign_in(&app, &child.1).await;
    for path in [
        format!("/dashboard?workspace={}", anchor.0),
        format!("/dashboard?workspace={}", children[0].0),
        "/dashboard/tree".into(),
        format!("/dashboard/task-types?workspace={}", anchor.0),
    ] {
        let r = get(&app, &path, &[("hh_session", &cs)]).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let (_, pro) = app.org(Plan::Pro);
    let ps = sign_in(&app, &pro).await;
    let r = get(
        &app,
        &format!("/dashboard/spot-check?workspace={}", child.0),
        &[("hh_session", &ps)],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = get(&app, "/dashboard?workspace=", &c).await;
    assert_eq!(r.status, 422, "{}", r.text);
}

#[actix_web::test]
async fn a_webhook_is_added_tested_and_its_delivery_seen_from_the_page() {
    let mut config = common::test_config();
    config.webhooks.allow_nets = webhooks::address::AllowNets::parse("127.0.0.1/32").unwrap();
    let app = TestApp::spawn_with(config).await;
    let rx = common::receiver::Receiver::start(200).await;
    let (_, key) = app.org(Plan::Pro);
    let s = sign_in(&app, &key).await;
    let r = post_page(
        &app,
        &s,
        "/dashboard/webhooks",
        &[
            ("action", "create"),
            ("url", "ftp://example.com/x"),
            ("type_event.created", "on"),
        ],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = post_page(
        &app,
        &s,
        "/dashboard/webhooks",
        &[
            ("action", "create"),
            ("url", &rx.url("/hook")),
            ("description", "ops"),
            ("type_event.created", "on"),
        ],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = element_text(&r.text, "secret-value");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let list = api(&app, reqwest::Method::GET, "/api/v1/webhooks", &key, None)
        .await
        .body;
    let id = list["webhooks"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/dashboard/webhooks/{id}");
    let r = post_page(&app, &s, &path, &[("action", "test")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let mut seen = false;
    for _ in 0..100 {
        let p = get(&app, &path, &[("hh_session", &s)]).await;
        if p.text.contains("webhook.ping") && p.text.contains("HTTP 200") {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the ping's delivery never showed as answered");
    assert!(rx
        .received()
        .iter()
        .any(|m| m.json()["type"] == "webhook.ping"));
    let r = post_page(&app, &s, &path, &[("action", "rotate")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(element_text(&r.text, "secret-value"), secret);
    let r = post_page(
        &app,
        &s,
        &path,
        &[("action", "redeliver"), ("delivery", "whdel_nope")],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = post_page(&app, &s, &path, &[("action", "disable")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        api(
            &app,
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            &key,
            None
        )
        .await
        .body["status"],
        "disabled"
    );
    let r = post_page(&app, &s, &path, &[("action", "delete")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(get(&app, &path, &[("hh_session", &s)]).await.status, 404);
    // A free org: the page says webhooks are a Pro feature.
    let (_, free) = app.org(Plan::Free);
    let fs = sign_in(&app, &free).await;
    let r = get(&app, "/dashboard/webhooks", &[("hh_session", &fs)]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("Not done: "), "{}", r.text);
}
