/* Pinned host memory stays local: page-aligned allocations (or registered ranges) tracked in a table so
 * pointer queries report them as host memory. Nothing crosses the network. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim_cuda.h"

avec_range_table avec_host_ranges = AVEC_RANGE_TABLE_INIT;
static uint64_t host_ids = 1u << 30;

static CUresult host_alloc(void **pp, size_t size, unsigned flags) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!pp || !size) return CUDA_ERROR_INVALID_VALUE;
  long page = sysconf(_SC_PAGESIZE);
  size_t len = (size + (size_t)page - 1) & ~((size_t)page - 1);
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
  avec_range rg = {(uint64_t)(uintptr_t)p, size, AVEC_RANGE_HOST_ALLOC, flags, avec_ctx_current(),
                   __atomic_fetch_add(&host_ids, 1, __ATOMIC_RELAXED)};
  if (avec_ranges_insert(&avec_host_ranges, &rg)) {
    munmap(p, len);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *pp = p;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemHostAlloc(void **pp, size_t size, unsigned int flags) { return host_alloc(pp, size, flags); }
AVEC_API CUresult cuMemAllocHost_v2(void **pp, size_t size) { return host_alloc(pp, size, 0); }

AVEC_API CUresult cuMemFreeHost(void *p) {
  avec_range rg;
  if (!p) return CUDA_SUCCESS;
  if (avec_ranges_find(&avec_host_ranges, (uint64_t)(uintptr_t)p, &rg) || rg.base != (uint64_t)(uintptr_t)p ||
      rg.kind != AVEC_RANGE_HOST_ALLOC)
    return CUDA_ERROR_INVALID_VALUE;
  avec_ranges_remove(&avec_host_ranges, rg.base, NULL);
  avec_mapped_release(rg.base);
  long page = sysconf(_SC_PAGESIZE);
  munmap(p, (rg.size + (uint64_t)page - 1) & ~((uint64_t)page - 1));
  return CUDA_SUCCESS;
}

static CUresult host_register(void *p, size_t size, unsigned flags) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!p || !size) return CUDA_ERROR_INVALID_VALUE;
  avec_range rg = {(uint64_t)(uintptr_t)p, size, AVEC_RANGE_HOST_REGISTERED, flags, avec_ctx_current(),
                   __atomic_fetch_add(&host_ids, 1, __ATOMIC_RELAXED)};
  return avec_ranges_insert(&avec_host_ranges, &rg) ? CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED : CUDA_SUCCESS;
}

#undef cuMemHostRegister
AVEC_API CUresult cuMemHostRegister(void *p, size_t size, unsigned int flags) { return host_register(p, size, flags); }
AVEC_API CUresult cuMemHostRegister_v2(void *p, size_t size, unsigned int flags) {
  return host_register(p, size, flags);
}

AVEC_API CUresult cuMemHostUnregister(void *p) {
  avec_range rg;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  if (avec_ranges_find(&avec_host_ranges, (uint64_t)(uintptr_t)p, &rg) || rg.base != (uint64_t)(uintptr_t)p ||
      rg.kind != AVEC_RANGE_HOST_REGISTERED)
    return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
  avec_ranges_remove(&avec_host_ranges, rg.base, NULL);
  avec_mapped_release(rg.base);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemHostGetFlags(unsigned int *flags, void *p) {
  avec_range rg;
  if (!flags) return CUDA_ERROR_INVALID_VALUE;
  if (avec_ranges_find(&avec_host_ranges, (uint64_t)(uintptr_t)p, &rg)) return CUDA_ERROR_INVALID_VALUE;
  /* driver 580 maps every pinned allocation (contexts carry CU_CTX_MAP_HOST): DEVICEMAP always reads set,
   * even though no device pointer to it can exist on a remote GPU */
  *flags = rg.flags | (rg.kind == AVEC_RANGE_HOST_ALLOC ? CU_MEMHOSTALLOC_DEVICEMAP : 0);
  return CUDA_SUCCESS;
}

