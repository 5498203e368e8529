# One entry point for every task. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# The crates that hold the rules and must never do I/O (ARCHITECTURE.md).
pure_crates := "roi-engine catalogue idempotency ratelimit webhooks digests"

default:
    @just --list

# Run the server on the embedded SQLite default (humanhours.db in this folder).
run *ARGS:
    cargo run --release -p humanhours -- serve {{ARGS}}

# Run any other humanhours command on the same build, e.g. `just hh org list` or `just hh --help`.
hh *ARGS:
    @cargo run --release -q -p humanhours -- {{ARGS}}

# Every test of the workspace, after the purity check; ends with one summary line.
test: check-pure sdk browser axe
    #!/usr/bin/env bash
    set -euo pipefail
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    cargo test --workspace --all-targets 2>&1 | tee "$log"
    cargo test --workspace --doc 2>&1 | tee -a "$log"
    if [ -n "${HUMANHOURS_TEST_POSTGRES_URL:-}" ]; then
        echo "== the HTTP suite again, on PostgreSQL (each test in its own database)"
        HUMANHOURS_TEST_BACKEND=postgres cargo test -p humanhours --tests 2>&1 | tee -a "$log"
        echo "== the store's job queue and migration tests, and the runner tests, again on PostgreSQL"
        HUMANHOURS_TEST_BACKEND=postgres cargo test -p store --test jobs --test migrations 2>&1 | tee -a "$log"
        HUMANHOURS_TEST_BACKEND=postgres cargo test -p jobs --test runner 2>&1 | tee -a "$log"
    else
        echo "== PostgreSQL suite SKIPPED: HUMANHOURS_TEST_POSTGRES_URL is not set."
        echo "   Set it to a server where tests may create databases, e.g."
        echo "   HUMANHOURS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres just test"
    fi
    awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"

