//! The job queue and the schedules, on the backend of the pass like the HTTP suite: a fresh
//! SQLite file, or with `HUMANHOURS_TEST_BACKEND=postgres` a fresh PostgreSQL database
//! (created on `HUMANHOURS_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`, and dropped afterwards). `just test` runs
//! them in both passes; a PostgreSQL that cannot be reached fails the PostgreSQL pass.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use common::on_this_backend;
use store::{JobRetry, NewJob, Store, DEAD_RUN_AT};

const T0: i64 = 1_764_547_200_000;

fn job(id: &str, kind: &str, run_at: i64, max_attempts: i64) -> NewJob {
    NewJob {
        id: id.to_owned(),
        kind: kind.to_owned(),
        payload: "{}".to_owned(),
        run_at,
        max_attempts,
        created_at: T0,
    }
}

fn ids(rows: &[store::JobRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

#[test]
fn claim_complete_fail_backoff_dead() {
    on_this_backend(|db| {
        let s = db.open();
        assert!(s.enqueue_job(&job("b", "k", T0 + 1, 2)).unwrap());
        assert!(s.enqueue_job(&job("a", "k", T0, 2)).unwrap());
        assert!(s.enqueue_job(&job("later", "k", T0 + 60_000, 2)).unwrap());
        // The same id while it waits: nothing changes.
        assert!(!s.enqueue_job(&job("a", "k", T0 + 5, 9)).unwrap());

        let now = T0 + 10;
        let got = s.claim_jobs("w1", &["k"], 10, now, now + 1000).unwrap();
        assert_eq!(ids(&got), ["a", "b"], "due jobs, oldest run_at first");
        assert!(got.iter().all(|j| j.attempts == 1
            && j.locked_by.as_deref() == Some("w1")
            && j.locked_until == Some(now + 1000)));
        assert_eq!(got[0].max_attempts, 2);
        assert!(s
            .claim_jobs("w2", &["k"], 10, now, now + 1000)
            .unwrap()
            .is_empty());
        let c = s.job_counts(now).unwrap();
        assert_eq!((c.queued, c.running, c.dead), (1, 2, 0));

        // Success deletes the row.
        assert!(s.complete_job("a", "w1").unwrap());
        assert_eq!(s.get_job("a").unwrap(), None);

        // A failure releases the lease, keeps the error and moves run_at.
        assert!(s
            .fail_job("b", "w1", "boom", JobRetry::At(now + 500), now)
            .unwrap());
        let b = s.get_job("b").unwrap().unwrap();
        assert_eq!(b.run_at, now + 500);
        assert_eq!(b.last_error.as_deref(), Some("boom"));
        assert_eq!((b.locked_by, b.locked_until), (None, None));
        assert!(s
            .claim_jobs("w1", &["k"], 10, now + 499, now + 2000)
            .unwrap()
            .is_empty());
        let again = s
            .claim_jobs("w1", &["k"], 10, now + 500, now + 2000)
            .unwrap();
        assert_eq!(ids(&again), ["b"]);
        assert_eq!(again[0].attempts, 2);

        // Out of attempts: kept as dead, never claimed again, visible, requeueable.
        assert!(s
            .fail_job("b", "w1", "boom 2", JobRetry::Dead, now + 600)
            .unwrap());
        let dead = s.get_job("b").unwrap().unwrap();
        assert_eq!((dead.dead_at, dead.run_at), (Some(now + 600), DEAD_RUN_AT));
        assert_eq!(dead.last_error.as_deref(), Some("boom 2"));
        let c = s.job_counts(now + 700).unwrap();
        assert_eq!((c.queued, c.running, c.dead), (1, 0, 1));
        // Even at the end of time, only the live job is claimed.
        let far = s
            .claim_jobs("w1", &["k"], 10, DEAD_RUN_AT - 1, DEAD_RUN_AT)
            .unwrap();
        assert_eq!(ids(&far), ["later"]);
        assert!(s.complete_job("later", "w1").unwrap());
        assert_eq!(ids(&s.dead_jobs(10).unwrap()), ["b"]);
        assert!(s.requeue_dead_job("b", now + 800).unwrap());
        assert!(!s.requeue_dead_job("b", now + 800).unwrap());
        let back = s
            .claim_jobs("w1", &["k"], 10, now + 800, now + 900)
            .unwrap();
        assert_eq!(ids(&back), ["b"]);
        assert_eq!(back[0].attempts, 1);
    });
}

#[test]
fn claims_respect_limit_and_kinds() {
    on_this_backend(|db| {
        let s = db.open();
        for i in 0..5 {
            s.enqueue_job(&job(&format!("x{i}"), "x", T0 + i, 3))
                .unwrap();
        }
        s.enqueue_job(&job("y0", "y", T0, 3)).unwrap();
        let got = s.claim_jobs("w", &["x"], 2, T0 + 10, T0 + 100).unwrap();
        assert_eq!(ids(&got), ["x0", "x1"]);
        assert!(s
            .claim_jobs("w", &[], 10, T0 + 10, T0 + 100)
            .unwrap()
            .is_empty());
        assert!(s
            .claim_jobs("w", &["x"], 0, T0 + 10, T0 + 100)
            .unwrap()
            .is_empty());
        let rest = s
            .claim_jobs("w", &["x", "y"], 10, T0 + 10, T0 + 100)
            .unwrap();
        assert_eq!(ids(&rest), ["y0", "x2", "x3", "x4"]);
    });
}

#[test]
fn an_expired_lease_is_claimed_again() {
    on_this_backend(|db| {
        let s = db.open();
        s.enqueue_job(&job("j", "k", T0, 5)).unwrap();
        let first = s.claim_jobs("crashed", &["k"], 1, T0, T0 + 100).unwrap();
        assert_eq!(ids(&first), ["j"]);
        // Still leased at the lease's end; free just after.
        assert!(s
            .claim_jobs("w2", &["k"], 1, T0 + 100, T0 + 200)
            .unwrap()
            .is_empty());
        let second = s.claim_jobs("w2", &["k"], 1, T0 + 101, T0 + 300).unwrap();
        assert_eq!(ids(&second), ["j"]);
        assert_eq!(second[0].attempts, 2);
        // The first holder's late answer does not touch the new lease.
        assert!(!s.complete_job("j", "crashed").unwrap());
        assert!(!s
            .fail_job("j", "crashed", "late", JobRetry::Dead, T0 + 102)
            .unwrap());
        assert!(s.complete_job("j", "w2").unwrap());
        assert_eq!(s.get_job("j").unwrap(), None);
    });
}

#[test]
fn parallel_claimers_never_share_a_job() {
    on_this_backend(|db| {
        const JOBS: usize = 120;
        const CLAIMERS: usize = 4;
        let setup = db.open();
        for i in 0..JOBS {
            setup
                .enqueue_job(&job(&format!("j{i:04}"), "k", T0 + i as i64 % 7, 3))
                .unwrap();
        }
        drop(setup);
        // One store per claimer: separate instances on one database.
        let stores: Vec<Store> = (0..CLAIMERS).map(|_| db.open()).collect();
        let barrier = Arc::new(Barrier::new(CLAIMERS));
        let claimed: Vec<Vec<String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(n, s)| {
                    let barrier = barrier.clone();
                    scope.spawn(move || {
                        barrier.wait();
                        let mut mine = Vec::new();
                        loop {
                            let got = s
                                .claim_jobs(&format!("w{n}"), &["k"], 3, T0 + 10, T0 + 60_000)
                                .unwrap();
                            if got.is_empty() {
                                break;
                            }
                            mine.extend(got.into_iter().map(|j| j.id));
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let all: Vec<&String> = claimed.iter().flatten().collect();
        let distinct: BTreeSet<&String> = all.iter().copied().collect();
        assert_eq!(
            all.len(),
            JOBS,
            "every job claimed once: {:?}",
            claimed.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert_eq!(distinct.len(), JOBS, "no job claimed twice");
    });
}

#[test]
fn a_schedule_slot_is_won_by_exactly_one_instance() {
    on_this_backend(|db| {
        const INSTANCES: usize = 6;
        let period = 60_000;
        let stores: Vec<Store> = (0..INSTANCES).map(|_| db.open()).collect();
        let first = stores[0].ensure_schedule("prune", T0, T0 + period).unwrap();
        assert_eq!(first, T0);
        // Created once: a second instance's ensure keeps the stored slot.
        assert_eq!(
            stores[1]
                .ensure_schedule("prune", T0 + 5, T0 + period)
                .unwrap(),
            T0
        );
        for round in 0..3_i64 {
            let slot = T0 + round * period;
            let barrier = Arc::new(Barrier::new(INSTANCES));
            let wins: usize = std::thread::scope(|scope| {
                let handles: Vec<_> = stores
                    .iter()
                    .map(|s| {
                        let barrier = barrier.clone();
                        scope.spawn(move || {
                            let seen = s.schedule_next("prune").unwrap().unwrap();
                            assert_eq!(seen, slot);
                            barrier.wait();
                            let j = job(&format!("prune@{slot}"), "prune", slot, 3);
                            usize::from(
                                s.advance_schedule("prune", seen, slot + period, &j)
                                    .unwrap(),
                            )
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(wins, 1, "round {round}: exactly one winner");
            assert_eq!(
                stores[0].schedule_next("prune").unwrap(),
                Some(slot + period)
            );
            // The winner's job was enqueued with the move, once.
            let got = stores[0]
                .claim_jobs("w", &["prune"], 10, slot, slot + 1)
                .unwrap();
            assert_eq!(ids(&got), [format!("prune@{slot}").as_str()]);
            stores[0].complete_job(&got[0].id, "w").unwrap();
        }
        // A schedule whose stored slot lies beyond a shortened period is pulled in.
        let far = stores[0]
            .ensure_schedule("long", T0 + 10 * period, T0 + 10 * period)
            .unwrap();
        assert_eq!(far, T0 + 10 * period);
        assert_eq!(
            stores[0]
                .ensure_schedule("long", T0 + period, T0 + period)
                .unwrap(),
            T0 + period
        );
        assert_eq!(stores[0].schedule_next("missing").unwrap(), None);
    });
}
