#!/usr/bin/env bash
# Soak/chaos run of the data plane (issue 9): 16 concurrent client sessions against a standalone
# executor for DURATION seconds (default 150: the whole run fits in about 4 minutes) while executors, the listener and clients are killed at
# random; then everything is stopped and checked.
#
#   GPU machine (after `make gpu-e2e`, .gpu carried):  bash e2e/gpu/soak.sh [DURATION]
#   this machine (emulated device; what `make test-soak` runs, 20 s):
#     AVEC_SOAK_BACKEND=emulated AVEC_SOAK_EXECUTOR=build/native/avec-executor \
#     AVEC_SOAK_CLIENT=build/native/soak-client bash e2e/gpu/soak.sh 20
#
# Prints sessions started/finished, client results (right, wrong, lost to chaos, refused), leaked
# processes and leaked device memory (GPU: nvidia-smi before/after; emulated: mem_used of session_end
# lines), and exits non-zero on any leak, any wrong result, or no right result at all. A failed run prints
# what the clients said and, with AVEC_SOAK_RESULTS=DIR, leaves its logs in DIR/soak-logs.tar.gz.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION=${1:-150}
CLIENTS=${AVEC_SOAK_CLIENTS:-16}
EXEC=${AVEC_SOAK_EXECUTOR:-$ROOT/.gpu/avec/avec-executor}
CLIENT=${AVEC_SOAK_CLIENT:-$ROOT/.gpu/avec/soak-client}
BACKEND=${AVEC_SOAK_BACKEND:-cuda}
PORT=${AVEC_SOAK_PORT:-$((30000 + RANDOM % 20000))}
OUT=$(mktemp -d /tmp/avec-soak-XXXXXX)
for f in "$EXEC" "$CLIENT"; do [ -x "$f" ] || { echo "soak: missing $f (make gpu-e2e, or make native soak-client)"; exit 2; }; done
RANDOM=${AVEC_SOAK_SEED:-$$}

gpu_mem_used() {  # MiB used on the GPU (sum over GPUs), or "-" without nvidia-smi / on the emulated device
  if [ "$BACKEND" != emulated ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | awk '{s+=$1} END {print s+0}'
  else echo -; fi
}

LPID=
RESTARTS=0
start_listener() {
  "$EXEC" --listen 127.0.0.1:$PORT --backend "$BACKEND" --memory-limit $((1 << 30)) --emulated-memory $((32 << 30)) \
    --max-sessions 64 --stall-timeout 10 --log-level info 2>"$OUT/listener.$RESTARTS.log" &
  LPID=$!
  for _ in $(seq 100); do grep -q '"event":"listening"' "$OUT/listener.$RESTARTS.log" 2>/dev/null && return 0; sleep 0.1; done
  echo "soak: the listener did not start"; tail -5 "$OUT/listener.$RESTARTS.log"; return 1
}

# Session processes of this run: every process whose command line is our listener's (forked children
# keep it), except the live listener itself; after a listener kill they live on, reparented.
session_pids() {  # without a fork per process (a loaded machine forks slowly; sessions are short)
  local p a
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$LPID" ] && continue
    { mapfile -d '' -t a <"$p/cmdline"; } 2>/dev/null || continue
    [ "${a[1]:-}" = --listen ] && [ "${a[2]:-}" = "127.0.0.1:$PORT" ] && echo "${p#/proc/}"
  done
}

# On the GPU machine a quarter of the slots run real CUDA programs (.gpu/bin/static) through the shim;
# their output must match a native run of the same program made before the chaos starts.
REAL=()
if [ "$BACKEND" != emulated ] && [ -f "$ROOT/.gpu/avec/libcuda.so.1" ]; then
  # shellcheck source=lib.sh
  source "$ROOT/e2e/gpu/lib.sh"
  CUDART_DIR=$(find_cudart)
  for p in memory streams_events launch sgemm; do
    prog=$ROOT/.gpu/bin/static/$p
    [ -x "$prog" ] && LD_LIBRARY_PATH=$CUDART_DIR timeout 120 "$prog" >"$OUT/native.$p.out" 2>/dev/null && REAL+=("$p")
  done
fi

run_real() {  # run_real SLOT PROGRAM: one run through the shim; prints right, wrong or lost
  local p=$2 rc o
  # One output file per run: chaos kills the `timeout` wrapper, and the program it ran may go on writing
  # to the file it was given after the slot's next run has started.
  o=$OUT/real.$1.$RANDOM$RANDOM
  env LD_LIBRARY_PATH="$CUDART_DIR" LD_PRELOAD="$ROOT/.gpu/avec/libcuda.so.1" AVEC_SERVER=127.0.0.1:$PORT AVEC_LOG=error \
    timeout 60 "$ROOT/.gpu/bin/static/$p" >"$o.out" 2>>"$OUT/client.$1.err" &
  echo $! >"$OUT/client.$1.pid"
  wait $!
  rc=$?
  if [ $rc -ne 0 ]; then echo lost  # killed, or its executor was (a CUDA error ends these programs non-zero)
  elif compare_outputs "$OUT/native.$p.out" "$o.out" "$o.diff"; then echo right
  else echo wrong; cp "$o.diff" "$OUT/wrong.$p.$1.$RANDOM.diff"; fi
}

# One client slot: sessions back to back until the deadline; each result is one line in results.
client_slot() {
  local slot=$1 deadline=$2 rc
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if [ ${#REAL[@]} -gt 0 ] && [ $((slot % 4)) -eq 1 ]; then
      run_real "$slot" "${REAL[RANDOM % ${#REAL[@]}]}" >>"$OUT/results"
      continue
    fi
    "$CLIENT" "$PORT" $((5 + RANDOM % 40)) $((RANDOM * 65536 + RANDOM)) 2>>"$OUT/client.$slot.err" &
    echo $! >"$OUT/client.$slot.pid"
    wait $!
    rc=$?
    case $rc in
      0) echo right ;; 2) echo wrong ;; 3) echo refused; sleep 0.2 ;; *) echo lost ;;
    esac >>"$OUT/results"
  done
}

