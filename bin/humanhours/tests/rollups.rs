//! The report rollups stay exact while they are folded after commit (all of them on SQLite; on
//! PostgreSQL all but the hourly single fields, which are written in each write's transaction):
//! before a fold, after it, across a restart that lost the writer's in-memory sums, when another
//! process writes to or folds the same database, and when an org with unfolded events is
//! erased.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a failure should fail the test loudly"
)]

mod common;

use std::time::Duration;

use app::clock;
use common::TestApp;
use ratelimit::Plan;
use reqwest::Method;
use rust_decimal::prelude::ToPrimitive as _;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use store::{DbConfig, Store, Sums};

/// A server whose writer never folds by itself (the interval is an hour): the tests say when.
async fn app_that_folds_on_request() -> TestApp {
    let mut config = common::test_config();
    config.writer.rollup_interval = Duration::from_secs(3600);
    TestApp::spawn_with(config).await
}

fn wide(units: i128, dp: u32) -> Decimal {
    Decimal::from_i128_with_scale(units, dp)
}

fn fixed(v: &Value, scale: i64) -> i64 {
    let d: Decimal = v.to_string().parse().unwrap();
    (d * Decimal::from(scale)).to_i64().unwrap()
}

/// Every figure the rollup-backed reports give equals a plain sum over the events table.
async fn assert_reports_are_exact(app: &TestApp, org: &str, key: &str) {
    let raw = app.store.sum_events(org).unwrap();
    let summary = app
        .send(
            Method::GET,
            "/api/v1/summary?period=all",
            Some(key),
            &[],
            None,
        )
        .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    let b = &summary.body;
    assert_eq!(b["events"].as_i64().unwrap(), raw.events, "summary events");
    assert_eq!(fixed(&b["hours_saved"], 1000), raw.hours_saved_milli);
    assert_eq!(dec(&b["cost_saved"]), wide(raw.cost_saved_cents, 2));
    assert_eq!(
        dec(&b["net_saved"]),
        roi_engine::aggregate_net(raw.cost_saved_cents, raw.agent_cost_micros)
    );
    for group in [
        "agent",
        "task_type",
        "model",
        "outcome",
        "client",
        "day",
        // The crossed rollups, and the four-field one with day buckets.
        "agent,task_type",
        "client,agent",
        "model,outcome,task_type",
        "agent,task_type,model,outcome,day",
    ] {
        let r = app
            .send(
                Method::GET,
                &format!("/api/v1/reports/time-saved?period=all&group_by={group}"),
                Some(key),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{group}: {}", r.text);
        let rows = r.body["rows"].as_array().unwrap();
        let events: i64 = rows.iter().map(|x| x["events"].as_i64().unwrap()).sum();
        let hours: i64 = rows.iter().map(|x| fixed(&x["hours_saved"], 1000)).sum();
        assert_eq!(
            (events, hours),
            (raw.events, raw.hours_saved_milli),
            "{group}"
        );
    }
}

/// The rows of `rollup_hourly` themselves hold every event, once, in every dimension.
fn assert_rollup_table_complete(store: &Store, org: &str) {
    let raw = store.sum_events(org).unwrap();
    for (dim, sums) in store.rollup_sums(org).unwrap() {
        assert_eq!(sums, raw, "rollup_hourly, dimension {dim}");
    }
}

/// The events every rollup holds (on PostgreSQL the hourly single fields hold every event at
/// once; the others only once folded).
fn rollup_events(store: &Store, org: &str) -> i64 {
    store
        .rollup_sums(org)
        .unwrap()
        .into_iter()
        .map(|(_, s): (String, Sums)| s.events)
        .min()
        .unwrap()
}

async fn track_some(app: &TestApp, key: &str, n: usize, tag: &str) {
    let now = clock::now();
    let types = [
        "email_classification",
        "ticket_routing",
        "customer_email_draft",
    ];
    let outcomes = ["success", "success", "failure", "needs_review"];
    for i in 0..n {
        let mut body = json!({
            "agent_id": format!("{tag}-agent-{}", i % 3),
            "task_type": types[i % 3],
            "outcome": outcomes[i % 4],
            "metadata": {"client": format!("client-{}", i % 2)},
        });
        if i % 2 == 0 {
            body["agent_cost"] = json!(0.0125);
            body["model"] = json!("openai/gpt-4o-mini");
        }
        // Spread over whole hours between the range's ends, which the rollups answer.
        let hours_ago = [0, 2, 5, 30, 50][i % 5];
        if hours_ago > 0 {
            body["occurred_at"] = json!(clock::format_ms(now - time::Duration::hours(hours_ago)));
        }
        let r = app.track(key, &body, None).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

#[actix_web::test]
async fn reports_are_exact_before_and_after_the_writer_folds() {
    let app = app_that_folds_on_request().await;
    let (org, key) = app.org(Plan::Enterprise);
    track_some(&app, &key, 24, "a").await;
    // Nothing folded yet: every figure below that a folded rollup answers comes from the
    // unfolded tail (SQLite's events past the watermark, PostgreSQL's queue).
    assert_eq!(rollup_events(&app.store, &org), 0);
    assert_reports_are_exact(&app, &org, &key).await;

    app.state.writer.fold_rollups().await.unwrap();
    assert_rollup_table_complete(&app.store, &org);
    assert_reports_are_exact(&app, &org, &key).await;

    // Part folded, part not.
    track_some(&app, &key, 17, "b").await;
    assert_eq!(rollup_events(&app.store, &org), 24);
    assert_reports_are_exact(&app, &org, &key).await;
    app.state.writer.fold_rollups().await.unwrap();
    assert_rollup_table_complete(&app.store, &org);
    assert_eq!(rollup_events(&app.store, &org), 41);
    assert_reports_are_exact(&app, &org, &key).await;
}

#[actix_web::test]
async fn the_writer_folds_by_itself_within_its_interval() {
    let mut config = common::test_config();
    config.writer.rollup_interval = Duration::from_millis(50);
    let app = TestApp::spawn_with(config).await;
    let (org, key) = app.org(Plan::Enterprise);
    track_some(&app, &key, 10, "a").await;
    let mut waited = 0;
    while rollup_events(&app.store, &org) < 10 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_rollup_table_complete(&app.store, &org);
}

#[actix_web::test]
async fn opening_the_database_folds_what_the_last_run_left_unfolded() {
    let app = app_that_folds_on_request().await;
    let (org, key) = app.org(Plan::Enterprise);
    track_some(&app, &key, 15, "a").await;
    // As after a crash: the events are committed, the writer's sums are gone. The next process
    // to open the database folds them from the events table.
    let next = Store::open(&DbConfig::new(&app.db_url)).unwrap();
    assert_rollup_table_complete(&next, &org);
    assert_eq!(
        next.rollup_watermark().unwrap(),
        app.store.rollup_watermark().unwrap()
    );
    // The old writer's sums are stale (their events are folded): neither its next fold nor one
    // after more events may add them a second time.
    app.state.writer.fold_rollups().await.unwrap();
    assert_rollup_table_complete(&app.store, &org);
    track_some(&app, &key, 6, "b").await;
    assert_reports_are_exact(&app, &org, &key).await;
    app.state.writer.fold_rollups().await.unwrap();
    assert_rollup_table_complete(&app.store, &org);
    assert_eq!(rollup_events(&app.store, &org), 21);
    assert_reports_are_exact(&app, &org, &key).await;
}

#[actix_web::test]
async fn another_process_writing_the_same_database_is_counted_once() {
    let app = app_that_folds_on_request().await;
    let (org, key) = app.org(Plan::Enterprise);
    track_some(&app, &key, 12, "a").await;
    // `dev seed` in a process of its own, while the server holds unfolded sums.
    let out = app.cli(&[
        "dev", "seed", "--org", &org, "--events", "300", "--days", "3", "--agents", "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.store.count_events(&org).unwrap(), 312);
    // The seeder folded the server's events with its own; the server's fold finds its sums
    // stale and must not count them again.
    assert_rollup_table_complete(&app.store, &org);
    assert_reports_are_exact(&app, &org, &key).await;
    track_some(&app, &key, 7, "b").await;
    assert_reports_are_exact(&app, &org, &key).await;
    app.state.writer.fold_rollups().await.unwrap();
    assert_rollup_table_complete(&app.store, &org);
    assert_eq!(rollup_events(&app.store, &org), 319);
    assert_reports_are_exact(&app, &org, &key).await;
}

#[actix_web::test]
async fn two_instances_folding_while_events_arrive_count_each_event_once() {
    let app = app_that_folds_on_request().await;
    let (org, key) = app.org(Plan::Enterprise);
    // A second instance's store on the same database, folding in a loop meanwhile (on
    // PostgreSQL the instances take turns under the fold lock; on SQLite the second one sums
    // the events past the watermark from the table).
    let other = std::sync::Arc::new(Store::open(&DbConfig::new(&app.db_url)).unwrap());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let folder = {
        let (other, stop) = (other.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut folds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                other.fold_rollups(None).unwrap();
                folds += 1;
            }
            folds
        })
    };
    for round in 0..6 {
        track_some(&app, &key, 9, &format!("r{round}")).await;
        app.state.writer.fold_rollups().await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(folder.join().unwrap() > 0);
    app.state.writer.fold_rollups().await.unwrap();
    assert_rollup_table_complete(&app.store, &org);
    assert_eq!(rollup_events(&app.store, &org), 54);
    assert_reports_are_exact(&app, &org, &key).await;
}

#[actix_web::test]
async fn erasing_an_org_with_unfolded_events_leaves_nothing_of_it_in_the_rollups() {
    let app = app_that_folds_on_request().await;
    let (gone, gone_key) = app.org(Plan::Enterprise);
    let (kept, kept_key) = app.org(Plan::Enterprise);
    track_some(&app, &gone_key, 12, "g").await;
    track_some(&app, &kept_key, 8, "k").await;
    assert_eq!(rollup_events(&app.store, &gone), 0, "nothing folded yet");
    app.store.delete_org(&gone).unwrap();
    // The fold after the erasure must not bring the erased org's events back.
    app.state.writer.fold_rollups().await.unwrap();
    for (dim, sums) in app.store.rollup_sums(&gone).unwrap() {
        assert_eq!(sums, Sums::default(), "{dim}");
    }
    assert_rollup_table_complete(&app.store, &kept);
    assert_eq!(rollup_events(&app.store, &kept), 8);
    assert_reports_are_exact(&app, &kept, &kept_key).await;
}

fn dec(v: &Value) -> Decimal {
    v.to_string().parse().unwrap()
}

/// 10,000 events at the largest agent cost (10^9 each, 10^15 millionths) in one org, hour and
/// value: a 64-bit sum of their millionths overflows after about 9,224 of them, which made
/// SQLite store a REAL that broke every later report and PostgreSQL refuse the writes (issue
/// 14, finding 4). Every report answers, exact, and the same on both backends: before the fold
/// (SQLite's tail), after it (the rollups), and from the events (two dimensions at once).
#[actix_web::test]
async fn ten_thousand_events_at_the_largest_agent_cost_keep_every_report_exact() {
    const HOUR: i64 = 3_600_000;
    let app = app_that_folds_on_request().await;
    let (org, key) = app.org(Plan::Enterprise);
    let now = clock::now().unix_timestamp() * 1000;
    let h = (now / HOUR - 3) * HOUR;
    let iso = |ms: i64| clock::format_ms(clock::from_unix_ms(ms));
    app.track_many(&key, 10_000, |i| {
        json!({
            "agent_id": format!("big-{}", i % 3),
            "task_type": "ticket_routing",
            "outcome": "success",
            "model": "acme/big",
            "agent_cost": 1_000_000_000,
            "occurred_at": iso(h + i as i64 * 100),
            "metadata": {"client": format!("c{}", i % 2), "n": i % 2},
        })
    })
    .await;
    let raw = app.store.sum_events(&org).unwrap();
    assert_eq!(raw.events, 10_000);
    assert_eq!(raw.agent_cost_micros, 10_i128.pow(19));
    let agent_total = Decimal::from(10_i64.pow(13));
    let cost_total = Decimal::from_i128_with_scale(raw.cost_saved_cents, 2);
    let net_total = cost_total - agent_total;

    // The hour alone (rollups or tail), and an hour and a half around it (events at the ends).
    let ranges = [
        format!("from={}&to={}", iso(h), iso(h + HOUR)),
        format!("from={}&to={}", iso(h - HOUR / 2), iso(h + 2 * HOUR)),
    ];
    for round in ["before the fold", "after the fold"] {
        for range in &ranges {
            let get = |path: String| {
                let app = &app;
                let key = key.clone();
                async move {
                    let r = app.send(Method::GET, &path, Some(&key), &[], None).await;
                    assert_eq!(r.status, 200, "{round} {path}: {}", r.text);
                    r
                }
            };
            let s = get(format!("/api/v1/summary?{range}")).await.body;
            assert_eq!(s["events"], 10_000, "{round}");
            assert_eq!(dec(&s["agent_cost"]), agent_total, "{round}");
            assert_eq!(dec(&s["cost_saved"]), cost_total, "{round}");
            assert_eq!(dec(&s["net_saved"]), net_total, "{round}");
            for (report, group) in [
                ("cost-saved", "agent"),
                ("cost-saved", "model"),
                ("cost-saved", "client"),
                ("cost-saved", "day"),
                ("cost-saved", "agent,model"),
                ("cost-saved", "metadata.n"),
                ("time-saved", "task_type"),
                ("time-saved", "outcome,day"),
            ] {
                let b = get(format!("/api/v1/reports/{report}?{range}&group_by={group}"))
                    .await
                    .body;
                let rows = b["rows"].as_array().unwrap();
                let sum = |f: &str| rows.iter().map(|r| dec(&r[f])).sum::<Decimal>();
                assert_eq!(sum("cost_saved"), cost_total, "{round} {report} {group}");
                assert_eq!(dec(&b["totals"]["cost_saved"]), cost_total, "{group}");
                if report == "cost-saved" {
                    assert_eq!(sum("agent_cost"), agent_total, "{round} {group}");
                    assert_eq!(dec(&b["totals"]["net_saved"]), net_total, "{group}");
                    for r in rows {
                        let want = dec(&r["cost_saved"]) - dec(&r["agent_cost"]);
                        assert_eq!(dec(&r["net_saved"]), want, "{round} {group}");
                    }
                }
            }
            for metric in ["net_saved", "agent_cost", "cost_saved"] {
                let b = get(format!(
                    "/api/v1/reports/leaderboard?{range}&metric={metric}"
                ))
                .await
                .body;
                let rows = b["rows"].as_array().unwrap();
                assert_eq!(rows.len(), 3, "{metric}");
                let agent: Decimal = rows.iter().map(|r| dec(&r["agent_cost"])).sum();
                assert_eq!(agent, agent_total, "{round} {metric}");
            }
            let csv = get(format!("/api/v1/reports/export?{range}")).await.text;
            assert!(csv.contains("big-2"), "{round}: {csv}");
            let csv = get(format!(
                "/api/v1/reports/cost-saved?{range}&format=csv&group_by=model"
            ))
            .await
            .text;
            assert!(csv.contains(",10000000000000,"), "{round}: {csv}");
        }
        get_usage_and_agents(&app, &key).await;
        app.state.writer.fold_rollups().await.unwrap();
    }
    assert_rollup_table_complete(&app.store, &org);
}

async fn get_usage_and_agents(app: &TestApp, key: &str) {
    for path in ["/api/v1/reports/usage", "/api/v1/agents"] {
        let r = app.send(Method::GET, path, Some(key), &[], None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
}
