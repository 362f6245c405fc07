// Device code loaded at run time through the driver API by modules_driver.cu. Built three ways at
// build time (fatbin with sm_90 SASS + compute_90 PTX, a bare sm_90 cubin, and PTX text) and
// embedded into the program as byte arrays.
__constant__ float c_coef[16];
__device__ float g_bias;
__device__ int g_counter;
__device__ unsigned long long g_table[256];

extern "C" __global__ void scale(float *x, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}

extern "C" __global__ void apply_coef(float *x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = x[i] * c_coef[i % 16] + g_bias;
}

extern "C" __global__ void count(int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) atomicAdd(&g_counter, 1);
}

extern "C" __global__ void table_sum(unsigned long long *out) {
  __shared__ unsigned long long s[256];
  s[threadIdx.x] = g_table[threadIdx.x] * (threadIdx.x + 1);
  __syncthreads();
  for (int k = 128; k > 0; k >>= 1) {
    if (threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = s[0];
}

// A C++ (mangled) kernel name; explicit instantiation keeps it in the image.
template <int N> __global__ void tmpl_add(int *p) { p[threadIdx.x] += N * (int)threadIdx.x; }
template __global__ void tmpl_add<3>(int *);
