#!/usr/bin/env bash
# Delivery end to end, against the real binaries: `edgevault up` on free loopback ports in
# a temporary data directory, then (1) propagation delay api write → GET /v1/config over
# 100 writes, (2) wrk on GET /v1/config (~2 KiB document) next to nginx serving the same
# bytes as a static file in the same run, (3) wrk on single-flag OFREP, (4) peak RSS of
# edgevault-delivery holding FLAGS flags. Results go to docs/performance.md.
# Usage: bench/delivery/run.sh [BUILD_DIR] [SECONDS]
#   env: EDGEVAULT_BIN_DIR (default BUILD_DIR/bin), CONNS (64), WRITES (100),
#        FLAGS (10000), FLAG_SECONDS (time budget for creating them, 420;
#        the count reached is printed), FLAGS=0 skips step 4
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
secs=${2:-5}
bin=${EDGEVAULT_BIN_DIR:-$build/bin}
conns=${CONNS:-64}
writes=${WRITES:-100}
flags=${FLAGS:-10000}
flag_secs=${FLAG_SECONDS:-420}
. "$here/lib.sh"
ev_up "$bin"
ngport=$(free_port)

read -r ws env sdk flag < <(timeout 120 python3 "$here/drive.py" setup "$api" "$dlv" "$admin")
echo "edgevault up: api $api, delivery $dlv (pid $dpid), workspace $ws, environment $env"

# 1. Propagation.
timeout 300 python3 "$here/drive.py" propagation "$api" "$dlv" "$admin" "$ws" "$env" "$sdk" "$writes"

# 2. GET /v1/config next to nginx serving the same bytes.
mkdir -p "$tmp/www"
# nginx workers may run as another user (nobody, when started as root).
chmod 711 "$tmp"; chmod 755 "$tmp/www"
curl -sf -H "Authorization: Bearer $sdk" "$dlv/v1/config" > "$tmp/www/config.json"
chmod 644 "$tmp/www/config.json"
echo "document: $(wc -c < "$tmp/www/config.json") bytes"
cat > "$tmp/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  types { application/json json; }
  server { listen 127.0.0.1:$ngport; root $tmp/www; }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" &
ngx=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$ngport/config.json" >/dev/null && break; sleep 0.1; done
cmp <(curl -sf "http://127.0.0.1:$ngport/config.json") "$tmp/www/config.json"

run() {  # wrk args… → "req/s p50 p99"
  timeout $((secs + 30)) wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" > "$tmp/wrk.out"
  if grep -q 'Non-2xx' "$tmp/wrk.out"; then cat "$tmp/wrk.out" >&2; exit 1; fi
  rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.out")
  p50=$(awk '$1=="50%" {print $2}' "$tmp/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$tmp/wrk.out")
  echo "$rps $p50 $p99"
}
read -r e_rps e_p50 e_p99 < <(run -H "Authorization: Bearer $sdk" "$dlv/v1/config")
read -r n_rps n_p50 n_p99 < <(run "http://127.0.0.1:$ngport/config.json")
# 3. Single-flag OFREP.
read -r o_rps o_p50 o_p99 < <(EV_SDK_KEY=$sdk EV_FLAG=$flag run -s "$here/ofrep.lua" "$dlv")
kill "$ngx"; wait "$ngx" 2>/dev/null || true; ngx=''
printf '%-22s %12s %10s %10s\n' target req/s p50 p99
printf '%-22s %12s %10s %10s\n' 'delivery /v1/config' "$e_rps" "$e_p50" "$e_p99"
printf '%-22s %12s %10s %10s\n' 'nginx static' "$n_rps" "$n_p50" "$n_p99"
printf '%-22s %12s %10s %10s\n' 'delivery OFREP 1 flag' "$o_rps" "$o_p50" "$o_p99"
awk -v a="$e_rps" -v b="$n_rps" -v o="$o_rps" \
  'BEGIN {printf "ratio delivery/nginx: %.2f; OFREP/nginx: %.2f\n", a/b, o/b}'

# 4. Peak RSS with many flags.
[ "$flags" -gt 0 ] || exit 0
grep -E 'VmHWM|VmRSS' "/proc/$dpid/status" | sed 's/^/delivery before the flags: /'
timeout $((flag_secs + 400)) python3 "$here/drive.py" manyflags "$api" "$dlv" "$admin" "$ws" "$env" \
  "$sdk" "$flags" "$flag_secs" "$data/control.db"
grep -E 'VmHWM|VmRSS' "/proc/$dpid/status" | sed 's/^/delivery after the flags: /'
