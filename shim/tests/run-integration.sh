#!/usr/bin/env bash
# Integration suite of the shim against a real executor (emulated backend, standalone --listen mode):
#   1. driver_test: the driver API through the shim (linked with -lcuda); memext_test: memory pools,
#      virtual memory, IPC between two client processes, 2D copies larger than a staging chunk; share_test:
#      POSIX-fd shareable handles of VMM allocations and pools passed to a child process; array_test:
#      CUDA arrays (every shape, copies in every direction), texture and surface objects
#   2. cudart_test_static / cudart_test_shared: nvcc-built runtime programs, LD_PRELOAD of the shim
#   3. faults: server unreachable at cuInit (error + exactly one log line naming the endpoint), executor
#      killed mid-session (error, no hang)
# Usage: run-integration.sh SHIM_BUILD_DIR EXECUTOR   (CUDA_HOME for the shared cudart)
set -u
out=$(cd "${1:-build/shim}" && pwd)
exe=${2:-build/native/avec-executor}
tests=$out/tests
limit=268435456
work=$(mktemp -d /tmp/avec-shim-it-XXXXXX)
pass=0 fail=0
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_executor VAR [ARGS...]: starts a listener in its own process group; sets VAR to "port pgid"
start_executor() {
  local port log var=$1
  shift
  port=$(free_port)
  log=$work/executor-$port.log
  setsid "$exe" --listen "127.0.0.1:$port" --backend emulated --memory-limit $limit --log-level warn "$@" >"$log" 2>&1 &
  local pid=$!
  disown "$pid"
  pids+=("$pid")
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  eval "$var='$port $pid'"
}

# record NAME RC LOG: adds a program's own "N passed, M failed" line to the totals
record() {
  local name=$1 rc=$2 log=$3 line p f
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  p=$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
  [ -n "$line" ] || { p=0; f=1; }
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f))
  printf '  %-28s %s\n' "$name" "${line:-no summary (rc $rc)}"
  [ "$f" -eq 0 ] || sed 's/^/    | /' "$log" | grep -v ' debug: ' | tail -25
}

check() { # check NAME CONDITION-RESULT
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "  FAIL: $1"; fi
}

echo "shim integration (executor: $exe, emulated, limit $limit)"
start_executor main
read -r port pgid <<<"$main"
export AVEC_TEST_LIMIT=$limit

AVEC_SERVER=127.0.0.1:$port AVEC_LOG=warn timeout 120 "$tests/driver_test" main "$tests/kernels.fatbin" "$out" >"$work/driver.log" 2>&1
record "driver API" $? "$work/driver.log"
n=$(grep -c 'was written while device work that uses it may be running' "$work/driver.log" || true)
check "a host write to a small mirror during device work is delivered, not warned about ($n)" "$([ "$n" = 0 ]; echo $?)"

