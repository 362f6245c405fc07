/* Device memory: allocation (with a client-side reservation of the same address range), copies in every
 * direction, memsets, 2D copies, and the local pointer table behind cuPointerGetAttribute(s) and
 * cuMemGetAddressRange. Host-to-device data streams from the caller's buffer in AVEC_CHUNK frames
 * (fire-and-forget: the bytes are in the socket when the call returns, i.e. pageable-copy semantics);
 * device-to-host data is read straight into the destination. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "avec_codec.h"
#include "shim_cuda.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

avec_range_table avec_device_ranges = AVEC_RANGE_TABLE_INIT;
static uint64_t buffer_ids = 1;

int avec_is_device_ptr(uint64_t p) { return avec_ranges_find(&avec_device_ranges, p, NULL) == 0; }

int avec_map_at(uint64_t base, uint64_t len, int prot, int flags) {
  void *p = mmap((void *)(uintptr_t)base, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | flags, -1, 0);
  if (p == (void *)(uintptr_t)base) return 0;
  if (p != MAP_FAILED) munmap(p, len); /* old kernels ignore the flag and place it elsewhere */
  return -1;
}

/* Keep the program from ever getting host memory at a device address (so generic copies can classify
 * pointers unambiguously): reserve the range, inaccessible, in this process. */
void avec_reserve_device_range(uint64_t base, uint64_t size, uint32_t *flags) {
  static int warned;
  long page = sysconf(_SC_PAGESIZE);
  if (getenv("AVEC_NO_RESERVE") || base % (uint64_t)page) return;
  uint64_t len = (size + (uint64_t)page - 1) & ~((uint64_t)page - 1);
  if (!avec_map_at(base, len, PROT_NONE, MAP_NORESERVE)) {
    *flags |= AVEC_RANGE_RESERVED;
    return;
  }
  if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
    LOG_WARN("device range 0x%llx+%llu overlaps this process's memory; pointer classification may be ambiguous",
             (unsigned long long)base, (unsigned long long)size);
}

void avec_release_reservation(const avec_range *r);
static void release_reservation(const avec_range *r) { avec_release_reservation(r); }
void avec_release_reservation(const avec_range *r) {
  if (!(r->flags & AVEC_RANGE_RESERVED)) return;
  long page = sysconf(_SC_PAGESIZE);
  munmap((void *)(uintptr_t)r->base, (r->size + (uint64_t)page - 1) & ~((uint64_t)page - 1));
}

/* A graph allocation's address stays known while the driver may hand it to the program's work (graphs and
 * executable graphs hold it; a launch may leave it allocated past both), so it is forgotten only when the
 * server hands out an overlapping address again: then it was given back (or reused by the same graph after
 * its free node), and the new allocation takes its place. */
void avec_track_device(uint64_t dptr, uint64_t size, uint32_t kind, CUcontext ctx, void *pool) {
  avec_range r = {dptr, size, kind, 0, ctx, __atomic_fetch_add(&buffer_ids, 1, __ATOMIC_RELAXED), pool};
  avec_ranges_remove_overlapping(&avec_device_ranges, AVEC_RANGE_GRAPH, dptr, size, avec_release_reservation);
  /* VMM pieces lie inside the range cuMemAddressReserve already reserved here */
  if (kind != AVEC_RANGE_VMM) avec_reserve_device_range(dptr, size, &r.flags);
  if (avec_ranges_insert(&avec_device_ranges, &r)) {
    LOG_WARN("allocation 0x%llx+%llu overlaps a known range", (unsigned long long)dptr, (unsigned long long)size);
    release_reservation(&r);
  }
}

