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
