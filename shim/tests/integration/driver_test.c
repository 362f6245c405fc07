/* Driver-API integration test: this program is linked against build/shim/libcuda.so.1 and talks to a real
 * executor with the emulated backend (memory limit given by AVEC_TEST_LIMIT).
 *   driver_test main FATBIN       device/context/memory/stream/event/module/launch/NVML checks
 *   driver_test unreachable       cuInit with no server (stderr is checked by the runner)
 *   driver_test killed            the executor (process group AVEC_TEST_EXECUTOR_PGID) dies mid-session */
#include <cuda.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"

#define OK(call) CHECK_EQ((call), CUDA_SUCCESS)

static uint64_t limit;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_device(void) {
  CASE("device queries");
  int n = 0;
  OK(cuDeviceGetCount(&n));
  CHECK_EQ(n, 1);
  CUdevice d;
  OK(cuDeviceGet(&d, 0));
  CHECK_EQ(cuDeviceGet(&d, 1), CUDA_ERROR_INVALID_DEVICE);
  char name[256];
  OK(cuDeviceGetName(name, sizeof name, 0));
  CHECK(strstr(name, "emulated") != NULL);
  size_t total = 0;
  OK(cuDeviceTotalMem(&total, 0));
  CHECK_EQ(total, limit);
  int major = 0, minor = 0, amaj = -1, warp = 0;
  OK(cuDeviceComputeCapability(&major, &minor, 0));
  OK(cuDeviceGetAttribute(&amaj, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0));
  OK(cuDeviceGetAttribute(&warp, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0));
  CHECK(major >= 3 && major == amaj);
  CHECK_EQ(warp, 32);
  CHECK_EQ(cuDeviceGetAttribute(&warp, (CUdevice_attribute)100000, 0), CUDA_ERROR_INVALID_VALUE);
  CUuuid u;
  OK(cuDeviceGetUuid(&u, 0));
  char bus[32];
  OK(cuDeviceGetPCIBusId(bus, sizeof bus, 0));
  CUdevice back = -1;
  OK(cuDeviceGetByPCIBusId(&back, bus));
  CHECK_EQ(back, 0);
  int v = 0;
  OK(cuDriverGetVersion(&v));
  CHECK_EQ(v, 13000);
  const char *s = NULL;
  OK(cuGetErrorName(CUDA_ERROR_OUT_OF_MEMORY, &s));
  CHECK(s && !strcmp(s, "CUDA_ERROR_OUT_OF_MEMORY"));
  /* the shim marker and proc-address lookups through the library */
  int (*marker)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "cuAvecShimVersion");
  CHECK(marker && marker() >= 1000);
  void *fn = NULL;
  CUdriverProcAddressQueryResult st;
  OK(cuGetProcAddress("cuMemAlloc", &fn, 13000, 0, &st));
  CHECK(fn == dlsym(RTLD_DEFAULT, "cuMemAlloc_v2"));
}

static void *thread_ctx(void *arg) {
  CUcontext c = (CUcontext)1;
  cuCtxGetCurrent(&c);
  *(int *)arg = c == NULL;
  return NULL;
}

static void test_context(CUcontext primary) {
  CASE("context limits (kept per context until a limit is set)");
  size_t fifo = 0, heap = 0, lim = 0;
  OK(cuCtxGetLimit(&fifo, CU_LIMIT_PRINTF_FIFO_SIZE));
  OK(cuCtxGetLimit(&lim, CU_LIMIT_PRINTF_FIFO_SIZE));
  CHECK(fifo > 0 && lim == fifo);
  OK(cuCtxGetLimit(&heap, CU_LIMIT_MALLOC_HEAP_SIZE));
  OK(cuCtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, fifo * 2));
  OK(cuCtxGetLimit(&lim, CU_LIMIT_PRINTF_FIFO_SIZE));
  CHECK_EQ(lim, fifo * 2); /* the set is seen, not the value read before */
  OK(cuCtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, fifo));
  OK(cuCtxGetLimit(&lim, CU_LIMIT_PRINTF_FIFO_SIZE));
  CHECK_EQ(lim, fifo);
  CHECK_EQ(cuCtxGetLimit(&lim, (CUlimit)0x7777), CUDA_ERROR_UNSUPPORTED_LIMIT);

  CASE("contexts");
  unsigned flags = 99;
  int active = 0;
  OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  CHECK(active);
  CUcontext again = NULL;
  OK(cuDevicePrimaryCtxRetain(&again, 0));
  CHECK(again == primary);
  OK(cuDevicePrimaryCtxRelease(0));
  CUcontext cur = NULL;
  OK(cuCtxGetCurrent(&cur));
  CHECK(cur == primary);
  CUcontext created = NULL;
  OK(cuCtxCreate(&created, NULL, 0, 0));
  CHECK(created && created != primary);
  OK(cuCtxGetCurrent(&cur));
  CHECK(cur == created);
  unsigned long long id1 = 0, id2 = 0;
  OK(cuCtxGetId(primary, &id1));
  OK(cuCtxGetId(created, &id2));
  CHECK(id1 != id2);
  CUdeviceptr p = 0;
  OK(cuMemAlloc(&p, 4096)); /* allocation inside the created context */
  OK(cuMemsetD32(p, 0x5a5a5a5a, 1024));
  uint32_t w = 0;
  OK(cuMemcpyDtoH(&w, p + 8, 4));
  CHECK_EQ(w, 0x5a5a5a5a);
  OK(cuMemFree(p));
  CUcontext popped = NULL;
  OK(cuCtxPopCurrent(&popped));
  CHECK(popped == created);
  OK(cuCtxGetCurrent(&cur));
  CHECK(cur == primary);
  OK(cuCtxPushCurrent(created));
  OK(cuCtxDestroy(created));
  OK(cuCtxGetCurrent(&cur));
  CHECK(cur == primary);
  CHECK_EQ(cuCtxPushCurrent(created), CUDA_ERROR_INVALID_CONTEXT); /* destroyed */
  int none = 0;
  pthread_t t;
  pthread_create(&t, NULL, thread_ctx, &none);
  pthread_join(t, NULL);
  CHECK(none); /* the current context is per thread */
  CUdevice dev = -1;
  OK(cuCtxGetDevice(&dev));
  CHECK_EQ(dev, 0);
  OK(cuCtxSynchronize());
}

