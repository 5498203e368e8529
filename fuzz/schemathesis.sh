#!/usr/bin/env bash
# Schema-driven hostile input (`just fuzz`): schemathesis generates requests from the server's
# own OpenAPI document (valid ones, and ones that break every rule the document states) and
# sends them to a real server on 127.0.0.1 over a fresh SQLite database, with a real key of a
# pro org. It fails on any 5xx, on any answer the document does not describe (an undocumented
# status, a body that is not the error envelope, a wrong content type), on a route that answers
# without a key, and if the server dies.
#
# Not checked: schemathesis' positive_data_acceptance and negative_data_rejection. The document
# cannot state every rule (the task-type catalogue, `period` xor `from`/`to`), an empty query
# parameter is deliberately the same as an absent one, and a batch judges its items one by one
# (200 with per-item errors), so those two checks would report designed behaviour.
#
# FUZZ_MAX_TIME (seconds, default 150) bounds the schemathesis run; FUZZ_SEED makes it
# repeatable.
set -euo pipefail
cd "$(dirname "$0")/.."

max_time="${FUZZ_MAX_TIME:-150}"
target="${CARGO_TARGET_DIR:-target}"

command -v st >/dev/null 2>&1 || python3 -m pip install --quiet 'schemathesis>=4.32,<5'

# The debug build the tests use already (argon2 is optimised in dev), not a release build.
cargo build --quiet -p humanhours
bin="$target/debug/humanhours"

work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" && wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export HUMANHOURS_DATABASE_URL="sqlite://$work/fuzz.db"
export HUMANHOURS_LOG=info NO_COLOR=1
# The fuzzer sends far more than 200 requests a second; the limiter has its own tests.
export HUMANHOURS_RATE_LIMIT_PRO=1000000
# Generated webhook URLs may name public addresses: this instance sends no deliveries (and runs
# no jobs), so nothing beyond this machine is ever contacted.
export HUMANHOURS_JOBS=off
"$bin" migrate 2>/dev/null
org=$("$bin" org create --name fuzz --plan pro 2>/dev/null)
key=$("$bin" key create --org "$org" 2>/dev/null)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$bin" serve --bind "127.0.0.1:$port" --workers 2 >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -sf "$base/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

seed_args=()
[ -n "${FUZZ_SEED:-}" ] && seed_args=(--seed "$FUZZ_SEED")
st_status=0
# From the scratch folder: schemathesis keeps a cache in the current directory.
(cd "$work" && st run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks all \
    --exclude-checks positive_data_acceptance,negative_data_rejection \
    --max-time "$max_time" \
    --request-timeout 30 \
    --no-color \
    --report json --report-dir "$work/report" \
    "${seed_args[@]}") || st_status=$?

alive=yes
kill -0 "$pid" 2>/dev/null || alive=no
cases=$(python3 -c 'import glob, json, sys; print(json.load(open(glob.glob(sys.argv[1] + "/*.json")[0]))["test_cases"]["generated"])' "$work/report" 2>/dev/null || echo "?")
served=$(grep -c ' request' "$work/server.log" || true)
errors=$(grep -cE 'status=5[0-9]{2}' "$work/server.log" || true)
echo "fuzz: $cases test cases generated, $served requests served, $errors answered 5xx, server alive: $alive"
if [ "$errors" != 0 ]; then
    echo "fuzz: the 5xx answers:" >&2
    grep -E 'status=5[0-9]{2}|ERROR' "$work/server.log" | head -20 >&2
fi
[ "$st_status" = 0 ] && [ "$errors" = 0 ] && [ "$alive" = yes ]
