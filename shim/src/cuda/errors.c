/* cuGetErrorName / cuGetErrorString, answered from the table generated from cuda.h. */
#include "errors_table.h"
#include "shim_cuda.h"

static const avec_error_entry *lookup(CUresult e) {
  size_t lo = 0, hi = avec_error_table_len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (avec_error_table[mid].code < (int)e) lo = mid + 1;
    else hi = mid;
  }
  return lo < avec_error_table_len && avec_error_table[lo].code == (int)e ? &avec_error_table[lo] : NULL;
}

AVEC_API CUresult cuGetErrorName(CUresult error, const char **pStr) {
  if (!pStr) return CUDA_ERROR_INVALID_VALUE;
  const avec_error_entry *e = lookup(error);
  *pStr = e ? e->name : NULL;
  return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

AVEC_API CUresult cuGetErrorString(CUresult error, const char **pStr) {
  if (!pStr) return CUDA_ERROR_INVALID_VALUE;
  const avec_error_entry *e = lookup(error);
  *pStr = e ? e->text : NULL;
  return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
