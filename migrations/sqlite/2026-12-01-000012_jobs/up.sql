-- The job queue (crates/jobs): durable outbound and periodic work. A row is written in the
-- transaction of what caused it and deleted when its job succeeds; every job is idempotent, so
-- running one twice (a lease that expired under a slow job) does no harm.
--
-- id: chosen by whoever enqueues (a ULID, or a key that names the work, e.g. a schedule's slot
--   `prune-idempotency@1764547200000`), so enqueuing the same work twice while it waits is a
--   no-op (INSERT … ON CONFLICT DO NOTHING).
-- run_at: when it may run next (Unix ms); moved by the backoff after a failure. A dead job (out
--   of attempts, or failed permanently) keeps its row with dead_at set and run_at at the largest
--   BIGINT, so no claim's range reaches it; an operator can read last_error and requeue it.
-- attempts: claims so far (counted when claimed, so a job that crashes its process still runs
--   out of attempts).
-- locked_by / locked_until: the lease of the instance running it. A claim takes due rows whose
--   lease is absent or expired, so a crashed instance's jobs run again once the lease ends.
CREATE TABLE background_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    last_error TEXT,
    locked_by TEXT,
    locked_until BIGINT,
    dead_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX background_jobs_run_at ON background_jobs(run_at);

-- Cluster-wide schedules: the next slot of each. Every instance may try to advance a due slot
-- with a compare-and-set (UPDATE … WHERE name = ? AND next_run_at = <the slot it read>); only the
-- one whose update matched enqueues the slot's job, in the same transaction, so each slot runs
-- once however many instances there are.
CREATE TABLE job_schedules (
    name TEXT PRIMARY KEY NOT NULL,
    next_run_at BIGINT NOT NULL
);
