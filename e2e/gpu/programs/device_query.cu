// Device queries through the runtime and the driver API: count, names, every device attribute,
// properties, UUID, PCI id, versions.
#include "common.h"

static void runtime_props(void) {
  SECTION("runtime.props");
  int n = 0;
  RT(cudaGetDeviceCount(&n));
  printf("device_count: %d\n", n);
  int rv = 0, dv = 0;
  RT(cudaRuntimeGetVersion(&rv));
  RT(cudaDriverGetVersion(&dv));
  printf("runtime_version: %d\n", rv);
  printf("driver_version: %d\n", dv);
  for (int d = 0; d < n; d++) {
    cudaDeviceProp p;
    RT(cudaGetDeviceProperties(&p, d));
    printf("dev%d name: %s\n", d, p.name);
    printf("dev%d cc: %d.%d\n", d, p.major, p.minor);
    printf("dev%d sms: %d warp: %d maxThreadsPerBlock: %d\n", d, p.multiProcessorCount, p.warpSize,
           p.maxThreadsPerBlock);
    printf("dev%d sharedMemPerBlock: %zu optin: %zu perSM: %zu\n", d, p.sharedMemPerBlock,
           p.sharedMemPerBlockOptin, p.sharedMemPerMultiprocessor);
    printf("dev%d regsPerBlock: %d l2: %d memBusWidth: %d\n", d, p.regsPerBlock, p.l2CacheSize, p.memoryBusWidth);
    printf("dev%d maxGrid: %d %d %d maxBlock: %d %d %d\n", d, p.maxGridSize[0], p.maxGridSize[1],
           p.maxGridSize[2], p.maxThreadsDim[0], p.maxThreadsDim[1], p.maxThreadsDim[2]);
    printf("dev%d pci: %04x:%02x:%02x\n", d, p.pciDomainID, p.pciBusID, p.pciDeviceID);
    printf("dev%d unifiedAddressing: %d managed: %d concurrentKernels: %d asyncEngines: %d\n", d,
           p.unifiedAddressing, p.managedMemory, p.concurrentKernels, p.asyncEngineCount);
    printf("dev%d totalGlobalMem_nonzero: %d\n", d, p.totalGlobalMem > 0);
    printf("# dev%d totalGlobalMem: %zu\n", d, p.totalGlobalMem);
    char uuid[64];
    for (int i = 0; i < 16; i++) sprintf(uuid + 2 * i, "%02x", (unsigned char)p.uuid.bytes[i]);
    printf("dev%d uuid: %s\n", d, uuid);
    int v = 0;
    RT(cudaDeviceGetAttribute(&v, cudaDevAttrClockRate, d));
    printf("dev%d clockRate: %d\n", d, v);
    RT(cudaDeviceGetAttribute(&v, cudaDevAttrMemoryPoolsSupported, d));
    printf("dev%d memoryPools: %d\n", d, v);
  }
  int cur = -1;
  RT(cudaGetDevice(&cur));
  printf("current_device: %d\n", cur);
}

static void driver_attrs(void) {
  SECTION("driver.attributes");
  DRV(cuInit(0));
  int n = 0, dv = 0;
  DRV(cuDeviceGetCount(&n));
  DRV(cuDriverGetVersion(&dv));
  printf("cuDeviceGetCount: %d cuDriverGetVersion: %d\n", n, dv);
  for (int d = 0; d < n; d++) {
    CUdevice dev;
    DRV(cuDeviceGet(&dev, d));
    char name[256];
    DRV(cuDeviceGetName(name, sizeof name, dev));
    printf("dev%d cuDeviceGetName: %s\n", d, name);
    int maj = 0, min = 0;
    DRV(cuDeviceGetAttribute(&maj, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    DRV(cuDeviceGetAttribute(&min, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
    printf("dev%d cc: %d.%d\n", d, maj, min);
    // Every attribute id below the header's maximum: value, or the error the driver gives.
    uint64_t h = fnv64("", 0);
    int ok = 0, bad = 0;
    for (int a = 1; a < CU_DEVICE_ATTRIBUTE_MAX; a++) {
      int v = 0;
      CUresult r = cuDeviceGetAttribute(&v, (CUdevice_attribute)a, dev);
      if (r == CUDA_SUCCESS) ok++; else bad++;
      // Documented difference: OS-handle sharing (POSIX fd, fabric; Win32 reads 0 here anyway) cannot
      // cross machines, so the shim reports those capabilities as 0 ('#' lines are not compared).
      // Likewise host memory is seen by the device only through mirrors kept coherent at device work and
      // synchronisation (docs/semantics.md): no concurrent managed access, no pageable access, and the
      // device pointer of registered memory is not its host pointer.
      bool os_handles = a == CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED ||
                        a == CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED ||
                        a == CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES ||
                        a == CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS || a == CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS ||
                        a == CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES ||
                        a == CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST ||
                        a == CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED ||
                        a == CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM;
      printf("%sdev%d attr %d: %s %d\n", os_handles ? "# " : "", d, a, r == CUDA_SUCCESS ? "=" : drv_err_name(r),
             r == CUDA_SUCCESS ? v : 0);
      if (os_handles) continue;
      h = fnv64(&r, sizeof r, h);
      h = fnv64(&v, sizeof v, h);
    }
    printf("dev%d attrs ok=%d err=%d hash=%016llx\n", d, ok, bad, (unsigned long long)h);
    CUuuid u;
    DRV(cuDeviceGetUuid(&u, dev));
    char us[64];
    for (int i = 0; i < 16; i++) sprintf(us + 2 * i, "%02x", (unsigned char)u.bytes[i]);
    printf("dev%d cuDeviceGetUuid: %s\n", d, us);
    char bus[64];
    DRV(cuDeviceGetPCIBusId(bus, sizeof bus, dev));
    printf("dev%d cuDeviceGetPCIBusId: %s\n", d, bus);
    size_t total = 0;
    DRV(cuDeviceTotalMem(&total, dev));
    printf("dev%d cuDeviceTotalMem_nonzero: %d\n", d, total > 0);
    printf("# dev%d cuDeviceTotalMem: %zu\n", d, total);
    CUdevice byBus;
    DRV(cuDeviceGetByPCIBusId(&byBus, bus));
    printf("dev%d byPCIBusId_same: %d\n", d, byBus == dev);
  }
  // Invalid ordinal and invalid attribute: errors, not crashes.
  CUdevice bad;
  printf("cuDeviceGet(99): %s\n", drv_err_name(cuDeviceGet(&bad, 99)));
  int v;
  printf("cuDeviceGetAttribute(9999): %s\n", drv_err_name(cuDeviceGetAttribute(&v, (CUdevice_attribute)9999, 0)));
}

int main(void) {
  driver_attrs();
  runtime_props();
  return finish();
}
