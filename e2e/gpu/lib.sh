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
  if ! wait_port "$port" 20; then
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
