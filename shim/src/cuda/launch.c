/* Kernel launches (fire-and-forget), parameter packing from the cached (offset, size) table, function and
 * kernel attributes (read from the cache, writes forwarded), names, parameter info and occupancy. */
#include <string.h>

#include "shim_cuda.h"

struct CUfunc_st *avec_func_from(CUfunction f) {
  return f && f->magic == AVEC_MAGIC_FUNC ? f : NULL;
}

int avec_pack_params(const struct CUfunc_st *f, void **args, void **extra, uint8_t *out, size_t cap) {
  /* without the function's layout only a buffer the program packed itself (extra) can travel */
  if (f->params_unknown && (args || !extra)) return 0;
  if (args) {
    if (f->param_bytes > cap) return -1;
    memset(out, 0, f->param_bytes);
    for (uint32_t i = 0; i < f->num_params; i++) {
      if (!args[i]) return -1;
      memcpy(out + f->params[i].offset, args[i], f->params[i].size);
    }
    return (int)f->param_bytes;
  }
  if (extra) {
    const void *buf = NULL;
    size_t size = 0;
    int have_size = 0;
    for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) buf = extra[i + 1];
      else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) { size = *(const size_t *)extra[i + 1]; have_size = 1; }
      else return -1;
    }
    if (!buf || !have_size || size > cap) return -1;
    memcpy(out, buf, size);
    return (int)size;
  }
  return f->num_params == 0 ? 0 : -1;
}

/* Launch configuration errors come back from the launch itself, as with the driver: everything needed is
 * known here (device limits from HELLO, the function's attributes from GET_FUNCTION and the values this
 * client set). A limit that reads 0 is unknown and not enforced. */
