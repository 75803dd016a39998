# Shared by bench/delivery/*.sh (source it): a temporary directory, cleanup on exit and
# `edgevault up` on ports the kernel picks.
#   ev_up BIN     starts `BIN/edgevault up --port-base 0` in $tmp/data and waits for it;
#                 sets api, dlv, data, admin, dpid.
# Set ngx to a pid to have it killed on exit too.
tmp=$(mktemp -d)
ev='' ngx=''
ev_cleanup() {
  [ -n "$ngx" ] && kill "$ngx" 2>/dev/null || true
  if [ -n "$ev" ] && kill -0 "$ev" 2>/dev/null; then
    kill -TERM "$ev" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$ev" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ev" 2>/dev/null || true
  fi
  # Anything `up` left behind (it should stop its children itself).
  for f in "$tmp"/data/run/*.pid; do
    [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap ev_cleanup EXIT

ev_up() {
  local bin=$1
  data=$tmp/data
  # Port 0: every service on a port the kernel picks; each reports it in data/run/NAME.port.
  "$bin/edgevault" up --data-dir "$data" --port-base 0 > "$tmp/up.log" 2>&1 &
  ev=$!
  for _ in $(seq 600); do
    grep -q 'EdgeVault is up' "$tmp/up.log" && [ -s "$data/run/api.port" ] && [ -s "$data/run/delivery.port" ] && break
    kill -0 "$ev" 2>/dev/null || { cat "$tmp/up.log"; exit 1; }
    sleep 0.1
  done
  grep -q 'EdgeVault is up' "$tmp/up.log" || { echo "edgevault up did not start"; cat "$tmp/up.log"; exit 1; }
  api=http://127.0.0.1:$(cat "$data/run/api.port")
  dlv=http://127.0.0.1:$(cat "$data/run/delivery.port")
  admin=$(cat "$data/bootstrap-admin.key")
  dpid=$(cat "$data/run/delivery.pid")
}

# A free port for a third-party server that cannot report the port it got (nginx). Only
# the benchmarks use it; tests never probe ports.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