# A host write to pinned memory while a kernel that uses it may run (a flag a spinning kernel polls) reaches
# the GPU node when the program next queries or synchronizes, beside the running work (MIRROR_WRITE_NOW);
# with nothing changed, nothing is sent. The emulated device runs no kernels, but the bytes move for real:
# the device's copy is read back through the shim, and the executor counts the opcode.
start_executor mirror_exec --log-level info
read -r mport mpgid <<<"$mirror_exec"
mirror=$(AVEC_SERVER=127.0.0.1:$mport AVEC_LOG=debug timeout 60 python3 - "$out/libcuda.so.1" "$tests/kernels.fatbin" \
  2>"$work/mirror.log" <<'PY'
import ctypes, sys
from ctypes import byref, c_void_p, c_uint64, c_float, c_int, addressof
lib = ctypes.CDLL(sys.argv[1])
NOT_SUPPORTED = 801  # the emulated device's launch error, reported by the next synchronous call
ctx, mod, f, hp, mirror = c_void_p(), c_void_p(), c_void_p(), c_void_p(), c_uint64()
assert lib.cuInit(0) == 0 and lib.cuDevicePrimaryCtxRetain(byref(ctx), 0) == 0 and lib.cuCtxSetCurrent(ctx) == 0
assert lib.cuDevicePrimaryCtxSetFlags_v2(0, 4) == 0  # CU_CTX_SCHED_BLOCKING_SYNC: reply waits spin briefly
assert lib.cuModuleLoad(byref(mod), sys.argv[2].encode()) == 0
assert lib.cuModuleGetFunction(byref(f), mod, b"scale") == 0
assert lib.cuMemAllocHost_v2(byref(hp), ctypes.c_size_t(4096)) == 0
flag = (ctypes.c_uint8 * 4096).from_address(hp.value)
ctypes.memset(hp, 0x5a, 4096)
ptr, a, n = c_uint64(hp.value), c_float(2), c_int(16)  # the host address: the shim passes its mirror
args = (c_void_p * 4)(addressof(ptr), addressof(ptr), addressof(a), addressof(n))
launch = lambda: lib.cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, None, args, None)
out = []
assert launch() == 0
flag[100] = 7                                      # while the kernel would run
out.append(lib.cuStreamQuery(None) == NOT_SUPPORTED)  # the query delivers it
assert lib.cuCtxSynchronize() == 0                 # the device's view comes back over the host's bytes:
out.append(flag[100])                              # it holds the write (0x5a = 90 had it not been delivered)
assert launch() == 0
out.append(lib.cuCtxSynchronize() == NOT_SUPPORTED)  # nothing changed: nothing sent
ev = c_void_p()
assert launch() == 0 and lib.cuEventCreate(byref(ev), 0) == 0 and lib.cuEventRecord(ev, None) == 0
flag[200] = 9                                      # after the launch: only the event's wait can send it
out.append(lib.cuEventSynchronize(ev) == NOT_SUPPORTED)
assert lib.cuCtxSynchronize() == 0
out.append(flag[200])
got = (ctypes.c_uint8 * 1)()                       # and the mirror's bytes, read through the shim
assert lib.cuMemHostGetDevicePointer_v2(byref(mirror), hp, 0) == 0
assert lib.cuMemcpyDtoH_v2(got, c_uint64(mirror.value + 100), ctypes.c_size_t(1)) == 0
out.append(got[0])
managed, plain = c_uint64(), c_uint64()          # managed memory starts as zeros on the device side too, zeroed
assert lib.cuMemAllocManaged(byref(managed), ctypes.c_size_t(256), 1) == 0  # beside the streams (MIRROR_ZERO_NOW)
(ctypes.c_uint8 * 256).from_address(managed.value)[5] = 3  # and a host write after that reaches device work
assert lib.cuMemAlloc_v2(byref(plain), ctypes.c_size_t(256)) == 0
assert lib.cuMemcpyDtoD_v2(plain, managed, ctypes.c_size_t(256)) == 0
dev = (ctypes.c_uint8 * 256)()
assert lib.cuMemcpyDtoH_v2(dev, plain, ctypes.c_size_t(256)) == 0
out.append(sum(dev) * 10 + dev[5])
print(" ".join(str(int(x)) for x in out))
PY
)
check "host writes during device work reach the mirror at the next query or synchronize ($mirror)" \
  "$([ "$mirror" = "1 7 1 1 9 7 33" ]; echo $?)"
n=$(grep -c 'written on the GPU node beside that work' "$work/mirror.log" || true)
check "each changed mirror delivered once, said at debug level ($n)" "$([ "$n" = 2 ]; echo $?)"
grep -q 'scheduled BLOCKING_SYNC: reply waits spin at most 250 us' "$work/mirror.log"
check "a program that schedules its waits BLOCKING_SYNC gets reply waits that spin only briefly" $?
for _ in $(seq 50); do grep -q '"session_end"' "$work/executor-$mport.log" && break; sleep 0.1; done
# Four: the mirror's first upload at the first launch (host changes go beside running work too, not on the
# legacy stream), the two host writes, and the managed memory's before the copy; none for the launch that
# found the mirror unchanged.
grep -q '"event":"session_end".*MIRROR_WRITE_NOW:4:0:' "$work/executor-$mport.log"
check "the executor got four MIRROR_WRITE_NOW frames, none for the unchanged mirror" $?
grep -q '"event":"session_end".*MIRROR_ZERO_NOW:1:0:' "$work/executor-$mport.log" &&
  ! grep -q '"event":"session_end".*[",]MEMSET:' "$work/executor-$mport.log"
