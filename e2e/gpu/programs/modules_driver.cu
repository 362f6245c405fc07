// Modules and libraries through the driver API: cuModuleLoadData of a fatbin, a cubin and PTX (JIT),
// cuModuleLoadDataEx, cuLibraryLoadData, get function/kernel/global, __constant__ and __device__
// symbols, parameter info, load/unload cycles of the same image (content-addressed upload).
#include "common.h"
#include "kern_mod_images.h"  // generated: kern_mod_fatbin, kern_mod_cubin, kern_mod_ptx (+ _len)
#include <vector>

static CUcontext g_ctx;

static void setup(void) {
  SECTION("setup");
  DRV(cuInit(0));
  CUdevice dev;
  DRV(cuDeviceGet(&dev, 0));
  DRV(cuDevicePrimaryCtxRetain(&g_ctx, dev));
  DRV(cuCtxSetCurrent(g_ctx));
  printf("context ready\n");
}

static void run_scale_coef(CUmodule m, const char *what) {
  CUfunction fs, fc;
  DRV(cuModuleGetFunction(&fs, m, "scale"));
  DRV(cuModuleGetFunction(&fc, m, "apply_coef"));
  CUdeviceptr cp, bp; size_t cs = 0, bs = 0;
  DRV(cuModuleGetGlobal(&cp, &cs, m, "c_coef"));
  DRV(cuModuleGetGlobal(&bp, &bs, m, "g_bias"));
  printf("%s: c_coef size %zu g_bias size %zu\n", what, cs, bs);
  float coef[16], bias = 0.25f;
  for (int i = 0; i < 16; i++) coef[i] = 1.0f + i * 0.5f;
  DRV(cuMemcpyHtoD(cp, coef, sizeof coef));
  DRV(cuMemcpyHtoD(bp, &bias, sizeof bias));
  const int n = 1000;
  std::vector<float> h(n);
  for (int i = 0; i < n; i++) h[i] = (float)i;
  CUdeviceptr d;
  DRV(cuMemAlloc(&d, n * sizeof(float)));
  DRV(cuMemcpyHtoD(d, h.data(), n * sizeof(float)));
  float a = 2.0f;
  int nn = n;
  void *args1[] = {&d, &a, &nn};
  DRV(cuLaunchKernel(fs, (n + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args1, NULL));
  void *args2[] = {&d, &nn};
  DRV(cuLaunchKernel(fc, (n + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args2, NULL));
  DRV(cuMemcpyDtoH(h.data(), d, n * sizeof(float)));
  printf("%s: x[0]=%g x[17]=%g x[999]=%g hash=%016llx\n", what, h[0], h[17], h[999],
         (unsigned long long)fnv64(h.data(), n * sizeof(float)));
  float back[16];
  DRV(cuMemcpyDtoH(back, cp, sizeof back));
  printf("%s: constant readback ok: %d\n", what, memcmp(back, coef, sizeof coef) == 0);
  DRV(cuMemFree(d));
}

static void fatbin(void) {
  SECTION("module.fatbin");
  CUmodule m;
  DRV(cuModuleLoadData(&m, kern_mod_fatbin));
  run_scale_coef(m, "fatbin");
  CUfunction f;
  DRV(cuModuleGetFunction(&f, m, "scale"));
  for (size_t i = 0;; i++) {
    size_t off = 0, sz = 0;
    CUresult r = cuFuncGetParamInfo(f, i, &off, &sz);
    if (r != CUDA_SUCCESS) { printf("param %zu: %s\n", i, drv_err_name(r)); break; }
    printf("param %zu: offset %zu size %zu\n", i, off, sz);
  }
  const char *name = NULL;
  DRV(cuFuncGetName(&name, f));
  printf("cuFuncGetName: %s\n", name ? name : "(null)");
  CUfunction missing;
  printf("missing function: %s\n", drv_err_name(cuModuleGetFunction(&missing, m, "no_such_kernel")));
  CUdeviceptr gp; size_t gs;
  printf("missing global: %s\n", drv_err_name(cuModuleGetGlobal(&gp, &gs, m, "no_such_global")));
  // Mangled C++ name.
  CUfunction ft;
  DRV(cuModuleGetFunction(&ft, m, "_Z8tmpl_addILi3EEvPi"));
  CUdeviceptr d;
  DRV(cuMemAlloc(&d, 32 * sizeof(int)));
  DRV(cuMemsetD32(d, 5, 32));
  void *args[] = {&d};
  DRV(cuLaunchKernel(ft, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
  int h[32];
  DRV(cuMemcpyDtoH(h, d, sizeof h));
  printf("template kernel: %d %d %d\n", h[0], h[1], h[31]);
  DRV(cuMemFree(d));
  DRV(cuModuleUnload(m));
}

static void cubin(void) {
  SECTION("module.cubin");
  CUmodule m;
  DRV(cuModuleLoadData(&m, kern_mod_cubin));
  CUfunction f;
  DRV(cuModuleGetFunction(&f, m, "count"));
  CUdeviceptr gc; size_t gs;
  DRV(cuModuleGetGlobal(&gc, &gs, m, "g_counter"));
  DRV(cuMemsetD32(gc, 0, 1));
  int n = 100000;
  void *args[] = {&n};
  DRV(cuLaunchKernel(f, (n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
  DRV(cuLaunchKernel(f, (n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
  int c = 0;
  DRV(cuMemcpyDtoH(&c, gc, sizeof c));
  printf("cubin counter: %d (size %zu)\n", c, gs);
  // __device__ table: write it, reduce it in a kernel with static shared memory.
  CUdeviceptr tp; size_t ts;
  DRV(cuModuleGetGlobal(&tp, &ts, m, "g_table"));
  unsigned long long t[256];
  for (int i = 0; i < 256; i++) t[i] = (unsigned long long)i * i + 7;
  DRV(cuMemcpyHtoD(tp, t, sizeof t));
  CUfunction fsum;
  DRV(cuModuleGetFunction(&fsum, m, "table_sum"));
  CUdeviceptr out;
  DRV(cuMemAlloc(&out, 8));
  void *a2[] = {&out};
  DRV(cuLaunchKernel(fsum, 1, 1, 1, 256, 1, 1, 0, NULL, a2, NULL));
  unsigned long long s = 0;
  DRV(cuMemcpyDtoH(&s, out, 8));
  printf("table sum: %llu (table size %zu)\n", s, ts);
  DRV(cuMemFree(out));
  DRV(cuModuleUnload(m));
}

static void ptx(void) {
  SECTION("module.ptx");
  CUmodule m;
  DRV(cuModuleLoadData(&m, kern_mod_ptx));
  run_scale_coef(m, "ptx");
  DRV(cuModuleUnload(m));
  CUmodule m2;
  DRV(cuModuleLoadDataEx(&m2, kern_mod_ptx, 0, NULL, NULL));
  CUfunction f;
  DRV(cuModuleGetFunction(&f, m2, "count"));
  printf("loadDataEx ok\n");
  DRV(cuModuleUnload(m2));
}

static void library(void) {
  SECTION("library");
  CUlibrary lib;
  DRV(cuLibraryLoadData(&lib, kern_mod_fatbin, NULL, NULL, 0, NULL, NULL, 0));
  CUkernel k;
  DRV(cuLibraryGetKernel(&k, lib, "scale"));
  const char *kn = NULL;
  DRV(cuKernelGetName(&kn, k));
  printf("cuKernelGetName: %s\n", kn ? kn : "(null)");
  for (size_t i = 0;; i++) {
    size_t off = 0, sz = 0;
    CUresult r = cuKernelGetParamInfo(k, i, &off, &sz);
    if (r != CUDA_SUCCESS) { printf("kparam %zu: %s\n", i, drv_err_name(r)); break; }
    printf("kparam %zu: offset %zu size %zu\n", i, off, sz);
  }
  CUdevice dev;
  DRV(cuCtxGetDevice(&dev));
  int mt = 0;
  DRV(cuKernelGetAttribute(&mt, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, k, dev));
  printf("kernel max threads: %d\n", mt);
  CUfunction f;
  DRV(cuKernelGetFunction(&f, k));
  const int n = 512;
  std::vector<float> h(n);
  for (int i = 0; i < n; i++) h[i] = 1.0f + i;
  CUdeviceptr d;
  DRV(cuMemAlloc(&d, n * sizeof(float)));
  DRV(cuMemcpyHtoD(d, h.data(), n * sizeof(float)));
  float a = 3.0f; int nn = n;
  void *args[] = {&d, &a, &nn};
  DRV(cuLaunchKernel(f, 4, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
  // A CUkernel handed where a CUfunction is expected (numba does this with cuLaunchKernelEx).
  DRV(cuLaunchKernel((CUfunction)k, 4, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
  DRV(cuMemcpyDtoH(h.data(), d, n * sizeof(float)));
  printf("library scale x9: %g %g\n", h[0], h[511]);
  CUdeviceptr bp; size_t bs;
  DRV(cuLibraryGetGlobal(&bp, &bs, lib, "g_bias"));
  float bias = -1.5f;
  DRV(cuMemcpyHtoD(bp, &bias, 4));
  CUdeviceptr cp; size_t cs;
  DRV(cuLibraryGetGlobal(&cp, &cs, lib, "c_coef"));
  float coef[16];
  for (int i = 0; i < 16; i++) coef[i] = (float)(i % 3);
  DRV(cuMemcpyHtoD(cp, coef, sizeof coef));
  CUkernel kc2;
  DRV(cuLibraryGetKernel(&kc2, lib, "apply_coef"));
  void *args2[] = {&d, &nn};
  DRV(cuLaunchKernel((CUfunction)kc2, 4, 1, 1, 128, 1, 1, 0, NULL, args2, NULL));
  DRV(cuMemcpyDtoH(h.data(), d, n * sizeof(float)));
  printf("library apply_coef hash=%016llx x[5]=%g\n", (unsigned long long)fnv64(h.data(), n * sizeof(float)), h[5]);
  CUmodule lm;
  DRV(cuLibraryGetModule(&lm, lib));
  CUfunction viaMod;
  DRV(cuModuleGetFunction(&viaMod, lm, "count"));
  printf("library module function ok\n");
  DRV(cuMemFree(d));
  DRV(cuLibraryUnload(lib));
}

static void counts(void) {
  SECTION("module.counts");
  CUmodule m;
  DRV(cuModuleLoadData(&m, kern_mod_fatbin));
  unsigned cnt = 0;
  CUresult r = cuModuleGetFunctionCount(&cnt, m);
  printf("cuModuleGetFunctionCount: %s %u\n", drv_err_name(r), cnt);
  DRV(cuModuleUnload(m));
  CUlibrary lib;
  DRV(cuLibraryLoadData(&lib, kern_mod_fatbin, NULL, NULL, 0, NULL, NULL, 0));
  unsigned kc = 0;
  r = cuLibraryGetKernelCount(&kc, lib);
  printf("cuLibraryGetKernelCount: %s %u\n", drv_err_name(r), kc);
  DRV(cuLibraryUnload(lib));
}

static void reload(void) {
  SECTION("module.reload");
  CUmodule ms[3];
  for (int i = 0; i < 3; i++) DRV(cuModuleLoadData(&ms[i], kern_mod_fatbin));
  printf("three loads distinct: %d\n", ms[0] != ms[1] && ms[1] != ms[2]);
  for (int i = 0; i < 3; i++) DRV(cuModuleUnload(ms[i]));
  int sum = 0;
  for (int it = 0; it < 20; it++) {
    CUmodule m;
    DRV(cuModuleLoadData(&m, kern_mod_cubin));
    CUfunction f;
    DRV(cuModuleGetFunction(&f, m, "count"));
    CUdeviceptr gc; size_t gs;
    DRV(cuModuleGetGlobal(&gc, &gs, m, "g_counter"));
    int n = it + 1;
    void *args[] = {&n};
    DRV(cuLaunchKernel(f, 1, 1, 1, 64, 1, 1, 0, NULL, args, NULL));
    int c = 0;
    DRV(cuMemcpyDtoH(&c, gc, 4));
    sum += c;
    DRV(cuModuleUnload(m));
  }
  printf("20 load/launch/unload cycles, counter sum: %d\n", sum);
}

int main(void) {
  setup();
  fatbin();
  cubin();
  ptx();
  library();
  counts();
  reload();
  return finish();
}
