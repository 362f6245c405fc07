/* Copies to and from CUDA arrays: cuMemcpy2D/3D with an array on a side (memcpy-2d.c sends them here) and
 * the 1D cuMemcpy{HtoA,AtoH,DtoA,AtoD,AtoA}. Host bytes travel packed (rows of WidthInBytes, slice after
 * slice) in groups of at most one chunk, as for 2D copies of linear memory: host to array fire-and-forget
 * (the source snapshotted at call time), array to host one round trip per chunk. Device-side copies are one
 * fire-and-forget frame. Regions are checked here against the array's descriptor, so an out-of-range copy
 * fails at once, as with the driver, rather than at the next synchronisation. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

typedef struct side {
  int kind;            /* 0 host, 1 linear device memory, 2 array */
  const char *host;
  uint64_t dptr;
  CUarray array;
  uint64_t pitch, height, x, y, z;
} side;

static CUresult side_of(CUmemorytype t, const void *host, CUdeviceptr dev, CUarray arr, size_t pitch, size_t height,
                        size_t x, size_t y, size_t z, const CUDA_MEMCPY3D *p, side *s) {
  *s = (side){0, host, dev, arr, pitch ? pitch : p->WidthInBytes, height ? height : p->Height, x, y, z};
  if (t != CU_MEMORYTYPE_ARRAY && !avec_copy_side_fits(pitch, height, x, y, p->WidthInBytes, p->Height))
    return CUDA_ERROR_INVALID_VALUE;
  switch (t) {
    case CU_MEMORYTYPE_ARRAY: {
      if (!avec_array_valid(arr)) return CUDA_ERROR_INVALID_HANDLE;
      s->kind = 2;
      uint64_t rows, slices, row = avec_array_shape(arr, &rows, &slices);
      if (!row) return CUDA_SUCCESS; /* a format not laid out here: the server's driver checks the region */
      if (x > row || p->WidthInBytes > row - x || y > rows || p->Height > rows - y || z > slices ||
          p->Depth > slices - z)
        return CUDA_ERROR_INVALID_VALUE;
      return CUDA_SUCCESS;
    }
    case CU_MEMORYTYPE_UNIFIED:
      s->kind = avec_is_device_ptr(dev) ? 1 : 0;
      s->host = (const char *)(uintptr_t)dev;
      return CUDA_SUCCESS;
    case CU_MEMORYTYPE_DEVICE: s->kind = 1; return CUDA_SUCCESS;
    case CU_MEMORYTYPE_HOST: return host ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
}

/* Start offset and extent in bytes of the rows a copy touches on a linear side; -1 on overflow or a pitch
 * narrower than the rows. */
static int linear_extent(const side *s, const CUDA_MEMCPY3D *p, uint64_t *start, uint64_t *span) {
  uint64_t w = p->WidthInBytes, slice, t;
  if ((p->Height > 1 || p->Depth > 1) && s->pitch < w) return -1;
  if (p->Depth > 1 && s->height < p->Height) return -1;
  if (__builtin_mul_overflow(s->pitch, s->height, &slice) || __builtin_mul_overflow(s->z, slice, start) ||
      __builtin_mul_overflow(s->y, s->pitch, &t) || __builtin_add_overflow(*start, t, start) ||
      __builtin_add_overflow(*start, s->x, start) || __builtin_mul_overflow(p->Depth - 1, slice, span) ||
      __builtin_mul_overflow(p->Height - 1, s->pitch, &t) || __builtin_add_overflow(*span, t, span) ||
      __builtin_add_overflow(*span, w, span))
    return -1;
  return 0;
}

static void wire_side(const side *s, uint32_t *array, uint64_t *addr, uint64_t *pitch, uint64_t *height, uint64_t *x,
                      uint64_t *y, uint64_t *z) {
  *array = s->kind == 2 ? s->array->handle : 0;
  *addr = s->dptr;
  *pitch = s->pitch;
  *height = s->height;
  *x = s->x;
  *y = s->y;
  *z = s->z;
}

/* Host side <-> array in groups of whole slices (when a slice fits a chunk) or of rows of one slice. */
static CUresult host_copy(const side *hs, avec_array_copy *a, int to_array, uint32_t fl, const CUDA_MEMCPY3D *p) {
  uint64_t w = p->WidthInBytes, h = p->Height, d = p->Depth, slice = w * h;
  if (w > AVEC_MAX_PAYLOAD - sizeof *a - sizeof(avec_frame_hdr)) return CUDA_ERROR_INVALID_VALUE; /* no array is that wide */
  uint64_t kz = slice <= AVEC_CHUNK ? AVEC_CHUNK / slice : 1, ky = slice <= AVEC_CHUNK ? h : (w >= AVEC_CHUNK ? 1 : AVEC_CHUNK / w);
  if (kz > d) kz = d;
  char *tmp = malloc(kz * ky * w);
  if (!tmp) return CUDA_ERROR_OUT_OF_MEMORY;
  uint64_t y_base = to_array ? a->dst_y : a->src_y, z_base = to_array ? a->dst_z : a->src_z;
  CUresult r = CUDA_SUCCESS;
  for (uint64_t z0 = 0; z0 < d && !r; z0 += kz) {
    uint64_t nz = d - z0 < kz ? d - z0 : kz;
    for (uint64_t y0 = 0; y0 < h && !r; y0 += ky) {
      uint64_t ny = h - y0 < ky ? h - y0 : ky;
      a->width = w;
      a->height = ny;
      a->depth = nz;
      *(to_array ? &a->dst_y : &a->src_y) = y_base + y0;
      *(to_array ? &a->dst_z : &a->src_z) = z_base + z0;
#define HOST_ROW(zz, yy) (hs->host + ((hs->z + z0 + (zz)) * hs->height + hs->y + y0 + (yy)) * hs->pitch + hs->x)
      if (to_array) {
        for (uint64_t zz = 0; zz < nz; zz++)
          for (uint64_t yy = 0; yy < ny; yy++) memcpy(tmp + (zz * ny + yy) * w, HOST_ROW(zz, yy), w);
        r = avec_post(AVEC_OP_MEMCPY_HTOA, fl, a, sizeof *a, tmp, nz * ny * w);
      } else {
        r = avec_result(avec_conn_call_into(&avec_sess.conn, AVEC_OP_MEMCPY_ATOH, fl, avec_ctx_wire(), a, sizeof *a, tmp,
                                            nz * ny * w));
        for (uint64_t zz = 0; zz < nz && !r; zz++)
          for (uint64_t yy = 0; yy < ny; yy++) memcpy((char *)HOST_ROW(zz, yy), tmp + (zz * ny + yy) * w, w);
      }
#undef HOST_ROW
    }
  }
  free(tmp);
  return r;
}

CUresult avec_memcpy_array(const CUDA_MEMCPY3D *p, int async, CUstream s, int ptds) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!p || p->srcLOD || p->dstLOD) return CUDA_ERROR_INVALID_VALUE; /* reserved: must be 0 */
  if (!p->WidthInBytes || !p->Height || !p->Depth) return CUDA_SUCCESS;
  side sd[2]; /* source, destination */
  if ((r = side_of(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcPitch, p->srcHeight, p->srcXInBytes,
                   p->srcY, p->srcZ, p, &sd[0])) ||
      (r = side_of(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstPitch, p->dstHeight, p->dstXInBytes,
                   p->dstY, p->dstZ, p, &sd[1])))
    return r;
  avec_array_copy a = {0};
  if (avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
  uint32_t fl = async ? AVEC_F_ASYNC : 0;
  uint64_t start[2] = {0, 0}, span[2] = {0, 0};
  for (int i = 0; i < 2; i++) /* linear device sides lie inside one known allocation */
    if (sd[i].kind == 1 && (linear_extent(&sd[i], p, &start[i], &span[i]) || avec_check_dev(sd[i].dptr + start[i], span[i])))
      return CUDA_ERROR_INVALID_VALUE;
  wire_side(&sd[0], &a.src_array, &a.src, &a.src_pitch, &a.src_height, &a.src_x, &a.src_y, &a.src_z);
  wire_side(&sd[1], &a.dst_array, &a.dst, &a.dst_pitch, &a.dst_height, &a.dst_x, &a.dst_y, &a.dst_z);
  if (sd[0].kind && sd[1].kind) {
    a.width = p->WidthInBytes;
    a.height = p->Height;
    a.depth = p->Depth;
    for (int i = 0; i < 2; i++)
      if (sd[i].kind == 1) avec_mapped_range(sd[i].dptr + start[i], span[i], i == 0, i == 1);
    return avec_post(AVEC_OP_MEMCPY_ARRAY, fl, &a, sizeof a, NULL, 0);
  }
  if (sd[0].kind == 0 && sd[1].kind == 0) return CUDA_ERROR_INVALID_VALUE; /* not an array copy */
  int h = sd[0].kind ? 1 : 0; /* the host side */
  if (sd[1 - h].kind != 2) return CUDA_ERROR_INVALID_VALUE; /* host <-> linear memory is memcpy-2d.c's */
  if (linear_extent(&sd[h], p, &start[h], &span[h])) return CUDA_ERROR_INVALID_VALUE;
  return host_copy(&sd[h], &a, h == 0, fl, p);
}