check "a managed allocation's device side is zeroed beside the streams, with no stream-ordered memset" $?

# Kernel counts and enumeration as the server answers them (the path of compressed fat binaries, cuFFT's):
# the same handles as cuModuleGetFunction, cuFFT's slot-7 walk, a pending module uploaded on NEED_IMAGE.
AVEC_SERVER=127.0.0.1:$port AVEC_TEST_SERVER_KERNEL_NAMES=1 AVEC_LOG=debug timeout 120 "$tests/driver_test" names \
  "$tests/kernels.fatbin" >"$work/names.log" 2>&1
record "kernel names from the server" $? "$work/names.log"
grep -q "module request 176 (module [0-9]*): status 0x10001" "$work/names.log"
check "kernel names of a pending module: NEED_IMAGE answered by an upload" $?
[ "$(grep -cE 'module [0-9]+: [0-9]+ kernel names from the server' "$work/names.log")" -eq 3 ]
check "kernel names asked once per module (count and enumeration share one answer)" $?

AVEC_SERVER=127.0.0.1:$port timeout 120 "$tests/memext_test" main >"$work/memext.log" 2>&1
record "pools, VMM, IPC, big 2D" $? "$work/memext.log"

AVEC_SERVER=127.0.0.1:$port timeout 120 "$tests/share_test" main >"$work/share.log" 2>&1
record "shareable fds (VMM, pools)" $? "$work/share.log"

AVEC_SERVER=127.0.0.1:$port timeout 120 "$tests/array_test" main >"$work/arrays.log" 2>&1
record "arrays, textures, surfaces" $? "$work/arrays.log"

AVEC_SERVER=127.0.0.1:$port AVEC_LOG=warn timeout 120 "$tests/graph_test" main >"$work/graph.log" 2>&1
record "graphs and stream capture" $? "$work/graph.log"
! grep -q "overlap" "$work/graph.log"; check "graph allocations reusing an address leave the range table coherent" $?

AVEC_SERVER=127.0.0.1:$port timeout 120 "$tests/hostfn_test" main >"$work/hostfn.log" 2>&1
record "host functions in graphs" $? "$work/hostfn.log"
# A client that dies inside a host function: its session ends (callback connection lost), the session
# process exits, nothing is left running.
start_executor cb_exec --log-level info
read -r cport cpgid <<<"$cb_exec"
(AVEC_SERVER=127.0.0.1:$cport timeout 30 "$tests/hostfn_test" die >"$work/hostfn-die.log" 2>&1) 2>/dev/null
grep -q "host function entered" "$work/hostfn-die.log"; check "a dying client reached its host function" $?
for _ in $(seq 50); do grep -q '"session_process_exit"' "$work/executor-$cport.log" && break; sleep 0.1; done
grep -q '"event":"session_end".*"reason":"callback_lost"' "$work/executor-$cport.log"
check "its session ended: callback connection lost" $?
grep -q '"event":"session_process_exit".*"live_sessions":0' "$work/executor-$cport.log"
check "its session process exited (no live sessions left)" $?

AVEC_SERVER=127.0.0.1:$port timeout 120 "$tests/jit_test" main >"$work/jit.log" 2>&1
record "JIT linking, stream attributes" $? "$work/jit.log"

