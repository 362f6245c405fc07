/* Memory-pool, virtual-memory and IPC test through the shim against a real executor (emulated backend:
 * device memory is host memory there, so every check reads data back with copies; no kernels).
 *   memext_test main          pools, VMM, 2D copies larger than a staging chunk, IPC with a child process
 *   memext_test ipc-child H E the child: opens memory handle H and event handle E (hex), checks and writes
 * The session memory limit is AVEC_TEST_LIMIT (bytes). */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"

#define OK(call) CHECK_EQ((call), CUDA_SUCCESS)

static uint64_t limit;

static CUmemoryPool pool_of(CUdeviceptr p) {
  CUmemoryPool out = NULL;
  CHECK_EQ(cuPointerGetAttribute(&out, CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, p), CUDA_SUCCESS);
  return out;
}

static void test_pools(void) {
  CASE("default and current pool");
  CUmemoryPool def = NULL, cur = NULL;
  OK(cuDeviceGetDefaultMemPool(&def, 0));
  OK(cuDeviceGetMemPool(&cur, 0));
  CHECK(def != NULL && def == cur);
  CHECK_EQ(cuDeviceGetDefaultMemPool(&def, 7), CUDA_ERROR_INVALID_DEVICE);

  CASE("stream-ordered allocation from the default pool");
  CUstream s;
  OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  size_t n = (3u << 20) + 17;
  uint8_t *a = malloc(n), *b = malloc(n);
  fill(a, n, 5);
  CUdeviceptr d = 0;
  OK(cuMemAllocAsync(&d, n, s));
  CHECK(pool_of(d) == def);
  OK(cuMemcpyHtoDAsync(d, a, n, s));
  memset(b, 0, n);
  OK(cuMemcpyDtoHAsync(b, d, n, s));
  OK(cuStreamSynchronize(s));
  CHECK(!memcmp(a, b, n));
  cuuint64_t used = 0, reserved = 0;
  OK(cuMemPoolGetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used));
  OK(cuMemPoolGetAttribute(def, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved));
  CHECK(used >= n && reserved >= used);
  size_t fr = 0, tot = 0;
  OK(cuMemGetInfo(&fr, &tot));
  CHECK(tot == limit && fr <= limit - n); /* the pool's reservation counts against the session's limit */
  OK(cuMemFreeAsync(d, s));
  OK(cuStreamSynchronize(s));

  CASE("created pool: attributes, access, allocation, destroy");
  CUmemPoolProps props = {0};
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  props.location.id = 0;
  CUmemoryPool p = NULL;
  OK(cuMemPoolCreate(&p, &props));
  cuuint64_t thr = 64u << 20, back = 0;
  OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &thr));
  OK(cuMemPoolGetAttribute(p, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &back));
  CHECK_EQ(back, thr);
  int reuse = 0, reuse_back = 1;
  OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &reuse));
  OK(cuMemPoolGetAttribute(p, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &reuse_back));
  CHECK_EQ(reuse_back, 0);
  CUmemAccessDesc acc = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  OK(cuMemPoolSetAccess(p, &acc, 1));
  CUmemAccess_flags fl = CU_MEM_ACCESS_FLAGS_PROT_NONE;
  CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  OK(cuMemPoolGetAccess(&fl, p, &loc));
  CHECK_EQ(fl, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
  CUdeviceptr q = 0;
  OK(cuMemAllocFromPoolAsync(&q, 4096, p, s));
  CHECK(pool_of(q) == p);
  OK(cuMemsetD8Async(q, 0x5a, 4096, s));
  uint8_t chk[4096];
  OK(cuMemcpyDtoHAsync(chk, q, sizeof chk, s));
  OK(cuStreamSynchronize(s));
  CHECK(chk[0] == 0x5a && chk[4095] == 0x5a);
  OK(cuMemPoolTrimTo(p, 0));
  /* the device's current pool follows cuDeviceSetMemPool */
  OK(cuDeviceSetMemPool(0, p));
  OK(cuDeviceGetMemPool(&cur, 0));
  CHECK(cur == p);
  CUdeviceptr r = 0;
  OK(cuMemAllocAsync(&r, 512, s));
  CHECK(pool_of(r) == p);
  OK(cuMemFreeAsync(r, s));
  OK(cuMemFreeAsync(q, s));
  OK(cuStreamSynchronize(s));
  OK(cuMemPoolDestroy(p));
  OK(cuDeviceGetMemPool(&cur, 0));
  CHECK(cur == def); /* destroying the current pool gives the device its default back */
  CHECK_EQ(cuMemPoolDestroy(def), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemPoolGetAttribute(p, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &back), CUDA_ERROR_INVALID_VALUE);

  CASE("pool attribute and size edge cases");
  cuuint64_t five = 5;
  CHECK_EQ(cuMemPoolSetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &five), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemPoolSetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &five), CUDA_ERROR_INVALID_VALUE);
  cuuint64_t zero = 0;
  OK(cuMemPoolSetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &zero));
  CUdeviceptr none = 1;
  OK(cuMemAllocAsync(&none, 0, s));
  CHECK_EQ(none, 0);
  OK(cuCtxSynchronize()); /* nothing deferred */

  CASE("pool allocations beyond the session limit");
  CUdeviceptr big = 0;
  CHECK_EQ(cuMemAllocAsync(&big, (size_t)limit + 4096, s), CUDA_ERROR_OUT_OF_MEMORY);
  CUdeviceptr half1 = 0, half2 = 0;
  OK(cuMemAllocAsync(&half1, (size_t)(limit / 2), s));
  CHECK_EQ(cuMemAllocAsync(&half2, (size_t)(limit / 2) + (1u << 20), s), CUDA_ERROR_OUT_OF_MEMORY);
  OK(cuMemFreeAsync(half1, s));
  OK(cuStreamSynchronize(s));
  OK(cuMemAllocAsync(&half2, (size_t)(limit / 2) + (1u << 20), s)); /* fits once the first is gone */
  OK(cuMemFreeAsync(half2, s));
  OK(cuStreamSynchronize(s));

  CASE("pool refusals");
  props.location.type = CU_MEM_LOCATION_TYPE_HOST;
  CHECK_EQ(cuMemPoolCreate(&p, &props), CUDA_ERROR_NOT_SUPPORTED);
  /* the default pool has no shareable handle types (share_test covers pools made with them) */
  CHECK_EQ(cuMemPoolExportToShareableHandle(&(int){0}, def, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0),
           CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemPoolExportToShareableHandle(&(int){0}, def, CU_MEM_HANDLE_TYPE_FABRIC, 0), CUDA_ERROR_NOT_SUPPORTED);
  int win32 = -1;
  OK(cuDeviceGetAttribute(&win32, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_HANDLE_SUPPORTED, 0));
  CHECK_EQ(win32, 0); /* a Win32 or fabric handle cannot cross machines */
  OK(cuStreamDestroy(s));
  free(a); free(b);
}

