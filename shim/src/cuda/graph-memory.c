/* Graph memory of a device: what memory-allocation nodes hold. The server's driver keeps the counters (the
 * emulated device keeps its own), so reading them is a round trip; resetting a high watermark and trimming
 * are fire-and-forget. Graph allocation addresses themselves are tracked in memory.c (avec_track_device). */
#include "shim_cuda.h"

static int attr_known(CUgraphMem_attribute a) {
  return a == CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT || a == CU_GRAPH_MEM_ATTR_USED_MEM_HIGH ||
         a == CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT || a == CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH;
}

AVEC_API CUresult cuDeviceGetGraphMemAttribute(CUdevice dev, CUgraphMem_attribute attr, void *value) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  if (!value || !attr_known(attr)) return CUDA_ERROR_INVALID_VALUE;
  avec_u32x2 a = {avec_sess.wire_dev[dev], (uint32_t)attr};
  struct { avec_reply_hdr h; avec_u64 v; } rep;
  if ((r = avec_call(AVEC_OP_GRAPH_MEM_GET_ATTR, 0, &a, sizeof a, &rep, sizeof rep))) return r;
  *(cuuint64_t *)value = rep.v.value; /* every graph memory attribute is a cuuint64_t */
  return CUDA_SUCCESS;
}

/* Only the high watermarks can be set, and only to 0 (back to the current amount): refused here, at once,
 * as the driver does, rather than as a deferred error. */
AVEC_API CUresult cuDeviceSetGraphMemAttribute(CUdevice dev, CUgraphMem_attribute attr, void *value) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  if (!value || (attr != CU_GRAPH_MEM_ATTR_USED_MEM_HIGH && attr != CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH) ||
      *(const cuuint64_t *)value != 0)
    return CUDA_ERROR_INVALID_VALUE;
  avec_u32x2 a = {avec_sess.wire_dev[dev], (uint32_t)attr};
  return avec_post(AVEC_OP_GRAPH_MEM_RESET_HIGH, 0, &a, sizeof a, NULL, 0);
}

AVEC_API CUresult cuDeviceGraphMemTrim(CUdevice dev) {
  CUresult r = avec_ready(); /* served without a current context, as by the driver */
  if (r) return r;
  if (!avec_dev_valid(dev)) return CUDA_ERROR_INVALID_DEVICE;
  avec_u32 a = {avec_sess.wire_dev[dev]};
  return avec_post(AVEC_OP_GRAPH_MEM_TRIM, 0, &a, sizeof a, NULL, 0);
}