# Bulk paths (issue 8): the same copies on one connection, over stripes, compressed, and against a server
# that offers neither (negotiation falls back).
for mode in "0 0" "3 0" "0 1" "4 1"; do
  read -r st z <<<"$mode"
  AVEC_SERVER=127.0.0.1:$port AVEC_STRIPES=$st AVEC_COMPRESS=$z timeout 120 "$tests/bulk_test" >"$work/bulk.log" 2>&1
  record "bulk copies stripes=$st zstd=$z" $? "$work/bulk.log"
done
AVEC_SERVER=127.0.0.1:$port AVEC_STRIPES=3 AVEC_LOG=info timeout 120 "$tests/bulk_test" >"$work/bulk-s.log" 2>&1
grep -q "stripes: 3 connections attached" "$work/bulk-s.log"; check "AVEC_STRIPES=3 attaches 3 stripes" $?
start_executor plain_exec --max-stripes 0 --no-compression
read -r pport ppgid <<<"$plain_exec"
AVEC_SERVER=127.0.0.1:$pport AVEC_STRIPES=4 AVEC_COMPRESS=1 AVEC_LOG=info timeout 120 "$tests/bulk_test" >"$work/bulk-f.log" 2>&1
record "bulk copies, fallback" $? "$work/bulk-f.log"

for v in static shared; do
  AVEC_SERVER=127.0.0.1:$port LD_LIBRARY_PATH=${CUDA_HOME:-}/lib LD_PRELOAD=$out/libcuda.so.1 \
    timeout 120 "$tests/cudart_test_$v" >"$work/cudart-$v.log" 2>&1
  record "nvcc program ($v cudart)" $? "$work/cudart-$v.log"
done

# AVEC_STATS=1: the exit report attributes round trips to driver functions (copies to the device are
# batched, attribute queries local, copies back block); AVEC_LOG=info prints only the summary line.
AVEC_STATS=1 AVEC_SERVER=127.0.0.1:$port LD_PRELOAD=$out/libcuda.so.1 timeout 60 "$tests/cudart_test_static" \
  >/dev/null 2>"$work/stats.err"
row() { awk -v f="$1" '$3 == f {print $4, $5, $6, $7}' "${2:-$work/stats.err}"; } # calls local batched round-trips
read -r c l b rt <<<"$(row cuDeviceGetAttribute)"
check "stats: cuDeviceGetAttribute answered locally ($c calls, $l local)" "$([ "${c:-0}" -gt 0 ] && [ "$c" = "$l" ] && [ "$rt" = 0 ]; echo $?)"
read -r c l b rt <<<"$(row cuMemcpyHtoD_v2)"
check "stats: cuMemcpyHtoD batched, no round trip ($b batched, $rt round trips)" "$([ "${b:-0}" -ge "${c:-1}" ] && [ "$rt" = 0 ]; echo $?)"
read -r c l b rt <<<"$(row cuMemcpyDtoH_v2)"
check "stats: cuMemcpyDtoH one round trip per call ($c calls, $rt round trips)" "$([ "${c:-0}" -gt 0 ] && [ "$c" = "$rt" ]; echo $?)"
check "stats: one summary line" "$([ "$(grep -c 'stats: 127.0.0.1.* driver calls' "$work/stats.err")" -eq 1 ]; echo $?)"
# A small image goes with its load: on a server that has never seen it, the first symbol lookups still
# take one round trip each (no NEED_IMAGE answer and retry).
start_executor fresh_exec
read -r fport fpgid <<<"$fresh_exec"
AVEC_STATS=1 AVEC_SERVER=127.0.0.1:$fport LD_PRELOAD=$out/libcuda.so.1 timeout 60 "$tests/cudart_test_static" \
  >/dev/null 2>"$work/stats.err"
read -r c l b rt <<<"$(row cuLibraryGetGlobal)"
check "stats: small module image sent with its load, no retry ($c lookups, $l local, $rt round trips)" \
  "$([ "${c:-0}" -gt "${l:-0}" ] && [ "$rt" -le $((c - l)) ]; echo $?)"