/* ---- allocation ------------------------------------------------------------------------------------- */
/* async: stream-ordered, from `pool` (NULL: the device's current pool). */
static CUresult mem_alloc(CUdeviceptr *dptr, uint64_t size, uint64_t height, uint32_t elem, size_t *pitch,
                          int async, CUstream s, int ptds, CUmemoryPool pool) {
  CUcontext ctx;
  CUresult r = avec_ctx_require(&ctx);
  if (r) return r;
  if (!dptr || (height && !pitch)) return CUDA_ERROR_INVALID_VALUE;
  if (!size) { /* the driver hands out NULL for an empty stream-ordered allocation, and refuses cuMemAlloc(0) */
    if (!async) return CUDA_ERROR_INVALID_VALUE;
    *dptr = 0;
    return CUDA_SUCCESS;
  }
  avec_mem_alloc a = {size, height, elem, 0};
  if (async) {
    if (!pool) pool = avec_pool_current(ctx->device);
    else if (!avec_pool_valid(pool)) return CUDA_ERROR_INVALID_VALUE;
    a.elem_size = avec_pool_wire(pool);
    if (avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
  }
  avec_mem_alloc_reply rep = {0};
  r = avec_call(async ? AVEC_OP_MEM_ALLOC_ASYNC : AVEC_OP_MEM_ALLOC, async ? AVEC_F_ASYNC : 0, &a, sizeof a, &rep,
                sizeof rep);
  if (r) return r;
  *dptr = (CUdeviceptr)rep.dptr;
  if (height) *pitch = (size_t)rep.pitch;
  if (async && rep.pitch) /* on a capturing stream: an allocation node of the graph being captured */
    avec_track_device(rep.dptr, size, AVEC_RANGE_GRAPH, ctx, NULL);
  else
    avec_track_device(rep.dptr, height ? rep.pitch * height : size, AVEC_RANGE_DEVICE, ctx, async ? pool : NULL);
  LOG_DEBUG("alloc %llu bytes -> 0x%llx", (unsigned long long)(height ? rep.pitch * height : size),
            (unsigned long long)rep.dptr);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
  return mem_alloc(dptr, bytesize, 0, 0, NULL, 0, NULL, 0, NULL);
}

AVEC_API CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t width, size_t height, unsigned elem) {
  if (elem != 4 && elem != 8 && elem != 16) return CUDA_ERROR_INVALID_VALUE;
  if (!height) return CUDA_ERROR_INVALID_VALUE;
  return mem_alloc(dptr, width, height, elem, pPitch, 0, NULL, 0, NULL);
}

AVEC_API CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t size, CUstream s) {
  return mem_alloc(dptr, size, 0, 0, NULL, 1, s, 0, NULL);
}
AVEC_API CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t size, CUstream s) {
  return mem_alloc(dptr, size, 0, 0, NULL, 1, s, 1, NULL);
}
AVEC_API CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t size, CUmemoryPool pool, CUstream s) {
  if (!pool) return CUDA_ERROR_INVALID_VALUE;
  return mem_alloc(dptr, size, 0, 0, NULL, 1, s, 0, pool);
}
AVEC_API CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t size, CUmemoryPool pool, CUstream s) {
  if (!pool) return CUDA_ERROR_INVALID_VALUE;
  return mem_alloc(dptr, size, 0, 0, NULL, 1, s, 1, pool);
}

static CUresult mem_free(CUdeviceptr dptr, int async, CUstream s, int ptds) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!dptr) return CUDA_SUCCESS;
  avec_range rg;
  if (avec_ranges_find(&avec_device_ranges, dptr, &rg) || rg.base != dptr ||
      (rg.kind != AVEC_RANGE_DEVICE && rg.kind != AVEC_RANGE_GRAPH))
    return CUDA_ERROR_INVALID_VALUE;
  avec_mem_free a = {dptr, 0, 0};
  if (async && avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
  /* a graph allocation: a free node when the stream captures, else the end of what a launch left allocated;
   * either way its address remains the graph's (the next launch may allocate it again) */
  if (rg.kind == AVEC_RANGE_GRAPH) return avec_post(AVEC_OP_MEM_FREE, async ? AVEC_F_ASYNC : 0, &a, sizeof a, NULL, 0);
  avec_ranges_remove(&avec_device_ranges, dptr, &rg);
  if (rg.flags & AVEC_RANGE_MANAGED) avec_managed_free(dptr); /* managed memory: its host side too */
  release_reservation(&rg);
  return avec_post(AVEC_OP_MEM_FREE, async ? AVEC_F_ASYNC : 0, &a, sizeof a, NULL, 0);
}