static void test_memory(void) {
  CASE("memory round trips");
  static const size_t sizes[] = {1, 7, 4096, 65537, (1u << 20) + 3, 4u << 20, (9u << 20) + 5};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    uint8_t *a = malloc(n), *b = malloc(n), *c = malloc(n);
    fill(a, n, (unsigned)i);
    CUdeviceptr d1 = 0, d2 = 0;
    OK(cuMemAlloc(&d1, n));
    OK(cuMemAlloc(&d2, n));
    OK(cuMemcpyHtoD(d1, a, n));
    OK(cuMemcpyDtoD(d2, d1, n));
    memset(b, 0, n);
    OK(cuMemcpyDtoH(b, d2, n));
    CHECK(!memcmp(a, b, n));
    /* generic cuMemcpy classifies the pointers */
    fill(a, n, (unsigned)i + 100);
    OK(cuMemcpy(d1, (CUdeviceptr)(uintptr_t)a, n));
    OK(cuMemcpy((CUdeviceptr)(uintptr_t)c, d1, n));
    CHECK(!memcmp(a, c, n));
    OK(cuMemFree(d1));
    OK(cuMemFree(d2));
    free(a); free(b); free(c);
  }

  CASE("async copies on a stream");
  CUstream s;
  OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  size_t n = (5u << 20) + 11;
  uint8_t *a = malloc(n), *b = malloc(n);
  fill(a, n, 77);
  CUdeviceptr d = 0;
  OK(cuMemAllocAsync(&d, n, s));
  OK(cuMemcpyHtoDAsync(d, a, n, s));
  memset(b, 0, n);
  OK(cuMemcpyDtoHAsync(b, d, n, s));
  OK(cuStreamSynchronize(s));
  CHECK(!memcmp(a, b, n));
  OK(cuMemFreeAsync(d, s));
  OK(cuStreamSynchronize(s));
  OK(cuStreamDestroy(s));
  free(a); free(b);

  CASE("cuBLAS's context-object slot (21318c60 slot 51) takes a stream, sent by its wire handle");
  {
    static const CUuuid ctxid = {{0x21, 0x31, (char)0x8c, 0x60, (char)0x97, 0x14, 0x32, 0x48, (char)0x8c, (char)0xa6,
                                  0x41, (char)0xff, 0x73, 0x24, (char)0xc8, (char)0xf2}};
    const void *table = NULL;
    OK(cuGetExportTable(&table, &ctxid));
    CHECK(table != NULL);
    typedef CUresult (*slot51)(CUcontext, CUstream, uint64_t *);
    slot51 object_of = table ? (slot51)((void *const *)table)[51] : NULL;
    CUcontext cur = NULL;
    OK(cuCtxGetCurrent(&cur));
    CUstream s2;
    OK(cuStreamCreate(&s2, 0));
    uint64_t obj = 0, not_a_stream[4] = {0};
    if (object_of) {
      /* the server accepts both (the emulated device then has no driver tables to run) */
      CHECK_EQ(object_of(cur, NULL, &obj), CUDA_ERROR_NOT_SUPPORTED);
      CHECK_EQ(object_of(cur, s2, &obj), CUDA_ERROR_NOT_SUPPORTED);
      CHECK_EQ(object_of(cur, (CUstream)not_a_stream, &obj), CUDA_ERROR_INVALID_HANDLE);
    }
    OK(cuStreamDestroy(s2));
  }

  CASE("memset");
  CUdeviceptr m = 0;
  OK(cuMemAlloc(&m, 1024));
  uint8_t out[1024];
  OK(cuMemsetD8(m, 0xab, 1024));
  OK(cuMemsetD16(m + 2, 0x1234, 3));
  OK(cuMemsetD32(m + 16, 0xdeadbeef, 2));
  OK(cuMemcpyDtoH(out, m, sizeof out));
  uint16_t h16; uint32_t h32;
  memcpy(&h16, out + 6, 2);
  memcpy(&h32, out + 20, 4);
  CHECK(out[0] == 0xab && out[1] == 0xab && h16 == 0x1234 && out[8] == 0xab && h32 == 0xdeadbeef && out[24] == 0xab);
  CHECK_EQ(cuMemsetD32(m + 2, 1, 1), CUDA_ERROR_INVALID_VALUE); /* misaligned */

  CASE("2D memset and copies");
  CUdeviceptr p2 = 0;
  size_t pitch = 0;
  OK(cuMemAllocPitch(&p2, &pitch, 100, 20, 4));
  CHECK(pitch >= 100);
  OK(cuMemsetD2D8(p2, pitch, 0x11, 100, 20));
  OK(cuMemsetD2D32(p2 + pitch, pitch, 0x22222222, 10, 2)); /* rows 1-2, 40 bytes each */
  uint8_t host[20][128];
  memset(host, 0, sizeof host);
  CUDA_MEMCPY2D c = {0};
  c.srcMemoryType = CU_MEMORYTYPE_DEVICE; c.srcDevice = p2; c.srcPitch = pitch;
  c.dstMemoryType = CU_MEMORYTYPE_HOST; c.dstHost = host; c.dstPitch = 128;
  c.WidthInBytes = 100; c.Height = 20;
  OK(cuMemcpy2D(&c));
  CHECK(host[0][0] == 0x11 && host[0][99] == 0x11 && host[0][100] == 0); /* pitch respected on the host */
  CHECK(host[1][0] == 0x22 && host[1][39] == 0x22 && host[1][40] == 0x11 && host[2][0] == 0x22 && host[3][0] == 0x11);
  for (int y = 0; y < 20; y++)
    for (int x = 0; x < 100; x++) host[y][x] = (uint8_t)(x + 3 * y);
  CUDA_MEMCPY2D up = {0};
  up.srcMemoryType = CU_MEMORYTYPE_HOST; up.srcHost = host; up.srcPitch = 128;
  up.dstMemoryType = CU_MEMORYTYPE_DEVICE; up.dstDevice = p2; up.dstPitch = pitch;
  up.WidthInBytes = 100; up.Height = 20;
  OK(cuMemcpy2D(&up));
  CUdeviceptr lin = 0;
  OK(cuMemAlloc(&lin, 100 * 20));
  CUDA_MEMCPY2D dd = {0}; /* device pitched -> device packed, with a source offset */
  dd.srcMemoryType = CU_MEMORYTYPE_DEVICE; dd.srcDevice = p2; dd.srcPitch = pitch; dd.srcXInBytes = 10; dd.srcY = 2;
  dd.dstMemoryType = CU_MEMORYTYPE_DEVICE; dd.dstDevice = lin; dd.dstPitch = 50;
  dd.WidthInBytes = 50; dd.Height = 10;
  OK(cuMemcpy2DAsync(&dd, NULL));
  uint8_t packed[500];
  OK(cuMemcpyDtoH(packed, lin, sizeof packed));
  int ok2d = 1;
  for (int y = 0; y < 10; y++)
    for (int x = 0; x < 50; x++) ok2d &= packed[y * 50 + x] == (uint8_t)(x + 10 + 3 * (y + 2));
  CHECK(ok2d);
  OK(cuMemFree(lin));
  OK(cuMemFree(p2));

  CASE("3D copies");
  enum { W = 24, H = 5, D = 4 };
  uint8_t vol[D][H][32], vback[D][H][W];
  for (int z = 0; z < D; z++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < 32; x++) vol[z][y][x] = (uint8_t)(x + 7 * y + 31 * z);
  CUdeviceptr dv = 0;
  OK(cuMemAlloc(&dv, 64 * H * D)); /* device pitch 64 */
  CUDA_MEMCPY3D c3 = {0};
  c3.srcMemoryType = CU_MEMORYTYPE_HOST; c3.srcHost = vol; c3.srcPitch = 32; c3.srcHeight = H;
  c3.dstMemoryType = CU_MEMORYTYPE_DEVICE; c3.dstDevice = dv; c3.dstPitch = 64; c3.dstHeight = H;
  c3.WidthInBytes = W; c3.Height = H; c3.Depth = D;
  OK(cuMemcpy3D(&c3));
  CUDA_MEMCPY3D b3 = {0}; /* back, starting at slice 1, into a packed buffer */
  b3.srcMemoryType = CU_MEMORYTYPE_DEVICE; b3.srcDevice = dv; b3.srcPitch = 64; b3.srcHeight = H; b3.srcZ = 1;
  b3.dstMemoryType = CU_MEMORYTYPE_HOST; b3.dstHost = vback; b3.dstPitch = W; b3.dstHeight = H;
  b3.WidthInBytes = W; b3.Height = H; b3.Depth = D - 1;
  memset(vback, 0, sizeof vback);
  OK(cuMemcpy3DAsync(&b3, NULL));
  int ok3d = 1;
  for (int z = 0; z < D - 1; z++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) ok3d &= vback[z][y][x] == vol[z + 1][y][x];
  CHECK(ok3d);
  OK(cuMemFree(dv));

  CASE("pointers outside allocations are refused");
  CHECK_EQ(cuMemcpyHtoD(m + 1000, out, 100), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemcpyDtoH(out, m + 1020, 8), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemsetD8(m + 1, 0, 1024), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemFree(m + 16), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemcpyDtoD(m, 0x10, 4), CUDA_ERROR_INVALID_VALUE);

  CASE("pointer attributes and address ranges");
  unsigned type = 0;
  OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, m + 100));
  CHECK_EQ(type, CU_MEMORYTYPE_DEVICE);
  CUdeviceptr base = 0;
  size_t size = 0;
  OK(cuMemGetAddressRange(&base, &size, m + 100));
  CHECK(base == m && size == 1024);
  int ordinal = -1;
  OK(cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, m));
  CHECK_EQ(ordinal, 0);
  int stack_var;
  CHECK_EQ(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)&stack_var),
           CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemGetAddressRange(&base, &size, 0x10), CUDA_ERROR_NOT_FOUND);
  OK(cuMemFree(m));
  CHECK_EQ(cuMemGetAddressRange(&base, &size, m), CUDA_ERROR_NOT_FOUND);

  CASE("pinned host memory stays local");
  void *pinned = NULL;
  OK(cuMemHostAlloc(&pinned, 1 << 20, CU_MEMHOSTALLOC_PORTABLE));
  CHECK(pinned != NULL && ((uintptr_t)pinned & 4095) == 0);
  memset(pinned, 0x3c, 1 << 20); /* writable */
  OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)pinned + 5));
  CHECK_EQ(type, CU_MEMORYTYPE_HOST);
  unsigned hflags = 0;
  OK(cuMemHostGetFlags(&hflags, pinned));
  CHECK_EQ(hflags, CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP); /* as driver 580 reports it */
  CUdeviceptr dp = 0;
  OK(cuMemAlloc(&dp, 1 << 20));
  OK(cuMemcpyHtoD(dp, pinned, 1 << 20)); /* pinned memory as a copy source */
  void *pinned2 = NULL;
  OK(cuMemAllocHost(&pinned2, 1 << 20));
  OK(cuMemcpyDtoH(pinned2, dp, 1 << 20));
  CHECK(!memcmp(pinned, pinned2, 1 << 20));
  OK(cuMemFreeHost(pinned));
  OK(cuMemFreeHost(pinned2));
  CHECK_EQ(cuMemFreeHost(pinned), CUDA_ERROR_INVALID_VALUE);
  static char reg[8192];
  OK(cuMemHostRegister(reg, sizeof reg, 0));
  CHECK_EQ(cuMemHostRegister(reg, sizeof reg, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
  OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)reg));
  CHECK_EQ(type, CU_MEMORYTYPE_HOST);
  OK(cuMemHostUnregister(reg));
  CHECK_EQ(cuMemHostUnregister(reg), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
  OK(cuMemFree(dp));

  CASE("memory limit");
  size_t freem = 0, totalm = 0;
  OK(cuMemGetInfo(&freem, &totalm));
  CHECK_EQ(totalm, limit);
  CUdeviceptr big = 0;
  CHECK_EQ(cuMemAlloc(&big, limit + 4096), CUDA_ERROR_OUT_OF_MEMORY);
  OK(cuMemAlloc(&big, limit / 2));
  size_t free2 = 0;
  OK(cuMemGetInfo(&free2, &totalm));
  CHECK(free2 <= freem - limit / 2);
  CUdeviceptr big2 = 0;
  CHECK_EQ(cuMemAlloc(&big2, limit / 2 + (8u << 20)), CUDA_ERROR_OUT_OF_MEMORY);
  OK(cuMemFree(big));
  OK(cuMemGetInfo(&free2, &totalm));
  CHECK_EQ(free2, freem);
}

