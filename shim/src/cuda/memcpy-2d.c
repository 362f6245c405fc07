/* 2D and 3D copies of linear memory. The host side travels packed (rows of WidthInBytes) in groups of at
 * most one chunk; device-to-device copies are one fire-and-forget frame. Copies with a CUDA array on a side
 * go to memcpy-array.c. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

#define PAIR(name, ptname, proto, body0, body1) \
  AVEC_API CUresult name proto { return body0; } \
  AVEC_API CUresult ptname proto { return body1; }

/* ---- 2D copies ----------------------------------------------------------------------------------------- */
static int side_is_device(CUmemorytype t, CUdeviceptr dev, const void *host, uint64_t *addr) {
  if (t == CU_MEMORYTYPE_UNIFIED) {
    *addr = dev;
    return avec_is_device_ptr(dev);
  }
  if (t == CU_MEMORYTYPE_DEVICE) { *addr = dev; return 1; }
  *addr = (uint64_t)(uintptr_t)host;
  return 0;
}

static CUresult memcpy2d(const CUDA_MEMCPY2D *p, int async, CUstream s, int ptds) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  if (p->srcMemoryType == CU_MEMORYTYPE_ARRAY || p->dstMemoryType == CU_MEMORYTYPE_ARRAY) {
    CUDA_MEMCPY3D c = {0};
    c.srcXInBytes = p->srcXInBytes;
    c.srcY = p->srcY;
    c.srcMemoryType = p->srcMemoryType;
    c.srcHost = p->srcHost;
    c.srcDevice = p->srcDevice;
    c.srcArray = p->srcArray;
    c.srcPitch = p->srcPitch;
    c.dstXInBytes = p->dstXInBytes;
    c.dstY = p->dstY;
    c.dstMemoryType = p->dstMemoryType;
    c.dstHost = p->dstHost;
    c.dstDevice = p->dstDevice;
    c.dstArray = p->dstArray;
    c.dstPitch = p->dstPitch;
    c.WidthInBytes = p->WidthInBytes;
    c.Height = p->Height;
    c.Depth = 1;
    return avec_memcpy_array(&c, async, s, ptds);
  }
  uint64_t w = p->WidthInBytes, h = p->Height;
  if (!w || !h) return CUDA_SUCCESS;
  uint64_t sbase, dbase;
  int sdev = side_is_device(p->srcMemoryType, p->srcDevice, p->srcHost, &sbase);
  int ddev = side_is_device(p->dstMemoryType, p->dstDevice, p->dstHost, &dbase);
  uint64_t spitch = p->srcPitch ? p->srcPitch : w, dpitch = p->dstPitch ? p->dstPitch : w;
  if ((h > 1 && (spitch < w || dpitch < w))) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_copy_side_fits(p->srcPitch, 0, p->srcXInBytes, 0, w, h) ||
      !avec_copy_side_fits(p->dstPitch, 0, p->dstXInBytes, 0, w, h))
    return CUDA_ERROR_INVALID_VALUE;
  uint64_t src = sbase + p->srcY * spitch + p->srcXInBytes, dst = dbase + p->dstY * dpitch + p->dstXInBytes;
  if ((sdev && avec_check_dev(src, (h - 1) * spitch + w)) || (ddev && avec_check_dev(dst, (h - 1) * dpitch + w)))
    return CUDA_ERROR_INVALID_VALUE;
  avec_memcpy2d a = {0};
  if (avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
  uint32_t fl = async ? AVEC_F_ASYNC : 0;
  if (sdev && ddev) {
    a.dst = dst; a.dst_pitch = dpitch; a.src = src; a.src_pitch = spitch; a.width = w; a.height = h;
    return avec_post(AVEC_OP_MEMCPY2D_DTOD, fl, &a, sizeof a, NULL, 0);
  }
  if (!sdev && !ddev) {
    for (uint64_t y = 0; y < h; y++)
      memmove((char *)(uintptr_t)(dst + y * dpitch), (const char *)(uintptr_t)(src + y * spitch), w);
    return CUDA_SUCCESS;
  }
  /* Host side packed in groups of rows of at most one chunk (at least one row). */
  uint64_t rows = w >= AVEC_CHUNK ? 1 : AVEC_CHUNK / w;
  if (w > AVEC_MAX_PAYLOAD - sizeof a) {
    /* rows wider than a frame: row by row as linear copies */
    for (uint64_t y = 0; y < h && !r; y++)
      r = ddev ? avec_htod(dst + y * dpitch, (const void *)(uintptr_t)(src + y * spitch), w, async, s, ptds)
               : avec_dtoh((void *)(uintptr_t)(dst + y * dpitch), src + y * spitch, w, async, s, ptds);
    return r;
  }
  char *tmp = malloc(rows * w);
  if (!tmp) return CUDA_ERROR_OUT_OF_MEMORY;
  for (uint64_t y0 = 0; y0 < h && !r; y0 += rows) {
    uint64_t n = h - y0 < rows ? h - y0 : rows;
    a.width = w;
    a.height = n;
    if (ddev) {
      for (uint64_t y = 0; y < n; y++) memcpy(tmp + y * w, (const char *)(uintptr_t)(src + (y0 + y) * spitch), w);
      a.dst = dst + y0 * dpitch; a.dst_pitch = dpitch;
      r = avec_post(AVEC_OP_MEMCPY2D_HTOD, fl, &a, sizeof a, tmp, n * w);
    } else {
      a.dst = src + y0 * spitch; a.dst_pitch = spitch; /* DTOH: the device side travels in dst/dst_pitch */
      r = avec_result(avec_conn_call_into(&avec_sess.conn, AVEC_OP_MEMCPY2D_DTOH, fl, avec_ctx_wire(), &a, sizeof a,
                                          tmp, n * w));
      if (!r)
        for (uint64_t y = 0; y < n; y++) memcpy((char *)(uintptr_t)(dst + (y0 + y) * dpitch), tmp + y * w, w);
    }
  }
  free(tmp);
  return r;
}

