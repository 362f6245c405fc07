// Device code for running the executor's CUDA-backend integration tests on a real GPU
// (integration-tests with AVEC_TEST_GPU_FATBIN): the same names and parameter layout the mock driver
// (mock_driver.cpp) implements.
extern "C" __global__ void avec_fill(unsigned *p, unsigned n, unsigned value) {
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) p[i] = value;
}

__device__ unsigned avec_table[64];  // 256 bytes, read back through GET_GLOBAL
