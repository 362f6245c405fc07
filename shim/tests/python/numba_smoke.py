"""numba-cuda through the shim against the emulated executor (optional: needs numba-cuda in a venv).

Checks that cuda-bindings resolves the driver through the shim's cuGetProcAddress_v2, that device
arrays round-trip, that managed and mapped arrays are coherent with device-side copies, and that a @cuda.jit kernel is compiled, loaded (cuLibraryLoadData), fetched
(cuLibraryGetKernel) and launched (cuLaunchKernelEx with a CUkernel), ending in the emulated device's
clear launch error at synchronize. Prints "numba: N passed, M failed".
"""
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


from numba import cuda  # noqa: E402

check(len(cuda.gpus) == 1, "one device")
dev = cuda.get_current_device()
check("emulated" in dev.name.decode() if isinstance(dev.name, bytes) else "emulated" in dev.name, "device name")
free, total = cuda.current_context().get_memory_info()
check(total > 0 and free <= total, "memory info")

a = np.arange(300_000, dtype=np.float32)
b = np.full_like(a, 2.0)
da, db = cuda.to_device(a), cuda.to_device(b)
check(np.array_equal(da.copy_to_host(), a), "device array round trip")
dc = cuda.device_array_like(a)
dc.copy_to_device(db)
check(np.array_equal(dc.copy_to_host(), b), "device-to-device")

# Managed and mapped arrays: the host writes them through their own pointers; device-side copies from them
# see those bytes (the shim writes host changes into the GPU node's mirror first, in 64 KiB pieces), and a
# device-side copy into them shows on the host after a synchronize.
from numba.cuda.cudadrv import driver as drv  # noqa: E402

for kind, make in (("managed", cuda.managed_array), ("mapped", cuda.mapped_array)):
    h = make(a.size, dtype=np.float32)
    h[:] = a * 3
    dh = cuda.device_array_like(a)
    drv.device_to_device(dh, h, a.nbytes)
    check(np.array_equal(dh.copy_to_host(), a * 3), f"{kind} array: host writes reach device-side copies")
    h[:] = 0
    drv.device_to_device(h, db, a.nbytes)
    cuda.synchronize()
    check(np.array_equal(np.asarray(h), b), f"{kind} array: device-side writes reach the host after a sync")
# Registered host memory mapped for the device (cuMemHostRegister with DEVICEMAP; numba asks the device's
# CAN_MAP_HOST_MEMORY first).
reg = a * 7
with cuda.mapped(reg) as mreg:
    dh = cuda.device_array_like(a)
    drv.device_to_device(dh, mreg, a.nbytes)
    check(np.array_equal(dh.copy_to_host(), a * 7),
          "registered mapped memory: device-side copies see the host's bytes")


@cuda.jit
def add(x, y, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = x[i] + y[i]


launched = False
try:
    add[(a.size + 255) // 256, 256](da, db, dc)
    launched = True
    cuda.synchronize()
    check(False, "the emulated device cannot run kernels: synchronize must fail")
except Exception as e:  # numba raises CudaAPIError with the driver's code
    code = getattr(e, "code", None)
    print("kernel on the emulated device ->", type(e).__name__, code, str(e)[:120])
    check(launched, "compile, load and launch accepted (error only at synchronize)")
    check(code in (801, "CUDA_ERROR_NOT_SUPPORTED") or "NOT_SUPPORTED" in str(e), "CUDA_ERROR_NOT_SUPPORTED")

print(f"numba: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
