// A plain CUDA C++ program (runtime API), built by nvcc with the default static cudart and with
// -cudart shared, run unmodified with LD_PRELOAD=libcuda.so.1 (the shim) against the emulated executor.
// It must get through runtime init (export tables + integrity check), see the device, move memory, use
// streams/events and symbols, and get the emulated device's launch error from cudaDeviceSynchronize.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cuda_runtime.h>

static int passed, failed;
#define CHECK(c)                                                                  \
  do {                                                                            \
    if (c) passed++;                                                              \
    else { failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); } \
  } while (0)

__constant__ float factor[4];
__device__ int hits;

__global__ void saxpy(float *y, const float *x, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * factor[i % 4] * x[i] + y[i];
}

int main() {
  const char *lim = getenv("AVEC_TEST_LIMIT");
  size_t limit = lim ? strtoull(lim, nullptr, 10) : 268435456ull;
  // A launch as the program's first CUDA call: cudart loads its library and takes the kernel before any
  // context is current (the driver allows both; the shim once refused them, and cudart then reported
  // cudaErrorDeviceUninitialized). Accepted, then refused by the emulated device at the synchronize.
  saxpy<<<1, 32>>>(nullptr, nullptr, 1.0f, 0);
  cudaError_t first = cudaGetLastError();
  if (first != cudaSuccess) fprintf(stderr, "first launch: %d %s\n", (int)first, cudaGetErrorString(first));
  CHECK(first == cudaSuccess);
  CHECK(cudaDeviceSynchronize() == cudaErrorNotSupported);
  cudaGetLastError();
  int n = 0;
  CHECK(cudaGetDeviceCount(&n) == cudaSuccess);  // export tables, integrity digest
  CHECK(n == 1);
  cudaDeviceProp p;
  CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
  CHECK(strstr(p.name, "emulated") != nullptr);
  CHECK(p.totalGlobalMem == limit);
  CHECK(p.warpSize == 32 && p.major >= 3);
  int v = 0;
  CHECK(cudaDriverGetVersion(&v) == cudaSuccess && v == 13000);

  const int N = 3 << 20;  // 12 MiB of floats: more than one wire chunk
  float *h = (float *)malloc(N * sizeof(float)), *g = (float *)malloc(N * sizeof(float));
  for (int i = 0; i < N; i++) h[i] = (float)i * 0.25f;
  float *d = nullptr, *d2 = nullptr;
  CHECK(cudaMalloc(&d, N * sizeof(float)) == cudaSuccess);
  CHECK(cudaMalloc(&d2, N * sizeof(float)) == cudaSuccess);
  CHECK(cudaMemcpy(d, h, N * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  CHECK(cudaMemcpy(d2, d, N * sizeof(float), cudaMemcpyDeviceToDevice) == cudaSuccess);
  memset(g, 0, N * sizeof(float));
  CHECK(cudaMemcpy(g, d2, N * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(memcmp(h, g, N * sizeof(float)) == 0);
  size_t fr = 0, tot = 0;
  CHECK(cudaMemGetInfo(&fr, &tot) == cudaSuccess);
  CHECK(tot == limit && fr <= limit - 2 * N * sizeof(float));
  void *toomuch = nullptr;
  CHECK(cudaMalloc(&toomuch, limit * 2) == cudaErrorMemoryAllocation);
  CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);  // the runtime's per-thread last error, then cleared
  CHECK(cudaGetLastError() == cudaSuccess);

  float f[4] = {1, 2, 3, 4}, fb[4] = {0};
  CHECK(cudaMemcpyToSymbol(factor, f, sizeof f) == cudaSuccess);
  CHECK(cudaMemcpyFromSymbol(fb, factor, sizeof fb) == cudaSuccess);
  CHECK(memcmp(f, fb, sizeof f) == 0);
  int zero = 0, back = -1;
  CHECK(cudaMemcpyToSymbol(hits, &zero, sizeof zero) == cudaSuccess);
  CHECK(cudaMemcpyFromSymbol(&back, hits, sizeof back) == cudaSuccess && back == 0);

  float *pinned = nullptr;
  CHECK(cudaMallocHost(&pinned, 1 << 20) == cudaSuccess);
  cudaStream_t s;
  cudaEvent_t a, b;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  CHECK(cudaEventCreate(&a) == cudaSuccess && cudaEventCreate(&b) == cudaSuccess);
  CHECK(cudaEventRecord(a, s) == cudaSuccess);
  CHECK(cudaMemsetAsync(d, 0, 1 << 20, s) == cudaSuccess);
  CHECK(cudaMemcpyAsync(pinned, d, 1 << 20, cudaMemcpyDeviceToHost, s) == cudaSuccess);
  CHECK(cudaEventRecord(b, s) == cudaSuccess);
  CHECK(cudaStreamSynchronize(s) == cudaSuccess);
  CHECK(pinned[0] == 0.0f && pinned[(1 << 18) - 1] == 0.0f);
  CHECK(cudaEventQuery(b) == cudaSuccess);
  float ms = -1;
  CHECK(cudaEventElapsedTime(&ms, a, b) == cudaSuccess && ms >= 0);
  cudaPointerAttributes pa;
  CHECK(cudaPointerGetAttributes(&pa, d) == cudaSuccess && pa.type == cudaMemoryTypeDevice);
  CHECK(cudaPointerGetAttributes(&pa, pinned) == cudaSuccess && pa.type == cudaMemoryTypeHost);

  saxpy<<<(N + 255) / 256, 256>>>(d2, d, 2.0f, N);
  cudaError_t le = cudaGetLastError();
  if (le != cudaSuccess) fprintf(stderr, "launch error %d %s\n", (int)le, cudaGetErrorString(le));
  CHECK(le == cudaSuccess);  // launches are asynchronous: accepted
  cudaError_t e = cudaDeviceSynchronize();
  printf("launch on the emulated device -> %d (%s)\n", (int)e, cudaGetErrorString(e));
  CHECK(e == cudaErrorNotSupported);  // the emulated device's clear "cannot run kernels" error
  CHECK(cudaDeviceSynchronize() == cudaSuccess);  // not sticky: the session keeps working
  CHECK(cudaMemcpy(g, d2, 16, cudaMemcpyDeviceToHost) == cudaSuccess);

  CHECK(cudaStreamDestroy(s) == cudaSuccess);
  CHECK(cudaEventDestroy(a) == cudaSuccess && cudaEventDestroy(b) == cudaSuccess);
  CHECK(cudaFreeHost(pinned) == cudaSuccess);
  CHECK(cudaFree(d) == cudaSuccess && cudaFree(d2) == cudaSuccess);
  CHECK(cudaDeviceReset() == cudaSuccess);
  // the runtime starts over after a reset: new context, modules loaded again, memory usable
  float *d3 = nullptr;
  CHECK(cudaMalloc(&d3, 4096) == cudaSuccess);
  CHECK(cudaMemcpy(d3, h, 4096, cudaMemcpyHostToDevice) == cudaSuccess);
  memset(g, 0, 4096);
  CHECK(cudaMemcpy(g, d3, 4096, cudaMemcpyDeviceToHost) == cudaSuccess && memcmp(g, h, 4096) == 0);
  CHECK(cudaMemcpyToSymbol(factor, f, sizeof f) == cudaSuccess);
  CHECK(cudaMemcpyFromSymbol(fb, factor, sizeof fb) == cudaSuccess && memcmp(f, fb, sizeof f) == 0);
  cudaGetLastError();  // clear the runtime's record of the earlier launch error
  saxpy<<<4, 256>>>(d3, d3, 1.0f, 1024);  // the kernel is fetched again (a stale handle would be refused)
  cudaError_t le2 = cudaGetLastError();
  if (le2 != cudaSuccess) fprintf(stderr, "launch after reset: %d %s\n", (int)le2, cudaGetErrorString(le2));
  CHECK(le2 == cudaSuccess);
  CHECK(cudaDeviceSynchronize() == cudaErrorNotSupported);
  CHECK(cudaFree(d3) == cudaSuccess);
  printf("cudart (%s): %d passed, %d failed\n", CUDART_VERSION ? "runtime" : "", passed, failed);
  free(h);
  free(g);
  return failed ? 1 : 0;
}
