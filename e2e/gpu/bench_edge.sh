#!/usr/bin/env bash
# Issue 8's edge section: the same edge workloads (e2e/gpu/bench/edge.py: a ResNet-50 batch-8 request with a
# pageable upload and a synchronous download, GPT-2 greedy generation, cold start) natively, on the client's
# CPU (4 threads), through the shim on loopback and through two shaped links (tools/linkshaper: 1 ms one-way
# at 1 Gbit/s, i.e. 2 ms RTT, and 0.25 ms one-way at 10 Gbit/s), side by side in one run. The link floors
# (RTT, one-stream rate) are measured through the same shapers in the same run. Each line prints its ratio
# and target. Run by bench.sh (unless --no-edge), or alone on the GPU machine:
#   bash e2e/gpu/bench_edge.sh [--requests N] [--tokens N] [--no-cold | --only-cold] [--cold-rounds N]
# Cold start: one run with an empty server module cache, then N rounds (default 3) of native, warm and warm-fence
# in turn; the report takes each one's median (one process start swings by a second between runs).
# Writes bench-edge.txt (the report) to $OUT when set, else .gpu/results; raw outputs in bench-edge-raw.tar.gz.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
REQ=20 TOK=32 COLD=1 ONLY_COLD=0 ROUNDS=3
while [ $# -gt 0 ]; do
  case $1 in
    --requests) REQ=$2; shift ;;
    --tokens) TOK=$2; shift ;;
    --no-cold) COLD=0 ;;
    --only-cold) ONLY_COLD=1 ;;
    --cold-rounds) ROUNDS=$2; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
RES=${OUT:-$G/results}
mkdir -p "$RES"
W=$(mktemp -d /tmp/avec-edge.XXXXXX)
EDGE=$ROOT/e2e/gpu/bench/edge.py
P_TCP=7451 P_EXEC=7452 P_COLD=7453
PROFILES=("1g 1 1000" "10g 0.25 10000")  # name, one-way delay (ms), rate (Mbit/s)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT
step() { echo "-- $* ($(date -u +%H:%M:%S))" >&2; }
shim_env=(env AVEC_STATS=1 AVEC_LOG=warn LD_PRELOAD="$SHIM:$SHIM_NVML")
port_of() { case $1 in 1g) echo $(($2 + 10)) ;; 10g) echo $(($2 + 20)) ;; esac; }

"$G/bin/tcpfloor" serve $P_TCP & PIDS+=($!)
wait_port $P_TCP 5
start_executor $P_EXEC "$W/executor.log" --log-level warn --module-cache "$(mkdir -p "$W/mc" && echo "$W/mc")" ||
  { echo "FAIL edge: executor did not start"; exit 2; }
PIDS+=($EXEC_PID)
{ echo "loopback $("$G/bin/tcpfloor" rtt 127.0.0.1:$P_TCP 5000 | awk '$1 == "tcp_rtt_us_median" {print $2}') $("$G/bin/tcpfloor" bw 127.0.0.1:$P_TCP 256 | awk 'NR==1{print $2}')"; } >"$W/floors.txt"
for p in "${PROFILES[@]}"; do
  read -r name delay rate <<<"$p"
  pe=$(port_of "$name" $P_EXEC) pt=$(port_of "$name" $P_TCP)
  "$G/bin/linkshaper" --listen 127.0.0.1:$pe --connect 127.0.0.1:$P_EXEC --delay-ms "$delay" --rate-mbit "$rate" --quiet & PIDS+=($!)
  "$G/bin/linkshaper" --listen 127.0.0.1:$pt --connect 127.0.0.1:$P_TCP --delay-ms "$delay" --rate-mbit "$rate" --quiet & PIDS+=($!)
  wait_port "$pe" 5; wait_port "$pt" 5
  echo "$name $("$G/bin/tcpfloor" rtt 127.0.0.1:$pt 300 | awk '$1 == "tcp_rtt_us_median" {print $2}') $("$G/bin/tcpfloor" bw 127.0.0.1:$pt 64 | awk 'NR==1{print $2}')" >>"$W/floors.txt"
