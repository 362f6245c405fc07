#!/usr/bin/env bash
# All shim tests: unit, transport, export checks, integration against the emulated executor.
# Ends with one "N passed, M failed" line over all of them.
# Usage: run-all.sh SHIM_BUILD_DIR EXECUTOR   (CUDA_HOME for the shared cudart)
set -u
out=${1:-build/shim}
exe=${2:-build/native/avec-executor}
log=$(mktemp /tmp/avec-shim-tests-XXXXXX)
trap 'rm -f "$log"' EXIT
rc=0
run() { "$@" 2>&1 | tee -a "$log" | grep -v ' error: connection to 127.0.0.1\| error: malformed reply from 127.0.0.1'; [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1; }
run "$out/tests/unit_test" shim/tests/data "$out/tests/kernels.fatbin"
run "$out/tests/transport_test"
run shim/tests/check-exports.sh "$out"
run shim/tests/run-integration.sh "$out" "$exe"
# a short fuzz run of the transport's reply handling (seeds in shim/tests/fuzz/seeds)
if [ -x "$out/tests/reply_fuzz" ]; then
  corpus=$(mktemp -d /tmp/avec-shim-fuzz-XXXXXX)
  cp shim/tests/fuzz/seeds/* "$corpus/"
  if "$out/tests/reply_fuzz" -max_total_time=10 -max_len=20000 -print_final_stats=1 "$corpus" >"$corpus.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$corpus.log")
    echo "shim fuzz: 1 passed, 0 failed ($runs inputs, no crash)" | tee -a "$log"
  else
    grep -E 'ERROR|SUMMARY|crash-' "$corpus.log" | head -5
    echo "shim fuzz: 0 passed, 1 failed" | tee -a "$log"
    rc=1
  fi
  rm -rf "$corpus" "$corpus.log"
else
  # clang is in hack/apt-packages.txt (make deps): a machine without it cannot claim the fuzzing ran
  echo "shim fuzz: 0 passed, 1 failed (no reply fuzzer: clang/libFuzzer missing; run make deps)" | tee -a "$log"
  rc=1
fi
# the integration runner's total already includes its programs' lines: count the suites' own totals only
total=$(grep -E '^(shim unit|shim transport|shim exports|shim integration|shim fuzz): [0-9]+ passed, [0-9]+ failed' "$log" |
  sed -E 's/^[^:]*: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' | awk '{p+=$1; f+=$2} END {print p+0, f+0}')
read -r p f <<<"$total"
echo "test-shim: $p passed, $f failed"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