PAIR(cuMemcpy2D_v2, cuMemcpy2D_v2_ptds, (const CUDA_MEMCPY2D *p), memcpy2d(p, 0, NULL, 0), memcpy2d(p, 0, NULL, 1))
PAIR(cuMemcpy2DUnaligned_v2, cuMemcpy2DUnaligned_v2_ptds, (const CUDA_MEMCPY2D *p), memcpy2d(p, 0, NULL, 0),
     memcpy2d(p, 0, NULL, 1))
PAIR(cuMemcpy2DAsync_v2, cuMemcpy2DAsync_v2_ptsz, (const CUDA_MEMCPY2D *p, CUstream s), memcpy2d(p, 1, s, 0),
     memcpy2d(p, 1, s, 1))

/* ---- 3D copies: slice by slice as 2D copies of linear memory, or one array copy ------------------------- */
static CUresult memcpy3d(const CUDA_MEMCPY3D *p, int async, CUstream s, int ptds) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  if (p->srcMemoryType == CU_MEMORYTYPE_ARRAY || p->dstMemoryType == CU_MEMORYTYPE_ARRAY || p->srcLOD || p->dstLOD)
    return avec_memcpy_array(p, async, s, ptds);
  size_t spitch = p->srcPitch ? p->srcPitch : p->WidthInBytes, dpitch = p->dstPitch ? p->dstPitch : p->WidthInBytes;
  size_t sheight = p->srcHeight ? p->srcHeight : p->Height, dheight = p->dstHeight ? p->dstHeight : p->Height;
  for (size_t z = 0; z < p->Depth; z++) {
    CUDA_MEMCPY2D c = {0};
    c.srcMemoryType = p->srcMemoryType;
    c.srcHost = p->srcHost;
    c.srcDevice = p->srcDevice;
    c.srcPitch = spitch;
    c.srcXInBytes = p->srcXInBytes;
    c.srcY = p->srcY + (p->srcZ + z) * sheight; /* slices are sheight rows apart */
    c.dstMemoryType = p->dstMemoryType;
    c.dstHost = p->dstHost;
    c.dstDevice = p->dstDevice;
    c.dstPitch = dpitch;
    c.dstXInBytes = p->dstXInBytes;
    c.dstY = p->dstY + (p->dstZ + z) * dheight;
    c.WidthInBytes = p->WidthInBytes;
    c.Height = p->Height;
    CUresult r = memcpy2d(&c, async, s, ptds);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

PAIR(cuMemcpy3D_v2, cuMemcpy3D_v2_ptds, (const CUDA_MEMCPY3D *p), memcpy3d(p, 0, NULL, 0), memcpy3d(p, 0, NULL, 1))
PAIR(cuMemcpy3DAsync_v2, cuMemcpy3DAsync_v2_ptsz, (const CUDA_MEMCPY3D *p, CUstream s), memcpy3d(p, 1, s, 0),
     memcpy3d(p, 1, s, 1))
