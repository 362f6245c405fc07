#!/usr/bin/env bash
# GPU end-to-end suite: every program runs natively and through the shim (LD_PRELOAD of our libcuda.so.1,
# AVEC_SERVER pointing at a standalone executor with the cuda backend); outputs are compared line by line
# ('#' lines are informational). Prepare on the development machine with `make gpu-e2e`, carry `.gpu`.
#   bash e2e/gpu/run.sh [--native-only] [--only REGEX] [--no-optional] [--no-faults] [--tag NAME]
# (AVEC_LOG=debug in the environment is passed to the shim; --tag NAME names the result files.)
# E2E_ONLY=PART[,PART...] runs only those parts: programs (CUDA C++ and NVML), frameworks (numba, JAX, CuPy,
# PyTorch programs), numba (numba-cuda's own test suites: third_party.sh, ~8 min; NUMBA_SUITES/NUMBA_K
# narrow it), samples (NVIDIA's CUDA samples: samples.sh, ~5 min; needs make gpu-samples), faults. Default: all.
# After the comparisons, fault and limit checks (shim only): server unreachable, session memory limit
# (cuMemGetInfo, OOM past it, NVML total), session executor killed mid-call, client killed mid-session,
# isolation (another session's address is refused), four concurrent sessions.
# Writes summary[-TAG].txt, logs[-TAG].tar.gz (every output, diff, executor log) to $OUT when set, else .gpu/results.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

NATIVE_ONLY=0 ONLY=. OPTIONAL=1 FAULTS=1 TAG=
while [ $# -gt 0 ]; do
  case $1 in
    --native-only) NATIVE_ONLY=1 ;;
    --only) ONLY=$2; shift ;;
    --no-optional) OPTIONAL=0 ;;
    --no-faults) FAULTS=0 ;;
    --tag) TAG=-$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

RES=${OUT:-$G/results}
LOGS=$(mktemp -d /tmp/avec-e2e.XXXXXX)
mkdir -p "$RES"
SUMMARY=$RES/summary$TAG.txt
PORT=${AVEC_E2E_PORT:-7420}
CUDART_DIR=$(find_cudart)
export PYTHONUNBUFFERED=1

log() { echo "$*" | tee -a "$SUMMARY"; }
: >"$SUMMARY"
log "== avec GPU end-to-end =="
machine_info | tee -a "$SUMMARY"
python3 - <<'PY' 2>/dev/null | tee -a "$SUMMARY"
import importlib
for m in ("numpy", "numba", "numba_cuda", "torch", "cupy", "jax", "jaxlib", "pytest", "xdist"):
    try:
        mod = importlib.import_module(m)
        print(f"python {m}: {getattr(mod, '__version__', '?')}")
    except Exception as e:
        print(f"python {m}: unavailable ({type(e).__name__})")
PY

PARTS=,${E2E_ONLY:-programs,frameworks,numba,samples,faults},
part() { [[ $PARTS == *,$1,* ]]; }
part_of() { case $1 in c | cx | nvml) echo programs ;; *) echo frameworks ;; esac; }

# Tests: name|kind|command[|expect]. kind: c (CUDA C++), cx (CUDA C++ whose native run is expected to fail:
# the shim must fail the same way, same exit status), nvml, py, opt (optional: reported, not counted).
# expect: an extended regex that some line of the shim's stdout must match (a documented difference from
# the native run, printed as '#' lines so the comparison skips them).
TESTS=()
for v in static shared; do
  for p in device_query context_driver memory streams_events modules_driver launch procaddr_errors sgemm ptds_threads ordering \
    mempool ipc managed tex2d_linear tex_layered_cube surf_write array3d vmm device_printf; do
    TESTS+=("$p.$v|c|$G/bin/$v/$p")
  done
  # host functions in a capture run in this process, called back by the server (compared like any line)
  TESTS+=("graphs.$v|c|$G/bin/$v/graphs")