CUresult avec_check_geometry(const struct CUfunc_st *f, const int32_t *dev, const unsigned grid[3],
                             const unsigned block[3], unsigned smem) {
  static const CUdevice_attribute gmax[3] = {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
                                             CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z};
  static const CUdevice_attribute bmax[3] = {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y,
                                             CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z};
  for (int i = 0; i < 3; i++) {
    if (!grid[i] || !block[i]) return CUDA_ERROR_INVALID_VALUE;
    if (dev[gmax[i]] > 0 && grid[i] > (unsigned)dev[gmax[i]]) return CUDA_ERROR_INVALID_VALUE;
    if (dev[bmax[i]] > 0 && block[i] > (unsigned)dev[bmax[i]]) return CUDA_ERROR_INVALID_VALUE;
  }
  uint64_t threads = (uint64_t)block[0] * block[1] * block[2];
  int32_t dmax = dev[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK], fmax = f->attrs[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
  if (dmax > 0 && threads > (uint64_t)dmax) return CUDA_ERROR_INVALID_VALUE;
  /* within the device limit but above what this kernel's registers allow: the driver's "too many resources" */
  if (fmax > 0 && threads > (uint64_t)fmax) return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
  int32_t smax = f->attrs[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES];
  if (smax > 0 && smem > (unsigned)smax) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

static CUresult launch(struct CUfunc_st *f, const unsigned grid[3], const unsigned block[3], unsigned smem,
                       CUstream s, void **args, void **extra, const CUlaunchAttribute *attrs, unsigned nattrs,
                       uint32_t flags, int ptsz) {
  CUcontext ctx;
  CUresult r = avec_ctx_require(&ctx);
  if (r) return r;
  if (!f) return CUDA_ERROR_INVALID_HANDLE;
  if ((r = avec_func_refresh(f))) return r;
  if (nattrs > AVEC_MAX_LAUNCH_ATTRS || (nattrs && !attrs)) return CUDA_ERROR_INVALID_VALUE;
  r = avec_check_geometry(f, avec_sess.dev[ctx->device].attrs, grid, block, smem);
  /* More threads than the function allows: the driver refuses it, with INVALID_VALUE when launch bounds
   * (.maxntid) set the limit and LAUNCH_OUT_OF_RESOURCES when registers do; only it can tell which, so the
   * launch goes and its own result is asked for (a query of the stream, which does not wait). */
  int ask_driver = r == CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
  if (r && !ask_driver) return r;
  struct {
    avec_launch l;
    avec_launch_attr a[AVEC_MAX_LAUNCH_ATTRS];
    uint8_t params[AVEC_MAX_PARAM_BYTES];
  } msg;
  avec_launch *l = &msg.l;
  memset(l, 0, sizeof *l);
  l->func = f->handle;
  if (avec_stream_wire(s, ptsz, &l->stream)) return CUDA_ERROR_INVALID_HANDLE;
  memcpy(l->grid, grid, sizeof l->grid);
  memcpy(l->block, block, sizeof l->block);
  l->shared_mem = smem;
  l->flags = flags;
  for (unsigned i = 0; i < nattrs; i++) {
    avec_launch_attr *w = &msg.a[i];
    memset(w, 0, sizeof *w);
    w->id = (uint32_t)attrs[i].id;
    memcpy(w->value, &attrs[i].value, sizeof w->value);
    if (attrs[i].id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT ||
        attrs[i].id == CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT) {
      CUevent e = attrs[i].value.programmaticEvent.event;
      if (!avec_event_valid(e)) return CUDA_ERROR_INVALID_HANDLE;
      uint64_t h = e->handle; /* event objects travel as their wire handle */
      memcpy(w->value, &h, sizeof h);
    }
    if (attrs[i].id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE && attrs[i].value.cooperative) l->flags |= 1;
  }
  l->num_attrs = nattrs;
  uint8_t *params = (uint8_t *)&msg.a[nattrs];
  int n = avec_pack_params(f, args, extra, params, AVEC_MAX_PARAM_BYTES);
  if (n < 0) return CUDA_ERROR_INVALID_VALUE;
  l->param_bytes = (uint32_t)n;
  LOG_DEBUG("launch %s grid %ux%ux%u block %ux%ux%u smem %u stream %u: %d param bytes, %u attrs%s", f->name, grid[0],
            grid[1], grid[2], block[0], block[1], block[2], smem, l->stream, n, nattrs, l->flags & 1 ? ", cooperative" : "");
  size_t len = sizeof *l + nattrs * sizeof(avec_launch_attr) + (size_t)n;
  avec_mapped_host_params(params, (size_t)n); /* pinned host addresses a kernel may dereference (UVA) */
  avec_mapped_launch(params, (size_t)n);      /* a kernel may read or write mapped host memory it is given */
  r = avec_post(AVEC_OP_LAUNCH, 0, &msg, len, NULL, 0);
  if (r || !ask_driver) return r;
  avec_handle q = {l->stream, 0};
  r = avec_call(AVEC_OP_STREAM_QUERY, 0, &q, sizeof q, NULL, 0);
  return r == CUDA_ERROR_NOT_READY ? CUDA_SUCCESS : r;
}

static CUresult launch_kernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                              unsigned bz, unsigned smem, CUstream s, void **args, void **extra, uint32_t flags,
                              int ptsz) {
  unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  return launch(avec_func_from(f), grid, block, smem, s, args, extra, NULL, 0, flags, ptsz);
}

AVEC_API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                 unsigned bz, unsigned smem, CUstream s, void **args, void **extra) {
  return launch_kernel(f, gx, gy, gz, bx, by, bz, smem, s, args, extra, 0, 0);
}
AVEC_API CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                      unsigned bz, unsigned smem, CUstream s, void **args, void **extra) {
  return launch_kernel(f, gx, gy, gz, bx, by, bz, smem, s, args, extra, 0, 1);
}
AVEC_API CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                            unsigned by, unsigned bz, unsigned smem, CUstream s, void **args) {
  return launch_kernel(f, gx, gy, gz, bx, by, bz, smem, s, args, NULL, 1, 0);
}
AVEC_API CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                                 unsigned by, unsigned bz, unsigned smem, CUstream s, void **args) {
  return launch_kernel(f, gx, gy, gz, bx, by, bz, smem, s, args, NULL, 1, 1);
}

static CUresult launch_ex(const CUlaunchConfig *c, CUfunction f, void **args, void **extra, int ptsz) {
  if (!c) return CUDA_ERROR_INVALID_VALUE;
  unsigned grid[3] = {c->gridDimX, c->gridDimY, c->gridDimZ}, block[3] = {c->blockDimX, c->blockDimY, c->blockDimZ};
  return launch(avec_func_from(f), grid, block, c->sharedMemBytes, c->hStream, args, extra, c->attrs, c->numAttrs, 0,
                ptsz);
}
AVEC_API CUresult cuLaunchKernelEx(const CUlaunchConfig *c, CUfunction f, void **args, void **extra) {
  return launch_ex(c, f, args, extra, 0);
}
AVEC_API CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *c, CUfunction f, void **args, void **extra) {
  return launch_ex(c, f, args, extra, 1);
}