AVEC_LOG=info AVEC_SERVER=127.0.0.1:$port LD_PRELOAD=$out/libcuda.so.1 timeout 60 "$tests/cudart_test_static" \
  >/dev/null 2>"$work/stats-info.err"
check "stats: AVEC_LOG=info prints the summary, not the table" \
  "$(grep -q 'driver calls' "$work/stats-info.err" && ! grep -q 'round-trips' "$work/stats-info.err"; echo $?)"
# AVEC_LOG=debug: one line per blocking round trip, naming the driver function, as many as the table counts.
AVEC_LOG=debug AVEC_STATS=1 AVEC_SERVER=127.0.0.1:$port LD_PRELOAD=$out/libcuda.so.1 timeout 60 \
  "$tests/cudart_test_static" >/dev/null 2>"$work/stats-debug.err"
n=$(grep -c 'debug: round trip: cuMemcpyDtoH_v2 waited [0-9.]* ms' "$work/stats-debug.err")
read -r c l b rt <<<"$(row cuMemcpyDtoH_v2 "$work/stats-debug.err")"
check "stats: AVEC_LOG=debug names each round trip ($n lines, $rt counted)" "$([ "${rt:-0}" -gt 0 ] && [ "$n" = "$rt" ]; echo $?)"
# cuAvecStatsSnapshot: the running totals, read mid-program (the edge benchmark counts round trips per request).
snap=$(AVEC_STATS=1 AVEC_SERVER=127.0.0.1:$port timeout 60 python3 - "$out/libcuda.so.1" 2>/dev/null <<'PY'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
snap = lambda: (lambda a: (lib.cuAvecStatsSnapshot(a), list(a)))((ctypes.c_uint64 * 7)())
r0, a = snap()
assert lib.cuInit(0) == 0
n, p = ctypes.c_int(), ctypes.c_void_p()
assert lib.cuDeviceGetCount(ctypes.byref(n)) == 0 and lib.cuDevicePrimaryCtxRetain(ctypes.byref(p), 0) == 0
assert lib.cuCtxSetCurrent(p) == 0 and lib.cuMemAlloc_v2(ctypes.byref(p), 4096) == 0
r1, b = snap()
v = ctypes.c_size_t()
for _ in range(3):
    assert lib.cuCtxGetLimit(ctypes.byref(v), 1) == 0  # CU_LIMIT_PRINTF_FIFO_SIZE
_, c = snap()
print(r0, r1, b[0] - a[0], b[3] - a[3], c[3] - b[3])
PY
)
read -r r0 r1 calls rts limit_rts <<<"$snap"
check "stats: cuAvecStatsSnapshot exported, counts calls and round trips mid-program ($snap)" \
  "$([ "$r1" = 0 ] && [ "${calls:-0}" -ge 5 ] && [ "${rts:-0}" -ge 1 ]; echo $?)"
check "stats: a context limit read three times costs one round trip ($limit_rts)" "$([ "${limit_rts:-0}" = 1 ]; echo $?)"
# A device-to-host copy or a synchronize leaves its stream idle: the synchronize or query right after it (PyTorch's .item()) is answered
# here; after any other frame, or on another stream, it goes to the server.
sync=$(AVEC_STATS=1 AVEC_SERVER=127.0.0.1:$port timeout 60 python3 - "$out/libcuda.so.1" 2>/dev/null <<'PY'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
rts = lambda: (lambda a: (lib.cuAvecStatsSnapshot(a), a[3])[1])((ctypes.c_uint64 * 7)())
assert lib.cuInit(0) == 0
p, d, s = ctypes.c_void_p(), ctypes.c_uint64(), ctypes.c_void_p()
assert lib.cuDevicePrimaryCtxRetain(ctypes.byref(p), 0) == 0 and lib.cuCtxSetCurrent(p) == 0
assert lib.cuMemAlloc_v2(ctypes.byref(d), 64) == 0 and lib.cuStreamCreate(ctypes.byref(s), 0) == 0
host = (ctypes.c_uint8 * 64)()
out = []
for stream_of_sync, between in ((None, False), (None, True), (s, False)):
    assert lib.cuMemsetD8_v2(d, 7 + len(out), 64) == 0
    r0 = rts()
    assert lib.cuMemcpyDtoHAsync_v2(host, d, 64, None) == 0
    if between:
        assert lib.cuMemsetD8Async(d, 1, 64, None) == 0
    assert lib.cuStreamSynchronize(stream_of_sync) == 0 and lib.cuStreamQuery(stream_of_sync) == 0
    out.append("%d:%d" % (rts() - r0, host[63]))
print(" ".join(out))
PY
)
check "stream sync after a D2H copy: local; after another frame or on another stream, remote ($sync)" \
  "$([ "$sync" = "1:7 2:8 2:9" ]; echo $?)"
