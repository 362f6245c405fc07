/* CUDA IPC between processes whose sessions run on the same server: the handles are opaque tokens the
 * server issued (64 bytes, the size of CUipcMemHandle / CUipcEventHandle), and the server opens one only
 * for a session of the same claim (or, without tickets, the same client address). Opened memory is a
 * device range here (kind AVEC_RANGE_IPC) until cuIpcCloseMemHandle. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

AVEC_STATIC_ASSERT(sizeof(CUipcMemHandle) == AVEC_IPC_HANDLE_BYTES, "IPC memory handle size");
AVEC_STATIC_ASSERT(sizeof(CUipcEventHandle) == AVEC_IPC_HANDLE_BYTES, "IPC event handle size");

int avec_ipc_used; /* another process may see this one's device memory or events: no fenced synchronize */

static CUresult ipc_call(uint16_t op, const void *a, size_t alen, void *reply, size_t cap) {
  __atomic_store_n(&avec_ipc_used, 1, __ATOMIC_RELAXED);
  return avec_call(op, 0, a, alen, reply, cap);
}

AVEC_API CUresult cuIpcGetMemHandle(CUipcMemHandle *handle, CUdeviceptr dptr) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_range rg;
  if (!handle || avec_ranges_find(&avec_device_ranges, dptr, &rg) || rg.base != dptr || rg.kind != AVEC_RANGE_DEVICE)
    return CUDA_ERROR_INVALID_VALUE;
  avec_u64 a = {dptr};
  avec_ipc_handle_reply rep;
  if ((r = ipc_call(AVEC_OP_IPC_GET_MEM, &a, sizeof a, &rep, sizeof rep))) return r;
  memcpy(handle->reserved, rep.handle, sizeof rep.handle);
  return CUDA_SUCCESS;
}

static CUresult open_mem(CUdeviceptr *dptr, CUipcMemHandle handle, unsigned flags) {
  CUcontext ctx;
  CUresult r = avec_ctx_require(&ctx);
  if (r) return r;
  if (!dptr) return CUDA_ERROR_INVALID_VALUE;
  avec_ipc_open a = {{0}, flags, 0};
  memcpy(a.handle, handle.reserved, sizeof a.handle);
  avec_ipc_open_reply rep;
  if ((r = ipc_call(AVEC_OP_IPC_OPEN_MEM, &a, sizeof a, &rep, sizeof rep))) return r;
  avec_track_device(rep.dptr, rep.size, AVEC_RANGE_IPC, ctx, NULL);
  *dptr = (CUdeviceptr)rep.dptr;
  return CUDA_SUCCESS;
}
AVEC_API CUresult cuIpcOpenMemHandle_v2(CUdeviceptr *dptr, CUipcMemHandle handle, unsigned flags) {
  return open_mem(dptr, handle, flags);
}

#undef cuIpcOpenMemHandle /* cuda.h maps it to _v2; the old symbol has the same arguments */
AVEC_API CUresult cuIpcOpenMemHandle(CUdeviceptr *dptr, CUipcMemHandle handle, unsigned flags) {
  return open_mem(dptr, handle, flags);
}

AVEC_API CUresult cuIpcCloseMemHandle(CUdeviceptr dptr) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_range rg;
  if (avec_ranges_find(&avec_device_ranges, dptr, &rg) || rg.base != dptr || rg.kind != AVEC_RANGE_IPC)
    return CUDA_ERROR_INVALID_VALUE;
  avec_ranges_remove(&avec_device_ranges, dptr, NULL);
  avec_release_reservation(&rg);
  avec_u64 a = {dptr};
  return avec_post(AVEC_OP_IPC_CLOSE_MEM, 0, &a, sizeof a, NULL, 0);
}

AVEC_API CUresult cuIpcGetEventHandle(CUipcEventHandle *handle, CUevent e) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!handle) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_event_valid(e)) return CUDA_ERROR_INVALID_HANDLE;
  /* as the driver answers for an event made without CU_EVENT_INTERPROCESS */
  if (!(e->flags & CU_EVENT_INTERPROCESS) || !(e->flags & CU_EVENT_DISABLE_TIMING)) return CUDA_ERROR_INVALID_HANDLE;
  avec_handle a = {e->handle, 0};
  avec_ipc_handle_reply rep;
  if ((r = ipc_call(AVEC_OP_IPC_GET_EVENT, &a, sizeof a, &rep, sizeof rep))) return r;
  memcpy(handle->reserved, rep.handle, sizeof rep.handle);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuIpcOpenEventHandle(CUevent *ph, CUipcEventHandle handle) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!ph) return CUDA_ERROR_INVALID_VALUE;
  struct CUevent_st *e = calloc(1, sizeof *e);
  if (!e) return CUDA_ERROR_OUT_OF_MEMORY;
  *e = (struct CUevent_st){AVEC_MAGIC_EVENT, avec_new_handle(), CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING};
  avec_ipc_open a = {{0}, e->handle, 0};
  memcpy(a.handle, handle.reserved, sizeof a.handle);
  avec_ipc_open_reply rep;
  if ((r = ipc_call(AVEC_OP_IPC_OPEN_EVENT, &a, sizeof a, &rep, sizeof rep))) {
    free(e);
    return r;
  }
  *ph = e;
  return CUDA_SUCCESS;
}