done
# CUDA_VISIBLE_DEVICES: a hidden device (ordinal past the end) and selection by GPU-UUID prefix.
TESTS+=("device_query.cvd_hidden|cx|env CUDA_VISIBLE_DEVICES=$(($(nvidia-smi -L 2>/dev/null | wc -l) + 0)) $G/bin/static/device_query")
uuid=$(nvidia-smi -L 2>/dev/null | sed -n '1s/.*(UUID: \(GPU-[0-9a-f]\{8\}\).*/\1/p')
[ -n "$uuid" ] && TESTS+=("device_query.cvd_uuid|c|env CUDA_VISIBLE_DEVICES=$uuid $G/bin/static/device_query")
TESTS+=("nvml_query|nvml|$G/bin/nvml_query")
TESTS+=("numba_suite|py|python3 $ROOT/e2e/gpu/python/numba_suite.py")
# Framework programs (python/*_program.py; '~' lines compared with a tolerance, see lib.sh compare_outputs).
PY=$ROOT/e2e/gpu/python
TESTS+=("jax_program|py|env XLA_PYTHON_CLIENT_PREALLOCATE=false python3 $PY/jax_program.py")
# The same without XLA's CUDA-graph command buffers: separates what graphs (issue 11) block from the rest.
TESTS+=("jax_program.no_graphs|py|env XLA_PYTHON_CLIENT_PREALLOCATE=false python3 $PY/jax_program.py --no-graphs")
TESTS+=("cupy_program|py|python3 $PY/cupy_program.py")
TESTS+=("cupy_program.async_pool|py|python3 $PY/cupy_program.py --async-pool")
TESTS+=("torch_program.expandable|py|env PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python3 $PY/torch_program.py")
TESTS+=("graphs_program|py|python3 $PY/graphs_program.py")
TESTS+=("torch_program.async|py|env PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync python3 $PY/torch_program.py")
if [ $OPTIONAL = 1 ]; then
  TESTS+=("torch_smoke|opt|python3 $ROOT/e2e/gpu/python/torch_smoke.py")
  TESTS+=("cupy_smoke|opt|python3 $ROOT/e2e/gpu/python/cupy_smoke.py")
fi

