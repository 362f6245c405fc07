/* Managed memory (cuMemAllocManaged) on a remote GPU: device memory on the server, and host memory at the
 * same address here (the range every device allocation reserves in this process is made accessible), so
 * the program can dereference the pointer on both sides. The two copies are kept coherent like mapped
 * memory (mapped.c): host changes reach device work that names the range, device writes come back at
 * synchronisation. Concurrent access from host and device (between a launch and the synchronisation after
 * it) is not honoured, so the device reports CONCURRENT_MANAGED_ACCESS = 0 (docs/semantics.md).
 * Prefetches to the device send host changes early; advice and stream attachment are recorded hints. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim_cuda.h"


typedef struct managed_info {
  uint64_t base, size;
  int preferred, last_prefetch, read_mostly; /* device ordinal, CU_DEVICE_CPU (-1) or CU_DEVICE_INVALID (-2) */
  struct managed_info *next;
} managed_info;
static managed_info *infos;
static pthread_mutex_t infos_lock = PTHREAD_MUTEX_INITIALIZER;

static managed_info *info_of_locked(uint64_t p) {
  for (managed_info *i = infos; i; i = i->next)
    if (p - i->base < i->size) return i;
  return NULL;
}

int avec_is_managed(uint64_t p) {
  avec_range rg;
  return avec_ranges_find(&avec_device_ranges, p, &rg) == 0 && (rg.flags & AVEC_RANGE_MANAGED);
}

/* The host side of managed memory lives in the range reserved here for the device allocation, with
 * read/write access: that needs pages no other allocation shares. The server packs small allocations
 * (512-byte steps), so a request is rounded up to whole pages, and where the address still comes back
 * mid-page (or taken in this process), to a fresh 2 MiB chunk of its own; allocations that did not fit are
 * held until one does, so the server hands out another address. */
static CUresult alloc_page_exclusive(size_t size, CUdeviceptr *out) {
  enum { TRIES = 6 };
  const size_t page = (size_t)sysconf(_SC_PAGESIZE), chunk = 2u << 20;
  CUdeviceptr held[TRIES];
  int n = 0;
  CUresult r = CUDA_ERROR_NOT_SUPPORTED;
  for (int t = 0; t < TRIES; t++) {
    size_t unit = t ? chunk : page, len = (size + unit - 1) / unit * unit;
    CUdeviceptr d = 0;
    if ((r = cuMemAlloc_v2(&d, len))) break;
    avec_range rg;
    if (!avec_ranges_find(&avec_device_ranges, d, &rg) && (rg.flags & AVEC_RANGE_RESERVED) &&
        !mprotect((void *)(uintptr_t)d, len, PROT_READ | PROT_WRITE)) {
      *out = d;
      break;
    }
    held[n++] = d;
    r = CUDA_ERROR_NOT_SUPPORTED;
  }
  while (n) cuMemFree_v2(held[--n]);
  return r;
}

AVEC_API CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t size, unsigned int flags) {
  static int warned;
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!dptr || !size || (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)) return CUDA_ERROR_INVALID_VALUE;
  CUdeviceptr d = 0;
  if ((r = alloc_page_exclusive(size, &d)))
    return r == CUDA_ERROR_NOT_SUPPORTED
               ? (CUresult)avec_unsupported("cuMemAllocManaged where the device address is taken in this process", &warned)
               : r;
  /* fresh host pages read as zeros: so does the device side, zeroed on the server (no upload) */
  managed_info *info = calloc(1, sizeof *info);
  if (!info || (r = avec_mapped_zero(d, size)) || (r = avec_mapped_add(d, d, size, 0, 0))) {
    free(info);
    cuMemFree_v2(d);
    return r ? r : CUDA_ERROR_OUT_OF_MEMORY;
  }
  avec_range rg;
  avec_ranges_remove(&avec_device_ranges, d, &rg);
  rg.flags |= AVEC_RANGE_MANAGED;
  avec_ranges_insert(&avec_device_ranges, &rg);
  *info = (managed_info){d, size, CU_DEVICE_INVALID, CU_DEVICE_INVALID, 0, NULL};
  pthread_mutex_lock(&infos_lock);
  info->next = infos;
  infos = info;
  pthread_mutex_unlock(&infos_lock);
  *dptr = d;
  return CUDA_SUCCESS;
}