static void host_fn(void *arg) { (*(int *)arg)++; }

static void test_streams_events(void) {
  CASE("streams and events");
  CUstream s;
  OK(cuStreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, -1));
  unsigned flags = 0;
  int prio = 0;
  OK(cuStreamGetFlags(s, &flags));
  OK(cuStreamGetPriority(s, &prio));
  CHECK(flags == CU_STREAM_NON_BLOCKING && prio == -1);
  CUstreamCaptureStatus cs = CU_STREAM_CAPTURE_STATUS_ACTIVE;
  OK(cuStreamIsCapturing(s, &cs));
  CHECK_EQ(cs, CU_STREAM_CAPTURE_STATUS_NONE);
  CUevent a, b;
  OK(cuEventCreate(&a, CU_EVENT_DEFAULT));
  OK(cuEventCreate(&b, CU_EVENT_DEFAULT));
  CUdeviceptr d = 0;
  OK(cuMemAlloc(&d, 8 << 20));
  OK(cuEventRecord(a, s));
  OK(cuMemsetD8Async(d, 1, 8 << 20, s));
  OK(cuEventRecord(b, s));
  OK(cuEventSynchronize(b));
  OK(cuEventQuery(b));
  CUevent fresh;
  OK(cuEventCreate(&fresh, CU_EVENT_DISABLE_TIMING));
  OK(cuEventQuery(fresh)); /* never recorded: complete */
  OK(cuEventRecord(fresh, s));
  OK(cuEventSynchronize(fresh));
  OK(cuEventDestroy(fresh));
  float ms = -1;
  OK(cuEventElapsedTime(&ms, a, b));
  CHECK(ms >= 0 && ms < 10000);
  CUstream s2;
  OK(cuStreamCreate(&s2, 0));
  OK(cuStreamWaitEvent(s2, b, 0));
  int hits = 0;
  OK(cuLaunchHostFunc(s2, host_fn, &hits));
  CHECK_EQ(hits, 1); /* ran in stream order, on this side */
  OK(cuStreamQuery(s2));
  OK(cuStreamSynchronize(s2));
  OK(cuStreamSynchronize(CU_STREAM_PER_THREAD));
  OK(cuStreamSynchronize(NULL));
  OK(cuEventDestroy(a));
  OK(cuEventDestroy(b));
  CHECK_EQ(cuEventQuery(a), CUDA_ERROR_INVALID_HANDLE);
  OK(cuStreamDestroy(s));
  OK(cuStreamDestroy(s2));
  OK(cuMemFree(d));
}

