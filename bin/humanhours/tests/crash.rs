//! Crash consistency (long-running: `just test-long` runs it on the release build).
//!
//! The server runs on SQLite under concurrent track traffic and is killed with SIGKILL mid-load,
//! then restarted, ROUNDS times. Every request carries its own Idempotency-Key. Afterwards:
//! every event answered 201 is stored exactly once; every request whose answer was lost in a
//! crash, retried with its key, ends up stored exactly once (201 now, or 200 if the crash came
//! after its commit); the quota counter equals the events; the rollups equal the raw sums;
//! `PRAGMA integrity_check` says ok; and an `event.created` webhook endpoint (a receiver in the
//! test) gets every acknowledged event at least once (its delivery was written with the event,
//! API.md §9).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::clock;
use app::keys::{KeyHasher, KeyMode};
use app::orgs::{self, NewOrg};
use common::{seed_body, PEPPER};
use diesel::prelude::*;
use ratelimit::Plan;
use serde_json::json;
use store::{DbConfig, Store};

const ROUNDS: usize = 6;
const CLIENTS: usize = 32;

fn start(db_url: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_humanhours"))
        .env("HUMANHOURS_PRICES_SYNC_URL", "off")
        .env("HUMANHOURS_FX_SYNC_URL", "off")
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("HUMANHOURS_DATABASE_URL", db_url)
        .env("HUMANHOURS_PEPPER", PEPPER)
        .env("HUMANHOURS_RATE_LIMIT_ENTERPRISE", "1000000")
        .env("HUMANHOURS_LOG", "error")
        // Folds rarely, so every kill -9 leaves committed events unfolded for the restart.
        .env("HUMANHOURS_ROLLUP_INTERVAL_MS", "60000")
        .env("HUMANHOURS_WEBHOOK_ALLOW_NETS", "127.0.0.1/32")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not come up");
}

#[derive(Default)]
struct Ledger {
    /// Idempotency-Key → event id, for every 201/200 answer seen.
    acknowledged: BTreeMap<String, String>,
    /// Keys whose request got no answer (connection cut by the kill).
    unknown: BTreeSet<String>,
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    idem: &str,
) -> Option<(u16, String)> {
    let mut body = seed_body();
    body["agent_id"] = json!(format!("agent-{}", idem.len() % 5));
    let r = client
        .post(format!("{base}/api/v1/track"))
        .header("Authorization", format!("Bearer {key}"))
        .header("Idempotency-Key", idem)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.ok()?;
    Some((
        status,
        v["event_id"].as_str().unwrap_or_default().to_owned(),
    ))
}

