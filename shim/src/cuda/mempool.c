/* Stream-ordered memory pools. Pools live on the server (their memory counts against the session's
 * limit there); here a CUmemoryPool is a small handle object. Every device has a default pool, which is
 * also what cuMemAllocAsync uses until cuDeviceSetMemPool names another; both are mirrored here so
 * cuDeviceGetDefaultMemPool / cuDeviceGetMemPool need no round trip. Pools may be shared with other
 * processes of this machine through POSIX fds when the server offers it; fabric and Win32 handles cannot
 * cross machines and are refused. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

static struct CUmemPoolHandle_st default_pools[AVEC_MAX_DEVICES];
static CUmemoryPool current[AVEC_MAX_DEVICES]; /* NULL: the default pool */
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;

int avec_pool_valid(CUmemoryPool p) { return p && p->magic == AVEC_MAGIC_POOL; }
uint32_t avec_pool_wire(CUmemoryPool p) { return p->handle; }

static CUmemoryPool default_pool(int dev) {
  struct CUmemPoolHandle_st *p = &default_pools[dev];
  if (!p->magic) *p = (struct CUmemPoolHandle_st){AVEC_MAGIC_POOL, avec_sess.wire_dev[dev] + 1, dev};
  return p;
}

CUmemoryPool avec_pool_current(int dev) {
  pthread_mutex_lock(&pools_lock);
  CUmemoryPool p = current[dev] ? current[dev] : default_pool(dev);
  pthread_mutex_unlock(&pools_lock);
  return p;
}

int avec_location_device(const CUmemLocation *loc) {
  if (!loc || loc->type != CU_MEM_LOCATION_TYPE_DEVICE || !avec_dev_valid(loc->id)) return -1;
  return loc->id;
}

/* Host-located pools (HOST, HOST_NUMA) would be memory of the client machine the GPU cannot reach. */
static CUresult check_location(const CUmemLocation *loc, int *dev) {
  static int warned;
  *dev = -1;
  if (loc && (loc->type == CU_MEM_LOCATION_TYPE_HOST || loc->type == CU_MEM_LOCATION_TYPE_HOST_NUMA ||
              loc->type == CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT))
    return (CUresult)avec_unsupported("memory pools located in host memory", &warned);
  *dev = avec_location_device(loc);
  return *dev < 0 ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool, CUdevice dev) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!pool) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  pthread_mutex_lock(&pools_lock);
  *pool = default_pool(dev);
  pthread_mutex_unlock(&pools_lock);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!pool) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  *pool = avec_pool_current(dev);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  if (!avec_pool_valid(pool) || pool->device != dev) return CUDA_ERROR_INVALID_VALUE;
  avec_u32x2 a = {avec_sess.wire_dev[dev], pool->handle};
  if ((r = avec_post(AVEC_OP_DEVICE_SET_MEM_POOL, 0, &a, sizeof a, NULL, 0))) return r;
  pthread_mutex_lock(&pools_lock);
  current[dev] = pool;
  pthread_mutex_unlock(&pools_lock);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *props) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!pool || !props) return CUDA_ERROR_INVALID_VALUE;
  int dev;
  if ((r = check_location(&props->location, &dev))) return r;
  if (props->allocType != CU_MEM_ALLOCATION_TYPE_PINNED) return CUDA_ERROR_INVALID_VALUE;
  avec_note_handle_types(props->handleTypes, "cuMemPoolCreate");
  struct CUmemPoolHandle_st *p = calloc(1, sizeof *p);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  *p = (struct CUmemPoolHandle_st){AVEC_MAGIC_POOL, avec_new_handle(), dev, (unsigned)props->handleTypes, 0};
  avec_pool_create a = {p->handle, avec_sess.wire_dev[dev], (uint32_t)props->handleTypes, 0, props->maxSize};
  avec_reply_hdr rep;
  if ((r = avec_call(AVEC_OP_POOL_CREATE, 0, &a, sizeof a, &rep, sizeof rep))) {
    free(p);
    return r;
  }
  *pool = p;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!avec_pool_valid(pool) || pool == &default_pools[pool->device]) return CUDA_ERROR_INVALID_VALUE;
  avec_handle a = {pool->handle, 0};
  pthread_mutex_lock(&pools_lock);
  if (current[pool->device] == pool) current[pool->device] = NULL; /* the device falls back to its default */
  pthread_mutex_unlock(&pools_lock);
  pool->magic = 0; /* the object stays allocated: a stale handle is then recognised as invalid */
  return avec_post(AVEC_OP_POOL_DESTROY, 0, &a, sizeof a, NULL, 0);
}

