#!/usr/bin/env bash
# Delivery's memory under document churn (docs/performance.md, "Memory under churn"): a
# workspace of FLAGS flags (default 5,000, a resolved document of about 1.4 MB), then WRITES
# config writes (default 400); after each, 4 clients poll GET /v1/config until they see it,
# so each new version is parsed and built on delivery's io threads. Prints delivery's VmRSS
# before the flags, then every WRITES/8 writes, and 4 s after the last, and how long each
# write took to reach all 4 readers (p50, p99).
# Usage: bench/delivery/churn.sh [BUILD_DIR]     env: EDGEVAULT_BIN_DIR, FLAGS, WRITES
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
bin=${EDGEVAULT_BIN_DIR:-$build/bin}
. "$here/lib.sh"
ev_up "$bin"
read -r ws env sdk _ < <(timeout 120 python3 "$here/drive.py" setup "$api" "$dlv" "$admin")
timeout 3600 python3 "$here/drive.py" churn "$api" "$dlv" "$admin" "$ws" "$env" "$sdk" \
  "${FLAGS:-5000}" "${WRITES:-400}" "$dpid" "$data/control.db"
