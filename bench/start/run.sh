#!/usr/bin/env bash
# Start time of `edgevault up` (issue: healthy in under 0.5 s): from launching it to its
# "EdgeVault is up" line (every service answered /healthz), on a new data directory, on
# restarts of that small one, and on restarts of one holding FLAGS flags in one workspace.
# Results go to docs/performance.md ("Start").
# Usage: bench/start/run.sh [BUILD_DIR]
#   env: EDGEVAULT_BIN_DIR (default BUILD_DIR/bin), FLAGS (1000), ROUNDS (5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
bin=${EDGEVAULT_BIN_DIR:-$build/bin}
flags=${FLAGS:-1000}
rounds=${ROUNDS:-5}
. "$here/../delivery/lib.sh"
data=$tmp/data

# Starts `up` and sets ms to the milliseconds until it reported everything healthy; leaves
# it running (pid in $ev).
timed_up() {
  : > "$tmp/up.log"
  local t0 t1
  t0=$(date +%s%N)
  "$bin/edgevault" up --data-dir "$data" --port-base 0 > "$tmp/up.log" 2>&1 &
  ev=$!
  for _ in $(seq 3000); do
    grep -q 'EdgeVault is up' "$tmp/up.log" && break
    kill -0 "$ev" 2>/dev/null || { cat "$tmp/up.log"; exit 1; }
    sleep 0.005
  done
  t1=$(date +%s%N)
  grep -q 'EdgeVault is up' "$tmp/up.log" || { echo "edgevault up did not start"; cat "$tmp/up.log"; exit 1; }
  ms=$(( (t1 - t0) / 1000000 ))
}
stop_up() {
  kill -TERM "$ev"
  wait "$ev" || true
  ev=''
}
report() {  # label, then the times
  local label=$1; shift
  printf '%s' "$label:"
  printf ' %s' "$@"
  printf ' ms; median %s ms\n' "$(printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
}

timed_up
first=$ms
api=http://127.0.0.1:$(cat "$data/run/api.port")
admin=$(cat "$data/bootstrap-admin.key")
stop_up
echo "new data directory: $first ms"
small=()
for _ in $(seq "$rounds"); do timed_up; small+=("$ms"); stop_up; done
report "restart, empty data directory" "${small[@]}"

timed_up
api=http://127.0.0.1:$(cat "$data/run/api.port")
timeout 600 python3 "$here/populate.py" "$api" "$admin" "$flags" "$data/control.db"
stop_up
echo "data directory with $flags flags: $(du -sh "$data" | cut -f1), audit warehouse $(du -sh "$data/audit" | cut -f1)"
big=()
for _ in $(seq "$rounds"); do timed_up; big+=("$ms"); stop_up; done
report "restart, $flags flags" "${big[@]}"