/* __managed__ variables of a module live where the server's driver put them, at addresses no allocation
 * of this process reserved. Their host side is mapped here at the same address (whole pages; variables that
 * share a page share its mapping, which stays for the process's life), filled with the device's bytes, and
 * kept coherent like managed allocations, except that kernels reach them by name, not through their
 * parameters: every launch counts as reading and writing them (mapped.c). */
CUresult avec_managed_symbol(uint64_t dptr, uint64_t size) {
  static int warned;
  static pthread_mutex_t pages_lock = PTHREAD_MUTEX_INITIALIZER;
  static uint64_t *pages; /* mapped here for __managed__ variables */
  static size_t npages, cap;
  const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  CUresult r = CUDA_SUCCESS;
  pthread_mutex_lock(&pages_lock);
  for (uint64_t p = dptr & ~(page - 1); p < dptr + size && !r; p += page) {
    size_t k = 0;
    while (k < npages && pages[k] != p) k++;
    if (k < npages) continue;
    if (npages == cap) {
      uint64_t *grown = realloc(pages, (cap = cap ? cap * 2 : 16) * sizeof *pages);
      if (!grown) { r = CUDA_ERROR_OUT_OF_MEMORY; break; }
      pages = grown;
    }
    if (avec_map_at(p, page, PROT_READ | PROT_WRITE, 0)) {
      r = (CUresult)avec_unsupported("a __managed__ variable whose address is taken in this process", &warned);
      break;
    }
    pages[npages++] = p;
  }
  pthread_mutex_unlock(&pages_lock);
  if (!r) r = avec_dtoh_raw((void *)(uintptr_t)dptr, dptr, size);
  if (!r) r = avec_mapped_add_symbol(dptr, size);
  return r;
}

/* cuMemFree of managed memory: the host side and the bookkeeping go (memory.c frees the device side). */
void avec_managed_free(uint64_t base) {
  avec_mapped_release(base);
  pthread_mutex_lock(&infos_lock);
  managed_info **pp = &infos, *i;
  while (*pp && (*pp)->base != base) pp = &(*pp)->next;
  if ((i = *pp)) *pp = i->next;
  pthread_mutex_unlock(&infos_lock);
  free(i);
}

static int location_ordinal(CUmemLocation loc) {
  if (loc.type == CU_MEM_LOCATION_TYPE_HOST || loc.type == CU_MEM_LOCATION_TYPE_HOST_NUMA ||
      loc.type == CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT)
    return CU_DEVICE_CPU;
  return avec_location_device(&loc) >= 0 ? loc.id : CU_DEVICE_INVALID;
}

static CUresult prefetch(CUdeviceptr p, size_t n, int to, CUstream s) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  uint32_t wire;
  if (!n || !avec_is_managed(p) || avec_check_dev(p, n) || to == CU_DEVICE_INVALID) return CUDA_ERROR_INVALID_VALUE;
  if (avec_stream_wire(s, 0, &wire)) return CUDA_ERROR_INVALID_HANDLE;
  if (to != CU_DEVICE_CPU) avec_mapped_range(p, n, 1, 0); /* to the device: host changes go now */
  pthread_mutex_lock(&infos_lock);
  managed_info *i = info_of_locked(p);
  if (i) i->last_prefetch = to;
  pthread_mutex_unlock(&infos_lock);
  return CUDA_SUCCESS;
}

#undef cuMemPrefetchAsync
AVEC_API CUresult cuMemPrefetchAsync(CUdeviceptr p, size_t n, CUdevice dst, CUstream s) {
  return prefetch(p, n, dst == CU_DEVICE_CPU ? CU_DEVICE_CPU : avec_dev_valid(dst) ? dst : CU_DEVICE_INVALID, s);
}
AVEC_API CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr p, size_t n, CUdevice dst, CUstream s) {
  return cuMemPrefetchAsync(p, n, dst, s);
}
AVEC_API CUresult cuMemPrefetchAsync_v2(CUdeviceptr p, size_t n, CUmemLocation loc, unsigned flags, CUstream s) {
  return flags ? CUDA_ERROR_INVALID_VALUE : prefetch(p, n, location_ordinal(loc), s);
}
AVEC_API CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr p, size_t n, CUmemLocation loc, unsigned flags, CUstream s) {
  return cuMemPrefetchAsync_v2(p, n, loc, flags, s);
}

