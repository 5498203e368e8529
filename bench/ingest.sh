#!/usr/bin/env bash
# Ingest benchmark (`just bench-ingest`): the release server pinned to core 0, wrk pinned to
# core 1 with 64 connections, each figure the median of BENCH_RUNS runs of BENCH_SECONDS.
#
# Prints, for SQLite (synchronous FULL and NORMAL) and PostgreSQL (when reachable):
# POST /track req/s, p50, p99, server RSS and server CPU per request; the same for POST
# /track/validate, a route of the same app that authenticates, parses and validates the same
# body but stores nothing (the ceiling); the ratio track / ceiling; /track/batch events per
# second, for new events and for batches whose events are all replays; then batch once more with
# the server on both cores (2 workers; wrk still on core 1, sharing it), to show what a second
# core buys. For SQLite it also runs the group-commit writer alone, without HTTP, on core 0
# (`bin/humanhours/examples/writer_floor.rs`): the same rows as a batch, 1,000 a commit, so the
# batch figure can be read against the part of it that is SQLite's and the writer's.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# BENCH_BIN measures another build of the server (say, main's before a change, to compare in
# one sitting); the writer-alone lines then come from this tree's example, BENCH_FLOOR=0 skips them.
bin=${BENCH_BIN:-"$root/target/release/humanhours"}
floor=${BENCH_FLOOR:-1}
# BENCH_BACKEND=sqlite or postgres measures that backend only (default: both).
only=${BENCH_BACKEND:-all}
secs=${BENCH_SECONDS:-10}
runs=${BENCH_RUNS:-3}
conns=${BENCH_CONNECTIONS:-64}
nkeys=${BENCH_KEYS:-128}
norgs=${BENCH_ORGS:-8}
pg_admin=${HUMANHOURS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pepper="bench-pepper-0123456789abcdef"

command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk); }
[ "$(nproc)" -ge 2 ] || { echo "bench: needs 2 cores (server on one, load on the other)" >&2; exit 1; }
[ -n "${BENCH_BIN:-}" ] && [ "$floor" = 0 ] || cargo build --release -q -p humanhours --bins --example writer_floor --manifest-path "$root/Cargo.toml"