/* ---- 1D copies: the array read as its rows one after another ------------------------------------------- */

/* Copies n bytes at linear offset `off` of array `arr` to/from `o` (host or device side at its offset), as
 * pieces that each stay in one slice: a partial row, then whole rows. */
static CUresult linear_array(CUarray arr, size_t off, CUmemorytype ot, const void *ohost, CUdeviceptr odev,
                             CUarray oarr, size_t ooff, size_t n, int to_array, int async, CUstream s, int ptds) {
  if (!avec_array_valid(arr) || (ot == CU_MEMORYTYPE_ARRAY && !avec_array_valid(oarr))) return CUDA_ERROR_INVALID_HANDLE;
  uint64_t rows, slices, rb = avec_array_shape(arr, &rows, &slices), orows = 0, oslices = 0, orb = 0;
  if (!rb) return CUDA_ERROR_NOT_SUPPORTED;
  if (ot == CU_MEMORYTYPE_ARRAY && !(orb = avec_array_shape(oarr, &orows, &oslices))) return CUDA_ERROR_NOT_SUPPORTED;
  if (off > rb * rows * slices || n > rb * rows * slices - off ||
      (orb && (ooff > orb * orows * oslices || n > orb * orows * oslices - ooff)))
    return CUDA_ERROR_INVALID_VALUE;
  CUresult r = CUDA_SUCCESS;
  for (size_t done = 0; done < n && !r;) {
    uint64_t at = off + done, x = at % rb, row = at / rb, len = n - done, k = 1;
    if (x || len < rb) len = len < rb - x ? len : rb - x;
    else {
      k = len / rb < rows - row % rows ? len / rb : rows - row % rows; /* whole rows, not past the slice */
      len = rb;
    }
    if (orb) { /* array to array: one row piece that also stays in one row of the other array */
      uint64_t oat = ooff + done, ox = oat % orb;
      k = 1;
      len = len < orb - ox ? len : orb - ox;
      len = len < rb - x ? len : rb - x;
    }
    CUDA_MEMCPY3D c = {0};
    c.WidthInBytes = len;
    c.Height = k;
    c.Depth = 1;
    size_t *ax = to_array ? &c.dstXInBytes : &c.srcXInBytes, *ay = to_array ? &c.dstY : &c.srcY,
           *az = to_array ? &c.dstZ : &c.srcZ;
    *ax = x;
    *ay = row % rows;
    *az = row / rows;
    if (to_array) { c.dstMemoryType = CU_MEMORYTYPE_ARRAY; c.dstArray = arr; }
    else { c.srcMemoryType = CU_MEMORYTYPE_ARRAY; c.srcArray = arr; }
    CUmemorytype *mt = to_array ? &c.srcMemoryType : &c.dstMemoryType;
    *mt = ot;
    if (ot == CU_MEMORYTYPE_ARRAY) {
      uint64_t oat = ooff + done;
      *(to_array ? &c.srcArray : &c.dstArray) = oarr;
      *(to_array ? &c.srcXInBytes : &c.dstXInBytes) = oat % orb;
      *(to_array ? &c.srcY : &c.dstY) = (oat / orb) % orows;
      *(to_array ? &c.srcZ : &c.dstZ) = oat / orb / orows;
    } else if (to_array) {
      if (ot == CU_MEMORYTYPE_HOST) c.srcHost = (const char *)ohost + done;
      else c.srcDevice = odev + done;
      c.srcPitch = rb;
    } else {
      if (ot == CU_MEMORYTYPE_HOST) c.dstHost = (char *)ohost + done;
      else c.dstDevice = odev + done;
      c.dstPitch = rb;
    }
    r = avec_memcpy_array(&c, async, s, ptds);
    done += len * k;
  }
  return r;
}

