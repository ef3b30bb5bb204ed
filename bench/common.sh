# What the benchmark scripts share (sourced, not run): a temporary
# directory `tmp`, the processes started in `pids` (stopped, and `tmp`
# removed, when the script exits), `free_port`, and `wait_for URL`.

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 20 s for URL to answer, or exits naming it.
wait_for() {
  for _ in $(seq 200); do curl -fs "$1" >/dev/null && return; sleep 0.1; done
  echo "$1 never answered" >&2
  exit 1
}

# Starts a static nginx (one worker, as the reference every figure is a
# share of) answering a fixed JSON body on a free port, and sets `static`
# to its base URL.
start_static_nginx() {
  command -v nginx >/dev/null || { echo "nginx is required (apt-get install nginx)" >&2; exit 1; }
  local port
  port=$(free_port)
  mkdir -p "$tmp/nginx"
  cat >"$tmp/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx;
  proxy_temp_path $tmp/nginx;
  fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx;
  scgi_temp_path $tmp/nginx;
  server {
    listen 127.0.0.1:$port;
    location / { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
NGINX
  nginx -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
  pids+=($!)
  static=http://127.0.0.1:$port
  wait_for "$static/"
}

# CPU time (user + system) a process has used so far, in clock ticks.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}
