/* Bulk copies through the shim, the same under every bulk path the session negotiated (run with
 * AVEC_STRIPES=0/N and AVEC_COMPRESS=0/1 by run-integration.sh): odd sizes both ways, synchronous and
 * async, and stream order between a striped or compressed copy and the small operations around it. */
#include <cuda.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"

/* Compressible data: a smooth ramp with a little noise (what AVEC_COMPRESS keeps compressed), or the
 * test pattern (what it sends as it is). */
static void fill_data(uint8_t *p, size_t n, unsigned seed, int smooth) {
  if (!smooth) {
    fill(p, n, seed);
    return;
  }
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    p[i] = (uint8_t)((i / 3 % 4096) / 16 + (x % 3));
  }
}

int main(void) {
  CUdevice dev;
  CUcontext ctx;
  CUstream s;
  CASE("init");
  CHECK_EQ(cuInit(0), CUDA_SUCCESS);
  CHECK_EQ(cuDeviceGet(&dev, 0), CUDA_SUCCESS);
  CHECK_EQ(cuDevicePrimaryCtxRetain(&ctx, dev), CUDA_SUCCESS);
  CHECK_EQ(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
  CHECK_EQ(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  const size_t sizes[] = {1, 4097, (1u << 20) - 1, (1u << 20) + 3, (9u << 20) + 5, (12u << 20) + 1};
  const size_t max = (12u << 20) + 1;
  uint8_t *src = malloc(max), *back = malloc(max), *pin;
  CHECK_EQ(cuMemAllocHost((void **)&pin, max), CUDA_SUCCESS);
  CUdeviceptr d;
  CHECK_EQ(cuMemAlloc(&d, max + 64), CUDA_SUCCESS);
  for (int smooth = 0; smooth < 2; smooth++) {
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      size_t n = sizes[k];
      CASE(smooth ? "sync copies, compressible data" : "sync copies, odd sizes");
      fill_data(src, n, (unsigned)(k + 1), smooth);
      memset(back, 0, n);
      CHECK_EQ(cuMemcpyHtoD(d + 7, src, n), CUDA_SUCCESS);
      CHECK_EQ(cuMemcpyDtoH(back, d + 7, n), CUDA_SUCCESS);
      CHECK(memcmp(src, back, n) == 0);
      CASE(smooth ? "async copies in stream order, compressible" : "async copies in stream order");
      /* H2D (striped or compressed when large), then a memset and a small copy on the same stream: the
       * D2H must see all three, in that order. */
      fill_data(pin, n, (unsigned)(k + 100), smooth);
      CHECK_EQ(cuMemcpyHtoDAsync(d, pin, n, s), CUDA_SUCCESS);
      size_t ms = n > 64 ? 64 : n;
      CHECK_EQ(cuMemsetD8Async(d + n / 2, 0xAB, ms / 2 ? ms / 2 : 1, s), CUDA_SUCCESS);
      uint8_t small[8] = {1, 2, 3, 4, 5, 6, 7, 8};
      CHECK_EQ(cuMemcpyHtoDAsync(d, small, n < 8 ? n : 8, s), CUDA_SUCCESS);
      memcpy(src, pin, n);
      memset(src + n / 2, 0xAB, ms / 2 ? ms / 2 : 1);
      memcpy(src, small, n < 8 ? n : 8);
      memset(pin, 0, n);
      CHECK_EQ(cuMemcpyDtoHAsync(pin, d, n, s), CUDA_SUCCESS);
      CHECK_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
      CHECK(memcmp(src, pin, n) == 0);
    }
  }
  CASE("errors keep the stripes in step");
  /* A copy past the allocation fails locally; a D2H from freed memory fails on the server after the
   * request went out: the next copies still work. */
  CUdeviceptr gone;
  CHECK_EQ(cuMemAlloc(&gone, 2u << 20), CUDA_SUCCESS);
  CHECK_EQ(cuMemFree(gone), CUDA_SUCCESS);
  CHECK(cuMemcpyDtoH(back, gone, 2u << 20) != CUDA_SUCCESS);
  fill(src, 3u << 20, 9);
  CHECK_EQ(cuMemcpyHtoD(d, src, 3u << 20), CUDA_SUCCESS);
  CHECK_EQ(cuMemcpyDtoH(back, d, 3u << 20), CUDA_SUCCESS);
  CHECK(memcmp(src, back, 3u << 20) == 0);
  CHECK_EQ(cuMemFree(d), CUDA_SUCCESS);
  CHECK_EQ(cuMemFreeHost(pin), CUDA_SUCCESS);
  t_case_end();
  printf("bulk: %d passed, %d failed\n", t_passed, t_failed);
  return t_failed != 0;
}
