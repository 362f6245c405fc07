/* Device queries: all answered locally from the device info of the HELLO reply. */
#include <stdio.h>
#include <string.h>

#include "shim_cuda.h"

#define DEV_CHECK(d)                              \
  do {                                            \
    CUresult r_ = avec_ready();                   \
    if (r_ && r_ == CUDA_ERROR_NOT_INITIALIZED) return r_; \
    if (!avec_dev_valid(d)) return CUDA_ERROR_INVALID_DEVICE; \
  } while (0)

AVEC_API CUresult cuDeviceGetCount(int *count) {
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_sess.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  *count = avec_sess.init_result == CUDA_SUCCESS ? avec_sess.ndev : 0;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (!device) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(ordinal);
  *device = ordinal;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
  if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(dev);
  snprintf(name, (size_t)len, "%s", avec_sess.dev[dev].name);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceTotalMem(size_t *bytes, CUdevice dev) {
  if (!bytes) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(dev);
  *bytes = avec_sess.dev[dev].total_mem;
  return CUDA_SUCCESS;
}

/* What a program on this machine can use of a remote device: fabric and Win32 handles for sharing memory
 * cannot cross machines, so those capabilities read 0. POSIX file descriptors work between processes of this
 * machine whose sessions run on one server (shareable.c) when the server offers it (`features`); otherwise
 * they read 0 too. */
void avec_device_remote_view(avec_device_info *d, uint32_t features) {
  static const CUdevice_attribute no_os_handles[] = {
      CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_HANDLE_SUPPORTED, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_KMT_HANDLE_SUPPORTED,
      CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED};
  for (size_t i = 0; i < sizeof no_os_handles / sizeof no_os_handles[0]; i++) d->attrs[no_os_handles[i]] = 0;
  int fds = (features & AVEC_FEATURE_SHAREABLE_FD) != 0;
  if (!fds) d->attrs[CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED] = 0;
  d->attrs[CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES] &= fds ? CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR : 0;
  /* Managed and mapped memory are kept coherent at device work and synchronisation only (managed.c,
   * mapped.c): no concurrent access from the host, no device access to pageable host memory, and the
   * device pointer of registered memory is not its host pointer. */
  static const CUdevice_attribute host_memory_views[] = {
      CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS,
      CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES,
      CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST, CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED,
      CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM};
  for (size_t i = 0; i < sizeof host_memory_views / sizeof host_memory_views[0]; i++) d->attrs[host_memory_views[i]] = 0;
}

AVEC_API CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) {
  if (!pi) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(dev);
  if ((unsigned)attrib >= AVEC_DEV_ATTR_SLOTS || attrib >= CU_DEVICE_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
  *pi = avec_sess.dev[dev].attrs[attrib];
  return CUDA_SUCCESS;
}

static CUresult get_uuid(CUuuid *uuid, CUdevice dev) {
  if (!uuid) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(dev);
  memcpy(uuid->bytes, avec_sess.dev[dev].uuid, 16);
  return CUDA_SUCCESS;
}

#undef cuDeviceGetUuid
AVEC_API CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev) { return get_uuid(uuid, dev); }
AVEC_API CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev) { return get_uuid(uuid, dev); }

AVEC_API CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev) {
  if (!pciBusId || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(dev);
  const int32_t *a = avec_sess.dev[dev].attrs;
  /* driver format (measured on driver 580): 4-digit domain, e.g. 0000:00:06.0 (NVML uses 8 digits) */
  snprintf(pciBusId, (size_t)len, "%04x:%02x:%02x.0", (unsigned)a[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID],
           (unsigned)a[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID], (unsigned)a[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID]);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId) {
  if (!dev || !pciBusId) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_sess.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  unsigned dom = 0, bus = 0, devn = 0;
  if (sscanf(pciBusId, "%x:%x:%x", &dom, &bus, &devn) != 3) {
    dom = 0;
    if (sscanf(pciBusId, "%x:%x", &bus, &devn) != 2) return CUDA_ERROR_INVALID_VALUE;
  }
  for (int i = 0; i < avec_sess.ndev; i++) {
    const int32_t *a = avec_sess.dev[i].attrs;
    if ((unsigned)a[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID] == dom && (unsigned)a[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID] == bus &&
        (unsigned)a[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID] == devn) {
      *dev = i;
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_INVALID_DEVICE;
}

AVEC_API CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev) {
  if (!major || !minor) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(dev);
  *major = avec_sess.dev[dev].cc_major;
  *minor = avec_sess.dev[dev].cc_minor;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceGetProperties(CUdevprop *p, CUdevice dev) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(dev);
  const int32_t *a = avec_sess.dev[dev].attrs;
  p->maxThreadsPerBlock = a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
  p->maxThreadsDim[0] = a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X];
  p->maxThreadsDim[1] = a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y];
  p->maxThreadsDim[2] = a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z];
  p->maxGridSize[0] = a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X];
  p->maxGridSize[1] = a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y];
  p->maxGridSize[2] = a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z];
  p->sharedMemPerBlock = a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK];
  p->totalConstantMemory = a[CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY];
  p->SIMDWidth = a[CU_DEVICE_ATTRIBUTE_WARP_SIZE];
  p->memPitch = a[CU_DEVICE_ATTRIBUTE_MAX_PITCH];
  p->regsPerBlock = a[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK];
  p->clockRate = a[CU_DEVICE_ATTRIBUTE_CLOCK_RATE];
  p->textureAlign = a[CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT];
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceCanAccessPeer(int *can, CUdevice dev, CUdevice peer) {
  if (!can) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(dev);
  if (!avec_dev_valid(peer)) return CUDA_ERROR_INVALID_DEVICE;
  *can = 0; /* peer access between remote devices is not offered */
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceGetP2PAttribute(int *value, CUdevice_P2PAttribute attrib, CUdevice src, CUdevice dst) {
  (void)attrib;
  if (!value) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(src);
  if (!avec_dev_valid(dst) || src == dst) return CUDA_ERROR_INVALID_DEVICE;
  *value = 0;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceGetTexture1DLinearMaxWidth(size_t *maxWidth, CUarray_format fmt, unsigned numChannels,
                                                     CUdevice dev) {
  (void)fmt; (void)numChannels;
  if (!maxWidth) return CUDA_ERROR_INVALID_VALUE;
  DEV_CHECK(dev);
  *maxWidth = (size_t)1 << 27;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuFlushGPUDirectRDMAWrites(CUflushGPUDirectRDMAWritesTarget target,
                                             CUflushGPUDirectRDMAWritesScope scope) {
  (void)target; (void)scope;
  return CUDA_SUCCESS;
}