static CUresult advise(CUdeviceptr p, size_t n, CUmem_advise advice, int where) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!n || !avec_is_managed(p) || avec_check_dev(p, n)) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&infos_lock);
  managed_info *i = info_of_locked(p);
  switch (advice) {
    case CU_MEM_ADVISE_SET_READ_MOSTLY: i->read_mostly = 1; break;
    case CU_MEM_ADVISE_UNSET_READ_MOSTLY: i->read_mostly = 0; break;
    case CU_MEM_ADVISE_SET_PREFERRED_LOCATION: i->preferred = where; break;
    case CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION: i->preferred = CU_DEVICE_INVALID; break;
    case CU_MEM_ADVISE_SET_ACCESSED_BY: case CU_MEM_ADVISE_UNSET_ACCESSED_BY: break;
    default: r = CUDA_ERROR_INVALID_VALUE;
  }
  pthread_mutex_unlock(&infos_lock);
  return r;
}

#undef cuMemAdvise
AVEC_API CUresult cuMemAdvise(CUdeviceptr p, size_t n, CUmem_advise advice, CUdevice dev) {
  return advise(p, n, advice, dev == CU_DEVICE_CPU ? CU_DEVICE_CPU : dev);
}
AVEC_API CUresult cuMemAdvise_v2(CUdeviceptr p, size_t n, CUmem_advise advice, CUmemLocation loc) {
  return advise(p, n, advice, location_ordinal(loc));
}

AVEC_API CUresult cuMemRangeGetAttribute(void *data, size_t size, CUmem_range_attribute attr, CUdeviceptr p, size_t n) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!data || !n || !avec_is_managed(p) || avec_check_dev(p, n)) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&infos_lock);
  managed_info *i = info_of_locked(p);
  managed_info v = *i;
  pthread_mutex_unlock(&infos_lock);
  switch (attr) {
    case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY:
      if (size < 4) return CUDA_ERROR_INVALID_VALUE;
      *(int *)data = v.read_mostly;
      return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION:
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION:
      if (size < 4) return CUDA_ERROR_INVALID_VALUE;
      *(int *)data = attr == CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION ? v.preferred : v.last_prefetch;
      return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY: /* no device is set: fill with CU_DEVICE_INVALID */
      if (size % 4) return CUDA_ERROR_INVALID_VALUE;
      for (size_t k = 0; k < size / 4; k++) ((int *)data)[k] = CU_DEVICE_INVALID;
      return CUDA_SUCCESS;
    default: {
      static int warned;
      return (CUresult)avec_unsupported("cuMemRangeGetAttribute of this attribute", &warned);
    }
  }
}

AVEC_API CUresult cuMemRangeGetAttributes(void **data, size_t *sizes, CUmem_range_attribute *attrs, size_t count,
                                          CUdeviceptr p, size_t n) {
  if (!data || !sizes || !attrs || !count) return CUDA_ERROR_INVALID_VALUE;
  for (size_t k = 0; k < count; k++) {
    CUresult r = cuMemRangeGetAttribute(data[k], sizes[k], attrs[k], p, n);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

/* Attaching managed memory to a stream narrows which work may touch it: a hint here, where coherence is
 * kept at device work and synchronisation anyway. */
static CUresult attach(CUstream s, CUdeviceptr p, size_t n, unsigned flags) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  uint32_t wire;
  if (avec_stream_wire(s, 0, &wire)) return CUDA_ERROR_INVALID_HANDLE;
  if (!avec_is_managed(p) || (n && avec_check_dev(p, n)) ||
      (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST && flags != CU_MEM_ATTACH_SINGLE))
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}
AVEC_API CUresult cuStreamAttachMemAsync(CUstream s, CUdeviceptr p, size_t n, unsigned flags) { return attach(s, p, n, flags); }
AVEC_API CUresult cuStreamAttachMemAsync_ptsz(CUstream s, CUdeviceptr p, size_t n, unsigned flags) {
  return attach(s, p, n, flags);
}
