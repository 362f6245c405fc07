// Memory through the runtime (and a few driver calls): alloc/free, sync and async copies in all
// directions (pageable and pinned), memset, 2D copies, pinned memory, pointer attributes, memory info,
// stream-ordered allocation. Sizes cross the 4 MiB wire chunk and are deliberately unaligned.
#include "common.h"
#include <vector>

__global__ void add_one(unsigned char *p, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) p[i] = (unsigned char)(p[i] + 1);
}

static void basic(void) {
  SECTION("mem.basic");
  size_t fr = 0, tot = 0;
  RT(cudaMemGetInfo(&fr, &tot));
  printf("meminfo free<=total: %d total>0: %d\n", fr <= tot, tot > 0);
  printf("# meminfo free=%zu total=%zu\n", fr, tot);
  const size_t n = (9u << 20) + 3;  // 9 MiB + 3: three wire chunks, odd tail
  std::vector<unsigned char> h(n), back(n);
  fill_pattern(h.data(), n, 1);
  unsigned char *d1, *d2;
  RT(cudaMalloc(&d1, n));
  RT(cudaMalloc(&d2, n));
  RT(cudaMemcpy(d1, h.data(), n, cudaMemcpyHostToDevice));
  RT(cudaMemcpy(d2, d1, n, cudaMemcpyDeviceToDevice));
  add_one<<<(unsigned)((n + 255) / 256), 256>>>(d2, n);
  RT(cudaGetLastError());
  RT(cudaMemcpy(back.data(), d2, n, cudaMemcpyDeviceToHost));
  size_t mism = 0;
  for (size_t i = 0; i < n; i++) mism += back[i] != (unsigned char)(h[i] + 1);
  printf("h2d/d2d/kernel/d2h mismatches: %zu hash=%016llx\n", mism, (unsigned long long)fnv64(back.data(), n));
  // Offsets into an allocation, both ends.
  RT(cudaMemcpy(back.data(), d1 + 12345, 777, cudaMemcpyDeviceToHost));
  printf("offset read ok: %d\n", memcmp(back.data(), h.data() + 12345, 777) == 0);
  RT(cudaMemcpy(d1 + 1, h.data(), 100, cudaMemcpyHostToDevice));
  RT(cudaMemcpy(back.data(), d1, 101, cudaMemcpyDeviceToHost));
  printf("offset write ok: %d first=%02x\n", memcmp(back.data() + 1, h.data(), 100) == 0, back[0]);
  // cudaMemcpyDefault: direction inferred from the pointers.
  RT(cudaMemcpy(d2, h.data(), 4096, cudaMemcpyDefault));
  RT(cudaMemcpy(back.data(), d2, 4096, cudaMemcpyDefault));
  printf("memcpyDefault ok: %d\n", memcmp(back.data(), h.data(), 4096) == 0);
  RT(cudaMemset(d1, 0x7f, n));
  RT(cudaMemcpy(back.data(), d1, n, cudaMemcpyDeviceToHost));
  printf("memset hash=%016llx\n", (unsigned long long)fnv64(back.data(), n));
  RT(cudaMemGetInfo(&fr, &tot));
  printf("# meminfo with 2 allocs free=%zu\n", fr);
  RT(cudaFree(d1));
  RT(cudaFree(d2));
  RT(cudaFree(NULL));
  printf("cudaFree(NULL) ok\n");
}

