/* Contexts: primary contexts (handles 1..N on the wire), created contexts (client-chosen handles) and the
 * per-thread current-context stack; all state is local, only create/destroy/reset/synchronize and limits
 * reach the server. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

struct CUctx_st avec_primary[AVEC_MAX_DEVICES];
static pthread_mutex_t primary_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ctx_ids = 1;

#define STACK_MAX 64
static __thread CUcontext tls_stack[STACK_MAX];
static __thread int tls_depth;

static void primary_setup(int dev) {
  struct CUctx_st *c = &avec_primary[dev];
  if (c->magic == AVEC_MAGIC_CTX) return;
  c->handle = avec_sess.wire_dev[dev] + 1;
  c->device = dev;
  c->primary = 1;
  c->id = __atomic_fetch_add(&ctx_ids, 1, __ATOMIC_RELAXED);
  pthread_mutex_init(&c->cls_lock, NULL);
  __atomic_store_n(&c->magic, AVEC_MAGIC_CTX, __ATOMIC_RELEASE);
}

/* The primary context object of a device, without retaining it (export table CUDART_INTERFACE slot 2). */
CUcontext avec_primary_handle(int dev) {
  pthread_mutex_lock(&primary_lock);
  primary_setup(dev);
  pthread_mutex_unlock(&primary_lock);
  return &avec_primary[dev];
}

CUcontext avec_ctx_current(void) { return tls_depth ? tls_stack[tls_depth - 1] : NULL; }

uint32_t avec_ctx_wire(void) {
  CUcontext c = avec_ctx_current();
  return c ? c->handle : 0;
}

int avec_ctx_valid(CUcontext c) { return c && __atomic_load_n(&c->magic, __ATOMIC_ACQUIRE) == AVEC_MAGIC_CTX; }

CUresult avec_ctx_require(CUcontext *out) {
  CUresult r = avec_ready();
  if (r) return r;
  CUcontext c = avec_ctx_current();
  if (!c) return CUDA_ERROR_INVALID_CONTEXT;
  if (out) *out = c;
  return CUDA_SUCCESS;
}

/* ---- primary contexts ------------------------------------------------------------------------------- */
AVEC_API CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  pthread_mutex_lock(&primary_lock);
  primary_setup(dev);
  avec_primary[dev].refcount++;
  pthread_mutex_unlock(&primary_lock);
  *pctx = &avec_primary[dev];
  return CUDA_SUCCESS;
}

static CUresult primary_release(CUdevice dev) {
  CUresult r = avec_ready();
  if (r == CUDA_ERROR_NOT_INITIALIZED) return r;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  pthread_mutex_lock(&primary_lock);
  int ok = avec_primary[dev].refcount > 0;
  if (ok) avec_primary[dev].refcount--;
  pthread_mutex_unlock(&primary_lock);
  return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

#undef cuDevicePrimaryCtxRelease
AVEC_API CUresult cuDevicePrimaryCtxRelease(CUdevice dev) { return primary_release(dev); }
AVEC_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) { return primary_release(dev); }

static void limits_forget(void); /* context limits known here (below) */

static CUresult primary_reset(CUdevice dev) {
  CUresult r = avec_ready();
  if (r == CUDA_ERROR_NOT_INITIALIZED) return r;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  pthread_mutex_lock(&primary_lock);
  primary_setup(dev);
  pthread_mutex_unlock(&primary_lock);
  avec_cls_run_dtors(&avec_primary[dev]);
  avec_u32 a = {avec_sess.wire_dev[dev], 0};
  r = avec_result(avec_conn_call(&avec_sess.conn, AVEC_OP_PRIMARY_CTX_RESET, 0, avec_ctx_wire(), &a, sizeof a, NULL, 0,
                                 &(avec_reply_hdr){0}, sizeof(avec_reply_hdr), NULL));
  if (r == CUDA_SUCCESS) {
    /* resetting the primary context is the documented recovery from a sticky error */
    if (avec_sess.sticky && avec_sess.sticky != CUDA_ERROR_UNKNOWN) {
      LOG_INFO("primary context %d reset: sticky error %d cleared", (int)dev, (int)avec_sess.sticky);
      avec_sess.sticky = CUDA_SUCCESS;
    }
    pthread_mutex_lock(&primary_lock);
    avec_primary[dev].refcount = 0; /* inactive until retained again */
    pthread_mutex_unlock(&primary_lock);
  }
  /* the server freed the context's memory: forget it here too */
  size_t n = avec_ranges_remove_ctx(&avec_device_ranges, &avec_primary[dev], avec_release_reservation);
  avec_modules_after_reset();
  limits_forget();
  LOG_DEBUG("primary context %d reset: %zu device range(s) dropped", (int)dev, n);
  return r;
}