MEM_BEFORE=$(gpu_mem_used)
START=$(date +%s)
start_listener || exit 1
echo "soak: $CLIENTS clients, ${DURATION}s, backend $BACKEND, port $PORT, logs in $OUT, GPU memory used before: $MEM_BEFORE MiB"
echo "soak: real programs through the shim: ${REAL[*]:-none (emulated device or no .gpu programs)}"
DEADLINE=$(($(date +%s) + DURATION))
SLOTS=()
for i in $(seq "$CLIENTS"); do client_slot "$i" "$DEADLINE" 2>/dev/null & SLOTS+=($!); done

KILLED_SESSIONS=0 KILLED_CLIENTS=0
while [ "$(date +%s)" -lt "$DEADLINE" ]; do
  sleep "0.$((3 + RANDOM % 7))"
  r=$((RANDOM % 100))
  if [ $r -lt 40 ]; then  # kill a session process
    mapfile -t s < <(session_pids)
    [ -n "${AVEC_SOAK_DEBUG:-}" ] && echo "soak: ${#s[@]} session processes"
    if [ ${#s[@]} -gt 0 ]; then kill -9 "${s[RANDOM % ${#s[@]}]}" 2>/dev/null && KILLED_SESSIONS=$((KILLED_SESSIONS + 1)); fi
  elif [ $r -lt 75 ]; then  # kill a client mid-session
    f="$OUT/client.$((1 + RANDOM % CLIENTS)).pid"
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null && KILLED_CLIENTS=$((KILLED_CLIENTS + 1))
  elif [ $r -lt 82 ]; then  # kill the listener (its sessions live on) and start a new one
    kill -9 "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null
    RESTARTS=$((RESTARTS + 1))
    start_listener || break
  fi
done
# Slots finish their current session; whatever still runs 20 s after the deadline is killed (counted lost).
for _ in $(seq 40); do
  alive=0
  for p in "${SLOTS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive -eq 0 ] && break
  sleep 0.5
done
for f in "$OUT"/client.*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
wait "${SLOTS[@]}" 2>/dev/null

# Stop: the listener first, then wait for every session process to finish its teardown.
kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null
LEAKED_PROCS=0
for _ in $(seq 60); do
  LEFT=$(session_pids | wc -l)
  [ "$LEFT" -eq 0 ] && break
  sleep 0.5
done
LEAKED_PROCS=$(session_pids | wc -l)
if [ "$LEAKED_PROCS" -gt 0 ]; then
  echo "soak: session processes still alive 30 s after the end:"; for p in $(session_pids); do ps -o pid,etime,args -p "$p" | tail -1; kill -9 "$p"; done
fi

MEM_AFTER=$(gpu_mem_used)
if [ "$MEM_BEFORE" != - ]; then
  for _ in $(seq 30); do [ "$MEM_AFTER" -le "$MEM_BEFORE" ] && break; sleep 1; MEM_AFTER=$(gpu_mem_used); done
  LEAKED_MEM_MIB=$((MEM_AFTER > MEM_BEFORE ? MEM_AFTER - MEM_BEFORE : 0))
  MEM_NOTE="GPU memory used before $MEM_BEFORE MiB, after $MEM_AFTER MiB (nvidia-smi)"
else
  LEAKED_MEM_MIB=-
  MEM_NOTE="no nvidia-smi reading (emulated device, or no nvidia-smi): a killed session process frees with its process"
fi
# Sessions that ended normally must have freed everything they allocated (their session_end says so).
LEAKED_MEM_BYTES=$(cat "$OUT"/listener.*.log | grep '"event":"session_end"' | sed -n 's/.*"mem_used":\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}')

count() { grep -c "^$1\$" "$OUT/results" 2>/dev/null || true; }
STARTED=$(cat "$OUT"/listener.*.log | grep -c '"event":"session_start"')
FINISHED=$(cat "$OUT"/listener.*.log | grep -c '"event":"session_end"')
STALLED=$(cat "$OUT"/listener.*.log | grep '"event":"session_end"' | grep -c '"reason":"stalled"')
RIGHT=$(count right) WRONG=$(count wrong) LOST=$(count lost) REFUSED=$(count refused)
echo "soak: sessions started $STARTED, finished (session_end) $FINISHED, killed by chaos: $KILLED_SESSIONS session processes, $KILLED_CLIENTS clients, $RESTARTS listener restarts"
echo "soak: client sessions: right $RIGHT, wrong $WRONG, lost (their executor or they were killed) $LOST, refused $REFUSED; stalled ends $STALLED"
echo "soak: run took $(($(date +%s) - START)) s in all"
echo "soak: leaked processes $LEAKED_PROCS; leaked device memory: ${LEAKED_MEM_MIB} MiB by nvidia-smi, $LEAKED_MEM_BYTES bytes in session_end lines; $MEM_NOTE"
FAIL=0
[ "$LEAKED_PROCS" -eq 0 ] || { echo "soak: FAIL leaked processes"; FAIL=1; }
[ "$LEAKED_MEM_BYTES" -eq 0 ] || { echo "soak: FAIL sessions ended with memory still allocated"; FAIL=1; }
[ "$LEAKED_MEM_MIB" = - ] || [ "$LEAKED_MEM_MIB" -eq 0 ] || { echo "soak: FAIL device memory not returned"; FAIL=1; }
if [ "$WRONG" -gt 0 ]; then
  echo "soak: FAIL wrong results; what the clients said:"
  cat "$OUT"/client.*.err 2>/dev/null | grep -v '^avec\[[0-9]*\] \(debug\|info\)' | sort | uniq -c | sort -rn | head -15
  for f in "$OUT"/wrong.*.diff; do [ -f "$f" ] && { echo "-- $(basename "$f")"; head -8 "$f"; }; done 2>/dev/null | head -40
  FAIL=1
fi
[ "$RIGHT" -gt 0 ] || { echo "soak: FAIL no client session completed"; FAIL=1; }
# AVEC_SOAK_RESULTS=DIR keeps the logs of a failed run there (soak-logs.tar.gz), e.g. $OUT of the GPU machine.
if [ "$FAIL" -ne 0 ] && [ -n "${AVEC_SOAK_RESULTS:-}" ]; then
  mkdir -p "$AVEC_SOAK_RESULTS" && tar -C "$OUT" -czf "$AVEC_SOAK_RESULTS/soak-logs.tar.gz" . && echo "soak: logs in $AVEC_SOAK_RESULTS/soak-logs.tar.gz"
fi
[ "$FAIL" -eq 0 ] && echo "soak: PASS" && rm -rf "$OUT"
exit $FAIL
