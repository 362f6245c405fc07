// Built with --default-stream per-thread: the runtime resolves the _ptsz/_ptds entry points. Four host
// threads each use their own default stream (and their own explicit stream) at the same time.
#include "common.h"
#include <thread>
#include <vector>

__global__ void axpb(int *p, int n, int a, int b) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = p[i] * a + b;
}

static uint64_t results[4];
static int status[4];

static void worker(int t) {
  const int n = 1 << 18;
  std::vector<int> h(n);
  for (int i = 0; i < n; i++) h[i] = i ^ (t * 977);
  int *d = NULL;
  if (cudaMalloc(&d, n * sizeof(int)) != cudaSuccess) { status[t] = 1; return; }
  cudaMemcpyAsync(d, h.data(), n * sizeof(int), cudaMemcpyHostToDevice, cudaStreamPerThread);
  for (int k = 0; k < 50; k++) axpb<<<n / 256, 256>>>(d, n, 3, t + k);  // per-thread default stream
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  cudaEvent_t e;
  cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
  cudaEventRecord(e, cudaStreamPerThread);
  cudaStreamWaitEvent(s, e, 0);
  axpb<<<n / 256, 256, 0, s>>>(d, n, 1, 1000);
  cudaMemcpyAsync(h.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost, s);
  cudaError_t err = cudaStreamSynchronize(s);
  status[t] = err != cudaSuccess ? (int)err : (int)cudaGetLastError();
  results[t] = fnv64(h.data(), n * sizeof(int));
  cudaEventDestroy(e);
  cudaStreamDestroy(s);
  cudaFree(d);
}

static void threads(void) {
  SECTION("ptds.threads");
  RT(cudaFree(0));
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) ts.emplace_back(worker, t);
  for (auto &th : ts) th.join();
  for (int t = 0; t < 4; t++) printf("thread %d status %d hash=%016llx\n", t, status[t], (unsigned long long)results[t]);
}

static void default_stream(void) {
  SECTION("ptds.default");
  int *d;
  RT(cudaMalloc(&d, 1024 * sizeof(int)));
  RT(cudaMemset(d, 0, 1024 * sizeof(int)));
  axpb<<<4, 256>>>(d, 1024, 1, 5);
  RT(cudaStreamSynchronize(cudaStreamPerThread));
  int h[2];
  RT(cudaMemcpy(h, d + 1000, sizeof h, cudaMemcpyDeviceToHost));
  printf("per-thread default stream result: %d %d\n", h[0], h[1]);
  RT(cudaFree(d));
}

int main(void) {
  default_stream();
  threads();
  return finish();
}
