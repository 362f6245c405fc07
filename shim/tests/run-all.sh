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
# the integration runner's total already includes its programs' lines: count the suites' own totals only
total=$(grep -E '^(shim unit|shim transport|shim exports|shim integration): [0-9]+ passed, [0-9]+ failed' "$log" |
  sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/' | awk '{p+=$1; f+=$2} END {print p+0, f+0}')
read -r p f <<<"$total"
echo "test-shim: $p passed, $f failed"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
