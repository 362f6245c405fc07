// Device code for running the executor's CUDA-backend integration tests on a real GPU
// (integration-tests with AVEC_TEST_GPU_FATBIN): the same names and parameter layout the mock driver
// (mock_driver.cpp) implements.
#include <cstdio>

extern "C" __global__ void avec_fill(unsigned *p, unsigned n, unsigned value) {
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) p[i] = value;
}

// device printf, one line per thread (the driver writes it to the session process's stdout)
extern "C" __global__ void avec_print(unsigned value) { printf("avec_print %u\n", value); }

__device__ unsigned avec_table[64];  // 256 bytes, read back through GET_GLOBAL
