#!/usr/bin/env bash
# MCP benchmark (`just bench-mcp`): the get_summary tool over POST /mcp against GET
# /api/v1/summary, same range, same data, on the server as `just run` ships it (SQLite FULL,
# defaults) with one worker pinned to core 0 and wrk on core 1. 8 orgs (16 keys each, so no
# per-key limit caps the figure) of BENCH_EVENTS events each; 16 connections, two per org, so
# each org's read slot (API.md §14) is busy without refusals. BENCH_RUNS interleaved rounds of
# BENCH_SECONDS; medians. Prints every round, then the ratio; any refused or failed answer is
# counted and printed.
set -euo pipefail

secs=${BENCH_SECONDS:-10}
runs=${BENCH_RUNS:-3}
events=${BENCH_EVENTS:-5000}
. "$(dirname "$0")/lib.sh"

bench_db mcp
bench_orgs bench
bench_serve HUMANHOURS_PRICES_SYNC_URL=off HUMANHOURS_FX_SYNC_URL=off

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
