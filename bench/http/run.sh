#!/usr/bin/env bash
# wrk against net::HttpServer serving a fixed 1 KiB JSON body and against nginx serving
# the same bytes as a static file, in the same run, on 127.0.0.1. Prints req/s, p50,
# p99 and the ratio. Usage: bench/http/run.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
secs=${2:-10}
conns=${CONNS:-64}
tmp=$(mktemp -d)
trap 'kill $srv $ngx 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$build/bin/bench_http_server" 0 2 > "$tmp/port" &
srv=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")
curl -s "http://127.0.0.1:$port/1k.json" > "$tmp/1k.json"

ngport=$((port + 1))
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
  server { listen 127.0.0.1:$ngport; root $tmp; }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" &
ngx=$!
sleep 0.5

run() {  # url → "req/s p50 p99"
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$1" > "$tmp/wrk.out"
  rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.out")
  p50=$(awk '$1=="50%" {print $2}' "$tmp/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$tmp/wrk.out")
  echo "$rps $p50 $p99"
}
read -r e_rps e_p50 e_p99 < <(run "http://127.0.0.1:$port/1k.json")
read -r n_rps n_p50 n_p99 < <(run "http://127.0.0.1:$ngport/1k.json")
printf '%-10s %12s %10s %10s\n' server req/s p50 p99
printf '%-10s %12s %10s %10s\n' edgevault "$e_rps" "$e_p50" "$e_p99"
printf '%-10s %12s %10s %10s\n' nginx "$n_rps" "$n_p50" "$n_p99"
awk -v a="$e_rps" -v b="$n_rps" 'BEGIN {printf "ratio edgevault/nginx: %.2f\n", a/b}'