static uint8_t *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*n);
  if (fread(b, 1, *n, f) != *n) { free(b); b = NULL; }
  fclose(f);
  return b;
}

/* cuFFT's view of a module (table 6e163fbe slot 7, traced natively): the driver hands each function and its
 * name to the library's visitor and returns how many there were. */
typedef struct visited {
  int n;
  CUfunction f[4];
  char name[4][32];
} visited;
static void fft_visitor(void *arg, CUfunction f, const char *name) {
  visited *v = arg;
  if (v->n < 4) {
    v->f[v->n] = f;
    snprintf(v->name[v->n], sizeof v->name[0], "%s", name ? name : "(null)");
  }
  v->n++;
}
static void fft_visit_module(CUmodule mod, const CUfunction fns[2]) {
  static const CUuuid fft = {{0x6e, 0x16, 0x3f, 0xbe, 0xb9, 0x58, 0x44, 0x4d, 0x83, 0x5c, 0xe1, 0x82, 0xaf, 0xf1, 0x99, 0x1e}};
  const void *table = NULL;
  OK(cuGetExportTable(&table, &fft));
  CHECK(table != NULL);
  if (!table) return;
  typedef CUresult (*slot7)(CUcontext, CUmodule, void (*)(void *, CUfunction, const char *), void *, CUmodule, void *);
  slot7 each = (slot7)((void *const *)table)[7];
  CUcontext ctx = NULL;
  OK(cuCtxGetCurrent(&ctx));
  visited v = {0};
  CHECK_EQ(each(ctx, mod, fft_visitor, &v, mod, NULL), 2); /* the count */
  CHECK_EQ(v.n, 2);
  CHECK(v.f[0] == fns[0] && v.f[1] == fns[1]);
  const char *n0 = NULL;
  OK(cuFuncGetName(&n0, fns[0]));
  CHECK(n0 && !strcmp(v.name[0], n0));
  visited none = {0};
  CHECK_EQ(each(ctx, (CUmodule)&none, fft_visitor, &none, (CUmodule)&none, NULL), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(none.n, 0); /* not a module of this process: refused, nothing visited */
}

static void test_modules(const char *fatbin) {
  CASE("modules");
  size_t n = 0;
  uint8_t *image = read_file(fatbin, &n);
  CHECK(image != NULL);
  if (!image) return;
  CUmodule mod;
  OK(cuModuleLoadData(&mod, image));
  memset(image, 0, n); /* the shim keeps its own copy for the lazy upload */
  free(image);
  CUfunction f = NULL;
  OK(cuModuleGetFunction(&f, mod, "scale"));
  CUfunction f2 = NULL;
  OK(cuModuleGetFunction(&f2, mod, "scale"));
  CHECK(f == f2); /* cached */
  CHECK_EQ(cuModuleGetFunction(&f2, mod, "no_such_kernel"), CUDA_ERROR_NOT_FOUND);
  const char *fname = NULL;
  OK(cuFuncGetName(&fname, f));
  CHECK(fname && !strcmp(fname, "scale"));
  int maxt = 0;
  OK(cuFuncGetAttribute(&maxt, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f));
  CHECK(maxt > 0);
  size_t off = 0, sz = 0;
  OK(cuFuncGetParamInfo(f, 2, &off, &sz)); /* scale(float *out, const float *in, float a, int n) */
  CHECK(off == 16 && sz == 4);
  CHECK_EQ(cuFuncGetParamInfo(f, 4, &off, &sz), CUDA_ERROR_INVALID_VALUE);
  CUmoduleLoadingMode mode;
  OK(cuModuleGetLoadingMode(&mode));
  unsigned nfun = 0;
  OK(cuModuleGetFunctionCount(&nfun, mod));
  CHECK_EQ(nfun, 2);
  CUfunction fns[2] = {NULL, NULL};
  OK(cuModuleEnumerateFunctions(fns, 2, mod));
  CHECK((fns[0] == f || fns[1] == f) && fns[0] != fns[1]); /* the same objects as cuModuleGetFunction's */
  fft_visit_module(mod, fns);

  CASE("__constant__ symbols and globals");
  CUdeviceptr cptr = 0;
  size_t csize = 0;
  OK(cuModuleGetGlobal(&cptr, &csize, mod, "coeffs"));
  CHECK_EQ(csize, 64);
  float co[16], back[16];
  for (int i = 0; i < 16; i++) co[i] = 0.5f * (float)i;
  OK(cuMemcpyHtoD(cptr, co, sizeof co));
  memset(back, 0, sizeof back);
  OK(cuMemcpyDtoH(back, cptr, sizeof back));
  CHECK(!memcmp(co, back, sizeof co));
  unsigned type = 0;
  OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, cptr));
  CHECK_EQ(type, CU_MEMORYTYPE_DEVICE);
  CUdeviceptr gptr = 0;
  size_t gsize = 0;
  OK(cuModuleGetGlobal(&gptr, &gsize, mod, "counter"));
  CHECK_EQ(gsize, 4);
  CHECK_EQ(cuModuleGetGlobal(&gptr, &gsize, mod, "nothing_here"), CUDA_ERROR_NOT_FOUND);

  CASE("__managed__ variables: the host side at the device address, coherent at launches and synchronisation");
  {
    CUdeviceptr mptr = 0, tptr = 0;
    size_t msize = 0, tsize = 0;
    OK(cuModuleGetGlobal(&mptr, &msize, mod, "mcount"));
    OK(cuModuleGetGlobal(&tptr, &tsize, mod, "mtable"));
    CHECK(msize == 4 && tsize == 1200);
    unsigned managed = 0;
    OK(cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, mptr));
    CHECK_EQ(managed, 1);
    OK(cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, gptr)); /* a plain __device__ variable */
    CHECK_EQ(managed, 0);
    volatile int *hm = (volatile int *)(uintptr_t)mptr; /* the program dereferences the device address */
    volatile float *ht = (volatile float *)(uintptr_t)tptr;
    int dv = -1;
    OK(cuMemcpyDtoH(&dv, mptr, 4));
    CHECK_EQ(*hm, dv); /* the device's bytes (its initial value on a GPU) */
    *hm = 42;          /* host writes reach the device before the next launch, which names neither */
    ht[299] = 2.5f;
    CUdeviceptr scratch = 0;
    OK(cuMemAlloc(&scratch, 256));
    float one = 1.0f;
    int none = 0;
    void *sargs[] = {&scratch, &scratch, &one, &none};
    OK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, sargs, NULL));
    CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_NOT_SUPPORTED); /* the emulated device runs no kernel */
    float tv = 0;
    OK(cuMemcpyDtoH(&dv, mptr, 4));
    OK(cuMemcpyDtoH(&tv, tptr + 299 * 4, 4));
    CHECK(dv == 42 && tv == 2.5f);
    OK(cuMemsetD32(mptr, 7, 1)); /* a synchronous write on the device side: the host sees it when it returns */
    CHECK_EQ(*hm, 7);
    OK(cuMemFree(scratch));
  }

  CASE("libraries and kernels");
  image = read_file(fatbin, &n);
  CUlibrary lib;
  OK(cuLibraryLoadData(&lib, image, NULL, NULL, 0, NULL, NULL, 0));
  free(image);
  CUkernel k;
  OK(cuLibraryGetKernel(&k, lib, "scale"));
  CUfunction kf = NULL;
  OK(cuKernelGetFunction(&kf, k));
  CHECK(kf != NULL);
  const char *kname = NULL;
  OK(cuKernelGetName(&kname, k));
  CHECK(kname && !strcmp(kname, "scale"));
  int kmax = 0;
  OK(cuKernelGetAttribute(&kmax, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, k, 0));
  CHECK(kmax > 0);
  CUdeviceptr lptr = 0;
  size_t lsize = 0;
  OK(cuLibraryGetGlobal(&lptr, &lsize, lib, "coeffs"));
  CHECK_EQ(lsize, 64);
  unsigned nk = 0;
  OK(cuLibraryGetKernelCount(&nk, lib));
  CHECK_EQ(nk, 2);
  CUkernel ks[2] = {NULL, NULL};
  OK(cuLibraryEnumerateKernels(ks, 2, lib));
  CHECK(ks[0] == k || ks[1] == k);
  CHECK_EQ(cuLibraryEnumerateKernels(ks, 1, lib), CUDA_ERROR_INVALID_VALUE);
  CUmodule lm = NULL;
  OK(cuLibraryGetModule(&lm, lib));
  CHECK(lm != NULL);
  CUdeviceptr lm_ptr = 0;
  size_t lm_size = 0;
  OK(cuLibraryGetManaged(&lm_ptr, &lm_size, lib, "mcount")); /* the library's own copy */
  CHECK(lm_size == 4 && *(volatile int *)(uintptr_t)lm_ptr >= 0);
  CHECK_EQ(cuLibraryGetManaged(&lm_ptr, &lm_size, lib, "coeffs"), CUDA_ERROR_NOT_FOUND); /* not __managed__ */

  CASE("launches on the emulated device");
  CUdeviceptr buf = 0;
  OK(cuMemAlloc(&buf, 4096));
  float a = 2.0f;
  int count = 1024;
  void *args[] = {&buf, &buf, &a, &count};
  OK(cuLaunchKernel(f, 4, 1, 1, 256, 1, 1, 0, NULL, args, NULL)); /* fire-and-forget: accepted */
  CUresult r = cuCtxSynchronize();
  CHECK_EQ(r, CUDA_ERROR_NOT_SUPPORTED); /* the emulated device's clear "cannot run kernels" error */
  OK(cuCtxSynchronize());                /* reported once; not sticky */
  CUlaunchConfig cfg = {0};
  CUlaunchAttribute attr[1];
  attr[0].id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
  attr[0].value.priority = 0;
  cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = 1;
  cfg.blockDimX = 32; cfg.blockDimY = cfg.blockDimZ = 1;
  cfg.sharedMemBytes = 1024;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  OK(cuLaunchKernelEx(&cfg, (CUfunction)k, args, NULL)); /* a CUkernel cast to CUfunction */
  CHECK_EQ(cuStreamSynchronize(NULL), CUDA_ERROR_NOT_SUPPORTED);
  CUfunction bigf = NULL;
  OK(cuModuleGetFunction(&bigf, mod, "big_params"));
  static uint8_t blob[8 + 8000];
  memcpy(blob, &buf, 8);
  size_t blen = sizeof blob;
  void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, blob, CU_LAUNCH_PARAM_BUFFER_SIZE, &blen, CU_LAUNCH_PARAM_END};
  OK(cuLaunchKernel(bigf, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, extra));
  CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_NOT_SUPPORTED);
  CHECK_EQ(cuLaunchKernel(f, 0, 1, 1, 1, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE); /* grid 0 */
  /* configuration errors are returned by the launch itself, not deferred */
  CHECK_EQ(cuLaunchKernel(f, 1, 1, 1, 2048, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 100 * 1024, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
  OK(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 128 * 1024));
  OK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 100 * 1024, NULL, args, NULL)); /* after the opt-in */
  CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_NOT_SUPPORTED);

  CASE("a pinned host address handed to a kernel becomes its device mirror's (unified addressing)");
  {
    void *hp = NULL, *rp = malloc(8192);
    OK(cuMemAllocHost(&hp, 4096));
    memset(hp, 0x5a, 4096);
    OK(cuMemHostRegister(rp, 8192, 0));
    size_t f0 = 0, f1 = 0, f2 = 0, tot = 0;
    OK(cuMemGetInfo(&f0, &tot));
    CUdeviceptr inside = (CUdeviceptr)(uintptr_t)hp + 64, reg = (CUdeviceptr)(uintptr_t)rp;
    uint8_t packed[24] = {0}; /* scale(out, in, a, n), packed by the program (CU_LAUNCH_PARAM_BUFFER_POINTER) */
    memcpy(packed, &inside, 8);
    memcpy(packed + 8, &reg, 8);
    size_t plen = sizeof packed;
    void *hextra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, packed, CU_LAUNCH_PARAM_BUFFER_SIZE, &plen, CU_LAUNCH_PARAM_END};
    OK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, hextra));
    uint64_t still;
    memcpy(&still, packed, 8);
    CHECK_EQ(still, (uint64_t)inside); /* the program's buffer is left as it was */
    CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_NOT_SUPPORTED);
    void *hargs[] = {&inside, &reg, &a, &count}; /* the same through kernelParams: the same mirror */
    OK(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, hargs, NULL));
    CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_NOT_SUPPORTED);
    /* a host write while device work that uses the memory may run: sent to the mirror when the
     * synchronisation begins, so the device's view that comes back holds it */
    ((volatile uint8_t *)hp)[100] = 7;
    OK(cuCtxSynchronize());
    CHECK_EQ(((volatile uint8_t *)hp)[100], 7);
    OK(cuMemGetInfo(&f1, &tot));
    CHECK(f1 < f0 && f0 - f1 < 8192); /* a mirror of the 4 KiB allocation, none of the registered range */
    CUdeviceptr mirror = 0;
    OK(cuMemHostGetDevicePointer(&mirror, hp, 0)); /* the same mirror, with the host's bytes */
    uint8_t got[16] = {0};
    OK(cuMemcpyDtoH(got, mirror + 64, sizeof got));
    CHECK(got[0] == 0x5a && got[15] == 0x5a);
    OK(cuMemcpyDtoH(got, mirror + 100, 1));
    CHECK_EQ(got[0], 7);
    OK(cuMemGetInfo(&f2, &tot));
    CHECK_EQ(f2, f1);
    OK(cuMemHostUnregister(rp));
    free(rp);
    OK(cuMemFreeHost(hp));
  }
  OK(cuMemFree(buf));
  OK(cuLibraryUnload(lib));
  OK(cuModuleUnload(mod));
  CHECK_EQ(cuModuleGetFunction(&f2, mod, "scale"), CUDA_ERROR_INVALID_HANDLE);
}

