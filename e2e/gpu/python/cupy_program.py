"""CuPy on the GPU (counted in run.sh): cuBLAS matmul in float32 and float16 (square and non-square), the
memory pool, a RawKernel, cuFFT round trips, reductions.
  python3 cupy_program.py               default allocator (CuPy's MemoryPool over cudaMalloc)
  python3 cupy_program.py --async-pool  cupy.cuda.MemoryAsyncPool (cudaMallocAsync: stream-ordered pool)
Run natively and through the shim; stdout compared by run.sh. Floating results are '~' lines (outfmt.py):
1e-5 relative for float32 GEMM/FFT checksums, 1e-3 for float16; integer results are exact.
"""
import sys

import numpy as np
import cupy as cp

from outfmt import approx, check, digest, finish, section

ASYNC = "--async-pool" in sys.argv[1:]
if ASYNC:
    cp.cuda.set_allocator(cp.cuda.MemoryAsyncPool().malloc)

section("cupy.device")
print("device count:", cp.cuda.runtime.getDeviceCount())
print("allocator:", "MemoryAsyncPool" if ASYNC else "MemoryPool")
print("# cupy", cp.__version__, cp.cuda.runtime.getDeviceProperties(0)["name"].decode())

section("cupy.matmul")
rng = np.random.default_rng(11)
for dt, rtol, tol_np in ((np.float32, 1e-5, 1e-4), (np.float16, 1e-3, 2e-2)):
    for m, k, n in ((512, 512, 512), (300, 700, 200)):
        a = rng.standard_normal((m, k)).astype(dt)
        b = rng.standard_normal((k, n)).astype(dt)
        c = cp.asnumpy(cp.asarray(a) @ cp.asarray(b))
        ref = a.astype(np.float64) @ b.astype(np.float64)
        name = f"{np.dtype(dt).name} {m}x{k}x{n}"
        err = float(np.max(np.abs(c.astype(np.float64) - ref)) / max(1.0, float(np.max(np.abs(ref)))))
        check(f"{name} matches numpy (max rel err < {tol_np:g})", err < tol_np)
        approx(f"{name} sum, abs sum, c[1,2]", [c.astype(np.float64).sum(), np.abs(c.astype(np.float64)).sum(), c[1, 2]], rtol)
ai = rng.integers(-8, 8, size=(256, 384)).astype(np.float32)
bi = rng.integers(-8, 8, size=(384, 128)).astype(np.float32)
ci = cp.asnumpy(cp.asarray(ai) @ cp.asarray(bi))
check("float32 matmul of small integers exact", np.array_equal(ci, ai @ bi))
print("integer matmul digest:", digest(ci))
bat = cp.asarray(rng.integers(-4, 4, size=(6, 64, 32)).astype(np.float32))
bb = cp.matmul(bat, bat.transpose(0, 2, 1))
print("batched matmul trace sum:", int(cp.trace(bb, axis1=1, axis2=2).sum()))

section("cupy.pool")
if ASYNC:
    x = cp.ones((32, 1 << 20), dtype=cp.float32)  # 128 MiB through cudaMallocAsync
    print("ones sum:", int(x.sum(dtype=cp.int64)))
    del x
    cp.cuda.Device().synchronize()
    check("stream-ordered allocation reused", cp.ones(1 << 20).sum() == (1 << 20))
else:
    pool = cp.get_default_memory_pool()
    x = cp.ones((32, 1 << 20), dtype=cp.float32)
    used = pool.used_bytes()
    check("pool used >= 128 MiB", used >= (128 << 20))
    check("pool total >= used", pool.total_bytes() >= used)
    del x
    check("freed back to the pool", pool.used_bytes() < used)
    pool.free_all_blocks()
    print("# pool after free_all_blocks:", pool.used_bytes(), pool.total_bytes())
free, total = cp.cuda.runtime.memGetInfo()
check("memGetInfo free <= total", free <= total)

section("cupy.rawkernel")
k = cp.RawKernel(r'''extern "C" __global__ void affine(const int *x, long long *y, int n, int a, int b) {
  int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = (long long)x[i] * a + b; }''', "affine")
xi = cp.arange(100003, dtype=cp.int32)
yi = cp.zeros(xi.size, dtype=cp.int64)
k(((xi.size + 255) // 256,), (256,), (xi, yi, cp.int32(xi.size), cp.int32(7), cp.int32(-3)))
print("raw kernel sum:", int(yi.sum()))
print("raw kernel digest:", digest(cp.asnumpy(yi)))
ek = cp.ElementwiseKernel("int32 x", "int32 y", "y = (x * 2654435761u) >> 7", "scramble")
print("elementwise kernel digest:", digest(cp.asnumpy(ek(xi))))

section("cupy.fft")
z = (rng.standard_normal(4096) + 1j * rng.standard_normal(4096)).astype(np.complex64)
dz = cp.asarray(z)
fz = cp.fft.fft(dz)
back = cp.asnumpy(cp.fft.ifft(fz))
check("1D fft/ifft round trip (max err < 1e-4)", float(np.max(np.abs(back - z))) < 1e-4)
check("1D fft matches numpy", np.allclose(cp.asnumpy(fz), np.fft.fft(z), rtol=1e-3, atol=1e-2))
approx("1D |fft| sum, fft[3] re im", [float(cp.abs(fz).sum()), float(fz[3].real), float(fz[3].imag)], 1e-5)
img = cp.asarray(rng.standard_normal((256, 256)).astype(np.float32))
f2 = cp.fft.rfft2(img)
back2 = cp.fft.irfft2(f2, s=img.shape)
check("2D rfft2/irfft2 round trip", float(cp.max(cp.abs(back2 - img))) < 1e-4)
approx("2D |rfft2| sum", [float(cp.abs(f2).sum())], 1e-5)

section("cupy.reductions")
v = cp.arange(1 << 22, dtype=cp.int64)
print("int sum, max, argmax:", int(v.sum()), int(v.max()), int(v.argmax()))
print("sort digest:", digest(cp.asnumpy(cp.sort((v * 7919) % 1000003))))
cp.cuda.Device().synchronize()
finish()
