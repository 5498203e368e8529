#!/usr/bin/env bash
# Read-side latency over seeded SQLite databases (`just bench`; see README).
# For each size: a fresh database, `humanhours dev seed` over 90 days, the release server on a
# free port of 127.0.0.1, then ROUNDS timed requests per route (after a warm-up) and their
# p50/p95 as curl measures them (connect to last byte). Everything is removed afterwards.
set -euo pipefail

sizes=${*:-1000000 10000000}
rounds=${BENCH_ROUNDS:-40}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -p humanhours
bin=$target/release/humanhours
dir=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

routes=(
    "summary|/api/v1/summary"
    "time-saved group_by=agent|/api/v1/reports/time-saved?group_by=agent"
    "time-saved group_by=day|/api/v1/reports/time-saved?group_by=day"
    "leaderboard|/api/v1/reports/leaderboard"
    "usage|/api/v1/reports/usage"
)

for n in $sizes; do
    export HUMANHOURS_DATABASE_URL="sqlite://$dir/bench-$n.db"
    export HUMANHOURS_PEPPER=bench-pepper-0123456789
    export HUMANHOURS_LOG=warn
    export HUMANHOURS_SQLITE_SYNCHRONOUS=normal
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
    size=$(du -sh "$dir" | cut -f1)
    echo
    echo "== $n events over 90 days on SQLite ($size on disk), period 30d, $rounds requests per route"
    printf '%-28s %10s %10s\n' route p50_ms p95_ms
    for entry in "${routes[@]}"; do
        name=${entry%%|*}
        path=${entry#*|}
        url="http://127.0.0.1:$port$path"
        for _ in 1 2 3; do
            curl -sf -o /dev/null -H "Authorization: Bearer $key" "$url"
        done
        for _ in $(seq "$rounds"); do
            curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $key" "$url"
        done | sort -n | awk -v name="$name" '
            { t[NR] = $1 * 1000 }
            END {
                p50 = t[int((NR + 1) * 0.50)]; p95 = t[int((NR + 1) * 0.95)]
                printf "%-28s %10.1f %10.1f\n", name, p50, p95
            }'
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    rm -f "$dir"/bench-"$n".db*
done