# The numba and samples parts start executors of their own: this one only serves the parts below.
if [ $NATIVE_ONLY = 0 ] && { part programs || part frameworks || part faults; }; then
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
row() { TABLE+=("$1"); echo "[e2e] $1"; }  # a result row, also printed at once (a run cut short still shows it)
for t in "${TESTS[@]}"; do
  IFS='|' read -r name kind cmd expect <<<"$t"
  [[ $name =~ $ONLY ]] || continue
  part "$(part_of "$kind")" || continue
  env=(env LD_LIBRARY_PATH="$CUDART_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  timed "$LOGS/$name.native.out" "$LOGS/$name.native.err" 300 "${env[@]}" $cmd
  nrc=$RC nsecs=$SECS
  if [ $NATIVE_ONLY != 0 ]; then
    st=$([ $nrc = 0 ] && echo ok || echo "rc=$nrc")
    row "$(printf '%-24s %9.3f %9s %7s  %s' "$name" "$nsecs" - - "native $st")"
    [ $nrc = 0 ] && pass=$((pass + 1)) || fail=$((fail + 1))
    continue
  fi
  pre=$SHIM
  [ "$kind" != c ] && [ "$kind" != cx ] && pre="$SHIM:$SHIM_NVML"
  timed "$LOGS/$name.shim.out" "$LOGS/$name.shim.err" 300 "${env[@]}" LD_PRELOAD="$pre" \
    AVEC_SERVER=127.0.0.1:$PORT AVEC_LOG=${AVEC_LOG:-warn} $cmd
  src=$RC ssecs=$SECS
  compare_outputs "$LOGS/$name.native.out" "$LOGS/$name.shim.out" "$LOGS/$name.diff"
  same=$?
  grep -v '^#' "$LOGS/$name.native.out" >"$LOGS/$name.native.cmp"  # the reference of fault.concurrent
  ndiff=$(grep -c '^[-+][^-+]' "$LOGS/$name.diff")
  if [ $nrc != 0 ] && [ "$kind" != cx ]; then verdict="FAIL (native rc=$nrc)"
  elif [ $nrc = 0 ] && [ "$kind" = cx ]; then verdict="FAIL (native run expected to fail, rc=0)"
  elif [ $src = 124 ] || [ $src = 137 ]; then verdict="FAIL (shim timed out)"
  elif [ $src != $nrc ]; then verdict="FAIL (shim rc=$src, $ndiff differing lines)"
  elif [ $same != 0 ]; then verdict="FAIL ($ndiff differing lines)"
  elif [ -n "$expect" ] && ! grep -qE "$expect" "$LOGS/$name.shim.out"; then verdict="FAIL (shim output lacks /$expect/)"
  else verdict=PASS; fi
  if [ "$kind" = opt ]; then
    [ "$verdict" = PASS ] && opt_pass=$((opt_pass + 1)) || opt_fail=$((opt_fail + 1))
    verdict="$verdict (optional)"
  else
    [ "$verdict" = PASS ] && pass=$((pass + 1)) || fail=$((fail + 1))
  fi
  ratio=$(awk -v a="$ssecs" -v b="$nsecs" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}')
  row "$(printf '%-24s %9.3f %9.3f %7s  %s' "$name" "$nsecs" "$ssecs" "${ratio}x" "$verdict")"
  if [[ $verdict != PASS* ]]; then
    {
      echo "---- $name: $verdict"
      head -40 "$LOGS/$name.diff"
      [ -n "$expect" ] && { echo "-- shim lines for /$expect/:"; grep '^#' "$LOGS/$name.shim.out" | head -5; }
      if [ $nrc != 0 ] && [ "$kind" != cx ]; then
        echo "-- native run:"
        stderr_digest "$LOGS/$name.native.err" 15
      fi
      echo "-- shim run:"
      stderr_digest "$LOGS/$name.shim.err" 15
    } >>"$LOGS/failures.txt"
  fi
done

# ---- numba-cuda's own test suites (issue 6): third_party.sh, natively and through the shim at once ----
NUMBA_SUMMARY=
if part numba && [[ numba-cuda =~ $ONLY ]]; then
  if [ $NATIVE_ONLY != 0 ]; then
    row "$(printf '%-24s %9s %9s %7s  %s' numba-cuda - - - "not run (native only)")"
  else
    t0=$(date +%s)
    OUT=$RES AVEC_NUMBA_PORT=$((PORT + 20)) bash "$ROOT/e2e/gpu/third_party.sh" 2>&1 | tee "$LOGS/numba-cuda.txt"
    secs=$(($(date +%s) - t0))
    for suite in $(echo "${NUMBA_SUITES:-cudadrv cudapy}" | tr ',' ' '); do
      line=$(grep -E "^(PASS|FAIL) numba-cuda $suite:" "$LOGS/numba-cuda.txt" | tail -1)
      [ -n "$line" ] || line="FAIL numba-cuda $suite: no result (see $LOGS/numba-cuda.txt in the logs)"
      [[ $line == PASS* ]] && pass=$((pass + 1)) || fail=$((fail + 1))
      row "$(printf '%-24s %9s %9s %7s  %s' "numba-cuda.$suite" - "$secs" - "${line%% numba-cuda*} (${line#*: })")"
    done
    # For the summary: the count lines, reasons and warnings, not the per-test lists (those are in $RES).
    NUMBA_SUMMARY=$(grep -vE '^    (FAIL|SKIP|MISSING) ' "$LOGS/numba-cuda.txt")
  fi
fi

# ---- NVIDIA's public CUDA samples (issue 11): samples.sh, natively and through the shim ----
SAMPLES_SUMMARY=
if part samples && [[ cuda-samples =~ $ONLY ]]; then
  if [ $NATIVE_ONLY != 0 ]; then
    row "$(printf '%-24s %9s %9s %7s  %s' cuda-samples - - - "not run (native only)")"
  else
    t0=$(date +%s)
    OUT=$RES AVEC_SAMPLES_PORT=$((PORT + 40)) bash "$ROOT/e2e/gpu/samples.sh" 2>&1 | tee "$LOGS/cuda-samples.txt"
    secs=$(($(date +%s) - t0))
    line=$(grep -E '^(PASS|FAIL) cuda-samples' "$LOGS/cuda-samples.txt" | tail -1)
    count=$(grep -E '^cuda-samples: ' "$LOGS/cuda-samples.txt" | tail -1)
    [ -n "$line" ] || line="FAIL cuda-samples: no result (see $LOGS/cuda-samples.txt in the logs)"
    [[ $line == PASS* ]] && pass=$((pass + 1)) || fail=$((fail + 1))
    row "$(printf '%-24s %9s %9s %7s  %s' cuda-samples - "$secs" - "${line%% cuda-samples*} (${count#cuda-samples: })")"
    SAMPLES_SUMMARY=$(grep -v '^\[samples\]' "$LOGS/cuda-samples.txt")
  fi
fi

# ---- faults and limits (issue 2, items 6 and 7): through the shim only ----
fault() {  # fault NAME OK DETAIL
  local v=PASS
  [ "$2" = 1 ] || v="FAIL ($3)"
  [ "$v" = PASS ] && pass=$((pass + 1)) || fail=$((fail + 1))
  row "$(printf '%-24s %9s %9s %7s  %s' "$1" - "${SECS:--}" - "$v")"
  echo "$1: $v; $3" >>"$LOGS/faults.txt"
}
children() { ps -o pid=,stat= --ppid "$1" 2>/dev/null | awk '$2 !~ /^Z/ {print $1}'; }
is_alive() { [ -r /proc/$1/stat ] && ! awk '{exit !($3 == "Z")}' /proc/$1/stat; }  # zombies count as gone
SHIMENV=(env LD_LIBRARY_PATH="$CUDART_DIR" LD_PRELOAD="$SHIM" AVEC_LOG=${AVEC_LOG:-warn})
if [ $NATIVE_ONLY = 0 ] && [ $FAULTS = 1 ] && part faults; then
  if [[ fault.unreachable =~ $ONLY ]]; then
    timed "$LOGS/fault.unreachable.out" "$LOGS/fault.unreachable.err" 60 "${SHIMENV[@]}" AVEC_SERVER=127.0.0.1:9 \
      AVEC_LOG=error "$G/bin/static/device_query"
    named=$(grep -c '127.0.0.1:9' "$LOGS/fault.unreachable.err")
    ok=0; [ $RC != 0 ] && [ $RC != 124 ] && [ $RC != 137 ] && [ "$named" -ge 1 ] && ok=1
    fault fault.unreachable $ok "rc=$RC in ${SECS}s, $named stderr line(s) name the endpoint: $(head -c 300 "$LOGS/fault.unreachable.err" | tr '\n' ' ')"
  fi
  if [[ fault.memlimit =~ $ONLY ]]; then
    LIM=1073741824
    MAIN_PID=${EXEC_PID:-}
    if start_executor $((PORT + 1)) "$LOGS/executor-limit.log" --memory-limit $LIM --log-level info; then
      LIMPID=$EXEC_PID
      timed "$LOGS/fault.memlimit.out" "$LOGS/fault.memlimit.err" 120 "${SHIMENV[@]}" AVEC_SERVER=127.0.0.1:$((PORT + 1)) \
        "$G/bin/static/memlimit" $LIM
      printf '%s\n' "[memlimit]" "total equals limit: 1" "alloc half: ok" "alloc past limit: cudaErrorMemoryAllocation" \
        "driver alloc past limit: CUDA_ERROR_OUT_OF_MEMORY" "alloc after free: ok" "errors: 0" >"$LOGS/fault.memlimit.want"
      grep -v '^#' "$LOGS/fault.memlimit.out" | diff "$LOGS/fault.memlimit.want" - >"$LOGS/fault.memlimit.diff"
      ok=$([ $? = 0 ] && [ $RC = 0 ] && echo 1 || echo 0)
      fault fault.memlimit $ok "rc=$RC; $(tr '\n' ' ' <"$LOGS/fault.memlimit.diff" | head -c 400)"
      timed "$LOGS/fault.nvml_limit.out" "$LOGS/fault.nvml_limit.err" 60 "${SHIMENV[@]}" LD_PRELOAD="$SHIM:$SHIM_NVML" \
        AVEC_SERVER=127.0.0.1:$((PORT + 1)) "$G/bin/nvml_query"
      ok=0; grep -q "memory total=$LIM " "$LOGS/fault.nvml_limit.out" && [ $RC = 0 ] && ok=1
      fault fault.nvml_limit $ok "rc=$RC; $(grep 'memory total' "$LOGS/fault.nvml_limit.out")"
      # Stream-ordered pool memory counts against the limit too (issue 6).
      timed "$LOGS/fault.pool_limit.out" "$LOGS/fault.pool_limit.err" 60 "${SHIMENV[@]}" AVEC_SERVER=127.0.0.1:$((PORT + 1)) \
        "$G/bin/static/mempool" --over $((LIM + LIM / 2))
      printf '%s\n' "pool alloc past limit: cudaErrorMemoryAllocation" "pool alloc of 1 MiB after: cudaSuccess" >"$LOGS/fault.pool_limit.want"
      ok=0; diff "$LOGS/fault.pool_limit.want" "$LOGS/fault.pool_limit.out" >/dev/null && [ $RC = 0 ] && ok=1
      fault fault.pool_limit $ok "rc=$RC; $(tr '\n' ' ' <"$LOGS/fault.pool_limit.out"; tail -2 "$LOGS/fault.pool_limit.err" | tr '\n' ' ')"
      stop_pid $LIMPID
    else
      fault fault.memlimit 0 "executor with --memory-limit did not start"
    fi
    EXEC_PID=$MAIN_PID
  fi
  if [[ fault.executor_killed =~ $ONLY ]] && [ -n "${EXEC_PID:-}" ]; then
    "${SHIMENV[@]}" AVEC_SERVER=127.0.0.1:$PORT timeout -k 5 60 "$G/bin/static/bench_gpu" --skip copy,sgemm \
      --launches 1000 --sync-iters 100000000 >"$LOGS/fault.executor_killed.out" 2>"$LOGS/fault.executor_killed.err" &
    CPID=$!
    sleep 4
    kids=$(children $EXEC_PID)
    t0=$(date +%s.%N)
    [ -n "$kids" ] && kill -9 $kids
    wait $CPID
    RC=$?
    SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b - a}')
    ok=0; [ -n "$kids" ] && [ $RC != 0 ] && [ $RC != 124 ] && [ $RC != 137 ] && awk -v s=$SECS 'BEGIN{exit !(s < 15)}' && ok=1
    fault fault.executor_killed $ok "session child(ren) '$kids' killed; client rc=$RC ${SECS}s after; $(tail -2 "$LOGS/fault.executor_killed.out" | tr '\n' ' ')"
    timed "$LOGS/fault.after_kill.out" "$LOGS/fault.after_kill.err" 60 "${SHIMENV[@]}" AVEC_SERVER=127.0.0.1:$PORT "$G/bin/static/device_query"
    fault fault.server_survives $([ $RC = 0 ] && echo 1 || echo 0) "device_query through the same executor after the kill: rc=$RC"
  fi
  if [[ fault.isolation =~ $ONLY ]] && [ -n "${EXEC_PID:-}" ]; then
    # Session A holds 256 MiB; session B is handed A's address and must not read, write, set or free it.
    "${SHIMENV[@]}" AVEC_SERVER=127.0.0.1:$PORT "$G/bin/static/memlimit" --hold 30 >"$LOGS/fault.isolation.a" 2>&1 &
    APID=$!
    for i in $(seq 100); do grep -q address "$LOGS/fault.isolation.a" && break; sleep 0.1; done
    addr=$(awk '/address:/{print $2}' "$LOGS/fault.isolation.a")
    timed "$LOGS/fault.isolation.out" "$LOGS/fault.isolation.err" 60 "${SHIMENV[@]}" AVEC_SERVER=127.0.0.1:$PORT \
      "$G/bin/static/memlimit" --peek "${addr:-0x0}"
    kill $APID 2>/dev/null; wait $APID 2>/dev/null
    leaked=$(grep -E '^(read|write|memset|free): CUDA_SUCCESS' "$LOGS/fault.isolation.out" | tr '\n' ' ')
    ok=0; [ -n "$addr" ] && [ $RC = 0 ] && [ -z "$leaked" ] && [ "$(grep -c '^[a-z]*: ' "$LOGS/fault.isolation.out")" -ge 5 ] && ok=1
    fault fault.isolation $ok "other session's $addr: $(tr '\n' ' ' <"$LOGS/fault.isolation.out")"
  fi
  if [[ fault.concurrent =~ $ONLY ]] && [ -n "${EXEC_PID:-}" ]; then
    # Four sessions at once (two programs, two builds) must each produce their native output.
    cpids=()
    for v in static shared; do
      for p in sgemm ordering; do  # native reference, if the comparison loop did not run these
        [ -f "$LOGS/$p.$v.native.cmp" ] || LD_LIBRARY_PATH="$CUDART_DIR" "$G/bin/$v/$p" 2>/dev/null | grep -v '^#' >"$LOGS/$p.$v.native.cmp"
      done
    done
    for v in static shared; do
      for p in sgemm ordering; do
        "${SHIMENV[@]}" AVEC_SERVER=127.0.0.1:$PORT timeout 120 "$G/bin/$v/$p" >"$LOGS/fault.concurrent.$p.$v.out" 2>&1 &
        cpids+=($!)
      done
    done
    crc=0; for p in "${cpids[@]}"; do wait $p || crc=$?; done
    bad=""
    for v in static shared; do
      for p in sgemm ordering; do
        grep -v '^#' "$LOGS/fault.concurrent.$p.$v.out" | cmp -s - "$LOGS/$p.$v.native.cmp" || bad="$bad $p.$v"
      done
    done
    ok=0; [ $crc = 0 ] && [ -z "$bad" ] && ok=1
    fault fault.concurrent $ok "4 concurrent sessions (sgemm, ordering x static, shared): rc=$crc, differing:${bad:- none}"
  fi
  if [[ fault.client_killed =~ $ONLY ]] && [ -n "${EXEC_PID:-}" ]; then
    before=$(children $EXEC_PID | wc -l)
    "${SHIMENV[@]}" AVEC_SERVER=127.0.0.1:$PORT "$G/bin/static/memlimit" --hold 60 >"$LOGS/fault.client_killed.out" 2>&1 &
    CPID=$!
    for i in $(seq 100); do grep -q holding "$LOGS/fault.client_killed.out" && break; sleep 0.1; done
    kids=$(children $EXEC_PID)
    kill -9 $CPID; wait $CPID 2>/dev/null
    t0=$(date +%s.%N); gone=0
    for i in $(seq 100); do
      alive=0; for k in $kids; do is_alive $k && alive=1; done
      [ $alive = 0 ] && { gone=1; break; }
      sleep 0.1
    done
    SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b - a}')
    ok=0; [ -n "$kids" ] && [ $gone = 1 ] && ok=1
    fault fault.client_killed $ok "client '$(head -1 "$LOGS/fault.client_killed.out")', session child(ren) '$kids' (before: $before) gone=$gone after ${SECS}s"
  fi
fi

log ""
log "$(printf '%-24s %9s %9s %7s  %s' program native_s shim_s ratio result)"
for r in "${TABLE[@]}"; do log "$r"; done
log ""
if [ $NATIVE_ONLY = 0 ]; then
  log "optional (PyTorch, CuPy; not counted): $opt_pass passed, $opt_fail failed"
  [ -n "$NUMBA_SUMMARY" ] && { log ""; log "== numba-cuda test suites (lists: $RES/numba-cuda-*.txt) =="; log "$NUMBA_SUMMARY"; }
  [ -n "$SAMPLES_SUMMARY" ] && { log ""; log "== NVIDIA cuda-samples (per sample: $RES/cuda-samples.txt) =="; log "$SAMPLES_SUMMARY"; }
  [ -f "$LOGS/faults.txt" ] && { log ""; log "== faults and limits =="; tee -a "$SUMMARY" <"$LOGS/faults.txt"; }
  [ -f "$LOGS/failures.txt" ] && { log ""; log "== failure details =="; tee -a "$SUMMARY" <"$LOGS/failures.txt"; }
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
tar -C "$LOGS" -czf "$RES/logs$TAG.tar.gz" . 2>/dev/null
rm -rf "$LOGS"
[ $fail = 0 ]