AVEC_API CUresult cuMemFree_v2(CUdeviceptr dptr) { return mem_free(dptr, 0, NULL, 0); }
AVEC_API CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream s) { return mem_free(dptr, 1, s, 0); }
AVEC_API CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream s) { return mem_free(dptr, 1, s, 1); }

AVEC_API CUresult cuMemGetInfo_v2(size_t *free_, size_t *total) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_mem_info rep = {0};
  r = avec_call(AVEC_OP_MEM_GET_INFO, 0, NULL, 0, &rep, sizeof rep);
  if (r) return r;
  if (free_) *free_ = (size_t)rep.free;
  if (total) *total = (size_t)rep.total;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_range rg;
  if (avec_ranges_find(&avec_device_ranges, dptr, &rg)) return CUDA_ERROR_NOT_FOUND;
  if (pbase) *pbase = (CUdeviceptr)rg.base;
  if (psize) *psize = (size_t)rg.size;
  return CUDA_SUCCESS;
}

/* ---- copies ------------------------------------------------------------------------------------------ */
CUresult avec_check_dev(uint64_t p, uint64_t n) {
  return avec_ranges_contains(&avec_device_ranges, p, n) ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

/* Compressed form of one chunk (avec_zchunk + zstd bytes, in a per-thread buffer), or NULL when it does not
 * shrink (its sample decides) or is small. */
#define AVEC_COMPRESS_MIN (64u * 1024u)
static __thread uint8_t *zbuf, *zscratch;
static __thread size_t zlen;
static size_t zlen_of(const uint8_t *z) { (void)z; return zlen; }
static const uint8_t *compress_chunk(const uint8_t *src, size_t n) {
  if (n < AVEC_COMPRESS_MIN) return NULL;
  if (!zbuf) {
    zbuf = malloc(sizeof(avec_zchunk) + avec_codec_bound(AVEC_CHUNK));
    zscratch = malloc(AVEC_CHUNK);
    if (!zbuf || !zscratch) {
      free(zbuf);
      free(zscratch);
      zbuf = zscratch = NULL;
      return NULL;
    }
  }
  avec_zchunk zc = {(uint32_t)n, 0};
  zlen = avec_codec_compress(src, n, zbuf + sizeof zc, zscratch, &zc.codec);
  if (!zlen) return NULL;
  memcpy(zbuf, &zc, sizeof zc);
  return zbuf;
}

static CUresult htod(CUdeviceptr dst, const void *src, size_t n, int async, CUstream s, int ptds) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!n) return CUDA_SUCCESS;
  if (!src || avec_check_dev(dst, n)) return CUDA_ERROR_INVALID_VALUE;
  avec_memcpy_htod h = {dst, 0, 0};
  if (avec_stream_wire(s, ptds, &h.stream)) return CUDA_ERROR_INVALID_HANDLE;
  int captured = 0;
  if (async && ((r = avec_capture_host_copy(s, ptds, dst, src, n, 0, &captured)) || captured)) return r;
  avec_conn *c = &avec_sess.conn;
  uint32_t flags = async ? AVEC_F_ASYNC : 0;
  /* Compression, when negotiated, decides chunk by chunk; else large copies go over the stripes. */
  if (c->stripes && !c->zstd && n >= AVEC_STRIPE_MIN)
    return avec_result(avec_conn_htod_striped(c, flags, avec_ctx_wire(), dst, h.stream, src, n));
  for (size_t off = 0; off < n; off += AVEC_CHUNK) {
    size_t len = n - off < AVEC_CHUNK ? n - off : AVEC_CHUNK;
    h.dst = dst + off;
    const uint8_t *z = c->zstd ? compress_chunk((const uint8_t *)src + off, len) : NULL;
    if (z) r = avec_post(AVEC_OP_MEMCPY_HTOD_Z, flags, &h, sizeof h, z, sizeof(avec_zchunk) + zlen_of(z));
    else r = avec_post(AVEC_OP_MEMCPY_HTOD, flags, &h, sizeof h, (const char *)src + off, len);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

static CUresult dtoh(void *dst, CUdeviceptr src, size_t n, int async, CUstream s, int ptds) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!n) return CUDA_SUCCESS;
  if (!dst || avec_check_dev(src, n)) return CUDA_ERROR_INVALID_VALUE;
  avec_memcpy_dtoh a = {src, n, 0, 0};
  if (avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
  int captured = 0;
  if (async && ((r = avec_capture_host_copy(s, ptds, src, dst, n, 1, &captured)) || captured)) return r;
  /* Async device-to-host copies complete before returning too: the bytes must land in this process. */
  avec_conn *c = &avec_sess.conn;
  uint32_t flags = async ? AVEC_F_ASYNC : 0;
  if (c->stripes && !c->zstd && n >= AVEC_STRIPE_MIN)
    r = avec_result(avec_conn_dtoh_striped(c, flags, avec_ctx_wire(), src, a.stream, dst, n));
  else {
    if (c->zstd && n >= AVEC_COMPRESS_MIN) flags |= AVEC_F_COMPRESS;
    r = avec_result(avec_conn_call_into(c, AVEC_OP_MEMCPY_DTOH, flags, avec_ctx_wire(), &a, sizeof a, dst, n));
  }
  if (!r) avec_stream_drained(a.stream);
  return r;
}

