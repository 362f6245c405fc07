#!/usr/bin/env bash
# NVIDIA's public CUDA samples (code nobody here wrote; issue 11), natively and through the shim in the same
# run. Built on the development machine by `make gpu-samples` into .gpu/samples/samples.tar.xz (the list of
# samples, their binaries and data files). Each sample runs natively, then with LD_PRELOAD=<shim>
# AVEC_SERVER=<a local avec-executor>, SAMPLES_JOBS samples at a time, each run under a timeout. A run passes
# when it exits 0 and prints no failure line ("Result = FAIL", "Test failed", "FAILED"); through the shim it
# must also print every pass marker the native run printed ("Result = PASS", "Test passed", "PASSED").
# Prints exactly one count line
#   cuda-samples: N of M natively passing samples pass through the shim
# then the others, each with the last lines of its output and its first shim warning, and the samples that
# did not pass natively (not counted: exit 2 is the samples' "waived", e.g. a missing device feature).
#   bash e2e/gpu/samples.sh [--native-only] [--only REGEX] [--dry-run]
# Environment (all optional):
#   SAMPLES_JOBS      samples at a time (default 4: one GPU, 16 cores)
#   SAMPLES_TIMEOUT   seconds per run (default 60; samples.txt may set one per sample)
#   SAMPLES_BUDGET    seconds for the whole run (default 540, so it fits a 10-minute command); a sample starts
#                     only while twice its timeout still fits (native + shim); the others are listed as not run
#                     and count as not passing
#   SAMPLES_TARGET    percent for the PASS|FAIL line (default 99)
#   SAMPLES_DIR       an unpacked samples tree (default: unpack .gpu/samples/samples.tar.xz to a temp dir)
#   SAMPLES_SERVER    HOST:PORT of a running executor (default: start one on 127.0.0.1:${AVEC_SAMPLES_PORT:-7460})
#   SAMPLES_SHIM      the shim's libcuda.so.1 (default .gpu/avec/libcuda.so.1)
#   OUT               result directory (default .gpu/results): cuda-samples.txt, cuda-samples-logs.tar.gz
# --dry-run prints the plan (sample, command, timeout, serial or not) and runs nothing.
# Exit status: 0 when the target is met, 1 otherwise, 2 when it could not run.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

NATIVE_ONLY=0 ONLY=. DRY=0
while [ $# -gt 0 ]; do
  case $1 in
    --native-only) NATIVE_ONLY=1 ;;
    --only) ONLY=$2; shift ;;
    --dry-run) DRY=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
JOBS=${SAMPLES_JOBS:-4}
TIMEOUT=${SAMPLES_TIMEOUT:-60}
BUDGET=${SAMPLES_BUDGET:-540}
TARGET=${SAMPLES_TARGET:-99}
SHIM_LIB=${SAMPLES_SHIM:-$SHIM}
RES=${OUT:-$G/results}
W=$(mktemp -d /tmp/avec-samples.XXXXXX)
mkdir -p "$RES" "$W/logs" "$W/res"
T0=$(date +%s)

# --- the samples: list.txt in the tree (CATEGORY/SAMPLE EXECUTABLE), run settings from samples.txt --------
DIR=${SAMPLES_DIR:-}
if [ -z "$DIR" ]; then
  tarball=$G/samples/samples.tar.xz
  [ -f "$tarball" ] || { echo "FAIL cuda-samples: no $tarball (run make gpu-samples)"; exit 2; }
  # Python's lzma when the machine has no xz binary.
  tar -xJf "$tarball" -C "$W" 2>/dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$tarball" "$W" ||
    { echo "FAIL cuda-samples: cannot unpack $tarball"; exit 2; }
  DIR=$W/samples
fi
[ -f "$DIR/list.txt" ] || { echo "FAIL cuda-samples: no $DIR/list.txt"; exit 2; }

