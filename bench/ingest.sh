#!/usr/bin/env bash
# Benchmark of product-feed ingestion (POST /v1/products) on a local
# cluster (scripts/cluster: PostgreSQL, Redis, RabbitMQ, release builds),
# through one `api` replica, addressed directly:
#   1. small distinct bodies (about 200 B each, made by a wrk Lua script):
#      each one hashed, checked, claimed in Redis and recorded as a job in
#      PostgreSQL (then applied to the catalog in the background);
#   2. one small body repeated: every request after the first is a 403;
#   3. one 1 GiB feed sent with curl: MB/s from the first byte to the
#      answer, the replica's peak RSS, the latency of /healthz on the
#      same replica meanwhile (is the runtime kept free?), and how fast the
#      feed is then applied to the catalog; then the same feed twice more
#      (refused after the same full pass), for the spread between runs;
#   4. `b3sum --num-threads 1` on the same file, the hashing limit; `dd`
#      of it into a file beside the spool, the writing limit; and the same
#      curl upload into a static nginx that only writes the body to a file
#      (WebDAV `PUT`), the limit of receiving a body over loopback and
#      spooling it on this machine, with curl on the same cores;
#   5. a feed of 1,000,000 items applied from scratch, then the same items
#      in reverse order with 1 % of them renamed: items/s from each job's
#      own timings, and the rows PostgreSQL wrote for each
#      (pg_stat_user_tables) and the WAL it generated, with the job's
#      created/updated/unchanged;
#   6. the 1 GiB feed of part 3 sent gzip- and zstd-compressed (level 1):
#      MB/s of decoded bytes, against the plain upload of part 3. Both are
#      refused as duplicates of part 3's feed once their last byte is
#      checked, which is the full work of an upload (and shows a
#      compressed feed is the same feed);
#   7. the same 1 GiB as a resumable upload (tus) in 16 MiB PATCHes with
#      curl, against the one POST of part 3 (refused at the end as well).
# Knobs: DURATION (10s), CONNECTIONS (50), FEED_MIB (1024),
# REAPPLY_ITEMS (1000000), PARTS ("1 2 3 4 5 6 7": which parts to run;
# 6 and 7 compare with 3).
# Needs wrk, b3sum, gzip and zstd (Debian packages `wrk`, `b3sum`, `gzip`,
# `zstd`). Figures go in docs/benchmarks.md with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${DURATION:-10s}
connections=${CONNECTIONS:-50}
feed_mib=${FEED_MIB:-1024}
reapply_items=${REAPPLY_ITEMS:-1000000}
parts=" ${PARTS:-1 2 3 4 5 6 7} "
wants() { [[ $parts == *" $1 "* ]]; }
for tool in wrk b3sum curl psql gzip zstd; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install $tool)" >&2; exit 1; }
done

# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
chmod 755 "$tmp" # PostgreSQL runs as its own user and must reach its directory
port=$(free_port)

INGEST_ALLOW_ANONYMOUS=true scripts/cluster --replicas 1 --port "$port" --dir "$tmp/cluster" >"$tmp/cluster.log" 2>&1 &
cluster_pid=$!
pids+=("$cluster_pid")
for _ in $(seq 1800); do
  [ -f "$tmp/cluster/cluster.env" ] && break
  kill -0 "$cluster_pid" 2>/dev/null || { cat "$tmp/cluster.log" >&2; exit 1; }
  sleep 0.2
done
# shellcheck source=/dev/null
. "$tmp/cluster/cluster.env"
api_pid=${API_PIDS%% *}
api=$(sed -n 's/.*"public":"\([^"]*\)".*"message":"listening".*/\1/p; s/.*"message":"listening".*"public":"\([^"]*\)".*/\1/p' "$tmp/cluster/api-1.log" | head -n 1)
[ -n "$api" ] || { echo "no listening line in api-1.log" >&2; exit 1; }
url="http://$api/v1/products"
echo "replica at $url (pid $api_pid), nginx at $MERCATO_URL"

