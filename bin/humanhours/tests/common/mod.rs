//! Test harness: the real server on port 0 over a fresh database, and helpers that talk HTTP
//! to it like a client would.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "shared by several test binaries, each using a part"
)]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a failure should fail the test loudly"
)]

pub mod receiver;
pub mod smtp;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use app::clock;
use app::keys::{KeyHasher, KeyMode};
use app::orgs::{self, NewOrg};
use app::{App, ServerConfig};
use ratelimit::{Plan, PlanLimits};
use serde_json::Value;
use store::{DbConfig, SqliteSync, Store};

pub const PEPPER: &str = "test-pepper-0123456789";

/// Which database the suite runs on: SQLite unless `HUMANHOURS_TEST_BACKEND=postgres`, in which
/// case `HUMANHOURS_TEST_POSTGRES_URL` names a server where each test creates (and drops) its own
/// database. `just test` runs the suite once per backend.
pub fn postgres_url() -> Option<String> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test harness reads its own settings"
    )]
    let backend = std::env::var("HUMANHOURS_TEST_BACKEND").unwrap_or_default();
    if backend != "postgres" {
        return None;
    }
    #[expect(
        clippy::disallowed_methods,
        reason = "the test harness reads its own settings"
    )]
    let url = std::env::var("HUMANHOURS_TEST_POSTGRES_URL")
        .expect("HUMANHOURS_TEST_BACKEND=postgres needs HUMANHOURS_TEST_POSTGRES_URL");
    Some(url)
}

