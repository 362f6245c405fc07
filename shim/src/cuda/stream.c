/* Streams: client-chosen handles (>= 16; 0 = legacy NULL stream, 1 = per-thread default), created and
 * destroyed fire-and-forget; synchronize/query wait for the server. Host callbacks run here, in stream
 * order: the stream is synchronized first, then the callback runs on the calling thread; a host function
 * launched into a capturing stream becomes a host node the server calls back (host-callbacks.c). */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

int avec_stream_wire(CUstream s, int ptds, uint32_t *out) {
  if (!s) { *out = ptds ? AVEC_STREAM_PER_THREAD : AVEC_STREAM_LEGACY; return 0; }
  if (s == CU_STREAM_LEGACY) { *out = AVEC_STREAM_LEGACY; return 0; }
  if (s == CU_STREAM_PER_THREAD) { *out = AVEC_STREAM_PER_THREAD; return 0; }
  if (s->magic != AVEC_MAGIC_STREAM) return -1;
  *out = s->handle;
  return 0;
}

static CUresult create(CUstream *ph, unsigned flags, int priority) {
  CUcontext ctx;
  CUresult r = avec_ctx_require(&ctx);
  if (r) return r;
  if (!ph || (flags & ~1u)) return CUDA_ERROR_INVALID_VALUE;
  struct CUstream_st *s = calloc(1, sizeof *s);
  if (!s) return CUDA_ERROR_OUT_OF_MEMORY;
  if (priority > 0) priority = 0;
  if (priority < -5) priority = -5;
  *s = (struct CUstream_st){AVEC_MAGIC_STREAM, avec_new_handle(), ctx, flags, priority};
  avec_stream_create a = {s->handle, flags, priority, 0};
  r = avec_post(AVEC_OP_STREAM_CREATE, 0, &a, sizeof a, NULL, 0);
  if (r) { free(s); return r; }
  LOG_DEBUG("stream %u created (flags %u, priority %d)", s->handle, flags, priority);
  *ph = s;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuStreamCreate(CUstream *ph, unsigned int flags) { return create(ph, flags, 0); }
AVEC_API CUresult cuStreamCreateWithPriority(CUstream *ph, unsigned int flags, int priority) {
  return create(ph, flags, priority);
}

AVEC_API CUresult cuStreamDestroy_v2(CUstream s) {
  CUresult r = avec_ready();
  if (r == CUDA_ERROR_NOT_INITIALIZED) return r;
  if (!s || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD || s->magic != AVEC_MAGIC_STREAM)
    return CUDA_ERROR_INVALID_HANDLE;
  avec_handle a = {s->handle, 0};
  s->magic = 0; /* leaked on purpose: a stale handle must fail, not crash */
  return avec_post(AVEC_OP_STREAM_DESTROY, 0, &a, sizeof a, NULL, 0);
}

/* A device-to-host copy or a synchronize returns only when its stream has run everything before it. If
 * this thread's copy was the last frame sent to the server (by any thread) and succeeded, a synchronize or
 * query of the same stream in the same context that follows it has nothing to wait for and no error to hear
 * about: PyTorch's .item() and .cpu() pair a copy with a synchronize, one round trip instead of two.
 *
 * AVEC_SYNC_FENCE=1 (off by default; docs/semantics.md) goes further: when only host-to-device copies (and
 * frames that queue no device work: AVEC_OP_FENCE_QUIET) were sent since, the synchronize is answered here
 * too and a STREAM_FENCE follows the copies, so the server runs nothing sent later before the stream is
 * done. Uploading weights tensor by tensor (PyTorch's pageable .to("cuda") synchronizes after each) then
 * costs the link's bandwidth instead of a round trip per tensor. What differs from a local GPU: an error of
 * those copies (or a sticky one of earlier work) is reported by the next synchronous call, not by this one.
 * Not while mapped or managed memory exists (the host could look at what the copies changed) or after an
 * IPC handle was exchanged (another process could). */
static __thread struct { uint64_t frames, quiet; uint32_t stream, ctx; int valid; } drained;

static void note_drained(uint32_t wire, uint64_t frames, uint64_t quiet) {
  drained.frames = frames;
  drained.quiet = quiet;
  drained.stream = wire;
  drained.ctx = avec_ctx_wire();
  drained.valid = 1;
}

void avec_stream_drained(uint32_t wire) { note_drained(wire, avec_conn_request_seq, avec_conn_request_quiet); }

static int fence_enabled(void) {
  static int on = -1;
  if (on < 0) {
    const char *e = getenv("AVEC_SYNC_FENCE");
    on = e && !strcmp(e, "1");
  }
  return on;
}

/* 1: answered here (nothing to wait for, or fenced); 0: ask the server. */
static int answer_locally(uint32_t wire) {
  if (!drained.valid || drained.stream != wire || drained.ctx != avec_ctx_wire()) return 0;
  uint64_t frames, quiet;
  avec_conn_counts(&avec_sess.conn, &frames, &quiet);
  if (frames == drained.frames) return 1;
  if (!fence_enabled() || frames - drained.frames != quiet - drained.quiet || avec_mapped_any() ||
      __atomic_load_n(&avec_ipc_used, __ATOMIC_RELAXED))
    return 0;
  avec_handle a = {wire, 0};
  if (avec_post(AVEC_OP_STREAM_FENCE, 0, &a, sizeof a, NULL, 0)) return 0;
  note_drained(wire, avec_conn_post_seq, avec_conn_post_quiet);
  return 1;
}

static CUresult sync_or_query(CUstream s, int ptds, uint16_t op) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_handle a = {0, 0};
  if (avec_stream_wire(s, ptds, &a.handle)) return CUDA_ERROR_INVALID_HANDLE;
  if (answer_locally(a.handle)) {
    r = CUDA_SUCCESS;
  } else {
    avec_mapped_before_wait(op == AVEC_OP_STREAM_SYNCHRONIZE);
    if (!(r = avec_call(op, 0, &a, sizeof a, NULL, 0)) && op == AVEC_OP_STREAM_SYNCHRONIZE) avec_stream_drained(a.handle);
  }
  if (!r) avec_mapped_after_sync(); /* the host may look now */
  return r;
}