#define PAIR(name, ptname, proto, body0, body1) \
  AVEC_API CUresult name proto { return body0; } \
  AVEC_API CUresult ptname proto { return body1; }

PAIR(cuMemcpyHtoA_v2, cuMemcpyHtoA_v2_ptds, (CUarray a, size_t off, const void *src, size_t n),
     linear_array(a, off, CU_MEMORYTYPE_HOST, src, 0, NULL, 0, n, 1, 0, NULL, 0),
     linear_array(a, off, CU_MEMORYTYPE_HOST, src, 0, NULL, 0, n, 1, 0, NULL, 1))
PAIR(cuMemcpyAtoH_v2, cuMemcpyAtoH_v2_ptds, (void *dst, CUarray a, size_t off, size_t n),
     linear_array(a, off, CU_MEMORYTYPE_HOST, dst, 0, NULL, 0, n, 0, 0, NULL, 0),
     linear_array(a, off, CU_MEMORYTYPE_HOST, dst, 0, NULL, 0, n, 0, 0, NULL, 1))
PAIR(cuMemcpyHtoAAsync_v2, cuMemcpyHtoAAsync_v2_ptsz, (CUarray a, size_t off, const void *src, size_t n, CUstream s),
     linear_array(a, off, CU_MEMORYTYPE_HOST, src, 0, NULL, 0, n, 1, 1, s, 0),
     linear_array(a, off, CU_MEMORYTYPE_HOST, src, 0, NULL, 0, n, 1, 1, s, 1))
