#!/usr/bin/env bash
# Benchmark of the foundation: what every request pays (routing, request id,
# request log, metrics) and the readiness check of the configured backends.
#
#   bench/foundation.sh                 # embedded mode: SQLite, in-process broker, in-memory window
#   DATABASE_URL=postgres://… AMQP_URL=amqp://… REDIS_URL=redis://… bench/foundation.sh
#
# Runs a release build of `api` from a temporary directory and loads it with
# wrk (Debian package `wrk`). Knobs: DURATION (10s), CONNECTIONS (64).
# Figures go in docs/benchmarks.md with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${DURATION:-10s}
connections=${CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

cargo build --release -p api --quiet
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
port=$(free_port)
(
  cd "$tmp"
  PUBLIC_ADDR=127.0.0.1:$port INTERNAL_ADDR=127.0.0.1:0 LOG_FORMAT=json MIGRATE_ON_START=true \
    exec "$root/target/release/api" >"$tmp/api.log" 2>&1
) &
pids+=($!)
wait_for "http://127.0.0.1:$port/healthz"
curl -fs "http://127.0.0.1:$port/readyz"
echo

for path in /healthz /readyz; do
  echo
  echo "== GET $path: $connections connections, $duration"
  wrk -t 2 -c "$connections" -d "$duration" --latency "http://127.0.0.1:$port$path" |
    grep -E 'Requests/sec|Latency |50%|99%|Non-2xx|errors'
done
