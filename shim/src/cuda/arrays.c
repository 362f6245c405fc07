/* CUDA arrays and mipmapped arrays. They live on the server under client-chosen handles; creation waits
 * for the server's answer (the driver may refuse a descriptor or run out of memory), destruction does not.
 * The descriptor never changes, so the Get*Descriptor calls are answered here. A level of a mipmapped
 * array is fetched once (its descriptor comes with it) and goes with its mipmapped array. Destroyed
 * handles stay allocated with their magic cleared, so a stale handle is recognised as invalid.
 * Sparse arrays, memory requirements and planes (multi-planar formats) are refused: none is offered. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

static pthread_mutex_t arrays_lock = PTHREAD_MUTEX_INITIALIZER;

int avec_array_valid(CUarray a) { return a && a->magic == AVEC_MAGIC_ARRAY; }
int avec_mipmap_valid(CUmipmappedArray m) { return m && m->magic == AVEC_MAGIC_MIPMAP; }

uint64_t avec_array_shape(CUarray a, uint64_t *rows, uint64_t *slices) {
  const CUDA_ARRAY3D_DESCRIPTOR *d = &a->desc;
  *rows = d->Height ? d->Height : 1;
  *slices = d->Depth ? d->Depth : 1;
  unsigned ch = d->NumChannels;
  if (ch != 1 && ch != 2 && ch != 4) return 0;
  return (uint64_t)d->Width * avec_array_format_bytes((uint32_t)d->Format) * ch;
}

static avec_array_desc wire_desc(const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned levels) {
  avec_array_desc w = {d->Width, d->Height, d->Depth, (uint32_t)d->Format, d->NumChannels, d->Flags, levels};
  return w;
}

static CUresult create(uint16_t op, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned levels, uint32_t *handle) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_array_create c = {avec_new_handle(), 0, wire_desc(d, levels)};
  avec_reply_hdr rep;
  if ((r = avec_call(op, 0, &c, sizeof c, &rep, sizeof rep))) return r;
  *handle = c.handle;
  return CUDA_SUCCESS;
}

static CUresult array_new(CUarray *out, const CUDA_ARRAY3D_DESCRIPTOR *d) {
  struct CUarray_st *a = calloc(1, sizeof *a);
  if (!a) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult r = create(AVEC_OP_ARRAY_CREATE, d, 0, &a->handle);
  if (r) {
    free(a);
    return r;
  }
  a->desc = *d;
  a->magic = AVEC_MAGIC_ARRAY;
  *out = a;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuArray3DCreate_v2(CUarray *out, const CUDA_ARRAY3D_DESCRIPTOR *d) {
  if (!out || !d) return CUDA_ERROR_INVALID_VALUE;
  return array_new(out, d);
}

AVEC_API CUresult cuArrayCreate_v2(CUarray *out, const CUDA_ARRAY_DESCRIPTOR *d) {
  if (!out || !d) return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY3D_DESCRIPTOR d3 = {d->Width, d->Height, 0, d->Format, d->NumChannels, 0};
  return array_new(out, &d3);
}

AVEC_API CUresult cuArrayDestroy(CUarray a) {
  CUresult r = avec_ready();
  if (r) return r;
  pthread_mutex_lock(&arrays_lock);
  int ok = avec_array_valid(a) && !a->mipmap;
  if (ok) a->magic = 0;
  pthread_mutex_unlock(&arrays_lock);
  if (!ok) return avec_array_valid(a) ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_INVALID_HANDLE;
  avec_handle h = {a->handle, 0};
  return avec_post(AVEC_OP_ARRAY_DESTROY, 0, &h, sizeof h, NULL, 0);
}

AVEC_API CUresult cuArray3DGetDescriptor_v2(CUDA_ARRAY3D_DESCRIPTOR *out, CUarray a) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_array_valid(a)) return CUDA_ERROR_INVALID_HANDLE;
  *out = a->desc;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuArrayGetDescriptor_v2(CUDA_ARRAY_DESCRIPTOR *out, CUarray a) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_array_valid(a)) return CUDA_ERROR_INVALID_HANDLE;
  if (a->desc.Depth) return CUDA_ERROR_INVALID_VALUE; /* a 3D or layered array: the driver refuses too */
  CUDA_ARRAY_DESCRIPTOR d = {a->desc.Width, a->desc.Height, a->desc.Format, a->desc.NumChannels};
  *out = d;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMipmappedArrayCreate(CUmipmappedArray *out, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned levels) {
  if (!out || !d || !levels) return CUDA_ERROR_INVALID_VALUE;
  struct CUmipmappedArray_st *m = calloc(1, sizeof *m);
  if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
  m->level = calloc(levels, sizeof *m->level);
  CUresult r = m->level ? create(AVEC_OP_MIPMAP_CREATE, d, levels, &m->handle) : CUDA_ERROR_OUT_OF_MEMORY;
  if (r) {
    free(m->level);
    free(m);
    return r;
  }
  m->desc = *d;
  m->levels = levels;
  m->magic = AVEC_MAGIC_MIPMAP;
  *out = m;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMipmappedArrayGetLevel(CUarray *out, CUmipmappedArray m, unsigned level) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_mipmap_valid(m)) return CUDA_ERROR_INVALID_HANDLE;
  if (level >= m->levels) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&arrays_lock); /* one handle per level, however many threads ask */
  struct CUarray_st *a = m->level[level];
  if (!a && (a = calloc(1, sizeof *a))) {
    avec_mipmap_level q = {m->handle, level, avec_new_handle(), 0};
    avec_array_desc_reply rep;
    if ((r = avec_call(AVEC_OP_MIPMAP_GET_LEVEL, 0, &q, sizeof q, &rep, sizeof rep))) {
      free(a);
      a = NULL;
    } else {
      CUDA_ARRAY3D_DESCRIPTOR d = {rep.desc.width, rep.desc.height, rep.desc.depth, (CUarray_format)rep.desc.format,
                                   rep.desc.channels, rep.desc.flags};
      *a = (struct CUarray_st){AVEC_MAGIC_ARRAY, q.handle, d, m};
      m->level[level] = a;
    }
  } else if (!a) {
    r = CUDA_ERROR_OUT_OF_MEMORY;
  }
  pthread_mutex_unlock(&arrays_lock);
  if (r) return r;
  *out = a;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuMipmappedArrayDestroy(CUmipmappedArray m) {
  CUresult r = avec_ready();
  if (r) return r;
  pthread_mutex_lock(&arrays_lock);
  int ok = avec_mipmap_valid(m);
  if (ok) {
    m->magic = 0;
    for (unsigned l = 0; l < m->levels; l++)
      if (m->level[l]) m->level[l]->magic = 0;
  }
  pthread_mutex_unlock(&arrays_lock);
  if (!ok) return CUDA_ERROR_INVALID_HANDLE;
  avec_handle h = {m->handle, 0};
  return avec_post(AVEC_OP_MIPMAP_DESTROY, 0, &h, sizeof h, NULL, 0);
}