static void pinned_async(void) {
  SECTION("mem.pinned_async");
  const size_t n = (6u << 20) + 17;
  unsigned char *hp, *hp2, *hw;
  RT(cudaMallocHost(&hp, n));
  RT(cudaHostAlloc(&hp2, n, cudaHostAllocDefault));
  RT(cudaHostAlloc(&hw, 4096, cudaHostAllocWriteCombined));
  fill_pattern(hp, n, 2);
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  unsigned char *d;
  RT(cudaMalloc(&d, n));
  RT(cudaMemcpyAsync(d, hp, n, cudaMemcpyHostToDevice, s));
  add_one<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(d, n);
  RT(cudaMemcpyAsync(hp2, d, n, cudaMemcpyDeviceToHost, s));
  RT(cudaStreamSynchronize(s));
  size_t mism = 0;
  for (size_t i = 0; i < n; i++) mism += hp2[i] != (unsigned char)(hp[i] + 1);
  printf("pinned async round trip mismatches: %zu hash=%016llx\n", mism, (unsigned long long)fnv64(hp2, n));
  // Pageable async copies (the runtime stages them) and async memset.
  std::vector<unsigned char> pg(n), pg2(n);
  fill_pattern(pg.data(), n, 3);
  RT(cudaMemcpyAsync(d, pg.data(), n, cudaMemcpyHostToDevice, s));
  // Pageable H2D semantics: the source may be overwritten as soon as the call returns.
  memset(pg.data(), 0, n);
  RT(cudaMemsetAsync(d + 100, 0x11, 50, s));
  RT(cudaMemcpyAsync(pg2.data(), d, n, cudaMemcpyDeviceToHost, s));
  RT(cudaStreamSynchronize(s));
  fill_pattern(pg.data(), n, 3);
  memset(pg.data() + 100, 0x11, 50);
  printf("pageable async ok: %d hash=%016llx\n", memcmp(pg.data(), pg2.data(), n) == 0,
         (unsigned long long)fnv64(pg2.data(), n));
  // Write-combined host memory as a copy source.
  for (int i = 0; i < 4096; i++) hw[i] = (unsigned char)(i * 7);
  RT(cudaMemcpy(d, hw, 4096, cudaMemcpyHostToDevice));
  RT(cudaMemcpy(hp2, d, 4096, cudaMemcpyDeviceToHost));
  printf("write-combined ok: %d\n", memcmp(hw, hp2, 4096) == 0);
  RT(cudaFree(d));
  RT(cudaFreeHost(hp));
  RT(cudaFreeHost(hp2));
  RT(cudaFreeHost(hw));
  RT(cudaStreamDestroy(s));
}

static void pointer_attrs(void) {
  SECTION("mem.pointer_attrs");
  unsigned char *d, *hp;
  RT(cudaMalloc(&d, 1 << 20));
  RT(cudaHostAlloc(&hp, 1 << 16, cudaHostAllocPortable));
  std::vector<unsigned char> pg(4096);
  cudaPointerAttributes a;
  cudaError_t e = cudaPointerGetAttributes(&a, d + 100);
  printf("attr device ptr: %s type=%d device=%d devicePointer_same=%d\n", cudaGetErrorName(e), (int)a.type, a.device,
         a.devicePointer == d + 100);
  e = cudaPointerGetAttributes(&a, hp);
  printf("attr pinned ptr: %s type=%d hostPointer_same=%d\n", cudaGetErrorName(e), (int)a.type, a.hostPointer == hp);
  e = cudaPointerGetAttributes(&a, pg.data());
  printf("attr pageable ptr: %s type=%d\n", cudaGetErrorName(e), (int)a.type);
  cudaGetLastError();
  unsigned int hf = 0;
  e = cudaHostGetFlags(&hf, hp);
  printf("host flags: %s %u\n", cudaGetErrorName(e), hf);
  cudaGetLastError();
  RT(cudaFree(d));
  RT(cudaFreeHost(hp));
}

static void host_register(void) {
  SECTION("mem.host_register");
  const size_t n = 1 << 20;
  void *p = aligned_alloc(4096, n);
  fill_pattern(p, n, 4);
  RT(cudaHostRegister(p, n, cudaHostRegisterDefault));
  unsigned char *d;
  RT(cudaMalloc(&d, n));
  cudaStream_t s;
  RT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  RT(cudaMemcpyAsync(d, p, n, cudaMemcpyHostToDevice, s));
  add_one<<<n / 256, 256, 0, s>>>(d, n);
  RT(cudaMemcpyAsync(p, d, n, cudaMemcpyDeviceToHost, s));
  RT(cudaStreamSynchronize(s));
  printf("registered round trip hash=%016llx\n", (unsigned long long)fnv64(p, n));
  RT(cudaHostUnregister(p));
  RT(cudaFree(d));
  RT(cudaStreamDestroy(s));
  free(p);
}