# AVEC_SYNC_FENCE=1: a synchronize after only host-to-device copies (and allocations) is answered here, with
# a STREAM_FENCE behind the copies; any other work in between, or the knob off, asks the server.
fence_run() {
  AVEC_SYNC_FENCE=$1 AVEC_STATS=1 AVEC_SERVER=127.0.0.1:$port timeout 60 python3 - "$out/libcuda.so.1" 2>/dev/null <<'PY'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
rts = lambda: (lambda a: (lib.cuAvecStatsSnapshot(a), a[3])[1])((ctypes.c_uint64 * 7)())
assert lib.cuInit(0) == 0
p, d, e = ctypes.c_void_p(), ctypes.c_uint64(), ctypes.c_uint64()
assert lib.cuDevicePrimaryCtxRetain(ctypes.byref(p), 0) == 0 and lib.cuCtxSetCurrent(p) == 0
assert lib.cuMemAlloc_v2(ctypes.byref(d), 4096) == 0
host, back = (ctypes.c_uint8 * 4096)(), (ctypes.c_uint8 * 4096)()
assert lib.cuMemcpyDtoH_v2(back, d, 4096) == 0  # the legacy stream is idle now
out = []
r0 = rts()
for v in (3, 4, 5):  # upload, synchronize, upload, synchronize ... with an allocation in between
    ctypes.memset(host, v, 4096)
    assert lib.cuMemcpyHtoD_v2(d, host, 4096) == 0 and lib.cuStreamSynchronize(None) == 0
    if v == 4:
        assert lib.cuMemAlloc_v2(ctypes.byref(e), 256) == 0
out.append(str(rts() - r0 - 1))  # less the allocation's own round trip
assert lib.cuMemcpyDtoH_v2(back, d, 4096) == 0
out.append(str(back[4095]))
r0 = rts()
assert lib.cuMemcpyHtoD_v2(d, host, 4096) == 0 and lib.cuMemsetD8Async(d, 9, 16, None) == 0
assert lib.cuStreamSynchronize(None) == 0
out.append(str(rts() - r0))
print(" ".join(out))
PY
}
fenced=$(fence_run 1)
unfenced=$(fence_run 0)
check "AVEC_SYNC_FENCE=1: syncs after uploads are local and fenced, data intact, other work asks ($fenced)" \
  "$([ "$fenced" = "0 5 1" ]; echo $?)"
check "AVEC_SYNC_FENCE off: each sync after an upload is a round trip ($unfenced)" "$([ "$unfenced" = "3 5 1" ]; echo $?)"

# A session's frames stay on the server: the executor logs no refused frame for any of the above.
bad=$(grep -c '"bad_frame"\|"level":"error".*"frame' "$work/executor-$port.log" || true)
check "executor saw no malformed frame" "$([ "$bad" -eq 0 ]; echo $?)"