/* The reuse policies are int; thresholds and counters cuuint64_t (as cuda.h documents each). */
static int attr_is_int(CUmemPool_attribute a) {
  return a == CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES || a == CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC ||
         a == CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES;
}
static int attr_known(CUmemPool_attribute a) {
  return a >= CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES && a <= CU_MEMPOOL_ATTR_USED_MEM_HIGH;
}

AVEC_API CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!avec_pool_valid(pool) || !value || !attr_known(attr)) return CUDA_ERROR_INVALID_VALUE;
  avec_pool_attr a = {pool->handle, (uint32_t)attr, attr_is_int(attr) ? (uint64_t)*(int *)value : *(cuuint64_t *)value};
  /* the counters are read-only, and a high-water mark can only be reset (to 0): refused here, at once,
   * as the driver does, rather than as a deferred error at the next synchronisation */
  if (attr == CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT || attr == CU_MEMPOOL_ATTR_USED_MEM_CURRENT ||
      ((attr == CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH || attr == CU_MEMPOOL_ATTR_USED_MEM_HIGH) && a.value != 0))
    return CUDA_ERROR_INVALID_VALUE;
  return avec_post(AVEC_OP_POOL_SET_ATTR, 0, &a, sizeof a, NULL, 0);
}

AVEC_API CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!avec_pool_valid(pool) || !value || !attr_known(attr)) return CUDA_ERROR_INVALID_VALUE;
  avec_pool_attr a = {pool->handle, (uint32_t)attr, 0};
  struct { avec_reply_hdr h; avec_u64 v; } rep;
  if ((r = avec_call(AVEC_OP_POOL_GET_ATTR, 0, &a, sizeof a, &rep, sizeof rep))) return r;
  if (attr_is_int(attr)) *(int *)value = (int)rep.v.value;
  else *(cuuint64_t *)value = rep.v.value;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t keep) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!avec_pool_valid(pool)) return CUDA_ERROR_INVALID_VALUE;
  avec_pool_attr a = {pool->handle, 0, keep};
  return avec_post(AVEC_OP_POOL_TRIM, 0, &a, sizeof a, NULL, 0);
}

AVEC_API CUresult cuMemPoolSetAccess(CUmemoryPool pool, const CUmemAccessDesc *map, size_t count) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!avec_pool_valid(pool) || (count && !map)) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < count; i++) {
    int dev;
    if ((r = check_location(&map[i].location, &dev))) return r;
    avec_pool_attr a = {pool->handle, avec_sess.wire_dev[dev], (uint64_t)map[i].flags};
    if ((r = avec_post(AVEC_OP_POOL_SET_ACCESS, 0, &a, sizeof a, NULL, 0))) return r;
  }
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemPoolGetAccess(CUmemAccess_flags *flags, CUmemoryPool pool, CUmemLocation *location) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!flags || !avec_pool_valid(pool)) return CUDA_ERROR_INVALID_VALUE;
  int dev;
  if ((r = check_location(location, &dev))) return r;
  avec_pool_attr a = {pool->handle, avec_sess.wire_dev[dev], 0};
  struct { avec_reply_hdr h; avec_u64 v; } rep;
  if ((r = avec_call(AVEC_OP_POOL_GET_ACCESS, 0, &a, sizeof a, &rep, sizeof rep))) return r;
  *flags = (CUmemAccess_flags)rep.v.value;
  return CUDA_SUCCESS;
}