# samples.txt: SAMPLE [serial] [timeout=S] [-- ARGS...]
declare -A ARGS=() SERIAL=() TMO=()
while read -r name rest; do
  [[ -z $name || $name == \#* ]] && continue
  opts=${rest%%--*}
  [[ $rest == *--* ]] && ARGS[$name]=${rest#*-- }
  for o in $opts; do
    case $o in
      serial) SERIAL[$name]=1 ;;
      timeout=*) TMO[$name]=${o#timeout=} ;;
    esac
  done
done <"$(dirname "$0")/samples/samples.txt"

ORDER=() LATE=()  # parallel ones first, then the serial ones alone
while read -r path exe; do
  [[ -z $path || $path == \#* ]] && continue
  name=$(basename "$path")
  [[ $path =~ $ONLY ]] || continue
  if [ -n "${SERIAL[$name]:-}" ]; then LATE+=("$path $exe"); else ORDER+=("$path $exe"); fi
done <"$DIR/list.txt"

if [ $DRY = 1 ]; then
  for e in "${ORDER[@]}" "${LATE[@]}"; do
    read -r path exe <<<"$e"; name=$(basename "$path")
    printf '%-58s timeout=%-4s %-8s %s\n' "$path" "${TMO[$name]:-$TIMEOUT}" "$([ -n "${SERIAL[$name]:-}" ] && echo serial || echo parallel)" \
      "./$exe${ARGS[$name]:+ ${ARGS[$name]}}"
  done
  echo "cuda-samples: ${#ORDER[@]} parallel + ${#LATE[@]} serial samples, $JOBS at a time (dry run)"
  rm -rf "$W"
  exit 0
fi

echo "== NVIDIA cuda-samples, native and through the shim: $((${#ORDER[@]} + ${#LATE[@]})) samples, $JOBS at a time =="
machine_info
CUDART_DIR=$(find_cudart)
LIBS=$CUDART_DIR
for d in "$CUDART_DIR/../nvvm/lib64" /usr/local/cuda/nvvm/lib64; do [ -d "$d" ] && LIBS=$LIBS:$d; done
export LD_LIBRARY_PATH=$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:$DIR/lib
# libNVVM samples look for libdevice under LIBNVVM_HOME.
for d in "$CUDART_DIR/../nvvm" /usr/local/cuda/nvvm; do [ -d "$d/libdevice" ] && { export LIBNVVM_HOME=${LIBNVVM_HOME:-$(cd "$d" && pwd)}; break; }; done

EXEC_PID=
SERVER=${SAMPLES_SERVER:-}
if [ $NATIVE_ONLY = 0 ] && [ -z "$SERVER" ]; then
  [ -e "$SHIM_LIB" ] || echo "  MISSING: $SHIM_LIB (run make gpu-e2e with the shim built)"
  port=${AVEC_SAMPLES_PORT:-7460}
  start_executor "$port" "$W/logs/executor.log" --log-level info || { echo "FAIL cuda-samples: executor did not start"; exit 2; }
  SERVER=127.0.0.1:$port
fi
trap 'stop_pid "$EXEC_PID"' EXIT

FAIL_RE='Result = FAIL|[Tt]est [Ff]ailed|Test FAILED|FAILED'
PASS_RE='Result = PASS|[Tt]est [Pp]assed|PASSED'
# verdict OUT RC: pass | rc=N | waived | timeout | failure line
verdict() {
  case $2 in
    0) grep -qE "$FAIL_RE" "$1" && echo "failure line" || echo pass ;;
    2) echo waived ;;
    124 | 137) echo timeout ;;
    *) echo "rc=$2" ;;
  esac
}
# run_side NAME SIDE DIR EXE: one run (cwd: the sample's folder, where it finds its data files); prints RC SECS.
run_side() {
  local name=$1 side=$2 dir=$3 exe=$4 t0 rc pre=()
  [ "$side" = shim ] && pre=(env LD_PRELOAD="$SHIM_LIB" AVEC_SERVER="$SERVER" AVEC_LOG="${AVEC_LOG:-warn}")
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086  # ARGS are words
  (cd "$dir" && exec timeout -k 5 "${TMO[$name]:-$TIMEOUT}" "${pre[@]}" "./$exe" ${ARGS[$name]:-}) \
    >"$W/logs/$name.$side.out" 2>"$W/logs/$name.$side.err" </dev/null
  rc=$?
  echo "$rc $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b - a}')"
}
# run_one PATH EXE: native, then through the shim; writes res/NAME: NAME|native verdict|shim verdict|secs|secs
run_one() {
  local path=$1 exe=$2 name nv sv nrc ns src ss=- m
  name=$(basename "$path")
  read -r nrc ns < <(run_side "$name" native "$DIR/$path" "$exe")
  nv=$(verdict "$W/logs/$name.native.out" "$nrc")
  sv=-
  if [ $NATIVE_ONLY = 0 ] && [ "$nv" = pass ]; then
    read -r src ss < <(run_side "$name" shim "$DIR/$path" "$exe")
    sv=$(verdict "$W/logs/$name.shim.out" "$src")
    if [ "$sv" = pass ]; then
      # Every pass marker of the native run must be there through the shim too (the marker, not the whole
      # line: such lines may carry timings).
      while read -r m; do
        grep -qF -- "$m" "$W/logs/$name.shim.out" || { sv="no '$m'"; break; }
      done < <(grep -oE "$PASS_RE" "$W/logs/$name.native.out" | sort -u)
    fi
  fi
  echo "$name|$nv|$sv|$ns|$ss" >"$W/res/$name"
  printf '[samples] %-40s native %-12s shim %-14s %6ss %6ss\n' "$name" "$nv" "$sv" "$ns" "$ss"
}