#undef cuDevicePrimaryCtxReset

AVEC_API CUresult cuDevicePrimaryCtxReset(CUdevice dev) { return primary_reset(dev); }
AVEC_API CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) { return primary_reset(dev); }

/* A program that schedules a context's waits BLOCKING_SYNC or YIELD asks not to burn a core while it waits
 * for the GPU: the session's reply waits then spin only briefly (process-wide: the connection is shared). */
static void note_sched(unsigned flags) {
  unsigned sched = flags & CU_CTX_SCHED_MASK;
  static int said;
  if (sched != CU_CTX_SCHED_BLOCKING_SYNC && sched != CU_CTX_SCHED_YIELD) return;
  avec_conn_spin_short(&avec_sess.conn);
  if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
    LOG_DEBUG("a context's waits are scheduled %s: reply waits spin at most %ld us from now on",
              sched == CU_CTX_SCHED_YIELD ? "YIELD" : "BLOCKING_SYNC", avec_sess.conn.reply_spin_ns / 1000);
}

static CUresult primary_set_flags(CUdevice dev, unsigned flags) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  pthread_mutex_lock(&primary_lock);
  primary_setup(dev);
  avec_primary[dev].flags = flags;
  pthread_mutex_unlock(&primary_lock);
  note_sched(flags);
  avec_u32x2 a = {avec_sess.wire_dev[dev], flags};
  return avec_call(AVEC_OP_PRIMARY_CTX_SET_FLAGS, 0, &a, sizeof a, NULL, 0);
}

#undef cuDevicePrimaryCtxSetFlags
AVEC_API CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned flags) { return primary_set_flags(dev, flags); }
AVEC_API CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned flags) { return primary_set_flags(dev, flags); }

AVEC_API CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active) {
  CUresult r = avec_ready();
  if (r == CUDA_ERROR_NOT_INITIALIZED) return r;
  if (!flags || !active) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  pthread_mutex_lock(&primary_lock);
  *flags = avec_primary[dev].flags;
  *active = avec_primary[dev].refcount > 0;
  pthread_mutex_unlock(&primary_lock);
  return CUDA_SUCCESS;
}

