//! The daily price and FX syncs (API.md §6) against a local HTTP server serving fixtures: the
//! built-in book as a listing (nothing added), the same with two changed prices and one new
//! model (exactly three rows, dated today), a truncated listing, garbage, an error status and a
//! server that never answers (nothing changes); events valued before and after a change use
//! the price in force at their `occurred_at`; the ECB feed; the CLI; the schedule's job.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::Duration;

use app::feeds::{self, Feed};
use catalogue::PriceBook;
use common::receiver::Receiver;
use common::{test_config, TestApp};
use humanhours::outbound::FeedClient;
use ratelimit::Plan;
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn today() -> time::Date {
    app::clock::now().date()
}

/// The built-in book's prices in force today, as OpenRouter lists them (USD per token).
fn listing(changes: &[(&str, &str, &str)], extra: &[(&str, &str, &str)]) -> String {
    let book = PriceBook::builtin();
    let day = today();
    let per_token = |per_m: Decimal| (per_m / Decimal::from(1_000_000)).normalize().to_string();
    let mut data: Vec<Value> = book
        .models()
        .filter_map(|m| book.price_on(m, day))
        .map(|r| {
            let (i, o) = changes
                .iter()
                .find(|(m, _, _)| *m == r.model_id)
                .map(|(_, i, o)| ((*i).to_owned(), (*o).to_owned()))
                .unwrap_or_else(|| {
                    (
                        per_token(r.price.input.get()),
                        per_token(r.price.output.get()),
                    )
                });
            json!({"id": r.model_id, "name": r.model_id, "pricing": {"prompt": i, "completion": o}})
        })
        .collect();
    for (m, i, o) in extra {
        data.push(json!({"id": m, "pricing": {"prompt": i, "completion": o}}));
    }
    json!({ "data": data }).to_string()
}

fn client(secs: u64) -> FeedClient {
    FeedClient::new(Duration::from_secs(secs)).unwrap()
}

fn price_rows(app: &TestApp) -> usize {
    app.store.list_prices().unwrap().len()
}

async fn run(
    app: &TestApp,
    c: &FeedClient,
    feed: Feed,
    url: &str,
) -> Result<feeds::SyncOutcome, String> {
    feeds::run(&app.store, c, feed, url).await
}

