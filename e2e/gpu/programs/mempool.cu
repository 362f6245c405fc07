// Stream-ordered allocation and memory pools (issue 6, item 1), runtime and driver API.
// Prints only deterministic values: pool attributes as relations (used <= reserved, ...) or values the
// program itself set; addresses never.
//   mempool              the sections below
//   mempool --over BYTES one default-pool allocation of BYTES: prints its error name (run.sh's memory-limit
//                        check: past the session's limit it must fail like a real out-of-memory)
#include "common.h"

__global__ void fill_idx(unsigned *p, size_t n, unsigned salt) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) p[i] = (unsigned)i * 2654435761u + salt;
}

__global__ void add_from(unsigned *dst, const unsigned *src, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) dst[i] += src[i];
}

static bool check_fill(const unsigned *h, size_t n, unsigned salt) {
  for (size_t i = 0; i < n; i++)
    if (h[i] != (unsigned)i * 2654435761u + salt) return false;
  return true;
}

static cudaMemPoolProps device_pool_props(void) {
  cudaMemPoolProps p;
  memset(&p, 0, sizeof p);
  p.allocType = cudaMemAllocationTypePinned;
  p.handleTypes = cudaMemHandleTypeNone;
  p.location.type = cudaMemLocationTypeDevice;
  p.location.id = 0;
  return p;
}

static void print_pool_relations(const char *what, cudaMemPool_t pool) {
  unsigned long long rc = 0, rh = 0, uc = 0, uh = 0;
  if (cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &rc) != cudaSuccess ||
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemHigh, &rh) != cudaSuccess ||
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &uc) != cudaSuccess ||
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &uh) != cudaSuccess) {
    printf("ERR %s: cudaMemPoolGetAttribute (stats) failed\n", g_section);
    g_errors++;
    return;
  }
  printf("%s: used<=reserved %d, used<=usedHigh %d, reserved<=reservedHigh %d\n", what, uc <= rc, uc <= uh, rc <= rh);
  printf("# %s: used=%llu usedHigh=%llu reserved=%llu reservedHigh=%llu\n", what, uc, uh, rc, rh);
}

