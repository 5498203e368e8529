#!/usr/bin/env bash
# MCP benchmark (`just bench-mcp`): the get_summary tool over POST /mcp against GET
# /api/v1/summary, same range, same data, on the server as `just run` ships it (SQLite FULL,
# defaults) with one worker pinned to core 0 and wrk on core 1. 8 orgs (16 keys each, so no
# per-key limit caps the figure) of BENCH_EVENTS events each; 16 connections, two per org, so
# each org's read slot (API.md §14) is busy without refusals. BENCH_RUNS interleaved rounds of
# BENCH_SECONDS; medians. Prints every round, then the ratio; any refused or failed answer is
# counted and printed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/humanhours"
secs=${BENCH_SECONDS:-10}
runs=${BENCH_RUNS:-3}
events=${BENCH_EVENTS:-5000}
pepper="bench-pepper-0123456789abcdef"

command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk); }
[ "$(nproc)" -ge 2 ] || { echo "bench: needs 2 cores" >&2; exit 1; }
cargo build --release -q -p humanhours --bins --manifest-path "$root/Cargo.toml"

work=$(mktemp -d)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
db="sqlite://$work/mcp.db"
hh() { HUMANHOURS_DATABASE_URL=$db HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=error "$bin" "$@"; }
hh migrate 2>/dev/null
: > "$work/keys"
for i in 1 2 3 4 5 6 7 8; do
    hh org create --name "bench-$i" --plan enterprise --currency USD > /dev/null
    for _ in $(seq 1 16); do hh key create --org "bench-$i" >> "$work/keys"; done
done

HUMANHOURS_DATABASE_URL=$db HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=warn HUMANHOURS_WORKERS=1 \
    HUMANHOURS_PRICES_SYNC_URL=off HUMANHOURS_FX_SYNC_URL=off \
    taskset -c 0 "$bin" serve --bind "127.0.0.1:$port" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

# Seed: BENCH_EVENTS events per org over the last 30 days, in batches of 1,000.
python3 - "$work/keys" "$port" "$events" <<'PY'
import json, sys, urllib.request, datetime
keys = [l.strip() for l in open(sys.argv[1]) if l.strip()]
port, n = sys.argv[2], int(sys.argv[3])
now = datetime.datetime.now(datetime.timezone.utc)
types = ["email_classification", "ticket_routing", "invoice_data_extraction", "lead_enrichment"]
for org in range(8):
    key = keys[org * 16]
    for start in range(0, n, 1000):
        items = []
        for i in range(start, min(n, start + 1000)):
            at = now - datetime.timedelta(minutes=(i * 37) % (29 * 24 * 60) + 1)
            items.append({"agent_id": f"agent-{i % 12}", "task_type": types[i % 4],
                          "outcome": "success" if i % 5 else "needs_review",
                          "agent_duration_seconds": i % 30, "model": "openai/gpt-4o-mini",
                          "tokens_in": 500 + i % 700, "tokens_out": 100 + i % 200,
                          "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"})
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/track/batch",
            data=json.dumps({"events": items}).encode(), method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        body = json.load(urllib.request.urlopen(req))
        assert body["created"] == len(items), body
PY

run() { # mode → "req/s p50 p99 bad"
    taskset -c 1 wrk -t1 -c16 -d2s -s "$root/bench/mcp.lua" "http://127.0.0.1:$port" -- "$work/keys" "$1" > /dev/null
    taskset -c 1 wrk -t1 -c16 -d"${secs}s" --latency -s "$root/bench/mcp.lua" "http://127.0.0.1:$port" -- "$work/keys" "$1" |
        awk '/^Requests\/sec/ { r = $2 } /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } /^bad answers/ { b = $3 }
             END { printf "%.0f %s %s %d\n", r, p50, p99, b }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== mcp: get_summary over POST /mcp against GET /api/v1/summary (period 30d, 8 orgs x $events events, SQLite FULL, 1 worker, 16 connections, $runs interleaved rounds of ${secs} s)"
ra="" rb="" bad=0
for i in $(seq 1 "$runs"); do
    read -r a ap50 ap99 abad <<< "$(run rest)"
    read -r b bp50 bp99 bbad <<< "$(run mcp)"
    echo "  round $i: GET /summary $a req/s (p50 $ap50, p99 $ap99, bad $abad); MCP get_summary $b calls/s (p50 $bp50, p99 $bp99, bad $bbad)"
    ra+="$a"$'\n'; rb+="$b"$'\n'; bad=$((bad + abad + bbad))
done
ma=$(printf '%s' "$ra" | median); mb=$(printf '%s' "$rb" | median)
awk -v a="$ma" -v b="$mb" -v bad="$bad" 'BEGIN { printf "mcp: get_summary %d calls/s over MCP, GET /summary %d req/s, ratio %.2f [target >= 0.80]; bad answers %d [target 0]\n", b, a, b / a, bad }'
