"""CuPy through the shim against the emulated executor (optional: needs CuPy in a venv).

Checks device queries, memory info (the claim's limit), host<->device copies of CuPy arrays, memset,
managed memory seen from both sides, and an elementwise kernel: NVRTC-compiled, loaded with cuModuleLoadData, launched, and answered by the
emulated device's clear launch error at synchronize. Prints "cupy: N passed, M failed".
"""
import ctypes
import sys

import numpy as np

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, file=sys.stderr)


import cupy as cp  # noqa: E402

rt = cp.cuda.runtime
check(rt.getDeviceCount() == 1, "one device")
props = rt.getDeviceProperties(0)
name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
check("emulated" in name, "device name")
free, total = rt.memGetInfo()
check(total == props["totalGlobalMem"] and free <= total, "memory info is the claim's limit")

h = np.arange(500_000, dtype=np.float32)
d = cp.asarray(h)
check(np.array_equal(cp.asnumpy(d), h), "host -> device -> host")
z = cp.zeros(1000, dtype=cp.int32)  # cudaMemsetAsync
check(int(cp.asnumpy(z).sum()) == 0, "memset")
e = cp.empty_like(d)
e.set(h[::-1].copy())
check(np.array_equal(e.get(), h[::-1]), "set/get")

# Managed memory (cupy.cuda.malloc_managed): the host writes it through its pointer and a device-side copy
# from it sees those bytes; a device-side copy into it shows on the host after a synchronize.
mp = cp.cuda.malloc_managed(h.nbytes)
mh = np.ctypeslib.as_array((ctypes.c_float * h.size).from_address(mp.ptr))
mh[:] = h * 5
f = cp.empty_like(d)
f.data.copy_from_device(mp, h.nbytes)
check(np.array_equal(f.get(), h * 5), "managed memory: host writes reach a device-side copy")
mp.copy_from_device(d.data, h.nbytes)
cp.cuda.Device().synchronize()
check(np.array_equal(mh, h), "managed memory: a device-side write shows on the host after a sync")

try:
    s = d + e  # NVRTC compile, cuModuleLoadData, cuLaunchKernel
    cp.cuda.Device().synchronize()
    check(False, "the emulated device cannot run kernels: synchronize must fail")
except Exception as ex:
    print("kernel on the emulated device ->", type(ex).__name__, str(ex)[:160])
    check("NOT_SUPPORTED" in str(ex) or "not supported" in str(ex), "CUDA_ERROR_NOT_SUPPORTED")

print(f"cupy: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
