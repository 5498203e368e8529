//! Background work through the real server: the scheduled pruning jobs run (and show in
//! `/metrics`), `HUMANHOURS_JOBS=off` runs none while still refreshing its own caches, and
//! `serve --jobs only` runs jobs without HTTP and stops cleanly on SIGTERM.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

mod common;

use std::time::Duration;

use app::background::{JobsConfig, JobsMode, PRUNE_IDEMPOTENCY, PRUNE_SESSIONS};
use app::ServerConfig;
use common::{seed_body, test_config, TestApp, PEPPER};
use humanhours::clock;
use ratelimit::Plan;
use store::{NewJob, SessionRow};

fn config(mode: JobsMode, prune_every: Duration) -> ServerConfig {
    ServerConfig {
        prices_refresh: Duration::from_millis(100),
        jobs: JobsConfig {
            mode,
            poll_interval: Duration::from_millis(50),
            prune_every,
            limiter_prune_every: Duration::from_millis(100),
            ..test_config().jobs
        },
        ..test_config()
    }
}

/// Makes every idempotency record of the database older than the replay window.
fn age_idempotency_records(db_url: &str) {
    common::sql(db_url, "UPDATE idempotency_keys SET created_at = 0");
}

/// An org with a tracked event under Idempotency-Key `k1`, its record aged past the window,
/// and an expired dashboard session: (org id, session token hash).
async fn old_records(app: &TestApp) -> (String, String) {
    let (org, key) = app.org(Plan::Pro);
    assert_eq!(app.track(&key, &seed_body(), Some("k1")).await.status, 201);
    age_idempotency_records(&app.db_url);
    assert!(app.store.find_idempotency(&org, "k1").unwrap().is_some());
    let prefix = app.store.list_keys(&org).unwrap()[0].prefix.clone();
    let hash = format!("{:064x}", 7);
    app.store
        .insert_session(&SessionRow {
            id: clock::ulid(clock::now()).to_string(),
            token_hash: hash.clone(),
            org_id: org.clone(),
            key_prefix: prefix,
            created_at: 1,
            expires_at: 2,
        })
        .unwrap();
    (org, hash)
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[actix_web::test]
async fn scheduled_jobs_prune_old_idempotency_records_and_expired_sessions() {
    let app = TestApp::spawn_with(config(JobsMode::On, Duration::from_millis(300))).await;
    let (org, session) = old_records(&app).await;
    until("the idempotency record is pruned", || {
        app.store.find_idempotency(&org, "k1").unwrap().is_none()
    })
    .await;
    until("the expired session is pruned", || {
        app.store.find_session(&session).unwrap().is_none()
    })
    .await;
    // A fresh record stays.
    let (_, key) = app.org(Plan::Pro);
    assert_eq!(app.track(&key, &seed_body(), Some("k2")).await.status, 201);
    let now = clock::unix_ms(clock::now());
    assert!(app.store.schedule_next(PRUNE_IDEMPOTENCY).unwrap().unwrap() > now - 300);
    assert!(app.store.schedule_next(PRUNE_SESSIONS).unwrap().is_some());

    // The per-instance tasks first run one period (100 ms) after start, and the jobs above can
    // all be done sooner: wait for the price reload's first run before reading the rest.
    let mut metrics = app
        .send(reqwest::Method::GET, "/metrics", None, &[], None)
        .await;
    for _ in 0..100 {
        if metrics.text.contains("task=\"reload-prices\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        metrics = app
            .send(reqwest::Method::GET, "/metrics", None, &[], None)
            .await;
    }
    assert_eq!(metrics.status, 200);
    for line in [
        "humanhours_job_runs_total{kind=\"prune-idempotency\",result=\"ok\"}",
        "humanhours_job_runs_total{kind=\"prune-dashboard-sessions\",result=\"ok\"}",
        "humanhours_jobs{state=\"dead\"} 0",
        "humanhours_jobs{state=\"queued\"}",
        "humanhours_task_runs_total{task=\"reload-prices\",result=\"ok\"}",
    ] {
        assert!(metrics.text.contains(line), "{line} in:\n{}", metrics.text);
    }
}

#[actix_web::test]
async fn with_jobs_off_no_job_runs_but_the_caches_refresh() {
    let app = TestApp::spawn_with(config(JobsMode::Off, Duration::from_millis(100))).await;
    let (org, session) = old_records(&app).await;
    // A job someone enqueued stays for an instance that runs jobs.
    app.store
        .enqueue_job(&NewJob {
            id: "queued-by-hand".into(),
            kind: PRUNE_IDEMPOTENCY.into(),
            payload: "{}".into(),
            run_at: 0,
            max_attempts: 3,
            created_at: 0,
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(app.store.find_idempotency(&org, "k1").unwrap().is_some());
    assert!(app.store.find_session(&session).unwrap().is_some());
    assert!(app.store.get_job("queued-by-hand").unwrap().is_some());
    assert_eq!(app.store.schedule_next(PRUNE_IDEMPOTENCY).unwrap(), None);
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, &[], None)
        .await;
    assert!(!metrics.text.contains("humanhours_job_runs_total{"));
    assert!(metrics.text.contains("humanhours_jobs{state=\"queued\"} 1"));
    for task in ["reload-prices", "prune-rate-limiter"] {
        let line = format!("humanhours_task_runs_total{{task=\"{task}\",result=\"ok\"}}");
        assert!(metrics.text.contains(&line), "{line} in:\n{}", metrics.text);
    }
}

#[actix_web::test]
async fn serve_jobs_only_runs_jobs_without_http_and_stops_on_sigterm() {
    // The test's own server runs no jobs, so only the jobs-only process can prune.
    let app = TestApp::spawn_with(config(JobsMode::Off, Duration::from_secs(600))).await;
    let (org, _) = old_records(&app).await;
    let bind = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = bind.local_addr().unwrap().to_string();
    drop(bind);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_humanhours"))
        .env("HUMANHOURS_PRICES_SYNC_URL", "off")
        .env("HUMANHOURS_FX_SYNC_URL", "off")
        .args([
            "serve",
            "--jobs",
            "only",
            "--job-poll-ms",
            "50",
            "--bind",
            &addr,
        ])
        .env("HUMANHOURS_DATABASE_URL", &app.db_url)
        .env("HUMANHOURS_PEPPER", PEPPER)
        .env("HUMANHOURS_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    until("the jobs-only process has made its schedules", || {
        app.store
            .schedule_next(PRUNE_IDEMPOTENCY)
            .unwrap()
            .is_some()
    })
    .await;
    // The next scheduled slot is minutes away: queue one run of the job by hand.
    let now = clock::unix_ms(clock::now());
    app.store
        .enqueue_job(&NewJob {
            id: format!("by-hand-{now}"),
            kind: PRUNE_IDEMPOTENCY.into(),
            payload: "{}".into(),
            run_at: now,
            max_attempts: 3,
            created_at: now,
        })
        .unwrap();
    until("the jobs-only process pruned the record", || {
        app.store.find_idempotency(&org, "k1").unwrap().is_none()
    })
    .await;
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "a jobs-only process serves no HTTP"
    );
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}:\n{log}", out.status);
    assert!(log.contains("humanhours running jobs"), "{log}");
    assert!(log.contains("\"only\""), "{log}");
    assert!(log.contains("stopping"), "{log}");
    assert!(!log.contains("listening"), "{log}");
}
