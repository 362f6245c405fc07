#!/usr/bin/env bash
# CPU test of e2e/gpu/samples.sh: a stand-in samples tree whose "samples" are scripts that pass, fail only
# through the shim (they see AVEC_SERVER), fail natively, are waived, hang, or print a failure line; the
# runner's count line, failure list and plan must come out as expected. No GPU, shim or executor involved.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runner=$here/../../samples.sh
source "$here/../../lib.sh"  # free_port
t=$(mktemp -d /tmp/avec-samples-test.XXXXXX)
trap 'rm -rf "$t"' EXIT
mk() {  # mk CATEGORY/NAME BODY: a sample script
  mkdir -p "$t/samples/$1"
  printf '#!/usr/bin/env bash\n%s\n' "$2" >"$t/samples/$1/$(basename "$1")"
  chmod +x "$t/samples/$1/$(basename "$1")"
  echo "$1 $(basename "$1")" >>"$t/samples/list.txt"
}
mk 0_Introduction/good 'echo "Result = PASS"; exit 0'
mk 0_Introduction/plain 'echo done; exit 0'
mk 1_Utilities/shimrc 'if [ -n "${AVEC_SERVER:-}" ]; then echo "avec[1] warn: cuFoo not supported" >&2; echo boom; exit 1; fi; echo ok'
mk 2_Concepts/shimline 'if [ -n "${AVEC_SERVER:-}" ]; then echo "Test failed!"; else echo "Test passed"; fi'
mk 2_Concepts/timing 'echo "time $RANDOM$RANDOM ms, Result = PASS"'
mk 2_Concepts/nomarker 'if [ -z "${AVEC_SERVER:-}" ]; then echo "Test passed"; fi; exit 0'
mk 3_Features/natfail 'echo "FAILED"; exit 0'
mk 3_Features/waived 'echo "needs two GPUs, waiving"; exit 2'
mk 4_Libraries/hang 'sleep 30'
mk 4_Libraries/datafile '[ -f data/x.dat ] && echo "Result = PASS" || { echo "no data"; exit 1; }'
mkdir -p "$t/samples/4_Libraries/datafile/data"; : >"$t/samples/4_Libraries/datafile/data/x.dat"

export SAMPLES_DIR=$t/samples SAMPLES_SERVER=127.0.0.1:1 SAMPLES_SHIM=libm.so.6 SAMPLES_TIMEOUT=2
export OUT=$t/out SAMPLES_JOBS=3
rc=0
bash "$runner" >"$t/stdout" 2>&1 || rc=$?
fail=0
check() { grep -qE -- "$1" "$2" || { echo "test: missing /$1/ in $2:"; cat "$2"; fail=1; }; }
check '^cuda-samples: 4 of 7 natively passing samples pass through the shim$' "$t/stdout"
check '^  FAIL shimrc: rc=1$' "$t/stdout"
check 'shim: avec\[1\] warn: cuFoo not supported' "$t/stdout"
check '^  FAIL shimline: failure line$' "$t/stdout"
check "^natively not passing \(not counted\): 3$" "$t/stdout"
check '^  hang: timeout' "$t/stdout"
check '^  waived: waived' "$t/stdout"
check '^  natfail: failure line' "$t/stdout"
check '^FAIL cuda-samples: 57.1% \(target 99%\)' "$t/stdout"
check "^  FAIL nomarker: no 'Test passed'$" "$t/stdout"
check '^  datafile\|pass\|pass\|' "$t/out/cuda-samples.txt"
check '^  timing\|pass\|pass\|' "$t/out/cuda-samples.txt"
[ -f "$t/out/cuda-samples-logs.tar.gz" ] || { echo "test: no logs tarball"; fail=1; }
[ $rc = 1 ] || { echo "test: exit status $rc, want 1"; fail=1; }

SAMPLES_TIMEOUT=60 bash "$runner" --dry-run --only 'good|hang' >"$t/dry" 2>&1
check '^0_Introduction/good +timeout=60 +parallel +\./good$' "$t/dry"
check '^cuda-samples: 2 parallel \+ 0 serial samples' "$t/dry"
# With an executor of its own (the emulated backend: the stand-in samples never reach it), the runner must
# still end: it waits for its sample jobs, not for the executor. Needs .gpu/avec/avec-executor (make gpu-avec).
if [ -x "$here/../../../../.gpu/avec/avec-executor" ]; then
  rc=0
  env -u SAMPLES_SERVER AVEC_E2E_BACKEND=emulated AVEC_SAMPLES_PORT="$(free_port)" \
    timeout 60 bash "$runner" --only 'good|plain' >"$t/exec" 2>&1 || rc=$?
  [ $rc = 0 ] || { echo "test: with an executor, exit status $rc (124: it hung)"; cat "$t/exec"; fail=1; }
  check '^cuda-samples: 2 of 2 natively passing samples pass through the shim$' "$t/exec"
else
  echo "samples.sh test: no .gpu/avec/avec-executor, the run with an executor is skipped"
fi
[ $fail = 0 ] && echo "samples.sh test: 1 passed, 0 failed" || { echo "samples.sh test: 0 passed, 1 failed"; exit 1; }