static void copies_2d(void) {
  SECTION("mem.2d");
  const size_t w = 1000, hgt = 37;  // bytes per row, rows
  unsigned char *d, *d2;
  size_t pitch = 0, pitch2 = 0;
  RT(cudaMallocPitch(&d, &pitch, w, hgt));
  RT(cudaMallocPitch(&d2, &pitch2, w, hgt));
  printf("pitch >= width: %d pitch aligned 512: %d\n", pitch >= w, pitch % 512 == 0);
  printf("# pitch=%zu\n", pitch);
  const size_t hp = 1100;  // host pitch
  std::vector<unsigned char> h(hp * hgt), back(hp * hgt, 0xee);
  fill_pattern(h.data(), h.size(), 5);
  RT(cudaMemset2D(d, pitch, 0, w, hgt));
  RT(cudaMemcpy2D(d, pitch, h.data(), hp, w, hgt, cudaMemcpyHostToDevice));
  RT(cudaMemcpy2D(d2, pitch2, d, pitch, w, hgt, cudaMemcpyDeviceToDevice));
  RT(cudaMemset2D(d2 + 10, pitch2, 0x42, 20, 5));
  RT(cudaMemcpy2D(back.data(), hp, d2, pitch2, w, hgt, cudaMemcpyDeviceToHost));
  size_t bad = 0;
  for (size_t r = 0; r < hgt; r++)
    for (size_t c = 0; c < hp; c++) {
      unsigned char want = c < w ? h[r * hp + c] : 0xee;
      if (r < 5 && c >= 10 && c < 30) want = 0x42;
      bad += back[r * hp + c] != want;
    }
  printf("2d copies mismatches: %zu hash=%016llx\n", bad, (unsigned long long)fnv64(back.data(), back.size()));
  // Async 2D on a stream.
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  RT(cudaMemcpy2DAsync(d, pitch, h.data() + 3, hp, w - 3, hgt, cudaMemcpyHostToDevice, s));
  RT(cudaMemcpy2DAsync(back.data(), hp, d, pitch, w, hgt, cudaMemcpyDeviceToHost, s));
  RT(cudaStreamSynchronize(s));
  printf("2d async hash=%016llx\n", (unsigned long long)fnv64(back.data(), back.size()));
  RT(cudaStreamDestroy(s));
  RT(cudaFree(d));
  RT(cudaFree(d2));
}

static void driver_mem(void) {
  SECTION("mem.driver");
  CUdeviceptr d;
  DRV(cuMemAlloc(&d, 1 << 20));
  DRV(cuMemsetD8(d, 0x01, 1 << 20));
  DRV(cuMemsetD16(d + 2, 0x0203, 100));
  DRV(cuMemsetD32(d + 1024, 0x04050607u, 64));
  DRV(cuMemsetD2D32(d + 8192, 1024, 0xdeadbeefu, 16, 8));
  std::vector<unsigned char> h(1 << 20);
  DRV(cuMemcpyDtoH(h.data(), d, h.size()));
  printf("driver memsets hash=%016llx\n", (unsigned long long)fnv64(h.data(), h.size()));
  CUdeviceptr base; size_t sz;
  DRV(cuMemGetAddressRange(&base, &sz, d + 5000));
  printf("address range base ok: %d size: %zu\n", base == d, sz);
  void *hp;
  DRV(cuMemAllocHost(&hp, 1 << 16));
  fill_pattern(hp, 1 << 16, 6);
  DRV(cuMemcpyHtoD(d, hp, 1 << 16));
  CUstream s;
  DRV(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  DRV(cuMemcpyDtoDAsync(d + (1 << 16), d, 1 << 16, s));
  DRV(cuMemcpyDtoHAsync(h.data(), d + (1 << 16), 1 << 16, s));
  DRV(cuStreamSynchronize(s));
  printf("driver async ok: %d\n", memcmp(h.data(), hp, 1 << 16) == 0);
  unsigned int mt = 0;
  DRV(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d));
  printf("cuPointerGetAttribute memory type: %u\n", mt);
  DRV(cuMemFreeHost(hp));
  DRV(cuMemFree(d));
  DRV(cuStreamDestroy(s));
  // Freeing something that was never allocated is an error, not a crash.
  printf("double free: %s\n", drv_err_name(cuMemFree(d)));
}

static void stream_ordered(void) {
  SECTION("mem.async_alloc");
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  unsigned char *d;
  RT(cudaMallocAsync((void **)&d, 1 << 20, s));
  RT(cudaMemsetAsync(d, 0x22, 1 << 20, s));
  add_one<<<(1 << 20) / 256, 256, 0, s>>>(d, 1 << 20);
  unsigned char h[64];
  RT(cudaMemcpyAsync(h, d + 1000, 64, cudaMemcpyDeviceToHost, s));
  RT(cudaFreeAsync(d, s));
  RT(cudaStreamSynchronize(s));
  printf("mallocAsync value: %02x %02x\n", h[0], h[63]);
  RT(cudaStreamDestroy(s));
}

static void oom(void) {
  SECTION("mem.oom");
  void *d = NULL;
  cudaError_t e = cudaMalloc(&d, (size_t)1 << 50);  // 1 PiB
  printf("1 PiB alloc: %s\n", cudaGetErrorName(e));
  cudaGetLastError();
}

int main(void) {
  basic();
  pinned_async();
  pointer_attrs();
  host_register();
  copies_2d();
  driver_mem();
  stream_ordered();
  oom();
  return finish();
}