/// A USD org's event with a million tokens each way of `model`, occurred at `at`.
async fn cost(app: &TestApp, key: &str, model: &str, at: time::OffsetDateTime) -> Value {
    app.state.pricing.refresh(&app.store).unwrap();
    let r = app
        .track(
            key,
            &json!({
                "agent_id": "pricing-probe", "task_type": "email_classification",
                "outcome": "success", "model": model,
                "tokens_in": 1_000_000, "tokens_out": 1_000_000,
                "occurred_at": app::clock::format_ms(at),
            }),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["agent_cost"].clone()
}

#[actix_web::test]
async fn prices_sync_adds_exactly_what_changed_and_nothing_on_failure() {
    let app = TestApp::spawn_with(test_config()).await;
    let mut usd = app::orgs::NewOrg::named("usd-org", Plan::Pro);
    usd.currency = catalogue::Currency::USD;
    let (_, key) = app.org_with(usd);
    let server = Receiver::start(200).await;
    let url = server.url("/api/v1/models");
    let c = client(5);

    // The book as it is: nothing to add.
    server.set_body(listing(&[], &[]).as_bytes());
    let before = price_rows(&app);
    let o = run(&app, &c, Feed::Prices, &url).await.unwrap();
    assert_eq!(o.added, 0);
    assert!(o.unchanged > 40, "{o:?}");
    assert_eq!(price_rows(&app), before);

    // gpt-4o-mini was 0.15/0.6 per 1M: a million tokens each way cost 0.75 USD.
    let yesterday = app::clock::now() - time::Duration::days(1);
    assert_eq!(
        cost(&app, &key, "openai/gpt-4o-mini", yesterday).await,
        json!(0.75)
    );

    // Two changed prices and one new model: exactly three rows, dated today.
    let changed = listing(
        &[
            ("openai/gpt-4o-mini", "0.0000001", "0.0000004"),
            ("openai/gpt-4o", "0.000002", "0.000008"),
        ],
        &[("acme/brand-new", "0.000001", "0.000003")],
    );
    server.set_body(changed.as_bytes());
    let o = run(&app, &c, Feed::Prices, &url).await.unwrap();
    assert_eq!(o.added, 3, "{o:?}");
    assert_eq!(o.day, today());
    let mut lines = o.changes.clone();
    lines.sort();
    assert_eq!(
        lines[0],
        "acme/brand-new: new, 1/3 USD per 1M tokens (input/output)"
    );
    assert!(lines.iter().any(|l| l == "openai/gpt-4o-mini: 0.15/0.6 → 0.1/0.4 USD per 1M tokens (input/output)"), "{lines:?}");
    let rows = app.store.list_prices().unwrap();
    assert_eq!(rows.len(), before + 3);
    let today_text = today().to_string();
    let new_rows: Vec<_> = rows
        .iter()
        .filter(|r| r.source.starts_with("synced from"))
        .collect();
    assert_eq!(new_rows.len(), 3);
    assert!(new_rows
        .iter()
        .all(|r| r.effective_from == today_text && r.org_id.is_empty()));

    // Valued by the price in force at their occurred_at: yesterday's old price, today's new.
    assert_eq!(
        cost(&app, &key, "openai/gpt-4o-mini", yesterday).await,
        json!(0.75)
    );
    assert_eq!(
        cost(&app, &key, "openai/gpt-4o-mini", app::clock::now()).await,
        json!(0.5)
    );
    assert_eq!(
        cost(&app, &key, "acme/brand-new", app::clock::now()).await,
        json!(4)
    );

    // The same listing again adds nothing; history is never rewritten.
    let o = run(&app, &c, Feed::Prices, &url).await.unwrap();
    assert_eq!(o.added, 0);

    // Failures change nothing and keep the prices in force.
    let n = price_rows(&app);
    let truncated: String = {
        let mut v: Value = serde_json::from_str(&changed).unwrap();
        v["data"].as_array_mut().unwrap().truncate(5);
        v.to_string()
    };
    server.set_body(truncated.as_bytes());
    let e = run(&app, &c, Feed::Prices, &url).await.unwrap_err();
    assert!(e.contains("fewer than half"), "{e}");
    server.set_body(b"<html>upstream error</html>");
    let e = run(&app, &c, Feed::Prices, &url).await.unwrap_err();
    assert!(e.contains("not an OpenRouter models listing"), "{e}");
    server.set_body(&changed.as_bytes()[..changed.len() / 2]);
    assert!(
        run(&app, &c, Feed::Prices, &url).await.is_err(),
        "cut mid-document"
    );
    server.set_body(changed.as_bytes());
    server.script(&[503]);
    let e = run(&app, &c, Feed::Prices, &url).await.unwrap_err();
    assert!(e.contains("answered 503"), "{e}");
    // A server that accepts and never answers: the fetch gives up at its time-out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/api/v1/models", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let started = app::clock::instant();
    let e = run(&app, &client(1), Feed::Prices, &silent_url)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{e}");
    assert_eq!(price_rows(&app), n, "nothing changed on any failure");
    assert_eq!(
        cost(&app, &key, "openai/gpt-4o-mini", app::clock::now()).await,
        json!(0.5)
    );

    // The state: failing since the first of those failures, then fine again.
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, &[], None)
        .await
        .text;
    assert!(
        metrics.contains("humanhours_feed_failing{feed=\"prices\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("humanhours_feed_rows_added_total{feed=\"prices\"} 3"));
    server.set_body(changed.as_bytes());
    run(&app, &c, Feed::Prices, &url).await.unwrap();
    let s = app.store.feed_states().unwrap();
    assert_eq!(s[0].feed, "prices");
    assert!(s[0].failing_since.is_none() && s[0].last_success_at.is_some());
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, &[], None)
        .await
        .text;
    assert!(metrics.contains("humanhours_feed_failing{feed=\"prices\"} 0"));
    assert!(metrics.contains("humanhours_feed_last_success_timestamp_seconds{feed=\"prices\"}"));
}

