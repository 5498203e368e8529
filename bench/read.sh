#!/usr/bin/env bash
# Read-side latency over seeded databases (`just bench`; see README): SQLite, or with
# BENCH_BACKEND=postgres a database created (and dropped) on HUMANHOURS_TEST_POSTGRES_URL's
# server (`just bench-read-pg`).
# For each size: a fresh database, `humanhours dev seed` over 90 days, the release server on a
# free port of 127.0.0.1, then ROUNDS timed requests per route (after a warm-up) and their
# p50/p95 as curl measures them (connect to last byte). Everything is removed afterwards.
# The dashboard pages are timed too: /dashboard with a signed-in session cookie and a share
# link's page, both over period 30d. BENCH_ROUTES=dashboard times only those (`just
# bench-dashboard`), BENCH_ROUTES=api only the API.
set -euo pipefail

sizes=${*:-1000000 10000000}
rounds=${BENCH_ROUNDS:-40}
target=${CARGO_TARGET_DIR:-target}
# BENCH_BIN measures another build of the server (say, main's before a change).
if [ -n "${BENCH_BIN:-}" ]; then bin=$BENCH_BIN; else
    cargo build --release -p humanhours
    bin=$target/release/humanhours
fi
dir=$(mktemp -d)
pid=""
backend=${BENCH_BACKEND:-sqlite}
pg_admin=${HUMANHOURS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_db=""
drop_pg() {
    if [ -n "$pg_db" ]; then psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
    pg_db=""
}
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    drop_pg
    rm -rf "$dir"
}
trap cleanup EXIT

only=${BENCH_ROUTES:-all}
routes=(
    "summary|/api/v1/summary"
    "time-saved group_by=agent|/api/v1/reports/time-saved?group_by=agent"
    "time-saved group_by=day|/api/v1/reports/time-saved?group_by=day"
    "leaderboard|/api/v1/reports/leaderboard"
    "usage|/api/v1/reports/usage"
    # Not served by the rollups alone: a dimension filtered by another, and two dimensions.
    "task_type of one agent|/api/v1/reports/time-saved?group_by=task_type&agent_id=support-bot"
    "agent x task_type|/api/v1/reports/time-saved?group_by=agent,task_type"
)
# The shapes a person drills down with (issue 21), over 90 days, each with its target p50 at
# 1M and at 10M events (ms; "-": none set): crossed dimensions, a dimension filtered by
# another, buckets in a zone at +05:45, five dimensions by day, a metadata key.
drill=(
    "agent x task_type|50|200|/api/v1/reports/time-saved?group_by=agent,task_type&period=90d"
    "model x outcome, 1 task type|50|200|/api/v1/reports/time-saved?group_by=model,outcome&task_type=email_classification&period=90d"
    "week x agent, +05:45|50|200|/api/v1/reports/time-saved?group_by=week,agent&tz=Asia/Kathmandu&period=90d"
    "client of 1 agent|50|200|/api/v1/reports/time-saved?group_by=client&agent_id=support-bot&period=90d"
    "5 dims by day|500|-|/api/v1/reports/time-saved?group_by=agent,task_type,model,outcome,day&period=90d"
    "leaderboard|50|200|/api/v1/reports/leaderboard?period=90d"
    "metadata.team|-|-|/api/v1/reports/time-saved?group_by=metadata.team&period=90d"
)

for n in $sizes; do
    if [ "$backend" = postgres ]; then
        pg_db="hh_bench_read_$$_$n"
        psql "$pg_admin" -qc "CREATE DATABASE $pg_db" >/dev/null
        export HUMANHOURS_DATABASE_URL="${pg_admin%/*}/$pg_db"
        label=PostgreSQL
    else
        export HUMANHOURS_DATABASE_URL="sqlite://$dir/bench-$n.db"
        label=SQLite
    fi
    export HUMANHOURS_PEPPER=bench-pepper-0123456789
    export HUMANHOURS_LOG=warn
    export HUMANHOURS_SQLITE_SYNCHRONOUS=normal
    "$bin" migrate 2>/dev/null
    "$bin" org create --name bench --plan enterprise >/dev/null
    key=$("$bin" key create --org bench)
    "$bin" dev seed --org bench --events "$n" --days 90 2>&1 | tail -1
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$bin" serve --bind "127.0.0.1:$port" --workers 2 >"$dir/serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.1
    done
    if [ "$backend" = postgres ]; then
        size=$(psql "$pg_admin" -Atc "SELECT pg_size_pretty(pg_database_size('$pg_db'))")
    else
        size=$(du -sh "$dir" | cut -f1)
    fi
    echo
    echo "== $n events over 90 days on $label ($size on disk), period 30d, $rounds requests per route"
    printf '%-28s %10s %10s\n' route p50_ms p95_ms
    # time NAME URL HEADER [TARGET]: ROUNDS timed GETs after a warm-up; prints p50/p95 and,
    # given a target p50 in ms, whether it was met.
    time_route() {
        local name=$1 url=$2 header=$3 target=${4:--}
        for _ in 1 2 3; do
            curl -sf -o /dev/null -H "$header" "$url"
        done
        for _ in $(seq "$rounds"); do
            curl -sf -o /dev/null -w '%{time_total}\n' -H "$header" "$url"
        done | sort -n | awk -v name="$name" -v target="$target" -v n="$n" '
            { t[NR] = $1 * 1000 }
            END {
                p50 = t[int((NR + 1) * 0.50)]; p95 = t[int((NR + 1) * 0.95)]
                verdict = ""
                if (target != "-") verdict = sprintf("  [target p50 < %s ms at %s: %s]", target, n, (p50 < target) ? "ok" : "MISS")
                printf "%-28s %10.1f %10.1f%s\n", name, p50, p95, verdict
            }'
    }
    if [ "$only" != dashboard ]; then
        for entry in "${routes[@]}"; do
            time_route "${entry%%|*}" "http://127.0.0.1:$port${entry#*|}" "Authorization: Bearer $key"
        done
        echo "-- drill-down shapes over 90 days (issue 21)"
        for entry in "${drill[@]}"; do
            IFS='|' read -r name t1 t10 path <<<"$entry"
            case $n in
                1000000) target=$t1 ;;
                10000000) target=$t10 ;;
                *) target=- ;;
            esac
            time_route "$name" "http://127.0.0.1:$port$path" "Authorization: Bearer $key" "$target"
        done
    fi
    if [ "$only" != api ]; then
        # Sign in as a browser would: the form's CSRF cookie and field, then the key.
        base="http://127.0.0.1:$port"
        jar="$dir/cookies"
        csrf=$(curl -sf -c "$jar" "$base/dashboard/sign-in" | grep -o 'name="csrf" value="[^"]*"' | cut -d'"' -f4)
        curl -sf -o /dev/null -b "$jar" -c "$jar" --data-urlencode "csrf=$csrf" \
            --data-urlencode "api_key=$key" "$base/dashboard/sign-in"
        session=$(awk '$6 == "hh_session" { print $7 }' "$jar")
        share=$("$bin" share create --org bench --public-url "$base" 2>/dev/null)
        time_route "dashboard (session)" "$base/dashboard?period=30d" "Cookie: hh_session=$session"
        time_route "share link page" "$share?period=30d" "Accept: text/html"
        bytes=$(curl -sf -H "Cookie: hh_session=$session" "$base/dashboard?period=30d" | wc -c)
        echo "(the dashboard page is $bytes bytes of HTML)"
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    rm -f "$dir"/bench-"$n".db*
    drop_pg
done
