#!/usr/bin/env bash
# GPU benchmark: remote/native ratios measured in one run, the physical floor (loopback TCP one-stream
# bandwidth and 8-byte ping-pong RTT), the protocol's own PING, and the same figures through a shaped
# link (tools/linkshaper). Prepare with `make bench-gpu`, carry `.gpu`, then on the GPU machine:
#   bash e2e/gpu/bench.sh [--no-shaped] [--native-only] [--delay-ms D] [--rate-mbit R] [--variant static|shared]
#                         [--shaped-copy-mib M] [--tag NAME] [--no-raw] [--stripes N] [--no-edge]
# The edge section (issue 8: ResNet-50 requests, GPT-2 tokens, cold start in 3 rounds; bench_edge.sh, about 4 min)
# runs last and is appended to the report unless --no-edge or --native-only.
# Writes bench[-TAG].txt (the report) and bench-raw[-TAG].tar.gz to $OUT when set, else .gpu/results.
# (--shaped-copy-mib shortens the copies of the shaped run on slow links; the report says so.)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
STRIPES=4 EDGE=1 SHAPED=1 NATIVE_ONLY=0 DELAY=1 RATE=1000 VARIANT=static TAG= RAW=1 SHAPED_MIB=256
while [ $# -gt 0 ]; do
  case $1 in
    --no-shaped) SHAPED=0 ;;
    --native-only) NATIVE_ONLY=1; SHAPED=0 ;;
    --delay-ms) DELAY=$2; shift ;;
    --rate-mbit) RATE=$2; shift ;;
    --variant) VARIANT=$2; shift ;;
    --tag) TAG=-$2; shift ;;
    --no-raw) RAW=0 ;;
    --shaped-copy-mib) SHAPED_MIB=$2; shift ;;
    --stripes) STRIPES=$2; shift ;;
    --no-edge) EDGE=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
RES=${OUT:-$G/results}
mkdir -p "$RES"
W=$(mktemp -d /tmp/avec-bench.XXXXXX)
REPORT=$RES/bench$TAG.txt
B=$G/bin/$VARIANT/bench_gpu
export LD_LIBRARY_PATH="$(find_cudart)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
P_TCP=7431 P_EXEC=7432 P_SHAPE_EXEC=7433 P_SHAPE_TCP=7434 P_SHARED_EXEC=7435 P_SHARED_TCP=7436
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT
step() { echo "-- $* ($(date -u +%H:%M:%S))" >&2; }

{ echo "== avec GPU benchmark =="; machine_info; echo "binary: $VARIANT cudart"; } >"$W/header.txt"
cat "$W/header.txt"

step "TCP floor (loopback)"
"$G/bin/tcpfloor" serve $P_TCP & PIDS+=($!)
wait_port $P_TCP 5
"$G/bin/tcpfloor" rtt 127.0.0.1:$P_TCP 20000 >"$W/tcp.txt"
for i in 1 2 3; do "$G/bin/tcpfloor" bw 127.0.0.1:$P_TCP 1024; done | grep '^tcp_bw_MBps' | sort -k2 -n | tail -1 >>"$W/tcp.txt"
# Informational: one 256 MiB source buffer read once (as a 256 MiB cudaMemcpy reads its source), hot sink.
for i in 1 2 3; do "$G/bin/tcpfloor" bw 127.0.0.1:$P_TCP 256 --cold-src; done | grep '^tcp_bw_coldsrc_MBps' | sort -k2 -n | tail -1 >>"$W/tcp.txt"
cat "$W/tcp.txt"

step "native"
"$B" --sgemm-target-s 1.0 >"$W/native.txt" 2>&1
cat "$W/native.txt"
ITERS=$(awk '$1=="sgemm_n"{print $4}' "$W/native.txt")
ITERS=${ITERS:-10}