# Parallel first (JOBS at a time), then the serial ones alone; nothing new starts past the budget.
# Only the sample jobs are waited for, by pid: the executor is a child of this shell too.
NOTRUN=() JOBPIDS=()
reap_one() {  # waits for one sample job to end and drops it from JOBPIDS
  local done_pid='' p keep=()
  wait -n -p done_pid "${JOBPIDS[@]}"
  for p in "${JOBPIDS[@]}"; do [ "$p" = "$done_pid" ] || keep+=("$p"); done
  JOBPIDS=("${keep[@]}")
}
for e in "${ORDER[@]}" - "${LATE[@]}"; do
  if [ "$e" = - ]; then while ((${#JOBPIDS[@]})); do reap_one; done; continue; fi
  read -r path exe <<<"$e"
  if (($(date +%s) - T0 + ${TMO[$(basename "$path")]:-$TIMEOUT} * 2 > BUDGET)); then NOTRUN+=("$(basename "$path")"); continue; fi
  if [ -n "${SERIAL[$(basename "$path")]:-}" ]; then run_one "$path" "$exe"; continue; fi
  run_one "$path" "$exe" &
  JOBPIDS+=($!)
  if ((${#JOBPIDS[@]} >= JOBS)); then reap_one; fi
done
while ((${#JOBPIDS[@]})); do reap_one; done

# --- report ---------------------------------------------------------------------------------------------
REPORT=$RES/cuda-samples.txt
{
  n=0 m=0 others=() natfail=()
  for f in "$W"/res/*; do
    [ -e "$f" ] || continue
    IFS='|' read -r name nv sv ns ss <"$f"
    if [ "$nv" != pass ]; then natfail+=("$name: $nv"); continue; fi
    m=$((m + 1))
    if [ "$sv" = pass ]; then n=$((n + 1)); else others+=("$name|$sv"); fi
  done
  for name in "${NOTRUN[@]}"; do others+=("$name|not run (its native and shim timeouts no longer fitted in SAMPLES_BUDGET=${BUDGET}s)"); m=$((m + 1)); done
  if [ $NATIVE_ONLY = 1 ]; then
    echo "cuda-samples: $m samples pass natively (native only)"
  else
    echo "cuda-samples: $n of $m natively passing samples pass through the shim"
  fi
  for o in "${others[@]}"; do
    IFS='|' read -r name sv <<<"$o"
    echo "  FAIL $name: $sv"
    [ -f "$W/logs/$name.shim.out" ] || continue
    sed 's/^/      | /' < <(cat "$W/logs/$name.shim.out" "$W/logs/$name.shim.err" | grep -v '^\s*$' | tail -6)
    w=$(grep -m1 -iE 'not supported|unsupported|avec\[[0-9]+\] (warn|error)' "$W/logs/$name.shim.err")
    [ -n "$w" ] && echo "      shim: $w"
  done
  echo "natively not passing (not counted): ${#natfail[@]}"
  for o in "${natfail[@]}"; do
    name=${o%%:*}
    echo "  $o: $(cat "$W/logs/$name.native.out" "$W/logs/$name.native.err" 2>/dev/null | grep -v '^\s*$' | tail -1 | cut -c1-160)"
  done
  if [ $NATIVE_ONLY = 0 ]; then
    pct=$(awk -v n=$n -v m=$m 'BEGIN{printf "%.1f", m ? 100 * n / m : 0}')
    ok=$(awk -v n=$n -v m=$m -v t="$TARGET" 'BEGIN{print (m > 0 && 100 * n >= t * m) ? "PASS" : "FAIL"}')
    echo "$ok cuda-samples: $pct% (target $TARGET%) in $(($(date +%s) - T0)) s"
  fi
  echo "per sample: name|native|shim|native_s|shim_s"
  cat "$W"/res/* 2>/dev/null | sort | sed 's/^/  /'
} >"$REPORT"
# The console gets the summary without the per-sample table (that stays in the file).
sed '/^per sample:/,$d' "$REPORT"
stop_pid "$EXEC_PID"
tar -C "$W/logs" -czf "$RES/cuda-samples-logs.tar.gz" . 2>/dev/null
rm -rf "$W"
grep -q '^PASS cuda-samples' "$REPORT" || { [ $NATIVE_ONLY = 1 ] && exit 0; exit 1; }
