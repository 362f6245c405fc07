#!/usr/bin/env bash
# Which private export-table slots does CuPy's float32 512x512 matmul (cuBLAS -> cuBLASLt) call? Runs it
# natively (no shim) under the export-table tracer (.gpu/bin/libexptrace.so, built by make gpu-e2e) and
# prints the distinct (table, slot) pairs with their call counts and one sample line each.
#   bash e2e/gpu/trace_cupy_matmul.sh [UUID_PREFIXES]   # default 21318c60; "all" traces every table
# The full log goes to $OUT (else .gpu/results)/exptrace-cupy-matmul.log.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
LIB=$G/bin/libexptrace.so
RES=${OUT:-$G/results}
mkdir -p "$RES"
LOG=$RES/exptrace-cupy-matmul.log
[ -f "$LIB" ] || { echo "FAIL trace: $LIB missing (make gpu-e2e)"; exit 1; }
echo "== export-table trace of a CuPy float32 512x512 matmul (native), tables: ${1:-21318c60} =="
env -u LD_PRELOAD -u AVEC_SERVER EXPTRACE_UUIDS="${1:-21318c60}" LD_PRELOAD="$LIB" python3 - 2>"$LOG" <<'PY'
import numpy as np
import cupy as cp
rng = np.random.default_rng(1)
a = rng.integers(-8, 8, size=(512, 512)).astype(np.float32)
b = rng.integers(-8, 8, size=(512, 512)).astype(np.float32)
c = cp.asarray(a) @ cp.asarray(b)
cp.cuda.runtime.deviceSynchronize()
print("matmul exact:", bool(np.array_equal(cp.asnumpy(c), a @ b)))
PY
rc=$?
echo "python rc=$rc; log: $LOG ($(wc -l <"$LOG") lines)"
grep '^exptrace table' "$LOG" | sort | uniq -c
echo "-- (table, slot): calls, first call"
awk '$1 == "exptrace" && $3 == "slot" && $5 == "args" {
  k = $2 " slot " $4; n[k]++; if (!(k in s)) s[k] = $0
} END { for (k in n) printf "%-22s %6d  %s\n", k, n[k], s[k] }' "$LOG" | sort
if [ $rc = 0 ] && grep -q '^exptrace [0-9a-f]* slot [0-9]* args ' "$LOG"; then
  echo "PASS trace: slot calls recorded"
else
  echo "FAIL trace: rc=$rc, $(grep -c '^exptrace [0-9a-f]* slot [0-9]* args ' "$LOG") slot calls; stderr tail:"
  grep -v '^exptrace [0-9a-f]* slot [0-9]* args ' "$LOG" | tail -20
  echo "(a slot that crashes shows as its last 'call' line with EXPTRACE_PRE=1 in the environment)"
  exit 1
fi