/* ---- not offered --------------------------------------------------------------------------------------- */
AVEC_API CUresult cuArrayGetSparseProperties(CUDA_ARRAY_SPARSE_PROPERTIES *p, CUarray a) {
  static int warned;
  return (CUresult)avec_unsupported("cuArrayGetSparseProperties (sparse CUDA arrays are not offered remotely)", &warned);
}
AVEC_API CUresult cuMipmappedArrayGetSparseProperties(CUDA_ARRAY_SPARSE_PROPERTIES *p, CUmipmappedArray m) {
  static int warned;
  return (CUresult)avec_unsupported("cuMipmappedArrayGetSparseProperties (sparse CUDA arrays are not offered remotely)",
                                    &warned);
}
AVEC_API CUresult cuArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *p, CUarray a, CUdevice d) {
  static int warned;
  return (CUresult)avec_unsupported("cuArrayGetMemoryRequirements (deferred-mapping CUDA arrays are not offered "
                                    "remotely)", &warned);
}
AVEC_API CUresult cuMipmappedArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *p, CUmipmappedArray m,
                                                        CUdevice d) {
  static int warned;
  return (CUresult)avec_unsupported("cuMipmappedArrayGetMemoryRequirements (deferred-mapping CUDA arrays are not "
                                    "offered remotely)", &warned);
}
AVEC_API CUresult cuArrayGetPlane(CUarray *out, CUarray a, unsigned plane) {
  static int warned;
  return (CUresult)avec_unsupported("cuArrayGetPlane (multi-planar CUDA arrays are not offered remotely)", &warned);
}
