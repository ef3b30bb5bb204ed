# Throwaway PostgreSQL, Redis and RabbitMQ servers in one directory, for
# scripts/test and scripts/cluster (sourced, not run).
#
#   start_servers DIR   starts all three on free ports and sets pg_port,
#                       redis_port, amqp_port and management_port
#   stop_servers DIR    stops them (and RabbitMQ nodes under DIR/nodes),
#                       waiting until each has really exited

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
servers_script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A free port below the kernel's ephemeral range (32768 and up), so no
# outgoing connection can take it between now and the server's bind.
free_port() {
  python3 -c '
import random, socket
while True:
    port = random.randrange(20000, 32000)
    try:
        socket.socket().bind(("127.0.0.1", port))
        print(port)
        break
    except OSError:
        pass'
}

start_servers() {
  local dir=$1
  chmod 755 "$dir"
  pg_port=$(free_port)
  mkdir -p "$dir/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pg"
  as_postgres "$pg_bin/initdb" -D "$dir/pg" -U postgres -A trust --no-sync >/dev/null
  as_postgres "$pg_bin/pg_ctl" -D "$dir/pg" -w -l "$dir/pg/server.log" start \
    -o "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" >/dev/null

  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"

  amqp_port=$(free_port)
  management_port=$(free_port)
  "$servers_script_dir/rabbitmq-node" start "$dir/rabbitmq" "$amqp_port" "$(free_port)" "$management_port"
}

stop_servers() {
  local dir=$1 pids=() pid file alive
  [ -f "$dir/pg/postmaster.pid" ] && as_postgres "$pg_bin/pg_ctl" -D "$dir/pg" -m immediate -w stop >/dev/null 2>&1
  for file in "$dir/redis.pid" "$dir/rabbitmq/rabbitmq.pid" "$dir"/nodes/*/rabbitmq.pid; do
    [ -f "$file" ] && pids+=("$(cat "$file")")
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for _ in $(seq 300); do
    alive=false
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  return 0
}