#[actix_web::test]
#[ignore = "long-running (kills the release server repeatedly); run by `just test-long`"]
async fn kill_9_mid_load_loses_no_acknowledged_event_and_stores_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let store = Store::open(&DbConfig::new(&db_url)).unwrap();
    let hasher = KeyHasher::new(PEPPER.as_bytes().to_vec());
    let org = orgs::create_org(
        &store,
        &NewOrg::named("crash", Plan::Enterprise),
        clock::now(),
    )
    .unwrap();
    let key = orgs::create_key(&store, &hasher, &org.id, KeyMode::Live, clock::now()).unwrap();
    let receiver = common::receiver::Receiver::start(200).await;
    let endpoint = common::endpoint_row(&org.id, &receiver.url("/crash"));
    assert!(store.create_endpoint(&endpoint, 10).unwrap());
    drop(store);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut total_sent = 0usize;

    for round in 0..ROUNDS {
        let mut server = start(&db_url, port);
        wait_ready(&client, &base).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (client, base, key, ledger, stop) = (
                client.clone(),
                base.clone(),
                key.clone(),
                ledger.clone(),
                stop.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let idem = format!("r{round}-c{c}-n{n}");
                    n += 1;
                    match send(&client, &base, &key, &idem).await {
                        Some((201 | 200, id)) => {
                            ledger.lock().unwrap().acknowledged.insert(idem, id);
                        }
                        Some((status, _)) => panic!("unexpected status {status} before the kill"),
                        None => {
                            ledger.lock().unwrap().unknown.insert(idem);
                            break;
                        }
                    }
                }
                n
            }));
        }
        // Let traffic run, then kill -9 in the middle of it.
        tokio::time::sleep(Duration::from_millis(700 + 150 * round as u64)).await;
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            total_sent += t.await.unwrap();
        }
    }

    // Restart once more and retry every request whose answer was lost.
    let mut server = start(&db_url, port);
    wait_ready(&client, &base).await;
    let unknown: Vec<String> = ledger.lock().unwrap().unknown.iter().cloned().collect();
    let mut replayed_after_crash = 0;
    for idem in &unknown {
        let (status, id) = send(&client, &base, &key, idem).await.unwrap();
        assert!(status == 201 || status == 200, "retry of {idem}: {status}");
        replayed_after_crash += usize::from(status == 200);
        ledger.lock().unwrap().acknowledged.insert(idem.clone(), id);
    }
    // Every acknowledged event reaches the receiver (deliveries whose attempt a kill cut off
    // come due again when their lease ends).
    let want: BTreeSet<String> = ledger
        .lock()
        .unwrap()
        .acknowledged
        .values()
        .cloned()
        .collect();
    let deadline = clock::instant() + Duration::from_secs(180);
    let delivered = loop {
        let got: BTreeSet<String> = receiver
            .received()
            .iter()
            .map(|r| {
                r.json()["data"]["event_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        if want.is_subset(&got) || clock::instant() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let missing = want.difference(&delivered).count();
    assert_eq!(
        missing, 0,
        "acknowledged events never delivered to the webhook"
    );
    let deliveries = receiver.received().len();
    server.kill().unwrap();
    server.wait().unwrap();

    let ledger = ledger.lock().unwrap();
    let path = db_url.strip_prefix("sqlite://").unwrap();
    let mut conn = diesel::SqliteConnection::establish(path).unwrap();
    #[derive(QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let integrity: Vec<Text> =
        diesel::sql_query("SELECT integrity_check AS v FROM pragma_integrity_check")
            .load(&mut conn)
            .unwrap();
    assert_eq!(
        integrity.iter().map(|t| t.v.as_str()).collect::<Vec<_>>(),
        ["ok"]
    );

    let store = Store::open(&DbConfig::new(&db_url)).unwrap();
    for (idem, id) in &ledger.acknowledged {
        assert!(
            store.get_event(&org.id, id).unwrap().is_some(),
            "{idem} → {id} was acknowledged but is missing"
        );
    }
    let stored = usize::try_from(store.count_events(&org.id).unwrap()).unwrap();
    let distinct_ids: BTreeSet<&String> = ledger.acknowledged.values().collect();
    assert_eq!(
        distinct_ids.len(),
        ledger.acknowledged.len(),
        "one event per key"
    );
    assert_eq!(
        stored,
        ledger.acknowledged.len(),
        "no event stored twice, none without an answer"
    );
    // The writer's unfolded rollup sums died with each process; opening the database folded
    // those events from the events table, so the rollups hold every event exactly once.
    let raw = store.sum_events(&org.id).unwrap();
    for (dim, sums) in store.rollup_sums(&org.id).unwrap() {
        assert_eq!(
            sums, raw,
            "rollup_hourly, dimension {dim}, equals the events"
        );
    }
    let usage = store.usage(&org.id, &clock::month(clock::now())).unwrap();
    assert_eq!(
        usize::try_from(usage.events).unwrap(),
        stored,
        "the quota counter matches"
    );
    println!(
        "crash test: {ROUNDS} rounds of kill -9, {total_sent} requests sent, {} acknowledged and stored exactly once, {} answers lost in a crash and retried ({} of them had been committed: replayed), integrity ok; every acknowledged event delivered to the webhook ({deliveries} deliveries received, {} duplicates)",
        ledger.acknowledged.len(),
        unknown.len(),
        replayed_after_crash,
        deliveries.saturating_sub(want.len())
    );
}
