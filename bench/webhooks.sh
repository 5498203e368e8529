#!/usr/bin/env bash
# Webhook benchmark (`just bench-webhooks`), on SQLite with the defaults `just run` uses
# (synchronous FULL, 64 attempts in flight, 16 per endpoint), HUMANHOURS_WEBHOOK_ALLOW_NETS
# set to 127.0.0.1/32 so the local receivers can be reached. The server is pinned to core 0,
# wrk and the receivers to core 1.
#
# 1. POST /track req/s (wrk, 64 connections over 128 keys of 8 orgs, BENCH_SECONDS each) with
#    one event.created endpoint (in one of the 8 orgs: an eighth of the events are delivered),
#    and with one in every org (every event is delivered), each as a ratio of the same with no
#    endpoint; BENCH_RUNS interleaved rounds, medians. Deliveries go to a receiver on core 1.
# 2. Deliveries per second from a backlog, and commit-to-delivery latency p50/p99
#    (`bin/humanhours/examples/webhook_bench.rs`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/humanhours"
wb="$root/target/release/examples/webhook_bench"
secs=${BENCH_SECONDS:-10}
runs=${BENCH_RUNS:-3}
pepper="bench-pepper-0123456789abcdef"

command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk); }
[ "$(nproc)" -ge 2 ] || { echo "bench: needs 2 cores" >&2; exit 1; }
cargo build --release -q -p humanhours --bins --example webhook_bench --manifest-path "$root/Cargo.toml"

work=$(mktemp -d)
server_pid="" sink_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

make_keys() { # url keys-file
    HUMANHOURS_DATABASE_URL=$1 HUMANHOURS_LOG=error "$bin" migrate 2> /dev/null
    : > "$2"
    for i in 1 2 3 4 5 6 7 8; do
        HUMANHOURS_DATABASE_URL=$1 HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=error \
            "$bin" org create --name "bench-$i" --plan enterprise --currency USD > /dev/null
        for _ in $(seq 1 16); do
            HUMANHOURS_DATABASE_URL=$1 HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=error \
                "$bin" key create --org "bench-$i" >> "$2"
        done
    done
}

start_server() { # url
    port=$(free_port)
    HUMANHOURS_DATABASE_URL=$1 HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=warn HUMANHOURS_WORKERS=1 \
        HUMANHOURS_SQLITE_SYNCHRONOUS=${BENCH_SYNC:-full} \
        HUMANHOURS_WEBHOOK_ALLOW_NETS=127.0.0.1/32 \
        taskset -c 0 "$bin" serve --bind "127.0.0.1:$port" > "$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0; sleep 0.1; done
    echo "bench: server did not start" >&2; cat "$work/server.log" >&2; exit 1
}

stop_server() { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

sink_port=$(free_port)
taskset -c 1 "$wb" sink "$sink_port" &
sink_pid=$!

# Three databases alike: no endpoint, one (org 1), one in every org.
subscribe() { # name orgs
    start_server "sqlite://$work/$1.db"
    for i in $(seq 0 $(($2 - 1))); do
        key=$(sed -n "$((i * 16 + 1))p" "$work/$1.keys")
        curl -sf -X POST "http://127.0.0.1:$port/api/v1/webhooks" -H "Authorization: Bearer $key" \
            -H 'Content-Type: application/json' \
            -d "{\"url\":\"http://127.0.0.1:$sink_port/hook\",\"event_types\":[\"event.created\"]}" > /dev/null
    done
    stop_server
}
for name in none one every; do make_keys "sqlite://$work/$name.db" "$work/$name.keys"; done
subscribe one 1
subscribe every 8

run() { # name → req/s
    start_server "sqlite://$work/$1.db"
    taskset -c 1 wrk -t1 -c64 -d3s -s "$root/bench/track.lua" "http://127.0.0.1:$port" -- "$work/$1.keys" /api/v1/track 0 > /dev/null
    taskset -c 1 wrk -t1 -c64 -d"${secs}s" -s "$root/bench/track.lua" "http://127.0.0.1:$port" -- "$work/$1.keys" /api/v1/track 0 |
        awk '/^Requests\/sec/ { printf "%.0f\n", $2 }'
    stop_server
}

echo "== webhooks: /track with no endpoint, one endpoint, one in every org (SQLite ${BENCH_SYNC:-full}, 1 worker, $runs interleaved rounds of ${secs} s)"
ra="" rb="" rc=""
for i in $(seq 1 "$runs"); do
    x=$(run none); y=$(run one); z=$(run every)
    echo "  round $i: none $x req/s, one endpoint $y req/s, every org $z req/s"
    ra+="$x"$'\n'; rb+="$y"$'\n'; rc+="$z"$'\n'
done
ma=$(printf '%s' "$ra" | median); mb=$(printf '%s' "$rb" | median); mc=$(printf '%s' "$rc" | median)
awk -v a="$ma" -v b="$mb" 'BEGIN { printf "webhooks: /track req/s with one event.created endpoint %d, without %d, ratio %.2f [target >= 0.80]\n", b, a, b / a }'
awk -v a="$ma" -v c="$mc" 'BEGIN { printf "webhooks: /track req/s with every event delivered %d, without %d, ratio %.2f (no target: the server'"'"'s one core also sends every event)\n", c, a, c / a }'

echo "== webhooks: deliveries per second and commit-to-delivery latency"
make_keys "sqlite://$work/measure.db" "$work/measure.keys"
start_server "sqlite://$work/measure.db"
taskset -c 1 "$wb" measure "http://127.0.0.1:$port" "$(head -1 "$work/measure.keys")" "${BENCH_WEBHOOK_BACKLOG:-20000}"
stop_server
