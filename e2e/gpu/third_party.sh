#!/usr/bin/env bash
# numba-cuda's own test suites (code nobody here wrote), natively and through the shim in the same run
# (issue 6): `pytest --pyargs numba.cuda.tests.SUITE -n 8` once natively and once with
# LD_PRELOAD=<shim> AVEC_SERVER=<a local avec-executor>, both at the same time (16 workers on 16 cores),
# then compared per test id. Prints per suite exactly one line
#   numba-cuda SUITE: N of M natively passing tests pass through the shim
# followed by the others (test id + first line of the failure) and the distinct shim warnings, then
# "PASS|FAIL numba-cuda SUITE: P% (target T%)" against the issue's targets (cudadrv 97%, cudapy 95%).
# run.sh runs this as its "numba" part; it also runs alone:
#   bash e2e/gpu/third_party.sh
# Environment (all optional):
#   NUMBA_SUITES       "cudadrv cudapy" (default) or a subset, comma or space separated
#   NUMBA_K            a pytest -k expression, for quick iterations (the counts then cover that subset)
#   NUMBA_PROCS        xdist workers per run (default 8)
#   NUMBA_SERIAL=1     native run first, then the shim run (default: both at once)
#   NUMBA_TIMEOUT      seconds per pytest run (default 540, so one suite fits a 10-minute command; then
#                      SIGINT: pytest stops and what finished still counts, the rest counts as not
#                      passing); AVEC_TEST_TIMEOUT per test (default 300)
#   NUMBA_SERVER       HOST:PORT of a running executor (default: start one on 127.0.0.1:${AVEC_NUMBA_PORT:-7440})
#   OUT                result directory (default: a new temp dir); gets numba-cuda-SUITE.txt (the lines
#                      above plus the natively failing tests) and numba-cuda-logs-SUITES.tar.gz (per-test result
#                      lines, junit reports, pytest logs, executor log)
# python/numba_tests is on PYTHONPATH: its plugin, and a sitecustomize.py that gives numpy 2 back
# np.row_stack in every child Python the tests start themselves (test_print, test_caching, test_ipc, ...).
# Needs numba-cuda, pytest and pytest-xdist. Stand-ins for the test-only packages cffi and filecheck are put
# on PYTHONPATH only where the real ones are missing (python/numba_tests/standins/README.md).
# Exit status: 0 when every suite met its target, 1 otherwise, 2 when it could not run.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

SUITES=$(echo "${NUMBA_SUITES:-cudadrv cudapy}" | tr ',' ' ')
PROCS=${NUMBA_PROCS:-8}
RUN_TIMEOUT=${NUMBA_TIMEOUT:-540}
export AVEC_TEST_TIMEOUT=${AVEC_TEST_TIMEOUT:-300}
RES=${OUT:-$(mktemp -d /tmp/avec-numba-results.XXXXXX)}
W=$(mktemp -d /tmp/avec-numba.XXXXXX)
PLUG=$ROOT/e2e/gpu/python/numba_tests
mkdir -p "$RES" "$W/run" "$W/standins"
declare -A TARGET=([cudadrv]=97 [cudapy]=95)

echo "== numba-cuda test suites, native and through the shim: ${SUITES} (${PROCS} workers each${NUMBA_K:+, -k '$NUMBA_K'}) =="
if ! python3 -c 'import numba.cuda, pytest, xdist' 2>"$W/import.err"; then
  echo "FAIL numba-cuda: cannot import numba.cuda, pytest and xdist:"
  tail -5 "$W/import.err"
  exit 2
fi
python3 - <<'PY'
import importlib.metadata as md
for d in ("numba-cuda", "numba", "numpy", "cuda-bindings", "cuda-core", "pytest", "pytest-xdist", "cffi", "filecheck", "ml_dtypes"):
    try:
        print(f"  {d} {md.version(d)}")
    except md.PackageNotFoundError:
        print(f"  {d}: not installed")
PY
missing=$(python3 -c 'import importlib.util as u; print(" ".join(m for m in ("cffi", "filecheck") if u.find_spec(m) is None))')
for m in $missing; do ln -s "$PLUG/standins/$m" "$W/standins/$m"; done
echo "  stand-ins used: ${missing:-none}"
PYPATH=$PLUG:$W/standins${PYTHONPATH:+:$PYTHONPATH}
# pytest's rootdir: the directory holding numba/cuda/tests, so test ids are numba/cuda/tests/SUITE/test_x.py::...
TOP=$(PYTHONPATH=$PYPATH python3 -c 'import os, numba.cuda.tests as t; print(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(t.__file__))))))')

