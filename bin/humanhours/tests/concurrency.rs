//! Concurrency: retries racing through the batch endpoint, the free quota under mixed load, and
//! the rollups agreeing with the events table afterwards.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::collections::BTreeSet;

use app::clock;
use common::{seed_body, TestApp};
use ratelimit::Plan;
use serde_json::{json, Value};

async fn post(client: &reqwest::Client, url: String, key: &str, body: &Value) -> (u16, Value) {
    let r = client
        .post(url)
        .header("Authorization", format!("Bearer {key}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[actix_web::test]
async fn one_key_retried_in_many_concurrent_batches_makes_one_event() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Enterprise);
    let mut item = seed_body();
    item["idempotency_key"] = json!("retry-me");
    // The same keyed item three times in each batch, beside an unkeyed one.
    let batch = json!({"events": [item, seed_body(), item, item]});
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (client, key, batch) = (app.client.clone(), key.clone(), batch.clone());
        let url = format!("{}/api/v1/track/batch", app.base);
        tasks.push(tokio::spawn(async move {
            post(&client, url, &key, &batch).await
        }));
    }
    // And the same event through /track with the header, racing them.
    for _ in 0..8 {
        let (client, key) = (app.client.clone(), key.clone());
        let url = format!("{}/api/v1/track", app.base);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("Authorization", format!("Bearer {key}"))
                .header("Idempotency-Key", "retry-me")
                .json(&seed_body())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (
                status,
                json!({"results": [{"status": if status == 201 { "created" } else { "replayed" }, "event": body}]}),
            )
        }));
    }
    let (mut keyed_ids, mut created) = (BTreeSet::new(), 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(status == 200 || status == 201, "{status}: {body}");
        let results = body["results"].as_array().unwrap();
        for (i, r) in results.iter().enumerate() {
            // Item 1 of a batch is the unkeyed one.
            if results.len() == 4 && i == 1 {
                assert_eq!(r["status"], "created");
                continue;
            }
            let s = r["status"].as_str().unwrap();
            assert!(s == "created" || s == "replayed", "{r}");
            created += usize::from(s == "created");
            keyed_ids.insert(r["event"]["event_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(created, 1, "exactly one caller created the keyed event");
    assert_eq!(keyed_ids.len(), 1, "every caller got that event");
    assert_eq!(
        app.store.count_events(&org).unwrap(),
        1 + 24,
        "one keyed event and one unkeyed event per batch"
    );
    let month = clock::month(clock::now());
    assert_eq!(app.store.usage(&org, &month).unwrap().events, 25);
}

#[actix_web::test]
async fn the_free_quota_holds_under_mixed_concurrent_track_and_batch() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Free);
    let cap = 500;
    let mut tasks = Vec::new();
    // 40 batches of 10 and 300 single events: 700 attempts for 500 places.
    for b in 0..40 {
        let (client, key) = (app.client.clone(), key.clone());
        let url = format!("{}/api/v1/track/batch", app.base);
        tasks.push(tokio::spawn(async move {
            let events: Vec<Value> = (0..10)
                .map(|i| {
                    let mut e = seed_body();
                    e["agent_id"] = json!(format!("batch-{}", (b + i) % 5));
                    e
                })
                .collect();
            let (status, body) = post(&client, url, &key, &json!({ "events": events })).await;
            assert_eq!(status, 200, "{body}");
            let results = body["results"].as_array().unwrap();
            for r in results {
                if r["status"] == "error" {
                    assert_eq!(r["error"]["code"], "quota_exceeded", "{r}");
                }
            }
            results.iter().filter(|r| r["status"] == "created").count()
        }));
    }
    for i in 0..300 {
        let (client, key) = (app.client.clone(), key.clone());
        let url = format!("{}/api/v1/track", app.base);
        tasks.push(tokio::spawn(async move {
            let mut e = seed_body();
            e["agent_id"] = json!(format!("single-{}", i % 7));
            let (status, body) = post(&client, url, &key, &e).await;
            match status {
                201 => 1,
                429 => {
                    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
                    0
                }
                other => panic!("{other}: {body}"),
            }
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += t.await.unwrap();
    }
    assert_eq!(created, cap, "every place is used, and no more");
    assert_eq!(app.store.count_events(&org).unwrap(), cap as i64);
    let month = clock::month(clock::now());
    let usage = app.store.usage(&org, &month).unwrap();
    assert_eq!((usage.events, usage.overage_events), (cap as i64, 0));
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/reports/usage",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(r.body["events_this_month"], json!(cap));

    assert_rollups_match_events(&app, &org, &key).await;
}

/// The read side (whole hours: rollups only) agrees with a plain sum over the events table.
async fn assert_rollups_match_events(app: &TestApp, org: &str, key: &str) {
    let raw = app.store.sum_events(org).unwrap();
    assert!(raw.events > 0);
    let hour = 3_600_000;
    let now = clock::unix_ms(clock::now());
    let (from, to) = ((now / hour - 1) * hour, (now / hour + 2) * hour);
    let iso = |ms: i64| clock::format_ms(clock::from_unix_ms(ms));
    let range = format!("from={}&to={}", iso(from), iso(to));
    let milli = |v: &Value| (v.as_f64().unwrap() * 1000.0).round() as i64;
    let cents = |v: &Value| (v.as_f64().unwrap() * 100.0).round() as i64;
    let summary = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/summary?{range}"),
            Some(key),
            &[],
            None,
        )
        .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    let b = &summary.body;
    assert_eq!(b["events"].as_i64().unwrap(), raw.events);
    assert_eq!(milli(&b["hours_saved"]), raw.hours_saved_milli);
    assert_eq!(i128::from(cents(&b["cost_saved"])), raw.cost_saved_cents);
    let net = roi_engine::aggregate_net(raw.cost_saved_cents, raw.agent_cost_micros);
    let shown: rust_decimal::Decimal = b["net_saved"].to_string().parse().unwrap();
    assert_eq!(shown, net);
    let by_outcome: i64 = ["success", "failure", "needs_review"]
        .iter()
        .map(|o| b["by_outcome"][o]["events"].as_i64().unwrap())
        .sum();
    assert_eq!(by_outcome, raw.events);
    let trend: i64 = b["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["events"].as_i64().unwrap())
        .sum();
    assert_eq!(trend, raw.events);
    // The per-agent rollup too, where the plan has reports.
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/reports/time-saved?group_by=agent&{range}"),
            Some(key),
            &[],
            None,
        )
        .await;
    if r.status == 200 {
        let rows = r.body["rows"].as_array().unwrap();
        let events: i64 = rows.iter().map(|x| x["events"].as_i64().unwrap()).sum();
        let hours: i64 = rows.iter().map(|x| milli(&x["hours_saved"])).sum();
        assert_eq!((events, hours), (raw.events, raw.hours_saved_milli));
    } else {
        assert_eq!(r.code(), "feature_locked");
    }
}

#[actix_web::test]
async fn rollups_match_the_events_table_after_concurrent_mixed_writes() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let mut tasks = Vec::new();
    for i in 0..120 {
        let (client, key) = (app.client.clone(), key.clone());
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            let mut e = seed_body();
            e["agent_id"] = json!(format!("agent-{}", i % 6));
            e["outcome"] = json!(["success", "failure", "needs_review"][i % 3]);
            e["agent_duration_seconds"] = json!(i % 50);
            if i % 4 == 0 {
                e["agent_cost"] = json!(format!("0.0{}", i % 10).parse::<f64>().unwrap());
            }
            if i % 5 == 0 {
                e["metadata"] = json!({"client": format!("c{}", i % 3)});
            }
            if i % 2 == 0 {
                post(&client, format!("{base}/api/v1/track"), &key, &e)
                    .await
                    .0
            } else {
                let body = json!({"events": [e, e]});
                post(&client, format!("{base}/api/v1/track/batch"), &key, &body)
                    .await
                    .0
            }
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap() < 300);
    }
    assert_eq!(app.store.count_events(&org).unwrap(), 60 + 60 * 2);
    assert_rollups_match_events(&app, &org, &key).await;
}
