#!/usr/bin/env bash
# Bulk copies through the shim against the emulated executor (CPU only), side by side with the link's
# floors measured in the same run: one-stream and N-stream TCP (tcpfloor), on loopback and through a
# shaped link (linkshaper --shared-link: N connections share one rate, as on a real link). Lines:
#   copies, one connection and N stripes: each of the four 256 MiB copies as MB/s and % of both floors;
#   compression (AVEC_COMPRESS=1) on camera-like uint8 frames and random float32, on and off.
# Usage: copy-bench.sh BIN_DIR [--mib M] [--stripes N] [--delay-ms D] [--rate-mbit R] [--no-shaped]
#   BIN_DIR holds avec-executor, copy_bench, tcpfloor, linkshaper and libcuda.so.1 (make bench-copy-cpu).
# On a GPU machine e2e/gpu/bench.sh runs the same copy_bench against the real driver.
set -uo pipefail
bin=$1; shift
MIB=256 N=4 DELAY=1 RATE=1000 SHAPED=1
while [ $# -gt 0 ]; do
  case $1 in
    --mib) MIB=$2; shift ;; --stripes) N=$2; shift ;; --delay-ms) DELAY=$2; shift ;;
    --rate-mbit) RATE=$2; shift ;; --no-shaped) SHAPED=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT
P_TCP=$(free_port) P_EXEC=$(free_port)
"$bin/tcpfloor" serve "$P_TCP" & pids+=($!)
"$bin/avec-executor" --listen "127.0.0.1:$P_EXEC" --backend emulated --emulated-memory $(((MIB * 3) << 20)) \
  --max-stripes 8 --log-level warn & pids+=($!)
wait_port "$P_TCP"; wait_port "$P_EXEC"
export LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

best() { sort -k2 -n | tail -1 | awk '{print $2}'; }  # the best of several "key value" lines
floors() {  # floors PORT MIB: prints "one N"
  local one many
  one=$(for i in 1 2 3; do "$bin/tcpfloor" bw "127.0.0.1:$1" "$2" --cold-src | head -1; done | best)
  many=$(for i in 1 2 3; do "$bin/tcpfloor" bwn "127.0.0.1:$1" "$2" "$N" --cold-src; done | best)
  echo "$one $many"
}
copies() {  # copies PORT MIB STRIPES COMPRESS DATA: copy_bench's lines
  AVEC_SERVER=127.0.0.1:$1 AVEC_STRIPES=$3 AVEC_COMPRESS=$4 "$bin/copy_bench" --mib "$2" --reps 3 --check --data "$5"
}
table() {  # table LABEL ONE MANY MIB PORT
  local label=$1 one=$2 many=$3 mib=$4 port=$5
  echo "== $label: floors (cold 256 MiB source, as a copy reads it) one-stream TCP $one MB/s, $N-stream TCP $many MB/s =="
  printf '%-22s %12s %10s %10s   %12s %10s %10s\n' copy "1 conn MB/s" "% 1-str" "% $N-str" "$N stripes" "% 1-str" "% $N-str"
  paste <(copies "$port" "$mib" 0 0 fill) <(copies "$port" "$mib" "$N" 0 fill) |
    awk -v one="$one" -v many="$many" '{printf "%-22s %12.1f %9.1f%% %9.1f%%   %12.1f %9.1f%% %9.1f%%\n", $1, $2, 100*$2/one, 100*$2/many, $4, 100*$4/one, 100*$4/many}'
}
ztable() {  # ztable LABEL MIB PORT ONE
  echo "-- $1: compression (AVEC_COMPRESS=1) vs off, one connection; one-stream floor $4 MB/s"
  for d in camera floats; do
    paste <(copies "$3" "$2" 0 0 "$d") <(copies "$3" "$2" 0 1 "$d") |
      awk -v one="$4" '{printf "%-28s off %10.1f MB/s  on %10.1f MB/s  on/off %6.2fx  on = %6.1f%% of the floor\n", $1, $2, $4, $4/$2, 100*$4/one}'
  done
}
echo "== avec copy benchmark (emulated device, CPU) $(date -u +%FT%TZ), $(nproc) cpus, commit $(git rev-parse --short HEAD 2>/dev/null) =="
read -r one many < <(floors "$P_TCP" 1024)
read -r one many < <(floors "$P_TCP" "$MIB")
table "loopback" "$one" "$many" "$MIB" "$P_EXEC"
ztable "loopback" 64 "$P_EXEC" "$one"
if [ $SHAPED = 1 ]; then
  P_ST=$(free_port) P_SE=$(free_port) SMIB=$((MIB < 64 ? MIB : 64))
  "$bin/linkshaper" --listen "127.0.0.1:$P_ST" --connect "127.0.0.1:$P_TCP" --delay-ms "$DELAY" --rate-mbit "$RATE" --shared-link --quiet & pids+=($!)
  "$bin/linkshaper" --listen "127.0.0.1:$P_SE" --connect "127.0.0.1:$P_EXEC" --delay-ms "$DELAY" --rate-mbit "$RATE" --shared-link --quiet & pids+=($!)
  wait_port "$P_ST"; wait_port "$P_SE"
  read -r one many < <(floors "$P_ST" "$SMIB")
  table "shaped link: one-way delay $DELAY ms, $RATE Mbit/s shared by all connections, copies of $SMIB MiB" "$one" "$many" "$SMIB" "$P_SE"
  ztable "shaped link" 32 "$P_SE" "$one"
fi
