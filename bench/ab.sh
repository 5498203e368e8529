#!/usr/bin/env bash
# A/B of two release binaries on one ingest line, interleaved run by run (A B A B …), so the
# machine's drift over minutes falls on both alike: `bench/ab.sh BIN_A BIN_B SPEC [ROUNDS]`.
# SPEC is sync:path:batch:conns:cpus, e.g. `full:/api/v1/track:0:64:0` (the /track line of
# `just bench-ingest`) or `full:/api/v1/track/batch:1000:4:0,1` (batch, server on 2 cores).
# Each run: a fresh server on its own SQLite database (keys made once per binary), a 3 s
# warm-up and BENCH_SECONDS (10) of wrk on core 1. Prints every run, the medians and B / A.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
a=$1 b=$2 spec=$3 rounds=${4:-5}
secs=${BENCH_SECONDS:-10}
IFS=: read -r sync path batch conns cpus <<<"$spec"
workers=$(awk -F, '{ print NF }' <<<"$cpus")
pepper="bench-pepper-0123456789abcdef"
work=$(mktemp -d)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

setup() { # bin name
    local url="sqlite://$work/$2.db"
    HUMANHOURS_DATABASE_URL=$url HUMANHOURS_LOG=error "$1" migrate 2> /dev/null
    for i in 1 2 3 4 5 6 7 8; do
        HUMANHOURS_DATABASE_URL=$url HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=error \
            "$1" org create --name "bench-$i" --plan enterprise --currency USD > /dev/null
        for _ in $(seq 1 16); do
            HUMANHOURS_DATABASE_URL=$url HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=error \
                "$1" key create --org "bench-$i" >> "$work/$2.keys"
        done
    done
}

run() { # bin name → req/s (or events/s)
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    HUMANHOURS_DATABASE_URL="sqlite://$work/$2.db" HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=warn \
        HUMANHOURS_SQLITE_SYNCHRONOUS=$sync HUMANHOURS_WORKERS=$workers \
        taskset -c "$cpus" "$1" serve --bind "127.0.0.1:$port" > "$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    taskset -c 1 wrk -t1 -c"$conns" -d3s -s "$root/bench/track.lua" "http://127.0.0.1:$port" -- "$work/$2.keys" "$path" "$batch" > /dev/null
    taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" -s "$root/bench/track.lua" "http://127.0.0.1:$port" -- "$work/$2.keys" "$path" "$batch" |
        awk -v b="$batch" '/^Requests\/sec/ { printf "%.0f\n", $2 * (b > 0 ? b : 1) }'
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

setup "$a" a
setup "$b" b
ra="" rb=""
echo "A/B $spec, $rounds rounds of ${secs} s, interleaved"
for i in $(seq 1 "$rounds"); do
    x=$(run "$a" a); y=$(run "$b" b)
    echo "  round $i: A $x  B $y"
    ra+="$x"$'\n'; rb+="$y"$'\n'
done
ma=$(printf '%s' "$ra" | median); mb=$(printf '%s' "$rb" | median)
echo "median A $ma  B $mb  B/A $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", b / a }')"
