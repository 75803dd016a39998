#!/bin/sh
# Installs the SDK from a build directory into a scratch prefix, then builds the example
# program against it twice, as an outside project would: with CMake's find_package and with
# pkg-config. Each program must run (it prints its usage and exits 2 without arguments).
#   install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/edgevault/client.h"
if grep -n 'boost\|beast' "$prefix/include/edgevault/client.h"; then
  echo "the public header names Boost" >&2
  exit 1
fi
if [ "$(find "$prefix/include" -type f | wc -l)" -ne 1 ]; then
  echo "only include/edgevault/client.h may be installed as a header:" >&2
  find "$prefix/include" -type f >&2
  exit 1
fi

# find_package(edgevault-sdk)
cmake -S "$src/sdk/cpp/tests/consumer" -B "$scratch/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
rc=0
"$scratch/consumer/example" >/dev/null 2>&1 || rc=$?
test "$rc" -eq 2

# pkg-config edgevault-sdk
pc=$(find "$prefix" -name edgevault-sdk.pc)
test -n "$pc"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
# shellcheck disable=SC2046
c++ -std=c++20 -O1 -o "$scratch/example-pc" "$src/sdk/cpp/examples/example.cc" \
  $(pkg-config --cflags --libs edgevault-sdk)
rc=0
"$scratch/example-pc" >/dev/null 2>&1 || rc=$?
test "$rc" -eq 2
echo "installed, built and ran with find_package and pkg-config"
