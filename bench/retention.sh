#!/usr/bin/env bash
# Retention benchmark (`just bench-retention`, API.md §12): /track's p99 while the retention
# sweep deletes expired events, as a ratio of its p99 without the sweep (target <= 2), and the
# sweep's events deleted per second.
#
# The release server as `just run` ships it (SQLite FULL, defaults, but a sweep every two
# minutes instead of every ten, so the bench waits less; a run may take half of it, a minute) on core 0 with one worker; wrk on core 1
# posts /track for 8 enterprise orgs. Org `old` holds BENCH_EVENTS seeded events spread over
# 90 days; setting its retention to 30 days puts two thirds of them (a million) past it, and
# the server's own scheduled sweep deletes them (the job as shipped: chunks of 500, at least
# 10 ms and twice the chunk's time apart, at most a million events or half the period a run). Rounds of BENCH_SECONDS: five
# without, then rounds while the sweep runs (a round the sweep ends in is shown, not
# counted). Medians of the rounds' p99.
set -euo pipefail

secs=${BENCH_SECONDS:-2}
events=${BENCH_EVENTS:-1500000}
. "$(dirname "$0")/lib.sh"

bench_db retention
bench_orgs load
hh org create --name old --plan pro --currency USD > /dev/null
hh dev seed --org old --events "$events" --days 90 2>&1 | tail -1
bench_serve HUMANHOURS_LOG=warn,app::retention=info,app::background=info HUMANHOURS_RETENTION_SWEEP_SECS=120

to_ms() {
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
median() { awk 'NF' | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
load() { # one round: prints "req/s p99_ms"
    local out
    out=$(taskset -c 1 wrk -t1 -c32 -d"${secs}s" --latency -s "$root/bench/track.lua" "http://127.0.0.1:$port" -- "$work/keys" /api/v1/track 0)
    echo "$(awk '/^Requests\/sec/ { printf "%d", $2 }' <<<"$out") $(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
}
done_sweeping() { grep -q 'expired events deleted' "$work/server.log"; }

echo "== retention: /track p99 while the server's sweep deletes expired events, against without (SQLite FULL, 1 worker on core 0, wrk on core 1, 32 connections, rounds of ${secs} s)"
load > /dev/null; load > /dev/null  # warm-up
before=""
for r in 1 2 3 4 5; do
    read -r rps p99 < <(load)
    echo "  without the sweep, round $r: /track $rps req/s, p99 ${p99}ms"
    before+="$p99"$'\n'
done
hh org set old --retention-days 30 2> /dev/null
# The next slot of the two minutes starts it.
for _ in $(seq 1 2800); do grep -q 'retention: sweeping' "$work/server.log" && break; sleep 0.05; done
grep -q 'retention: sweeping' "$work/server.log" || { echo "retention: the sweep did not start"; cat "$work/server.log"; exit 1; }
during=""
r=0
while ! done_sweeping; do
    r=$((r + 1))
    read -r rps p99 < <(load)
    if done_sweeping; then
        echo "  during the sweep, round $r (the sweep ended within it; not counted): /track $rps req/s, p99 ${p99}ms"
    else
        echo "  during the sweep, round $r: /track $rps req/s, p99 ${p99}ms"
        during+="$p99"$'\n'
    fi
    [ "$r" -lt 200 ] || { echo "retention: the sweep did not end"; exit 1; }
done
[ -n "$during" ] || { echo "retention: the sweep ended within the first round; raise BENCH_EVENTS"; exit 1; }
deleted=0; ms=0
while read -r line; do
    e=$(sed -n 's/.*events=\([0-9]*\).*/\1/p' <<<"$line"); m=$(sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$line")
    deleted=$((deleted + e)); ms=$((ms + m))
    echo "  sweep run: $e events in $m ms"
done < <(grep 'expired events deleted' "$work/server.log")
p_before=$(median <<<"$before")
p_during=$(median <<<"$during")
ratio=$(awk -v a="$p_during" -v b="$p_before" 'BEGIN { printf "%.2f", a / b }')
rate=$(awk -v e="$deleted" -v m="$ms" 'BEGIN { printf "%d", e * 1000 / (m > 0 ? m : 1) }')
echo "retention: /track p99 ${p_during}ms during the sweep, ${p_before}ms without, ratio $ratio [target <= 2]; sweep deleted $deleted events at $rate events/s"
