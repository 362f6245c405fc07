"""numba-cuda kernels: array arithmetic, a reduction with atomics, shared memory, device arrays copied
both ways, device-side constants. Prints deterministic lines (compared native vs shim by run.sh)."""
import hashlib
import sys

import numpy as np

np.row_stack = np.vstack  # numba-cuda 0.30 still refers to it; removed from numpy 2.x
from numba import cuda, int32, float32  # noqa: E402

errors = 0


def h(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def section(name):
    print(f"[{name}]", flush=True)


def check(name, cond):
    global errors
    if not cond:
        errors += 1
    print(f"{name}: {'ok' if cond else 'FAIL'}")


@cuda.jit
def axpy(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]


@cuda.jit
def sum_atomic(x, out):
    i = cuda.grid(1)
    if i < x.size:
        cuda.atomic.add(out, 0, x[i])


@cuda.jit
def hist(x, bins):
    i = cuda.grid(1)
    if i < x.size:
        cuda.atomic.add(bins, x[i] % bins.size, 1)


TPB = 128


@cuda.jit
def block_reverse_sum(x, out, partial):
    s = cuda.shared.array(TPB, dtype=float32)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * TPB + t
    s[t] = x[i] if i < x.size else 0.0
    cuda.syncthreads()
    if i < x.size:
        out[i] = s[TPB - 1 - t]
    stride = TPB // 2
    while stride > 0:
        if t < stride:
            s[t] += s[t + stride]
        cuda.syncthreads()
        stride //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = s[0]


@cuda.jit
def matmul(A, B, C):
    sA = cuda.shared.array((16, 16), dtype=float32)
    sB = cuda.shared.array((16, 16), dtype=float32)
    x, y = cuda.grid(2)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    acc = float32(0.0)
    for t in range((A.shape[1] + 15) // 16):
        sA[ty, tx] = A[y, t * 16 + tx] if y < A.shape[0] and t * 16 + tx < A.shape[1] else 0.0
        sB[ty, tx] = B[t * 16 + ty, x] if x < B.shape[1] and t * 16 + ty < B.shape[0] else 0.0
        cuda.syncthreads()
        for k in range(16):
            acc += sA[ty, k] * sB[k, tx]
        cuda.syncthreads()
    if y < C.shape[0] and x < C.shape[1]:
        C[y, x] = acc


def main():
    dev = cuda.get_current_device()
    section("numba.device")
    print("name:", dev.name.decode() if isinstance(dev.name, bytes) else dev.name)
    print("cc:", dev.compute_capability)
    print("gpus:", len(cuda.gpus))

    section("numba.axpy")
    n = 1_000_003
    rng = np.random.default_rng(7)
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    out = cuda.device_array_like(x)
    dx, dy = cuda.to_device(x), cuda.to_device(y)
    axpy[(n + 255) // 256, 256](np.float32(2.5), dx, dy, out)
    r = out.copy_to_host()
    check("axpy matches numpy", np.allclose(r, 2.5 * x + y, rtol=1e-6, atol=1e-6))
    print("axpy hash:", h(r))

    section("numba.atomics")
    xi = (np.arange(1 << 20, dtype=np.int64) * 2654435761) % 1000
    xi = xi.astype(np.int32)
    total = cuda.to_device(np.zeros(1, dtype=np.int32))
    sum_atomic[(xi.size + 255) // 256, 256](cuda.to_device(xi), total)
    s = int(total.copy_to_host()[0])
    print("atomic int sum:", s)
    check("atomic sum matches", s == int(xi.sum()))
    bins = cuda.to_device(np.zeros(37, dtype=np.int32))
    hist[(xi.size + 255) // 256, 256](cuda.to_device(xi), bins)
    b = bins.copy_to_host()
    print("histogram hash:", h(b))
    check("histogram matches", np.array_equal(b, np.bincount(xi % 37, minlength=37).astype(np.int32)))
    xf = cuda.to_device(np.ones(100_000, dtype=np.float32))
    fsum = cuda.to_device(np.zeros(1, dtype=np.float32))
    sum_atomic[(100_000 + 255) // 256, 256](xf, fsum)
    print("atomic float sum of ones:", float(fsum.copy_to_host()[0]))

    section("numba.shared")
    n = 128 * 300 + 17
    xs = (np.arange(n) % 97).astype(np.float32)
    blocks = (n + TPB - 1) // TPB
    outd = cuda.device_array(n, dtype=np.float32)
    part = cuda.device_array(blocks, dtype=np.float32)
    block_reverse_sum[blocks, TPB](cuda.to_device(xs), outd, part)
    o = outd.copy_to_host()
    p = part.copy_to_host()
    print("reverse hash:", h(o), "partial sum:", float(p.sum()))
    check("partials match", np.isclose(p.sum(), xs.sum()))

    section("numba.matmul")
    A = (rng.integers(-8, 8, size=(200, 150))).astype(np.float32)
    B = (rng.integers(-8, 8, size=(150, 90))).astype(np.float32)
    C = cuda.device_array((200, 90), dtype=np.float32)
    matmul[(6, 13), (16, 16)](cuda.to_device(A), cuda.to_device(B), C)
    c = C.copy_to_host()
    check("matmul exact", np.array_equal(c, A @ B))
    print("matmul hash:", h(c))

    section("numba.device_arrays")
    st = cuda.stream()
    ha = cuda.pinned_array(4096, dtype=np.int32)
    ha[:] = np.arange(4096)
    da = cuda.to_device(ha, stream=st)
    hb = np.zeros(4096, dtype=np.int32)
    da.copy_to_host(hb, stream=st)
    st.synchronize()
    check("pinned round trip", np.array_equal(ha, hb))
    d2 = cuda.device_array(4096, dtype=np.int32)
    d2.copy_to_device(da)
    sl = d2[100:110].copy_to_host()
    print("slice:", sl.tolist())
    ev0, ev1 = cuda.event(), cuda.event()
    ev0.record()
    axpy[4, 256](np.float32(1.0), dx[:1024], dy[:1024], out[:1024])
    ev1.record()
    ev1.synchronize()
    check("event elapsed sane", 0 <= cuda.event_elapsed_time(ev0, ev1) < 10000)
    free, total = cuda.current_context().get_memory_info()
    check("memory info free<=total", free <= total)
    print("# memory info", free, total)
    cuda.synchronize()
    print("errors:", errors)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
