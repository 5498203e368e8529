//! The runner over real databases, on the backend of the pass like the HTTP suite: a fresh
//! SQLite file, or with `HUMANHOURS_TEST_BACKEND=postgres` a fresh PostgreSQL database
//! (created on `HUMANHOURS_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`, and dropped afterwards). `just test` runs
//! them in both passes.
//!
//! Time is a shared fake clock the tests move; the runner's sleeps are real but short.

#![expect(clippy::unwrap_used, reason = "tests: a failure should fail loudly")]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs::{blocking, Backoff, JobError, Outcome, Registry, Runner, RunnerConfig};
use store::{DbConfig, NewJob, SqliteSync, Store};

/// A multiple of the schedules' periods below.
const T0: i64 = 1_764_547_200_000;

enum Db {
    Sqlite(
        #[expect(dead_code, reason = "kept for its Drop")] tempfile::TempDir,
        String,
    ),
    Pg {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl Db {
    fn url(&self) -> &str {
        match self {
            Db::Sqlite(_, url) | Db::Pg { url, .. } => url,
        }
    }

    fn open(&self) -> Arc<Store> {
        let mut c = DbConfig::new(self.url());
        c.sqlite_sync = SqliteSync::Normal;
        c.pool_size = 4;
        Arc::new(Store::open(&c).unwrap())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Pg {
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

#[expect(
    clippy::disallowed_methods,
    reason = "the tests read their own settings"
)]
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A fresh database of this pass's backend (like the HTTP suite: SQLite, or PostgreSQL with
/// `HUMANHOURS_TEST_BACKEND=postgres`; one that cannot be reached fails the test).
fn databases() -> Vec<Db> {
    use diesel::connection::SimpleConnection as _;
    use diesel::Connection as _;
    static N: AtomicU32 = AtomicU32::new(0);
    if env("HUMANHOURS_TEST_BACKEND").as_deref() != Some("postgres") {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        return vec![Db::Sqlite(dir, url)];
    }
    let admin_url = env("HUMANHOURS_TEST_POSTGRES_URL")
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    store::init_tls();
    let mut admin = diesel::PgConnection::establish(&admin_url)
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
    let name = format!(
        "hh_jobs_runner_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    vec![Db::Pg {
        admin_url,
        name,
        url,
    }]
}

/// A clock the test moves.
#[derive(Clone)]
struct FakeClock(Arc<AtomicI64>);

impl FakeClock {
    fn at(t: i64) -> Self {
        Self(Arc::new(AtomicI64::new(t)))
    }
    fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }
    fn clock(&self) -> impl Fn() -> i64 + Send + Sync + 'static {
        let t = self.0.clone();
        move || t.load(Ordering::SeqCst)
    }
}

fn config(name: &str) -> RunnerConfig {
    RunnerConfig {
        poll_interval: Duration::from_millis(50),
        job_timeout: Duration::from_secs(5),
        lease: Duration::from_secs(30),
        backoff: Backoff::new(Duration::from_millis(1000), Duration::from_millis(1000)),
        stop_grace: Duration::from_secs(5),
        ..RunnerConfig::new(name)
    }
}

fn job(id: &str, kind: &str, run_at: i64, max_attempts: i64) -> NewJob {
    NewJob {
        id: id.to_owned(),
        kind: kind.to_owned(),
        payload: format!("{{\"id\":\"{id}\"}}"),
        run_at,
        max_attempts,
        created_at: run_at,
    }
}

