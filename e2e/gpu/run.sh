#!/usr/bin/env bash
# GPU end-to-end suite: every program runs natively and through the shim (LD_PRELOAD of our libcuda.so.1,
# AVEC_SERVER pointing at a standalone executor with the cuda backend); outputs are compared line by line
# ('#' lines are informational). Prepare on the development machine with `make gpu-e2e`, carry `.gpu`.
#   bash e2e/gpu/run.sh [--native-only] [--only REGEX] [--no-optional]
# Writes summary.txt, logs.tar.gz (every output, diff, executor log) to $OUT when set, else .gpu/results.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

NATIVE_ONLY=0 ONLY=. OPTIONAL=1
while [ $# -gt 0 ]; do
  case $1 in
    --native-only) NATIVE_ONLY=1 ;;
    --only) ONLY=$2; shift ;;
    --no-optional) OPTIONAL=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

RES=${OUT:-$G/results}
LOGS=$(mktemp -d /tmp/avec-e2e.XXXXXX)
mkdir -p "$RES"
SUMMARY=$RES/summary.txt
PORT=${AVEC_E2E_PORT:-7420}
CUDART_DIR=$(find_cudart)
export PYTHONUNBUFFERED=1

log() { echo "$*" | tee -a "$SUMMARY"; }
: >"$SUMMARY"
log "== avec GPU end-to-end =="
machine_info | tee -a "$SUMMARY"
python3 - <<'PY' 2>/dev/null | tee -a "$SUMMARY"
import importlib
for m in ("numpy", "numba", "numba_cuda", "torch", "cupy"):
    try:
        mod = importlib.import_module(m)
        print(f"python {m}: {getattr(mod, '__version__', '?')}")
    except Exception as e:
        print(f"python {m}: unavailable ({type(e).__name__})")
PY

# Tests: name|kind|command. kind: c (CUDA C++), nvml, py, opt (optional: reported, not counted).
TESTS=()
for v in static shared; do
  for p in device_query context_driver memory streams_events modules_driver launch procaddr_errors sgemm ptds_threads; do
    TESTS+=("$p.$v|c|$G/bin/$v/$p")
  done
done
TESTS+=("nvml_query|nvml|$G/bin/nvml_query")
TESTS+=("numba_suite|py|python3 $ROOT/e2e/gpu/python/numba_suite.py")
if [ $OPTIONAL = 1 ]; then
  TESTS+=("torch_smoke|opt|python3 $ROOT/e2e/gpu/python/torch_smoke.py")
  TESTS+=("cupy_smoke|opt|python3 $ROOT/e2e/gpu/python/cupy_smoke.py")
fi

if [ $NATIVE_ONLY = 0 ]; then
  for f in "$SHIM" "$SHIM_NVML" "$EXECUTOR"; do [ -e "$f" ] || log "MISSING: $f (run make gpu-e2e with the shim and executor built)"; done
  start_executor $PORT "$LOGS/executor.log" --log-level info || NATIVE_ONLY=2
fi
trap 'stop_pid "${EXEC_PID:-}"' EXIT

timed() {  # timed OUTFILE ERRFILE TIMEOUT cmd...: runs, sets RC and SECS
  local out=$1 err=$2 to=$3
  shift 3
  local t0=$(date +%s.%N)
  timeout -k 5 "$to" "$@" >"$out" 2>"$err"
  RC=$?
  SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b - a}')
}

pass=0 fail=0 opt_pass=0 opt_fail=0
TABLE=()
for t in "${TESTS[@]}"; do
  IFS='|' read -r name kind cmd <<<"$t"
  [[ $name =~ $ONLY ]] || continue
  env=(env LD_LIBRARY_PATH="$CUDART_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  timed "$LOGS/$name.native.out" "$LOGS/$name.native.err" 300 "${env[@]}" $cmd
  nrc=$RC nsecs=$SECS
  if [ $NATIVE_ONLY != 0 ]; then
    st=$([ $nrc = 0 ] && echo ok || echo "rc=$nrc")
    TABLE+=("$(printf '%-24s %9.3f %9s %7s  %s' "$name" "$nsecs" - - "native $st")")
    [ $nrc = 0 ] && pass=$((pass + 1)) || fail=$((fail + 1))
    continue
  fi
  pre=$SHIM
  [ "$kind" != c ] && pre="$SHIM:$SHIM_NVML"
  timed "$LOGS/$name.shim.out" "$LOGS/$name.shim.err" 300 "${env[@]}" LD_PRELOAD="$pre" \
    AVEC_SERVER=127.0.0.1:$PORT AVEC_LOG=${AVEC_LOG:-warn} $cmd
  src=$RC ssecs=$SECS
  grep -v '^#' "$LOGS/$name.native.out" >"$LOGS/$name.native.cmp"
  grep -v '^#' "$LOGS/$name.shim.out" >"$LOGS/$name.shim.cmp"
  diff -u "$LOGS/$name.native.cmp" "$LOGS/$name.shim.cmp" >"$LOGS/$name.diff"
  same=$?
  ndiff=$(grep -c '^[-+][^-+]' "$LOGS/$name.diff")
  if [ $nrc != 0 ]; then verdict="FAIL (native rc=$nrc)"
  elif [ $src = 124 ] || [ $src = 137 ]; then verdict="FAIL (shim timed out)"
  elif [ $src != $nrc ]; then verdict="FAIL (shim rc=$src, $ndiff differing lines)"
  elif [ $same != 0 ]; then verdict="FAIL ($ndiff differing lines)"
  else verdict=PASS; fi
  if [ "$kind" = opt ]; then
    [ "$verdict" = PASS ] && opt_pass=$((opt_pass + 1)) || opt_fail=$((opt_fail + 1))
    verdict="$verdict (optional)"
  else
    [ "$verdict" = PASS ] && pass=$((pass + 1)) || fail=$((fail + 1))
  fi
  ratio=$(awk -v a="$ssecs" -v b="$nsecs" 'BEGIN{printf "%.2f", b > 0 ? a / b : 0}')
  TABLE+=("$(printf '%-24s %9.3f %9.3f %7s  %s' "$name" "$nsecs" "$ssecs" "${ratio}x" "$verdict")")
  if [ "$verdict" != PASS ]; then
    {
      echo "---- $name: $verdict"
      head -40 "$LOGS/$name.diff"
      echo "-- shim stderr (last 15 lines):"
      tail -15 "$LOGS/$name.shim.err"
    } >>"$LOGS/failures.txt"
  fi
done

log ""
log "$(printf '%-24s %9s %9s %7s  %s' program native_s shim_s ratio result)"
for row in "${TABLE[@]}"; do log "$row"; done
log ""
if [ $NATIVE_ONLY = 0 ]; then
  log "optional (PyTorch, CuPy; not counted): $opt_pass passed, $opt_fail failed"
  [ -f "$LOGS/failures.txt" ] && { log ""; log "== failure details =="; cat "$LOGS/failures.txt" | tee -a "$SUMMARY"; }
  if [ -f "$LOGS/executor.log" ]; then
    log ""
    log "== executor log (last 30 lines) =="
    tail -30 "$LOGS/executor.log" | tee -a "$SUMMARY"
  fi
else
  [ $NATIVE_ONLY = 2 ] && log "(executor unavailable: native runs only)"
fi
log ""
log "$pass passed, $fail failed"
stop_pid "${EXEC_PID:-}"
tar -C "$LOGS" -czf "$RES/logs.tar.gz" . 2>/dev/null
rm -rf "$LOGS"
[ $fail = 0 ]
