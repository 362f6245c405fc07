/* Virtual memory management. Physical allocations live on the server under client-chosen handles (the
 * value of the program's CUmemGenericAllocationHandle); a reserved address range is the server's range,
 * reserved inaccessible in this process too, so its addresses never alias host memory; each mapped piece
 * is a device range here (kind AVEC_RANGE_VMM), and pieces that touch count as one span for copies.
 * POSIX-fd export and import go through shareable.c (processes whose sessions share a server); fabric and
 * Win32 handles are refused: they cannot cross machines. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

typedef struct vmm_alloc {
  uint32_t handle;
  uint64_t size;
  CUmemAllocationProp prop; /* as the program asked (cuMemGetAllocationPropertiesFromHandle) */
  int refs;                 /* create + retains - releases */
  struct vmm_alloc *next;
} vmm_alloc;

static vmm_alloc *allocs;
static avec_range_table reserved = AVEC_RANGE_TABLE_INIT; /* address ranges reserved here and there */
static pthread_mutex_t vmm_lock = PTHREAD_MUTEX_INITIALIZER;

static vmm_alloc *find_locked(uint32_t handle) {
  for (vmm_alloc *a = allocs; a; a = a->next)
    if (a->handle == handle && a->refs > 0) return a;
  return NULL;
}

static CUresult device_of(const CUmemLocation *loc, int *dev) {
  static int warned;
  *dev = -1;
  if (loc && loc->type != CU_MEM_LOCATION_TYPE_DEVICE && loc->type != CU_MEM_LOCATION_TYPE_INVALID)
    return (CUresult)avec_unsupported("virtual memory backed by host memory (only device memory is remote)", &warned);
  *dev = avec_location_device(loc);
  return *dev < 0 ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
}

AVEC_API CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                                CUmemAllocationGranularity_flags option) {
  static uint64_t cache[AVEC_MAX_DEVICES][2]; /* the answer never changes for a device */
  CUresult r = avec_ready();
  if (r) return r;
  if (!granularity || !prop || (unsigned)option > CU_MEM_ALLOC_GRANULARITY_RECOMMENDED) return CUDA_ERROR_INVALID_VALUE;
  int dev;
  if ((r = device_of(&prop->location, &dev)) == CUDA_ERROR_INVALID_DEVICE) dev = 0; /* the driver answers anyway */
  else if (r) return r;
  uint64_t g = __atomic_load_n(&cache[dev][option], __ATOMIC_RELAXED);
  if (!g) {
    avec_vmm_prop a = {0, 0, avec_sess.wire_dev[dev], (uint32_t)prop->requestedHandleTypes, (uint32_t)option, 0, 0};
    struct { avec_reply_hdr h; avec_u64 v; } rep;
    if ((r = avec_call(AVEC_OP_VMM_GRANULARITY, 0, &a, sizeof a, &rep, sizeof rep))) return r;
    g = rep.v.value;
    __atomic_store_n(&cache[dev][option], g, __ATOMIC_RELAXED);
  }
  *granularity = (size_t)g;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                              unsigned long long flags) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!handle || !prop || !size || flags || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED) return CUDA_ERROR_INVALID_VALUE;
  int dev;
  if ((r = device_of(&prop->location, &dev))) return r;
  avec_note_handle_types(prop->requestedHandleTypes, "cuMemCreate");
  vmm_alloc *a = calloc(1, sizeof *a);
  if (!a) return CUDA_ERROR_OUT_OF_MEMORY;
  a->handle = avec_new_handle();
  a->size = size;
  a->prop = *prop;
  a->refs = 1;
  uint32_t af = prop->allocFlags.compressionType | (uint32_t)prop->allocFlags.gpuDirectRDMACapable << 8 |
                (uint32_t)prop->allocFlags.usage << 16;
  avec_vmm_prop req = {size, a->handle, avec_sess.wire_dev[dev], (uint32_t)prop->requestedHandleTypes, 0, af, 0};
  avec_reply_hdr rep;
  if ((r = avec_call(AVEC_OP_VMM_CREATE, 0, &req, sizeof req, &rep, sizeof rep))) {
    free(a);
    return r;
  }
  pthread_mutex_lock(&vmm_lock);
  a->next = allocs;
  allocs = a;
  pthread_mutex_unlock(&vmm_lock);
  *handle = a->handle;
  return CUDA_SUCCESS;
}