/// A fresh database for one test, removed when dropped.
pub enum TestDb {
    Sqlite {
        dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    pub fn new() -> TestDb {
        match postgres_url() {
            None => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb::Sqlite { dir, url }
            }
            Some(admin_url) => {
                use diesel::connection::SimpleConnection as _;
                use diesel::Connection as _;
                let name = format!("hh_test_{}", clock::ulid(clock::now())).to_lowercase();
                store::init_tls();
                let mut admin = diesel::PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!("cannot reach PostgreSQL at HUMANHOURS_TEST_POSTGRES_URL: {e}")
                });
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                let (base, _) = admin_url.rsplit_once('/').unwrap();
                let url = format!("{base}/{name}");
                TestDb::Postgres {
                    admin_url,
                    name,
                    url,
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres {
            admin_url, name, ..
        } = self
        {
            use diesel::connection::SimpleConnection as _;
            use diesel::Connection as _;
            if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// A running server and direct access to its database.
pub struct TestApp {
    pub base: String,
    pub store: Arc<Store>,
    pub state: web::Data<App>,
    pub hasher: KeyHasher,
    pub db_url: String,
    pub client: reqwest::Client,
    // Last: dropped after the server's state, so the database outlives its connections.
    pub db: TestDb,
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `error.code` of an error envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// `error.field` of an error envelope.
    pub fn field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }
}

/// Generous limits so only the tests about limits meet them.
pub fn test_config() -> ServerConfig {
    let big = std::num::NonZeroU32::new(100_000).unwrap();
    ServerConfig {
        plan_limits: PlanLimits::default()
            .with_per_second(Plan::Free, big)
            .with_per_second(Plan::Pro, big)
            .with_per_second(Plan::Enterprise, big),
        key_cache_ttl: Duration::from_secs(1),
        // Digests are due every week on the real clock: only the tests about them run the
        // schedule (or drive `app::digests::tick` on a clock of their own).
        jobs: app::background::JobsConfig {
            digests: app::digests::DigestConfig {
                scheduled: false,
                ..Default::default()
            },
            // Only addresses on this machine are contacted: the syncs' tests give their own.
            feeds: app::feeds::FeedConfig {
                prices_url: None,
                fx_url: None,
                ..Default::default()
            },
            ..Default::default()
        },
        ..ServerConfig::default()
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(test_config()).await
    }

    pub async fn spawn_with(config: ServerConfig) -> TestApp {
        let test_db = TestDb::new();
        let db_url = test_db.url().to_owned();
        let mut db = DbConfig::new(db_url.clone());
        db.sqlite_sync = SqliteSync::Normal;
        let store = Arc::new(Store::open(&db).unwrap());
        let hasher = KeyHasher::new(PEPPER.as_bytes().to_vec());
        let state = web::Data::new(App::new(store.clone(), hasher.clone(), config).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = humanhours::http::startup::run(listener, state.clone(), Some(2)).unwrap();
        actix_web::rt::spawn(server);
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            store,
            state,
            hasher,
            db_url,
            client: reqwest::Client::new(),
            db: test_db,
        }
    }

    /// A new org with these settings and one live key for it: (org id, key).
    pub fn org_with(&self, new: NewOrg) -> (String, String) {
        let now = clock::now();
        let org = orgs::create_org(&self.store, &new, now).unwrap();
        let key = orgs::create_key(&self.store, &self.hasher, &org.id, KeyMode::Live, now).unwrap();
        (org.id, key)
    }

    /// A new org of this plan (EUR, 45/h): (org id, key).
    pub fn org(&self, plan: Plan) -> (String, String) {
        let name = format!("org-{}", clock::ulid(clock::now()));
        self.org_with(NewOrg::named(&name, plan))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// POST /api/v1/track with a JSON body.
    pub async fn track(&self, key: &str, body: &Value, idem: Option<&str>) -> Reply {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(k) = idem {
            headers.push(("Idempotency-Key", k));
        }
        self.send(
            reqwest::Method::POST,
            "/api/v1/track",
            Some(key),
            &headers,
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    /// Tracks `n` events (built by `item(i)`) through POST /api/v1/track/batch, in batches of
    /// the most one may hold, and asserts that every one was stored.
    pub async fn track_many(&self, key: &str, n: usize, item: impl Fn(usize) -> Value) {
        let items: Vec<Value> = (0..n).map(item).collect();
        for chunk in items.chunks(1000) {
            let body = serde_json::json!({ "events": chunk });
            let r = self
                .send(
                    reqwest::Method::POST,
                    "/api/v1/track/batch",
                    Some(key),
                    &[("Content-Type", "application/json")],
                    Some(serde_json::to_vec(&body).unwrap()),
                )
                .await;
            let head: String = r.text.chars().take(300).collect();
            assert!(r.status < 300, "{head}");
            assert_eq!(r.body["created"], chunk.len(), "{head}");
        }
    }

    /// POST /api/v1/track with raw bytes.
    pub async fn track_raw(&self, key: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        self.send(
            reqwest::Method::POST,
            "/api/v1/track",
            Some(key),
            headers,
            Some(body.to_vec()),
        )
        .await
    }

    /// Runs the real binary against this test's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_humanhours"))
            .args(args)
            .env("HUMANHOURS_DATABASE_URL", &self.db_url)
            .env("HUMANHOURS_PEPPER", PEPPER)
            .env("HUMANHOURS_LOG", "warn")
            .output()
            .unwrap()
    }
}

/// Runs SQL on a test's database directly, as an operator would (or to age rows past a
/// window the test cannot wait out).
pub fn sql(db_url: &str, sql: &str) {
    use diesel::connection::SimpleConnection as _;
    use diesel::Connection as _;
    if db_url.starts_with("postgres") {
        store::init_tls();
        diesel::PgConnection::establish(db_url)
            .unwrap()
            .batch_execute(sql)
            .unwrap();
    } else {
        let path = db_url.strip_prefix("sqlite://").unwrap();
        diesel::SqliteConnection::establish(path)
            .unwrap()
            .batch_execute(sql)
            .unwrap();
    }
}

/// The seed request of the docs.
pub fn seed_body() -> Value {
    serde_json::json!({
        "agent_id": "support-bot",
        "task_type": "email_classification",
        "outcome": "success",
        "agent_duration_seconds": 4
    })
}

/// An active `event.created` endpoint of `org` posting to `url`, as the store keeps it (for
/// tests that start the server as a child process and cannot call the API first).
pub fn endpoint_row(org: &str, url: &str) -> store::EndpointRow {
    let now = clock::unix_ms(clock::now());
    store::EndpointRow {
        id: format!("wh_{}", clock::ulid(clock::now())),
        org_id: org.to_owned(),
        url: url.to_owned(),
        event_types: "event.created".into(),
        description: String::new(),
        secret: webhooks::Secret::from_bytes([7; 24]).expose(),
        previous_secret: None,
        previous_secret_until: None,
        status: "active".into(),
        disabled_by: None,
        failed_in_a_row: 0,
        created_at: now,
        updated_at: now,
    }
}
