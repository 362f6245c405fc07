/* A CUDA driver API program linked against the avec shim (build/shim/libcuda.so.1), used by
 * integration.test.ts to check the whole path: shim -> remoting server admission -> executor.
 * Prints key=value lines; exits 1 when cuInit fails. */
#include <cuda.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  CUresult r = cuInit(0);
  printf("init=%d\n", (int)r);
  if (r != CUDA_SUCCESS) return 1;
  int n = 0;
  cuDeviceGetCount(&n);
  printf("count=%d\n", n);
  CUdevice dev;
  char name[256] = {0};
  cuDeviceGet(&dev, 0);
  cuDeviceGetName(name, sizeof name, dev);
  printf("name=%s\n", name);
  CUcontext ctx;
  printf("retain=%d\n", (int)cuDevicePrimaryCtxRetain(&ctx, dev));
  printf("current=%d\n", (int)cuCtxSetCurrent(ctx));
  size_t free_b = 0, total_b = 0;
  printf("meminfo=%d\n", (int)cuMemGetInfo(&free_b, &total_b));
  printf("total=%zu\n", total_b);
  CUdeviceptr p = 0;
  printf("alloc=%d\n", (int)cuMemAlloc(&p, 1u << 20));
  const char msg[16] = "through avec";
  char back[16] = {0};
  printf("htod=%d\n", (int)cuMemcpyHtoD(p, msg, sizeof msg));
  printf("dtoh=%d\n", (int)cuMemcpyDtoH(back, p, sizeof back));
  printf("roundtrip=%s\n", memcmp(msg, back, sizeof msg) == 0 ? "ok" : "differs");
  CUdeviceptr big = 0;
  printf("alloc_over_limit=%d\n", (int)cuMemAlloc(&big, total_b + (1u << 20)));
  printf("free=%d\n", (int)cuMemFree(p));
  printf("release=%d\n", (int)cuDevicePrimaryCtxRelease(dev));
  return 0;
}
