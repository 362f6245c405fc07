#!/usr/bin/env bash
# Where a cold start through the 1 Gbit/s, 2 ms RTT link spends its time (issue 8): edge.py --cold runs once
# through the shim to fill the server's module cache, then again at AVEC_LOG=debug with every stderr line
# stamped as it arrives (at debug level the shim logs every blocking round trip with its wait). Prints, for
# the time from the model's build to the first result: the round trips per driver function and their waits,
# what is left (the program's and the shim's own work), and the longest stretches without a wait. On the GPU
# machine:
#   bash e2e/gpu/cold_timeline.sh [--fence] [--gaps N]
# Writes cold-timeline[-fence].txt (the summary) and cold-timeline[-fence].log.gz (every stamped line) to $OUT
# when set, else .gpu/results.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
FENCE=0 GAPS=40
while [ $# -gt 0 ]; do
  case $1 in
    --fence) FENCE=1 ;;
    --gaps) GAPS=$2; shift ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
RES=${OUT:-$G/results}
mkdir -p "$RES"
tag=$([ $FENCE = 1 ] && echo -fence)
W=$(mktemp -d /tmp/avec-cold.XXXXXX)
P=${AVEC_COLD_PORT:-7470}
EDGE=$ROOT/e2e/gpu/bench/edge.py
start_executor $P "$W/executor.log" --log-level warn --module-cache "$(mkdir -p "$W/mc" && echo "$W/mc")" ||
  { echo "FAIL cold timeline: executor did not start"; exit 2; }
"$G/bin/linkshaper" --listen 127.0.0.1:$((P + 1)) --connect 127.0.0.1:$P --delay-ms 1 --rate-mbit 1000 --quiet &
SHAPER=$!
trap 'stop_pid "$SHAPER"; stop_pid "$EXEC_PID"; rm -rf "$W"' EXIT
wait_port $((P + 1)) 5
shim=(env AVEC_STATS=1 AVEC_SYNC_FENCE=$FENCE LD_PRELOAD="$SHIM:$SHIM_NVML" AVEC_SERVER=127.0.0.1:$((P + 1)))
timeout 300 "${shim[@]}" AVEC_LOG=warn python3 "$EDGE" --cold >"$W/fill.out" 2>"$W/fill.err" ||
  { echo "FAIL cold timeline: the cache-filling run failed"; tail -5 "$W/fill.err"; exit 1; }
# Each stderr line is stamped with the wall clock when it arrives (the shim writes a line in one write()).
timeout 300 "${shim[@]}" AVEC_LOG=debug python3 "$EDGE" --cold 2>&1 >"$W/run.out" |
  python3 -uc 'import sys, time
for line in sys.stdin: sys.stdout.write(f"{time.time():.4f} {line}")' >"$W/run.log"
python3 - "$W/run.out" "$W/run.log" "$GAPS" >"$RES/cold-timeline$tag.txt" <<'EOF'
import re
import sys
from collections import defaultdict
out = dict(l.split()[:2] for l in open(sys.argv[1]) if len(l.split()) >= 2)
built, first = float(out["built_unix"]), float(out["first_result_unix"])
lines = [(float(l.split(" ", 1)[0]), l.split(" ", 1)[1].rstrip("\n")) for l in open(sys.argv[2]) if " " in l]
win = [(t, s) for t, s in lines if built <= t <= first]
rt = re.compile(r"round trip: (\S+) waited ([0-9.]+) ms")
waited, by_fn = 0.0, defaultdict(lambda: [0, 0.0])
for _, s in win:
    m = rt.search(s)
    if m:
        waited += float(m.group(2)) / 1e3
        by_fn[m.group(1)][0] += 1
        by_fn[m.group(1)][1] += float(m.group(2)) / 1e3
n_rt = sum(c for c, _ in by_fn.values())
print(f"after the model was built: {first - built:.3f} s to the first result; {n_rt} round trips waited {waited:.3f} s;"
      f" the rest ({first - built - waited:.3f} s) is the program's and the shim's own work and fire-and-forget sends")
for fn, (c, w) in sorted(by_fn.items(), key=lambda kv: -kv[1][1]):
    print(f"  {fn:50s} {c:5d} round trips {w * 1e3:9.1f} ms")
# Work between round trips: a gap between consecutive lines less the wait the later line reports.
work = []
for a, b in zip(win, win[1:]):
    m = rt.search(b[1])
    work.append((b[0] - a[0] - (float(m.group(2)) / 1e3 if m else 0.0), a, b))
work.sort(key=lambda x: x[0], reverse=True)
print("longest stretches without waiting for the server (time between lines less the later line's wait):")
for g, a, b in work[:int(sys.argv[3])]:
    print(f"  {g * 1e3:8.1f} ms at +{a[0] - built:.3f} s after: {a[1][:140]}")
    print(f"  {'':8s}    until: {b[1][:140]}")
EOF
gzip -c "$W/run.log" >"$RES/cold-timeline$tag.log.gz"
cat "$RES/cold-timeline$tag.txt"
