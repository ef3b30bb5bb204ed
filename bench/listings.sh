#!/usr/bin/env bash
# Benchmark of seed 004's public API layer, with the listing and user
# services behind it on the same process's internal listener (the default):
# every public request is two or three HTTP calls and one or two queries.
#
#   bench/listings.sh                                  # embedded: SQLite
#   DATABASE_URL=postgres://…/empty_db bench/listings.sh   # PostgreSQL (an empty database)
#
# Seeds 10,000 listings by 500 users through the services' own REST APIs,
# then loads a release build of `api` with wrk (Debian package `wrk`):
# the first page, a deep page (page_num=500) and POST /public-api/listings.
# Knobs: DURATION (10s), CONNECTIONS (50), LISTINGS (10000), USERS (500).
# Figures go in docs/benchmarks.md with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${DURATION:-10s}
connections=${CONNECTIONS:-50}
listings=${LISTINGS:-10000}
users=${USERS:-500}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

cargo build --release -p api --quiet
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
public=$(free_port)
internal=$(free_port)
(
  cd "$tmp"
  PUBLIC_ADDR=127.0.0.1:$public INTERNAL_ADDR=127.0.0.1:$internal LOG_FORMAT=json \
    MIGRATE_ON_START=true exec "$root/target/release/api" >"$tmp/api.log" 2>&1
) &
pids+=($!)
wait_for "http://127.0.0.1:$public/healthz"

echo "== seeding $listings listings by $users users through the services"
python3 "$root/bench/seed-listings.py" "$internal" "$users" "$listings"
if [[ ${DATABASE_URL:-} == postgres* ]] && command -v psql >/dev/null; then
  psql -q "$DATABASE_URL" -c 'VACUUM ANALYZE listings' -c 'VACUUM ANALYZE users'
fi

load() {
  echo
  echo "== $1: $connections connections, $duration"
  shift
  wrk -t 2 -c "$connections" -d "$duration" --latency "$@" |
    grep -E '^Requests/sec|^ +(50|99)%|Non-2xx|errors'
}
base=http://127.0.0.1:$public/public-api/listings
load "GET first page" "$base?page_num=1&page_size=10"
load "GET page 500" "$base?page_num=500&page_size=10"
load "POST a listing" -s "$root/bench/wrk/post-listing.lua" "$base"
