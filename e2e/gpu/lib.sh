# shellcheck shell=bash
# Shared helpers for e2e/gpu/run.sh and e2e/gpu/bench.sh (sourced).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
G=$ROOT/.gpu
SHIM=$G/avec/libcuda.so.1
SHIM_NVML=$G/avec/libnvidia-ml.so.1
EXECUTOR=$G/avec/avec-executor

# libcudart.so.13 for the -cudart shared programs: the machine's CUDA install first, else our copy.
find_cudart() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 \
           /usr/local/cuda-13*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcudart.so.13" ] && { echo "$d"; return; }
  done
  d=$(ldconfig -p 2>/dev/null | awk '/libcudart.so.13 /{print $NF; exit}')
  [ -n "$d" ] && { dirname "$d"; return; }
  d=$(python3 -c 'import nvidia.cu13, os; print(os.path.join(nvidia.cu13.__path__[0], "lib"))' 2>/dev/null)
  [ -n "$d" ] && [ -e "$d/libcudart.so.13" ] && { echo "$d"; return; }
  echo "$G/lib"
}

# wait_port PORT SECONDS: until something accepts on 127.0.0.1:PORT.
# A TCP port nothing listens on now (the kernel picks it; random numbers collide with ephemeral ports).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# start_executor PORT LOG [extra args...]: starts the standalone executor; sets EXEC_PID.
start_executor() {
  local port=$1 log=$2
  shift 2
  EXEC_PID=
  [ -x "$EXECUTOR" ] || { echo "no executor at $EXECUTOR" >&2; return 1; }
  "$EXECUTOR" --listen 127.0.0.1:$port --backend "${AVEC_E2E_BACKEND:-cuda}" "$@" >"$log" 2>&1 &
  EXEC_PID=$!
  # Something listening on the port is not enough: another executor may hold it, and ours then exits at
  # once (address in use), so it must still be running a moment later.
  if ! wait_port "$port" 20 || ! { sleep 0.3; kill -0 "$EXEC_PID" 2>/dev/null; }; then
    echo "executor did not listen on $port (log: $log)" >&2
    tail -20 "$log" >&2
    return 1
  fi
}

stop_pid() { [ -n "${1:-}" ] && kill "$1" 2>/dev/null && wait "$1" 2>/dev/null; true; }

machine_info() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(tr '\n' ' ' <"$G/commit" 2>/dev/null || echo unknown)"
  echo "host: $(uname -srm), $(nproc) cpus, glibc $(ldd --version 2>/dev/null | head -1 | awk '{print $NF}')"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,pci.bus_id --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
  fi
  echo "cudart (shared programs): $(find_cudart)"
}

# compare_outputs NATIVE SHIM DIFF: compares a native and a through-the-shim stdout; 0 when they match.
# '#' lines are informational and ignored. Lines '~RTOL label: x y ...' (python/outfmt.py) match when every
# field is identical or, for numbers, |a - b| <= RTOL * max(|a|, |b|, 1). Everything else must be identical.
# DIFF receives a unified diff of the compared lines (empty when they match).
compare_outputs() {
  local n=$3.native s=$3.shim
  grep -v '^#' "$1" >"$n"
  grep -v '^#' "$2" >"$s"
  if cmp -s "$n" "$s" || { [ -s "$n" ] && [ -s "$s" ] && awk '
      function abs(v) { return v < 0 ? -v : v }
      function num(v) { return v ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
      NR == FNR { a[FNR] = $0; na = FNR; next }
      { nb = FNR; x = a[FNR]; y = $0
        if (x == y) next
        if (x !~ /^~/ || y !~ /^~/) { bad = 1; exit }
        nx = split(x, X, " "); ny = split(y, Y, " ")
        if (nx != ny || X[1] != Y[1]) { bad = 1; exit }
        tol = substr(X[1], 2) + 0
        for (i = 2; i <= nx; i++) {
          if (X[i] == Y[i]) continue
          if (!num(X[i]) || !num(Y[i])) { bad = 1; exit }
          m = abs(X[i]); if (abs(Y[i]) > m) m = abs(Y[i]); if (m < 1) m = 1
          if (abs(X[i] - Y[i]) > tol * m) { bad = 1; exit }
        }
      }
      END { exit (bad || na != nb) }' "$n" "$s"; }; then
    : >"$3"
    rm -f "$n" "$s"
    return 0
  fi
  diff -u "$n" "$s" >"$3"
  rm -f "$n" "$s"
  return 1
}

# stderr_digest FILE [LINES]: the distinct avec shim warnings/errors in FILE (they name unsupported driver
# calls; pid removed, at most 12), then its last LINES (default 15) lines.
stderr_digest() {
  local f=$1 k=${2:-15}
  [ -f "$f" ] || { echo "(no stderr file $f)"; return; }
  if grep -qE 'avec\[[0-9]+\] (warn|error):' "$f"; then
    echo "-- distinct shim warnings/errors:"
    grep -oE 'avec\[[0-9]+\] (warn|error):.*' "$f" | sed -E 's/^avec\[[0-9]+\] //' | sort | uniq -c | sort -rn | head -12
  fi
  echo "-- stderr (last $k lines):"
  tail -n "$k" "$f"
}