typedef int (*nvml_fn)();
static void test_nvml(const char *libdir) {
  CASE("nvml");
  char path[512];
  snprintf(path, sizeof path, "%s/libnvidia-ml.so.1", libdir);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  CHECK(h != NULL);
  if (!h) return;
  nvml_fn init = (nvml_fn)dlsym(h, "nvmlInit_v2"), count = (nvml_fn)dlsym(h, "nvmlDeviceGetCount_v2"),
          byidx = (nvml_fn)dlsym(h, "nvmlDeviceGetHandleByIndex_v2"), name = (nvml_fn)dlsym(h, "nvmlDeviceGetName"),
          uuid = (nvml_fn)dlsym(h, "nvmlDeviceGetUUID"), mem = (nvml_fn)dlsym(h, "nvmlDeviceGetMemoryInfo"),
          cudav = (nvml_fn)dlsym(h, "nvmlSystemGetCudaDriverVersion"), shut = (nvml_fn)dlsym(h, "nvmlShutdown"),
          power = (nvml_fn)dlsym(h, "nvmlDeviceGetPowerUsage");
  const char *(*errstr)(int) = (const char *(*)(int))dlsym(h, "nvmlErrorString");
  CHECK(init && count && byidx && name && uuid && mem && cudav && shut && power && errstr);
  if (!(init && count && byidx && name && uuid && mem && cudav && shut && power && errstr)) return;
  CHECK_EQ(init(), 0);
  unsigned n = 0;
  CHECK_EQ(count(&n), 0);
  CHECK_EQ(n, 1);
  void *dev = NULL;
  CHECK_EQ(byidx(0, &dev), 0);
  char buf[128];
  CHECK_EQ(name(dev, buf, sizeof buf), 0);
  CHECK(strstr(buf, "emulated") != NULL);
  CHECK_EQ(uuid(dev, buf, sizeof buf), 0);
  CHECK(!strncmp(buf, "GPU-", 4) && strlen(buf) == 40);
  struct { unsigned long long total, free, used; } m = {0};
  CHECK_EQ(mem(dev, &m), 0);
  CHECK_EQ(m.total, limit); /* the claim's limit, not the device size */
  CHECK(m.free + m.used == m.total);
  int cv = 0;
  CHECK_EQ(cudav(&cv), 0);
  CHECK_EQ(cv, 13000);
  unsigned mw = 0;
  CHECK_EQ(power(dev, &mw), 3); /* NVML_ERROR_NOT_SUPPORTED */
  CHECK(!strcmp(errstr(3), "Not Supported"));
  CHECK_EQ(shut(), 0);
  CHECK_EQ(count(&n), 1); /* NVML_ERROR_UNINITIALIZED after shutdown */
}

