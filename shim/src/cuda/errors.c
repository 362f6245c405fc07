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

/* The short messages driver 580 returns (they end up in users' error messages, e.g. PyTorch's); codes
 * not listed fall back to the first sentence of cuda.h's description. */
static const struct { int code; const char *text; } short_text[] = {
    {0, "no error"}, {1, "invalid argument"}, {2, "out of memory"}, {3, "initialization error"},
    {4, "driver shutting down"}, {5, "profiler disabled while using external profiling tool"},
    {7, "profiler already started"}, {8, "profiler already stopped"}, {34, "CUDA driver is a stub library"},
    {46, "CUDA-capable device(s) is/are busy or unavailable"}, {100, "no CUDA-capable device is detected"},
    {101, "invalid device ordinal"}, {200, "device kernel image is invalid"}, {201, "invalid device context"},
    {205, "mapping of buffer object failed"}, {206, "unmapping of buffer object failed"},
    {207, "array is mapped"}, {208, "resource already mapped"},
    {209, "no kernel image is available for execution on the device"}, {210, "resource already acquired"},
    {211, "resource not mapped"}, {212, "resource not mapped as array"}, {213, "resource not mapped as pointer"},
    {214, "uncorrectable ECC error encountered"}, {215, "limit is not supported on this architecture"},
    {216, "exclusive-thread device already in use by a different thread"},
    {217, "peer access is not supported between these two devices"}, {218, "a PTX JIT compilation failed"},
    {219, "invalid OpenGL or DirectX context"}, {220, "uncorrectable NVLink error detected during the execution"},
    {300, "device kernel image is invalid"}, /* driver 580 reuses the INVALID_IMAGE text (measured) */
    {301, "file not found"}, {302, "link to a shared object failed to resolve"},
    {303, "shared object initialization failed"}, {304, "OS call failed or operation not supported on this OS"},
    {400, "invalid resource handle"}, {401, "the operation cannot be performed in the present state"},
    {500, "named symbol not found"}, {600, "device not ready"}, {700, "an illegal memory access was encountered"},
    {701, "too many resources requested for launch"}, {702, "the launch timed out and was terminated"},
    {703, "launch uses incompatible texturing mode"}, {704, "peer access is already enabled"},
    {705, "peer access has not been enabled"}, {708, "cannot set while device is active in this process"},
    {709, "context is destroyed"}, {710, "device-side assert triggered"}, {711, "peer mapping resources exhausted"},
    {712, "part or all of the requested memory range is already mapped"},
    {713, "pointer does not correspond to a registered memory region"}, {714, "hardware stack error"},
    {715, "an illegal instruction was encountered"}, {716, "misaligned address"},
    {717, "operation not supported on global/shared address space"}, {718, "invalid program counter"},
    {719, "unspecified launch failure"}, {720, "too many blocks in cooperative launch"},
    {800, "operation not permitted"}, {801, "operation not supported"}, {999, "unknown error"},
};

AVEC_API CUresult cuGetErrorString(CUresult error, const char **pStr) {
  if (!pStr) return CUDA_ERROR_INVALID_VALUE;
  const avec_error_entry *e = lookup(error);
  *pStr = NULL;
  if (!e) return CUDA_ERROR_INVALID_VALUE;
  *pStr = e->text;
  for (size_t i = 0; i < sizeof short_text / sizeof short_text[0]; i++)
    if (short_text[i].code == (int)error) *pStr = short_text[i].text;
  return CUDA_SUCCESS;
}