if [ $NATIVE_ONLY = 0 ]; then
  if start_executor $P_EXEC "$W/executor.log" --log-level warn --max-stripes 8; then
    PIDS+=($EXEC_PID)
    step "avec PING (loopback)"
    "$G/bin/avec_ping" 127.0.0.1:$P_EXEC 5000 >"$W/ping.txt" 2>&1; cat "$W/ping.txt"
    step "remote (loopback)"
    LD_PRELOAD=$SHIM AVEC_SERVER=127.0.0.1:$P_EXEC timeout -k 5 240 "$B" --sgemm-iters "$ITERS" >"$W/remote.txt" 2>&1
    echo "exit $?" >>"$W/remote.txt"; cat "$W/remote.txt"
    if [ $SHAPED = 1 ]; then
      echo "one-way delay $DELAY ms, $RATE Mbit/s (linkshaper)$([ "$SHAPED_MIB" != 256 ] && echo ", copies of $SHAPED_MIB MiB")" >"$W/shaped.label"
      "$G/bin/linkshaper" --listen 127.0.0.1:$P_SHAPE_EXEC --connect 127.0.0.1:$P_EXEC --delay-ms $DELAY --rate-mbit $RATE --precise --quiet & PIDS+=($!)
      "$G/bin/linkshaper" --listen 127.0.0.1:$P_SHAPE_TCP --connect 127.0.0.1:$P_TCP --delay-ms $DELAY --rate-mbit $RATE --precise --quiet & PIDS+=($!)
      wait_port $P_SHAPE_EXEC 5; wait_port $P_SHAPE_TCP 5
      step "TCP floor (shaped)"
      "$G/bin/tcpfloor" rtt 127.0.0.1:$P_SHAPE_TCP 500 >"$W/shaped_tcp.txt"
      "$G/bin/tcpfloor" bw 127.0.0.1:$P_SHAPE_TCP "$SHAPED_MIB" >>"$W/shaped_tcp.txt"
      cat "$W/shaped_tcp.txt"
      # Between replays through the link the GPU idles one RTT; the same native replay with that idle gap
      # (informational, next to the target line) tells the link's cost from the idle GPU's.
      gap=$(awk '$1=="tcp_rtt_us_median"{printf "%d", $2}' "$W/shaped_tcp.txt")
      [ -n "$gap" ] && "$B" --skip launch,copy,sgemm --sync-iters 200 --graph-reps 301 --graph-gap-us "$gap" >"$W/shaped_native_gapped.txt" 2>&1
      step "avec PING (shaped)"
      "$G/bin/avec_ping" 127.0.0.1:$P_SHAPE_EXEC 300 >"$W/shaped_ping.txt" 2>&1; cat "$W/shaped_ping.txt"
      step "remote (shaped)"
      LD_PRELOAD=$SHIM AVEC_SERVER=127.0.0.1:$P_SHAPE_EXEC timeout -k 5 240 "$B" --sgemm-iters "$ITERS" \
        --launches 5000 --sync-iters 200 --graph-reps 301 --copy-reps 2 --copy-mib "$SHAPED_MIB" >"$W/shaped_remote.txt" 2>&1
      echo "exit $?" >>"$W/shaped_remote.txt"; cat "$W/shaped_remote.txt"
      # Informational, beside the counted figure: the replays alone in a fresh process through the same link and
      # executor, and the link's RTT once more (does the figure move with what ran before it, or with the link?).
      step "graph replay alone, and the TCP floor again (shaped)"
      LD_PRELOAD=$SHIM AVEC_SERVER=127.0.0.1:$P_SHAPE_EXEC timeout -k 5 120 "$B" --skip launch,copy,sgemm \
        --graph-reps 301 >"$W/shaped_remote_graph_only.txt" 2>&1
      "$G/bin/tcpfloor" rtt 127.0.0.1:$P_SHAPE_TCP 500 >"$W/shaped_tcp_after.txt"
      cat "$W/shaped_remote_graph_only.txt" "$W/shaped_tcp_after.txt"
    fi
  else
    echo "executor unavailable: native figures only" | tee "$W/remote.txt"
  fi
fi

