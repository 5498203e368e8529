# Shared by bench/mcp.sh and bench/retention.sh (sourced, not run): the release build, a work
# folder removed on exit with the server in it, and a SQLite database of 8 enterprise orgs with
# 16 keys each in $work/keys (so no per-key limit caps a figure) served on core 0.

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/humanhours"
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

# bench_db NAME: $db, a migrated SQLite database in the work folder.
bench_db() {
    db="sqlite://$work/$1.db"
    hh migrate 2>/dev/null
}

# Any humanhours command on $db.
hh() { HUMANHOURS_DATABASE_URL=$db HUMANHOURS_PEPPER=$pepper HUMANHOURS_LOG=error "$bin" "$@"; }

# bench_orgs PREFIX: orgs PREFIX-1 … PREFIX-8 (enterprise), 16 keys each, into $work/keys.
bench_orgs() {
    : > "$work/keys"
    for i in 1 2 3 4 5 6 7 8; do
        hh org create --name "$1-$i" --plan enterprise --currency USD > /dev/null
        for _ in $(seq 1 16); do hh key create --org "$1-$i" >> "$work/keys"; done
    done
}

# bench_serve [VAR=value …]: the release server on $db, core 0, one worker, with these settings
# too; waits until it is ready. Its log is $work/server.log.
bench_serve() {
    env HUMANHOURS_DATABASE_URL="$db" HUMANHOURS_PEPPER="$pepper" HUMANHOURS_LOG=warn HUMANHOURS_WORKERS=1 "$@" \
        taskset -c 0 "$bin" serve --bind "127.0.0.1:$port" > "$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
}
