"""CuPy smoke test (optional in the suite): arrays, elementwise kernels (NVRTC-compiled), a cuBLAS matmul
of integer-valued matrices, reductions, a raw kernel. Deterministic output."""
import hashlib
import sys

import cupy as cp
import numpy as np

def h(a):
    return hashlib.sha256(np.ascontiguousarray(cp.asnumpy(a)).tobytes()).hexdigest()[:16]

print("[cupy]")
print("device count:", cp.cuda.runtime.getDeviceCount())
props = cp.cuda.runtime.getDeviceProperties(0)
print("name:", props["name"].decode())
rng = np.random.default_rng(5)
a = rng.integers(-8, 8, size=(300, 200)).astype(np.float32)
b = rng.integers(-8, 8, size=(200, 100)).astype(np.float32)
c = cp.asarray(a) @ cp.asarray(b)
print("matmul exact:", bool(np.array_equal(cp.asnumpy(c), a @ b)), "hash:", h(c))
x = cp.arange(1 << 20, dtype=cp.float32)
print("elementwise hash:", h(cp.sqrt(x) * 2 + 1))
print("int sum:", int(cp.arange(1 << 20, dtype=cp.int64).sum()))
k = cp.RawKernel(r'''extern "C" __global__ void sq(const int *x, int *y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = x[i] * x[i]; }''', "sq")
xi = cp.arange(1000, dtype=cp.int32)
yi = cp.zeros_like(xi)
k((4,), (256,), (xi, yi, cp.int32(1000)))
print("raw kernel sum:", int(yi.sum()))
free, total = cp.cuda.runtime.memGetInfo()
print("memGetInfo free<=total:", free <= total)
sys.exit(0)
