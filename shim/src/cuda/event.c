/* Events: client-chosen handles; create/record/destroy are fire-and-forget, sync/query/elapsed wait. */
#include <stdlib.h>

#include "shim_cuda.h"

int avec_event_valid(CUevent e) { return e && e->magic == AVEC_MAGIC_EVENT; }

AVEC_API CUresult cuEventCreate(CUevent *ph, unsigned int flags) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!ph || (flags & ~0xFu)) return CUDA_ERROR_INVALID_VALUE;
  struct CUevent_st *e = calloc(1, sizeof *e);
  if (!e) return CUDA_ERROR_OUT_OF_MEMORY;
  *e = (struct CUevent_st){AVEC_MAGIC_EVENT, avec_new_handle(), flags};
  avec_event_create a = {e->handle, flags};
  r = avec_post(AVEC_OP_EVENT_CREATE, 0, &a, sizeof a, NULL, 0);
  if (r) { free(e); return r; }
  *ph = e;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuEventDestroy_v2(CUevent e) {
  CUresult r = avec_ready();
  if (r == CUDA_ERROR_NOT_INITIALIZED) return r;
  if (!avec_event_valid(e)) return CUDA_ERROR_INVALID_HANDLE;
  avec_handle a = {e->handle, 0};
  e->magic = 0;
  return avec_post(AVEC_OP_EVENT_DESTROY, 0, &a, sizeof a, NULL, 0);
}

static CUresult record(CUevent e, CUstream s, unsigned flags, int ptds) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!avec_event_valid(e)) return CUDA_ERROR_INVALID_HANDLE;
  avec_event_record a = {e->handle, 0, flags, 0};
  if (avec_stream_wire(s, ptds, &a.stream)) return CUDA_ERROR_INVALID_HANDLE;
  __atomic_store_n(&e->pending, 1, __ATOMIC_RELAXED);
  return avec_post(AVEC_OP_EVENT_RECORD, 0, &a, sizeof a, NULL, 0);
}

AVEC_API CUresult cuEventRecord(CUevent e, CUstream s) { return record(e, s, 0, 0); }
AVEC_API CUresult cuEventRecord_ptsz(CUevent e, CUstream s) { return record(e, s, 0, 1); }
AVEC_API CUresult cuEventRecordWithFlags(CUevent e, CUstream s, unsigned f) { return record(e, s, f, 0); }
AVEC_API CUresult cuEventRecordWithFlags_ptsz(CUevent e, CUstream s, unsigned f) { return record(e, s, f, 1); }

/* An event seen complete stays complete until it is recorded again: polling loops (allocator event
 * queries, spin-waits) then cost no round trip. A never-recorded event is complete, as with the driver.
 * Interprocess events are the exception (see below). */
static CUresult wait_op(CUevent e, uint16_t op) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!avec_event_valid(e)) return CUDA_ERROR_INVALID_HANDLE;
  /* an interprocess event may be recorded by another process at any time: always ask */
  if (!(e->flags & CU_EVENT_INTERPROCESS) && !__atomic_load_n(&e->pending, __ATOMIC_RELAXED)) return CUDA_SUCCESS;
  avec_handle a = {e->handle, 0};
  avec_mapped_before_wait(op == AVEC_OP_EVENT_SYNCHRONIZE);
  r = avec_call(op, 0, &a, sizeof a, NULL, 0);
  if (r == CUDA_SUCCESS) {
    __atomic_store_n(&e->pending, 0, __ATOMIC_RELAXED);
    avec_mapped_after_sync();
  }
  return r;
}

AVEC_API CUresult cuEventSynchronize(CUevent e) { return wait_op(e, AVEC_OP_EVENT_SYNCHRONIZE); }
AVEC_API CUresult cuEventQuery(CUevent e) { return wait_op(e, AVEC_OP_EVENT_QUERY); }

static CUresult elapsed(float *ms, CUevent a, CUevent b) {
  CUresult r = avec_ready();
  if (r) return r;
  if (!ms) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_event_valid(a) || !avec_event_valid(b)) return CUDA_ERROR_INVALID_HANDLE;
  avec_u32x2 req = {a->handle, b->handle};
  struct { avec_reply_hdr h; avec_f32 v; } rep = {0};
  r = avec_call(AVEC_OP_EVENT_ELAPSED, 0, &req, sizeof req, &rep, sizeof rep);
  if (!r) *ms = rep.v.value;
  return r;
}

#undef cuEventElapsedTime
AVEC_API CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b) { return elapsed(ms, a, b); }
AVEC_API CUresult cuEventElapsedTime_v2(float *ms, CUevent a, CUevent b) { return elapsed(ms, a, b); }
