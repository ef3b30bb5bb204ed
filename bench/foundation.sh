#!/usr/bin/env bash
# Benchmark of the foundation: what every request pays (routing, request id,
# request log, metrics, the panic catcher, the compression layer) and the
# readiness check of the configured backends; then what compression costs
# and saves on a page of 100 products.
#
#   bench/foundation.sh                 # embedded mode: SQLite, in-process broker, in-memory window
#   DATABASE_URL=postgres://… AMQP_URL=amqp://… REDIS_URL=redis://… JWT_SECRET=… bench/foundation.sh
#
# Runs a release build of `api` from a temporary directory and loads it with
# wrk (Debian package `wrk`), beside a static nginx answering a fixed JSON
# body on the same machine in the same run: each figure is also given as a
# share of nginx's requests/s, which holds on a noisy machine. Knobs:
# DURATION (10s), CONNECTIONS (64). Figures go in docs/benchmarks.md with
# the machine and the date.
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
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
(
  cd "$tmp"
  PUBLIC_ADDR=127.0.0.1:$port INTERNAL_ADDR=127.0.0.1:0 LOG_FORMAT=json MIGRATE_ON_START=true \
    ADMIN_USERNAME=bench ADMIN_PASSWORD="$password" \
    exec "$root/target/release/api" >"$tmp/api.log" 2>&1
) &
pids+=($!)
start_static_nginx
wait_for "http://127.0.0.1:$port/healthz"
curl -fs "http://127.0.0.1:$port/readyz"
echo

# Prints wrk's figures for one load, and its requests/s as a share of
# the static nginx's.
reference=
load() {
  local name=$1
  shift
  echo
  echo "== $name: $connections connections, $duration"
  local out
  out=$(wrk -t 2 -c "$connections" -d "$duration" --latency "$@")
  grep -E 'Requests/sec|Latency |50%|99%|Non-2xx|errors|Transfer/sec' <<<"$out"
  local rps
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  if [ -z "$reference" ]; then
    reference=$rps
  else
    python3 -c "print(f'  = {100 * $rps / $reference:.1f} % of static nginx')"
  fi
}

load "static nginx (the reference)" "$static/"
for path in /healthz /readyz; do
  load "GET $path" "http://127.0.0.1:$port$path"
done

for n in $(seq 100); do
  curl -fs -u "bench:$password" "http://127.0.0.1:$port/products" \
    -H 'content-type: application/json' \
    -d "{\"name\": \"Product $n\", \"description\": \"A product of the compression benchmark, number $n\", \"sku\": \"BENCH-$n\"}" >/dev/null
done
page="http://127.0.0.1:$port/products?page_size=100"
for encoding in identity gzip br; do
  bytes=$(curl -fs -H "accept-encoding: $encoding" "$page" | wc -c)
  echo
  echo "-- a page of 100 products with accept-encoding $encoding: $bytes bytes"
  load "GET /products?page_size=100, accept-encoding $encoding" -H "accept-encoding: $encoding" "$page"
done
