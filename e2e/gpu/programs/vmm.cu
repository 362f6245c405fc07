// Virtual memory management (issue 6, item 2): granularity, physical allocations, reserved ranges, maps,
// access, and the expandable-segments pattern (two physical chunks mapped back to back in one range, a
// kernel spanning both). Addresses are never printed.
//
// POSIX-fd shareable handles work through the shim too, between processes whose sessions share a server and
// claim (docs/semantics.md, "OS handles"): section [vmm.export] exports one and imports it in this process.
#include "common.h"
#include <unistd.h>

__global__ void fill_span(unsigned *p, size_t n, unsigned salt) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) p[i] = (unsigned)(i ^ (i >> 7)) * 2246822519u + salt;
}

static bool check_span(const unsigned *h, size_t n, unsigned salt) {
  for (size_t i = 0; i < n; i++)
    if (h[i] != (unsigned)(i ^ (i >> 7)) * 2246822519u + salt) return false;
  return true;
}

static CUmemAllocationProp device_prop(CUmemAllocationHandleType ht) {
  CUmemAllocationProp p;
  memset(&p, 0, sizeof p);
  p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  p.location.id = 0;
  p.requestedHandleTypes = ht;
  return p;
}

static CUmemAccessDesc rw_desc(void) {
  CUmemAccessDesc d;
  memset(&d, 0, sizeof d);
  d.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  d.location.id = 0;
  d.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  return d;
}

static size_t g_gran = 0;

