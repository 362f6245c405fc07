// Session memory limit and fault scenarios (through the shim only; run.sh knows the expected lines).
//   memlimit LIMIT_BYTES        checks that cuMemGetInfo reports the limit and that allocating past it fails
//   memlimit --hold SECONDS     allocates 256 MiB, prints "holding" and its address, sleeps (client-killed
//                               and isolation tests)
//   memlimit --peek ADDR        another session's address: reading, writing and freeing it must fail
#include "common.h"
#include <unistd.h>

static void limit(size_t lim) {
  SECTION("memlimit");
  RT(cudaFree(0));
  size_t fr = 0, tot = 0;
  RT(cudaMemGetInfo(&fr, &tot));
  printf("total equals limit: %d\n", tot == lim);
  printf("# total=%zu free=%zu limit=%zu\n", tot, fr, lim);
  void *a = NULL, *b = NULL, *c = NULL;
  RT(cudaMalloc(&a, lim / 2));
  printf("alloc half: ok\n");
  cudaError_t e = cudaMalloc(&b, lim / 2 + lim / 4);
  printf("alloc past limit: %s\n", cudaGetErrorName(e));
  cudaGetLastError();
  CUdeviceptr d;
  printf("driver alloc past limit: %s\n", drv_err_name(cuMemAlloc(&d, lim)));
  RT(cudaFree(a));
  RT(cudaMalloc(&c, lim / 2 + lim / 4));
  printf("alloc after free: ok\n");
  RT(cudaFree(c));
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--hold")) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, 256u << 20);
    printf("holding: %s\n", cudaGetErrorName(e));
    printf("address: 0x%llx\n", (unsigned long long)(uintptr_t)p);
    fflush(stdout);
    sleep((unsigned)atoi(argv[2]));
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "--peek")) {
    CUdeviceptr a = (CUdeviceptr)strtoull(argv[2], NULL, 0);
    cudaFree(0);
    unsigned char buf[16];
    memset(buf, 0, sizeof buf);
    printf("read: %s\n", drv_err_name(cuMemcpyDtoH(buf, a, sizeof buf)));
    printf("write: %s\n", drv_err_name(cuMemcpyHtoD(a, buf, sizeof buf)));
    printf("memset: %s\n", drv_err_name(cuMemsetD8(a, 0xff, 16)));
    printf("sync: %s\n", drv_err_name(cuCtxSynchronize()));
    printf("free: %s\n", drv_err_name(cuMemFree(a)));
    return 0;
  }
  if (argc != 2) { fprintf(stderr, "usage: memlimit LIMIT_BYTES | --hold SECONDS\n"); return 2; }
  limit((size_t)strtoull(argv[1], NULL, 0));
  return finish();
}
