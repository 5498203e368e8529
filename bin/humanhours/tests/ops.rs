//! Operations: metrics, key verification timing, and a database outage and its recovery.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web;
use app::clock;
use app::keys::{generate_key, KeyHasher, KeyMode};
use app::orgs::{self, NewOrg};
use app::App;
use common::{seed_body, test_config, TestApp, TestDb, PEPPER};
use ratelimit::Plan;
use store::{DbConfig, Store};

#[actix_web::test]
async fn metrics_count_requests_events_and_show_the_writer_and_pools() {
    let app = TestApp::spawn().await;
    let (_, key) = app.org(Plan::Free);
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    assert_eq!(app.track(&key, &seed_body(), None).await.status, 201);
    let r = app
        .send(reqwest::Method::GET, "/metrics", None, &[], None)
        .await;
    assert_eq!(r.status, 200);
    let text = r.text;
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix} in:\n{text}"))
            .to_owned()
    };
    assert_eq!(
        line("humanhours_http_requests_total{route=\"/api/v1/track\",method=\"POST\",status=\"201\"}"),
        "humanhours_http_requests_total{route=\"/api/v1/track\",method=\"POST\",status=\"201\"} 2"
    );
    assert!(line("humanhours_http_request_duration_seconds_bucket{route=\"/api/v1/track\",method=\"POST\",status=\"201\",le=\"+Inf\"}").ends_with(" 2"));
    assert_eq!(
        line("humanhours_events_stored_total"),
        "humanhours_events_stored_total 2"
    );
    assert_eq!(
        line("humanhours_writer_queue_depth"),
        "humanhours_writer_queue_depth 0"
    );
    assert!(text.contains("humanhours_db_pool_connections{pool="));
    assert!(text.contains("# TYPE humanhours_http_request_duration_seconds histogram"));
}

/// The secret's comparison must not reveal how much of it matched: every candidate pays the
/// whole argon2 hash, and the hash outputs are compared in constant time. The fastest of
/// interleaved runs for a key that differs in its first character and one that differs only in
/// its last must be close. (The fastest, not the median: the other tests of this binary run
/// beside it on two cores, and interference only ever adds time. Medians failed CI once at
/// 1.6x with no change to the code they time; a leak, such as stopping at the first differing
/// character before hashing, would still show as orders of magnitude.)
#[test]
fn key_verification_time_does_not_depend_on_how_much_matches() {
    let hasher = KeyHasher::new(PEPPER.as_bytes().to_vec());
    let (key, _) = generate_key(KeyMode::Live);
    let phc = hasher.hash(&key).unwrap();
    let flip = |i: usize| {
        let mut b = key.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let early = flip(17); // first character of the secret
    let late = flip(key.len() - 1); // last character
    let (mut t_early, mut t_late) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        for (cand, times) in [(&early, &mut t_early), (&late, &mut t_late)] {
            let t0 = clock::instant();
            assert!(!hasher.verify(cand, &phc).unwrap());
            times.push(t0.elapsed());
        }
    }
    let fastest = |t: &[std::time::Duration]| t.iter().min().unwrap().as_secs_f64();
    let (a, b) = (fastest(&t_early), fastest(&t_late));
    let ratio = a.max(b) / a.min(b);
    assert!(
        ratio < 1.5,
        "fastest runs {a:.4}s vs {b:.4}s differ by {ratio:.2}x"
    );
}

/// A TCP proxy to PostgreSQL that the test can cut (all connections closed, new ones refused)
/// and restore: the database "unreachable" without stopping the shared server.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (u, o, target) = (up.clone(), open.clone(), target.to_owned());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !u.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                {
                    let mut o = o.lock().unwrap();
                    o.push(client.try_clone().unwrap());
                    o.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[actix_web::test]
#[cfg_attr(
    not(test_backend = "postgres"),
    ignore = "PostgreSQL only: runs in the PostgreSQL pass (HUMANHOURS_TEST_BACKEND=postgres)"
)]
async fn a_postgres_outage_is_answered_503_quickly_and_recovers_by_itself() {
    let db = TestDb::new();
    // The server reaches the database only through the proxy.
    let proxy = Proxy::start("127.0.0.1:5432");
    let (head, name) = db.url().rsplit_once('/').unwrap();
    let (scheme_user, _) = head.rsplit_once('@').unwrap();
    let via_proxy = format!("{scheme_user}@127.0.0.1:{}/{name}", proxy.port);
    let mut config = DbConfig::new(&via_proxy);
    config.connect_timeout = Duration::from_secs(1);
    let store = Arc::new(Store::open(&config).unwrap());
    let hasher = KeyHasher::new(PEPPER.as_bytes().to_vec());
    let org = orgs::create_org(
        &store,
        &NewOrg::named("outage", Plan::Enterprise),
        clock::now(),
    )
    .unwrap();
    let key = orgs::create_key(&store, &hasher, &org.id, KeyMode::Live, clock::now()).unwrap();
    let state = web::Data::new(App::new(store.clone(), hasher, test_config()).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    actix_web::rt::spawn(humanhours::http::startup::run(listener, state, Some(2)).unwrap());
    let client = reqwest::Client::new();
    let track = || async {
        let t0 = clock::instant();
        let r = client
            .post(format!("{base}/api/v1/track"))
            .header("Authorization", format!("Bearer {key}"))
            .json(&seed_body())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").is_some();
        let body: serde_json::Value = r.json().await.unwrap();
        (status, retry, body, t0.elapsed())
    };
    assert_eq!(track().await.0, 201);

    proxy.cut();
    let (status, retry, body, took) = track().await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert!(retry, "503 carries Retry-After");
    assert!(
        took < Duration::from_secs(4),
        "answered in {took:?}, not after a hang"
    );
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);

    proxy.restore();
    let mut recovered = false;
    for _ in 0..40 {
        if track().await.0 == 201 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the server recovers without a restart");
    // Nothing half-written: the events stored are the ones answered 201.
    let direct = Store::open(&DbConfig::new(db.url())).unwrap();
    assert_eq!(direct.count_events(&org.id).unwrap(), 2);
    let month = clock::month(clock::now());
    assert_eq!(direct.usage(&org.id, &month).unwrap().events, 2);
}
