/* Profiler control: no profiler runs inside this process (the GPU is remote), so start/stop are no-ops
 * that succeed, as they do with the driver when no profiler is attached. */
#include "shim_cuda.h"

AVEC_API CUresult cuProfilerStart(void) { return CUDA_SUCCESS; }
AVEC_API CUresult cuProfilerStop(void) { return CUDA_SUCCESS; }
AVEC_API CUresult cuProfilerInitialize(const char *configFile, const char *outputFile, int outputMode) {
  return CUDA_SUCCESS;
}