CUresult avec_dtoh_raw(void *dst, CUdeviceptr src, size_t n) { return dtoh(dst, src, n, 0, NULL, 0); }
CUresult avec_htod_raw(CUdeviceptr dst, const void *src, size_t n) { return htod(dst, src, n, 0, NULL, 0); }

/* A copy to the device writes what a mirror (managed or mapped memory) may show the host. */
CUresult avec_htod(CUdeviceptr dst, const void *src, size_t n, int async, CUstream s, int ptds) {
  avec_mapped_range(dst, n, 0, 1);
  CUresult r = htod(dst, src, n, async, s, ptds);
  if (!r && !async) avec_mapped_settle(dst, n);
  return r;
}

/* A copy back is a point where the host may look: mapped memory is made coherent around it. A synchronous
 * one also waits for the legacy stream, like a synchronize. */
CUresult avec_dtoh(void *dst, CUdeviceptr src, size_t n, int async, CUstream s, int ptds) {
  if (!async) avec_mapped_before_wait(1);
  avec_mapped_range(src, n, 1, 0);
  CUresult r = dtoh(dst, src, n, async, s, ptds);
  if (!r) avec_mapped_after_sync();
  return r;
}

static CUresult dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, int async, CUstream s, int ptds) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!n) return CUDA_SUCCESS;
  if (avec_check_dev(src, n) || avec_check_dev(dst, n)) return CUDA_ERROR_INVALID_VALUE;
  avec_memcpy_dtod a = {dst, src, n, 0, 0};
  if (avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
  avec_mapped_range(src, n, 1, 0);
  avec_mapped_range(dst, n, 0, 1);
  r = avec_post(AVEC_OP_MEMCPY_DTOD, async ? AVEC_F_ASYNC : 0, &a, sizeof a, NULL, 0);
  if (!r && !async) avec_mapped_settle(dst, n);
  return r;
}

/* A device copy that leaves mirrors alone (graph-host.c records copies into a capture; touching a mirror
 * there would copy on the legacy stream, which breaks the capture). */
