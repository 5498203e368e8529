//! End to end in a real browser: Debian's headless Chromium, driven through chromedriver with
//! the WebDriver client fantoccini. Seeds events, signs in with a key, compares the headline
//! figures with `GET /api/v1/summary`, switches the period, takes screenshots at desktop and
//! phone widths, opens a share link in a fresh browser profile and sees it revoked.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them). Without them this test FAILS, saying so: it
//! never passes without having looked.

#![expect(
    clippy::unwrap_used,
    reason = "test: a failure should fail the test loudly"
)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::clock;
use common::TestApp;
use fantoccini::{Client, ClientBuilder, Locator};
use ratelimit::Plan;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port of 127.0.0.1, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the browser test needs Debian's chromium and chromium-driver \
                 (apt-get install -y chromium chromium-driver; .ci/run installs them)"
            );
        }
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        // From here on, Drop stops it whatever happens.
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await {
                let v: Value = r.json().await.unwrap_or_default();
                if v["value"]["ready"] == true {
                    return driver;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "chromedriver did not get ready on {} within 10 s",
            driver.url
        );
    }

    /// A new browser session with an empty profile of its own (a fresh context: no cookies).
    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    "--window-size=1280,900", "--hide-scrollbars",
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start chromium: {e}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots go: `<target dir>/e2e-artifacts`.
fn artifacts() -> PathBuf {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test finds cargo's target dir like cargo does"
    )]
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("e2e-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn summary(app: &TestApp, key: &str, period: &str) -> Value {
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/summary?period={period}"),
            Some(key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// The headline figures as the page shows them: (data-value, visible text) per metric.
async fn figures(c: &Client) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for name in ["hours_saved", "cost_saved", "fte_equivalent", "events"] {
        let el = c
            .find(Locator::Css(&format!("dd[data-metric={name}]")))
            .await
            .unwrap();
        let value = el.attr("data-value").await.unwrap().unwrap_or_default();
        out.push((name.to_owned(), value, el.text().await.unwrap()));
    }
    out
}

/// The page's figures are the summary's, exactly, and visibly.
async fn assert_figures(c: &Client, s: &Value) {
    for (name, value, text) in figures(c).await {
        assert_eq!(
            value,
            s[&name].to_string(),
            "{name}: page vs /api/v1/summary"
        );
        // Shown rounded (hours to two places), never otherwise changed.
        let shown: String = text
            .chars()
            .filter(|ch| ch.is_ascii_digit() || *ch == '.' || *ch == '-')
            .collect();
        let places = shown.split_once('.').map_or(0, |(_, f)| f.len() as u32);
        let exact: rust_decimal::Decimal = value.parse().unwrap();
        let shown: rust_decimal::Decimal = shown.parse().unwrap();
        assert_eq!(
            roi_engine::round(exact, places),
            shown.normalize(),
            "{name}: shown as '{text}', exact value {value}"
        );
    }
}

/// Waits (up to 10 s) until the browser shows `path` with `query` (a click on a link or a
/// submit button may return before the new page is there).
async fn wait_for(c: &Client, path: &str, query: Option<&str>) {
    for _ in 0..200 {
        let url = c.current_url().await.unwrap();
        if url.path() == path && url.query() == query {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the browser did not get to {path}?{query:?}; it shows: {}",
        c.source().await.unwrap_or_default()
    );
}

async fn js_number(c: &Client, expr: &str) -> u32 {
    let v = c.execute(&format!("return {expr};"), vec![]).await.unwrap();
    v.as_u64().unwrap_or(0).try_into().unwrap_or(u32::MAX)
}

/// A screenshot of the whole page at a viewport `width` CSS pixels wide.
async fn screenshot(c: &Client, width: u32, file: &Path) {
    c.set_window_size(width, 900).await.unwrap();
    let inner = js_number(c, "window.innerWidth").await;
    assert_eq!(
        inner, width,
        "the browser did not take a {width} px wide viewport"
    );
    // Nothing but the tables (which scroll in their own box) may be wider than the screen.
    let scroll = js_number(c, "document.documentElement.scrollWidth").await;
    assert!(
        scroll <= width,
        "the page is {scroll} px wide at a {width} px viewport"
    );
    // No figure, key or name is broken inside itself: every word of a table's first column,
    // of a number cell and of a headline figure lies on one line (issue 20: "€215,084." over
    // "81", "email_classificati" over "on").
    let broken = c
        .execute(
            r#"const broken = [];
            for (const el of document.querySelectorAll('tbody th, td.num, .kpi dd, [data-metric], .hb-val')) {
              const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
              for (let n = walk.nextNode(); n; n = walk.nextNode()) {
                for (const m of n.textContent.matchAll(/\S+/g)) {
                  const r = document.createRange();
                  r.setStart(n, m.index);
                  r.setEnd(n, m.index + m[0].length);
                  const lines = new Set([...r.getClientRects()].map(x => Math.round(x.bottom)));
                  if (lines.size > 1) broken.push(m[0]);
                }
              }
            }
            return broken;"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        broken,
        json!([]),
        "broken across lines at {width} px: {broken}"
    );
    // The window is taller than the page's viewport by the browser's own frame: add it, or the
    // bottom of the page is cut off.
    let height = js_number(c, "document.documentElement.scrollHeight").await;
    let frame = js_number(c, "Math.max(0, window.outerHeight - window.innerHeight)").await;
    c.set_window_size(width, (height + frame).clamp(600, 8000))
        .await
        .unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(file, png).unwrap();
    println!("browser test: screenshot {}", file.display());
}

/// Opens the dashboard, is sent to the sign-in form, signs in with `key`.
async fn sign_in(c: &Client, app: &TestApp, key: &str) {
    c.goto(&format!("{}/dashboard", app.base)).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/dashboard/sign-in");
    c.find(Locator::Css("#api_key"))
        .await
        .unwrap()
        .send_keys(key)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "/dashboard", None).await;
}

/// axe-core (from npm, pinned in tests/browser/package-lock.json; `just axe` installs it).
fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the accessibility check needs axe-core (run `just axe`, which `just test` runs)",
            path.display()
        )
    })
}

