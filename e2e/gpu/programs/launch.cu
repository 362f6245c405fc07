// Launches: <<<>>> and cudaLaunchKernel, cuLaunchKernel (args array and the packed `extra` buffer),
// cuLaunchKernelEx / cudaLaunchKernelEx with attributes (cluster dimension, priority), dynamic shared
// memory beyond 48 KiB, a ~4 KiB parameter block, cooperative launch, function attributes, occupancy.
#include "common.h"
#include <cooperative_groups.h>
#include <vector>
namespace cg = cooperative_groups;

struct Big {  // 4096 bytes of parameters
  int v[1020];
  double scale;
  long long tag;
};

__global__ void big_params(Big b, long long *out) {
  __shared__ long long s[256];
  long long acc = 0;
  for (int i = threadIdx.x; i < 1020; i += blockDim.x) acc += (long long)b.v[i] * (i + 1);
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int k = blockDim.x / 2; k > 0; k >>= 1) {
    if ((int)threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = s[0] + (long long)(b.scale * 1000.0) + b.tag;
}

__global__ void mixed_params(char c, short sh, int i, long long l, float f, double d, const int *p, int *out) {
  out[0] = c; out[1] = sh; out[2] = i; out[3] = (int)(l >> 32); out[4] = (int)l;
  out[5] = (int)(f * 100); out[6] = (int)(d * 1000); out[7] = p ? p[0] : -1;
}

extern __shared__ unsigned int dyn[];
__global__ void dyn_smem(unsigned int *out, int words) {
  for (int i = threadIdx.x; i < words; i += blockDim.x) dyn[i] = i * 2654435761u;
  __syncthreads();
  unsigned int acc = 0;
  for (int i = threadIdx.x; i < words; i += blockDim.x) acc ^= dyn[words - 1 - i] + i;
  atomicXor(out, acc);
}

__global__ void cluster_rank(int *out) {
  cg::cluster_group c = cg::this_cluster();
  if (threadIdx.x == 0) out[blockIdx.x] = (int)c.block_rank() * 100 + (int)c.num_blocks();
}

__global__ void coop_sum(int *data, int n, int *out) {
  cg::grid_group g = cg::this_grid();
  for (int i = g.thread_rank(); i < n; i += g.size()) data[i] = i % 7;
  g.sync();
  if (g.thread_rank() == 0) {
    int s = 0;
    for (int i = 0; i < n; i++) s += data[i];
    *out = s;
  }
}

__global__ void empty(void) {}

static void runtime_launches(void) {
  SECTION("launch.runtime");
  Big b;
  for (int i = 0; i < 1020; i++) b.v[i] = i * 3 - 500;
  b.scale = 1.5; b.tag = 1234567890123ll;
  long long *out;
  RT(cudaMalloc(&out, 4 * sizeof(long long)));
  big_params<<<4, 256>>>(b, out);
  RT(cudaGetLastError());
  long long h[4];
  RT(cudaMemcpy(h, out, sizeof h, cudaMemcpyDeviceToHost));
  printf("sizeof(Big)=%zu big params: %lld %lld\n", sizeof(Big), h[0], h[3]);
  int *po, *pi;
  RT(cudaMalloc(&po, 8 * sizeof(int)));
  RT(cudaMalloc(&pi, sizeof(int)));
  int seven = 77;
  RT(cudaMemcpy(pi, &seven, 4, cudaMemcpyHostToDevice));
  mixed_params<<<1, 1>>>(-5, -300, 70000, 0x1234567887654321ll, 2.5f, -3.25, pi, po);
  int m[8];
  RT(cudaMemcpy(m, po, sizeof m, cudaMemcpyDeviceToHost));
  printf("mixed params: %d %d %d %08x %08x %d %d %d\n", m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]);
  // cudaLaunchKernel with an args array.
  const int *nullp = NULL;
  char c = 9; short s = 8; int i = 7; long long l = 6; float f = 0.5f; double d = 0.25;
  void *args[] = {&c, &s, &i, &l, &f, &d, &nullp, &po};
  RT(cudaLaunchKernel((const void *)mixed_params, dim3(1), dim3(1), args, 0, 0));
  RT(cudaMemcpy(m, po, sizeof m, cudaMemcpyDeviceToHost));
  printf("cudaLaunchKernel: %d %d %d %d %d %d %d %d\n", m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]);
  // Dynamic shared memory: 100 KiB needs the opt-in attribute.
  unsigned int *x;
  RT(cudaMalloc(&x, sizeof(unsigned int)));
  RT(cudaMemset(x, 0, 4));
  const int bytes = 100 * 1024;
  RT(cudaFuncSetAttribute(dyn_smem, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  dyn_smem<<<1, 256, bytes>>>(x, bytes / 4);
  RT(cudaGetLastError());
  unsigned int xv = 0;
  RT(cudaMemcpy(&xv, x, 4, cudaMemcpyDeviceToHost));
  printf("dyn smem 100 KiB xor: %08x\n", xv);
  // cudaLaunchKernelEx with a cluster dimension attribute.
  int *cl;
  RT(cudaMalloc(&cl, 8 * sizeof(int)));
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(8); cfg.blockDim = dim3(32);
  cudaLaunchAttribute at[1];
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = 2; at[0].val.clusterDim.y = 1; at[0].val.clusterDim.z = 1;
  cfg.attrs = at; cfg.numAttrs = 1;
  RT(cudaLaunchKernelEx(&cfg, cluster_rank, cl));
  int ch[8];
  RT(cudaMemcpy(ch, cl, sizeof ch, cudaMemcpyDeviceToHost));
  printf("cluster ranks:");
  for (int k = 0; k < 8; k++) printf(" %d", ch[k]);
  printf("\n");
  // Cooperative launch.
  int *data, *sum;
  RT(cudaMalloc(&data, 100000 * sizeof(int)));
  RT(cudaMalloc(&sum, sizeof(int)));
  int n = 100000;
  void *cargs[] = {&data, &n, &sum};
  RT(cudaLaunchCooperativeKernel((const void *)coop_sum, dim3(16), dim3(128), cargs, 0, 0));
  int sv = 0;
  RT(cudaMemcpy(&sv, sum, 4, cudaMemcpyDeviceToHost));
  printf("cooperative sum: %d\n", sv);
  RT(cudaFree(out)); RT(cudaFree(po)); RT(cudaFree(pi)); RT(cudaFree(x)); RT(cudaFree(cl));
  RT(cudaFree(data)); RT(cudaFree(sum));
}

static void driver_launches(void) {
  SECTION("launch.driver");
  RT(cudaFree(0));  // runtime-initialised primary context is current for the driver calls
  CUfunction fb, fm, fd, fc;
  RT(cudaGetFuncBySymbol((cudaFunction_t *)&fb, (const void *)big_params));
  RT(cudaGetFuncBySymbol((cudaFunction_t *)&fm, (const void *)mixed_params));
  RT(cudaGetFuncBySymbol((cudaFunction_t *)&fd, (const void *)dyn_smem));
  RT(cudaGetFuncBySymbol((cudaFunction_t *)&fc, (const void *)cluster_rank));
  Big b;
  for (int i = 0; i < 1020; i++) b.v[i] = 1000 - i;
  b.scale = -2.0; b.tag = 42;
  CUdeviceptr out;
  DRV(cuMemAlloc(&out, 2 * sizeof(long long)));
  void *args[] = {&b, &out};
  DRV(cuLaunchKernel(fb, 2, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
  long long h[2];
  DRV(cuMemcpyDtoH(h, out, sizeof h));
  printf("cuLaunchKernel big params: %lld %lld\n", h[0], h[1]);
  // The packed form: one buffer with the parameters at their offsets.
  struct alignas(8) { Big b; CUdeviceptr out; } packed;
  packed.b = b; packed.b.tag = 43; packed.out = out;
  size_t psize = sizeof packed;
  void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE, &psize, CU_LAUNCH_PARAM_END};
  DRV(cuLaunchKernel(fb, 2, 1, 1, 128, 1, 1, 0, NULL, NULL, extra));
  DRV(cuMemcpyDtoH(h, out, sizeof h));
  printf("cuLaunchKernel extra buffer: %lld %lld\n", h[0], h[1]);
  // cuLaunchKernelEx with dynamic shared memory, priority and cluster attributes.
  CUdeviceptr x;
  DRV(cuMemAlloc(&x, 4));
  DRV(cuMemsetD32(x, 0, 1));
  DRV(cuFuncSetAttribute(fd, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 150 * 1024));
  int words = 150 * 1024 / 4;
  CUlaunchConfig cfg = {};
  cfg.gridDimX = 1; cfg.gridDimY = 1; cfg.gridDimZ = 1;
  cfg.blockDimX = 512; cfg.blockDimY = 1; cfg.blockDimZ = 1;
  cfg.sharedMemBytes = 150 * 1024;
  CUlaunchAttribute at[1];
  at[0].id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
  at[0].value.priority = 0;
  cfg.attrs = at; cfg.numAttrs = 1;
  void *dargs[] = {&x, &words};
  DRV(cuLaunchKernelEx(&cfg, fd, dargs, NULL));
  unsigned xv;
  DRV(cuMemcpyDtoH(&xv, x, 4));
  printf("cuLaunchKernelEx 150 KiB smem xor: %08x\n", xv);
  CUdeviceptr cl;
  DRV(cuMemAlloc(&cl, 8 * sizeof(int)));
  CUlaunchConfig c2 = {};
  c2.gridDimX = 8; c2.gridDimY = 1; c2.gridDimZ = 1;
  c2.blockDimX = 64; c2.blockDimY = 1; c2.blockDimZ = 1;
  CUlaunchAttribute a2[1];
  a2[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  a2[0].value.clusterDim.x = 4; a2[0].value.clusterDim.y = 1; a2[0].value.clusterDim.z = 1;
  c2.attrs = a2; c2.numAttrs = 1;
  void *cargs[] = {&cl};
  DRV(cuLaunchKernelEx(&c2, fc, cargs, NULL));
  int ch[8];
  DRV(cuMemcpyDtoH(ch, cl, sizeof ch));
  printf("cuLaunchKernelEx cluster 4 ranks:");
  for (int k = 0; k < 8; k++) printf(" %d", ch[k]);
  printf("\n");
  DRV(cuMemFree(out)); DRV(cuMemFree(x)); DRV(cuMemFree(cl));
}

static void attributes(void) {
  SECTION("launch.attributes");
  CUfunction fb, fe, fd;
  RT(cudaGetFuncBySymbol((cudaFunction_t *)&fb, (const void *)big_params));
  RT(cudaGetFuncBySymbol((cudaFunction_t *)&fe, (const void *)empty));
  RT(cudaGetFuncBySymbol((cudaFunction_t *)&fd, (const void *)dyn_smem));
  const CUfunction_attribute ids[] = {CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES,
                                      CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES,
                                      CU_FUNC_ATTRIBUTE_NUM_REGS, CU_FUNC_ATTRIBUTE_PTX_VERSION,
                                      CU_FUNC_ATTRIBUTE_BINARY_VERSION, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES};
  CUfunction fs[] = {fb, fe, fd};
  const char *names[] = {"big_params", "empty", "dyn_smem"};
  for (int k = 0; k < 3; k++) {
    printf("%s attrs:", names[k]);
    for (CUfunction_attribute a : ids) {
      int v = -1;
      DRV(cuFuncGetAttribute(&v, a, fs[k]));
      printf(" %d", v);
    }
    printf("\n");
  }
  cudaFuncAttributes fa;
  RT(cudaFuncGetAttributes(&fa, big_params));
  printf("cudaFuncGetAttributes big_params: regs %d smem %zu maxThreads %d ptx %d bin %d\n", fa.numRegs,
         fa.sharedSizeBytes, fa.maxThreadsPerBlock, fa.ptxVersion, fa.binaryVersion);
  int nb = 0;
  RT(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, big_params, 256, 0));
  printf("occupancy big_params@256: %d\n", nb);
  DRV(cuOccupancyMaxActiveBlocksPerMultiprocessor(&nb, fe, 128, 0));
  printf("occupancy empty@128: %d\n", nb);
  int minGrid = 0, bs = 0;
  DRV(cuOccupancyMaxPotentialBlockSize(&minGrid, &bs, fb, NULL, 0, 0));
  printf("max potential block size big_params: grid %d block %d\n", minGrid, bs);
  RT(cudaOccupancyMaxPotentialBlockSize(&minGrid, &bs, dyn_smem, 4096, 0));
  printf("cudaOccupancyMaxPotentialBlockSize dyn_smem: grid %d block %d\n", minGrid, bs);
  size_t avail = 0;
  DRV(cuOccupancyAvailableDynamicSMemPerBlock(&avail, fd, 2, 256));
  printf("available dynamic smem (2 blocks of 256): %zu\n", avail);
  DRV(cuFuncSetCacheConfig(fe, CU_FUNC_CACHE_PREFER_SHARED));
  RT(cudaFuncSetCacheConfig(empty, cudaFuncCachePreferL1));
  printf("cache config set ok\n");
}

// Invalid configurations are reported by the launch itself (and kept in the runtime's last error).
static void invalid_launches(void) {
  SECTION("launch.invalid");
  unsigned int *x;
  RT(cudaMalloc(&x, sizeof(unsigned int)));
  dyn_smem<<<1, 256, 200 * 1024>>>(x, 1024);  // beyond the opt-in limit set earlier (100 KiB)
  printf("200 KiB dynamic smem above the opt-in: %s\n", cudaGetErrorName(cudaGetLastError()));
  empty<<<1, 2048>>>();
  printf("block of 2048: %s\n", cudaGetErrorName(cudaGetLastError()));
  printf("last error cleared: %s\n", cudaGetErrorName(cudaGetLastError()));
  empty<<<dim3(1, 70000), 1>>>();
  printf("grid y 70000: %s\n", cudaGetErrorName(cudaGetLastError()));
  printf("synchronize after invalid launches: %s\n", cudaGetErrorName(cudaDeviceSynchronize()));
  RT(cudaFree(x));
}

int main(void) {
  runtime_launches();
  driver_launches();
  attributes();
  invalid_launches();
  return finish();
}
