// Entry-point resolution and errors: cuGetProcAddress (version-exact, per-thread-stream flag, unknown
// names, asking for itself), cudaGetDriverEntryPointByVersion, calls through resolved pointers, error
// names and strings (driver and runtime), last-error state, and a sticky error (illegal address) that
// poisons the context as on a real device.
#include "common.h"
#include <cudaTypedefs.h>

static const char *qres(CUdriverProcAddressQueryResult r) {
  switch (r) {
    case CU_GET_PROC_ADDRESS_SUCCESS: return "SUCCESS";
    case CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND: return "SYMBOL_NOT_FOUND";
    case CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT: return "VERSION_NOT_SUFFICIENT";
  }
  return "?";
}

static void proc_address(void) {
  SECTION("procaddr");
  DRV(cuInit(0));
  int dv = 0;
  DRV(cuDriverGetVersion(&dv));
  struct Q { const char *name; int ver; cuuint64_t flags; } qs[] = {
      {"cuInit", 2000, 0},
      {"cuMemAlloc", 3020, 0},
      {"cuMemAlloc", 1000, 0},
      {"cuCtxCreate", 3020, 0},
      {"cuCtxCreate", 11040, 0},
      {"cuCtxCreate", 12050, 0},
      {"cuCtxCreate", 13000, 0},
      {"cuStreamSynchronize", 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM},
      {"cuMemcpyHtoD", 12000, CU_GET_PROC_ADDRESS_LEGACY_STREAM},
      {"cuLaunchKernelEx", 11060, 0},
      {"cuLaunchKernelEx", 11000, 0},
      {"cuGetProcAddress", 12000, 0},
      {"cuLibraryLoadData", 12000, 0},
      {"cuDefinitelyNotAFunction", 12000, 0},
      {"", 0, 0},
  };
  for (auto &q : qs) {
    void *fn = NULL;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    CUresult r = cuGetProcAddress(q.name, &fn, q.ver, q.flags, &st);
    printf("cuGetProcAddress(%s, %d, %llu): %s %s nonnull=%d\n", q.name, q.ver, (unsigned long long)q.flags,
           drv_err_name(r), qres(st), fn != NULL);
  }
  // A version above the driver's own.
  void *fn = NULL;
  CUdriverProcAddressQueryResult st;
  printf("version above driver: %s\n", drv_err_name(cuGetProcAddress("cuInit", &fn, dv + 1000, 0, &st)));
  // Call through resolved pointers.
  PFN_cuCtxGetCurrent_v4000 getCur;
  PFN_cuDevicePrimaryCtxRetain_v7000 retain;
  PFN_cuMemAlloc_v3020 alloc;
  PFN_cuMemsetD32_v3020 memset32;
  PFN_cuMemcpyDtoH_v3020 dtoh;
  PFN_cuMemFree_v3020 mfree;
  PFN_cuCtxSetCurrent_v4000 setCur;
  DRV(cuGetProcAddress("cuCtxGetCurrent", (void **)&getCur, 4000, 0, &st));
  DRV(cuGetProcAddress("cuDevicePrimaryCtxRetain", (void **)&retain, 7000, 0, &st));
  DRV(cuGetProcAddress("cuCtxSetCurrent", (void **)&setCur, 4000, 0, &st));
  DRV(cuGetProcAddress("cuMemAlloc", (void **)&alloc, 3020, 0, &st));
  DRV(cuGetProcAddress("cuMemsetD32", (void **)&memset32, 3020, 0, &st));
  DRV(cuGetProcAddress("cuMemcpyDtoH", (void **)&dtoh, 3020, 0, &st));
  DRV(cuGetProcAddress("cuMemFree", (void **)&mfree, 3020, 0, &st));
  CUcontext ctx;
  DRV(retain(&ctx, 0));
  DRV(setCur(ctx));
  CUcontext cur;
  DRV(getCur(&cur));
  printf("through pointers: current is retained: %d\n", cur == ctx);
  CUdeviceptr d;
  DRV(alloc(&d, 4096));
  DRV(memset32(d, 0x01020304u, 1024));
  unsigned v[2];
  DRV(dtoh(v, d + 400, sizeof v));
  printf("through pointers: %08x %08x\n", v[0], v[1]);
  DRV(mfree(d));
  // The resolved cuGetProcAddress works too.
  PFN_cuGetProcAddress_v12000 gpa;
  DRV(cuGetProcAddress("cuGetProcAddress", (void **)&gpa, 12000, 0, &st));
  void *f2 = NULL;
  DRV(gpa("cuDeviceGetCount", &f2, 12000, 0, &st));
  int n = 0;
  DRV(((PFN_cuDeviceGetCount_v2000)f2)(&n));
  printf("via resolved cuGetProcAddress: device count %d\n", n);
}

