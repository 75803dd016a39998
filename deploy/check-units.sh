#!/usr/bin/env bash
# Checks that every systemd unit in deploy/systemd runs a binary this build makes, with
# flags it accepts: each ExecStart is run from BIN_DIR with --version appended (the
# binaries parse every flag before they look at --version, so an unknown flag or a missing
# binary fails here). Registered in CTest as deploy_units.
#   deploy/check-units.sh BIN_DIR UNIT_DIR
set -u
bin_dir=$1
unit_dir=$2
passed=0
failed=0
for unit in "$unit_dir"/*.service; do
  exec_line=$(sed -n 's/^ExecStart=//p' "$unit")
  if [[ -z "$exec_line" ]]; then
    echo "FAIL $unit: no ExecStart"; failed=$((failed + 1)); continue
  fi
  # Expand the variables the units take from node.env, then run from the build.
  exec_line=${exec_line//\$\{EV_BIND_ADDRESS\}/127.0.0.1}
  read -r -a argv <<<"$exec_line"
  binary=$(basename "${argv[0]}")
  if [[ "${argv[0]}" != /usr/local/bin/* || ! -x "$bin_dir/$binary" ]]; then
    echo "FAIL $unit: $binary is not a binary of this build"; failed=$((failed + 1)); continue
  fi
  if out=$("$bin_dir/$binary" "${argv[@]:1}" --version 2>&1) && [[ "$out" == "$binary "* ]]; then
    passed=$((passed + 1))
  else
    echo "FAIL $unit: '$binary ${argv[*]:1}' is refused: $out"; failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
