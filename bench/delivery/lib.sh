# Shared by bench/delivery/*.sh (source it): a temporary directory, cleanup on exit, a free
# block of loopback ports and `edgevault up` on them.
#   ev_up BIN N   picks N consecutive free ports (base = console, +1 api, +2 delivery, ...;
#                 extra ones for the caller), starts `BIN/edgevault up` in $tmp/data and
#                 waits for it; sets base, api, dlv, data, admin, dpid.
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
  local bin=$1 count=$2
  base=$(python3 - "$count" <<'PY'
import socket, sys
n = int(sys.argv[1])
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p < 65000 and all(free(p + i) for i in range(n)):
        print(p); break
PY
)
  api=http://127.0.0.1:$((base + 1))
  dlv=http://127.0.0.1:$((base + 2))
  data=$tmp/data
  "$bin/edgevault" up --data-dir "$data" --port-base "$base" > "$tmp/up.log" 2>&1 &
  ev=$!
  for _ in $(seq 600); do
    grep -q 'EdgeVault is up' "$tmp/up.log" && break
    kill -0 "$ev" 2>/dev/null || { cat "$tmp/up.log"; exit 1; }
    sleep 0.1
  done
  grep -q 'EdgeVault is up' "$tmp/up.log" || { echo "edgevault up did not start"; cat "$tmp/up.log"; exit 1; }
  admin=$(cat "$data/bootstrap-admin.key")
  dpid=$(cat "$data/run/delivery.pid")
}