# Issue 8 items 3-4: the four 256 MiB copies (driver API) against one-stream and N-stream TCP measured
# now, on one connection and over $STRIPES stripes; compression of camera-like frames and random floats
# through a shaped link whose rate all connections share (linkshaper --shared-link).
if [ $NATIVE_ONLY = 0 ] && [ -n "${EXEC_PID:-}" ] && [ -x "$G/bin/copy_bench" ]; then
  step "copies vs N-stream TCP (loopback)"
  CB=$G/bin/copy_bench
  {
    echo "== copies (driver API, 256 MiB) vs TCP floors measured now, loopback =="
    one=$(for i in 1 2 3; do "$G/bin/tcpfloor" bw 127.0.0.1:$P_TCP 256 --cold-src; done | awk '$1 ~ /_MBps$/ {print $2}' | sort -n | tail -1)
    many=$(for i in 1 2 3; do "$G/bin/tcpfloor" bwn 127.0.0.1:$P_TCP 256 "$STRIPES" --cold-src; done | awk '$1 ~ /_MBps$/ {print $2}' | sort -n | tail -1)
    echo "floors (cold 256 MiB source): one-stream TCP $one MB/s, $STRIPES-stream TCP $many MB/s"
    "$CB" --reps 3 >"$W/copies_native.txt" 2>&1
    LD_PRELOAD=$SHIM AVEC_SERVER=127.0.0.1:$P_EXEC AVEC_STRIPES=0 timeout -k 5 240 "$CB" --reps 3 --check >"$W/copies_1.txt" 2>&1
    LD_PRELOAD=$SHIM AVEC_SERVER=127.0.0.1:$P_EXEC AVEC_STRIPES=$STRIPES timeout -k 5 240 "$CB" --reps 3 --check >"$W/copies_n.txt" 2>&1
    paste "$W/copies_native.txt" "$W/copies_1.txt" "$W/copies_n.txt" | awk -v one="$one" -v many="$many" -v n="$STRIPES" '
      {printf "%-20s native %9.1f  1 conn %8.1f (%5.1f%% of 1-stream, target 90%%: %s)  %d stripes %8.1f (%5.1f%% of %d-stream, %5.1f%% of 1-stream)\n",
        $1, $2, $4, 100*$4/one, ($4 >= 0.9*one ? "met" : "NOT MET"), n, $6, 100*$6/many, n, 100*$6/one}'
  } >"$W/copies.txt" 2>&1
  cat "$W/copies.txt"
  if [ $SHAPED = 1 ]; then
    step "compression and stripes through the shaped link (shared rate)"
    "$G/bin/linkshaper" --listen 127.0.0.1:$P_SHARED_EXEC --connect 127.0.0.1:$P_EXEC --delay-ms $DELAY --rate-mbit $RATE --shared-link --quiet & PIDS+=($!)
    "$G/bin/linkshaper" --listen 127.0.0.1:$P_SHARED_TCP --connect 127.0.0.1:$P_TCP --delay-ms $DELAY --rate-mbit $RATE --shared-link --quiet & PIDS+=($!)
    wait_port $P_SHARED_EXEC 5; wait_port $P_SHARED_TCP 5
    {
      one=$("$G/bin/tcpfloor" bw 127.0.0.1:$P_SHARED_TCP 64 --cold-src | awk 'NR==1{print $2}')
      echo "== shaped link ($DELAY ms one-way, $RATE Mbit/s shared): one-stream TCP $one MB/s; copies of 64 MiB =="
      for d in fill camera floats; do
        for z in 0 1; do
          LD_PRELOAD=$SHIM AVEC_SERVER=127.0.0.1:$P_SHARED_EXEC AVEC_COMPRESS=$z timeout -k 5 240 "$CB" --mib 64 --reps 2 --check --data $d |
            awk -v one="$one" -v z=$z '{printf "%-28s compress=%s %9.1f MB/s = %6.1f%% of the link (target >= 95%% raw)\n", $1, z, $2, 100*$2/one}'
        done
      done
    } >"$W/shaped_copies.txt" 2>&1
    cat "$W/shaped_copies.txt"
  fi
fi

step "report"
{ cat "$W/header.txt"; echo; python3 "$ROOT/e2e/gpu/bench/report.py" "$W";
  for f in copies.txt shaped_copies.txt; do [ -f "$W/$f" ] && { echo; cat "$W/$f"; }; done; } >"$REPORT"
cat "$REPORT"
cleanup
if [ $EDGE = 1 ] && [ $NATIVE_ONLY = 0 ]; then
  step "edge section (bench_edge.sh)"
  OUT=$RES bash "$ROOT/e2e/gpu/bench_edge.sh" >/dev/null
  { echo; cat "$RES/bench-edge.txt"; } >>"$REPORT"
  cat "$RES/bench-edge.txt"
fi
[ $RAW = 1 ] && { tar -C "$W" -czf "$RES/bench-raw$TAG.tar.gz" . 2>/dev/null || true; }
rm -rf "$W"