/* ---- current context -------------------------------------------------------------------------------- */
AVEC_API CUresult cuCtxGetCurrent(CUcontext *pctx) {
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_sess.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  *pctx = avec_ctx_current();
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxSetCurrent(CUcontext ctx) {
  if (!avec_sess.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (ctx && !avec_ctx_valid(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  if (!ctx) {
    if (tls_depth) tls_depth--;
  } else if (tls_depth) {
    tls_stack[tls_depth - 1] = ctx;
  } else {
    tls_stack[tls_depth++] = ctx;
  }
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxPushCurrent(CUcontext ctx) {
  if (!avec_sess.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (!avec_ctx_valid(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  if (tls_depth == STACK_MAX) return CUDA_ERROR_INVALID_VALUE;
  tls_stack[tls_depth++] = ctx;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxPopCurrent(CUcontext *pctx) {
  if (!avec_sess.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (!tls_depth) return CUDA_ERROR_INVALID_CONTEXT;
  CUcontext c = tls_stack[--tls_depth];
  if (pctx) *pctx = c;
  return CUDA_SUCCESS;
}

/* ---- created contexts ------------------------------------------------------------------------------- */
static CUresult ctx_create(CUcontext *pctx, unsigned flags, CUdevice dev) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  struct CUctx_st *c = calloc(1, sizeof *c);
  if (!c) return CUDA_ERROR_OUT_OF_MEMORY;
  c->handle = avec_new_handle();
  c->device = dev;
  c->flags = flags;
  note_sched(flags);
  c->id = __atomic_fetch_add(&ctx_ids, 1, __ATOMIC_RELAXED);
  pthread_mutex_init(&c->cls_lock, NULL);
  c->magic = AVEC_MAGIC_CTX;
  avec_ctx_create a = {c->handle, flags, avec_sess.wire_dev[dev], 0};
  r = avec_post(AVEC_OP_CTX_CREATE, 0, &a, sizeof a, NULL, 0);
  if (r) {
    free(c);
    return r;
  }
  cuCtxPushCurrent(c);
  *pctx = c;
  return CUDA_SUCCESS;
}

#undef cuCtxCreate
AVEC_API CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  return ctx_create(pctx, flags, dev);
}
AVEC_API CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *p, int n, unsigned int flags, CUdevice dev) {
  if (p && n > 0) LOG_WARN("cuCtxCreate_v3: execution affinity parameters ignored");
  return ctx_create(pctx, flags, dev);
}
AVEC_API CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *p, unsigned int flags, CUdevice dev) {
  if (p && (p->execAffinityParams || p->cigParams)) LOG_WARN("cuCtxCreate_v4: creation parameters ignored");
  return ctx_create(pctx, flags, dev);
}

AVEC_API CUresult cuCtxDestroy(CUcontext ctx) {
  CUresult r = avec_ready();
  if (r == CUDA_ERROR_NOT_INITIALIZED) return r;
  if (!avec_ctx_valid(ctx) || ctx->primary) return CUDA_ERROR_INVALID_CONTEXT;
  avec_cls_run_dtors(ctx);
  avec_handle a = {ctx->handle, 0};
  /* destroying a context is a recovery from its sticky error; the server re-reports it if the session
   * is still poisoned */
  if (avec_sess.sticky && avec_sess.sticky != CUDA_ERROR_UNKNOWN) avec_sess.sticky = CUDA_SUCCESS;
  r = avec_post(AVEC_OP_CTX_DESTROY, 0, &a, sizeof a, NULL, 0);
  /* the server drops what was loaded in that context; libraries must stay usable elsewhere */
  avec_modules_after_reset();
  limits_forget();
  avec_ranges_remove_ctx(&avec_device_ranges, ctx, avec_release_reservation);
  /* drop it from this thread's stack (other threads: their problem, as with the driver) */
  for (int i = 0; i < tls_depth; i++)
    if (tls_stack[i] == ctx) {
      memmove(&tls_stack[i], &tls_stack[i + 1], (size_t)(tls_depth - i - 1) * sizeof(CUcontext));
      tls_depth--;
      i--;
    }
  ctx->magic = 0; /* the object is leaked on purpose: stale handles must fail, not crash */
  return r;
}

/* ---- queries on the current context ----------------------------------------------------------------- */
AVEC_API CUresult cuCtxGetDevice(CUdevice *device) {
  if (!device) return CUDA_ERROR_INVALID_VALUE;
  CUcontext c;
  CUresult r = avec_ctx_require(&c);
  if (r) return r;
  *device = c->device;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx) {
  if (!ctx) return cuCtxGetDevice(device);
  if (!device) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_ctx_valid(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  *device = ctx->device;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxGetFlags(unsigned int *flags) {
  if (!flags) return CUDA_ERROR_INVALID_VALUE;
  CUcontext c;
  CUresult r = avec_ctx_require(&c);
  if (r) return r;
  *flags = c->flags | CU_CTX_MAP_HOST; /* driver 580 always reports MAP_HOST (measured) */
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxSetFlags(unsigned int flags) {
  CUcontext c;
  CUresult r = avec_ctx_require(&c);
  if (r) return r;
  c->flags = flags;
  note_sched(flags);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxGetId(CUcontext ctx, unsigned long long *id) {
  if (!id) return CUDA_ERROR_INVALID_VALUE;
  if (!ctx) ctx = avec_ctx_current();
  if (!avec_ctx_valid(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  *id = ctx->id;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version) {
  if (!version) return CUDA_ERROR_INVALID_VALUE;
  if (!ctx) ctx = avec_ctx_current();
  if (!avec_ctx_valid(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  *version = 3020;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxSynchronize(void) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_mapped_before_wait(1);
  if (!(r = avec_call(AVEC_OP_CTX_SYNCHRONIZE, 0, NULL, 0, NULL, 0))) avec_mapped_after_sync();
  return r;
}

AVEC_API CUresult cuCtxSynchronize_v2(CUcontext ctx) {
  if (!ctx) return cuCtxSynchronize();
  if (!avec_ctx_valid(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  CUresult r = avec_ready();
  if (r) return r;
  avec_mapped_before_wait(1);
  r = avec_result(avec_conn_call(&avec_sess.conn, AVEC_OP_CTX_SYNCHRONIZE, 0, ctx->handle, NULL, 0, NULL, 0,
                                 &(avec_reply_hdr){0}, sizeof(avec_reply_hdr), NULL));
  if (!r) avec_mapped_after_sync();
  return r;
}

/* Context limits read from the server are kept per context until this process sets a limit or resets or
 * destroys a context: only cuCtxSetLimit changes them, except the stack size, which the driver may raise by
 * itself when a launch needs more (never kept). cudart and the libraries read limits often (43 round trips
 * in the ResNet-50 + GPT-2 edge run before this). */
#define LIMIT_SLOTS 16
typedef struct limit_answer {
  CUcontext ctx;
  uint32_t gen; /* limit_gen when read; 0: empty */
  size_t value;
} limit_answer;
static limit_answer limits_known[LIMIT_SLOTS];
static uint32_t limit_gen = 1;
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;

static void limits_forget(void) {
  pthread_mutex_lock(&limit_lock);
  limit_gen = limit_gen + 1 ? limit_gen + 1 : 1;
  pthread_mutex_unlock(&limit_lock);
}

AVEC_API CUresult cuCtxSetLimit(CUlimit limit, size_t value) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_limit a = {(uint32_t)limit, 0, value};
  r = avec_call(AVEC_OP_CTX_SET_LIMIT, 0, &a, sizeof a, NULL, 0);
  limits_forget(); /* the driver may round the value, and one limit may move another */
  return r;
}

AVEC_API CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit) {
  if (!pvalue) return CUDA_ERROR_INVALID_VALUE;
  CUcontext ctx;
  CUresult r = avec_ctx_require(&ctx);
  if (r) return r;
  int keep = (unsigned)limit < LIMIT_SLOTS && limit != CU_LIMIT_STACK_SIZE;
  pthread_mutex_lock(&limit_lock);
  uint32_t gen = limit_gen;
  int hit = keep && limits_known[limit].gen == gen && limits_known[limit].ctx == ctx;
  if (hit) *pvalue = limits_known[limit].value;
  pthread_mutex_unlock(&limit_lock);
  if (hit) return CUDA_SUCCESS;
  avec_limit a = {(uint32_t)limit, 0, 0};
  struct { avec_reply_hdr h; avec_u64 v; } rep = {0};
  r = avec_call(AVEC_OP_CTX_GET_LIMIT, 0, &a, sizeof a, &rep, sizeof rep);
  if (r) return r;
  *pvalue = (size_t)rep.v.value;
  pthread_mutex_lock(&limit_lock);
  if (keep && gen == limit_gen) limits_known[limit] = (limit_answer){ctx, gen, *pvalue};
  pthread_mutex_unlock(&limit_lock);
  return CUDA_SUCCESS;
}

static CUfunc_cache cache_config = CU_FUNC_CACHE_PREFER_NONE;

AVEC_API CUresult cuCtxGetCacheConfig(CUfunc_cache *pconfig) {
  if (!pconfig) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  *pconfig = cache_config;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuCtxSetCacheConfig(CUfunc_cache config) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  cache_config = config;
  avec_occupancy_invalidate();
  avec_u32 a = {(uint32_t)config, 0};
  return avec_post(AVEC_OP_CTX_SET_CACHE_CONFIG, 0, &a, sizeof a, NULL, 0);
}

AVEC_API CUresult cuCtxGetStreamPriorityRange(int *least, int *greatest) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (least) *least = 0;
  if (greatest) *greatest = -5;
  return CUDA_SUCCESS;
}