// cudaMallocAsync/cudaFreeAsync on two streams, a kernel writing pool memory, cross-stream reuse.
static void async_basic(void) {
  SECTION("pool.async");
  cudaStream_t s1, s2;
  RT(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
  RT(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  const size_t n = (4u << 20) + 77;  // elements
  unsigned *a = NULL, *b = NULL;
  RT(cudaMallocAsync((void **)&a, n * 4, s1));
  RT(cudaMallocAsync((void **)&b, n * 4, s2));
  printf("alloc non-null: %d %d, distinct: %d\n", a != NULL, b != NULL, a != b);
  fill_idx<<<(unsigned)((n + 255) / 256), 256, 0, s1>>>(a, n, 7);
  fill_idx<<<(unsigned)((n + 255) / 256), 256, 0, s2>>>(b, n, 11);
  cudaEvent_t ev;
  RT(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  RT(cudaEventRecord(ev, s2));
  RT(cudaStreamWaitEvent(s1, ev, 0));
  add_from<<<(unsigned)((n + 255) / 256), 256, 0, s1>>>(a, b, n);
  RT(cudaGetLastError());
  unsigned *h = (unsigned *)malloc(n * 4);
  RT(cudaMemcpyAsync(h, a, n * 4, cudaMemcpyDeviceToHost, s1));
  RT(cudaFreeAsync(b, s1));  // b is last used on s1 (after the wait)
  RT(cudaFreeAsync(a, s1));
  RT(cudaStreamSynchronize(s1));
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++) ok = h[i] == (unsigned)i * 2654435761u * 2 + 18;
  printf("kernel result over pool memory: %s, hash %016llx\n", ok ? "ok" : "WRONG",
         (unsigned long long)fnv64(h, n * 4));
  EXPECT(ok);
  // Reuse within a stream: allocate, free, allocate the same size again on s1.
  unsigned *c = NULL;
  RT(cudaMallocAsync((void **)&c, 1 << 20, s1));
  RT(cudaMemsetAsync(c, 0x5a, 1 << 20, s1));
  unsigned char hb[16];
  RT(cudaMemcpyAsync(hb, (unsigned char *)c + 4000, sizeof hb, cudaMemcpyDeviceToHost, s1));
  RT(cudaFreeAsync(c, s1));
  RT(cudaStreamSynchronize(s1));
  printf("memset pool memory: %02x %02x\n", hb[0], hb[15]);
  // Free on the legacy default stream of memory allocated on s2.
  RT(cudaMallocAsync((void **)&c, 4096, s2));
  RT(cudaStreamSynchronize(s2));
  RT(cudaFreeAsync(c, 0));
  RT(cudaDeviceSynchronize());
  printf("free on another stream: ok\n");
  // Size 0: the runtime accepts it.
  void *z = (void *)1;
  cudaError_t e = cudaMallocAsync(&z, 0, s1);
  printf("alloc 0 bytes: %s\n", cudaGetErrorName(e));
  if (e == cudaSuccess && z) RT(cudaFreeAsync(z, s1));
  RT(cudaStreamSynchronize(s1));
  free(h);
  RT(cudaEventDestroy(ev));
  RT(cudaStreamDestroy(s1));
  RT(cudaStreamDestroy(s2));
}

// Default pool, current pool, attributes, trim.
static void default_pool(void) {
  SECTION("pool.default");
  cudaMemPool_t def = NULL, cur = NULL;
  RT(cudaDeviceGetDefaultMemPool(&def, 0));
  RT(cudaDeviceGetMemPool(&cur, 0));
  printf("default pool non-null: %d, current is default: %d\n", def != NULL, def == cur);
  CUmemoryPool ddef = NULL;
  DRV(cuDeviceGetDefaultMemPool(&ddef, 0));
  printf("driver default pool equals runtime's: %d\n", (void *)ddef == (void *)def);
  unsigned long long thr = 0;
  RT(cudaMemPoolGetAttribute(def, cudaMemPoolAttrReleaseThreshold, &thr));
  printf("release threshold initially: %llu\n", thr);
  int v = -1;
  RT(cudaMemPoolGetAttribute(def, cudaMemPoolReuseFollowEventDependencies, &v));
  printf("reuse follow event dependencies: %d\n", v);
  RT(cudaMemPoolGetAttribute(def, cudaMemPoolReuseAllowOpportunistic, &v));
  printf("reuse allow opportunistic: %d\n", v);
  RT(cudaMemPoolGetAttribute(def, cudaMemPoolReuseAllowInternalDependencies, &v));
  printf("reuse allow internal dependencies: %d\n", v);

  // Keep freed memory: threshold = max; allocate/free 64 MiB, reserved stays >= 64 MiB.
  thr = ~0ull;
  RT(cudaMemPoolSetAttribute(def, cudaMemPoolAttrReleaseThreshold, &thr));
  unsigned long long back = 0;
  RT(cudaMemPoolGetAttribute(def, cudaMemPoolAttrReleaseThreshold, &back));
  printf("release threshold set to max: %d\n", back == ~0ull);
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  void *p = NULL;
  RT(cudaMallocAsync(&p, 64u << 20, s));
  RT(cudaStreamSynchronize(s));
  print_pool_relations("after 64 MiB alloc", def);
  unsigned long long used = 0, res = 0;
  RT(cudaMemPoolGetAttribute(def, cudaMemPoolAttrUsedMemCurrent, &used));
  printf("used >= 64 MiB: %d\n", used >= (64ull << 20));
  RT(cudaFreeAsync(p, s));
  RT(cudaStreamSynchronize(s));
  RT(cudaMemPoolGetAttribute(def, cudaMemPoolAttrReservedMemCurrent, &res));
  RT(cudaMemPoolGetAttribute(def, cudaMemPoolAttrUsedMemCurrent, &used));
  printf("after free: used < 64 MiB %d, reserved kept >= 64 MiB %d\n", used < (64ull << 20), res >= (64ull << 20));
  RT(cudaMemPoolTrimTo(def, 0));
  RT(cudaMemPoolGetAttribute(def, cudaMemPoolAttrReservedMemCurrent, &res));
  printf("after trim to 0: reserved < 64 MiB %d\n", res < (64ull << 20));
  // Reset the high watermarks (only 0 is accepted) and read them back.
  unsigned long long zero = 0;
  RT(cudaMemPoolSetAttribute(def, cudaMemPoolAttrUsedMemHigh, &zero));
  RT(cudaMemPoolSetAttribute(def, cudaMemPoolAttrReservedMemHigh, &zero));
  print_pool_relations("after reset of high marks", def);
  unsigned long long bad = 5;
  printf("set used high to 5: %s\n", cudaGetErrorName(cudaMemPoolSetAttribute(def, cudaMemPoolAttrUsedMemHigh, &bad)));
  cudaGetLastError();
  thr = 0;
  RT(cudaMemPoolSetAttribute(def, cudaMemPoolAttrReleaseThreshold, &thr));
  // Driver API view of the same pool.
  cuuint64_t dres = 1;
  DRV(cuMemPoolGetAttribute(ddef, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &dres));
  printf("driver release threshold: %llu\n", (unsigned long long)dres);
  RT(cudaStreamDestroy(s));
}

// An explicit pool: create with props, allocate from it (runtime and driver), make it current, access.
static void explicit_pool(void) {
  SECTION("pool.explicit");
  cudaMemPoolProps props = device_pool_props();
  cudaMemPool_t pool = NULL;
  RT(cudaMemPoolCreate(&pool, &props));
  printf("created: %d\n", pool != NULL);
  unsigned long long thr = 32u << 20;
  RT(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &thr));
  unsigned long long back = 0;
  RT(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &back));
  printf("release threshold: %llu\n", back);

  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  const size_t n = 1 << 20;
  unsigned *a = NULL;
  RT(cudaMallocFromPoolAsync((void **)&a, n * 4, pool, s));
  fill_idx<<<(unsigned)(n / 256), 256, 0, s>>>(a, n, 3);
  RT(cudaGetLastError());
  unsigned *h = (unsigned *)malloc(n * 4);
  RT(cudaMemcpyAsync(h, a, n * 4, cudaMemcpyDeviceToHost, s));
  RT(cudaStreamSynchronize(s));
  printf("kernel over explicit-pool memory: %s\n", check_fill(h, n, 3) ? "ok" : "WRONG");

  // Pointer attributes of pool memory.
  cudaPointerAttributes pa;
  memset(&pa, 0, sizeof pa);
  RT(cudaPointerGetAttributes(&pa, a));
  printf("pointer type: %d (device=%d), device: %d\n", (int)pa.type, (int)cudaMemoryTypeDevice, pa.device);
  CUmemoryPool hp = NULL;
  DRV(cuPointerGetAttribute(&hp, CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, (CUdeviceptr)a));
  printf("MEMPOOL_HANDLE equals the pool: %d\n", (void *)hp == (void *)pool);
  unsigned mt = 0;
  DRV(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)a));
  printf("driver memory type: %u\n", mt);
  int ordinal = -1;
  DRV(cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, (CUdeviceptr)a));
  printf("driver device ordinal: %d\n", ordinal);
  CUdeviceptr base = 0;
  size_t range = 0;
  CUresult rr = cuMemGetAddressRange(&base, &range, (CUdeviceptr)a + 4096);
  printf("address range: %s, base is the allocation %d, size >= request %d\n", drv_err_name(rr),
         rr == CUDA_SUCCESS && base == (CUdeviceptr)a, rr == CUDA_SUCCESS && range >= n * 4);
  unsigned long long id1 = 0, id2 = 0;
  DRV(cuPointerGetAttribute(&id1, CU_POINTER_ATTRIBUTE_BUFFER_ID, (CUdeviceptr)a));
  DRV(cuPointerGetAttribute(&id2, CU_POINTER_ATTRIBUTE_BUFFER_ID, (CUdeviceptr)a + 100));
  printf("buffer id same within allocation: %d\n", id1 == id2);

  // Driver API allocation from the same pool.
  CUdeviceptr d = 0;
  DRV(cuMemAllocFromPoolAsync(&d, 1 << 16, (CUmemoryPool)pool, (CUstream)s));
  DRV(cuMemsetD32Async(d, 0xabcdef01u, (1 << 16) / 4, (CUstream)s));
  unsigned w[2] = {0, 0};
  DRV(cuMemcpyDtoHAsync(w, d + 8, sizeof w, (CUstream)s));
  DRV(cuStreamSynchronize((CUstream)s));
  printf("driver pool alloc memset: %08x %08x\n", w[0], w[1]);
  cuuint64_t used = 0;
  DRV(cuMemPoolGetAttribute((CUmemoryPool)pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used));
  printf("driver used >= both allocations: %d\n", used >= (cuuint64_t)(n * 4 + (1 << 16)));
  print_pool_relations("explicit pool with 2 allocations", pool);
  DRV(cuMemFreeAsync(d, (CUstream)s));

  // Access: the owning device has read/write; setting it again is accepted.
  cudaMemLocation loc;
  memset(&loc, 0, sizeof loc);
  loc.type = cudaMemLocationTypeDevice;
  loc.id = 0;
  cudaMemAccessFlags fl = cudaMemAccessFlagsProtNone;
  RT(cudaMemPoolGetAccess(&fl, pool, &loc));
  printf("access of device 0: %d (readwrite=%d)\n", (int)fl, (int)cudaMemAccessFlagsProtReadWrite);
  cudaMemAccessDesc desc;
  memset(&desc, 0, sizeof desc);
  desc.location = loc;
  desc.flags = cudaMemAccessFlagsProtReadWrite;
  printf("set access of the owning device: %s\n", cudaGetErrorName(cudaMemPoolSetAccess(pool, &desc, 1)));
  cudaGetLastError();
  CUmemAccess_flags dfl = CU_MEM_ACCESS_FLAGS_PROT_NONE;
  CUmemLocation dloc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  DRV(cuMemPoolGetAccess(&dfl, (CUmemoryPool)pool, &dloc));
  printf("driver access of device 0: %d\n", (int)dfl);
  cudaMemLocation bad = loc;
  bad.id = 4242;
  printf("access of a device that does not exist: %s\n", cudaGetErrorName(cudaMemPoolGetAccess(&fl, pool, &bad)));
  cudaGetLastError();

  // The explicit pool as the device's current pool: cudaMallocAsync now draws from it.
  cudaMemPool_t def = NULL, cur = NULL;
  RT(cudaDeviceGetDefaultMemPool(&def, 0));
  RT(cudaDeviceSetMemPool(0, pool));
  RT(cudaDeviceGetMemPool(&cur, 0));
  printf("current pool is the explicit pool: %d\n", cur == pool);
  void *q = NULL;
  RT(cudaMallocAsync(&q, 1 << 20, s));
  CUmemoryPool qp = NULL;
  DRV(cuPointerGetAttribute(&qp, CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, (CUdeviceptr)q));
  printf("cudaMallocAsync draws from the current pool: %d\n", (void *)qp == (void *)pool);
  RT(cudaFreeAsync(q, s));
  CUmemoryPool dcur = NULL;
  DRV(cuDeviceGetMemPool(&dcur, 0));
  printf("driver current pool is the explicit pool: %d\n", (void *)dcur == (void *)pool);
  RT(cudaDeviceSetMemPool(0, def));
  RT(cudaDeviceGetMemPool(&cur, 0));
  printf("default pool restored: %d\n", cur == def);

  RT(cudaFreeAsync(a, s));
  RT(cudaStreamSynchronize(s));
  RT(cudaMemPoolTrimTo(pool, 0));
  unsigned long long res = 1;
  RT(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &res));
  printf("reserved after free and trim: %llu\n", res);
  RT(cudaMemPoolDestroy(pool));
  printf("destroyed: ok\n");
  free(h);
  RT(cudaStreamDestroy(s));
}