static void test_vmm(void) {
  CASE("granularity and physical allocations");
  CUmemAllocationProp prop = {0};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  size_t g = 0, rec = 0;
  OK(cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
  OK(cuMemGetAllocationGranularity(&rec, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
  CHECK(g > 0 && rec >= g && rec % g == 0);
  CUmemGenericAllocationHandle h1 = 0, h2 = 0;
  OK(cuMemCreate(&h1, g, &prop, 0));
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR; /* exported in share_test */
  OK(cuMemCreate(&h2, 2 * g, &prop, 0));
  CUmemAllocationProp back = {0};
  OK(cuMemGetAllocationPropertiesFromHandle(&back, h2));
  CHECK_EQ(back.requestedHandleTypes, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  int fd = -1;
  CHECK_EQ(cuMemExportToShareableHandle(&fd, h1, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemExportToShareableHandle(&fd, h2, CU_MEM_HANDLE_TYPE_FABRIC, 0), CUDA_ERROR_NOT_SUPPORTED);
  size_t fr = 0, tot = 0;
  OK(cuMemGetInfo(&fr, &tot));
  CHECK(fr <= limit - 3 * g); /* physical memory is charged from creation */

  CASE("two pieces mapped back to back, one span for copies");
  CUdeviceptr va = 0;
  OK(cuMemAddressReserve(&va, 4 * g, 0, 0, 0));
  CHECK(va != 0);
  OK(cuMemMap(va, g, 0, h1, 0));
  OK(cuMemMap(va + g, 2 * g, 0, h2, 0));
  CUmemAccessDesc acc = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  OK(cuMemSetAccess(va, 3 * g, &acc, 1));
  unsigned long long flags = 0;
  CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  OK(cuMemGetAccess(&flags, &loc, va + g));
  CHECK_EQ(flags, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
  size_t n = 3 * g;
  uint8_t *a = malloc(n), *b = malloc(n);
  fill(a, n, 9);
  OK(cuMemcpyHtoD(va, a, n)); /* crosses from the first piece into the second */
  memset(b, 0, n);
  OK(cuMemcpyDtoH(b, va, n));
  CHECK(!memcmp(a, b, n));
  uint8_t mid[64];
  OK(cuMemcpyDtoH(mid, va + g - 32, sizeof mid));
  CHECK(!memcmp(mid, a + g - 32, sizeof mid));
  CHECK_EQ(cuMemcpyHtoD(va + 3 * g - 8, a, 16), CUDA_ERROR_INVALID_VALUE); /* runs past the last piece */
  CHECK_EQ(cuMemFree(va), CUDA_ERROR_INVALID_VALUE); /* mapped memory is not cuMemAlloc memory */
  CUdeviceptr base = 0;
  size_t sz = 0;
  OK(cuMemGetAddressRange(&base, &sz, va + g + 5));
  CHECK(base == va + g && sz == 2 * g);

  CASE("the same physical memory mapped twice aliases");
  OK(cuMemMap(va + 3 * g, g, g, h2, 0)); /* second half of h2 again */
  OK(cuMemSetAccess(va + 3 * g, g, &acc, 1));
  uint8_t alias[256];
  OK(cuMemcpyDtoH(alias, va + 3 * g, sizeof alias));
  CHECK(!memcmp(alias, a + 2 * g, sizeof alias));

  CASE("retain, release, unmap, free");
  CUmemGenericAllocationHandle again = 0;
  OK(cuMemRetainAllocationHandle(&again, (void *)(uintptr_t)(va + g)));
  CHECK_EQ(again, h2);
  OK(cuMemRelease(again));
  CHECK_EQ(cuMemUnmap(va, g + 1), CUDA_ERROR_INVALID_VALUE); /* not whole pieces */
  CHECK_EQ(cuMemAddressFree(va, 4 * g), CUDA_ERROR_INVALID_VALUE); /* still mapped */
  OK(cuCtxSynchronize());
  OK(cuMemUnmap(va, 4 * g));
  OK(cuMemRelease(h1));
  OK(cuMemRelease(h2));
  CHECK_EQ(cuMemRelease(h2), CUDA_ERROR_INVALID_VALUE);
  OK(cuMemAddressFree(va, 4 * g));
  OK(cuCtxSynchronize());
  OK(cuMemGetInfo(&fr, &tot));
  CHECK_EQ(fr, limit); /* everything given back */

  CASE("physical memory beyond the session limit");
  CUmemGenericAllocationHandle huge = 0;
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_NONE;
  CHECK_EQ(cuMemCreate(&huge, ((size_t)limit / g + 1) * g, &prop, 0), CUDA_ERROR_OUT_OF_MEMORY);
  free(a); free(b);
}

/* A pitched 2D copy whose packed rows are larger than the executor's staging threshold (64 KiB): the
 * frame must be read whole (a CUDA C++ program doing cudaMemset2D + cudaMemcpy2D lost its connection). */
static void test_big_2d(void) {
  CASE("pitched 2D memset and copy of 4000 B x 300 rows");
  CUdeviceptr p = 0;
  size_t pitch = 0;
  OK(cuMemAllocPitch(&p, &pitch, 4000, 300, 4));
  OK(cuMemsetD2D8(p, pitch, 0xff, 4000, 300));
  uint8_t *h = malloc(4000 * 300), *back = malloc(4000 * 300);
  fill(h, 4000 * 300, 3);
  CUDA_MEMCPY2D c = {0};
  c.srcMemoryType = CU_MEMORYTYPE_HOST; c.srcHost = h; c.srcPitch = 4000;
  c.dstMemoryType = CU_MEMORYTYPE_DEVICE; c.dstDevice = p; c.dstPitch = pitch;
  c.WidthInBytes = 4000; c.Height = 300;
  OK(cuMemcpy2D(&c));
  OK(cuCtxSynchronize()); /* the session is still in step */
  CUDA_MEMCPY2D d = {0};
  d.srcMemoryType = CU_MEMORYTYPE_DEVICE; d.srcDevice = p; d.srcPitch = pitch;
  d.dstMemoryType = CU_MEMORYTYPE_HOST; d.dstHost = back; d.dstPitch = 4000;
  d.WidthInBytes = 4000; d.Height = 300;
  OK(cuMemcpy2D(&d));
  CHECK(!memcmp(h, back, 4000 * 300));
  uint8_t row0[4000];
  OK(cuMemsetD2D8(p + pitch, pitch, 0xff, 4000, 1)); /* row 1 only */
  OK(cuMemcpyDtoH(row0, p, sizeof row0));
  CHECK(!memcmp(row0, h, sizeof row0));
  OK(cuMemcpyDtoH(row0, p + pitch, sizeof row0));
  CHECK(row0[0] == 0xff && row0[3999] == 0xff);
  OK(cuMemFree(p));
  free(h); free(back);
}

/* Mapped pinned memory: the device pointer is a server-side mirror kept coherent at device work and at
 * synchronisation (there are no kernels on the emulated device: device-side copies and memsets stand in). */
static void test_mapped(void) {
  CASE("mapped host memory: device pointer, host writes reach device work, device writes come back at sync");
  uint8_t *h = NULL, want[8192], back[8192];
  OK(cuMemHostAlloc((void **)&h, sizeof want, CU_MEMHOSTALLOC_DEVICEMAP));
  fill(want, sizeof want, 4);
  memcpy(h, want, sizeof want);
  CUdeviceptr d = 0, other = 0;
  OK(cuMemHostGetDevicePointer(&d, h, 0));
  CHECK(d != 0);
  OK(cuMemAlloc(&other, sizeof want));
  OK(cuMemcpyDtoD(other, d, sizeof want));
  OK(cuMemcpyDtoH(back, other, sizeof back));
  CHECK(!memcmp(back, want, sizeof want));
  h[100] = want[100] = (uint8_t)(want[100] + 1); /* changed by the host after the first send */
  OK(cuMemcpyDtoD(other, d, sizeof want));
  OK(cuMemcpyDtoH(back, other, sizeof back));
  CHECK_EQ(back[100], want[100]);
  OK(cuMemsetD8(d + 16, 0x77, 32)); /* written by the device */
  OK(cuCtxSynchronize());
  memset(want + 16, 0x77, 32);
  CHECK(!memcmp(h, want, sizeof want));
  CUdeviceptr again = 0;
  OK(cuMemHostGetDevicePointer(&again, h + 64, 0));
  CHECK_EQ(again, d + 64);
  CUdeviceptr attr = 0;
  void *hp = NULL;
  OK(cuPointerGetAttribute(&attr, CU_POINTER_ATTRIBUTE_DEVICE_POINTER, (CUdeviceptr)(uintptr_t)h));
  CHECK_EQ(attr, d);
  OK(cuPointerGetAttribute(&hp, CU_POINTER_ATTRIBUTE_HOST_POINTER, d + 8));
  CHECK(hp == h + 8);
  CHECK_EQ(cuMemHostGetDevicePointer(&again, back, 0), CUDA_ERROR_INVALID_VALUE); /* not pinned memory */
  OK(cuMemFreeHost(h));
  OK(cuMemFree(other));

  CASE("mapped registered memory, and a stream synchronisation as the point of coherence");
  static uint8_t reg[4096] __attribute__((aligned(4096)));
  OK(cuMemHostRegister(reg, sizeof reg, CU_MEMHOSTREGISTER_DEVICEMAP));
  OK(cuMemHostGetDevicePointer(&d, reg, 0));
  CUstream s;
  OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  OK(cuMemsetD32Async(d, 0xabcdef01u, sizeof reg / 4, s));
  OK(cuStreamSynchronize(s));
  uint32_t w;
  memcpy(&w, reg + 4092, 4);
  CHECK_EQ(w, 0xabcdef01u);
  OK(cuStreamDestroy(s));
  OK(cuMemHostUnregister(reg));

  CASE("mapped memory: a memset or copy issued without a stream shows on the host when it returns");
  uint32_t *mh = NULL;
  OK(cuMemHostAlloc((void **)&mh, 40, CU_MEMHOSTALLOC_DEVICEMAP));
  for (int i = 0; i < 10; i++) mh[i] = 123;
  OK(cuMemHostGetDevicePointer(&d, mh, 0));
  OK(cuMemsetD8(d, 0, 40)); /* numba's test_host_alloc_mapped: no synchronisation before the host looks */
  int zeros = 0;
  for (int i = 0; i < 10; i++) zeros += mh[i] == 0;
  CHECK_EQ(zeros, 10);
  OK(cuMemcpyHtoD(d + 4, "\x01\x02\x03\x04", 4));
  CHECK_EQ(mh[1], 0x04030201u);
  OK(cuMemFreeHost(mh));
}

/* Managed memory: one pointer, dereferenced here and used by device work, coherent at sync points. */
static void test_managed(void) {
  CASE("managed memory: the same pointer on both sides");
  CUdeviceptr m = 0, other = 0;
  /* Larger than one MIRROR_WRITE_NOW piece (64 KiB) and not a multiple of it: host changes travel in pieces. */
  static uint8_t want[200 * 1024 + 52], back[sizeof want];
  OK(cuMemAllocManaged(&m, sizeof want, CU_MEM_ATTACH_GLOBAL));
  uint8_t *h = (uint8_t *)(uintptr_t)m;
  fill(want, sizeof want, 8);
  memcpy(h, want, sizeof want); /* the host writes through the pointer */
  OK(cuMemAlloc(&other, sizeof want));
  OK(cuMemcpyDtoD(other, m, sizeof want)); /* device work sees the host's bytes */
  OK(cuMemcpyDtoH(back, other, sizeof back));
  CHECK(!memcmp(back, want, sizeof want));
  OK(cuMemsetD8(m + 16, 0x33, 16)); /* the device writes */
  OK(cuCtxSynchronize());
  memset(want + 16, 0x33, 16);
  CHECK(!memcmp(h, want, sizeof want)); /* ... and the host reads it after the synchronisation */
  OK(cuMemcpyHtoD(m + 100, "xyz", 3)); /* a copy into managed memory shows on the host after a sync */
  OK(cuCtxSynchronize());
  CHECK(!memcmp(h + 100, "xyz", 3));
  unsigned managed = 0;
  OK(cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, m + 5));
  CHECK_EQ(managed, 1);
  OK(cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, other));
  CHECK_EQ(managed, 0);

  CASE("managed memory: prefetch, advice, range attributes, stream attachment");
  CUmemLocation dev0 = {CU_MEM_LOCATION_TYPE_DEVICE, 0}, host = {CU_MEM_LOCATION_TYPE_HOST, 0};
  OK(cuMemPrefetchAsync_v2(m, 8192, dev0, 0, NULL));
  OK(cuMemAdvise_v2(m, 8192, CU_MEM_ADVISE_SET_READ_MOSTLY, dev0));
  OK(cuMemPrefetchAsync_v2(m, 8192, host, 0, NULL));
  int rm = 0, last = 0;
  OK(cuMemRangeGetAttribute(&rm, sizeof rm, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, m, 8192));
  OK(cuMemRangeGetAttribute(&last, sizeof last, CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, m, 8192));
  CHECK(rm == 1 && last == CU_DEVICE_CPU);
  CHECK_EQ(cuMemPrefetchAsync_v2(other, 8192, dev0, 0, NULL), CUDA_ERROR_INVALID_VALUE); /* not managed */
  OK(cuStreamAttachMemAsync(NULL, m, 0, CU_MEM_ATTACH_HOST));
  int concurrent = 1;
  OK(cuDeviceGetAttribute(&concurrent, CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, 0));
  CHECK_EQ(concurrent, 0); /* host and device may not touch it at the same time through the shim */
  OK(cuMemFree(m));
  OK(cuMemFree(other));
  CHECK_EQ(cuMemAllocManaged(&m, 64, 0x99), CUDA_ERROR_INVALID_VALUE);

  CASE("managed memory: small allocations between small device allocations (the server packs them)");
  CUdeviceptr small[3], man[2];
  OK(cuMemAlloc(&small[0], 40));
  OK(cuMemAllocManaged(&man[0], 40, CU_MEM_ATTACH_GLOBAL));
  OK(cuMemAlloc(&small[1], 40));
  OK(cuMemAllocManaged(&man[1], 40, CU_MEM_ATTACH_HOST));
  OK(cuMemAlloc(&small[2], 40));
  for (int i = 0; i < 2; i++) {
    uint32_t *mp = (uint32_t *)(uintptr_t)man[i];
    for (int k = 0; k < 10; k++) mp[k] = (uint32_t)(k + 10 * i); /* writable here at the device address */
    OK(cuMemcpyDtoD(small[i], man[i], 40));
    uint32_t got[10];
    OK(cuMemcpyDtoH(got, small[i], sizeof got));
    CHECK(got[9] == (uint32_t)(9 + 10 * i) && got[0] == (uint32_t)(10 * i));
    OK(cuMemsetD8(man[i], 0, 40)); /* synchronous: the host reads zeros at once */
    CHECK_EQ(mp[5], 0u);
  }
  for (int i = 0; i < 3; i++) OK(cuMemFree(small[i]));
  for (int i = 0; i < 2; i++) OK(cuMemFree(man[i]));
}

static void hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}
static int unhex(const char *s, uint8_t *out, size_t n) {
  if (strlen(s) != 2 * n) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (uint8_t)v;
  }
  return 0;
}

static void test_ipc(const char *self) {
  CASE("IPC: a child process opens this session's memory and event");
  size_t n = (1u << 20) + 9;
  uint8_t *a = malloc(n), *b = malloc(n);
  fill(a, n, 21);
  CUdeviceptr d = 0;
  OK(cuMemAlloc(&d, n));
  OK(cuMemcpyHtoD(d, a, n));
  unsigned ipc_capable = 0;
  OK(cuPointerGetAttribute(&ipc_capable, CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE, d));
  CHECK_EQ(ipc_capable, 1);
  CUipcMemHandle mh, mh2;
  OK(cuIpcGetMemHandle(&mh, d));
  OK(cuIpcGetMemHandle(&mh2, d));
  CHECK(!memcmp(&mh, &mh2, sizeof mh)); /* one allocation, one handle */
  CUevent ev, plain;
  OK(cuEventCreate(&ev, CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING));
  OK(cuEventCreate(&plain, CU_EVENT_DEFAULT));
  CUipcEventHandle eh;
  CHECK_EQ(cuIpcGetEventHandle(&eh, plain), CUDA_ERROR_INVALID_HANDLE);
  OK(cuEventRecord(ev, NULL));
  OK(cuIpcGetEventHandle(&eh, ev));
  char mhex[129], ehex[129];
  hex((const uint8_t *)&mh, sizeof mh, mhex);
  hex((const uint8_t *)&eh, sizeof eh, ehex);
  pid_t pid = fork();
  if (pid == 0) {
    execl(self, self, "ipc-child", mhex, ehex, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  /* the child inverted the first 4096 bytes in place */
  OK(cuMemcpyDtoH(b, d, n));
  int inverted = 1;
  for (size_t i = 0; i < 4096; i++) inverted &= b[i] == (uint8_t)~a[i];
  CHECK(inverted);
  CHECK(!memcmp(a + 4096, b + 4096, n - 4096));

  CASE("IPC: a freed allocation's handle opens no more");
  OK(cuMemFree(d));
  CUdeviceptr x = 0;
  CHECK_EQ(cuIpcOpenMemHandle(&x, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS), CUDA_ERROR_INVALID_VALUE);
  CUipcMemHandle forged;
  memset(&forged, 0x41, sizeof forged);
  CHECK_EQ(cuIpcOpenMemHandle(&x, forged, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS), CUDA_ERROR_INVALID_VALUE);
  OK(cuEventDestroy(ev));
  OK(cuEventDestroy(plain));
  free(a); free(b);
}

static int run_child(const char *mhex, const char *ehex) {
  CUipcMemHandle mh;
  CUipcEventHandle eh;
  CASE("IPC child");
  CHECK(!unhex(mhex, (uint8_t *)&mh, sizeof mh) && !unhex(ehex, (uint8_t *)&eh, sizeof eh));
  OK(cuInit(0));
  CUcontext c;
  OK(cuDevicePrimaryCtxRetain(&c, 0));
  OK(cuCtxSetCurrent(c));
  CUevent ev = NULL;
  OK(cuIpcOpenEventHandle(&ev, eh));
  OK(cuStreamWaitEvent(NULL, ev, 0));
  OK(cuEventSynchronize(ev));
  CUdeviceptr d = 0;
  OK(cuIpcOpenMemHandle(&d, mh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS));
  CUdeviceptr base = 0;
  size_t size = 0;
  OK(cuMemGetAddressRange(&base, &size, d));
  CHECK(base == d && size == (1u << 20) + 9);
  uint8_t want[4096], got[4096];
  fill(want, sizeof want, 21);
  OK(cuMemcpyDtoH(got, d, sizeof got));
  CHECK(!memcmp(want, got, sizeof got));
  for (size_t i = 0; i < sizeof got; i++) got[i] = (uint8_t)~got[i];
  OK(cuMemcpyHtoD(d, got, sizeof got));
  OK(cuCtxSynchronize());
  CHECK_EQ(cuMemFree(d), CUDA_ERROR_INVALID_VALUE); /* opened memory is closed, not freed */
  OK(cuIpcCloseMemHandle(d));
  CHECK_EQ(cuMemcpyDtoH(got, d, 16), CUDA_ERROR_INVALID_VALUE);
  OK(cuEventDestroy(ev));
  OK(cuDevicePrimaryCtxRelease(0));
  return TEST_SUMMARY("shim memext ipc child");
}

int main(int argc, char **argv) {
  const char *l = getenv("AVEC_TEST_LIMIT");
  limit = l ? strtoull(l, NULL, 10) : 268435456ull;
  if (argc == 4 && !strcmp(argv[1], "ipc-child")) return run_child(argv[2], argv[3]);
  if (argc != 2 || strcmp(argv[1], "main")) {
    fprintf(stderr, "usage: memext_test main | ipc-child MEMHANDLE EVENTHANDLE\n");
    return 2;
  }
  CASE("init");
  OK(cuInit(0));
  CASE("VMM and pools before any context (XLA asks for the granularity first)");
  CUmemAllocationProp prop = {0};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  size_t g = 0;
  OK(cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
  CHECK(g > 0);
  CUdeviceptr va = 0;
  OK(cuMemAddressReserve(&va, 4 * g, 0, 0, 0));
  OK(cuMemAddressFree(va, 4 * g));
  CUmemoryPool def = NULL;
  OK(cuDeviceGetDefaultMemPool(&def, 0));
  cuuint64_t thr = 0;
  OK(cuMemPoolGetAttribute(def, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &thr));
  CUcontext c;
  OK(cuDevicePrimaryCtxRetain(&c, 0));
  OK(cuCtxSetCurrent(c));
  test_big_2d();
  test_pools();
  test_vmm();
  test_mapped();
  test_managed();
  test_ipc(argv[0]);
  OK(cuDevicePrimaryCtxRelease(0));
  return TEST_SUMMARY("shim memext");
}