static void runtime_entry(void) {
  SECTION("runtime.entry_point");
  void *fn = NULL;
  cudaDriverEntryPointQueryResult qr;
  RT(cudaGetDriverEntryPointByVersion("cuMemGetInfo", &fn, 12000, cudaEnableDefault, &qr));
  printf("cudaGetDriverEntryPointByVersion(cuMemGetInfo): %d nonnull=%d\n", (int)qr, fn != NULL);
  size_t fr = 0, tot = 0;
  RT(cudaFree(0));
  DRV(((PFN_cuMemGetInfo_v3020)fn)(&fr, &tot));
  printf("cuMemGetInfo via entry point: free<=total %d\n", fr <= tot);
  cudaError_t e = cudaGetDriverEntryPointByVersion("cuNoSuchThing", &fn, 12000, cudaEnableDefault, &qr);
  printf("unknown entry point: %s %d\n", cudaGetErrorName(e), (int)qr);
  cudaGetLastError();  // do not let this call's status leak into later sections
}

static void error_strings(void) {
  SECTION("errors.strings");
  const int codes[] = {0, 1, 2, 3, 100, 101, 200, 201, 209, 300, 400, 500, 700, 701, 702, 719, 800, 999, 12345};
  for (int c : codes) {
    const char *nm = NULL, *str = NULL;
    CUresult r1 = cuGetErrorName((CUresult)c, &nm);
    CUresult r2 = cuGetErrorString((CUresult)c, &str);
    printf("cu %d: %s %s | %s %s\n", c, drv_err_name(r1), nm ? nm : "(null)", drv_err_name(r2), str ? str : "(null)");
  }
  const int rcodes[] = {0, 1, 2, 3, 98, 100, 200, 209, 400, 700, 719, 999, 12345};
  for (int c : rcodes)
    printf("cuda %d: %s | %s\n", c, cudaGetErrorName((cudaError_t)c), cudaGetErrorString((cudaError_t)c));
}

__global__ void write_at(int *p) { *p = 1; }
__global__ void ok_kernel(int *p) { p[threadIdx.x] = threadIdx.x; }

static void sticky(void) {
  SECTION("errors.sticky");
  int *good;
  RT(cudaMalloc(&good, 64 * sizeof(int)));
  ok_kernel<<<1, 64>>>(good);
  RT(cudaDeviceSynchronize());
  printf("before fault: %s\n", cudaGetErrorName(cudaPeekAtLastError()));
  write_at<<<1, 1>>>((int *)0x10);  // illegal address
  cudaError_t launch = cudaGetLastError();
  printf("launch itself: %s\n", cudaGetErrorName(launch));
  cudaError_t sync = cudaDeviceSynchronize();
  printf("synchronize after fault: %s\n", cudaGetErrorName(sync));
  int h = 0;
  printf("memcpy after fault: %s\n", cudaGetErrorName(cudaMemcpy(&h, good, 4, cudaMemcpyDeviceToHost)));
  void *p = NULL;
  printf("malloc after fault: %s\n", cudaGetErrorName(cudaMalloc(&p, 16)));
  printf("get last error: %s\n", cudaGetErrorName(cudaGetLastError()));
  CUdeviceptr dp;
  printf("driver alloc after fault: %s\n", drv_err_name(cuMemAlloc(&dp, 16)));
  // Resetting the device recovers.
  printf("device reset: %s\n", cudaGetErrorName(cudaDeviceReset()));
  // What the device allows right after a reset that follows a sticky error varies (seen: DevicesUnavailable).
  printf("# malloc after reset: %s\n", cudaGetErrorName(cudaMalloc(&p, 64 * sizeof(int))));
  ok_kernel<<<1, 64>>>((int *)p);
  printf("# sync after reset: %s\n", cudaGetErrorName(cudaDeviceSynchronize()));
}

int main(void) {
  proc_address();
  runtime_entry();
  error_strings();
  sticky();
  return finish();
}