/* Several threads share the one connection: their posts and calls interleave but each sees its own data. */
typedef struct worker {
  CUcontext ctx;
  int id, ok;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  w->ok = cuCtxSetCurrent(w->ctx) == CUDA_SUCCESS;
  CUstream s;
  w->ok &= cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS;
  uint8_t in[70000], out[70000];
  for (int it = 0; it < 40 && w->ok; it++) {
    size_t n = 1000 + (size_t)(it * 1543 + w->id * 97) % 69000;
    fill(in, n, (unsigned)(w->id * 1000 + it));
    CUdeviceptr d = 0;
    w->ok &= cuMemAlloc(&d, n) == CUDA_SUCCESS;
    w->ok &= cuMemcpyHtoDAsync(d, in, n, s) == CUDA_SUCCESS;
    w->ok &= cuMemsetD8Async(d, (unsigned char)w->id, 16, s) == CUDA_SUCCESS;
    memset(out, 0, n);
    w->ok &= cuMemcpyDtoHAsync(out, d, n, s) == CUDA_SUCCESS;
    w->ok &= cuStreamSynchronize(s) == CUDA_SUCCESS;
    w->ok &= out[0] == (uint8_t)w->id && out[15] == (uint8_t)w->id && !memcmp(in + 16, out + 16, n - 16);
    w->ok &= cuMemFree(d) == CUDA_SUCCESS;
  }
  w->ok &= cuStreamDestroy(s) == CUDA_SUCCESS;
  return NULL;
}