work=$(mktemp -d)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    if [ -n "${pg_db:-}" ]; then psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Creates $norgs enterprise orgs with $nkeys keys between them on database $1 (an org has
# several keys, as a team's agents do); writes the keys to $2.
make_keys() {
    local url=$1 out=$2
    : > "$out"
    HUMANHOURS_DATABASE_URL=$url HUMANHOURS_LOG=error "$bin" migrate 2> /dev/null
    for i in $(seq 1 "$norgs"); do
        org=$(HUMANHOURS_DATABASE_URL=$url HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=error \
            "$bin" org create --name "bench-$i" --plan enterprise --currency USD)
        for _ in $(seq 1 $((nkeys / norgs))); do
            HUMANHOURS_DATABASE_URL=$url HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=error \
                "$bin" key create --org "$org" >> "$out"
        done
    done
}

# Starts the server on database $1 with SQLite sync $2, on cores $3 (default 0) with $4 workers
# (default 1); sets server_pid and port.
start_server() {
    local cpus=${3:-0} workers=${4:-1}
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    HUMANHOURS_DATABASE_URL=$1 HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=warn \
        HUMANHOURS_SQLITE_SYNCHRONOUS=$2 HUMANHOURS_WORKERS=$workers \
        taskset -c "$cpus" "$bin" serve --bind "127.0.0.1:$port" > "$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
        sleep 0.1
    done
    echo "bench: server did not start" >&2; cat "$work/server.log" >&2; exit 1
}

stop_server() {
    kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

to_ms() { # "1.23ms" | "850.00us" | "1.20s" → milliseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

median() { awk 'NF' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# User plus system CPU ticks (1/100 s) the server has used.
server_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }

# Runs wrk $runs times against path $1 (batch size $2, connections $3, mode $4: empty, or
# "replay" for batches whose events are all replays); prints "rps p50 p99 errors cpu", cpu being
# the server's CPU time per request in microseconds.
measure() {
    local path=$1 batch=$2 c=$3 mode=${4:-} rps="" p50="" p99="" cpu="" errs=0 t0
    taskset -c 1 wrk -t1 -c"$c" -d3s -s "$root/bench/track.lua" "http://127.0.0.1:$port" -- "$work/keys" "$path" "$batch" $mode > /dev/null
    for _ in $(seq 1 "$runs"); do
        t0=$(server_ticks)
        out=$(taskset -c 1 wrk -t1 -c"$c" -d"${secs}s" --latency -s "$root/bench/track.lua" "http://127.0.0.1:$port" -- "$work/keys" "$path" "$batch" $mode)
        rps+="$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")"$'\n'
        p50+="$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")"$'\n'
        p99+="$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"$'\n'
        cpu+="$(awk -v t="$(( $(server_ticks) - t0 ))" '/ requests in / { printf "%.2f", t * 10000 / $1 }' <<<"$out")"$'\n'
        e=$(awk '/Non-2xx/ { print $5 }' <<<"$out"); errs=$((errs + ${e:-0}))
        e=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' <<<"$out"); errs=$((errs + ${e:-0}))
    done
    echo "$(median <<<"$rps") $(median <<<"$p50") $(median <<<"$p99") $errs $(median <<<"$cpu")"
}

rss_mb() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$server_pid/status"; }

report() { # label path batch conns [mode]
    read -r rps p50 p99 errs cpu <<<"$(measure "$2" "$3" "$4" "${5:-}")"
    local unit="req/s" per="request"
    if [ "$3" -gt 0 ]; then
        rps=$(awk -v r="$rps" -v b="$3" 'BEGIN { printf "%.0f", r * b }'); unit="events/s"
        cpu=$(awk -v c="$cpu" -v b="$3" 'BEGIN { printf "%.2f", c / b }'); per="event"
    fi
    printf "%-50s %12s %-8s p50 %7s ms  p99 %7s ms  peak RSS %4s MB  errors %s  server CPU %s us per %s\n" "$1" "$rps" "$unit" "$p50" "$p99" "$(rss_mb)" "$errs" "$cpu" "$per"
    last_rps=$rps
}

bench_backend() { # name url sync
    local name=$1 url=$2 sync=$3
    start_server "$url" "$sync"
    report "$name /track/validate (ceiling)" /api/v1/track/validate 0 "$conns"; ceiling=$last_rps
    report "$name /track" /api/v1/track 0 "$conns"; track=$last_rps
    printf "%-50s %12s\n" "$name ratio track / ceiling" "$(awk -v t="$track" -v c="$ceiling" 'BEGIN { printf "%.2f", t / c }')"
    report "$name /track/batch (1000 per request)" /api/v1/track/batch 1000 4
    report "$name /track/batch, every event a replay" /api/v1/track/batch 1000 4 replay
    stop_server
    start_server "$url" "$sync" 0,1 2
    report "$name /track/batch, server on 2 cores" /api/v1/track/batch 1000 4
    stop_server
}

# The writer alone on core 0 with SQLite sync $2, $runs times on a new database each; prints the
# median events/s and CPU per event.
writer_floor() { # label sync
    [ "$floor" = 0 ] && return 0
    local rates="" cpus="" out
    for _ in $(seq 1 "$runs"); do
        rm -f "$work/floor.db" "$work/floor.db-wal" "$work/floor.db-shm"
        out=$(taskset -c 0 "$root/target/release/examples/writer_floor" "$work/floor.db" "$2")
        rates+="$(awk '{ print $1 }' <<<"$out")"$'\n'
        cpus+="$(awk '{ print $4 }' <<<"$out")"$'\n'
    done
    printf "%-50s %12s events/s  server CPU %s us per event\n" "$1" "$(median <<<"$rates")" "$(median <<<"$cpus")"
}

echo "ingest benchmark: server on core 0 (1 worker), wrk on core 1, $conns connections, $norgs orgs with $nkeys keys, median of $runs x ${secs}s"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"

if [ "$only" != postgres ]; then
make_keys "sqlite://$work/full.db" "$work/keys"
bench_backend "sqlite FULL" "sqlite://$work/full.db" full
writer_floor "sqlite FULL writer alone, no HTTP" full
cp "$work/full.db" "$work/normal.db"; cp "$work/full.db.pepper" "$work/normal.db.pepper" 2>/dev/null || true
bench_backend "sqlite NORMAL" "sqlite://$work/normal.db" normal
writer_floor "sqlite NORMAL writer alone, no HTTP" normal
fi

if [ "$only" = sqlite ]; then
    :
elif psql "$pg_admin" -Atc 'select 1' >/dev/null 2>&1; then
    pg_db="hh_bench_$$"
    psql "$pg_admin" -qc "CREATE DATABASE $pg_db" >/dev/null
    pg_url="${pg_admin%/*}/$pg_db"
    make_keys "$pg_url" "$work/keys"
    bench_backend "postgres" "$pg_url" full
else
    echo "postgres: SKIPPED (cannot connect to $pg_admin; set HUMANHOURS_TEST_POSTGRES_URL)"
fi
