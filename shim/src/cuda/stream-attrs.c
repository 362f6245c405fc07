/* Stream attributes (cuStreamSetAttribute/GetAttribute/CopyAttributes) and cuCtxResetPersistingL2Cache.
 * Setting and copying are fire-and-forget (a bad value or an access policy window outside the session's
 * memory is a deferred error); reading asks the server's driver, so what comes back is what the driver
 * holds (its defaults, and values as it adjusted them), at the cost of one round trip per query. */
#include <string.h>

#include "shim_cuda.h"

#undef cuStreamGetAttribute
#undef cuStreamSetAttribute
#undef cuStreamCopyAttributes

AVEC_STATIC_ASSERT(sizeof(CUstreamAttrValue) == 64, "a stream attribute value is 64 bytes on the wire");

static int attr_known(CUstreamAttrID a) {
  return a == CU_STREAM_ATTRIBUTE_ACCESS_POLICY_WINDOW || a == CU_STREAM_ATTRIBUTE_SYNCHRONIZATION_POLICY ||
         a == CU_STREAM_ATTRIBUTE_PRIORITY || a == CU_STREAM_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP ||
         a == CU_STREAM_ATTRIBUTE_MEM_SYNC_DOMAIN;
}

static CUresult attr_request(CUstream s, CUstreamAttrID a, int ptsz, avec_stream_attr *w) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  memset(w, 0, sizeof *w);
  if (avec_stream_wire(s, ptsz, &w->stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (!attr_known(a)) return CUDA_ERROR_INVALID_VALUE;
  w->attr = (uint32_t)a;
  return CUDA_SUCCESS;
}

static CUresult set_attr(CUstream s, CUstreamAttrID a, const CUstreamAttrValue *v, int ptsz) {
  avec_stream_attr w;
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = attr_request(s, a, ptsz, &w);
  if (r) return r;
  memcpy(w.value, v, sizeof w.value);
  return avec_post(AVEC_OP_STREAM_SET_ATTR, 0, &w, sizeof w, NULL, 0);
}

static CUresult get_attr(CUstream s, CUstreamAttrID a, CUstreamAttrValue *out, int ptsz) {
  avec_stream_attr w;
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = attr_request(s, a, ptsz, &w);
  if (r) return r;
  avec_stream_attr_reply rep;
  size_t got = 0;
  r = avec_result(avec_conn_call(&avec_sess.conn, AVEC_OP_STREAM_GET_ATTR, 0, avec_ctx_wire(), &w, sizeof w, NULL, 0,
                                 &rep, sizeof rep, &got));
  if (!r && got != sizeof rep) r = CUDA_ERROR_UNKNOWN;
  if (!r) memcpy(out, rep.value, sizeof rep.value);
  return r;
}

static CUresult copy_attrs(CUstream dst, CUstream src, int ptsz) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  avec_u32x2 q = {0, 0};
  if (avec_stream_wire(dst, ptsz, &q.a) || avec_stream_wire(src, ptsz, &q.b)) return CUDA_ERROR_INVALID_HANDLE;
  return avec_post(AVEC_OP_STREAM_COPY_ATTR, 0, &q, sizeof q, NULL, 0);
}

AVEC_API CUresult cuStreamSetAttribute(CUstream s, CUstreamAttrID a, const CUstreamAttrValue *v) {
  return set_attr(s, a, v, 0);
}
AVEC_API CUresult cuStreamSetAttribute_ptsz(CUstream s, CUstreamAttrID a, const CUstreamAttrValue *v) {
  return set_attr(s, a, v, 1);
}
AVEC_API CUresult cuStreamGetAttribute(CUstream s, CUstreamAttrID a, CUstreamAttrValue *v) {
  return get_attr(s, a, v, 0);
}
AVEC_API CUresult cuStreamGetAttribute_ptsz(CUstream s, CUstreamAttrID a, CUstreamAttrValue *v) {
  return get_attr(s, a, v, 1);
}
AVEC_API CUresult cuStreamCopyAttributes(CUstream dst, CUstream src) { return copy_attrs(dst, src, 0); }
AVEC_API CUresult cuStreamCopyAttributes_ptsz(CUstream dst, CUstream src) { return copy_attrs(dst, src, 1); }

/* Persisting L2 lines are the server's device's: the reset runs there, in stream order with other work. */
AVEC_API CUresult cuCtxResetPersistingL2Cache(void) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  return avec_post(AVEC_OP_CTX_RESET_PERSISTING_L2, 0, NULL, 0, NULL, 0);
}