static void test_threads(CUcontext primary) {
  CASE("threads share the session");
  pthread_t t[4];
  worker w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){primary, i + 1, 0};
    pthread_create(&t[i], NULL, worker_main, &w[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    CHECK(w[i].ok);
  }
}

static void test_reset(CUcontext primary) {
  CASE("primary context reset");
  CUdeviceptr p = 0;
  OK(cuMemAlloc(&p, 1 << 16));
  OK(cuDevicePrimaryCtxReset(0));
  unsigned flags = 0;
  int active = 1;
  OK(cuDevicePrimaryCtxGetState(0, &flags, &active));
  CHECK_EQ(active, 0); /* inactive until retained again */
  unsigned type = 0;
  CHECK_EQ(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p), CUDA_ERROR_INVALID_VALUE); /* freed */
  CUcontext again = NULL;
  OK(cuDevicePrimaryCtxRetain(&again, 0));
  CHECK(again == primary);
  OK(cuCtxSetCurrent(again));
  CUdeviceptr q = 0;
  OK(cuMemAlloc(&q, 1 << 16)); /* usable again on both sides */
  OK(cuMemsetD8(q, 9, 1 << 16));
  uint8_t b = 0;
  OK(cuMemcpyDtoH(&b, q + 100, 1));
  CHECK_EQ(b, 9);
  OK(cuMemFree(q));
}

static void test_fork(void) {
  CASE("fork after cuInit");
  pid_t pid = fork();
  if (pid == 0) {
    /* the child cannot use the parent's session and must not end it when it exits */
    CUdeviceptr p = 0;
    CUresult r = cuMemAlloc(&p, 16);
    exit(r == CUDA_ERROR_NOT_INITIALIZED ? 0 : 1); /* runs the exit handlers */
  }
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CUdeviceptr p = 0;
  OK(cuMemAlloc(&p, 4096)); /* the parent's session is intact */
  OK(cuMemsetD8(p, 7, 4096));
  uint8_t b[4096];
  OK(cuMemcpyDtoH(b, p, sizeof b));
  CHECK(b[0] == 7 && b[4095] == 7);
  OK(cuMemFree(p));
}

/* A library and its kernels belong to no context: cudart loads its library and takes the kernel before the
 * first launch makes the primary context current. The server gets them at their first use. */
static void test_library_before_context(CUcontext primary, const char *fatbin) {
  CASE("a library and its kernels need no current context");
  size_t n = 0;
  uint8_t *image = read_file(fatbin, &n);
  CHECK(image != NULL);
  if (!image) return;
  CUlibrary lib = NULL, unused = NULL;
  CUkernel k = NULL;
  OK(cuLibraryLoadData(&lib, image, NULL, NULL, 0, NULL, NULL, 0));
  OK(cuLibraryLoadData(&unused, image, NULL, NULL, 0, NULL, NULL, 0));
  OK(cuLibraryGetKernel(&k, lib, "scale"));
  CUmodule mod = NULL;
  CHECK_EQ(cuModuleLoadData(&mod, image), CUDA_ERROR_INVALID_CONTEXT); /* a module goes into a context */
  CHECK_EQ(cuModuleGetFunction(&(CUfunction){0}, (CUmodule)lib, "scale"), CUDA_ERROR_INVALID_CONTEXT);
  OK(cuCtxSetCurrent(primary));
  int kmax = 0;
  OK(cuKernelGetAttribute(&kmax, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, k, 0)); /* fetched now */
  CHECK(kmax > 0);
  CUkernel again = NULL;
  OK(cuLibraryGetKernel(&again, lib, "scale"));
  CHECK(again == k);
  OK(cuLibraryUnload(unused)); /* never used: the server never had it */
  OK(cuCtxSynchronize());      /* and nothing was deferred */
  OK(cuLibraryUnload(lib));
  OK(cuCtxSynchronize());
  free(image);
}

static int run_main(const char *fatbin, const char *libdir) {
  CASE("init");
  CHECK_EQ(cuDeviceGetCount(&(int){0}), CUDA_ERROR_NOT_INITIALIZED);
  OK(cuInit(0));
  CUcontext primary = NULL;
  OK(cuDevicePrimaryCtxRetain(&primary, 0));
  CHECK_EQ(cuMemAlloc(&(CUdeviceptr){0}, 16), CUDA_ERROR_INVALID_CONTEXT); /* nothing current yet */
  test_library_before_context(primary, fatbin);
  test_device();
  test_context(primary);
  test_memory();
  test_streams_events();
  test_modules(fatbin);
  test_nvml(libdir);
  test_fork();
  test_threads(primary);
  test_reset(primary);
  OK(cuDevicePrimaryCtxRelease(0));
  return TEST_SUMMARY("shim driver api");
}

/* Kernel names from the server (MODULE_KERNEL_NAMES), run with AVEC_TEST_SERVER_KERNEL_NAMES=1 so images
 * the client could read take the path compressed fat binaries (cuFFT's) take. */