PAIR(cuMemcpyAtoHAsync_v2, cuMemcpyAtoHAsync_v2_ptsz, (void *dst, CUarray a, size_t off, size_t n, CUstream s),
     linear_array(a, off, CU_MEMORYTYPE_HOST, dst, 0, NULL, 0, n, 0, 1, s, 0),
     linear_array(a, off, CU_MEMORYTYPE_HOST, dst, 0, NULL, 0, n, 0, 1, s, 1))
PAIR(cuMemcpyDtoA_v2, cuMemcpyDtoA_v2_ptds, (CUarray a, size_t off, CUdeviceptr src, size_t n),
     linear_array(a, off, CU_MEMORYTYPE_DEVICE, NULL, src, NULL, 0, n, 1, 0, NULL, 0),
     linear_array(a, off, CU_MEMORYTYPE_DEVICE, NULL, src, NULL, 0, n, 1, 0, NULL, 1))
PAIR(cuMemcpyAtoD_v2, cuMemcpyAtoD_v2_ptds, (CUdeviceptr dst, CUarray a, size_t off, size_t n),
     linear_array(a, off, CU_MEMORYTYPE_DEVICE, NULL, dst, NULL, 0, n, 0, 0, NULL, 0),
     linear_array(a, off, CU_MEMORYTYPE_DEVICE, NULL, dst, NULL, 0, n, 0, 0, NULL, 1))
PAIR(cuMemcpyAtoA_v2, cuMemcpyAtoA_v2_ptds, (CUarray dst, size_t doff, CUarray src, size_t soff, size_t n),
     linear_array(dst, doff, CU_MEMORYTYPE_ARRAY, NULL, 0, src, soff, n, 1, 0, NULL, 0),
     linear_array(dst, doff, CU_MEMORYTYPE_ARRAY, NULL, 0, src, soff, n, 1, 0, NULL, 1))
