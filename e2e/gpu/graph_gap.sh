#!/usr/bin/env bash
# Where a graph replay through the shaped link (1 ms one-way, 1 Gbit/s) spends what it costs above one round
# trip (issue 11's "native + 1 RTT" figure). One run, side by side: the 8-byte TCP ping-pong and avec PING
# through the link; the native replay hot, after the GPU idled one RTT with the CPU asleep (usleep) and with
# it spinning; and the replay through the shim and the link with the executor's read spin capped at 50 us
# (its fixed window before run 27) and at 5 ms (the default: it spins about as long as the client's last
# pause), and the shim's reply wait capped at 250 us (its fixed window before run 30) or 5 ms (the default,
# adaptive the same way); with the new defaults (5000 5000) also after
# launches, copies and an SGEMM loop in the same process (as bench.sh measures it), and once more at the
# end (the spread between runs). On the GPU machine:
#   bash e2e/gpu/graph_gap.sh
# Prints one line per variant (median us over 301 replays, and its excess over native-idle + RTT); writes the
# same to $OUT/graph-gap.txt when OUT is set.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
case ${1:-} in -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; "") ;; *) echo "unknown option $1" >&2; exit 2 ;; esac
W=$(mktemp -d /tmp/avec-graphgap.XXXXXX)
B=$G/bin/static/bench_gpu
P=${AVEC_GAP_PORT:-7480}
PIDS=()
trap 'for p in "${PIDS[@]}"; do stop_pid "$p"; done; rm -rf "$W"' EXIT
"$G/bin/tcpfloor" serve $P & PIDS+=($!)
"$G/bin/linkshaper" --listen 127.0.0.1:$((P + 1)) --connect 127.0.0.1:$P --delay-ms 1 --rate-mbit 1000 --precise --quiet & PIDS+=($!)
wait_port $((P + 1)) 5
rtt=$("$G/bin/tcpfloor" rtt 127.0.0.1:$((P + 1)) 500 | awk '$1=="tcp_rtt_us_median"{printf "%d", $2}')
graph() { awk '$1=="graph_replay_us_median"{print $2}'; }
run_native() { "$B" --skip launch,copy,sgemm --graph-reps 301 "$@" 2>&1 | graph; }
hot=$(run_native)
idle=$(run_native --graph-gap-us "$rtt")
idle_spin=$(run_native --graph-gap-us "$rtt" --graph-gap-spin 1)
remote() {  # executor read spin (us), shim reply spin (us), a port of its own, graph|bench
  local port=$3 sp what=(--skip launch,copy,sgemm)
  # bench: the replays come after launches, copies and an SGEMM loop in the same process, as in bench.sh
  [ "$4" = bench ] && what=(--launches 5000 --copy-reps 1 --copy-mib 64 --sgemm-iters 10)
  start_executor $port "$W/executor-$1.log" --log-level warn --read-spin-us "$1" || return
  local ex=$EXEC_PID
  "$G/bin/linkshaper" --listen 127.0.0.1:$((port + 1)) --connect 127.0.0.1:$port --delay-ms 1 --rate-mbit 1000 --precise --quiet &
  sp=$!
  wait_port $((port + 1)) 5
  "$G/bin/avec_ping" 127.0.0.1:$((port + 1)) 300 | awk '/median/{printf "  (avec PING through the link: %s us) ", $2}' >&2
  LD_PRELOAD=$SHIM AVEC_SERVER=127.0.0.1:$((port + 1)) AVEC_REPLY_SPIN_US=$2 timeout 120 \
    "$B" "${what[@]}" --sync-iters 200 --graph-reps 301 2>&1 | graph
  stop_pid $sp
  stop_pid $ex
}
{
  echo "8-byte TCP ping-pong through the link: RTT median $rtt us"
  printf '%-66s %8s us\n' "native, hot" "$hot" "native, after the GPU idled one RTT (CPU asleep)" "$idle" \
    "native, after the GPU idled one RTT (CPU spinning)" "$idle_spin"
  port=$((P + 10))
  for v in "50 250 graph" "5000 250 graph" "50 5000 graph" "5000 5000 graph" "5000 5000 bench" "5000 5000 graph"; do
    set -- $v
    port=$((port + 2))
    t=$(remote "$1" "$2" $port "$3" 2>"$W/ping")
    cat "$W/ping"
    printf '%-66s %8s us  (%s us above native-idle + RTT)\n' \
      "through the link: executor spin cap $1 us, shim cap $2 us$([ "$3" = bench ] && echo ', after bench')" "$t" \
      "$(awk -v t="$t" -v i="$idle" -v r="$rtt" 'BEGIN{printf "%+.0f", t - i - r}')"
  done
} 2>&1 | tee "${OUT:+$OUT/}graph-gap.txt"
