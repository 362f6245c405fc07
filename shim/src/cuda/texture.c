/* Texture and surface objects. Kernels receive the object's value as a parameter, so the value must be the
 * server driver's own: creation waits for it (one round trip); destruction does not. The descriptors the
 * program passed are kept here and the Get*Desc calls answered from them (they never change). Texture and
 * surface references (cuModuleGetTexRef/SurfRef, cuTexRef*) were removed from the CUDA 13 runtime; a
 * driver-API program that still asks for one is refused clearly. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

typedef struct object {
  uint64_t value;
  int surface;
  int has_view;
  CUDA_RESOURCE_DESC res;
  CUDA_TEXTURE_DESC tex;
  CUDA_RESOURCE_VIEW_DESC view;
  struct object *next;
} object;

static object *objects;
static pthread_mutex_t objects_lock = PTHREAD_MUTEX_INITIALIZER;

static CUresult wire_resource(const CUDA_RESOURCE_DESC *r, avec_resource_desc *w) {
  memset(w, 0, sizeof *w);
  w->type = (uint32_t)r->resType;
  w->flags = r->flags;
  switch (r->resType) {
    case CU_RESOURCE_TYPE_ARRAY:
      if (!avec_array_valid(r->res.array.hArray)) return CUDA_ERROR_INVALID_HANDLE;
      w->handle = r->res.array.hArray->handle;
      return CUDA_SUCCESS;
    case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY:
      if (!avec_mipmap_valid(r->res.mipmap.hMipmappedArray)) return CUDA_ERROR_INVALID_HANDLE;
      w->handle = r->res.mipmap.hMipmappedArray->handle;
      return CUDA_SUCCESS;
    case CU_RESOURCE_TYPE_LINEAR:
      w->dptr = r->res.linear.devPtr;
      w->format = (uint32_t)r->res.linear.format;
      w->channels = r->res.linear.numChannels;
      w->width = r->res.linear.sizeInBytes;
      return CUDA_SUCCESS;
    case CU_RESOURCE_TYPE_PITCH2D:
      w->dptr = r->res.pitch2D.devPtr;
      w->format = (uint32_t)r->res.pitch2D.format;
      w->channels = r->res.pitch2D.numChannels;
      w->width = r->res.pitch2D.width;
      w->height = r->res.pitch2D.height;
      w->pitch = r->res.pitch2D.pitchInBytes;
      return CUDA_SUCCESS;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

static CUresult create(unsigned long long *out, int surface, const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *tex,
                       const CUDA_RESOURCE_VIEW_DESC *view) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!out || !res || (!surface && !tex)) return CUDA_ERROR_INVALID_VALUE;
  avec_tex_create c = {0};
  if ((r = wire_resource(res, &c.res))) return r;
  if (tex) {
    c.has_tex = 1;
    for (int i = 0; i < 3; i++) c.tex.address_mode[i] = (uint32_t)tex->addressMode[i];
    c.tex.filter_mode = (uint32_t)tex->filterMode;
    c.tex.flags = tex->flags;
    c.tex.max_anisotropy = tex->maxAnisotropy;
    c.tex.mipmap_filter_mode = (uint32_t)tex->mipmapFilterMode;
    c.tex.mipmap_level_bias = tex->mipmapLevelBias;
    c.tex.min_mipmap_level_clamp = tex->minMipmapLevelClamp;
    c.tex.max_mipmap_level_clamp = tex->maxMipmapLevelClamp;
    memcpy(c.tex.border_color, tex->borderColor, sizeof c.tex.border_color);
  }
  if (view) {
    c.has_view = 1;
    c.view = (avec_view_desc){(uint32_t)view->format, 0, view->width, view->height, view->depth,
                              view->firstMipmapLevel, view->lastMipmapLevel, view->firstLayer, view->lastLayer};
  }
  object *o = calloc(1, sizeof *o);
  if (!o) return CUDA_ERROR_OUT_OF_MEMORY;
  struct { avec_reply_hdr h; avec_u64 v; } rep;
  if ((r = avec_call(surface ? AVEC_OP_SURF_CREATE : AVEC_OP_TEX_CREATE, 0, &c, sizeof c, &rep, sizeof rep))) {
    free(o);
    return r;
  }
  o->value = rep.v.value;
  o->surface = surface;
  o->res = *res;
  if (tex) o->tex = *tex;
  if (view) o->view = *view;
  o->has_view = view != NULL;
  pthread_mutex_lock(&objects_lock);
  o->next = objects;
  objects = o;
  pthread_mutex_unlock(&objects_lock);
  *out = o->value;
  return CUDA_SUCCESS;
}

static CUresult destroy(uint64_t value, int surface) {
  CUresult r = avec_ready();
  if (r) return r;
  pthread_mutex_lock(&objects_lock);
  object **pp = &objects;
  while (*pp && !((*pp)->value == value && (*pp)->surface == surface)) pp = &(*pp)->next;
  object *o = *pp;
  if (o) *pp = o->next;
  pthread_mutex_unlock(&objects_lock);
  if (!o) return CUDA_ERROR_INVALID_VALUE;
  free(o);
  avec_u64 a = {value};
  return avec_post(surface ? AVEC_OP_SURF_DESTROY : AVEC_OP_TEX_DESTROY, 0, &a, sizeof a, NULL, 0);
}

/* Copies what `what` selects (0 resource, 1 texture, 2 view) of a live object out. */
static CUresult describe(uint64_t value, int surface, int what, void *out) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  r = CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&objects_lock);
  for (object *o = objects; o; o = o->next) {
    if (o->value != value || o->surface != surface) continue;
    if (what == 0) memcpy(out, &o->res, sizeof o->res);
    else if (what == 1) memcpy(out, &o->tex, sizeof o->tex);
    else if (o->has_view) memcpy(out, &o->view, sizeof o->view);
    else break; /* made without a view */
    r = CUDA_SUCCESS;
    break;
  }
  pthread_mutex_unlock(&objects_lock);
  return r;
}