start_static_nginx
# Prints wrk's figures for one load, after loading the static nginx the
# same way, and the load's requests/s as a share of nginx's.
load() {
  echo
  echo "== $1"
  shift
  local reference out rps
  reference=$(wrk -t 2 -c "$connections" -d "$duration" "$static/" | awk '/^Requests\/sec/ {print $2}')
  out=$(wrk -t 2 -c "$connections" -d "$duration" --latency "$@")
  grep -E '^Requests/sec|^ +(50|99)%|Non-2xx|errors' <<<"$out"
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  python3 -c "print(f'  = {100 * $rps / $reference:.1f} % of a static nginx loaded just before ({$reference:,.0f} req/s)')"
}

wants 1 && load "1. distinct bodies of about 200 B, $connections connections" -s "$root/bench/wrk/distinct-feeds.lua" "$url"

# Waits until every accepted feed is applied, and says how long that took.
drain() {
  local start end jobs
  jobs=$(psql -At "$DATABASE_URL" -c "select count(*) from ingest_jobs where status in ('queued', 'processing')")
  start=$(date +%s.%N)
  while [ "$(psql -At "$DATABASE_URL" -c "select count(*) from ingest_jobs where status in ('queued', 'processing')")" != 0 ]; do
    sleep 0.5
  done
  end=$(date +%s.%N)
  python3 -c "
seconds = $end - $start
print(f'   applying the $jobs feeds still queued took {seconds:.1f} s', end='')
print(f' ({$jobs / seconds:.0f} feeds/s)' if $jobs > 1 and seconds > 0.5 else '')"
}
drain

wants 2 && load "2. one body repeated (all 403 after the first), $connections connections" -s "$root/bench/wrk/same-feed.lua" "$url"

if wants 3 || wants 6 || wants 7; then
echo
echo "== 3. one feed of $feed_mib MiB"
python3 - "$tmp/feed.json" "$feed_mib" <<'PY'
import sys
path, mib = sys.argv[1], int(sys.argv[2])
target = mib * 1024 * 1024
description = "Mesa de jantar de madeira macica para seis lugares, acabamento natural. " * 2
with open(path, "w") as out:
    out.write("[")
    written, i = 1, 0
    while True:
        item = '{"id": "feed-%d", "name": "Produto %d", "description": "%s"}' % (i, i, description)
        if written + len(item) + 2 > target:
            break
        if i:
            out.write(",")
            written += 1
        out.write(item)
        written += len(item)
        i += 1
    out.write("]")
PY
size=$(stat -c %s "$tmp/feed.json")
cat "$tmp/feed.json" >/dev/null # into the page cache, for b3sum and curl alike
drain
b3_start=$(date +%s.%N)
b3sum --num-threads 1 "$tmp/feed.json" >/dev/null
b3_end=$(date +%s.%N)
# The other limit: writing the same bytes into a file beside the replica's
# spool, as spooling the body does (no fsync, as the spool has none).
dd_start=$(date +%s.%N)
dd if="$tmp/feed.json" of="$tmp/cluster/dd-probe" bs=1M status=none
dd_end=$(date +%s.%N)
rm -f "$tmp/cluster/dd-probe"
# The feed checker alone, on one core, from memory.
cargo build --release --quiet -p feed --example check
checker=$("$root/target/release/examples/check" "$tmp/feed.json")
# The upload limit: nginx receiving the same body and writing it into a
# file beside the spool, nothing else (no check, no hash).
put_port=$(free_port)
mkdir -p "$tmp/put"
cat >"$tmp/put/nginx.conf" <<NGINX
worker_processes 1;
pid $tmp/put/nginx.pid;
error_log $tmp/put/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $tmp/cluster;
  server {
    listen 127.0.0.1:$put_port;
    client_max_body_size 0;
    location / { root $tmp/cluster; dav_methods PUT; }
  }
}
NGINX
nginx -c "$tmp/put/nginx.conf" -g 'daemon off;' &
put_pid=$!
wait_for_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; }
wait_for_port "$put_port"
put_seconds=$(curl -sS -o /dev/null -w '%{time_total}' -X PUT --data-binary "@$tmp/feed.json" "http://127.0.0.1:$put_port/put-probe")
kill "$put_pid"; wait "$put_pid" 2>/dev/null || true
rm -f "$tmp/cluster/put-probe"
rss_before=$(awk '/VmHWM/ {print $2}' "/proc/$api_pid/status")
cat >"$tmp/paced.lua" <<'LUA'
-- A light probe: each connection waits 10 ms between requests (about 400/s).
function delay() return 10 end
LUA
wrk -t 1 -c 4 -d 60s --latency -s "$tmp/paced.lua" "http://$api/healthz" >"$tmp/healthz.txt" &
probe=$!
sleep 1
curl -sS -o "$tmp/answer.json" -w '%{http_code} %{time_total}\n' --data-binary "@$tmp/feed.json" \
  -H 'content-type: application/json' "$url" >"$tmp/curl.txt"
