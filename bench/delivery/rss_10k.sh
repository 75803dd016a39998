#!/usr/bin/env bash
# Peak RSS of edgevault-delivery holding a 10,000-flag document, next to the same process
# holding an empty workspace, in one run against the real binaries (docs/performance.md):
#   1. `edgevault up` on free loopback ports in a temporary data directory;
#   2. workspace "empty" (one environment, no items): delivery loads it (5 × GET
#      /v1/config, 5 single-flag and one bulk OFREP request) → VmHWM / VmRSS;
#   3. workspace "bench": FLAGS flags (a rule + a 50/50 rollout each) created through the
#      api, one PUT each (the api has no bulk write); once delivery serves the last one,
#      the same requests → VmHWM / VmRSS, and the document size.
# VmHWM is the process's peak since it started, so the empty case is measured first.
# Usage: bench/delivery/rss_10k.sh [BUILD_DIR]
#   env: EDGEVAULT_BIN_DIR (default BUILD_DIR/bin), FLAGS (10000), FLAG_SECONDS (1200)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
bin=${EDGEVAULT_BIN_DIR:-$build/bin}
flags=${FLAGS:-10000}
flag_secs=${FLAG_SECONDS:-1200}
. "$here/lib.sh"
ev_up "$bin"
mem() { awk '/VmHWM|VmRSS/ {printf "%s %s kB  ", $1, $2}' "/proc/$dpid/status"; echo; }

timeout 120 python3 "$here/drive.py" empty "$api" "$dlv" "$admin"
echo "delivery, empty workspace loaded: $(mem)"

read -r ws env sdk _ < <(timeout 120 python3 "$here/drive.py" setup "$api" "$dlv" "$admin")
timeout $((flag_secs + 400)) python3 "$here/drive.py" manyflags "$api" "$dlv" "$admin" "$ws" "$env" \
  "$sdk" "$flags" "$flag_secs" "$data/control.db"
echo "delivery, $flags-flag workspace loaded: $(mem)"