/* Sharing a pool with another process of this machine: a POSIX fd (shareable.c) whose session shares the
 * server; the pointer export data is the server driver's 64 bytes, carried by the program. */
AVEC_API CUresult cuMemPoolExportToShareableHandle(void *handle_out, CUmemoryPool pool, CUmemAllocationHandleType type,
                                                   unsigned long long flags) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!avec_pool_valid(pool) || flags || pool->imported) return CUDA_ERROR_INVALID_VALUE;
  if (type == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR && !(pool->handle_types & type)) return CUDA_ERROR_INVALID_VALUE;
  return avec_shareable_export(AVEC_SHARE_POOL, pool->handle, type, handle_out);
}

AVEC_API CUresult cuMemPoolImportFromShareableHandle(CUmemoryPool *pool, void *handle, CUmemAllocationHandleType type,
                                                     unsigned long long flags) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!pool || flags) return CUDA_ERROR_INVALID_VALUE;
  struct CUmemPoolHandle_st *p = calloc(1, sizeof *p);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  *p = (struct CUmemPoolHandle_st){AVEC_MAGIC_POOL, avec_new_handle(), 0, (unsigned)type, 1};
  avec_share_import_reply rep;
  if ((r = avec_shareable_import(AVEC_SHARE_POOL, handle, type, p->handle, &rep))) {
    free(p);
    return r;
  }
  p->device = avec_visible_of_wire(rep.device);
  *pool = p;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemPoolExportPointer(CUmemPoolPtrExportData *out, CUdeviceptr ptr) {
  CUresult r = avec_ready();
  if (r) return r;
  avec_range rg;
  if (!out || avec_ranges_find(&avec_device_ranges, ptr, &rg) || rg.base != ptr || !rg.pool)
    return CUDA_ERROR_INVALID_VALUE;
  if (!avec_share_offered()) /* refused with the same log line as a pool export */
    return avec_shareable_export(AVEC_SHARE_POOL, 0, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, out);
  avec_u64 a = {ptr};
  avec_pool_ptr_data rep;
  if ((r = avec_call(AVEC_OP_POOL_EXPORT_POINTER, 0, &a, sizeof a, &rep, sizeof rep))) return r;
  AVEC_STATIC_ASSERT(sizeof out->reserved == AVEC_POOL_PTR_DATA_BYTES, "pool pointer export data");
  memcpy(out->reserved, rep.data, sizeof rep.data);
  return CUDA_SUCCESS;
}

/* The imported pointer is another session's memory: a device range here until cuMemFree(Async), which the
 * server turns into the driver's release of the import. A pointer of another pool is an ordinary error
 * (programs try each pool in turn and clear it). */
AVEC_API CUresult cuMemPoolImportPointer(CUdeviceptr *ptr, CUmemoryPool pool, CUmemPoolPtrExportData *data) {
  CUcontext ctx;
  CUresult r = avec_ctx_require(&ctx);
  if (r) return r;
  if (!ptr || !data || !avec_pool_valid(pool) || !pool->imported) return CUDA_ERROR_INVALID_VALUE;
  avec_pool_import_ptr a = {{0}, pool->handle, 0};
  memcpy(a.data, data->reserved, sizeof a.data);
  avec_ipc_open_reply rep;
  if ((r = avec_call(AVEC_OP_POOL_IMPORT_POINTER, 0, &a, sizeof a, &rep, sizeof rep))) return r;
  avec_track_device(rep.dptr, rep.size, AVEC_RANGE_DEVICE, ctx, pool);
  *ptr = (CUdeviceptr)rep.dptr;
  return CUDA_SUCCESS;
}