#define PAIR(name, ptname, proto, body0, body1) \
  AVEC_API CUresult name proto { return body0; } \
  AVEC_API CUresult ptname proto { return body1; }

PAIR(cuStreamSynchronize, cuStreamSynchronize_ptsz, (CUstream s), sync_or_query(s, 0, AVEC_OP_STREAM_SYNCHRONIZE),
     sync_or_query(s, 1, AVEC_OP_STREAM_SYNCHRONIZE))
PAIR(cuStreamQuery, cuStreamQuery_ptsz, (CUstream s), sync_or_query(s, 0, AVEC_OP_STREAM_QUERY),
     sync_or_query(s, 1, AVEC_OP_STREAM_QUERY))

static CUresult wait_event(CUstream s, CUevent e, unsigned flags, int ptds) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_stream_wait a = {0, 0, flags, 0};
  if (avec_stream_wire(s, ptds, &a.stream) || !avec_event_valid(e)) return CUDA_ERROR_INVALID_HANDLE;
  a.event = e->handle;
  return avec_post(AVEC_OP_STREAM_WAIT_EVENT, 0, &a, sizeof a, NULL, 0);
}

PAIR(cuStreamWaitEvent, cuStreamWaitEvent_ptsz, (CUstream s, CUevent e, unsigned f), wait_event(s, e, f, 0),
     wait_event(s, e, f, 1))

static CUresult get_flags(CUstream s, unsigned *flags) {
  if (!flags) return CUDA_ERROR_INVALID_VALUE;
  uint32_t h;
  if (avec_stream_wire(s, 0, &h)) return CUDA_ERROR_INVALID_HANDLE;
  *flags = h < 16 ? 0 : s->flags;
  return CUDA_SUCCESS;
}
PAIR(cuStreamGetFlags, cuStreamGetFlags_ptsz, (CUstream s, unsigned *f), get_flags(s, f), get_flags(s, f))

