//! The dashboard over HTTP, without a browser: sign-in and its cookie, sign-out, CSRF, share
//! links, escaping of user input, figures equal to the API's, and the CSV of the view.

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