kill -INT "$probe" 2>/dev/null; wait "$probe" 2>/dev/null || true
read -r code seconds <"$tmp/curl.txt"
rss_after=$(awk '/VmHWM/ {print $2}' "/proc/$api_pid/status")
echo "status $code in ${seconds}s: $(python3 -c "print(f'{$size / $seconds / 1e6:.0f} MB/s')") for $size bytes; $(cat "$tmp/answer.json")"
echo "replica peak RSS: $((rss_before / 1024)) MiB before, $((rss_after / 1024)) MiB after"
echo "/healthz on the same replica meanwhile (about 400 requests/s):"
grep -E '^Requests/sec|^ +(50|99)%' "$tmp/healthz.txt"
items=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["items"])' "$tmp/answer.json")
start=$(date +%s.%N)
drain
end=$(date +%s.%N)
python3 -c "print(f'   the feed was applied to the catalog at {$items / ($end - $start):.0f} items/s')"
# The same bytes again go through the same pipeline (read, checked, hashed,
# spooled) before the claim refuses them: two more timings, on an idle machine.
for attempt in 2 3; do
  curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' --data-binary "@$tmp/feed.json" \
    -H 'content-type: application/json' "$url" >"$tmp/curl.txt"
  read -r again_code again_seconds <"$tmp/curl.txt"
  echo "   the same feed again: status $again_code in ${again_seconds}s: $(python3 -c "print(f'{$size / $again_seconds / 1e6:.0f} MB/s')")"
done

echo
echo "== 4. b3sum --num-threads 1, dd and an nginx PUT of the same file (measured before the upload, on an idle machine)"
python3 -c "
b3 = $size / ($b3_end - $b3_start) / 1e6
ours = $size / $seconds / 1e6
disk = $size / ($dd_end - $dd_start) / 1e6
print(f'b3sum: {b3:.0f} MB/s; the upload ran at {ours / b3:.0%} of it')
put = $size / $put_seconds / 1e6
print(f'dd into the spool\'s file system: {disk:.0f} MB/s; the upload ran at {ours / disk:.0%} of it')
print('the feed checker alone: $checker')
print(f'the same curl upload into nginx writing it to a file: {put:.0f} MB/s = {put / b3:.0%} of b3sum; the upload ran at {ours / put:.0%} of it')"
fi

# The rows PostgreSQL has written into `products` so far (inserted +
# updated). A backend reports its counts at most once a second, or after
# 10 s idle: read them once every backend has been idle that long.
rows_written() {
  sleep 11
  psql -At "$DATABASE_URL" -c "select n_tup_ins + n_tup_upd from pg_stat_user_tables where relname = 'products'"
}