// Driver-API pool lifecycle (no runtime).
static void driver_pool(void) {
  SECTION("pool.driver");
  CUmemPoolProps props;
  memset(&props, 0, sizeof props);
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  props.location.id = 0;
  CUmemoryPool pool = NULL;
  DRV(cuMemPoolCreate(&pool, &props));
  CUstream s;
  DRV(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUdeviceptr d[8];
  for (int i = 0; i < 8; i++) DRV(cuMemAllocFromPoolAsync(&d[i], (size_t)(i + 1) << 18, pool, s));
  for (int i = 0; i < 8; i++) DRV(cuMemsetD8Async(d[i], (unsigned char)(0x10 + i), (size_t)(i + 1) << 18, s));
  unsigned char h[8];
  for (int i = 0; i < 8; i++) DRV(cuMemcpyDtoHAsync(&h[i], d[i] + ((size_t)(i + 1) << 18) - 1, 1, s));
  for (int i = 0; i < 8; i++) DRV(cuMemFreeAsync(d[i], s));
  DRV(cuStreamSynchronize(s));
  printf("8 allocations, last bytes:");
  for (int i = 0; i < 8; i++) printf(" %02x", h[i]);
  printf("\n");
  CUdeviceptr a = 0;
  DRV(cuMemAllocAsync(&a, 1 << 20, s));  // the device's current (default) pool
  CUmemoryPool ap = NULL, def = NULL;
  DRV(cuPointerGetAttribute(&ap, CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, a));
  DRV(cuDeviceGetDefaultMemPool(&def, 0));
  printf("cuMemAllocAsync from the default pool: %d\n", ap == def);
  DRV(cuMemFreeAsync(a, s));
  DRV(cuStreamSynchronize(s));
  DRV(cuMemPoolTrimTo(pool, 0));
  DRV(cuMemPoolDestroy(pool));
  DRV(cuStreamDestroy(s));
  printf("destroyed: ok\n");
}

// Allocation failures: far beyond any device's memory, from the default and an explicit pool.
static void pool_oom(void) {
  SECTION("pool.oom");
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  void *p = NULL;
  cudaError_t e = cudaMallocAsync(&p, 1ull << 40, s);
  printf("default pool 1 TiB: %s\n", cudaGetErrorName(e));
  cudaGetLastError();
  cudaMemPoolProps props = device_pool_props();
  cudaMemPool_t pool;
  RT(cudaMemPoolCreate(&pool, &props));
  e = cudaMallocFromPoolAsync(&p, 1ull << 40, pool, s);
  printf("explicit pool 1 TiB: %s\n", cudaGetErrorName(e));
  cudaGetLastError();
  CUdeviceptr d = 0;
  printf("driver pool 1 TiB: %s\n", drv_err_name(cuMemAllocFromPoolAsync(&d, 1ull << 40, (CUmemoryPool)pool, (CUstream)s)));
  // The stream and the pool still work afterwards.
  RT(cudaMallocFromPoolAsync(&p, 4096, pool, s));
  RT(cudaMemsetAsync(p, 1, 4096, s));
  RT(cudaFreeAsync(p, s));
  RT(cudaStreamSynchronize(s));
  printf("pool usable after failures: ok\n");
  RT(cudaMemPoolDestroy(pool));
  RT(cudaStreamDestroy(s));
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--over")) {
    size_t bytes = strtoull(argv[2], NULL, 0);
    cudaStream_t s;
    cudaError_t e = cudaStreamCreate(&s);
    void *p = NULL;
    if (e == cudaSuccess) e = cudaMallocAsync(&p, bytes, s);
    printf("pool alloc past limit: %s\n", cudaGetErrorName(e));
    cudaGetLastError();
    e = cudaMallocAsync(&p, 1 << 20, s);
    if (e == cudaSuccess) e = cudaFreeAsync(p, s);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
    printf("pool alloc of 1 MiB after: %s\n", cudaGetErrorName(e));
    return 0;
  }
  async_basic();
  default_pool();
  explicit_pool();
  driver_pool();
  pool_oom();
  return finish();
}