static void granularity(void) {
  SECTION("vmm.granularity");
  DRV(cuInit(0));
  CUdevice dev;
  DRV(cuDeviceGet(&dev, 0));
  int vmm = -1, posix = -1, gdr = -1;
  DRV(cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, dev));
  DRV(cuDeviceGetAttribute(&posix, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, dev));
  DRV(cuDeviceGetAttribute(&gdr, CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED, dev));
  printf("VMM supported: %d\n", vmm);
  printf("# POSIX fd handles supported: %d, GPUDirect RDMA with VMM: %d\n", posix, gdr);
  CUmemAllocationProp prop = device_prop(CU_MEM_HANDLE_TYPE_NONE);
  size_t gmin = 0, grec = 0;
  DRV(cuMemGetAllocationGranularity(&gmin, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
  DRV(cuMemGetAllocationGranularity(&grec, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
  printf("granularity minimum: %zu, recommended: %zu\n", gmin, grec);
  CUmemAllocationProp bad = prop;
  bad.location.id = 4242;
  size_t g = 0;
  printf("granularity of a device that does not exist: %s\n",
         drv_err_name(cuMemGetAllocationGranularity(&g, &bad, CU_MEM_ALLOC_GRANULARITY_MINIMUM)));
  g_gran = gmin;
}

// One physical allocation in one reserved range.
static void single(void) {
  SECTION("vmm.single");
  if (!g_gran) { printf("ERR vmm.single: no granularity\n"); g_errors++; return; }
  CUcontext ctx;
  DRV(cuDevicePrimaryCtxRetain(&ctx, 0));
  DRV(cuCtxSetCurrent(ctx));
  const size_t size = 4 * g_gran;
  CUmemAllocationProp prop = device_prop(CU_MEM_HANDLE_TYPE_NONE);
  CUmemGenericAllocationHandle h = 0;
  DRV(cuMemCreate(&h, size, &prop, 0));
  CUdeviceptr va = 0;
  DRV(cuMemAddressReserve(&va, size, 0, 0, 0));
  printf("reserved: aligned to granularity %d\n", va % g_gran == 0);
  DRV(cuMemMap(va, size, 0, h, 0));
  CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  unsigned long long fl = 99;
  CUresult ra = cuMemGetAccess(&fl, &loc, va);
  printf("access before cuMemSetAccess: %s %llu\n", drv_err_name(ra), ra == CUDA_SUCCESS ? fl : 99ull);
  CUmemAccessDesc d = rw_desc();
  DRV(cuMemSetAccess(va, size, &d, 1));
  DRV(cuMemGetAccess(&fl, &loc, va + size - 1));
  printf("access after cuMemSetAccess: %llu\n", fl);

  const size_t n = size / 4;
  fill_span<<<(unsigned)((n + 255) / 256), 256>>>((unsigned *)va, n, 5);
  RT(cudaGetLastError());
  unsigned *hbuf = (unsigned *)malloc(size);
  DRV(cuMemcpyDtoH(hbuf, va, size));
  printf("kernel fill of mapped range: %s, hash %016llx\n", check_span(hbuf, n, 5) ? "ok" : "WRONG",
         (unsigned long long)fnv64(hbuf, size));
  // Runtime calls on VMM memory.
  RT(cudaMemset((void *)(va + 100), 0x7e, 1000));
  unsigned char b[4];
  RT(cudaMemcpy(b, (void *)(va + 1098), 4, cudaMemcpyDeviceToHost));
  printf("runtime memset/memcpy: %02x %02x %02x %02x\n", b[0], b[1], b[2], b[3]);
  cudaPointerAttributes pa;
  memset(&pa, 0, sizeof pa);
  RT(cudaPointerGetAttributes(&pa, (void *)(va + 64)));
  printf("pointer type: %d, device: %d\n", (int)pa.type, pa.device);
  int ordinal = -1;
  DRV(cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, va));
  printf("driver device ordinal: %d\n", ordinal);

  // Handle and properties.
  CUmemGenericAllocationHandle r = 0;
  DRV(cuMemRetainAllocationHandle(&r, (void *)(va + g_gran + 12)));
  printf("retained handle equals the created one: %d\n", r == h);
  CUmemAllocationProp got;
  memset(&got, 0xff, sizeof got);
  DRV(cuMemGetAllocationPropertiesFromHandle(&got, r));
  printf("properties: type %d, location type %d id %d, handle types %d\n", (int)got.type, (int)got.location.type,
         got.location.id, (int)got.requestedHandleTypes);
  DRV(cuMemRelease(r));

  // Errors: a misaligned map offset and a size that is not a multiple of the granularity.
  CUdeviceptr va2 = 0;
  DRV(cuMemAddressReserve(&va2, size, 0, 0, 0));
  printf("map at a misaligned offset: %s\n", drv_err_name(cuMemMap(va2, g_gran, 4096, h, 0)));
  CUmemGenericAllocationHandle hb = 0;
  printf("create of granularity+1 bytes: %s\n", drv_err_name(cuMemCreate(&hb, g_gran + 1, &prop, 0)));
  DRV(cuMemAddressFree(va2, size));

  DRV(cuMemUnmap(va, size));
  DRV(cuMemRelease(h));
  DRV(cuMemAddressFree(va, size));
  printf("unmapped, released, freed: ok\n");
  free(hbuf);
}

// Expandable segments: a large reserved range; chunks created and mapped as the segment grows; a kernel
// and copies spanning the chunk boundary; then the segment shrinks (unmap the tail) and grows again.
static void expandable(void) {
  SECTION("vmm.expandable");
  if (!g_gran) { printf("ERR vmm.expandable: no granularity\n"); g_errors++; return; }
  const size_t chunk = 2 * g_gran, reserve = 64 * g_gran;
  CUdeviceptr va = 0;
  DRV(cuMemAddressReserve(&va, reserve, g_gran, 0, 0));
  CUmemAllocationProp prop = device_prop(CU_MEM_HANDLE_TYPE_NONE);
  CUmemGenericAllocationHandle h[3] = {0, 0, 0};
  CUmemAccessDesc d = rw_desc();
  for (int i = 0; i < 2; i++) {
    DRV(cuMemCreate(&h[i], chunk, &prop, 0));
    DRV(cuMemMap(va + i * chunk, chunk, 0, h[i], 0));
    DRV(cuMemSetAccess(va + i * chunk, chunk, &d, 1));
  }
  const size_t n = 2 * chunk / 4;
  fill_span<<<(unsigned)((n + 255) / 256), 256>>>((unsigned *)va, n, 9);
  RT(cudaGetLastError());
  unsigned *hb = (unsigned *)malloc(3 * chunk);
  DRV(cuMemcpyDtoH(hb, va, 2 * chunk));
  printf("kernel across two chunks: %s, hash %016llx\n", check_span(hb, n, 9) ? "ok" : "WRONG",
         (unsigned long long)fnv64(hb, 2 * chunk));
  // A copy and a memset that straddle the boundary.
  DRV(cuMemsetD8(va + chunk - 8, 0xc3, 16));
  unsigned char s[20];
  DRV(cuMemcpyDtoH(s, va + chunk - 10, 20));
  printf("memset across the boundary:");
  for (int i = 0; i < 20; i++) printf(" %02x", s[i]);
  printf("\n");
  DRV(cuMemcpyHtoD(va + chunk - 4096, hb, 8192));
  DRV(cuMemcpyDtoH(hb + 3 * chunk / 8, va + chunk - 4096, 8192));
  printf("copy across the boundary: %s\n", memcmp(hb, hb + 3 * chunk / 8, 8192) ? "WRONG" : "ok");
  // Device-to-device copy from the mapped range into an ordinary allocation and back.
  CUdeviceptr plain = 0;
  DRV(cuMemAlloc(&plain, 2 * chunk));
  DRV(cuMemcpyDtoD(plain, va, 2 * chunk));
  DRV(cuMemcpyDtoH(hb + chunk / 4, plain, 2 * chunk));
  printf("DtoD to cuMemAlloc memory: hash %016llx\n", (unsigned long long)fnv64(hb + chunk / 4, 2 * chunk));
  DRV(cuMemFree(plain));
  // Grow by a third chunk with its own access call.
  DRV(cuMemCreate(&h[2], chunk, &prop, 0));
  DRV(cuMemMap(va + 2 * chunk, chunk, 0, h[2], 0));
  DRV(cuMemSetAccess(va + 2 * chunk, chunk, &d, 1));
  const size_t n3 = 3 * chunk / 4;
  fill_span<<<(unsigned)((n3 + 255) / 256), 256>>>((unsigned *)va, n3, 13);
  RT(cudaDeviceSynchronize());
  DRV(cuMemcpyDtoH(hb, va, 3 * chunk));
  printf("kernel across three chunks: %s\n", check_span(hb, n3, 13) ? "ok" : "WRONG");
  CUmemGenericAllocationHandle r = 0;
  DRV(cuMemRetainAllocationHandle(&r, (void *)(va + 2 * chunk + 5)));
  printf("handle at the third chunk is the third chunk's: %d\n", r == h[2]);
  DRV(cuMemRelease(r));
  // Shrink: unmap and release the tail chunk, the rest still works.
  DRV(cuMemUnmap(va + 2 * chunk, chunk));
  DRV(cuMemRelease(h[2]));
  DRV(cuMemsetD32(va, 0x01020304, 2 * chunk / 4));
  unsigned w = 0;
  DRV(cuMemcpyDtoH(&w, va + 2 * chunk - 4, 4));
  printf("after shrinking: %08x\n", w);
  DRV(cuMemUnmap(va, 2 * chunk));
  for (int i = 0; i < 2; i++) DRV(cuMemRelease(h[i]));
  DRV(cuMemAddressFree(va, reserve));
  printf("freed: ok\n");
  free(hb);
}

// A large virtual reservation uses no physical memory.
static void big_reserve(void) {
  SECTION("vmm.reserve");
  CUdeviceptr va = 0;
  const size_t big = 256ull << 30;
  CUresult r = cuMemAddressReserve(&va, big, 0, 0, 0);
  printf("reserve 256 GiB of addresses: %s\n", drv_err_name(r));
  if (r == CUDA_SUCCESS) DRV(cuMemAddressFree(va, big));
  size_t fr = 0, tot = 0;
  DRV(cuMemGetInfo(&fr, &tot));
  printf("free <= total: %d\n", fr <= tot);
}

// POSIX fd export and import (in this process; the fd is this machine's either way).
static void export_fd(void) {
  SECTION("vmm.export");
  if (!g_gran) return;
  CUmemAllocationProp prop = device_prop(CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  CUmemGenericAllocationHandle h = 0;
  CUresult rc = cuMemCreate(&h, g_gran, &prop, 0);
  CUresult re = CUDA_ERROR_NOT_SUPPORTED;
  int fd = -1;
  if (rc == CUDA_SUCCESS) re = cuMemExportToShareableHandle(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
  printf("export posix fd: create=%s export=%s\n", drv_err_name(rc), drv_err_name(re));
  if (re == CUDA_SUCCESS) {
    CUmemGenericAllocationHandle h2 = 0;
    CUresult ri = cuMemImportFromShareableHandle(&h2, (void *)(uintptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
    printf("import posix fd: %s\n", drv_err_name(ri));
    if (ri == CUDA_SUCCESS) cuMemRelease(h2);
    close(fd);
  }
  if (rc == CUDA_SUCCESS) DRV(cuMemRelease(h));
  // The same process must still be usable after the refusal.
  CUdeviceptr d = 0;
  DRV(cuMemAlloc(&d, 4096));
  DRV(cuMemFree(d));
  printf("usable after export attempt: ok\n");
}

int main(void) {
  granularity();
  single();
  expandable();
  big_reserve();
  export_fd();
  return finish();
}
