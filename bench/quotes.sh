#!/usr/bin/env bash
# Benchmark of stock quotes: authenticated GET /stock?q=aapl.us, from the
# API over the broker to quote-worker and the stooq fake on loopback, and
# the quote saved for the account.
#
#   bench/quotes.sh                                        # embedded: in-process broker, SQLite
#   DATABASE_URL=postgres://…/empty_db AMQP_URL=amqp://… bench/quotes.sh   # cluster: a quote-worker process
#
# Runs release builds of api, quote-worker and the stooq fake; loads them
# with wrk (Debian package `wrk`): 50 connections for 10 s as fast as they
# go, then about 1,250 requests/s, half the target rate of 2,500 (each
# connection waits 40 ms between its requests), then Basic credentials
# instead of a token to show what checking a password costs. Knobs: DURATION (10s), CONNECTIONS (50).
# Figures go in docs/benchmarks.md with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${DURATION:-10s}
connections=${CONNECTIONS:-50}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

cargo build --release -p api -p quote-worker -p fakes --bin api --bin quote-worker --bin stooq-fake --quiet
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

stooq_port=$(free_port)
STOOQ_FAKE_ADDR=127.0.0.1:$stooq_port "$root/target/release/stooq-fake" >"$tmp/stooq.log" 2>&1 &
pids+=($!)
export STOOQ_BASE_URL=http://127.0.0.1:$stooq_port
export JWT_SECRET=${JWT_SECRET:-bench-secret-of-at-least-thirty-two-bytes}
export ADMIN_USERNAME=bench ADMIN_PASSWORD=bench-password
export LOG_FORMAT=json MIGRATE_ON_START=true
public=$(free_port)
(
  cd "$tmp"
  PUBLIC_ADDR=127.0.0.1:$public INTERNAL_ADDR=127.0.0.1:0 exec "$root/target/release/api" >"$tmp/api.log" 2>&1
) &
pids+=($!)
if [[ -n ${AMQP_URL:-} ]]; then
  "$root/target/release/quote-worker" >"$tmp/quote-worker.log" 2>&1 &
  pids+=($!)
fi
wait_for "http://127.0.0.1:$public/healthz"
token=$(curl -fs -X POST "http://127.0.0.1:$public/login" -H 'content-type: application/json' \
  -d '{"username": "bench", "password": "bench-password"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
url="http://127.0.0.1:$public/stock?q=aapl.us"
for _ in $(seq 100); do
  curl -fs -H "authorization: Bearer $token" "$url" >/dev/null && break
  sleep 0.2
done
curl -fs -H "authorization: Bearer $token" "$url"
echo

load() {
  echo
  echo "== $1"
  shift
  wrk -t 2 -d "$duration" --latency "$@" |
    grep -E '^Requests/sec|^ +(50|99)%|Non-2xx|errors'
}
load "Bearer, $connections connections, as fast as possible" \
  -c "$connections" -H "authorization: Bearer $token" "$url"
cat >"$tmp/paced.lua" <<'LUA'
-- Each connection waits 40 ms before each request: 50 connections ask for
-- at most 1,250 requests/s, half the target rate.
function delay() return 40 end
LUA
load "Bearer, paced at about 1,250 requests/s (50 connections, 40 ms apart)" \
  -c 50 -s "$tmp/paced.lua" -H "authorization: Bearer $token" "$url"
basic=$(printf 'bench:bench-password' | base64)
load "Basic (argon2 on every request), $connections connections" \
  -c "$connections" -H "authorization: Basic $basic" "$url"