/// Waits (up to 10 s) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn a_queued_job_runs_exactly_once() {
    for db in databases() {
        let store = db.open();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut registry = Registry::new();
        let s = seen.clone();
        registry.job("record", 3, move |job: jobs::JobRun| {
            let s = s.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                s.lock().unwrap().push(job.id);
                Ok::<(), JobError>(())
            }
        });
        let clock = FakeClock::at(T0);
        let runner = Runner::new(store.clone(), registry, config("a"), clock.clock(), || 7);
        let stats = runner.stats();
        let running = runner.start();
        for i in 0..25 {
            store
                .enqueue_job(&job(&format!("j{i}"), "record", T0, 3))
                .unwrap();
        }
        // A job of a kind this runner does not know stays queued for one that does.
        store
            .enqueue_job(&job("other", "unknown-kind", T0, 3))
            .unwrap();
        running.waker().wake();
        until("25 jobs ran", || seen.lock().unwrap().len() >= 25).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        running.stop().await;
        let seen = seen.lock().unwrap().clone();
        let distinct: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            (seen.len(), distinct.len()),
            (25, 25),
            "each job once: {seen:?}"
        );
        assert_eq!(stats.job_count("record", Outcome::Ok), 25);
        let counts = store.job_counts(T0).unwrap();
        assert_eq!((counts.queued, counts.running, counts.dead), (1, 0, 0));
        assert!(store.get_job("other").unwrap().is_some());
    }
}