/* ---- pointer attributes -------------------------------------------------------------------------------- */
static CUresult one_attr(void *data, CUpointer_attribute a, uint64_t ptr, int strict) {
  avec_range rg;
  int dev = avec_ranges_find(&avec_device_ranges, ptr, &rg) == 0;
  int host = !dev && avec_ranges_find(&avec_host_ranges, ptr, &rg) == 0;
  if (!dev && !host) {
    if (strict) return CUDA_ERROR_INVALID_VALUE;
    /* cuPointerGetAttributes: unknown memory reads as zeros (type 0 = unregistered host memory) */
    switch (a) {
      case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = NULL; break;
      case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: case CU_POINTER_ATTRIBUTE_IS_MANAGED: case CU_POINTER_ATTRIBUTE_MAPPED:
      case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS: case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
      case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE: case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
      case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE:
        *(unsigned *)data = 0; break;
      case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: *(int *)data = -2; break;
      case CU_POINTER_ATTRIBUTE_BUFFER_ID: case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
      case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
        *(unsigned long long *)data = 0; break;
      case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
      case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
        *(CUdeviceptr *)data = 0; break;
      case CU_POINTER_ATTRIBUTE_HOST_POINTER: case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: *(void **)data = NULL; break;
      case CU_POINTER_ATTRIBUTE_RANGE_SIZE: case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: *(size_t *)data = 0; break;
      default: return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
  }
  CUcontext ctx = rg.ctx;
  int ordinal = ctx ? ctx->device : 0;
  switch (a) {
    case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = ctx; break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: *(unsigned *)data = dev ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST; break;
    /* cuPointerGetAttributes (not strict) answers "no such pointer" with NULL instead of an error. */
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: { /* of host memory: its device-side mirror (mapped.c) */
      uint64_t d = ptr;
      if (!dev && avec_mapped_device_ptr(ptr, &d)) d = 0;
      if (!d && strict) return CUDA_ERROR_INVALID_VALUE;
      *(CUdeviceptr *)data = (CUdeviceptr)d;
      break;
    }
    case CU_POINTER_ATTRIBUTE_HOST_POINTER: { /* of a mirror: the mapped host memory */
      uint64_t h = dev ? avec_mapped_host_of(ptr) : ptr;
      if (!h && strict) return CUDA_ERROR_INVALID_VALUE;
      *(void **)data = (void *)(uintptr_t)h;
      break;
    }
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS: *(unsigned *)data = 1; break;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID: *(unsigned long long *)data = rg.id; break;
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: *(unsigned long long *)data = rg.id; break;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED: *(unsigned *)data = dev && (rg.flags & AVEC_RANGE_MANAGED) ? 1 : 0; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: *(int *)data = ordinal; break;
    /* cuMemAlloc memory can be shared with cuIpcGetMemHandle (between sessions of one server) */
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
      *(unsigned *)data = dev && rg.kind == AVEC_RANGE_DEVICE && !rg.pool;
      break;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR: *(CUdeviceptr *)data = (CUdeviceptr)rg.base; break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: *(size_t *)data = (size_t)rg.size; break;
    case CU_POINTER_ATTRIBUTE_MAPPED: *(unsigned *)data = 1; break;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES: *(unsigned long long *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE: *(unsigned *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS: *(unsigned *)data = 0x3; /* CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE */ break;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: *(void **)data = dev && rg.kind == AVEC_RANGE_DEVICE ? rg.pool : NULL; break;
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE: *(unsigned *)data = 0; break;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr) {
  CUresult r = avec_ready();
  if (r == CUDA_ERROR_NOT_INITIALIZED) return r;
  if (!data) return CUDA_ERROR_INVALID_VALUE;
  return one_attr(data, attribute, ptr, 1);
}

AVEC_API CUresult cuPointerGetAttributes(unsigned int n, CUpointer_attribute *attrs, void **data, CUdeviceptr ptr) {
  CUresult r = avec_ready();
  if (r == CUDA_ERROR_NOT_INITIALIZED) return r;
  if (!attrs || !data) return CUDA_ERROR_INVALID_VALUE;
  for (unsigned i = 0; i < n; i++) {
    if (!data[i]) continue;
    r = one_attr(data[i], attrs[i], ptr, 0);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuPointerSetAttribute(const void *value, CUpointer_attribute attribute, CUdeviceptr ptr) {
  if (attribute != CU_POINTER_ATTRIBUTE_SYNC_MEMOPS) return CUDA_ERROR_INVALID_VALUE;
  return avec_is_device_ptr(ptr) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}