# Formatting, clippy (warnings are errors) and the purity check.
lint: check-pure
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Fails if a pure crate depends, even indirectly, on a database, web, async or app-error crate.
check-pure:
    #!/usr/bin/env bash
    set -euo pipefail
    status=0
    for crate in {{pure_crates}}; do
        deps=$(cargo tree -p "$crate" -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
        bad=$(grep -xE 'diesel.*|actix.*|tokio.*|reqwest|r2d2|anyhow|libsqlite3-sys|pq-sys|hyper' <<<"$deps" || true)
        if [ -n "$bad" ]; then
            echo "check-pure: $crate depends on: $(tr '\n' ' ' <<<"$bad")" >&2
            status=1
        else
            echo "check-pure: $crate is free of I/O crates ($(wc -l <<<"$deps") crates in its tree)"
        fi
    done
    # The application layer may do I/O (database, blocking pool) but knows no web framework.
    deps=$(cargo tree -p app -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
    bad=$(grep -xE 'actix.*|hyper|awc|maud' <<<"$deps" || true)
    if [ -n "$bad" ]; then
        echo "check-pure: app depends on: $(tr '\n' ' ' <<<"$bad")" >&2
        status=1
    else
        echo "check-pure: app is free of web-framework crates"
    fi
    exit $status

# The real Python SDK that tests/sdk.rs drives, and the official MCP client (`mcp` 2.x, with
# httpx2) that tests/mcp.rs drives (installed from PyPI when missing).
sdk:
    @python3 -c 'import humanhours' 2>/dev/null || python3 -m pip install --quiet 'humanhours==0.0.1'
    @python3 -c 'import mcp.client.streamable_http, httpx2; from mcp import Client' 2>/dev/null || python3 -m pip install --quiet 'mcp>=2,<3' httpx2

# Debian's Chromium and chromedriver, which the browser test drives (installed with apt-get
# when missing and apt-get is usable; otherwise the test says what to install).
[doc("Install Debian's Chromium and chromedriver for the browser test, when missing.")]
browser:
    @[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || (command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium chromium-driver) || echo "just browser: install chromium and chromium-driver for the browser test" >&2

# axe-core from npm, which the browser test runs inside each dashboard page (pinned in
# bin/humanhours/tests/browser/package-lock.json; installed when missing).
[doc("Install axe-core (npm) for the browser test's accessibility check, when missing.")]
axe:
    @[ -f bin/humanhours/tests/browser/node_modules/axe-core/axe.min.js ] || npm ci --prefix bin/humanhours/tests/browser --no-audit --no-fund --loglevel=error

# Benchmarks (release build; several minutes; prints figures and ratios).
bench: bench-ingest bench-read bench-hostile bench-webhooks bench-mcp bench-retention bench-agency

# Ingest: /track req/s, p50/p99, RSS and CPU per request on SQLite and PostgreSQL, against the
# no-op ceiling; batch events/s on one core and on two; for SQLite the writer alone, without HTTP.
[doc("Ingest throughput, latency, RSS and CPU on SQLite and PostgreSQL against the no-op ceiling.")]
bench-ingest:
    bench/ingest.sh

# Hostile load (API.md §14; bench/hostile.sh): a wrong-secret flood, stalled bodies, random
# methods, one org's heavy reads and the default logging's cost, each against its target.
[doc("Hostile load (API.md §14): key floods, stalled bodies, method floods, heavy reads, logging cost.")]
bench-hostile:
    bench/hostile.sh

# Webhooks (bench/webhooks.sh): /track with an endpoint subscribed as a ratio of none,
# deliveries per second from a backlog, and commit-to-delivery latency.
[doc("Webhooks: /track with endpoints vs none, deliveries/s, commit-to-delivery latency.")]
bench-webhooks:
    bench/webhooks.sh

# MCP (bench/mcp.sh): the get_summary tool over /mcp, calls per second as a ratio of
# GET /api/v1/summary on the same data, with p50/p99 and any refused answers counted.
bench-mcp:
    bench/mcp.sh

# Retention (bench/retention.sh): /track p99 while the sweep deletes a million expired events,
# as a ratio of p99 without it, and the sweep's events deleted per second.
[doc("Retention: /track p99 during the sweep of 1M expired events vs without; events deleted/s.")]
bench-retention:
    bench/retention.sh

# Agency (bench/agency.sh): /track for orgs of agency trees (every event also counted against
# its tree's pool) as a ratio of enterprise orgs, and the pools checked against the orgs' counts.
bench-agency:
    bench/agency.sh

# Where /track spends its time: perf samples of the release server under load, by thread and by
# part of the writer's transaction.
[doc("Where /track spends its time: perf samples of the release server under load.")]
profile-track:
    bench/profile-track.sh

# Read-side latency (p50/p95) over seeded SQLite databases of each size; takes several
# minutes for 10M events. `just bench-read 100000` for a quick look.
[doc("Read-side latency (summary, reports, dashboard) over seeded databases of each size.")]
bench-read *SIZES="1000000 10000000":
    bench/read.sh {{SIZES}}

# The same over PostgreSQL (BENCH_BACKEND=postgres): a database created and dropped on
# HUMANHOURS_TEST_POSTGRES_URL's server (default postgres@127.0.0.1:5432).
[doc("Read-side latency over seeded PostgreSQL databases of each size.")]
bench-read-pg *SIZES="1000000":
    BENCH_BACKEND=postgres bench/read.sh {{SIZES}}

# Long-running tests: the fuzzer, then crash consistency (kill -9 of the release server under
# load). CI runs them after `just test`.
[doc("The long tests: the fuzzer and the kill -9 crash test (CI runs them after `just test`).")]
test-long: fuzz
    cargo test --release -p humanhours --test crash -- --ignored --nocapture

# Schema-driven hostile input: schemathesis (installed from PyPI if missing) against a real
# server built from this tree; fails on any 5xx or undocumented answer. About 3 minutes.
[doc("Schemathesis against the OpenAPI document of a real server: fails on any 5xx (about 3 minutes).")]
fuzz:
    fuzz/schemathesis.sh

# Dashboard page latency (p50/p95 of /dashboard with a session and of a share link's page)
# over a seeded SQLite database of each size; the target is under 100 ms at 1M events.
[doc("Dashboard and share-page latency over seeded databases (target: under 100 ms at 1M events).")]
bench-dashboard *SIZES="1000000":
    BENCH_ROUTES=dashboard bench/read.sh {{SIZES}}

# What CI runs.
ci: lint test test-long

# Apply migrations to the configured database and exit.
migrate:
    cargo run --release -p humanhours -- migrate