/* One reference more (VMM_RETAIN) or fewer (VMM_RELEASE); the record goes once nothing refers to it
 * (its mappings hold the memory on the server, which accounts for that itself). */
static CUresult change_refs(uint32_t handle, uint16_t op) {
  pthread_mutex_lock(&vmm_lock);
  vmm_alloc **pp = &allocs;
  while (*pp && !((*pp)->handle == handle && (*pp)->refs > 0)) pp = &(*pp)->next;
  vmm_alloc *a = *pp;
  if (a && op == AVEC_OP_VMM_RETAIN) a->refs++;
  else if (a && --a->refs == 0) {
    *pp = a->next;
    free(a);
  }
  pthread_mutex_unlock(&vmm_lock);
  if (!a) return CUDA_ERROR_INVALID_VALUE;
  avec_handle h = {handle, 0};
  return avec_post(op, 0, &h, sizeof h, NULL, 0);
}

AVEC_API CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  CUresult r = avec_ready();
  if (r) return r;
  if (handle > UINT32_MAX) return CUDA_ERROR_INVALID_VALUE;
  return change_refs((uint32_t)handle, AVEC_OP_VMM_RELEASE);
}

AVEC_API CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                      unsigned long long flags) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!ptr || !size) return CUDA_ERROR_INVALID_VALUE;
  avec_vmm_range q = {addr, size, alignment, 0, (uint32_t)flags};
  struct { avec_reply_hdr h; avec_u64 v; } rep;
  if ((r = avec_call(AVEC_OP_VMM_RESERVE, 0, &q, sizeof q, &rep, sizeof rep))) return r;
  avec_range rg = {rep.v.value, size, AVEC_RANGE_VMM, 0, NULL, 0, NULL};
  avec_reserve_device_range(rg.base, size, &rg.flags);
  avec_ranges_insert(&reserved, &rg);
  *ptr = (CUdeviceptr)rep.v.value;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
  CUresult r = avec_ready();
  if (r) return r;
  avec_range rg;
  if (avec_ranges_find(&reserved, ptr, &rg) || rg.base != ptr || rg.size != size) return CUDA_ERROR_INVALID_VALUE;
  if (avec_ranges_overlaps(&avec_device_ranges, ptr, size)) return CUDA_ERROR_INVALID_VALUE; /* unmap first */
  avec_vmm_range q = {ptr, size, 0, 0, 0};
  if ((r = avec_post(AVEC_OP_VMM_ADDRESS_FREE, 0, &q, sizeof q, NULL, 0))) return r;
  avec_ranges_remove(&reserved, ptr, NULL);
  avec_release_reservation(&rg);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                           unsigned long long flags) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (flags || !size || handle > UINT32_MAX || avec_ranges_contains(&reserved, ptr, size)) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&vmm_lock);
  int known = find_locked((uint32_t)handle) != NULL;
  pthread_mutex_unlock(&vmm_lock);
  if (!known) return CUDA_ERROR_INVALID_VALUE;
  avec_vmm_range q = {ptr, size, offset, (uint32_t)handle, 0};
  avec_reply_hdr rep;
  if ((r = avec_call(AVEC_OP_VMM_MAP, 0, &q, sizeof q, &rep, sizeof rep))) return r;
  avec_track_device(ptr, size, AVEC_RANGE_VMM, NULL, (void *)(uintptr_t)handle);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  CUresult r = avec_ready();
  if (r) return r;
  /* the range must consist of whole mapped pieces */
  uint64_t end = ptr + size;
  if (!size || end < ptr) return CUDA_ERROR_INVALID_VALUE;
  for (uint64_t at = ptr; at < end;) {
    avec_range rg;
    if (avec_ranges_find(&avec_device_ranges, at, &rg) || rg.base != at || rg.kind != AVEC_RANGE_VMM ||
        rg.size > end - at)
      return CUDA_ERROR_INVALID_VALUE;
    at += rg.size;
  }
  for (uint64_t at = ptr; at < end;) {
    avec_range rg;
    avec_ranges_remove(&avec_device_ranges, at, &rg);
    at += rg.size;
  }
  avec_vmm_range q = {ptr, size, 0, 0, 0};
  return avec_post(AVEC_OP_VMM_UNMAP, 0, &q, sizeof q, NULL, 0);
}