fn ecb(usd: &str, others: &[(&str, &str)]) -> String {
    let cubes: String = std::iter::once(("USD", usd))
        .chain(others.iter().copied())
        .map(|(c, r)| format!("<Cube currency='{c}' rate='{r}'/>"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"><gesmes:subject>Reference rates</gesmes:subject><Cube><Cube time='2026-12-01'>{cubes}</Cube></Cube></gesmes:Envelope>"#
    )
}

const RATES: [(&str, &str); 11] = [
    ("JPY", "164.85"),
    ("GBP", "0.831"),
    ("CHF", "0.9412"),
    ("CAD", "1.47"),
    ("AUD", "1.61"),
    ("SEK", "11.5"),
    ("NOK", "11.7"),
    ("DKK", "7.46"),
    ("PLN", "4.27"),
    ("INR", "88.9"),
    ("BRL", "6.1"),
];

#[actix_web::test]
async fn fx_sync_adds_todays_rates_and_refuses_a_short_feed() {
    let app = TestApp::spawn_with(test_config()).await;
    let (_, key) = app.org(Plan::Pro); // EUR
    let server = Receiver::start(200).await;
    let url = server.url("/eurofxref-daily.xml");
    let c = client(5);
    server.set_body(ecb("1.05", &RATES).as_bytes());
    let o = run(&app, &c, Feed::Fx, &url).await.unwrap();
    assert_eq!(o.added, 12, "EUR and eleven others: {o:?}");
    let fx = app.store.list_fx().unwrap();
    let eur = fx.iter().find(|r| r.currency == "EUR").unwrap();
    assert_eq!(eur.usd_to, "0.952381");
    assert_eq!(eur.effective_from, today().to_string());
    assert_eq!(
        fx.iter().find(|r| r.currency == "JPY").unwrap().usd_to,
        "157"
    );
    // An EUR org's computed cost now converts at 0.952381: a dollar's tokens cost €0.952381.
    app.state.pricing.refresh(&app.store).unwrap();
    let r = app
        .track(
            &key,
            &json!({"agent_id": "a", "task_type": "email_classification", "outcome": "success",
            "model": "openai/gpt-4o-mini", "tokens_in": 2_000_000, "tokens_out": 1_000_000}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["agent_cost"], json!(0.857143));
    // Again: nothing new. Short, garbage, without USD: refused, nothing changes.
    assert_eq!(run(&app, &c, Feed::Fx, &url).await.unwrap().added, 0);
    for (body, want) in [
        (ecb("1.05", &RATES[..2]), "fewer than half"),
        ("<html>".to_owned(), "not the ECB's daily rates"),
        (
            ecb("1.05", &RATES).replace("currency='USD'", "currency='XXX'"),
            "no USD rate",
        ),
    ] {
        server.set_body(body.as_bytes());
        let e = run(&app, &c, Feed::Fx, &url).await.unwrap_err();
        assert!(e.contains(want), "{e}");
    }
    assert_eq!(app.store.list_fx().unwrap().len(), fx.len());
}

#[actix_web::test]
async fn the_cli_syncs_once_and_the_schedule_runs_the_job() {
    let server = Receiver::start(200).await;
    server.set_body(listing(&[("openai/gpt-4o", "0.000002", "0.000008")], &[]).as_bytes());
    let url = server.url("/models");
    let mut c = test_config();
    c.jobs.poll_interval = Duration::from_millis(50);
    c.jobs.feeds.prices_url = Some(url.clone());
    c.jobs.feeds.every = Duration::from_secs(1);
    let app = TestApp::spawn_with(c).await;
    // The schedule's job runs within a slot or two and adds the one changed price.
    for _ in 0..100 {
        if app
            .store
            .feed_states()
            .unwrap()
            .iter()
            .any(|s| s.last_success_at.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let states = app.store.feed_states().unwrap();
    assert_eq!(states.len(), 1, "only the prices feed has a URL here");
    assert_eq!(states[0].rows_added, 1);
    // The CLI, once, prints what changed.
    server.set_body(listing(&[("openai/gpt-4o", "0.000003", "0.000009")], &[]).as_bytes());
    // Off the test's runtime, which serves the listing meanwhile.
    let (u, db) = (url.clone(), app.db_url.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_humanhours"))
            .args(["prices", "sync", "--url", &u])
            .env("HUMANHOURS_DATABASE_URL", db)
            .env("HUMANHOURS_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Today already has a row for gpt-4o (the job's): a sync never rewrites a stored row.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 row(s) added"));
    let off = app.cli(&["fx", "sync", "--url", "off"]);
    assert!(!off.status.success());
    assert!(String::from_utf8_lossy(&off.stderr).contains("is off"));
    let bad = app.cli(&["prices", "sync", "--url", "ftp://example.com/x"]);
    assert!(!bad.status.success());
}
