// Streams and events: creation with flags and priorities, cross-stream dependencies through events,
// queries, elapsed time (sanity only), host functions and stream callbacks (run in the client, in
// stream order), the legacy default stream.
#include "common.h"
#include <vector>

__global__ void spin_then_write(int *p, int v, long long cycles) {
  long long t0 = clock64();
  while (clock64() - t0 < cycles) {}
  *p = v;
}
__global__ void copy_plus(const int *src, int *dst, int add) { *dst = *src + add; }
__global__ void fill(int *p, int n, int v) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v + i;
}

static std::vector<int> g_order;
static void CUDART_CB host_fn(void *arg) { g_order.push_back((int)(intptr_t)arg); }
static void CUDART_CB stream_cb(cudaStream_t, cudaError_t st, void *arg) {
  g_order.push_back(1000 + (int)(intptr_t)arg + (st != cudaSuccess ? 100000 : 0));
}

static void streams(void) {
  SECTION("streams.create");
  int lo = 0, hi = 0;
  RT(cudaDeviceGetStreamPriorityRange(&lo, &hi));
  printf("priority range: %d %d\n", lo, hi);
  cudaStream_t a, b, c;
  RT(cudaStreamCreate(&a));
  RT(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
  RT(cudaStreamCreateWithPriority(&c, cudaStreamNonBlocking, hi));
  unsigned fl = 9; int pr = 9;
  RT(cudaStreamGetFlags(b, &fl));
  RT(cudaStreamGetPriority(c, &pr));
  printf("b flags: %u c priority==hi: %d\n", fl, pr == hi);
  RT(cudaStreamGetFlags(a, &fl));
  printf("a flags: %u\n", fl);
  int *d;
  RT(cudaMalloc(&d, 16 * sizeof(int)));
  RT(cudaMemset(d, 0, 16 * sizeof(int)));
  cudaEvent_t ev;
  RT(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  // b writes after a long spin; c must wait for it through the event.
  spin_then_write<<<1, 1, 0, b>>>(d, 41, 20000000);
  RT(cudaEventRecord(ev, b));
  RT(cudaStreamWaitEvent(c, ev, 0));
  copy_plus<<<1, 1, 0, c>>>(d, d + 1, 1);
  cudaError_t q = cudaStreamQuery(b);
  printf("# query b while spinning: %s\n", cudaGetErrorName(q));
  RT(cudaStreamSynchronize(c));
  int h[2];
  RT(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
  printf("event dependency result: %d %d\n", h[0], h[1]);
  printf("query b after: %s\n", cudaGetErrorName(cudaStreamQuery(b)));
  printf("event query after: %s\n", cudaGetErrorName(cudaEventQuery(ev)));
  // Stream id
  unsigned long long id1 = 0, id2 = 0;
  RT(cudaStreamGetId(a, &id1));
  RT(cudaStreamGetId(b, &id2));
  printf("stream ids differ: %d\n", id1 != id2);
  RT(cudaEventDestroy(ev));
  RT(cudaStreamDestroy(a));
  RT(cudaStreamDestroy(b));
  RT(cudaStreamDestroy(c));
  RT(cudaFree(d));
}

static void timing(void) {
  SECTION("events.timing");
  cudaEvent_t t0, t1;
  RT(cudaEventCreate(&t0));
  RT(cudaEventCreate(&t1));
  int *d;
  RT(cudaMalloc(&d, sizeof(int)));
  RT(cudaEventRecord(t0, 0));
  spin_then_write<<<1, 1>>>(d, 1, 5000000);
  RT(cudaEventRecord(t1, 0));
  RT(cudaEventSynchronize(t1));
  float ms = -1;
  RT(cudaEventElapsedTime(&ms, t0, t1));
  printf("elapsed sane (0 < ms < 10000): %d\n", ms > 0.0f && ms < 10000.0f);
  printf("# elapsed ms: %.3f\n", ms);
  // Elapsed time between events without timing is an error.
  cudaEvent_t nt;
  RT(cudaEventCreateWithFlags(&nt, cudaEventDisableTiming));
  RT(cudaEventRecord(nt, 0));
  RT(cudaEventSynchronize(nt));
  printf("elapsed with disable-timing event: %s\n", cudaGetErrorName(cudaEventElapsedTime(&ms, t0, nt)));
  // Never-recorded event queries as complete.
  cudaEvent_t fresh;
  RT(cudaEventCreate(&fresh));
  printf("unrecorded event query: %s\n", cudaGetErrorName(cudaEventQuery(fresh)));
  RT(cudaEventDestroy(t0));
  RT(cudaEventDestroy(t1));
  RT(cudaEventDestroy(nt));
  RT(cudaEventDestroy(fresh));
  RT(cudaFree(d));
}

static void host_functions(void) {
  SECTION("streams.host_functions");
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  int *d;
  RT(cudaMalloc(&d, 1024 * sizeof(int)));
  g_order.clear();
  for (int i = 0; i < 5; i++) {
    fill<<<4, 256, 0, s>>>(d, 1024, i * 10);
    RT(cudaLaunchHostFunc(s, host_fn, (void *)(intptr_t)i));
  }
  RT(cudaStreamAddCallback(s, stream_cb, (void *)(intptr_t)7, 0));
  RT(cudaStreamSynchronize(s));
  printf("host function order:");
  for (int v : g_order) printf(" %d", v);
  printf("\n");
  // A device-side result after host functions.
  int h[3];
  RT(cudaMemcpy(h, d + 100, sizeof h, cudaMemcpyDeviceToHost));
  printf("after host functions: %d %d %d\n", h[0], h[1], h[2]);
  RT(cudaStreamDestroy(s));
  RT(cudaFree(d));
}

static void many_streams(void) {
  SECTION("streams.many");
  const int ns = 8, n = 1 << 16;
  cudaStream_t s[ns];
  int *d;
  RT(cudaMalloc(&d, ns * n * sizeof(int)));
  for (int i = 0; i < ns; i++) RT(cudaStreamCreateWithFlags(&s[i], cudaStreamNonBlocking));
  for (int i = 0; i < ns; i++) fill<<<n / 256, 256, 0, s[i]>>>(d + i * n, n, i * 1000);
  RT(cudaDeviceSynchronize());
  std::vector<int> h(ns * n);
  RT(cudaMemcpy(h.data(), d, h.size() * sizeof(int), cudaMemcpyDeviceToHost));
  printf("8 streams hash=%016llx\n", (unsigned long long)fnv64(h.data(), h.size() * sizeof(int)));
  for (int i = 0; i < ns; i++) RT(cudaStreamDestroy(s[i]));
  RT(cudaFree(d));
}

static void driver_streams(void) {
  SECTION("streams.driver");
  CUstream s;
  DRV(cuStreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, 0));
  CUevent e1, e2;
  DRV(cuEventCreate(&e1, CU_EVENT_DEFAULT));
  DRV(cuEventCreate(&e2, CU_EVENT_BLOCKING_SYNC));
  DRV(cuEventRecord(e1, s));
  DRV(cuEventRecord(e2, s));
  DRV(cuStreamWaitEvent(NULL, e2, 0));
  DRV(cuEventSynchronize(e2));
  float ms = -1;
  DRV(cuEventElapsedTime(&ms, e1, e2));
  printf("driver elapsed >= 0: %d\n", ms >= 0.0f);
  DRV(cuStreamQuery(s));
  printf("driver stream query ok\n");
  CUcontext c;
  DRV(cuStreamGetCtx(s, &c));
  CUcontext cur;
  DRV(cuCtxGetCurrent(&cur));
  printf("stream ctx is current: %d\n", c == cur);
  DRV(cuEventDestroy(e1));
  DRV(cuEventDestroy(e2));
  DRV(cuStreamDestroy(s));
}

int main(void) {
  streams();
  timing();
  host_functions();
  many_streams();
  driver_streams();
  return finish();
}
