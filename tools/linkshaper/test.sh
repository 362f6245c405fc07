#!/usr/bin/env bash
# CPU test of linkshaper (part of `make test`): through the proxy an 8-byte ping-pong must see about twice
# the configured one-way delay, a bulk stream about the configured rate, and every byte must arrive intact
# and in order. Tolerances are loose (shared CI machines): RTT in [2D, 2D + 4 ms], rate in [40%, 110%].
# Usage: tools/linkshaper/test.sh BIN_DIR   (holds linkshaper and tcpfloor)
set -euo pipefail
B=$1
P1=$((20000 + RANDOM % 10000)); P2=$((P1 + 1)); P3=$((P1 + 2)); P4=$((P1 + 3))
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done' EXIT
"$B/tcpfloor" serve $P1 & pids+=($!)
"$B/linkshaper" --listen 127.0.0.1:$P2 --connect 127.0.0.1:$P1 --delay-ms 1 --rate-mbit 200 --quiet & pids+=($!)
"$B/linkshaper" --listen 127.0.0.1:$P3 --connect 127.0.0.1:$P1 --quiet & pids+=($!)
"$B/linkshaper" --listen 127.0.0.1:$P4 --connect 127.0.0.1:$P1 --delay-ms 1 --precise --quiet & pids+=($!)
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$P3) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$P2) 2>/dev/null &&
  (exec 3<>/dev/tcp/127.0.0.1/$P4) 2>/dev/null && break; sleep 0.1; done
fail=0
rtt=$("$B/tcpfloor" rtt 127.0.0.1:$P2 200 | awk '/median/{print $2}')
awk -v r="$rtt" 'BEGIN{exit !(r >= 2000 && r <= 6000)}' && echo "ok   shaped RTT ${rtt} us (delay 1 ms each way)" || { echo "FAIL shaped RTT ${rtt} us, want 2000..6000"; fail=1; }
rtt=$("$B/tcpfloor" rtt 127.0.0.1:$P4 200 | awk '/median/{print $2}')
awk -v r="$rtt" 'BEGIN{exit !(r >= 2000 && r <= 4000)}' && echo "ok   shaped RTT with --precise ${rtt} us" || { echo "FAIL --precise RTT ${rtt} us, want 2000..4000"; fail=1; }
bw=$("$B/tcpfloor" bw 127.0.0.1:$P2 16 | awk '/MBps/{print $2}')
awk -v b="$bw" 'BEGIN{exit !(b >= 10 && b <= 27.5)}' && echo "ok   shaped rate ${bw} MB/s (200 Mbit/s = 25 MB/s)" || { echo "FAIL shaped rate ${bw} MB/s, want 10..27.5"; fail=1; }
"$B/tcpfloor" rtt 127.0.0.1:$P3 2000 >/dev/null && echo "ok   2000 echoes intact through the unshaped proxy" || { echo "FAIL echo through proxy"; fail=1; }
bw=$("$B/tcpfloor" bw 127.0.0.1:$P3 256 | awk '/MBps/{print $2}')
awk -v b="$bw" 'BEGIN{exit !(b >= 50)}' && echo "ok   unshaped proxy passes 256 MiB at ${bw} MB/s" || { echo "FAIL unshaped proxy ${bw} MB/s"; fail=1; }
[ $fail = 0 ] && echo "linkshaper: all checks passed"
exit $fail
