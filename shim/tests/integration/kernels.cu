// Device code for the driver-API integration test: loaded as a fatbin through cuModuleLoadData.
extern "C" {
__constant__ float coeffs[16];
__device__ int counter;
__managed__ int mcount = 5;       // the host dereferences these at their device addresses
__managed__ float mtable[300];

__global__ void scale(float *out, const float *in, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a * coeffs[i % 16] * in[i];
}

// A large parameter block (8 KB) to exercise CUDA 12.1+ parameter limits.
struct Big { int v[2000]; };
__global__ void big_params(int *out, Big b) { out[threadIdx.x] = b.v[threadIdx.x]; }
}
