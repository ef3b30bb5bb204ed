#!/usr/bin/env bash
# The speed targets of the small-request paths, each as a share of a static
# nginx's requests/s measured just before it in the same run, and the CPU
# time the `api` process spent per request:
#   1. feed intake, distinct bodies of about 200 B (each one hashed,
#      checked, claimed in the window and recorded as a job before its 200);
#   2. feed intake, one body repeated (every request after the first a 403);
#   3. GET /public-api/listings, page 1 (the public layer, the listing
#      service and the user service);
#   4. GET /listings on the listing service alone (internal listener);
#   5. POST /public-api/listings.
#
#   bench/speed.sh                       # embedded: SQLite, in-process broker, in-memory window
#   DATABASE_URL=postgres://…/empty_db REDIS_URL=redis://… bench/speed.sh
#
# Knobs: DURATION (10s), CONNECTIONS (50), LISTINGS (10000), USERS (500),
# API (a binary to measure instead of this tree's release build, e.g. an
# older build to compare with). Needs wrk and nginx (Debian packages).
# Figures go in docs/benchmarks.md with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${DURATION:-10s}
connections=${CONNECTIONS:-50}
listings=${LISTINGS:-10000}
users=${USERS:-500}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

if [ -z "${API:-}" ]; then
  cargo build --release -p api --quiet
  API=$root/target/release/api
fi
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
start_static_nginx
public=$(free_port)
internal=$(free_port)
(
  cd "$tmp"
  PUBLIC_ADDR=127.0.0.1:$public INTERNAL_ADDR=127.0.0.1:$internal LOG_FORMAT=json \
    MIGRATE_ON_START=true INGEST_ALLOW_ANONYMOUS=true exec "$API" >"$tmp/api.log" 2>&1
) &
api_pid=$!
pids+=("$api_pid")
wait_for "http://127.0.0.1:$public/healthz"

# wrk's requests/s and request count for one load of `duration`.
run_wrk() {
  local out
  out=$(wrk -t 2 -c "$connections" -d "$duration" "$@")
  if grep -q 'Non-2xx' <<<"$out" && [ "${EXPECT_REFUSALS:-}" != yes ]; then
    echo "unexpected error answers:" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(awk '/requests in/ {print $1}' <<<"$out")"
}

# Loads nginx, then one path of `api`; prints the path's requests/s, its
# share of nginx's and the target, and the CPU time `api` spent per request.
measure() {
  local name=$1 target=$2
  shift 2
  local nginx_rps nginx_count rps count before after
  read -r nginx_rps nginx_count < <(run_wrk "$static/")
  before=$(cpu_ticks "$api_pid")
  read -r rps count < <(run_wrk "$@")
  after=$(cpu_ticks "$api_pid")
  # run_wrk exits only its own subshell: an empty figure means it failed.
  [ -n "$nginx_rps" ] && [ -n "$rps" ] || exit 1
  python3 - "$name" "$target" "$nginx_rps" "$rps" "$count" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import sys
name, target = sys.argv[1], float(sys.argv[2])
nginx, rps, count, before, after, ticks_per_second = (float(a) for a in sys.argv[3:])
share = 100 * rps / nginx
cpu = (after - before) / ticks_per_second * 1e6 / count
verdict = "met" if share >= target else "NOT met"
print(f"{name:<44} {rps:>9,.0f} req/s  {share:5.1f} % of nginx ({nginx:,.0f})"
      f"  target {target:g} % {verdict:<7}  {cpu:4.0f} µs CPU/request")
PY
}


echo "== $connections connections, $duration per load, nginx loaded just before each path"
feeds=http://127.0.0.1:$public/v1/products
measure "1. feeds, distinct ~200 B bodies" 9 -s "$root/bench/wrk/distinct-feeds.lua" "$feeds"
EXPECT_REFUSALS=yes measure "2. feeds, one body repeated (403)" 30 -s "$root/bench/wrk/same-feed.lua" "$feeds"

python3 "$root/bench/seed-listings.py" "$internal" "$users" "$listings"
if [[ ${DATABASE_URL:-} == postgres* ]] && command -v psql >/dev/null; then
  psql -q "$DATABASE_URL" -c 'VACUUM ANALYZE listings' -c 'VACUUM ANALYZE users'
fi
measure "3. GET /public-api/listings page 1" 7 "http://127.0.0.1:$public/public-api/listings?page_num=1&page_size=10"
measure "4. GET /listings, the listing service alone" 12 "http://127.0.0.1:$internal/listings?page_num=1&page_size=10"
measure "5. POST /public-api/listings" 7 -s "$root/bench/wrk/post-listing.lua" "http://127.0.0.1:$public/public-api/listings"
