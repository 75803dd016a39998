#!/bin/sh
# The crash campaign, longer than the short form `make test` runs (docs/testing.md).
#   tests/crash/campaign.sh [KILLS [SEED]]     default 30 kills, a random seed
# Needs a build in $BUILD (default build/): `make build` first.
set -eu
kills=${1:-30}
build=${BUILD:-build}
export EDGEVAULT_CRASH_KILLS="$kills"
[ $# -ge 2 ] && export EDGEVAULT_CRASH_SEED="$2"
export EDGEVAULT_BIN_DIR="${EDGEVAULT_BIN_DIR:-$build/bin}"
exec "$build/tests/crash_campaign_test" --gtest_brief=0