done
cat "$W/floors.txt" >&2

run_edge() {  # run_edge LABEL [env...] -- edge.py args
  local label=$1; shift
  local pre=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do pre+=("$1"); shift; done
  shift
  step "$label"
  timeout -k 5 300 "${pre[@]}" python3 "$EDGE" "$@" >"$W/$label.txt" 2>"$W/$label.err"
  echo "exit $?" >>"$W/$label.txt"
}
if [ $ONLY_COLD = 0 ]; then
  run_edge cpu env -- --device cpu --threads 4 --requests 5 --warmup 1
  run_edge native env -- --requests "$REQ" --tokens "$TOK"
  run_edge loopback "${shim_env[@]}" AVEC_SERVER=127.0.0.1:$P_EXEC -- --requests "$REQ" --tokens "$TOK"
  for p in "${PROFILES[@]}"; do
    read -r name _ <<<"$p"
    run_edge "shaped-$name" "${shim_env[@]}" AVEC_SERVER=127.0.0.1:$(port_of "$name" $P_EXEC) -- --requests "$REQ" --tokens "$TOK"
  done
  # Informational: the opt-in fenced synchronize (AVEC_SYNC_FENCE=1, docs/semantics.md) through the 1 Gbit/s link.
  run_edge shaped-1g-fence "${shim_env[@]}" AVEC_SYNC_FENCE=1 AVEC_SERVER=127.0.0.1:$(port_of 1g $P_EXEC) -- --requests "$REQ" --tokens "$TOK"
fi

if [ $COLD = 1 ]; then
  # Cold start through the 1 Gbit/s link: a server that has never seen the program's modules (fresh executor,
  # empty --module-cache), then rounds of the native program and the same program again (warm cache), in turn.
  # Each run appends to cold-LABEL.runs: process start to first result, and its part after the model was built
  # on the CPU (imports and the CPU-side model are the same everywhere; that part is where the link shows).
  cold_run() {  # cold_run LABEL ROUND [env...]
    local label=$1 round=$2; shift 2
    step "cold start: $label (round $round)"
    local t0; t0=$(date +%s.%N)
    timeout -k 5 300 "$@" python3 "$EDGE" --cold >"$W/cold-$label-$round.txt" 2>"$W/cold-$label-$round.err"
    awk -v t0="$t0" '{v[$1] = $2} END {if ("first_result_unix" in v) printf "%.3f %.3f\n",
      v["first_result_unix"] - t0, v["first_result_unix"] - v["built_unix"]}' "$W/cold-$label-$round.txt" >>"$W/cold-$label.runs"
  }
  mkdir -p "$W/mc-cold"
  start_executor $P_COLD "$W/executor-cold.log" --log-level warn --module-cache "$W/mc-cold" && PIDS+=($EXEC_PID)
  "$G/bin/linkshaper" --listen 127.0.0.1:$((P_COLD + 10)) --connect 127.0.0.1:$P_COLD --delay-ms 1 --rate-mbit 1000 --quiet & PIDS+=($!)
  wait_port $((P_COLD + 10)) 5
  cold_run empty 1 "${shim_env[@]}" AVEC_SERVER=127.0.0.1:$((P_COLD + 10))
  for round in $(seq 1 "$ROUNDS"); do
    cold_run native "$round" env
    cold_run warm "$round" "${shim_env[@]}" AVEC_SERVER=127.0.0.1:$((P_COLD + 10))
    cold_run warm-fence "$round" "${shim_env[@]}" AVEC_SYNC_FENCE=1 AVEC_SERVER=127.0.0.1:$((P_COLD + 10))
  done
fi

step "report"
{ echo "== avec edge benchmark (issue 8) =="; machine_info; echo; python3 "$ROOT/e2e/gpu/bench/edge_report.py" "$W"; } >"$RES/bench-edge.txt"
cat "$RES/bench-edge.txt"
tar -C "$W" -czf "$RES/bench-edge-raw.tar.gz" --exclude=mc --exclude=mc-cold . 2>/dev/null || true
cleanup
rm -rf "$W"
