#!/usr/bin/env bash
# Where POST /track spends its time (`just profile-track`): the release server on SQLite pinned
# to core 0 under wrk load from core 1, sampled by `perf record --call-graph dwarf` for a few
# seconds; prints the share of samples per thread and, for the group-commit writer thread, per
# part of the batch transaction. Needs perf (Debian's linux-perf) and a kernel that allows it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/humanhours"
sync=${HUMANHOURS_SQLITE_SYNCHRONOUS:-full}
pepper="bench-pepper-0123456789abcdef"
command -v perf >/dev/null || { echo "profile: needs perf (apt-get install linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
cargo build --release -q -p humanhours --manifest-path "$root/Cargo.toml"

work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
export HUMANHOURS_DATABASE_URL="sqlite://$work/p.db" HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=error
: > "$work/keys"
"$bin" migrate 2> /dev/null
for o in $(seq 1 8); do
    org=$("$bin" org create --name "p$o" --plan enterprise)
    for _ in $(seq 1 16); do "$bin" key create --org "$org" >> "$work/keys"; done
done
HUMANHOURS_SQLITE_SYNCHRONOUS=$sync HUMANHOURS_WORKERS=1 taskset -c 0 "$bin" serve --bind 127.0.0.1:18222 > "$work/server.log" 2>&1 &
server=$!
sleep 1.5
taskset -c 1 wrk -t1 -c64 -d12s -s "$root/bench/track.lua" http://127.0.0.1:18222 -- "$work/keys" /api/v1/track 0 > "$work/wrk.txt" &
load=$!
sleep 3
perf record -F 499 --call-graph dwarf,16384 -p "$server" -o "$work/perf.data" -- sleep 4 > /dev/null 2>&1 || true
wait "$load"
perf script -i "$work/perf.data" 2>/dev/null > "$work/stacks.txt"
grep Requests/sec "$work/wrk.txt"
python3 - "$work/stacks.txt" <<'PY'
import collections, re, sys
stacks = open(sys.argv[1]).read().split("\n\n")
threads, parts = collections.Counter(), collections.Counter()
for st in stacks:
    lines = st.strip().split("\n")
    if not lines or not lines[0]:
        continue
    comm = lines[0].split()[0]
    threads[comm] += 1
    if not comm.startswith("humanhours-wri"):
        continue
    frames = [re.sub(r"\+0x[0-9a-f]+.*", "", re.sub(r"^\s*[0-9a-f]+ ", "", l)).strip() for l in lines[1:]]
    part = "other (planning, channel, allocation)"
    for f in frames:
        m = re.search(r"Bulk>::(\w+)", f)
        if m:
            part = m.group(1)
            break
    if any("sqlite3_exec" in f for f in frames):
        part = "BEGIN/COMMIT (WAL frames, fsync under FULL, backstop checkpoint)"
    elif part.startswith("other") and any("record_batch" in f for f in frames) and any("sqlite3_step" in f for f in frames):
        part = "usage counter and stored-key reads"
    parts[part] += 1
total = sum(threads.values())
print("samples by thread:")
for t, n in threads.most_common():
    print(f"  {100 * n / total:5.1f}%  {t}")
w = sum(parts.values()) or 1
print("writer thread, by part of the batch transaction:")
for p, n in parts.most_common():
    print(f"  {100 * n / w:5.1f}%  {p}")
PY