#[tokio::test]
async fn a_failing_job_backs_off_then_dies() {
    for db in databases() {
        let store = db.open();
        let attempts = Arc::new(Mutex::new(Vec::<u32>::new()));
        let mut registry = Registry::new();
        let a = attempts.clone();
        registry.job(
            "flaky",
            3,
            blocking(move |job| {
                a.lock().unwrap().push(job.attempt);
                Err(JobError::retry(format!(
                    "endpoint down (attempt {})",
                    job.attempt
                )))
            }),
        );
        registry.job(
            "broken",
            3,
            blocking(|_| Err(JobError::permanent("payload unreadable"))),
        );
        let clock = FakeClock::at(T0);
        // Random input 0: the backoff waits exactly half its bound (here 500 ms).
        let runner = Runner::new(store.clone(), registry, config("a"), clock.clock(), || 0);
        let stats = runner.stats();
        let running = runner.start();
        store.enqueue_job(&job("f", "flaky", T0, 3)).unwrap();
        store.enqueue_job(&job("b", "broken", T0, 3)).unwrap();
        running.waker().wake();

        until("the first failure is recorded", || {
            store.get_job("f").unwrap().unwrap().run_at == T0 + 500
        })
        .await;
        let f = store.get_job("f").unwrap().unwrap();
        assert_eq!(f.attempts, 1);
        assert_eq!(f.last_error.as_deref(), Some("endpoint down (attempt 1)"));
        assert_eq!((f.locked_by, f.dead_at), (None, None));
        // Not due before its backoff has passed.
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(attempts.lock().unwrap().clone(), [1]);

        clock.set(T0 + 500);
        running.waker().wake();
        until("the second failure is recorded", || {
            store.get_job("f").unwrap().unwrap().run_at == T0 + 1000
        })
        .await;
        clock.set(T0 + 1000);
        running.waker().wake();
        until("the job is dead", || {
            store.get_job("f").unwrap().unwrap().dead_at.is_some()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        running.stop().await;

        assert_eq!(attempts.lock().unwrap().clone(), [1, 2, 3]);
        let f = store.get_job("f").unwrap().unwrap();
        assert_eq!((f.attempts, f.dead_at), (3, Some(T0 + 1000)));
        assert_eq!(f.last_error.as_deref(), Some("endpoint down (attempt 3)"));
        // A permanent failure dies at its first attempt.
        let b = store.get_job("b").unwrap().unwrap();
        assert_eq!((b.attempts, b.dead_at), (1, Some(T0)));
        assert_eq!(stats.job_count("flaky", Outcome::Retry), 2);
        assert_eq!(stats.job_count("flaky", Outcome::Dead), 1);
        assert_eq!(stats.job_count("broken", Outcome::Dead), 1);
        assert_eq!(store.job_counts(T0 + 1000).unwrap().dead, 2);
    }
}

#[tokio::test]
async fn a_schedule_slot_runs_once_across_two_runners() {
    const PERIOD: i64 = 60_000;
    for db in databases() {
        let slots = Arc::new(Mutex::new(Vec::<String>::new()));
        let clock = FakeClock::at(T0 - 1);
        let mut runs = Vec::new();
        for name in ["a", "b"] {
            // Each runner has its own store: two instances on one database.
            let store = db.open();
            let mut registry = Registry::new();
            let s = slots.clone();
            registry
                .job(
                    "tick",
                    3,
                    blocking(move |job| {
                        s.lock().unwrap().push(job.payload.clone());
                        Ok(())
                    }),
                )
                .schedule("tick", Duration::from_millis(PERIOD as u64));
            let runner = Runner::new(store, registry, config(name), clock.clock(), || 0);
            runs.push((runner.stats(), runner.start()));
        }
        let store = db.open();
        until("the schedule exists", || {
            store.schedule_next("tick").unwrap() == Some(T0)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(slots.lock().unwrap().is_empty(), "nothing before the slot");

        clock.set(T0 + 1);
        until("the first slot ran", || !slots.lock().unwrap().is_empty()).await;
        clock.set(T0 + PERIOD + 5);
        until("the second slot ran", || slots.lock().unwrap().len() >= 2).await;
        // Both runners look at the queue and the schedule several times more.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut ok = 0;
        for (stats, running) in runs {
            running.stop().await;
            ok += stats.job_count("tick", Outcome::Ok);
        }
        assert_eq!(
            slots.lock().unwrap().clone(),
            [
                format!("{{\"slot\":{T0}}}"),
                format!("{{\"slot\":{}}}", T0 + PERIOD)
            ],
            "each slot once, in order"
        );
        assert_eq!(ok, 2);
        assert_eq!(store.schedule_next("tick").unwrap(), Some(T0 + 2 * PERIOD));
        assert_eq!(store.job_counts(T0 + PERIOD + 5).unwrap().queued, 0);
    }
}

#[tokio::test]
async fn periodic_tasks_run_on_their_own_and_cluster_jobs_can_be_off() {
    for db in databases() {
        let store = db.open();
        let ticks = Arc::new(AtomicU32::new(0));
        let ran = Arc::new(AtomicU32::new(0));
        let mut registry = Registry::new();
        let t = ticks.clone();
        let r = ran.clone();
        registry
            .every_blocking("reload", Duration::from_millis(20), move || {
                t.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .job(
                "work",
                3,
                blocking(move |_| {
                    r.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }),
            )
            .schedule("work", Duration::from_millis(1000));
        let clock = FakeClock::at(T0);
        let off = RunnerConfig {
            cluster_jobs: false,
            ..config("http-only")
        };
        let runner = Runner::new(store.clone(), registry, off, clock.clock(), || 0);
        let stats = runner.stats();
        let running = runner.start();
        store.enqueue_job(&job("w", "work", T0, 3)).unwrap();
        running.waker().wake();
        until("the task ran 3 times", || ticks.load(Ordering::SeqCst) >= 3).await;
        clock.set(T0 + 5000);
        tokio::time::sleep(Duration::from_millis(200)).await;
        running.stop().await;
        let after_stop = ticks.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), after_stop, "stopped");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "no queued job runs with cluster jobs off"
        );
        assert!(store.get_job("w").unwrap().is_some());
        assert_eq!(
            store.schedule_next("work").unwrap(),
            None,
            "no schedule touched"
        );
        assert!(stats
            .task_runs()
            .iter()
            .any(|(name, ok, n)| name == "reload" && *ok && *n >= 3));
    }
}

#[tokio::test]
async fn stop_lets_a_running_job_finish() {
    for db in databases() {
        let store = db.open();
        let mut registry = Registry::new();
        registry.job("slow", 3, |_job: jobs::JobRun| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<(), JobError>(())
        });
        let clock = FakeClock::at(T0);
        let runner = Runner::new(store.clone(), registry, config("a"), clock.clock(), || 0);
        let running = runner.start();
        store.enqueue_job(&job("s", "slow", T0, 3)).unwrap();
        running.waker().wake();
        until("the job is claimed", || {
            store.get_job("s").unwrap().unwrap().locked_by.is_some()
        })
        .await;
        running.stop().await;
        assert_eq!(store.get_job("s").unwrap(), None, "finished and deleted");
    }
}