CUresult avec_dtod_untracked(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s, int ptds) {
  avec_memcpy_dtod a = {dst, src, n, 0, 0};
  if (avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
  return avec_post(AVEC_OP_MEMCPY_DTOD, AVEC_F_ASYNC, &a, sizeof a, NULL, 0);
}

/* Generic copy: direction from the local pointer table (device ranges are reserved in this process). */
static CUresult generic(CUdeviceptr dst, CUdeviceptr src, size_t n, int async, CUstream s, int ptds) {
  int dd = avec_is_device_ptr(dst), sd = avec_is_device_ptr(src);
  LOG_DEBUG("cuMemcpy%s %zu bytes: %s -> %s", async ? "Async" : "", n, sd ? "device" : "host", dd ? "device" : "host");
  if (dd && sd) return dtod(dst, src, n, async, s, ptds);
  if (dd) return avec_htod(dst, (const void *)(uintptr_t)src, n, async, s, ptds);
  if (sd) return avec_dtoh((void *)(uintptr_t)dst, src, n, async, s, ptds);
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (n) memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
  return CUDA_SUCCESS;
}

#define PAIR(name, ptname, proto, body0, body1) \
  AVEC_API CUresult name proto { return body0; } \
  AVEC_API CUresult ptname proto { return body1; }

PAIR(cuMemcpyHtoD_v2, cuMemcpyHtoD_v2_ptds, (CUdeviceptr d, const void *s, size_t n), avec_htod(d, s, n, 0, NULL, 0),
     avec_htod(d, s, n, 0, NULL, 1))
PAIR(cuMemcpyDtoH_v2, cuMemcpyDtoH_v2_ptds, (void *d, CUdeviceptr s, size_t n), avec_dtoh(d, s, n, 0, NULL, 0),
     avec_dtoh(d, s, n, 0, NULL, 1))
PAIR(cuMemcpyDtoD_v2, cuMemcpyDtoD_v2_ptds, (CUdeviceptr d, CUdeviceptr s, size_t n), dtod(d, s, n, 0, NULL, 0),
     dtod(d, s, n, 0, NULL, 1))
PAIR(cuMemcpy, cuMemcpy_ptds, (CUdeviceptr d, CUdeviceptr s, size_t n), generic(d, s, n, 0, NULL, 0),
     generic(d, s, n, 0, NULL, 1))
PAIR(cuMemcpyHtoDAsync_v2, cuMemcpyHtoDAsync_v2_ptsz, (CUdeviceptr d, const void *s, size_t n, CUstream st),
     avec_htod(d, s, n, 1, st, 0), avec_htod(d, s, n, 1, st, 1))
PAIR(cuMemcpyDtoHAsync_v2, cuMemcpyDtoHAsync_v2_ptsz, (void *d, CUdeviceptr s, size_t n, CUstream st),
     avec_dtoh(d, s, n, 1, st, 0), avec_dtoh(d, s, n, 1, st, 1))
PAIR(cuMemcpyDtoDAsync_v2, cuMemcpyDtoDAsync_v2_ptsz, (CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st),
     dtod(d, s, n, 1, st, 0), dtod(d, s, n, 1, st, 1))
PAIR(cuMemcpyAsync, cuMemcpyAsync_ptsz, (CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st),
     generic(d, s, n, 1, st, 0), generic(d, s, n, 1, st, 1))

/* Peer copies between contexts of the (single) remote session are ordinary device copies. */
PAIR(cuMemcpyPeer, cuMemcpyPeer_ptds, (CUdeviceptr d, CUcontext dc, CUdeviceptr s, CUcontext sc, size_t n),
     dtod(d, s, n, 0, NULL, 0), dtod(d, s, n, 0, NULL, 1))
PAIR(cuMemcpyPeerAsync, cuMemcpyPeerAsync_ptsz,
     (CUdeviceptr d, CUcontext dc, CUdeviceptr s, CUcontext sc, size_t n, CUstream st), dtod(d, s, n, 1, st, 0),
     dtod(d, s, n, 1, st, 1))

/* ---- memset ------------------------------------------------------------------------------------------ */
static CUresult memset_any(CUdeviceptr dst, uint64_t pitch, uint32_t value, uint16_t elem, uint64_t width,
                           uint64_t height, int async, CUstream s, int ptds) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!width || !height) return CUDA_SUCCESS;
  if (dst % elem) return CUDA_ERROR_INVALID_VALUE;
  uint64_t row = width * elem;
  if (height > 1 && pitch < row) return CUDA_ERROR_INVALID_VALUE;
  uint64_t span = (height - 1) * pitch + row;
  if (avec_check_dev(dst, span)) return CUDA_ERROR_INVALID_VALUE;
  avec_memset a = {dst, height > 1 ? pitch : 0, width, height, value, elem, 0, 0, 0};
  if (avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
  avec_mapped_range(dst, span, 0, 1);
  r = avec_post(AVEC_OP_MEMSET, async ? AVEC_F_ASYNC : 0, &a, sizeof a, NULL, 0);
  if (!r && !async) avec_mapped_settle(dst, span);
  return r;
}

