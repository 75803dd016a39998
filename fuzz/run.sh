#!/usr/bin/env bash
# Runs the libFuzzer harnesses (docs/testing.md#fuzzing).
#   run.sh smoke BIN CORPUS WORK RUNS [DICT]     replay CORPUS, then RUNS mutated inputs
#                                                (seed 1): the CTest test fuzz.<name>
#   run.sh fuzz  BIN CORPUS WORK SECONDS [DICT]  fuzz for SECONDS; new inputs are kept in
#                                                WORK/corpus, crashes in WORK/artifacts
#   run.sh all   BUILD_DIR SECONDS               `fuzz` for every harness in
#                                                BUILD_DIR/fuzzers.txt, then a summary
# The committed corpus (CORPUS) is only read: libFuzzer writes new inputs into the first
# corpus directory it is given, which is always one under WORK.
# Prints "fuzz <name>: <executions> executions in <seconds> s, <n> new inputs" per harness;
# exits non-zero when a harness crashed (its output says where the reproducer is).
set -uo pipefail

run_one() {  # mode bin corpus work amount [dict]
  local mode=$1 bin=$2 corpus=$3 work=$4 amount=$5 dict=${6:-}
  local name
  name=$(basename "$bin")
  mkdir -p "$work/corpus" "$work/artifacts" "$corpus"
  local args=(-artifact_prefix="$work/artifacts/" -print_final_stats=1)
  [ -n "$dict" ] && args+=(-dict="$dict")
  local new_dir="$work/corpus"
  if [ "$mode" = smoke ]; then
    new_dir="$work/smoke-new"
    rm -rf "$new_dir" && mkdir -p "$new_dir"
    args+=(-seed=1 -runs="$amount")
  else
    args+=(-max_total_time="$amount")
  fi
  local log="$work/$mode.log"
  local before
  before=$(find "$new_dir" -type f | wc -l)
  "$bin" "${args[@]}" "$new_dir" "$corpus" >"$log" 2>&1
  local rc=$?
  local execs secs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  local after
  after=$(find "$new_dir" -type f | wc -l)
  if [ $rc -ne 0 ]; then
    echo "fuzz $name: FAILED (exit $rc) after ${execs:-?} executions; log: $log" >&2
    grep -E -A40 "ERROR: |fuzz property failed|check failed|==ERROR|runtime error|Test unit written" "$log" | head -80 >&2
    return 1
  fi
  echo "fuzz $name: ${execs:-?} executions in ${secs:-?} s, $((after - before)) new inputs"
}

case "${1:-}" in
  smoke|fuzz)
    run_one "$@"
    ;;
  all)
    build=$2 seconds=$3 failed=0
    while read -r name bin corpus dict; do
      run_one fuzz "$bin" "$corpus" "$build/fuzz-work/$name" "$seconds" "${dict#-}" || failed=1
    done <"$build/fuzzers.txt"
    exit $failed
    ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
