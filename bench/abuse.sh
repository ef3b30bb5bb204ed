#!/usr/bin/env bash
# Benchmark of two attacks on an embedded `api` (SPEC section 10): what the
# process holds, and how the requests of everyone else fare, meanwhile.
#
#   bench/abuse.sh                      # builds and measures target/release/api
#   API_BIN=/path/to/api bench/abuse.sh # measures another build (an older one, say)
#
# 1. A wrong-password flood: FLOOD_CONNECTIONS (300) connections sending
#    Basic credentials with a wrong password to /me for DURATION (10s),
#    with the failure throttle off (AUTH_MAX_FAILURES=0), so only the
#    bound on password checks stands between the flood and the process.
# 2. A slow-upload storm: UPLOADS (300) feeds that send 80 KiB and then a
#    byte every 2 s, with INGEST_MAX_CONCURRENT raised so every one of
#    them is received, while logins and Bearer requests go on.
#
# 3. For comparison, a client with the right password: GET /me with Basic
#    against the same with a token, 16 connections for 5 s each.
#
# Reported for each: peak RSS (VmHWM) and threads of the process, the
# flood's throughput and answers, and p99 latencies of Bearer requests and
# /healthz before and during the attack (their ratio is what the attack
# costs everyone else), and the time of a login during the storm.
# Needs wrk (Debian `wrk`), curl and python3. Figures go in
# docs/benchmarks.md with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${DURATION:-10s}
flood_connections=${FLOOD_CONNECTIONS:-300}
uploads=${UPLOADS:-300}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

api_bin=${API_BIN:-}
if [ -z "$api_bin" ]; then
  cargo build --release -p api --quiet
  api_bin=$root/target/release/api
fi
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

admin_password=bench-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
port=0
api_pid=0

# Starts a fresh api (its own directory and database) with extra settings.
start_api() {
  port=$(free_port)
  local dir
  dir=$(mktemp -d -p "$tmp")
  (
    cd "$dir"
    env PUBLIC_ADDR=127.0.0.1:$port INTERNAL_ADDR=127.0.0.1:0 LOG_FORMAT=json \
      ADMIN_USERNAME=bench ADMIN_PASSWORD="$admin_password" "$@" \
      "$api_bin" >"$dir/api.log" 2>&1 &
    echo $! >"$dir/pid"
    wait
  ) &
  pids+=($!)
  wait_for "http://127.0.0.1:$port/healthz"
  api_pid=$(cat "$dir/pid")
  pids+=("$api_pid")
}

stop_api() { kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; }

status_of() { grep -E "^$1:" "/proc/$api_pid/status" | awk '{print $2}'; }

token() {
  curl -fs "http://127.0.0.1:$port/login" -H 'content-type: application/json' \
    -d "{\"username\": \"bench\", \"password\": \"$admin_password\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

# p99 of GET $1 with header $2 (may be empty), 2 connections, for $3.
p99() {
  local args=(-t 1 -c 2 -d "$3" --latency)
  [ -n "$2" ] && args+=(-H "$2")
  wrk "${args[@]}" "http://127.0.0.1:$port$1" | awk '$1 == "99%" {print $2}'
}

echo "== 1. wrong-password flood: $flood_connections connections, $duration"
start_api AUTH_MAX_FAILURES=0
bearer="Authorization: Bearer $(token)"
echo "before:  Bearer /me p99 $(p99 /me "$bearer" 5s), /healthz p99 $(p99 /healthz '' 5s), RSS $(status_of VmRSS) kB"
wrong="Authorization: Basic $(printf 'bench:not-the-password' | base64)"
wrk -t 2 -c "$flood_connections" -d "$duration" -H "$wrong" "http://127.0.0.1:$port/me" >"$tmp/flood.txt" &
flood=$!
sleep 1
during_bearer=$(p99 /me "$bearer" 4s)
during_healthz=$(p99 /healthz '' 4s)
wait "$flood"
echo "during:  Bearer /me p99 $during_bearer, /healthz p99 $during_healthz"
echo "flood:   $(grep -E 'Requests/sec' "$tmp/flood.txt" | xargs), $(grep -E 'Non-2xx|errors' "$tmp/flood.txt" | xargs)"
echo "process: peak RSS (VmHWM) $(status_of VmHWM) kB, threads $(status_of Threads)"
stop_api

echo
echo "== 2. slow-upload storm: $uploads uploads trickling a byte every 2 s"
start_api INGEST_ALLOW_ANONYMOUS=true INGEST_MAX_CONCURRENT=$((uploads + 100))
bearer="Authorization: Bearer $(token)"
echo "before:  Bearer /me p99 $(p99 /me "$bearer" 5s), /healthz p99 $(p99 /healthz '' 5s), threads $(status_of Threads)"
python3 - "$port" "$uploads" <<'EOF' &
import asyncio, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
start = b'[{"id": "slow", "name": "' + b"x" * (80 * 1024)
head = b"POST /v1/products HTTP/1.1\r\nHost: bench\r\nContent-Length: 100000000\r\n\r\n"
async def upload():
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + start)
    await writer.drain()
    for _ in range(30):
        await asyncio.sleep(2)
        writer.write(b"x")
        await writer.drain()
async def main():
    await asyncio.gather(*(upload() for _ in range(count)), return_exceptions=True)
asyncio.run(main())
EOF
storm=$!
pids+=("$storm")
sleep 5
logins=()
for _ in 1 2 3 4 5; do
  logins+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/login" \
    -H 'content-type: application/json' -d "{\"username\": \"bench\", \"password\": \"$admin_password\"}")s")
done
echo "during:  Bearer /me p99 $(p99 /me "$bearer" 5s), /healthz p99 $(p99 /healthz '' 5s), logins ${logins[*]}"
echo "process: peak RSS (VmHWM) $(status_of VmHWM) kB, threads $(status_of Threads)"
kill "$storm" 2>/dev/null || true
stop_api

echo
echo "== 3. the right password: Basic against Bearer, 16 connections, 5s each"
start_api
bearer="Authorization: Bearer $(token)"
good="Authorization: Basic $(printf 'bench:%s' "$admin_password" | base64)"
rate() { wrk -t 2 -c 16 -d 5s -H "$1" "http://127.0.0.1:$port/me" | awk '/Requests\/sec/ {print $2}'; }
basic_rate=$(rate "$good")
bearer_rate=$(rate "$bearer")
echo "Basic $basic_rate req/s, Bearer $bearer_rate req/s: Basic at $(python3 -c "print(f'{$basic_rate / $bearer_rate:.2f}')")x of Bearer"
stop_api
