#!/usr/bin/env bash
# Benchmark of the catalog: how long one offer-poller takes to refresh
# 10,000 registered products from the Offers fake on loopback, and
# GET /products/{id} and GET /products?page=1 under load.
#
#   bench/offers.sh            # embedded mode: SQLite, the poller in-process
#
# Seeds PRODUCTS (10000) products through POST /products (each registered
# with the fake), then makes every product due at once and times the pass
# from the poller's own log lines ("offers refreshed"). Then wrk (Debian
# package `wrk`): 50 connections, 10 s. Knobs: PRODUCTS, OFFERS_CONCURRENCY
# (16), DURATION (10s). Figures go in docs/benchmarks.md with the machine
# and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${DURATION:-10s}
products=${PRODUCTS:-10000}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

cargo build --release -p api -p fakes --bin api --bin offers-fake --quiet
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
offers_port=$(free_port)
OFFERS_FAKE_ADDR=127.0.0.1:$offers_port OFFERS_FAKE_CHANGE_SECS=0 "$root/target/release/offers-fake" >"$tmp/offers.log" 2>&1 &
pids+=($!)
public=$(free_port)
(
  cd "$tmp"
  OFFERS_BASE_URL=http://127.0.0.1:$offers_port PUBLIC_ADDR=127.0.0.1:$public INTERNAL_ADDR=127.0.0.1:0 \
    ADMIN_USERNAME=bench ADMIN_PASSWORD=bench-password LOG_FORMAT=json \
    OFFERS_CONCURRENCY=${OFFERS_CONCURRENCY:-16} exec "$root/target/release/api" >"$tmp/api.log" 2>&1
) &
pids+=($!)
wait_for "http://127.0.0.1:$public/healthz"

echo "== seeding $products products"
python3 - "$public" "$products" "$tmp/ids" <<'PY'
import base64, http.client, json, sys
port, count, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPConnection("127.0.0.1", port)
conn.request("POST", "/login", json.dumps({"username": "bench", "password": "bench-password"}),
             {"Content-Type": "application/json"})
token = json.loads(conn.getresponse().read())["token"]
ids = []
for i in range(count):
    conn.request("POST", "/products", json.dumps({"name": f"product {i}", "description": "benchmark"}),
                 {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    answer = conn.getresponse()
    body = json.loads(answer.read())
    assert answer.status == 201, body
    ids.append(body["id"])
open(out, "w").write("\n".join(ids))
PY

echo "== one full pass over every product, OFFERS_CONCURRENCY=${OFFERS_CONCURRENCY:-16}"
sleep 3   # let the first polls of the newly registered products finish
python3 - "$tmp/data/mercato.db" "$tmp/api.log" "$products" <<'PY'
import json, sqlite3, sys, time
db, log, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
start_line = sum(1 for _ in open(log))
conn = sqlite3.connect(db, timeout=30)
conn.execute("UPDATE products SET next_poll_at = 0 WHERE registered")
conn.commit()
polled, seconds, deadline = 0, 0.0, time.time() + 300
while polled < count and time.time() < deadline:
    time.sleep(0.5)
    lines = open(log).read().splitlines()[start_line:]
    polled, seconds = 0, 0.0
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        fields = event.get("fields", event)
        if fields.get("message") == "offers refreshed":
            polled += fields.get("polled", 0) + fields.get("failed", 0)
            seconds += fields.get("seconds", 0.0)
print(f"polled {polled} products in {seconds:.2f} s of passes ({polled / max(seconds, 1e-9):.0f} products/s)")
PY

id=$(head -1 "$tmp/ids")
load() {
  echo
  echo "== GET $1: 50 connections, $duration"
  wrk -t 2 -c 50 -d "$duration" --latency "http://127.0.0.1:$public$1" |
    grep -E '^Requests/sec|^ +(50|99)%|Non-2xx|errors'
}
load "/products/$id"
load "/products?page=1"
