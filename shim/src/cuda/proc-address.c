/* cuGetProcAddress(_v2): version-exact lookups in the generated table. */
#include <string.h>

#include "proc_table.h"
#include "shim_cuda.h"

int avec_proc_resolve(const char *api, int version, int per_thread, const avec_proc_entry **out) {
  *out = NULL;
  /* the table is sorted by api name: find the first entry of `api` */
  size_t lo = 0, hi = avec_proc_table_len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(avec_proc_table[mid].api, api) < 0) lo = mid + 1;
    else hi = mid;
  }
  if (lo == avec_proc_table_len || strcmp(avec_proc_table[lo].api, api)) return AVEC_PROC_NOT_FOUND;
  const avec_proc_entry *best = NULL, *best_default = NULL;
  for (size_t i = lo; i < avec_proc_table_len && !strcmp(avec_proc_table[i].api, api); i++) {
    const avec_proc_entry *e = &avec_proc_table[i];
    if (e->version > version) continue;
    if (e->per_thread) {
      if (per_thread && (!best || e->version > best->version)) best = e;
    } else if (!best_default || e->version > best_default->version) {
      best_default = e;
    }
  }
  /* APIs without a stream have no per-thread variant: the default one serves both. */
  if (!best) best = best_default;
  else if (best_default && best_default->version > best->version) best = best_default;
  if (!best) return AVEC_PROC_VERSION;
  *out = best;
  return AVEC_PROC_OK;
}

/* Like driver 580: a lookup that fails for a known reason is a *successful* call whose status says why
 * (pfn NULL); a requested version above the driver's is CUDA_ERROR_INVALID_VALUE. The old entry point
 * (no status argument) reports a miss as CUDA_ERROR_NOT_FOUND. */
static CUresult get_proc(const char *symbol, void **pfn, int version, cuuint64_t flags,
                         CUdriverProcAddressQueryResult *status, int has_status) {
  if (status) *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  if (!symbol || !pfn) return CUDA_ERROR_INVALID_VALUE;
  *pfn = NULL;
  if (version > AVEC_DRIVER_VERSION) {
    LOG_DEBUG("cuGetProcAddress %s v%d: newer than driver %d", symbol, version, AVEC_DRIVER_VERSION);
    return CUDA_ERROR_INVALID_VALUE;
  }
  const avec_proc_entry *e;
  int per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
  int rc = avec_proc_resolve(symbol, version, per_thread, &e);
  if (rc == AVEC_PROC_OK) {
    *pfn = (void *)e->fn;
    if (status) *status = CU_GET_PROC_ADDRESS_SUCCESS;
    LOG_DEBUG("cuGetProcAddress %s v%d flags %llu -> %s", symbol, version, (unsigned long long)flags, e->symbol);
    return CUDA_SUCCESS;
  }
  if (status) *status = rc == AVEC_PROC_VERSION ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
                                                : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  LOG_DEBUG("cuGetProcAddress %s v%d: %s", symbol, version, rc == AVEC_PROC_VERSION ? "version too old" : "unknown");
  return has_status ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

AVEC_API CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                      CUdriverProcAddressQueryResult *symbolStatus) {
  return get_proc(symbol, pfn, cudaVersion, flags, symbolStatus, symbolStatus != NULL);
}

#undef cuGetProcAddress
AVEC_API CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags) {
  return get_proc(symbol, pfn, cudaVersion, flags, NULL, 0);
}