/// Runs axe-core in the page the browser shows (WCAG 2.1 A and AA rules and best practices)
/// and fails on any serious or critical violation, naming the rule and the elements.
async fn accessible(c: &Client, axe: &str, what: &str) {
    c.execute(&format!("{axe}\nreturn typeof axe;"), vec![])
        .await
        .unwrap();
    let found = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
              .then(r => done({
                checked: r.passes.length + r.violations.length,
                bad: r.violations
                  .filter(v => v.impact === 'serious' || v.impact === 'critical')
                  .map(v => ({ rule: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) })),
              }))
              .catch(e => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .unwrap();
    assert!(
        found["error"].is_null(),
        "axe-core failed on {what}: {found}"
    );
    assert!(
        found["checked"].as_u64().unwrap_or(0) > 10,
        "axe-core checked almost nothing on {what}: {found}"
    );
    assert_eq!(
        found["bad"],
        json!([]),
        "serious or critical accessibility violations on {what}"
    );
    println!(
        "browser test: axe-core on {what}: {} rules applied, no serious or critical violations",
        found["checked"]
    );
}

/// Screenshots at 1280 and 375 px and the accessibility check of the page shown.
async fn look_at(c: &Client, axe: &str, name: &str) {
    let dir = artifacts();
    c.set_window_size(1280, 900).await.unwrap();
    accessible(c, axe, name).await;
    screenshot(c, 1280, &dir.join(format!("{name}-1280.png"))).await;
    screenshot(c, 375, &dir.join(format!("{name}-375.png"))).await;
    c.set_window_size(1280, 900).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn fill(c: &Client, css: &str, text: &str) {
    let el = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

/// The text of an element, waiting (up to 10 s) for it to be there: a form's answer may
/// still be loading.
async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// A team runs its org from the pages (API.md §13): an agency anchor's admin makes a key and
/// revokes it, adds a webhook and sees its test delivered, changes the hourly rate and sees the
/// next event valued with it, opens the spot-check, task types and tree pages and switches to a
/// workspace. Every page is screenshot at 1280 and 375 px and checked with axe-core; a
/// read-only key's session shows no admin page.
#[actix_web::test]
async fn a_team_runs_its_org_from_the_pages() {
    let axe = axe_source();
    let driver = Driver::start().await;
    let mut config = common::test_config();
    config.webhooks.allow_nets = webhooks::address::AllowNets::parse("127.0.0.1/32").unwrap();
    let app = TestApp::spawn_with(config).await;
    let rx = common::receiver::Receiver::start(200).await;
    let (anchor, key) = app.org_with(app::orgs::NewOrg::named("Northwind Agency", Plan::Agency));
    let (_, child_key) = app.org_with(app::orgs::NewOrg {
        parent: Some(anchor.clone()),
        ..app::orgs::NewOrg::named("Contoso", Plan::Agency)
    });
    for (i, k) in [&key, &key, &key, &child_key].iter().enumerate() {
        for n in 0..3 {
            let r = app
                .track(
                    k,
                    &json!({
                        "agent_id": (["support-bot", "invoice-triage"][n % 2]),
                        "task_type": (["ticket_routing", "invoice_data_extraction", "email_classification"][n]),
                        "outcome": (["needs_review", "success", "failure"][(i + n) % 3]),
                        "agent_cost": 0.02,
                        "model": "openai/gpt-4o-mini",
                        "audit_sample": {
                            "input_excerpt": format!("Customer {i}-{n}: my invoice INV-20{n} shows the wrong VAT rate, please correct it."),
                            "output_excerpt": "Routed to billing with priority normal."
                        },
                    }),
                    None,
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    let c = driver.browser().await;
    sign_in(&c, &app, &key).await;
    look_at(&c, &axe, "overview").await;

    // Keys: make a read-only key, see it once, revoke it.
    click(&c, "nav.pages a[href='/dashboard/keys']").await;
    wait_for(&c, "/dashboard/keys", None).await;
    fill(&c, "#key-name", "finance viewer").await;
    click(&c, "#scope-track").await;
    click(&c, "#scope-read").await;
    click(&c, "form.stack button[type=submit]").await;
    let made = text_of(&c, "#secret-value").await;
    assert!(made.starts_with("hh_live_"), "{made}");
    let read_with = |key: String| {
        let app = &app;
        async move {
            app.send(
                reqwest::Method::GET,
                "/api/v1/summary",
                Some(&key),
                &[],
                None,
            )
            .await
        }
    };
    let read = read_with(made.clone()).await;
    assert_eq!(read.status, 200, "{}", read.text);
    let prefix = made.split('_').nth(2).unwrap().to_owned();
    look_at(&c, &axe, "keys").await;
    click(&c, &format!("button[aria-label='Revoke key {prefix}']")).await;
    wait_for(&c, "/dashboard/keys", Some("notice=key_revoked")).await;
    let read = read_with(made.clone()).await;
    assert_eq!(read.status, 401, "{}", read.text);

    // Webhooks: add the receiver, send a test, see it delivered.
    click(&c, "nav.pages a[href='/dashboard/webhooks']").await;
    wait_for(&c, "/dashboard/webhooks", None).await;
    fill(&c, "#wh-url", &rx.url("/hooks/humanhours")).await;
    fill(&c, "#wh-description", "ops receiver").await;
    click(&c, "form.stack button[type=submit]").await;
    let secret = text_of(&c, "#secret-value").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    click(&c, "form.inline input[value=test] ~ button").await;
    let mut delivered = false;
    for _ in 0..100 {
        let page = c.source().await.unwrap();
        if page.contains("webhook.ping") && page.contains("HTTP 200") {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.refresh().await.unwrap();
    }
    assert!(delivered, "the test delivery never showed as answered");
    assert!(rx
        .received()
        .iter()
        .any(|m| m.json()["type"] == "webhook.ping"));
    look_at(&c, &axe, "webhook-endpoint").await;
    click(&c, "nav.pages a[href='/dashboard/webhooks']").await;
    wait_for(&c, "/dashboard/webhooks", None).await;
    look_at(&c, &axe, "webhooks").await;

    // Settings: a new hourly rate values the next event.
    click(&c, "nav.pages a[href='/dashboard/settings']").await;
    wait_for(&c, "/dashboard/settings", None).await;
    fill(&c, "#s-rate", "61.25").await;
    click(&c, "form.stack button[type=submit]").await;
    wait_for(&c, "/dashboard/settings", Some("notice=saved")).await;
    let next = app
        .track(
            &key,
            &json!({"agent_id": "support-bot", "task_type": "ticket_routing", "outcome": "success"}),
            None,
        )
        .await;
    assert_eq!(next.status, 201, "{}", next.text);
    assert_eq!(next.body["resolved_hourly_rate"], json!(61.25));
    look_at(&c, &axe, "settings").await;

    // Task types, spot-check, the tree, and a workspace through the switcher.
    click(&c, "nav.pages a[href='/dashboard/task-types']").await;
    wait_for(&c, "/dashboard/task-types", None).await;
    look_at(&c, &axe, "task-types").await;
    click(&c, "nav.pages a[href='/dashboard/spot-check']").await;
    wait_for(&c, "/dashboard/spot-check", None).await;
    let shown = c
        .find_all(Locator::Css("article.event"))
        .await
        .unwrap()
        .len();
    assert_eq!(shown, 3, "the anchor's needs_review events with samples");
    assert!(c
        .source()
        .await
        .unwrap()
        .contains("shows the wrong VAT rate"));
    look_at(&c, &axe, "spot-check").await;
    click(&c, "nav.pages a[href='/dashboard/tree']").await;
    wait_for(&c, "/dashboard/tree", None).await;
    look_at(&c, &axe, "tree").await;
    click(&c, "nav.pages a[href='/dashboard']").await;
    wait_for(&c, "/dashboard", None).await;
    let child_id = app
        .send(
            reqwest::Method::GET,
            "/api/v1/org",
            Some(&child_key),
            &[],
            None,
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.find(Locator::Css(&format!(
        "#workspace option[value='{child_id}']"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    click(&c, "form.switcher button").await;
    wait_for(&c, "/dashboard", Some(&format!("workspace={child_id}"))).await;
    let s = app
        .send(
            reqwest::Method::GET,
            "/api/v1/summary",
            Some(&child_key),
            &[],
            None,
        )
        .await
        .body;
    assert_figures(&c, &s).await;
    look_at(&c, &axe, "overview-workspace").await;
    c.close().await.unwrap();

    // A read-only key: the figures, no admin link.
    let viewer = app::orgs::new_key(
        &app.store,
        &app.hasher,
        &anchor,
        app::keys::KeyMode::Live,
        ratelimit::Scopes::parse("read").unwrap(),
        "viewer",
        clock::now(),
    )
    .unwrap()
    .0;
    let v = driver.browser().await;
    sign_in(&v, &app, &viewer).await;
    let links = v.find_all(Locator::Css("nav.pages a")).await.unwrap();
    let mut names = Vec::new();
    for l in links {
        names.push(l.text().await.unwrap());
    }
    assert_eq!(
        names,
        ["Overview", "Task types", "Spot-check", "Workspaces"]
    );
    v.goto(&format!("{}/dashboard/keys", app.base))
        .await
        .unwrap();
    assert_eq!(text_of(&v, "h1").await, "This page needs an admin key");
    v.close().await.unwrap();
}

#[actix_web::test]
async fn a_person_signs_in_switches_the_period_and_shares_the_view() {
    let driver = Driver::start().await;
    let app = TestApp::spawn().await;
    let (org_id, key) = app.org(Plan::Pro);

    // Events over the last weeks, so 7 and 30 days differ; one hostile agent id.
    let now = clock::now();
    let agents = [
        "support-bot",
        "invoice-triage",
        "sales-drafter",
        "<script>alert(1)</script>",
    ];
    let types = [
        ("email_classification", 4),
        ("customer_email_draft", 20),
        ("ticket_routing", 2),
        ("invoice_data_extraction", 30),
    ];
    // One agent at a high rate, so the money figures are long enough to wrap on a phone.
    let r = app
        .send(
            reqwest::Method::PUT,
            "/api/v1/agents/sales-drafter",
            Some(&key),
            &[("Content-Type", "application/json")],
            Some(br#"{"hourly_rate": 250000}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for i in 0..60_i64 {
        let (task_type, secs) = types[(i % 4) as usize];
        let outcome = ["success", "success", "needs_review", "failure"][(i % 7 % 4) as usize];
        let r = app
            .track(
                &key,
                &json!({
                    "agent_id": agents[(i % 4) as usize],
                    "task_type": task_type,
                    "outcome": outcome,
                    "agent_duration_seconds": secs,
                    "model": if i % 3 == 0 { "openai/gpt-4o-mini" } else { "anthropic/claude-3.5-haiku" },
                    "agent_cost": 0.01 * (i % 5) as f64,
                    "occurred_at": clock::format_ms(now - time::Duration::hours(i * 11)),
                }),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    // Sign in with the key.
    let c = driver.browser().await;
    sign_in(&c, &app, &key).await;
    let cookies = c.get_all_cookies().await.unwrap();
    let session = cookies.iter().find(|k| k.name() == "hh_session").unwrap();
    assert_eq!(session.http_only(), Some(true));
    assert_ne!(session.value(), key);

    // The headline figures are the summary's (30 days by default).
    assert_figures(&c, &summary(&app, &key, "30d").await).await;
    let page = c.source().await.unwrap();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // Screenshots at desktop and phone widths.
    let dir = artifacts();
    screenshot(&c, 1280, &dir.join("dashboard-desktop-1280.png")).await;
    screenshot(&c, 375, &dir.join("dashboard-phone-375.png")).await;
    c.set_window_size(1280, 900).await.unwrap();

    // Switch the period.
    c.find(Locator::LinkText("7 days"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "/dashboard", Some("period=7d")).await;
    let week = summary(&app, &key, "7d").await;
    assert_figures(&c, &week).await;
    assert_ne!(week["events"], summary(&app, &key, "30d").await["events"]);
    let current = c
        .find(Locator::Css("nav.periods a[aria-current=page]"))
        .await
        .unwrap();
    assert_eq!(current.text().await.unwrap(), "7 days");

    // Share the view; open it in a fresh browser profile.
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
    let share_url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let token = share_url.rsplit('/').next().unwrap().to_owned();
    let guest = driver.browser().await;
    guest.goto(&share_url).await.unwrap();
    assert!(guest.get_all_cookies().await.unwrap().is_empty());
    assert_figures(&guest, &summary(&app, &key, "30d").await).await;
    assert!(guest
        .find_all(Locator::Css("form"))
        .await
        .unwrap()
        .is_empty());
    let shared = guest.source().await.unwrap();
    assert!(shared.contains("Read-only shared view"));
    assert!(!shared.contains("hh_live_"));
    guest
        .find(Locator::LinkText("90 days"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&guest, &format!("/share/{token}"), Some("period=90d")).await;
    assert_figures(&guest, &summary(&app, &key, "90d").await).await;
    screenshot(&guest, 375, &dir.join("share-phone-375.png")).await;

    // Revoked: the same link shows an error page, not the overview.
    let out = app.cli(&["share", "revoke", &token[..8]]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    guest.refresh().await.unwrap();
    let h1 = guest.find(Locator::Css("h1")).await.unwrap();
    assert_eq!(h1.text().await.unwrap(), "This share link was revoked");
    assert!(guest
        .find_all(Locator::Css("[data-metric]"))
        .await
        .unwrap()
        .is_empty());
    screenshot(&guest, 1280, &dir.join("share-revoked-1280.png")).await;
    guest.close().await.unwrap();

    // Sign out: back to the form, and the dashboard asks again.
    c.find(Locator::Css("form.signout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "/dashboard/sign-in", None).await;
    c.goto(&format!("{}/dashboard", app.base)).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/dashboard/sign-in");
    c.close().await.unwrap();
    println!("browser test: artefacts in {}", dir.display());
}

/// The digest email's HTML part (as `digest preview --format html` prints it, the same
/// function the mailer uses) in the browser: readable at 375 and 1280 px, nothing wider than
/// the screen, no figure broken across lines, nothing fetched; screenshots kept.
#[actix_web::test]
async fn the_digest_email_reads_at_phone_and_desktop_widths() {
    let driver = Driver::start().await;
    let app = TestApp::spawn().await;
    let (org_id, key) = app.org(Plan::Pro);
    let zone = digests::period::Zone::utc();
    let now_ms = clock::unix_ms(clock::now());
    let last = digests::period::latest_due(now_ms, &zone).unwrap();
    let agents = [
        "support-bot",
        "invoice-triage-agent-with-a-rather-long-name",
        "sales-drafter",
        "<script>alert(1)</script>",
        "research-assistant",
        "ops",
    ];
    for week in [last.previous(&zone).unwrap(), last] {
        for i in 0..30_i64 {
            let task_type = [
                "email_classification",
                "rfp_response",
                "invoice_processing",
                "legal_research_memo",
                "code_review_pr",
                "blog_long_draft",
            ][(i % 6) as usize];
            let outcome = ["success", "success", "needs_review", "failure"][(i % 4) as usize];
            let r = app
                .track(
                    &key,
                    &json!({
                        "agent_id": agents[(i % 6) as usize],
                        "task_type": task_type,
                        "outcome": outcome,
                        "agent_duration_seconds": 30 + i,
                        "model": if i % 3 == 0 { "openai/gpt-4o-mini" } else { "acme/model-without-a-price" },
                        "tokens_in": 2000,
                        "tokens_out": 500,
                        "occurred_at": clock::format_ms(clock::from_unix_ms(week.from_ms + i * 5_000_000)),
                    }),
                    None,
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    let out = app.cli(&[
        "digest",
        "preview",
        "--org",
        &org_id,
        "--week",
        &last.week.label(),
        "--format",
        "html",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = artifacts();
    let file = dir.join("digest-email.html");
    std::fs::write(&file, &out.stdout).unwrap();
    let c = driver.browser().await;
    c.goto(&format!("file://{}", file.display())).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let fetched = js_number(&c, "performance.getEntriesByType('resource').length").await;
    assert_eq!(fetched, 0, "the email fetches nothing");
    screenshot(&c, 1280, &dir.join("digest-email-1280.png")).await;
    screenshot(&c, 375, &dir.join("digest-email-375.png")).await;
    c.close().await.unwrap();
}