# ---- faults -----------------------------------------------------------------------------------------
closed=$(free_port) # nothing listens there
AVEC_SERVER=127.0.0.1:$closed timeout 60 "$tests/driver_test" unreachable >"$work/unreach.out" 2>"$work/unreach.err"
rc=$?
cat "$work/unreach.out" >>"$work/unreach.all"
record "server unreachable" $rc "$work/unreach.out"
lines=$(grep -c . "$work/unreach.err" || true)
check "unreachable: exactly one log line at the default level (got $lines)" "$([ "$lines" -eq 1 ]; echo $?)"
check "unreachable: the line names the endpoint" "$(grep -q "127.0.0.1:$closed" "$work/unreach.err"; echo $?)"
[ "$lines" -eq 1 ] || sed 's/^/    | /' "$work/unreach.err"

# no endpoint configured at all
env -u AVEC_SERVER AVEC_CLAIM_DIR=$work/none timeout 60 "$tests/driver_test" unreachable >"$work/noep.out" 2>"$work/noep.err"
record "no endpoint configured" $? "$work/noep.out"
lines=$(grep -c . "$work/noep.err" || true)
check "no endpoint: exactly one log line (got $lines)" "$([ "$lines" -eq 1 ]; echo $?)"

# CUDA_VISIBLE_DEVICES hides the remote device like a local one
CUDA_VISIBLE_DEVICES=-1 AVEC_SERVER=127.0.0.1:$port timeout 60 "$tests/driver_test" hidden >"$work/hidden.out" 2>"$work/hidden.err"
record "CUDA_VISIBLE_DEVICES=-1" $? "$work/hidden.out"
check "hidden device: no log line" "$([ ! -s "$work/hidden.err" ]; echo $?)"
CUDA_VISIBLE_DEVICES=0 AVEC_SERVER=127.0.0.1:$port LD_PRELOAD=$out/libcuda.so.1 timeout 60 "$tests/cudart_test_static" \
  >"$work/visible0.log" 2>&1
record "CUDA_VISIBLE_DEVICES=0" $? "$work/visible0.log"

# endpoint and ticket from the mounted claim directory
mkdir -p "$work/claim"
echo "127.0.0.1:$port" >"$work/claim/endpoint"
echo "avec1.unchecked.ticket" >"$work/claim/ticket"
env -u AVEC_SERVER AVEC_CLAIM_DIR=$work/claim LD_PRELOAD=$out/libcuda.so.1 timeout 60 \
  "$tests/cudart_test_static" >"$work/claimdir.log" 2>&1
record "endpoint from claim dir" $? "$work/claimdir.log"

start_executor victim
read -r vport vpgid <<<"$victim"
AVEC_SERVER=127.0.0.1:$vport AVEC_TEST_EXECUTOR_PGID=$vpgid timeout 60 "$tests/driver_test" killed >"$work/killed.log" 2>&1
rc=$?
record "executor killed mid-session" $rc "$work/killed.log"
check "killed: the client did not hang (rc $rc)" "$([ "$rc" -ne 124 ]; echo $?)"

# ---- optional: numba-cuda / CuPy through the shim (only where `make shim-python-env` installed them) -----
py=$out/pyenv/bin/python
if [ -x "$py" ] && "$py" -c 'import numba.cuda' 2>/dev/null; then
  CUDA_HOME=${CUDA_HOME:-} AVEC_SERVER=127.0.0.1:$port LD_PRELOAD=$out/libcuda.so.1 timeout 300 \
    "$py" shim/tests/python/numba_smoke.py >"$work/numba.log" 2>&1
  record "numba-cuda" $? "$work/numba.log"
else
  echo "  numba-cuda                   not installed here (make shim-python-env); not run, not counted"
fi
if [ -x "$py" ] && "$py" -c 'import cupy' 2>/dev/null; then
  CUDA_HOME=${CUDA_HOME:-} AVEC_SERVER=127.0.0.1:$port LD_PRELOAD=$out/libcuda.so.1 timeout 300 \
    "$py" shim/tests/python/cupy_smoke.py >"$work/cupy.log" 2>&1
  record "CuPy" $? "$work/cupy.log"
else
  echo "  CuPy                         not installed here (make shim-python-env); not run, not counted"
fi

echo "shim integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