PAIR(cuMemsetD8_v2, cuMemsetD8_v2_ptds, (CUdeviceptr d, unsigned char v, size_t n),
     memset_any(d, 0, v, 1, n, 1, 0, NULL, 0), memset_any(d, 0, v, 1, n, 1, 0, NULL, 1))
PAIR(cuMemsetD16_v2, cuMemsetD16_v2_ptds, (CUdeviceptr d, unsigned short v, size_t n),
     memset_any(d, 0, v, 2, n, 1, 0, NULL, 0), memset_any(d, 0, v, 2, n, 1, 0, NULL, 1))
PAIR(cuMemsetD32_v2, cuMemsetD32_v2_ptds, (CUdeviceptr d, unsigned int v, size_t n),
     memset_any(d, 0, v, 4, n, 1, 0, NULL, 0), memset_any(d, 0, v, 4, n, 1, 0, NULL, 1))
PAIR(cuMemsetD2D8_v2, cuMemsetD2D8_v2_ptds, (CUdeviceptr d, size_t p, unsigned char v, size_t w, size_t h),
     memset_any(d, p, v, 1, w, h, 0, NULL, 0), memset_any(d, p, v, 1, w, h, 0, NULL, 1))
PAIR(cuMemsetD2D16_v2, cuMemsetD2D16_v2_ptds, (CUdeviceptr d, size_t p, unsigned short v, size_t w, size_t h),
     memset_any(d, p, v, 2, w, h, 0, NULL, 0), memset_any(d, p, v, 2, w, h, 0, NULL, 1))
PAIR(cuMemsetD2D32_v2, cuMemsetD2D32_v2_ptds, (CUdeviceptr d, size_t p, unsigned int v, size_t w, size_t h),
     memset_any(d, p, v, 4, w, h, 0, NULL, 0), memset_any(d, p, v, 4, w, h, 0, NULL, 1))
PAIR(cuMemsetD8Async, cuMemsetD8Async_ptsz, (CUdeviceptr d, unsigned char v, size_t n, CUstream s),
     memset_any(d, 0, v, 1, n, 1, 1, s, 0), memset_any(d, 0, v, 1, n, 1, 1, s, 1))
PAIR(cuMemsetD16Async, cuMemsetD16Async_ptsz, (CUdeviceptr d, unsigned short v, size_t n, CUstream s),
     memset_any(d, 0, v, 2, n, 1, 1, s, 0), memset_any(d, 0, v, 2, n, 1, 1, s, 1))
PAIR(cuMemsetD32Async, cuMemsetD32Async_ptsz, (CUdeviceptr d, unsigned int v, size_t n, CUstream s),
     memset_any(d, 0, v, 4, n, 1, 1, s, 0), memset_any(d, 0, v, 4, n, 1, 1, s, 1))
PAIR(cuMemsetD2D8Async, cuMemsetD2D8Async_ptsz,
     (CUdeviceptr d, size_t p, unsigned char v, size_t w, size_t h, CUstream s),
     memset_any(d, p, v, 1, w, h, 1, s, 0), memset_any(d, p, v, 1, w, h, 1, s, 1))
PAIR(cuMemsetD2D16Async, cuMemsetD2D16Async_ptsz,
     (CUdeviceptr d, size_t p, unsigned short v, size_t w, size_t h, CUstream s),
     memset_any(d, p, v, 2, w, h, 1, s, 0), memset_any(d, p, v, 2, w, h, 1, s, 1))
PAIR(cuMemsetD2D32Async, cuMemsetD2D32Async_ptsz,
     (CUdeviceptr d, size_t p, unsigned int v, size_t w, size_t h, CUstream s),
     memset_any(d, p, v, 4, w, h, 1, s, 0), memset_any(d, p, v, 4, w, h, 1, s, 1))

