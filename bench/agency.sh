#!/usr/bin/env bash
# Agency benchmark (`just bench-agency`): what the pooled quota costs /track. The same load
# (POST /api/v1/track, fresh events, track.lua) against 8 enterprise orgs and against 8 orgs of
# two agency trees (an anchor and 3 workspaces each, whose events also count, under a lock,
# against their tree's pool; the pools start 1,000 events short of 25,000, so most of the run
# is overage, counted on the pool row too). 16 keys per org so no per-key limit caps a figure.
# The server as `just run` ships it (SQLite FULL, defaults), one worker on core 0, wrk on
# core 1 with 64 connections; BENCH_RUNS interleaved rounds of BENCH_SECONDS; medians.
set -euo pipefail

secs=${BENCH_SECONDS:-10}
runs=${BENCH_RUNS:-3}
. "$(dirname "$0")/lib.sh"

bench_db agency
bench_orgs plain
mv "$work/keys" "$work/keys-enterprise"
: > "$work/keys-agency"
month=$(date -u +%Y-%m)
for t in 1 2; do
    anchor=$(hh org create --name "agency-$t" --plan agency --currency USD)
    for _ in $(seq 1 16); do hh key create --org "$anchor" >> "$work/keys-agency"; done
    for w in 1 2 3; do
        hh org create --name "client-$t-$w" --parent "$anchor" --currency USD > /dev/null
        for _ in $(seq 1 16); do hh key create --org "client-$t-$w" >> "$work/keys-agency"; done
    done
    python3 - "${db#sqlite://}" "$anchor" "$month" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO pool_usage (anchor_id, month, events, overage_events) VALUES (?, ?, 24000, 0)", sys.argv[2:4])
c.commit()
PY
done
bench_serve HUMANHOURS_PRICES_SYNC_URL=off HUMANHOURS_FX_SYNC_URL=off

# Every key verified once first (an argon2 run each, then cached): 256 fresh keys at once in
# the first round would otherwise wait for hashing slots and some be refused (429), a cost of
# the first minute of any new key, not of either plan.
cat "$work/keys-enterprise" "$work/keys-agency" | while read -r k; do
    curl -sf -o /dev/null -H "Authorization: Bearer $k" "http://127.0.0.1:$port/api/v1/reports/usage"
done

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

run() { # keys file → "req/s p50 p99 non2xx"
    taskset -c 1 wrk -t1 -c64 -d2s -s "$root/bench/track.lua" "http://127.0.0.1:$port" -- "$1" > /dev/null
    taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency -s "$root/bench/track.lua" "http://127.0.0.1:$port" -- "$1" |
        awk '/^Requests\/sec/ { r = $2 } /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } /Non-2xx/ { b = $NF }
             END { printf "%.0f %s %s %d\n", r, p50, p99, b }'
}

echo "== agency: /track for 8 orgs of two agency trees (pooled, mostly overage) against 8 enterprise orgs (SQLite FULL, 1 worker, 64 connections, $runs interleaved rounds of ${secs} s)"
ra="" rb="" bad=0
for i in $(seq 1 "$runs"); do
    read -r a ap50 ap99 abad <<< "$(run "$work/keys-enterprise")"
    read -r b bp50 bp99 bbad <<< "$(run "$work/keys-agency")"
    echo "  round $i: enterprise $a req/s (p50 $ap50, p99 $ap99, non-2xx $abad); agency $b req/s (p50 $bp50, p99 $bp99, non-2xx $bbad)"
    ra+="$a"$'\n'; rb+="$b"$'\n'; bad=$((bad + abad + bbad))
done
ma=$(printf '%s' "$ra" | median); mb=$(printf '%s' "$rb" | median)
pools=$(python3 - "${db#sqlite://}" "$month" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
pool = c.execute("SELECT SUM(events), SUM(overage_events) FROM pool_usage WHERE month = ?", (sys.argv[2],)).fetchone()
own = c.execute("SELECT SUM(u.events) FROM monthly_usage u JOIN orgs o ON o.id = u.org_id WHERE o.plan = 'agency' AND u.month = ?", (sys.argv[2],)).fetchone()
print(pool[0], pool[1], own[0])
PY
)
read -r pool_events pool_over own_events <<< "$pools"
awk -v a="$ma" -v b="$mb" -v bad="$bad" 'BEGIN { printf "agency: /track %d req/s pooled, %d req/s not, ratio %.2f [target >= 0.90]; non-2xx %d [target 0]\n", b, a, b / a, bad }'
echo "agency: pools hold $pool_events events ($pool_over overage) = 48000 seeded + $own_events tracked by the trees' orgs [target: equal]"
# What the non-2xx answers were, as the server logged them (warnings and errors, by message).
warns=$(grep -c -E ' (WARN|ERROR) ' "$work/server.log" || true)
echo "agency: server warnings and errors logged: $warns"
grep -E ' (WARN|ERROR) ' "$work/server.log" | sed -E 's/^[^ ]+ +//' | cut -c1-160 | sort | uniq -c | sort -rn | head -5 || true