static void names_match(CUmodule mod, unsigned want) {
  unsigned n = 0;
  OK(cuModuleGetFunctionCount(&n, mod));
  CHECK_EQ(n, want);
  CUfunction fns[2] = {NULL, NULL};
  OK(cuModuleEnumerateFunctions(fns, 2, mod));
  for (unsigned i = 0; i < 2; i++) {
    const char *name = NULL;
    CUfunction byname = NULL;
    OK(cuFuncGetName(&name, fns[i]));
    OK(cuModuleGetFunction(&byname, mod, name ? name : "?"));
    CHECK(byname == fns[i]); /* the same objects as cuModuleGetFunction's */
  }
  fft_visit_module(mod, fns);
}

static int run_names(const char *fatbin) {
  CASE("kernel names from the server");
  OK(cuInit(0));
  CUcontext primary = NULL;
  OK(cuDevicePrimaryCtxRetain(&primary, 0));
  OK(cuCtxSetCurrent(primary));
  size_t n = 0;
  uint8_t *image = read_file(fatbin, &n);
  CHECK(image != NULL);
  if (!image) return TEST_SUMMARY("shim kernel names");
  CUmodule mod;
  OK(cuModuleLoadData(&mod, image));
  names_match(mod, 2);
  CUlibrary lib;
  OK(cuLibraryLoadData(&lib, image, NULL, NULL, 0, NULL, NULL, 0));
  free(image);
  unsigned nk = 0;
  OK(cuLibraryGetKernelCount(&nk, lib));
  CHECK_EQ(nk, 2);
  CUkernel ks[2] = {NULL, NULL}, k = NULL;
  OK(cuLibraryEnumerateKernels(ks, 2, lib));
  OK(cuLibraryGetKernel(&k, lib, "scale"));
  CHECK(ks[0] == k || ks[1] == k);
  CHECK_EQ(cuLibraryEnumerateKernels(ks, 1, lib), CUDA_ERROR_INVALID_VALUE);

  CASE("kernel names of a module the server does not have yet (NEED_IMAGE, upload, retry)");
  size_t big = 100 * 1024; /* over the eager-upload size: the load leaves the module pending */
  char *ptx = malloc(big + 1);
  CHECK(ptx != NULL);
  if (!ptx) return TEST_SUMMARY("shim kernel names");
  int at = snprintf(ptx, big, "// %d %f\n.version 8.0\n.target sm_90\n.address_size 64\n"
                              ".visible .entry first_k(\n.param .u64 a)\n{ ret; }\n.visible .entry second_k()\n{ ret; }\n",
                    (int)getpid(), now_s()); /* unique: no earlier run left it on the server */
  memset(ptx + at, ' ', big - (size_t)at);
  ptx[big] = 0;
  CUmodule pm;
  OK(cuModuleLoadData(&pm, ptx));
  free(ptx);
  names_match(pm, 2);
  OK(cuModuleUnload(pm));

  CASE("a compressed image the emulated device cannot read either");
  uint8_t zfat[16 + 64] = {0};
  uint32_t magic = 0xBA55ED50u, zh = 0x40;
  uint16_t hsz = 16, two = 2;
  uint64_t zsize = 64, zflags = 0x8000 | 0x11;
  memcpy(zfat, &magic, 4); memcpy(zfat + 6, &hsz, 2); memcpy(zfat + 8, &zsize, 8);
  memcpy(zfat + 16, &two, 2); memcpy(zfat + 20, &zh, 4); memcpy(zfat + 16 + 0x28, &zflags, 8);
  CUmodule zm;
  OK(cuModuleLoadData(&zm, zfat));
  unsigned zn = 7;
  CHECK_EQ(cuModuleGetFunctionCount(&zn, zm), CUDA_ERROR_NOT_SUPPORTED);
  CHECK_EQ(zn, 7);
  OK(cuModuleUnload(zm));
  OK(cuModuleUnload(mod));
  OK(cuLibraryUnload(lib));
  OK(cuDevicePrimaryCtxRelease(0));
  return TEST_SUMMARY("shim kernel names");
}

static int run_unreachable(void) {
  CASE("unreachable server");
  double t0 = now_s();
  CHECK_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
  CHECK(now_s() - t0 < 15);
  CHECK_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE); /* same answer, no second attempt or log line */
  int n = -1;
  OK(cuDeviceGetCount(&n));
  CHECK_EQ(n, 0);
  return TEST_SUMMARY("shim unreachable");
}

static int run_hidden(void) {
  CASE("CUDA_VISIBLE_DEVICES hides the device");
  CHECK_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
  int n = -1;
  OK(cuDeviceGetCount(&n));
  CHECK_EQ(n, 0);
  return TEST_SUMMARY("shim hidden");
}

static int run_killed(void) {
  CASE("executor killed mid-session");
  OK(cuInit(0));
  CUcontext c;
  OK(cuDevicePrimaryCtxRetain(&c, 0));
  OK(cuCtxSetCurrent(c));
  CUdeviceptr d = 0;
  OK(cuMemAlloc(&d, 1 << 20));
  static uint8_t buf[1 << 20];
  OK(cuMemcpyHtoD(d, buf, sizeof buf));
  const char *pg = getenv("AVEC_TEST_EXECUTOR_PGID");
  CHECK(pg != NULL);
  if (!pg) return TEST_SUMMARY("shim killed");
  kill(-(pid_t)atoi(pg), SIGKILL);
  usleep(200000);
  double t0 = now_s();
  CUresult r = cuMemcpyDtoH(buf, d, sizeof buf);
  CHECK(r != CUDA_SUCCESS);
  CHECK_EQ(r, CUDA_ERROR_UNKNOWN);
  CHECK(now_s() - t0 < 10); /* EOF detected, no hang */
  CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_UNKNOWN); /* the session stays failed */
  CHECK_EQ(cuMemsetD8(d, 0, 16), CUDA_ERROR_UNKNOWN);
  return TEST_SUMMARY("shim killed");
}

int main(int argc, char **argv) {
  const char *l = getenv("AVEC_TEST_LIMIT");
  limit = l ? strtoull(l, NULL, 10) : 268435456ull;
  if (argc > 1 && !strcmp(argv[1], "unreachable")) return run_unreachable();
  if (argc > 1 && !strcmp(argv[1], "killed")) return run_killed();
  if (argc > 1 && !strcmp(argv[1], "hidden")) return run_hidden();
  if (argc > 2 && !strcmp(argv[1], "names")) return run_names(argv[2]);
  if (argc < 4) {
    fprintf(stderr, "usage: driver_test main FATBIN LIBDIR | names FATBIN | unreachable | killed\n");
    return 2;
  }
  return run_main(argv[2], argv[3]);
}