AVEC_API CUresult cuTexObjectCreate(CUtexObject *out, const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *tex,
                                    const CUDA_RESOURCE_VIEW_DESC *view) {
  return create(out, 0, res, tex, view);
}
AVEC_API CUresult cuTexObjectDestroy(CUtexObject t) { return destroy(t, 0); }
AVEC_API CUresult cuTexObjectGetResourceDesc(CUDA_RESOURCE_DESC *out, CUtexObject t) { return describe(t, 0, 0, out); }
AVEC_API CUresult cuTexObjectGetTextureDesc(CUDA_TEXTURE_DESC *out, CUtexObject t) { return describe(t, 0, 1, out); }
AVEC_API CUresult cuTexObjectGetResourceViewDesc(CUDA_RESOURCE_VIEW_DESC *out, CUtexObject t) {
  return describe(t, 0, 2, out);
}

AVEC_API CUresult cuSurfObjectCreate(CUsurfObject *out, const CUDA_RESOURCE_DESC *res) {
  return create(out, 1, res, NULL, NULL);
}
AVEC_API CUresult cuSurfObjectDestroy(CUsurfObject s) { return destroy(s, 1); }
AVEC_API CUresult cuSurfObjectGetResourceDesc(CUDA_RESOURCE_DESC *out, CUsurfObject s) { return describe(s, 1, 0, out); }

/* ---- texture and surface references: the only ways to get one are refused ------------------------------- */
AVEC_API CUresult cuModuleGetTexRef(CUtexref *out, CUmodule m, const char *name) {
  static int warned;
  return (CUresult)avec_unsupported("cuModuleGetTexRef (texture references, removed from the CUDA 13 runtime, are "
                                    "not offered remotely; use texture objects)", &warned);
}
AVEC_API CUresult cuModuleGetSurfRef(CUsurfref *out, CUmodule m, const char *name) {
  static int warned;
  return (CUresult)avec_unsupported("cuModuleGetSurfRef (surface references, removed from the CUDA 13 runtime, are "
                                    "not offered remotely; use surface objects)", &warned);
}
AVEC_API CUresult cuTexRefCreate(CUtexref *out) {
  static int warned;
  return (CUresult)avec_unsupported("cuTexRefCreate (texture references, removed from the CUDA 13 runtime, are not "
                                    "offered remotely; use texture objects)", &warned);
}
