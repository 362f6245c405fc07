#!/usr/bin/env bash
# What does cuFFT do around slot 7 of export table 6e163fbe (F17)? Runs one small CuPy FFT plan twice:
# natively under the export-table tracer (slot 7's callback and the module/function driver calls cuFFT
# makes around it are logged) and through the shim with AVEC_LOG=debug against a local executor.
#   bash e2e/gpu/trace_cufft.sh
# Full logs: $OUT (else .gpu/results)/trace-cufft-native.log and trace-cufft-shim.log.gz; a summary is printed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
LIB=$G/bin/libexptrace.so
RES=${OUT:-$G/results}
mkdir -p "$RES"
W=$(mktemp -d /tmp/avec-cufft.XXXXXX)
[ -f "$LIB" ] || { echo "FAIL trace: $LIB missing (make gpu-e2e)"; exit 1; }
FUNCS=cuModuleLoadData,cuModuleLoadDataEx,cuModuleLoadFatBinary,cuModuleUnload,cuModuleGetFunction
FUNCS=$FUNCS,cuModuleGetGlobal_v2,cuModuleGetFunctionCount,cuModuleEnumerateFunctions,cuLibraryLoadData
FUNCS=$FUNCS,cuLibraryGetKernel,cuLibraryGetModule,cuKernelGetFunction,cuFuncGetAttribute,cuFuncSetAttribute
FUNCS=$FUNCS,cuFuncSetCacheConfig,cuFuncGetName,cuFuncGetModule,cuFuncGetParamInfo,cuFuncIsLoaded,cuFuncLoad
FUNCS=$FUNCS,cuLaunchKernel,cuLaunchKernelEx,cuOccupancyMaxActiveBlocksPerMultiprocessor
FUNCS=$FUNCS,cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags,cuCtxGetCurrent,cuModuleGetLoadingMode
cat >"$W/fft.py" <<'PY'
import numpy as np
import cupy as cp
x = cp.asarray(np.arange(1024, dtype=np.complex64))
y = cp.fft.fft(x)
cp.cuda.runtime.deviceSynchronize()
print("fft[1]", complex(y[1]))
PY
echo "== cuFFT slot-7 trace (native, tracer) =="
env -u LD_PRELOAD -u AVEC_SERVER EXPTRACE_UUIDS=6e163fbe EXPTRACE_PRE=1 EXPTRACE_CALLBACKS=1 EXPTRACE_FUNCS=$FUNCS \
  LD_PRELOAD="$LIB" timeout 120 python3 "$W/fft.py" >"$W/native.out" 2>"$RES/trace-cufft-native.log"
echo "native rc=$? $(cat "$W/native.out")"
grep -c '^exptrace fn' "$RES/trace-cufft-native.log" | sed 's/^/driver calls logged: /'
echo "-- around slot 7 (20 lines before, 40 after the first call)"
n=$(grep -n 'slot 7 call' "$RES/trace-cufft-native.log" | head -1 | cut -d: -f1)
[ -n "$n" ] && sed -n "$((n > 20 ? n - 20 : 1)),$((n + 40))p" "$RES/trace-cufft-native.log" | cut -c1-400
echo "-- driver calls after slot 7, by function"
[ -n "$n" ] && tail -n +"$n" "$RES/trace-cufft-native.log" | awk '$2 == "fn" {c[$3]++} END {for (k in c) print c[k], k}' | sort -rn

echo "== through the shim (AVEC_LOG=debug) =="
port=7465
start_executor $port "$W/executor.log" --log-level debug || { echo "FAIL: executor did not start"; exit 2; }
env AVEC_LOG=debug LD_PRELOAD="$SHIM:$SHIM_NVML" AVEC_SERVER=127.0.0.1:$port PYTHONFAULTHANDLER=1 timeout 120 \
  python3 "$W/fft.py" >"$W/shim.out" 2>"$W/shim.err"
echo "shim rc=$? $(cat "$W/shim.out")"
stop_pid "$EXEC_PID"
grep -n '6e163fbe\|fatal\|Error\|error' "$W/shim.err" | head -40 | cut -c1-400
echo "-- after the first slot 7 (60 lines)"
n=$(grep -n 'slot 7' "$W/shim.err" | head -1 | cut -d: -f1)
[ -n "$n" ] && sed -n "$n,$((n + 60))p" "$W/shim.err" | cut -c1-300
gzip -c "$W/shim.err" >"$RES/trace-cufft-shim.log.gz"
grep -E '"level":"(error|warn)"' "$W/executor.log" | tail -10 | cut -c1-300
rm -rf "$W"
