#!/usr/bin/env bash
# Runs one command natively and through the shim, for tracing a failure on the GPU machine:
#   bash e2e/gpu/diagnose.sh NAME COMMAND...
# The shim run gets AVEC_LOG=debug (the last 80 lines are kept: the driver calls just before a failure),
# AVEC_STATS=1, Python's faulthandler (a crash prints the Python stack) and, where gdb exists, a native
# backtrace of a crash. Everything lands in $OUT/diagnose-NAME.txt (else .gpu/results).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
name=$1
shift
RES=${OUT:-$G/results}
mkdir -p "$RES"
out=$RES/diagnose-$name.txt
W=$(mktemp -d /tmp/avec-diag.XXXXXX)
port=${AVEC_DIAG_PORT:-7460}
start_executor "$port" "$W/executor.log" --log-level debug || exit 2
trap 'stop_pid "$EXEC_PID"; rm -rf "$W"' EXIT
{
  echo "== $name: $*"
  echo "-- native"
  env PYTHONFAULTHANDLER=1 timeout 120 "$@" >"$W/native.out" 2>"$W/native.err"
  echo "rc=$?"; tail -5 "$W/native.out"; tail -5 "$W/native.err"
  echo "-- through the shim"
  env PYTHONFAULTHANDLER=1 AVEC_LOG=debug AVEC_STATS=1 LD_PRELOAD="$SHIM:$SHIM_NVML" AVEC_SERVER=127.0.0.1:$port \
    timeout 120 "$@" >"$W/shim.out" 2>"$W/shim.err"
  rc=$?
  echo "rc=$rc"; tail -5 "$W/shim.out"
  echo "-- shim stderr: warnings and errors"; grep -E 'avec\[[0-9]+\] (warn|error)' "$W/shim.err" | sort | uniq -c | head -40
  echo "-- shim stderr: crash backtrace"; grep -A45 'avec: fatal signal' "$W/shim.err" | head -48
  echo "-- shim stderr: Python stack / last lines"; grep -v 'avec\[[0-9]*\] \(debug\|stats\)' "$W/shim.err" | tail -40
  echo "-- shim stderr: last driver calls"; grep 'avec\[[0-9]*\] debug' "$W/shim.err" | tail -80
  echo "-- stats"; grep 'stats:' "$W/shim.err" | head -40
  if [ $rc -ge 128 ] && command -v gdb >/dev/null; then
    echo "-- gdb backtrace of the crash"
    env AVEC_LOG=warn LD_PRELOAD="$SHIM:$SHIM_NVML" AVEC_SERVER=127.0.0.1:$port timeout 180 \
      gdb -q -batch -ex run -ex bt -ex 'info registers rip' --args "$@" 2>&1 | grep -E '^#|rip|signal' | head -40
  fi
  echo "-- executor log (errors, warnings, last lines)"
  grep -E '"level":"(error|warn)"' "$W/executor.log" | cut -c1-300 | tail -20
  tail -5 "$W/executor.log" | cut -c1-300
} >"$out" 2>&1
cat "$out"
