// Contexts through the driver API: primary context retain/release/state/reset, current context,
// push/pop, cuCtxCreate/Destroy, limits, synchronize; memory belongs to the context it was made in.
#include "common.h"

static void primary(void) {
  SECTION("ctx.primary");
  DRV(cuInit(0));
  CUdevice dev;
  DRV(cuDeviceGet(&dev, 0));
  CUcontext cur = (CUcontext)1;
  DRV(cuCtxGetCurrent(&cur));
  printf("initial current is null: %d\n", cur == NULL);
  unsigned flags = 0; int active = -1;
  DRV(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  printf("primary state before retain: flags=%u active=%d\n", flags, active);
  CUcontext p1, p2;
  DRV(cuDevicePrimaryCtxRetain(&p1, dev));
  DRV(cuDevicePrimaryCtxRetain(&p2, dev));
  printf("retain twice same handle: %d\n", p1 == p2);
  DRV(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  printf("primary state after retain: active=%d\n", active);
  DRV(cuCtxPushCurrent(p1));
  DRV(cuCtxGetCurrent(&cur));
  printf("current is primary: %d\n", cur == p1);
  CUdevice cdev = -1;
  DRV(cuCtxGetDevice(&cdev));
  printf("ctx device: %d\n", (int)cdev);
  unsigned api = 0;
  DRV(cuCtxGetApiVersion(p1, &api));
  printf("ctx api version: %u\n", api);
  unsigned cflags = 0;
  DRV(cuCtxGetFlags(&cflags));
  printf("ctx flags: %u\n", cflags);
  size_t stack = 0, heap = 0;
  DRV(cuCtxGetLimit(&stack, CU_LIMIT_STACK_SIZE));
  printf("stack limit: %zu\n", stack);
  DRV(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 32u << 20));
  DRV(cuCtxGetLimit(&heap, CU_LIMIT_MALLOC_HEAP_SIZE));
  printf("heap limit after set 32 MiB: %zu\n", heap);
  CUdeviceptr d;
  DRV(cuMemAlloc(&d, 1 << 20));
  DRV(cuMemsetD32(d, 0xabcd1234u, (1 << 20) / 4));
  unsigned h[4];
  DRV(cuMemcpyDtoH(h, d + 4096, sizeof h));
  printf("memset readback: %08x %08x\n", h[0], h[3]);
  DRV(cuMemFree(d));
  DRV(cuCtxSynchronize());
  CUcontext popped;
  DRV(cuCtxPopCurrent(&popped));
  printf("popped primary: %d\n", popped == p1);
  DRV(cuCtxGetCurrent(&cur));
  printf("current after pop is null: %d\n", cur == NULL);
  DRV(cuDevicePrimaryCtxRelease(dev));
  DRV(cuDevicePrimaryCtxRelease(dev));
  DRV(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  printf("primary state after release x2: active=%d\n", active);
}

static void created(void) {
  SECTION("ctx.create");
  CUdevice dev;
  DRV(cuDeviceGet(&dev, 0));
  CUcontext a, b, cur;
  DRV(cuCtxCreate(&a, NULL, 0, dev));
  DRV(cuCtxGetCurrent(&cur));
  printf("created ctx is current: %d\n", cur == a);
  CUdeviceptr pa;
  DRV(cuMemAlloc(&pa, 4096));
  DRV(cuMemsetD8(pa, 0x5a, 4096));
  DRV(cuCtxCreate(&b, NULL, CU_CTX_SCHED_BLOCKING_SYNC, dev));
  DRV(cuCtxGetCurrent(&cur));
  printf("second created ctx is current: %d, differs: %d\n", cur == b, a != b);
  unsigned fl = 0;
  DRV(cuCtxGetFlags(&fl));
  printf("second ctx flags has blocking sync: %d\n", (fl & CU_CTX_SCHED_BLOCKING_SYNC) != 0);
  CUdeviceptr pb;
  DRV(cuMemAlloc(&pb, 4096));
  DRV(cuMemsetD8(pb, 0x33, 4096));
  // The pointer from context a is usable while b is current (unified addressing).
  DRV(cuMemcpyDtoD(pb, pa, 1024));
  unsigned char buf[4096];
  DRV(cuMemcpyDtoH(buf, pb, sizeof buf));
  printf("dtod across contexts: %02x %02x %016llx\n", buf[0], buf[4095], (unsigned long long)fnv64(buf, sizeof buf));
  CUcontext popped;
  DRV(cuCtxPopCurrent(&popped));
  printf("pop returned b: %d\n", popped == b);
  DRV(cuCtxGetCurrent(&cur));
  printf("current is a again: %d\n", cur == a);
  DRV(cuCtxPushCurrent(b));
  DRV(cuMemFree(pb));
  DRV(cuCtxPopCurrent(&popped));
  DRV(cuCtxDestroy(b));
  DRV(cuMemFree(pa));
  DRV(cuCtxSetCurrent(NULL));
  DRV(cuCtxGetCurrent(&cur));
  printf("set current null: %d\n", cur == NULL);
  DRV(cuCtxSetCurrent(a));
  DRV(cuCtxSynchronize());
  DRV(cuCtxDestroy(a));
  printf("no current after destroy: ");
  DRV(cuCtxGetCurrent(&cur));
  printf("%d\n", cur == NULL);
}

static void errors_without_ctx(void) {
  SECTION("ctx.none");
  CUcontext cur;
  DRV(cuCtxSetCurrent(NULL));
  DRV(cuCtxGetCurrent(&cur));
  CUdeviceptr d;
  printf("cuMemAlloc without context: %s\n", drv_err_name(cuMemAlloc(&d, 16)));
  CUcontext p;
  printf("pop with empty stack: %s\n", drv_err_name(cuCtxPopCurrent(&p)));
}

static void reset(void) {
  SECTION("ctx.reset");
  CUdevice dev;
  DRV(cuDeviceGet(&dev, 0));
  CUcontext p;
  DRV(cuDevicePrimaryCtxRetain(&p, dev));
  DRV(cuCtxSetCurrent(p));
  CUdeviceptr d;
  DRV(cuMemAlloc(&d, 1 << 16));
  DRV(cuDevicePrimaryCtxReset(dev));
  unsigned flags; int active;
  DRV(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  printf("after reset active=%d\n", active);
  DRV(cuDevicePrimaryCtxSetFlags(dev, CU_CTX_SCHED_YIELD));
  DRV(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  printf("flags after set: %u\n", flags & 7u);
  DRV(cuDevicePrimaryCtxRetain(&p, dev));
  DRV(cuCtxSetCurrent(p));
  DRV(cuMemAlloc(&d, 1 << 16));
  DRV(cuMemFree(d));
  DRV(cuDevicePrimaryCtxRelease(dev));
  printf("retain after reset ok\n");
}

int main(void) {
  primary();
  created();
  errors_without_ctx();
  reset();
  return finish();
}