AVEC_API CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!desc || !count || avec_check_dev(ptr, size)) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < count; i++) {
    int dev;
    if ((r = device_of(&desc[i].location, &dev))) return r;
    avec_vmm_range q = {ptr, size, 0, avec_sess.wire_dev[dev], (uint32_t)desc[i].flags};
    if ((r = avec_post(AVEC_OP_VMM_SET_ACCESS, 0, &q, sizeof q, NULL, 0))) return r;
  }
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!flags || avec_check_dev(ptr, 1)) return CUDA_ERROR_INVALID_VALUE;
  int dev;
  if ((r = device_of(location, &dev))) return r;
  avec_vmm_range q = {ptr, 0, 0, avec_sess.wire_dev[dev], 0};
  struct { avec_reply_hdr h; avec_u64 v; } rep;
  if ((r = avec_call(AVEC_OP_VMM_GET_ACCESS, 0, &q, sizeof q, &rep, sizeof rep))) return r;
  *flags = rep.v.value;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr) {
  CUresult r = avec_ready();
  if (r) return r;
  avec_range rg;
  if (!handle || avec_ranges_find(&avec_device_ranges, (uint64_t)(uintptr_t)addr, &rg) || rg.kind != AVEC_RANGE_VMM)
    return CUDA_ERROR_INVALID_VALUE;
  /* a handle released while still mapped cannot be retained again (the server refuses it too) */
  uint32_t h = (uint32_t)(uintptr_t)rg.pool;
  if ((r = change_refs(h, AVEC_OP_VMM_RETAIN))) return r;
  *handle = h;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop, CUmemGenericAllocationHandle handle) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!prop || handle > UINT32_MAX) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&vmm_lock);
  vmm_alloc *a = find_locked((uint32_t)handle);
  if (a) *prop = a->prop;
  pthread_mutex_unlock(&vmm_lock);
  return a ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

AVEC_API CUresult cuMemExportToShareableHandle(void *shareable, CUmemGenericAllocationHandle handle,
                                               CUmemAllocationHandleType type, unsigned long long flags) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (flags || handle > UINT32_MAX) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&vmm_lock);
  vmm_alloc *a = find_locked((uint32_t)handle);
  unsigned types = a ? (unsigned)a->prop.requestedHandleTypes : 0;
  pthread_mutex_unlock(&vmm_lock);
  if (!a) return CUDA_ERROR_INVALID_VALUE;
  if (!(types & (unsigned)type) && type == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_INVALID_VALUE;
  return avec_shareable_export(AVEC_SHARE_VMM, (uint32_t)handle, type, shareable);
}

/* The imported allocation is another session's memory (charged there); here it is an allocation handle
 * like one cuMemCreate made, with the properties the driver would report for it. */
AVEC_API CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle, void *shareable,
                                                 CUmemAllocationHandleType type) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!handle) return CUDA_ERROR_INVALID_VALUE;
  vmm_alloc *a = calloc(1, sizeof *a);
  if (!a) return CUDA_ERROR_OUT_OF_MEMORY;
  a->handle = avec_new_handle();
  avec_share_import_reply rep;
  if ((r = avec_shareable_import(AVEC_SHARE_VMM, shareable, type, a->handle, &rep))) {
    free(a);
    return r;
  }
  a->size = rep.size;
  a->refs = 1;
  a->prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  a->prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  a->prop.location.id = avec_visible_of_wire(rep.device);
  a->prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  pthread_mutex_lock(&vmm_lock);
  a->next = allocs;
  allocs = a;
  pthread_mutex_unlock(&vmm_lock);
  *handle = a->handle;
  return CUDA_SUCCESS;
}
