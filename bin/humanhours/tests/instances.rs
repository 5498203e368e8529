//! Several stateless server processes on one PostgreSQL database: the guarantees of a single
//! server must hold across instances. Runs in the PostgreSQL pass of `just test`
//! (HUMANHOURS_TEST_BACKEND=postgres); on SQLite there is nothing to share, so it returns.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use app::clock;
use app::keys::{KeyHasher, KeyMode};
use app::orgs::{self, NewOrg};
use common::{seed_body, TestDb, PEPPER};
use ratelimit::Plan;
use serde_json::Value;
use store::{DbConfig, Store};

/// A `humanhours serve` child process, killed when dropped.
struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(db_url: &str) -> Instance {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_humanhours"))
        .env("HUMANHOURS_PRICES_SYNC_URL", "off")
        .env("HUMANHOURS_FX_SYNC_URL", "off")
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
        ])
        .env("HUMANHOURS_DATABASE_URL", db_url)
        .env("HUMANHOURS_PEPPER", PEPPER)
        .env("HUMANHOURS_RATE_LIMIT_FREE", "100000")
        .env("HUMANHOURS_RATE_LIMIT_ENTERPRISE", "100000")
        .env("HUMANHOURS_KEY_CACHE_TTL_SECS", "2")
        .env("HUMANHOURS_WEBHOOK_ALLOW_NETS", "127.0.0.1/32")
        .env("HUMANHOURS_JOB_POLL_MS", "100")
        .env("HUMANHOURS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Owned from here on, so it is killed and reaped however the test ends.
    let instance = Instance {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{}/readyz", instance.base)).send().await {
            if r.status().is_success() {
                return instance;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("instance on port {port} did not become ready");
}

/// A database with one org of `plan` and its key, and two instances serving it.
async fn two_instances(plan: Plan) -> (TestDb, Arc<Store>, String, String, [Instance; 2]) {
    let db = TestDb::new();
    let store = Arc::new(Store::open(&DbConfig::new(db.url())).unwrap());
    let hasher = KeyHasher::new(PEPPER.as_bytes().to_vec());
    let org = orgs::create_org(&store, &NewOrg::named("shared", plan), clock::now()).unwrap();
    let key = orgs::create_key(&store, &hasher, &org.id, KeyMode::Live, clock::now()).unwrap();
    let (a, b) = (start(db.url()).await, start(db.url()).await);
    (db, store, org.id, key, [a, b])
}

async fn post(client: &reqwest::Client, base: &str, key: &str, idem: &str) -> (u16, Value) {
    let r = client
        .post(format!("{base}/api/v1/track"))
        .header("Authorization", format!("Bearer {key}"))
        .header("Idempotency-Key", idem)
        .json(&seed_body())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[actix_web::test]
#[cfg_attr(
    not(test_backend = "postgres"),
    ignore = "PostgreSQL only: runs in the PostgreSQL pass (HUMANHOURS_TEST_BACKEND=postgres)"
)]
async fn one_idempotency_key_across_two_instances_makes_one_event() {
    let (_db, store, org, key, instances) = two_instances(Plan::Enterprise).await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (client, key) = (client.clone(), key.clone());
        let base = instances[i % 2].base.clone();
        tasks.push(tokio::spawn(async move {
            post(&client, &base, &key, "shared-1").await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(status == 201 || status == 200, "{status}: {body}");
        created += usize::from(status == 201);
        ids.insert(body["event_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(created, 1, "exactly one 201");
    assert_eq!(ids.len(), 1, "every caller got the same event");
    assert_eq!(store.count_events(&org).unwrap(), 1);
}

#[actix_web::test]
#[cfg_attr(
    not(test_backend = "postgres"),
    ignore = "PostgreSQL only: runs in the PostgreSQL pass (HUMANHOURS_TEST_BACKEND=postgres)"
)]
async fn the_free_quota_holds_across_two_instances() {
    let (_db, store, org, key, instances) = two_instances(Plan::Free).await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..520 {
        let (client, key) = (client.clone(), key.clone());
        let base = instances[i % 2].base.clone();
        tasks.push(tokio::spawn(async move {
            post(&client, &base, &key, &format!("q-{i}")).await
        }));
    }
    let (mut accepted, mut refused) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => accepted += 1,
            429 => {
                assert_eq!(body["error"]["code"], "quota_exceeded");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((accepted, refused), (500, 20));
    assert_eq!(store.count_events(&org).unwrap(), 500);
    assert_eq!(
        store
            .usage(&org, &clock::month(clock::now()))
            .unwrap()
            .events,
        500
    );
}

#[actix_web::test]
#[cfg_attr(
    not(test_backend = "postgres"),
    ignore = "PostgreSQL only: runs in the PostgreSQL pass (HUMANHOURS_TEST_BACKEND=postgres)"
)]
async fn an_agency_pool_counts_exactly_across_two_instances() {
    // An anchor and two workspaces, 40 events short of the pool; 300 events from the three
    // orgs' keys through both instances at once: each counted once, overage exactly past it.
    let (_db, store, anchor, anchor_key, instances) = two_instances(Plan::Agency).await;
    let hasher = KeyHasher::new(PEPPER.as_bytes().to_vec());
    let mut keys = vec![anchor_key];
    let mut tree = vec![anchor.clone()];
    for i in 0..2 {
        let new = NewOrg {
            parent: Some(anchor.clone()),
            ..NewOrg::named(&format!("client-{i}"), Plan::Agency)
        };
        let org = orgs::create_org(&store, &new, clock::now()).unwrap();
        keys.push(orgs::create_key(&store, &hasher, &org.id, KeyMode::Live, clock::now()).unwrap());
        tree.push(org.id);
    }
    let month = clock::month(clock::now());
    common::sql(
        _db.url(),
        &format!(
            "INSERT INTO pool_usage (anchor_id, month, events, overage_events) \
             VALUES ('{anchor}', '{month}', 24960, 0)"
        ),
    );
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let (client, key) = (client.clone(), keys[i % 3].clone());
        let base = instances[(i / 3) % 2].base.clone();
        tasks.push(tokio::spawn(async move {
            post(&client, &base, &key, &format!("p-{i}")).await
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let pool = store.pool_usage(&anchor, &month).unwrap();
    assert_eq!((pool.events, pool.overage_events), (25_260, 260));
    for org in &tree {
        assert_eq!(store.count_events(org).unwrap(), 100);
        assert_eq!(store.usage(org, &month).unwrap().events, 100);
    }
}

#[actix_web::test]
#[cfg_attr(
    not(test_backend = "postgres"),
    ignore = "PostgreSQL only: runs in the PostgreSQL pass (HUMANHOURS_TEST_BACKEND=postgres)"
)]
async fn a_key_revoked_through_one_instance_database_is_refused_by_both() {
    let (_db, store, _org, key, instances) = two_instances(Plan::Enterprise).await;
    let client = reqwest::Client::new();
    for inst in &instances {
        assert_eq!(
            post(
                &client,
                &inst.base,
                &key,
                &clock::ulid(clock::now()).to_string()
            )
            .await
            .0,
            201
        );
    }
    let prefix = key.split('_').nth(2).unwrap();
    assert!(store
        .revoke_key(prefix, clock::unix_ms(clock::now()))
        .unwrap());
    // The instances cache verified keys for 2 s; both must refuse within that and a margin.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let mut refused = [false, false];
    while refused != [true, true] && tokio::time::Instant::now() < deadline {
        for (i, inst) in instances.iter().enumerate() {
            let (status, body) = post(
                &client,
                &inst.base,
                &key,
                &clock::ulid(clock::now()).to_string(),
            )
            .await;
            if status == 401 {
                assert_eq!(body["error"]["code"], "key_revoked");
                refused[i] = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        refused,
        [true, true],
        "both instances refuse the revoked key within the TTL"
    );
}

#[actix_web::test]
#[cfg_attr(
    not(test_backend = "postgres"),
    ignore = "PostgreSQL only: runs in the PostgreSQL pass (HUMANHOURS_TEST_BACKEND=postgres)"
)]
async fn two_instances_deliver_every_webhook_once() {
    let (_db, store, org, key, instances) = two_instances(Plan::Enterprise).await;
    let receiver = common::receiver::Receiver::start(200).await;
    let endpoint = common::endpoint_row(&org, &receiver.url("/both"));
    assert!(store.create_endpoint(&endpoint, 10).unwrap());
    // 1,000 events, in batches of 100 alternating between the instances, so both write
    // deliveries and both workers claim from one outbox.
    let client = reqwest::Client::new();
    for b in 0..10 {
        let events: Vec<Value> = (0..100).map(|_| seed_body()).collect();
        let r = client
            .post(format!("{}/api/v1/track/batch", instances[b % 2].base))
            .header("Authorization", format!("Bearer {key}"))
            .json(&serde_json::json!({ "events": events }))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["created"], 100);
    }
    let got = receiver.wait_for(1000, 60).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = receiver.received();
    assert_eq!(got.len(), 1000, "every event delivered");
    assert_eq!(got_after.len(), 1000, "and none twice");
    let ids: std::collections::BTreeSet<String> = got_after
        .iter()
        .map(|r| r.json()["data"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1000);
    let page = store
        .list_deliveries(&org, &endpoint.id, Some("succeeded"), None, 2000)
        .unwrap();
    assert_eq!(page.len(), 1000);
    assert!(
        page.iter().all(|(d, a)| d.attempts == 1 && a.len() == 1),
        "each delivery attempted exactly once"
    );
}