static CUresult get_priority(CUstream s, int *p) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  uint32_t h;
  if (avec_stream_wire(s, 0, &h)) return CUDA_ERROR_INVALID_HANDLE;
  *p = h < 16 ? 0 : s->priority;
  return CUDA_SUCCESS;
}
PAIR(cuStreamGetPriority, cuStreamGetPriority_ptsz, (CUstream s, int *p), get_priority(s, p), get_priority(s, p))

static CUresult get_ctx(CUstream s, CUcontext *pctx) {
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  uint32_t h;
  if (avec_stream_wire(s, 0, &h)) return CUDA_ERROR_INVALID_HANDLE;
  if (h < 16) return avec_ctx_require(pctx);
  *pctx = s->ctx;
  return CUDA_SUCCESS;
}
PAIR(cuStreamGetCtx, cuStreamGetCtx_ptsz, (CUstream s, CUcontext *c), get_ctx(s, c), get_ctx(s, c))

static CUresult get_ctx_v2(CUstream s, CUcontext *pctx, CUgreenCtx *pg) {
  if (pg) *pg = NULL;
  return get_ctx(s, pctx);
}
PAIR(cuStreamGetCtx_v2, cuStreamGetCtx_v2_ptsz, (CUstream s, CUcontext *c, CUgreenCtx *g), get_ctx_v2(s, c, g),
     get_ctx_v2(s, c, g))

static CUresult get_id(CUstream s, unsigned long long *id, int ptds) {
  if (!id) return CUDA_ERROR_INVALID_VALUE;
  uint32_t h;
  if (avec_stream_wire(s, ptds, &h)) return CUDA_ERROR_INVALID_HANDLE;
  *id = h;
  return CUDA_SUCCESS;
}
PAIR(cuStreamGetId, cuStreamGetId_ptsz, (CUstream s, unsigned long long *id), get_id(s, id, 0), get_id(s, id, 1))

static CUresult get_device(CUstream s, CUdevice *d) {
  CUcontext c;
  CUresult r = get_ctx(s, &c);
  if (!r) *d = c->device;
  return r;
}
PAIR(cuStreamGetDevice, cuStreamGetDevice_ptsz, (CUstream s, CUdevice *d), get_device(s, d), get_device(s, d))

/* ---- host callbacks -------------------------------------------------------------------------------- */
static CUresult host_func(CUstream s, CUhostFn fn, void *data, int ptds) {
  if (!fn) return CUDA_ERROR_INVALID_VALUE;
  if (avec_stream_capturing(s, ptds)) { /* it becomes a host node of the graph: the server calls it back */
    avec_host_func a = {0, 0, 0};
    CUresult r = avec_callbacks_ready();
    if (r) return r;
    if (avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
    if (!(a.id = avec_hostfn_id(fn, data))) return CUDA_ERROR_OUT_OF_MEMORY;
    return avec_post(AVEC_OP_HOST_FUNC, 0, &a, sizeof a, NULL, 0);
  }
  LOG_DEBUG("host function: stream synchronized first, then run on the calling thread");
  CUresult r = sync_or_query(s, ptds, AVEC_OP_STREAM_SYNCHRONIZE);
  if (r) return r;
  fn(data);
  return CUDA_SUCCESS;
}
PAIR(cuLaunchHostFunc, cuLaunchHostFunc_ptsz, (CUstream s, CUhostFn fn, void *d), host_func(s, fn, d, 0),
     host_func(s, fn, d, 1))

static CUresult add_callback(CUstream s, CUstreamCallback cb, void *data, unsigned flags, int ptds) {
  if (!cb || flags) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = sync_or_query(s, ptds, AVEC_OP_STREAM_SYNCHRONIZE);
  if (r == CUDA_ERROR_INVALID_HANDLE || r == CUDA_ERROR_INVALID_CONTEXT || r == CUDA_ERROR_NOT_INITIALIZED) return r;
  cb(s, r, data); /* the callback sees the stream's error status, as with the driver */
  return CUDA_SUCCESS;
}
PAIR(cuStreamAddCallback, cuStreamAddCallback_ptsz, (CUstream s, CUstreamCallback cb, void *d, unsigned f),
     add_callback(s, cb, d, f, 0), add_callback(s, cb, d, f, 1))