# Sends the feed in file $1 and prints the job once applied:
# "seconds created updated unchanged", seconds from the job's own timings.
applied() {
  local id
  id=$(curl -sS --data-binary "@$1" "$url" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  drain >/dev/null
  psql -At -F ' ' "$DATABASE_URL" -c "select (finished_at - started_at) / 1e6, created, updated, unchanged from ingest_jobs where id = '$id'"
}

if wants 5; then
  echo
  echo "== 5. $reapply_items items applied from scratch, then again with 1 % renamed, in reverse order"
  python3 - "$tmp/items.json" "$tmp/items-1pc.json" "$reapply_items" <<'PY'
import sys
first, again, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
description = "Cadeira de escritorio com apoio lombar e rodizios de nylon."
def item(i, renamed):
    name = f"Produto {i}" + (" (novo)" if renamed else "")
    return '{"id": "re-%d", "name": "%s", "description": "%s"}' % (i, name, description)
with open(first, "w") as out:
    out.write("[" + ",".join(item(i, False) for i in range(count)) + "]")
with open(again, "w") as out:
    out.write("[" + ",".join(item(i, i % 100 == 7) for i in reversed(range(count))) + "]")
PY
  drain >/dev/null
  # Each apply starts from a vacuumed table and a checkpoint, so that
  # neither pays for the other's autovacuum pass, and both write the full
  # page images that follow a checkpoint alike.
  settle_db() { psql -q -At "$DATABASE_URL" -c "vacuum products" -c "checkpoint"; }
  wal() { settle_db; psql -At "$DATABASE_URL" -c "select pg_current_wal_lsn() - '0/0'::pg_lsn"; }
  before=$(rows_written) wal_before=$(wal)
  read -r full_seconds created _ _ < <(applied "$tmp/items.json")
  middle=$(rows_written) wal_middle=$(wal)
  read -r again_seconds _ updated unchanged < <(applied "$tmp/items-1pc.json")
  after=$(rows_written) wal_after=$(wal)
  python3 -c "
n = $reapply_items
print(f'from scratch: {n / $full_seconds:,.0f} items/s ({$full_seconds:.1f} s), {$created:,} created, {$middle - $before:,} rows written, {($wal_middle - $wal_before) / 1e6:,.0f} MB of WAL')
print(f'1 % changed:  {n / $again_seconds:,.0f} items/s ({$again_seconds:.1f} s), {$updated:,} updated, {$unchanged:,} unchanged, {$after - $middle:,} rows written, {($wal_after - $wal_middle) / 1e6:,.0f} MB of WAL')
print(f'= the 1 %-changed re-apply ran {$full_seconds / $again_seconds:.1f}x faster (target: 10x), with {($middle - $before) / max($after - $middle, 1):.0f}x fewer rows and {($wal_middle - $wal_before) / max($wal_after - $wal_middle, 1):.0f}x less WAL')"
fi

if wants 6; then
  echo
  echo "== 6. the $feed_mib MiB feed compressed (level 1), MB/s of decoded bytes"
  for coding in gzip zstd; do
    "$coding" -1 -c "$tmp/feed.json" >"$tmp/feed.json.$coding"
    cat "$tmp/feed.json.$coding" >/dev/null
    curl -sS -o "$tmp/answer.json" -w '%{http_code} %{time_total}\n' --data-binary "@$tmp/feed.json.$coding" \
      -H "content-encoding: $coding" "$url" >"$tmp/curl.txt"
    read -r coded_code coded_seconds <"$tmp/curl.txt"
    python3 -c "
decoded = $size / $coded_seconds / 1e6
plain = $size / $seconds / 1e6
print(f'$coding ({$(stat -c %s "$tmp/feed.json.$coding") / 1e6:.0f} MB sent): status $coded_code in {$coded_seconds:.2f} s = {decoded:.0f} MB/s decoded, {decoded / plain:.0%} of the plain upload ({plain:.0f} MB/s; target 50 %)')"
    grep -q DUPLICATE "$tmp/answer.json" || { echo "   not refused as the plain feed's duplicate: $(cat "$tmp/answer.json")"; }
    rm -f "$tmp/feed.json.$coding"
  done
fi

if wants 7; then
  echo
  echo "== 7. the $feed_mib MiB feed as a resumable upload (tus), 16 MiB per PATCH"
  chunk=$((16 * 1024 * 1024))
  tus_start=$(date +%s.%N)
  location=$(curl -sS -D - -o /dev/null -X POST -H 'tus-resumable: 1.0.0' -H "upload-length: $size" \
    "http://$api/v1/uploads" | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  offset=0
  status=
  while [ "$offset" -lt "$size" ]; do
    status=$(dd if="$tmp/feed.json" bs="$chunk" skip=$((offset / chunk)) count=1 status=none |
      curl -sS -o "$tmp/answer.json" -w '%{http_code}' -X PATCH --data-binary @- \
        -H 'tus-resumable: 1.0.0' -H "upload-offset: $offset" \
        -H 'content-type: application/offset+octet-stream' "http://$api$location")
    offset=$((offset + chunk < size ? offset + chunk : size))
    [ "$status" = 204 ] || break
  done
  tus_end=$(date +%s.%N)
  python3 -c "
tus = $size / ($tus_end - $tus_start) / 1e6
post = $size / $seconds / 1e6
print(f'{($size + $chunk - 1) // $chunk} PATCHes, last status $status, in {$tus_end - $tus_start:.2f} s = {tus:.0f} MB/s, {tus / post:.0%} of the one POST ({post:.0f} MB/s)')"
fi