EXEC_PID=
SERVER=${NUMBA_SERVER:-}
if [ -z "$SERVER" ]; then
  port=${AVEC_NUMBA_PORT:-7440}
  start_executor "$port" "$W/executor.log" --log-level info || { echo "FAIL numba-cuda: executor did not start"; exit 2; }
  SERVER=127.0.0.1:$port
fi
trap 'stop_pid "$EXEC_PID"' EXIT
for f in "$SHIM" "$SHIM_NVML"; do [ -e "$f" ] || echo "  MISSING: $f (run make gpu-e2e with the shim built)"; done

# run_suite SUITE MODE: one pytest run in the background; sets LAST_PID.
run_suite() {
  local suite=$1 mode=$2 pre=()
  [ "$mode" = shim ] && pre=(LD_PRELOAD="$SHIM:$SHIM_NVML" AVEC_SERVER="$SERVER" AVEC_LOG="${AVEC_LOG:-warn}")
  local args=(-m pytest --pyargs "numba.cuda.tests.$suite" -p avec_numba_plugin -p no:cacheprovider
    -c /dev/null --rootdir "$TOP" --import-mode=importlib -n "$PROCS" --max-worker-restart 200 --continue-on-collection-errors
    -o junit_logging=system-err --junitxml "$W/$suite.$mode.xml" -q -rN)
  [ -n "${NUMBA_K:-}" ] && args+=(-k "$NUMBA_K")
  (
    cd "$W/run" || exit 2
    t0=$(date +%s)
    env -u LD_PRELOAD -u AVEC_SERVER PYTHONPATH="$PYPATH" AVEC_WATCHDOG_LOG="$W/$suite.$mode.watchdog" \
      AVEC_RESULTS_JSONL="$W/$suite.$mode.jsonl" "${pre[@]}" \
      timeout -s INT -k 30 "$RUN_TIMEOUT" python3 "${args[@]}" >"$W/$suite.$mode.log" 2>&1
    rc=$?
    echo "  $suite $mode: pytest rc=$rc in $(($(date +%s) - t0)) s; $(grep -E '(passed|failed|error|skipped).* in ' "$W/$suite.$mode.log" | tail -1)"
    [ $rc = 124 ] && echo "  $suite $mode: stopped at NUMBA_TIMEOUT=$RUN_TIMEOUT s; tests it did not finish count as not passing"
    exit $rc
  ) &
  LAST_PID=$!
}

fails=0
for suite in $SUITES; do
  if [ "${NUMBA_SERIAL:-0}" = 1 ]; then
    run_suite "$suite" native; wait "$LAST_PID"
    run_suite "$suite" shim; wait "$LAST_PID"
  else
    run_suite "$suite" native; np=$LAST_PID
    run_suite "$suite" shim; sp=$LAST_PID
    wait "$np"; wait "$sp"
  fi
  for mode in native shim; do
    [ -s "$W/$suite.$mode.jsonl" ] && continue
    echo "  $suite $mode: NO results; pytest log tail:"
    stderr_digest "$W/$suite.$mode.log" 25 | sed 's/^/    /'
  done
  [ -s "$W/$suite.shim.watchdog" ] && { echo "  $suite shim: watchdog ended workers:"; grep '^avec watchdog' "$W/$suite.shim.watchdog" | sed 's/^/    /'; }
  python3 "$PLUG/compare_runs.py" "$suite" "$W/$suite.native.jsonl" "$W/$suite.shim.jsonl" "$RES" "$W/$suite.shim.log"
  read -r n m < <(awk 'NR == 1 { print $3, $5 }' "$RES/numba-cuda-$suite.txt")
  t=${TARGET[$suite]:-100}
  if [ "${m:-0}" -gt 0 ] && awk -v n="$n" -v m="$m" -v t="$t" 'BEGIN { exit !(100 * n >= t * m) }'; then
    v=PASS
  else
    v=FAIL fails=$((fails + 1))
  fi
  echo "$v numba-cuda $suite: $(awk -v n="${n:-0}" -v m="${m:-0}" 'BEGIN { printf "%.1f", m ? 100 * n / m : 0 }')% of $m (target $t%)${NUMBA_K:+ [subset -k $NUMBA_K]}"
done
if [ -n "$EXEC_PID" ] && ! kill -0 "$EXEC_PID" 2>/dev/null; then
  echo "  executor exited during the run; its log tail:"
  tail -20 "$W/executor.log" | sed 's/^/    /'
fi
stop_pid "$EXEC_PID"
EXEC_PID=
logs=numba-cuda-logs-$(echo $SUITES | tr ' ' '+').tar.gz
tar -C "$W" -czf "$RES/$logs" --exclude=run --exclude=standins . 2>/dev/null
rm -rf "$W"
echo "results: $RES ($(for s in $SUITES; do printf 'numba-cuda-%s.txt ' "$s"; done)$logs)"
[ $fails = 0 ]