/* ---- attributes, names, parameters ----------------------------------------------------------------------- */
AVEC_API CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction f) {
  struct CUfunc_st *fn = avec_func_from(f);
  if (!pi || (unsigned)attrib >= AVEC_FUNC_ATTR_SLOTS) return CUDA_ERROR_INVALID_VALUE;
  if (!fn) return CUDA_ERROR_INVALID_HANDLE;
  CUresult r = avec_func_described(fn);
  if (r) return r;
  *pi = fn->attrs[attrib];
  return CUDA_SUCCESS;
}

static CUresult set_attr(struct CUfunc_st *fn, uint32_t attrib, int value, uint16_t op) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!fn) return CUDA_ERROR_INVALID_HANDLE;
  if ((r = avec_func_refresh(fn))) return r;
  if (op == AVEC_OP_FUNC_SET_ATTRIBUTE) {
    if (attrib >= AVEC_FUNC_ATTR_SLOTS) return CUDA_ERROR_INVALID_VALUE;
    fn->attrs[attrib] = value;
  }
  avec_occupancy_invalidate(); /* a function's resources may have changed */
  avec_func_attr a = {fn->handle, attrib, value, 0};
  return avec_post(op, 0, &a, sizeof a, NULL, 0);
}

AVEC_API CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute attrib, int value) {
  return set_attr(avec_func_from(f), (uint32_t)attrib, value, AVEC_OP_FUNC_SET_ATTRIBUTE);
}
AVEC_API CUresult cuFuncSetCacheConfig(CUfunction f, CUfunc_cache config) {
  return set_attr(avec_func_from(f), 0, (int)config, AVEC_OP_FUNC_SET_CACHE_CONFIG);
}
AVEC_API CUresult cuFuncSetSharedMemConfig(CUfunction f, CUsharedconfig config) {
  return avec_func_from(f) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
AVEC_API CUresult cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel k, CUdevice dev) {
  return cuFuncGetAttribute(pi, attrib, (CUfunction)k);
}
AVEC_API CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int value, CUkernel k, CUdevice dev) {
  return set_attr(avec_func_from((CUfunction)k), (uint32_t)attrib, value, AVEC_OP_FUNC_SET_ATTRIBUTE);
}
AVEC_API CUresult cuKernelSetCacheConfig(CUkernel k, CUfunc_cache config, CUdevice dev) {
  return set_attr(avec_func_from((CUfunction)k), 0, (int)config, AVEC_OP_FUNC_SET_CACHE_CONFIG);
}

AVEC_API CUresult cuFuncGetName(const char **name, CUfunction f) {
  struct CUfunc_st *fn = avec_func_from(f);
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  if (!fn) return CUDA_ERROR_INVALID_HANDLE;
  *name = fn->name;
  return CUDA_SUCCESS;
}
AVEC_API CUresult cuKernelGetName(const char **name, CUkernel k) { return cuFuncGetName(name, (CUfunction)k); }

AVEC_API CUresult cuFuncGetParamInfo(CUfunction f, size_t index, size_t *offset, size_t *size) {
  struct CUfunc_st *fn = avec_func_from(f);
  if (!fn) return CUDA_ERROR_INVALID_HANDLE;
  CUresult r = avec_func_described(fn);
  if (r) return r;
  if (fn->params_unknown) return CUDA_ERROR_NOT_SUPPORTED;
  if (index >= fn->num_params) return CUDA_ERROR_INVALID_VALUE;
  if (offset) *offset = fn->params[index].offset;
  if (size) *size = fn->params[index].size;
  return CUDA_SUCCESS;
}
AVEC_API CUresult cuKernelGetParamInfo(CUkernel k, size_t index, size_t *offset, size_t *size) {
  return cuFuncGetParamInfo((CUfunction)k, index, offset, size);
}

AVEC_API CUresult cuFuncIsLoaded(CUfunctionLoadingState *state, CUfunction f) {
  if (!state) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_func_from(f)) return CUDA_ERROR_INVALID_HANDLE;
  *state = CU_FUNCTION_LOADING_STATE_LOADED;
  return CUDA_SUCCESS;
}
AVEC_API CUresult cuFuncLoad(CUfunction f) { return avec_func_from(f) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }

